//! API views of deployments, their events and usage.

use crate::views::stored_json;
use database::deployments::DeploymentEventRow;
use database::inference::UsageBucket;
use serde::Serialize;
use services::deployments::{BackendKind, Deployment, GenerationDefaults, UsageReport};
use utoipa::ToSchema;

/// Where an external deployment sends requests (its key is never shown).
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    pub url: String,
    pub model: String,
    /// Whether a key is stored for it.
    pub has_api_key: bool,
}

/// A deployment.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentView {
    pub id: String,
    pub object: &'static str,
    /// The name requests put in `model` (`POST /v1/chat/completions`).
    pub name: String,
    pub project_id: Option<String>,
    /// The model served: a fine-tuned model (`mdl_…`) or a base model (`bm_…`); null for an
    /// external deployment of another model.
    pub model: Option<String>,
    pub base_model_id: Option<String>,
    pub backend: BackendKind,
    pub endpoint: Option<EndpointView>,
    /// Wanted replicas (0: stopped).
    pub replicas: i64,
    /// Scale to zero after this many idle seconds (null: never).
    pub idle_timeout_s: Option<i64>,
    pub defaults: GenerationDefaults,
    /// stopped, starting, ready, idle (scaled to zero) or failed.
    pub state: String,
    pub error: Option<String>,
    /// Unix seconds of the last request recorded (written within a second of it).
    pub last_request_at: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<Deployment> for DeploymentView {
    fn from(d: Deployment) -> Self {
        let model = d.model().map(str::to_string);
        let r = d.row;
        let endpoint = match (r.endpoint_url, r.endpoint_model) {
            (Some(url), Some(model)) => Some(EndpointView { url, model, has_api_key: r.endpoint_key.is_some() }),
            _ => None,
        };
        DeploymentView {
            id: r.id,
            object: "deployment",
            name: r.name,
            project_id: r.project_id,
            model,
            base_model_id: r.base_model_id,
            backend: d.backend,
            endpoint,
            replicas: r.replicas,
            idle_timeout_s: r.idle_timeout_s,
            defaults: d.defaults,
            state: r.state,
            error: r.error,
            last_request_at: r.last_request_at.map(|t| t / 1000),
            created_by: r.created_by,
            created_at: r.created_at / 1000,
            updated_at: r.updated_at / 1000,
        }
    }
}

/// One event of a deployment: created, ready, failed, crashed, restarting, scaled_to_zero,
/// cold_start, start, stop, update, log.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentEventView {
    pub seq: i64,
    pub kind: String,
    /// Unix milliseconds.
    pub time: i64,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl TryFrom<DeploymentEventRow> for DeploymentEventView {
    type Error = crate::error::ApiError;
    fn try_from(r: DeploymentEventRow) -> Result<Self, Self::Error> {
        let data = stored_json("the event data", &format!("{} event {}", r.deployment_id, r.seq), &r.data)?;
        Ok(DeploymentEventView { seq: r.seq, kind: r.kind, time: r.time, data })
    }
}

/// Requests in one time bucket.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageBucketView {
    /// Unix seconds of the bucket's start.
    pub start: i64,
    pub requests: i64,
    /// Requests that answered an error (status 400 or more, or a client that went away: 499).
    pub errors: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub mean_latency_ms: f64,
    pub max_latency_ms: i64,
    /// Mean time to the first token of the requests that produced one.
    pub mean_time_to_first_token_ms: Option<f64>,
}

impl From<UsageBucket> for UsageBucketView {
    fn from(b: UsageBucket) -> Self {
        UsageBucketView {
            start: b.bucket_start / 1000,
            requests: b.requests,
            errors: b.errors,
            prompt_tokens: b.prompt_tokens,
            completion_tokens: b.completion_tokens,
            total_tokens: b.prompt_tokens + b.completion_tokens,
            mean_latency_ms: if b.requests > 0 { b.latency_ms_sum as f64 / b.requests as f64 } else { 0.0 },
            max_latency_ms: b.latency_ms_max,
            mean_time_to_first_token_ms: (b.time_to_first_token_count > 0)
                .then(|| b.time_to_first_token_ms_sum as f64 / b.time_to_first_token_count as f64),
        }
    }
}

/// Usage over a period, per minute or per day, with the totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageView {
    pub object: &'static str,
    /// minute or day.
    pub bucket: &'static str,
    /// Unix milliseconds: the period covered, `from` inclusive, `to` exclusive.
    pub from: i64,
    pub to: i64,
    pub requests: i64,
    pub errors: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub data: Vec<UsageBucketView>,
}

impl From<UsageReport> for UsageView {
    fn from(r: UsageReport) -> Self {
        let data: Vec<UsageBucketView> = r.buckets.into_iter().map(UsageBucketView::from).collect();
        let sum = |f: fn(&UsageBucketView) -> i64| data.iter().map(f).sum::<i64>();
        UsageView {
            object: "usage",
            bucket: r.bucket,
            from: r.from,
            to: r.to,
            requests: sum(|b| b.requests),
            errors: sum(|b| b.errors),
            prompt_tokens: sum(|b| b.prompt_tokens),
            completion_tokens: sum(|b| b.completion_tokens),
            total_tokens: sum(|b| b.total_tokens),
            data,
        }
    }
}
