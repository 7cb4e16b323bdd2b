//! The gateway's use cases: which deployment a request's `model` names (and whether the caller
//! may call it), the request as the upstream gets it (defaults applied, always streamed with
//! usage, so that a client that goes away cancels generation and every request is counted), and
//! the upstream call. The same client serves the local backend, vLLM and external servers: all
//! speak the OpenAI HTTP API.

use super::{state, BackendKind, Deployment};
use crate::error::OrNotFound;
use crate::{Error, Principal, Result, Services};
use domain::{Permission, ValidationError};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// Which OpenAI endpoint a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionEndpoint {
    Chat,
    Completions,
}

impl CompletionEndpoint {
    pub fn path(self) -> &'static str {
        match self {
            CompletionEndpoint::Chat => "chat/completions",
            CompletionEndpoint::Completions => "completions",
        }
    }

    /// The `object` of its stream's chunks.
    pub fn chunk_object(self) -> &'static str {
        match self {
            CompletionEndpoint::Chat => "chat.completion.chunk",
            CompletionEndpoint::Completions => "text_completion",
        }
    }

    /// The name usage rows record.
    pub fn as_str(self) -> &'static str {
        match self {
            CompletionEndpoint::Chat => "chat.completions",
            CompletionEndpoint::Completions => "completions",
        }
    }
}

/// Where a deployment's requests go.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// The OpenAI-compatible base URL (ending in `/v1`).
    pub base_url: String,
    pub api_key: Option<String>,
    /// The model name the upstream knows.
    pub model: String,
    /// For a local process: this request counted among its requests in flight until the
    /// upstream's answer ends (the replica with the fewest gets the next request).
    pub in_flight: Option<Arc<super::local::InFlight>>,
}

impl Upstream {
    pub(crate) fn local(backend: &super::local::Backend, port: u16, model: &str) -> Upstream {
        Upstream {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            api_key: Some(backend.token.clone()),
            model: model.to_string(),
            in_flight: Some(Arc::new(super::local::InFlight::on(backend))),
        }
    }
}

/// What an upstream answered: a stream of bytes (server-sent events), or an error status
/// with its body.
pub struct UpstreamReply {
    pub status: u16,
    /// The error body of a non-2xx answer.
    pub error: Option<String>,
    pub body: std::pin::Pin<Box<dyn futures_util::Stream<Item = std::result::Result<Vec<u8>, String>> + Send>>,
}

/// A request's deployment and where to send it.
#[derive(Debug, Clone)]
pub struct Route {
    pub deployment: Deployment,
    pub upstream: Upstream,
    /// The traffic split that chose the deployment, when `model` named one.
    pub split_id: Option<String>,
}

/// What the client asked for, read from its body before it is forwarded.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The body the upstream gets.
    pub body: Map<String, Value>,
    /// Whether the client wants a stream (else the gateway assembles one answer).
    pub stream: bool,
    /// Whether the client asked for the final usage chunk.
    pub include_usage: bool,
    /// Whether the client asked for the usage so far in every chunk.
    pub continuous_usage: bool,
}

/// The header counting the Tunery gateways a request passed.
pub const HOPS_HEADER: &str = "tunery-gateway-hops";
/// Gateways a request may pass (an external deployment pointing at another Tunery server).
pub const MAX_HOPS: u32 = 4;

/// Longest upstream error text quoted back.
const QUOTED_BYTES: usize = 500;

/// The message of an OpenAI-shaped error body, else the body itself (shortened).
pub fn upstream_error_message(body: &str) -> String {
    let parsed: Option<String> = serde_json::from_str::<Value>(body).ok().and_then(|v| v["error"]["message"].as_str().map(str::to_string));
    let text = parsed.unwrap_or_else(|| body.to_string());
    if text.len() > QUOTED_BYTES {
        let mut end = QUOTED_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &text[..end])
    } else {
        text
    }
}

/// Whether `url` lies under one of the administrator's allowed URL prefixes (a prefix matches
/// itself and what follows it after a `/`).
pub(crate) fn endpoint_allowed(url: &str, allowed: &[String]) -> bool {
    let base = url.trim_end_matches('/');
    allowed.iter().any(|prefix| {
        let prefix = prefix.trim_end_matches('/');
        base == prefix || base.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
    })
}

/// An external endpoint's base URL: http(s), no credentials in it, under a prefix the
/// administrator allowed (`--external-endpoint`), without the trailing `/`.
/// The schema states only `^https?://` and no spaces: what else makes a URL unusable (a host
/// that is not a valid name, credentials in it) is 422.
pub(crate) fn check_endpoint_url(url: &str, allowed: &[String]) -> Result<String> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| ValidationError::unprocessable("endpoint.url", format!("'{url}' is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ValidationError::unprocessable("endpoint.url", format!("'{url}': use an http or https URL")).into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ValidationError::unprocessable("endpoint.url", "put the credentials in endpoint.api_key, not in the URL").into());
    }
    if !endpoint_allowed(url, allowed) {
        let message = if allowed.is_empty() {
            "this server allows no external endpoints; an administrator starts it with --external-endpoint URL".to_owned()
        } else {
            format!("{url} is not an endpoint this server allows (allowed: {})", allowed.join(", "))
        };
        return Err(ValidationError::unprocessable("endpoint.url", message).into());
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// Checks the request (`request::check`) and applies the deployment's defaults; fields the
/// gateway does not know go to the upstream, which judges them (its 400 comes back as it is).
pub fn prepare(endpoint: CompletionEndpoint, mut body: Map<String, Value>, route: &Route) -> Result<Prepared> {
    super::request::check(endpoint, &body)?;
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let option = |name: &str| stream && body.get("stream_options").and_then(|o| o.get(name)).and_then(Value::as_bool).unwrap_or(false);
    let (include_usage, continuous_usage) = (option("include_usage"), option("continuous_usage_stats"));
    let defaults = &route.deployment.defaults;
    let has = |b: &Map<String, Value>, k: &str| b.get(k).is_some_and(|v| !v.is_null());
    if let Some(t) = defaults.max_tokens {
        if !has(&body, "max_tokens") && !has(&body, "max_completion_tokens") {
            body.insert("max_tokens".into(), t.into());
        }
    }
    if let Some(t) = defaults.temperature {
        if !has(&body, "temperature") {
            body.insert("temperature".into(), t.into());
        }
    }
    if let Some(p) = defaults.top_p {
        if !has(&body, "top_p") {
            body.insert("top_p".into(), p.into());
        }
    }
    body.insert("model".into(), route.upstream.model.clone().into());
    body.insert("stream".into(), true.into());
    body.insert("stream_options".into(), serde_json::json!({"include_usage": true, "continuous_usage_stats": true}));
    Ok(Prepared { body, stream, include_usage, continuous_usage })
}

impl Services {
    /// The deployment a request's `model` names, if the caller may call it (`deploy_model`
    /// where it lives); an idle one is started first (cold start). 404 for a name the caller
    /// cannot see, 409 for a stopped deployment, 503 for a failed one.
    /// A fine-tuned model or checkpoint without a deployment is also found by its `ft:` name
    /// (the one `/v1/fine_tuning/jobs` reports), and a ready base model by its name, and deployed
    /// on demand, scaling to zero when idle.
    pub async fn route(&self, principal: &Principal, model: &str) -> Result<Route> {
        match self.route_named(principal, model).await {
            Err(Error::NotFound(_)) => {
                let id = match self.fine_tuned_named(principal, model).await? {
                    Some(id) => id,
                    None => self.ready_base_named(principal, model).await?.ok_or(Error::NotFound("model"))?,
                };
                let name = self.deployment_for(principal, &id, &crate::RequestContext::default()).await?;
                self.route_named(principal, &name).await
            }
            other => other,
        }
    }

    /// A ready base model the caller's organization can use, by its exact name.
    async fn ready_base_named(&self, principal: &Principal, name: &str) -> Result<Option<String>> {
        let mut after: Option<String> = None;
        loop {
            let rows =
                database::base_models::list(&mut *self.db().read().await?, &principal.organization_id, after.as_deref(), 200).await?;
            if let Some(b) = rows.iter().find(|b| b.name == name && b.status == "ready") {
                return Ok(Some(b.id.clone()));
            }
            if rows.len() < 200 {
                return Ok(None);
            }
            after = rows.last().map(|b| b.id.clone());
        }
    }

    /// [`Services::route`] by deployment or split name only.
    async fn route_named(&self, principal: &Principal, model: &str) -> Result<Route> {
        // A deployment's name first (most requests), then a traffic split's (names never clash).
        let by_name = database::deployments::by_name(&mut *self.db().read().await?, &principal.organization_id, model).await;
        let (row, split_id) = match by_name {
            Ok(row) => (row, None),
            Err(database::Error::NotFound) => match self.route_split(principal, model).await? {
                Some((split_id, deployment_id)) => {
                    let row = database::deployments::get(&mut *self.db().read().await?, &principal.organization_id, &deployment_id).await;
                    let gone = || Error::Conflict(format!("traffic split {model} names deployment {deployment_id}, which is gone"));
                    (row.map_err(|_| gone())?, Some(split_id))
                }
                None => return Err(Error::NotFound("model")),
            },
            Err(e) => return Err(e.into()),
        };
        self.check_deployment_access(principal, &row, Permission::DeployModel).await.or_not_found("model")?;
        let deployment = Deployment::of(row)?;
        let upstream = self.upstream_for(&deployment).await?;
        Ok(Route { deployment, upstream, split_id })
    }

    /// Where a deployment's requests go now (its use noted for scale to zero): 409 for a
    /// stopped deployment, 503 for a failed one; an idle one starts (cold start).
    pub(crate) async fn upstream_for(&self, deployment: &Deployment) -> Result<Upstream> {
        self.mark_used(&deployment.row.id);
        let name = &deployment.row.name;
        match deployment.row.state.as_str() {
            state::STOPPED => Err(Error::Conflict(format!("deployment {name} is stopped; start it to call it"))),
            state::FAILED => Err(Error::Unavailable(format!(
                "deployment {name} failed: {}; start it again after fixing the cause",
                deployment.row.error.as_deref().unwrap_or("no reason recorded")
            ))),
            _ => match deployment.backend {
                BackendKind::External => self.external_upstream(&deployment.row).await,
                BackendKind::Local | BackendKind::Vllm => self.local_upstream(deployment).await,
            },
        }
    }

    /// A local deployment's upstream: its running backend, else a (cold) start.
    async fn local_upstream(&self, d: &Deployment) -> Result<super::Upstream> {
        if let Some(upstream) = self.least_loaded(&d.row.id) {
            return Ok(upstream);
        }
        if d.row.state == state::IDLE {
            self.deployment_event(&d.row.id, "cold_start", serde_json::json!({})).await;
            let _ = self.set_deployment_state(&d.row.id, &[state::IDLE], state::STARTING, None, "starting").await;
        }
        self.bring_up(&d.row.id).await
    }

    pub(crate) async fn external_upstream(&self, row: &database::deployments::DeploymentRow) -> Result<Upstream> {
        let (Some(url), Some(model)) = (&row.endpoint_url, &row.endpoint_model) else {
            return Err(Error::Internal(format!("deployment {}: an external deployment without its endpoint", row.id)));
        };
        let api_key = match &row.endpoint_key {
            Some(sealed) => Some(self.open_secret(sealed, &super::endpoint_key_binding(&row.id))?),
            None => None,
        };
        Ok(Upstream { base_url: url.clone(), api_key, model: model.clone(), in_flight: None })
    }

    /// Sends a prepared request; a connection failure is 503 naming the deployment. `hops`
    /// counts the Tunery gateways the request passed (an external deployment may point at a
    /// Tunery server, even this one): past [`MAX_HOPS`] it is refused, so a loop ends.
    pub async fn send_upstream(
        &self,
        route: &Route,
        endpoint: CompletionEndpoint,
        body: &Map<String, Value>,
        hops: u32,
    ) -> Result<UpstreamReply> {
        if hops >= MAX_HOPS {
            return Err(Error::Conflict(format!(
                "the request passed {hops} Tunery gateways: deployment {} points back at itself through its external endpoint",
                route.deployment.row.name
            )));
        }
        let url = format!("{}/{}", route.upstream.base_url, endpoint.path());
        let mut request = self
            .http()
            .post(&url)
            .json(body)
            .header(HOPS_HEADER, (hops + 1).to_string())
            .timeout(Duration::from_secs(self.settings().serving.request_timeout_s));
        if let Some(key) = &route.upstream.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| {
            Error::Unavailable(format!(
                "the backend of deployment {} does not answer: {}",
                route.deployment.row.name,
                if e.is_timeout() { "timed out".to_string() } else { e.without_url().to_string() }
            ))
        })?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let text = response.text().await.unwrap_or_default();
            return Ok(UpstreamReply { status, error: Some(text), body: Box::pin(futures_util::stream::empty()) });
        }
        use futures_util::StreamExt;
        let in_flight = route.upstream.in_flight.clone();
        let body = response.bytes_stream().map(move |r| {
            let _counted_until_the_answer_ends = &in_flight;
            r.map(|b| b.to_vec()).map_err(|e| e.without_url().to_string())
        });
        Ok(UpstreamReply { status, error: None, body: Box::pin(body) })
    }

    /// Deployments the caller may call (`GET /v1/models`). Needs `deploy_model`: in the
    /// organization, or in a project whose deployments it then lists.
    /// What `/v1/models` lists: every deployment the caller may call by its name, then each
    /// fine-tuned model of the organization without one by its `ft:` name, then each ready base
    /// model by its name — the last two are deployed on demand when first called. As
    /// (name, created in Unix ms, owner).
    pub async fn callable_models(&self, principal: &Principal) -> Result<Vec<(String, i64, String)>> {
        let mut out: Vec<(String, i64, String)> = self
            .callable_deployments(principal)
            .await?
            .into_iter()
            .map(|d| (d.row.name, d.row.created_at, d.row.organization_id))
            .collect();
        if principal.require(Permission::DeployModel).is_err() {
            return Ok(out); // deploying on demand needs the organization's deploy_model
        }
        let mut seen: std::collections::HashSet<String> = out.iter().map(|m| m.0.clone()).collect();
        let mut conn = self.db().read().await?;
        let org = database::organizations::get(&mut conn, &principal.organization_id).await?;
        let mut bases: std::collections::HashMap<String, database::base_models::BaseModelRow> = Default::default();
        let mut after: Option<String> = None;
        loop {
            let rows = database::base_models::list(&mut conn, &principal.organization_id, after.as_deref(), 200).await?;
            let n = rows.len();
            for b in rows {
                after = Some(b.id.clone());
                bases.insert(b.id.clone(), b);
            }
            if n < 200 {
                break;
            }
        }
        let mut after: Option<String> = None;
        loop {
            let rows = database::models::list(&mut conn, &principal.organization_id, after.as_deref(), 200).await?;
            let n = rows.len();
            for m in rows {
                after = Some(m.id.clone());
                let Some(base) = bases.get(&m.base_model_id) else { continue };
                let name = super::fine_tuned_name(&base.name, &org.name, &m.name, &m.id);
                if seen.insert(name.clone()) {
                    out.push((name, m.created_at, m.organization_id));
                }
            }
            if n < 200 {
                break;
            }
        }
        let mut ready: Vec<&database::base_models::BaseModelRow> = bases.values().filter(|b| b.status == "ready").collect();
        ready.sort_by(|a, b| a.name.cmp(&b.name));
        for b in ready {
            if seen.insert(b.name.clone()) {
                out.push((b.name.clone(), b.created_at, b.organization_id.clone().unwrap_or_else(|| "tunery".into())));
            }
        }
        Ok(out)
    }

    pub async fn callable_deployments(&self, principal: &Principal) -> Result<Vec<Deployment>> {
        let found = self.deployments_callable_by(principal).await?;
        if found.is_empty() {
            principal.require(Permission::DeployModel)?;
        }
        Ok(found)
    }

    async fn deployments_callable_by(&self, principal: &Principal) -> Result<Vec<Deployment>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let rows =
                database::deployments::list(&mut *self.db().read().await?, &principal.organization_id, after.as_deref(), 200).await?;
            let done = rows.len() < 200;
            for row in rows {
                after = Some(row.id.clone());
                if self.check_deployment_access(principal, &row, Permission::DeployModel).await.is_ok() {
                    out.push(Deployment::of(row)?);
                }
            }
            if done {
                return Ok(out);
            }
        }
    }
}
