//! Request/response logging of a deployment (off unless its `log_requests` is on): each
//! exchange is stored with personal data masked (every built-in kind of the dataset `mask_pii`
//! step) and sealed with AES-256-GCM under a key derived from the master key; logged
//! conversations are listed, and exported as a dataset version whose lineage names the
//! deployment — the next fine-tune's data.

use super::CompletionEndpoint;
use crate::datasets::VersionOrigin;
use crate::{now_ms, Error, Principal, RequestContext, Result, Services};
use database::inference::InferenceRow;
use database::safety::InferenceLogRow;
use datasets::recipe::{MaskPii, PiiMasker};
use domain::{validate, Permission, ValidationError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::OnceLock;

/// What a logged request asked and what the client got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Exchange {
    /// `chat.completions` or `completions`.
    pub endpoint: String,
    /// The request's messages (chat), as the model got them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub messages: Option<Vec<Value>>,
    /// The request's prompt (completions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Each choice as the client got it.
    pub answers: Vec<LoggedAnswer>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoggedAnswer {
    pub text: String,
    /// `stop`, `length`, `content_filter`, or null when the answer broke off.
    pub finish_reason: Option<String>,
}

impl Exchange {
    /// The exchange of a request body (its input part; answers are added as they come).
    pub fn of_request(endpoint: CompletionEndpoint, body: &serde_json::Map<String, Value>) -> Exchange {
        Exchange {
            endpoint: endpoint.as_str().to_string(),
            messages: body.get("messages").and_then(Value::as_array).cloned(),
            prompt: body.get("prompt").and_then(Value::as_str).map(str::to_string),
            answers: Vec::new(),
        }
    }
}

/// A logged exchange, opened.
#[derive(Debug, Clone)]
pub struct LoggedExchange {
    pub request_id: String,
    pub created_at: i64,
    pub exchange: Exchange,
}

fn pii_masker() -> &'static PiiMasker {
    static MASKER: OnceLock<PiiMasker> = OnceLock::new();
    MASKER.get_or_init(|| PiiMasker::new(&MaskPii::default()).expect("the built-in PII detectors compile"))
}

/// Masks personal data in every string of a JSON value.
fn mask_strings(value: &mut Value) {
    match value {
        Value::String(s) => {
            let mut counts = vec![0u64; pii_masker().labels().len()];
            if let Some(masked) = pii_masker().mask(s, &mut counts) {
                *s = masked;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_strings),
        Value::Object(fields) => fields.values_mut().for_each(mask_strings),
        _ => {}
    }
}

/// The text of a message's content (a string, or its text parts joined).
fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("")),
        _ => None,
    }
}

/// The dataset record of a logged exchange: the conversation with its first answer (chat),
/// or the prompt followed by it (text); None when that answer is empty, was blocked
/// (`content_filter`) or broke off.
pub fn training_record(e: &Exchange) -> Option<Value> {
    let complete = |a: &&LoggedAnswer| matches!(a.finish_reason.as_deref(), Some("stop" | "length")) && !a.text.is_empty();
    let answer = e.answers.first().filter(complete)?;
    match (&e.messages, &e.prompt) {
        (Some(messages), _) => {
            let mut out: Vec<Value> = Vec::with_capacity(messages.len() + 1);
            for m in messages {
                let role = m.get("role").and_then(Value::as_str)?;
                out.push(json!({"role": role, "content": content_text(m.get("content")?)?}));
            }
            out.push(json!({"role": "assistant", "content": answer.text}));
            Some(json!({"messages": out}))
        }
        (None, Some(prompt)) => Some(json!({"text": format!("{prompt}{}", answer.text)})),
        (None, None) => None,
    }
}

/// Where exported conversations go: a new dataset (`name`, optionally in `project_id`) or a
/// new version of `dataset_id`; only exchanges logged in `[from, to)` (Unix ms; default:
/// everything).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogExport {
    pub dataset_id: Option<String>,
    #[schema(schema_with = domain::schema::optional_name)]
    pub name: Option<String>,
    pub project_id: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// The row a logged exchange is sealed for (its request).
fn log_binding(request_id: &str) -> String {
    format!("inference_log:{request_id}")
}

/// Exchanges read per query while exporting.
const EXPORT_PAGE: i64 = 500;

impl Services {
    /// The masked, sealed log row of an exchange (None, logged as an error, if it cannot be
    /// serialised: the request itself succeeded).
    pub(crate) fn sealed_log(&self, row: &InferenceRow, exchange: &Exchange) -> Option<InferenceLogRow> {
        let deployment_id = row.deployment_id.clone()?;
        let mut value = match serde_json::to_value(exchange) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!("request {}: the exchange could not be logged: {e}", row.id);
                return None;
            }
        };
        mask_strings(&mut value);
        Some(InferenceLogRow {
            request_id: row.id.clone(),
            organization_id: row.organization_id.clone(),
            deployment_id,
            sealed: self.seal_secret(&value.to_string(), &log_binding(&row.id)),
            created_at: row.created_at,
        })
    }

    fn open_log(&self, row: InferenceLogRow) -> Result<LoggedExchange> {
        let text = self.open_secret(&row.sealed, &log_binding(&row.request_id))?;
        let exchange = serde_json::from_str(&text)
            .map_err(|e| Error::Internal(format!("the log of request {} does not parse: {e}", row.request_id)))?;
        Ok(LoggedExchange { request_id: row.request_id, created_at: row.created_at, exchange })
    }

    /// A deployment's logged exchanges, oldest first (`deploy_model` on the deployment); the
    /// cursor is the last request id of the previous page.
    pub async fn deployment_logs(
        &self,
        principal: &Principal,
        id: &str,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<crate::Page<LoggedExchange>> {
        self.deployment_with(principal, id, Permission::DeployModel).await?;
        let limit = validate::page_limit(limit)?;
        let mut conn = self.db().read().await?;
        let cursor = match after {
            Some(request_id) => match database::safety::log_time(&mut conn, &principal.organization_id, id, request_id).await {
                Ok(at) => Some((at, request_id)),
                Err(database::Error::NotFound) => {
                    return Err(ValidationError::unprocessable(
                        "after",
                        format!("'{request_id}' is not a logged request of this deployment"),
                    )
                    .into())
                }
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let rows = database::safety::logs(&mut conn, &principal.organization_id, id, i64::MIN, i64::MAX, cursor, limit + 1).await?;
        drop(conn);
        let page = crate::Page::from_rows(rows, limit);
        Ok(crate::Page { items: page.items.into_iter().map(|r| self.open_log(r)).collect::<Result<_>>()?, has_more: page.has_more })
    }

    /// Exports a deployment's logged conversations (those with a whole answer: not blocked, not
    /// broken off) as a
    /// dataset version with the deployment in its lineage: a new dataset, or a new version of
    /// one. Needs `deploy_model` on the deployment and `upload_dataset` where the data goes.
    pub async fn export_deployment_logs(
        &self,
        principal: &Principal,
        id: &str,
        export: LogExport,
        ctx: &RequestContext,
    ) -> Result<(crate::datasets::DatasetAccess, database::datasets::VersionRow)> {
        let deployment = self.deployment_with(principal, id, Permission::DeployModel).await?;
        let target = crate::datasets::ExportTarget {
            dataset_id: export.dataset_id.clone(),
            name: export.name.clone(),
            project_id: export.project_id.clone(),
        };
        let description = format!("conversations logged by deployment {}", deployment.row.name);
        let target = self.check_export_target(principal, &target, deployment.row.project_id.clone(), description).await?;
        let (from, to) = (export.from.unwrap_or(i64::MIN), export.to.unwrap_or(i64::MAX));
        if from >= to {
            return Err(ValidationError::unprocessable("to", "must be after from").into());
        }
        let mut lines = Vec::new();
        let mut cursor: Option<(i64, String)> = None;
        loop {
            let rows = {
                let mut conn = self.db().read().await?;
                let after = cursor.as_ref().map(|(at, id)| (*at, id.as_str()));
                database::safety::logs(&mut conn, &principal.organization_id, id, from, to, after, EXPORT_PAGE).await?
            };
            let done = (rows.len() as i64) < EXPORT_PAGE;
            for row in rows {
                cursor = Some((row.created_at, row.request_id.clone()));
                if let Some(record) = training_record(&self.open_log(row)?.exchange) {
                    lines.extend_from_slice(record.to_string().as_bytes());
                    lines.push(b'\n');
                }
            }
            if done {
                break;
            }
        }
        if lines.is_empty() {
            return Err(ValidationError::unprocessable(
                "from",
                format!("deployment {} logged no complete conversation in this range (is log_requests on?)", deployment.row.name),
            )
            .into());
        }
        let filename = format!("{}-logs-{}.jsonl", deployment.row.id, now_ms());
        let origin = VersionOrigin { deployment_id: Some(&deployment.row.id), ..VersionOrigin::default() };
        self.store_export(principal, target, lines, &filename, origin, ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_complete_answers_become_records() {
        let mut e = Exchange {
            endpoint: "chat.completions".into(),
            messages: Some(vec![json!({"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]})]),
            prompt: None,
            answers: vec![LoggedAnswer { text: "Hello!".into(), finish_reason: Some("stop".into()) }],
        };
        assert_eq!(
            training_record(&e),
            Some(json!({"messages": [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello!"}]}))
        );
        e.answers[0].finish_reason = Some("content_filter".into());
        assert_eq!(training_record(&e), None);
        let text = Exchange {
            endpoint: "completions".into(),
            messages: None,
            prompt: Some("1, 2, ".into()),
            answers: vec![LoggedAnswer { text: "3".into(), finish_reason: Some("stop".into()) }],
        };
        assert_eq!(training_record(&text), Some(json!({"text": "1, 2, 3"})));
    }

    #[test]
    fn personal_data_is_masked_in_every_string() {
        let mut v =
            json!({"messages": [{"role": "user", "content": "I am olga@example.com"}], "answers": [{"text": "call +1 212-555-0123"}]});
        mask_strings(&mut v);
        assert_eq!(v["messages"][0]["content"], "I am [EMAIL]");
        assert_eq!(v["answers"][0]["text"], "call [PHONE]");
    }
}
