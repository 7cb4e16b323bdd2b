//! The organization's content policy as a resource (read, replaced, cached for the gateway),
//! its application to a request's input, the moderation model's verdicts, and the events the
//! policy leaves.

use super::safety::{ContentFilter, ContentPolicy, ModerationConfig, SafetyAction, Stage, Tally};
use super::{CompletionEndpoint, Deployment};
use crate::audit::{append, AuditEvent};
use crate::{now_ms, Error, Page, Principal, RequestContext, Result, Services};
use database::safety::{EventFilter, PolicyRow, SafetyEventRow};
use domain::{validate, Permission, ValidationError};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Organizations' compiled policies as last read (None: no policy, or one that does nothing).
pub type PolicyCache = super::org_cache::OrgCache<Option<Arc<ContentFilter>>>;

/// The stored policy with who changed it last.
#[derive(Debug, Clone)]
pub struct StoredPolicy {
    pub policy: ContentPolicy,
    pub updated_by: Option<String>,
    pub updated_at: Option<i64>,
}

/// The input refused by the policy: 400 `content_filter` naming the field.
fn refused(message: String, param: &str) -> Error {
    Error::ContentFiltered { message, param: param.to_string() }
}

/// Every text of a request's input (message contents and text parts, or the prompt), with
/// the field each lives in.
fn input_texts(endpoint: CompletionEndpoint, body: &mut Map<String, Value>) -> Vec<(String, &mut Value)> {
    let mut out = Vec::new();
    match endpoint {
        CompletionEndpoint::Chat => {
            if let Some(messages) = body.get_mut("messages").and_then(Value::as_array_mut) {
                for (i, m) in messages.iter_mut().enumerate() {
                    match m.get_mut("content") {
                        Some(Value::Array(parts)) => {
                            for (j, p) in parts.iter_mut().enumerate() {
                                if let Some(t) = p.get_mut("text").filter(|t| t.is_string()) {
                                    out.push((format!("messages[{i}].content[{j}].text"), t));
                                }
                            }
                        }
                        Some(t @ Value::String(_)) => out.push((format!("messages[{i}].content"), t)),
                        _ => {}
                    }
                }
            }
        }
        CompletionEndpoint::Completions => {
            if let Some(t) = body.get_mut("prompt").filter(|t| t.is_string()) {
                out.push(("prompt".into(), t));
            }
        }
    }
    out
}

/// Applies the input stage of a policy to a request body: a length over `max_input_chars` or a
/// block match refuses it (400 `content_filter`); masks rewrite the texts in place.
pub fn filter_input(filter: &ContentFilter, endpoint: CompletionEndpoint, body: &mut Map<String, Value>, tally: &mut Tally) -> Result<()> {
    let mut texts = input_texts(endpoint, body);
    if let Some(max) = filter.policy.max_input_chars {
        let chars: usize = texts.iter().map(|(_, t)| t.as_str().map_or(0, |s| s.chars().count())).sum();
        if chars > max as usize {
            tally.add(Stage::Input, "max_input_chars", SafetyAction::Block, 1, None);
            let param = if endpoint == CompletionEndpoint::Chat { "messages" } else { "prompt" };
            return Err(refused(
                format!("the input is {chars} characters; this organization's content policy allows at most {max}"),
                param,
            ));
        }
    }
    for (field, value) in texts.iter_mut() {
        let text = value.as_str().unwrap_or_default();
        match filter.apply(Stage::Input, text, tally) {
            Err(rule) => {
                let message = format!("the input was blocked by this organization's content policy (rule '{}')", filter.rule_name(rule));
                return Err(refused(message, field));
            }
            Ok(Some(masked)) => **value = masked.into(),
            Ok(None) => {}
        }
    }
    Ok(())
}

/// The conversation a moderation model judges: the request's messages (or its prompt as a
/// user message), then the answer when there is one.
pub fn conversation(endpoint: CompletionEndpoint, body: &Map<String, Value>, answer: Option<&str>) -> Vec<Value> {
    let mut messages: Vec<Value> = match endpoint {
        CompletionEndpoint::Chat => body.get("messages").and_then(Value::as_array).cloned().unwrap_or_default(),
        CompletionEndpoint::Completions => vec![json!({"role": "user", "content": body.get("prompt").cloned().unwrap_or_default()})],
    };
    if let Some(a) = answer {
        messages.push(json!({"role": "assistant", "content": a}));
    }
    messages
}

impl Services {
    pub(crate) fn policy_cache(&self) -> &PolicyCache {
        &self.inner.policies
    }

    /// The organization's policy (`view_metrics`).
    pub async fn content_policy(&self, principal: &Principal) -> Result<StoredPolicy> {
        principal.require(Permission::ViewMetrics)?;
        match database::safety::policy(&mut *self.db().read().await?, &principal.organization_id).await {
            Ok(row) => Ok(StoredPolicy { policy: parse_policy(&row)?, updated_by: Some(row.updated_by), updated_at: Some(row.updated_at) }),
            Err(database::Error::NotFound) => Ok(StoredPolicy { policy: ContentPolicy::default(), updated_by: None, updated_at: None }),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces the organization's policy (`manage_resources`); audited. The moderation
    /// deployment must exist in the organization.
    pub async fn put_content_policy(&self, principal: &Principal, policy: ContentPolicy, ctx: &RequestContext) -> Result<StoredPolicy> {
        principal.require(Permission::ManageResources)?;
        if let Some(project) = principal.project_restriction() {
            return Err(Error::Forbidden(format!(
                "this API key is restricted to project {project}; the content policy is the organization's"
            )));
        }
        let filter = ContentFilter::compile(policy)?;
        let mut tx = self.db().begin_write().await?;
        if let Some(m) = &filter.policy.moderation {
            match database::deployments::by_name(tx.conn(), &principal.organization_id, &m.deployment).await {
                Ok(_) => {}
                Err(database::Error::NotFound) => {
                    return Err(ValidationError::unprocessable(
                        "moderation.deployment",
                        format!("no deployment named '{}' in this organization", m.deployment),
                    )
                    .into())
                }
                Err(e) => return Err(e.into()),
            }
        }
        let row = PolicyRow {
            organization_id: principal.organization_id.clone(),
            policy: serde_json::to_string(&filter.policy).map_err(crate::datasets::internal)?,
            updated_by: principal.user_id.clone(),
            updated_at: now_ms(),
        };
        database::safety::put_policy(tx.conn(), &row).await?;
        let rules: Vec<Value> = filter
            .policy
            .rules
            .iter()
            .map(
                |r| json!({"name": r.name, "action": r.action.as_str(), "stages": r.stages.iter().map(|s| s.as_str()).collect::<Vec<_>>()}),
            )
            .collect();
        let event = AuditEvent::by(principal, "safety.policy_update").target("organization", &principal.organization_id).details(json!({
            "rules": rules, "max_input_chars": filter.policy.max_input_chars, "max_output_chars": filter.policy.max_output_chars,
            "moderation": filter.policy.moderation.as_ref().map(|m| &m.deployment),
        }));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        self.policy_cache().forget(&principal.organization_id);
        Ok(StoredPolicy { policy: filter.policy, updated_by: Some(row.updated_by), updated_at: Some(row.updated_at) })
    }

    /// The organization's compiled policy for the gateway (None: none, or one that does
    /// nothing), read at most once a second.
    pub async fn content_filter(&self, org_id: &str) -> Result<Option<Arc<ContentFilter>>> {
        let now = now_ms();
        if let Some(filter) = self.policy_cache().fresh(org_id, now) {
            return Ok(filter);
        }
        let filter = match database::safety::policy(&mut *self.db().read().await?, org_id).await {
            Ok(row) => Some(Arc::new(
                ContentFilter::compile(parse_policy(&row)?)
                    .map_err(|e| Error::Internal(format!("organization {org_id}: the stored content policy no longer compiles: {e}")))?,
            ))
            .filter(|f| !f.is_empty()),
            Err(database::Error::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        self.policy_cache().put(org_id, now, filter.clone());
        Ok(filter)
    }

    /// Asks the moderation deployment about a conversation: None when it judges it safe, else
    /// its verdict (first line). The request is metered as the organization's (endpoint
    /// `moderation`). A moderation model that cannot answer fails the request (503): the policy
    /// fails closed.
    pub async fn moderate(&self, principal: &Principal, config: &ModerationConfig, messages: Vec<Value>) -> Result<Option<String>> {
        let started = std::time::Instant::now();
        let row = match database::deployments::by_name(&mut *self.db().read().await?, &principal.organization_id, &config.deployment).await
        {
            Ok(row) => row,
            Err(database::Error::NotFound) => {
                return Err(Error::Unavailable(format!(
                    "the moderation deployment '{}' named by the content policy does not exist",
                    config.deployment
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let deployment = Deployment::of(row)?;
        let upstream = self.upstream_for(&deployment).await.map_err(|e| {
            Error::Unavailable(format!("the moderation deployment '{}' named by the content policy cannot answer: {e}", config.deployment))
        })?;
        let mut conversation = Vec::new();
        if let Some(system) = &config.system_prompt {
            conversation.push(json!({"role": "system", "content": system}));
        }
        conversation.extend(messages);
        let body = json!({"model": upstream.model, "messages": conversation, "temperature": 0, "max_tokens": 20, "stream": false});
        let mut request = self
            .http()
            .post(format!("{}/chat/completions", upstream.base_url))
            .json(&body)
            .timeout(std::time::Duration::from_secs(self.settings().serving.request_timeout_s));
        if let Some(key) = &upstream.api_key {
            request = request.bearer_auth(key);
        }
        let unavailable = |why: String| Error::Unavailable(format!("the moderation deployment '{}' {why}", config.deployment));
        let response = request.send().await.map_err(|e| unavailable(format!("does not answer: {}", e.without_url())))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| unavailable(format!("broke off its answer: {}", e.without_url())))?;
        let mut record = database::inference::InferenceRow {
            id: format!("modr-{}", crate::random_id()),
            organization_id: principal.organization_id.clone(),
            deployment_id: Some(deployment.row.id.clone()),
            api_key_id: principal.api_key_id().map(str::to_string),
            user_id: Some(principal.user_id.clone()),
            model: config.deployment.clone(),
            endpoint: "moderation".into(),
            prompt_tokens: 0,
            completion_tokens: 0,
            time_to_first_token_ms: None,
            latency_ms: started.elapsed().as_millis() as i64,
            status: i64::from(status),
            error_code: None,
            created_at: now_ms(),
            split_id: None,
        };
        let answer: Option<Value> = serde_json::from_str(&text).ok();
        if let Some(u) = answer.as_ref().and_then(|a| a.get("usage")) {
            record.prompt_tokens = u["prompt_tokens"].as_i64().unwrap_or(0);
            record.completion_tokens = u["completion_tokens"].as_i64().unwrap_or(0);
        }
        let verdict = answer.as_ref().and_then(|a| a["choices"][0]["message"]["content"].as_str()).map(str::to_string);
        if !(200..300).contains(&status) || verdict.is_none() {
            record.error_code = Some("moderation_failed".into());
            self.record_inference(super::InferenceRecord::of(record));
            return Err(unavailable(format!("answered {status}: {}", super::upstream_error_message(&text))));
        }
        self.record_inference(super::InferenceRecord::of(record));
        let verdict = verdict.unwrap_or_default();
        let judged = verdict.trim();
        let is_unsafe = judged.to_lowercase().starts_with(&config.unsafe_prefix.trim().to_lowercase());
        Ok(is_unsafe
            .then(|| judged.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ").chars().take(200).collect()))
    }

    /// The events of the policy in the organization, newest first (`view_metrics`).
    pub async fn safety_events(
        &self,
        principal: &Principal,
        filter: EventFilter,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Page<SafetyEventRow>> {
        principal.require(Permission::ViewMetrics)?;
        if let Some(a) = &filter.action {
            if !["block", "mask", "flag"].contains(&a.as_str()) {
                return Err(ValidationError::new("action", format!("'{a}': use block, mask or flag")).into());
            }
        }
        let limit = validate::page_limit(limit)?;
        let rows = database::safety::events(&mut *self.db().read().await?, &principal.organization_id, &filter, after, limit + 1).await?;
        Ok(Page::from_rows(rows, limit))
    }
}

fn parse_policy(row: &PolicyRow) -> Result<ContentPolicy> {
    serde_json::from_str(&row.policy)
        .map_err(|e| Error::Internal(format!("organization {}: the stored content policy does not parse: {e}", row.organization_id)))
}

/// The rows a request's tally becomes.
pub(crate) fn event_rows(tally: &Tally, row: &database::inference::InferenceRow) -> Vec<SafetyEventRow> {
    tally
        .hits
        .iter()
        .map(|h| SafetyEventRow {
            id: crate::crypto::new_id(domain::ids::IdKind::SafetyEvent),
            organization_id: row.organization_id.clone(),
            request_id: row.id.clone(),
            deployment_id: row.deployment_id.clone(),
            stage: h.stage.as_str().into(),
            rule: h.rule.clone(),
            action: h.action.as_str().into(),
            matches: h.matches,
            detail: h.detail.clone(),
            created_at: row.created_at,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::safety::ContentRule;
    use super::*;

    #[test]
    fn input_masks_rewrite_every_text_and_a_block_names_the_field() {
        let policy = ContentPolicy {
            rules: vec![
                ContentRule {
                    name: "pii".into(),
                    stages: vec![Stage::Input],
                    words: vec![],
                    pattern: None,
                    pii: vec![datasets::recipe::PiiKind::Email],
                    action: SafetyAction::Mask,
                    replacement: None,
                },
                ContentRule {
                    name: "secret".into(),
                    stages: vec![Stage::Input],
                    words: vec!["phoenix".into()],
                    pattern: None,
                    pii: vec![],
                    action: SafetyAction::Block,
                    replacement: None,
                },
            ],
            max_input_chars: Some(60),
            ..ContentPolicy::default()
        };
        let filter = ContentFilter::compile(policy).unwrap();
        let mut body = json!({"messages": [
            {"role": "system", "content": "mail a@b.io"},
            {"role": "user", "content": [{"type": "text", "text": "and c@d.io"}]},
        ]})
        .as_object()
        .unwrap()
        .clone();
        let mut tally = Tally::default();
        filter_input(&filter, CompletionEndpoint::Chat, &mut body, &mut tally).unwrap();
        assert_eq!(body["messages"][0]["content"], "mail [EMAIL]");
        assert_eq!(body["messages"][1]["content"][0]["text"], "and [EMAIL]");
        assert_eq!(tally.hits[0].matches, 2);
        let mut blocked =
            json!({"messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": "Phoenix?"}]}).as_object().unwrap().clone();
        match filter_input(&filter, CompletionEndpoint::Chat, &mut blocked, &mut Tally::default()) {
            Err(Error::ContentFiltered { param, message }) => {
                assert_eq!(param, "messages[1].content");
                assert!(message.contains("rule 'secret'"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let mut long = json!({"prompt": "x".repeat(61)}).as_object().unwrap().clone();
        match filter_input(&filter, CompletionEndpoint::Completions, &mut long, &mut Tally::default()) {
            Err(Error::ContentFiltered { param, message }) => {
                assert_eq!((param.as_str(), message.contains("61 characters")), ("prompt", true))
            }
            other => panic!("{other:?}"),
        }
    }
}
