//! API views of deployments, their events and usage.

use crate::views::stored_json;
use database::deployments::DeploymentEventRow;
use database::inference::UsageBucket;
use serde::Serialize;
use services::deployments::traffic::{Split, SplitReadout, Sticky, Variant};
use services::deployments::{BackendKind, Deployment, GenerationDefaults, LatencyPercentiles, UsageReport};
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
    /// How many of its processes on this server are ready to answer it now (null for an
    /// external deployment).
    pub ready_replicas: Option<u32>,
    /// Scale to zero after this many idle seconds (null: never).
    pub idle_timeout_s: Option<i64>,
    pub defaults: GenerationDefaults,
    /// stopped, starting, ready, idle (scaled to zero) or failed.
    pub state: String,
    pub error: Option<String>,
    /// Unix seconds of the last request recorded (written within a second of it).
    pub last_request_at: Option<i64>,
    /// Whether requests and answers are logged (personal data masked, sealed at rest).
    pub log_requests: bool,
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
            ready_replicas: d.ready_replicas,
            idle_timeout_s: r.idle_timeout_s,
            defaults: d.defaults,
            state: r.state,
            error: r.error,
            last_request_at: r.last_request_at.map(|t| t / 1000),
            log_requests: r.log_requests != 0,
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
    /// Latency percentiles of the bucket's requests.
    pub latency_ms: LatencyPercentiles,
}

impl UsageBucketView {
    fn of(b: UsageBucket, latency_ms: LatencyPercentiles) -> Self {
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
            latency_ms,
        }
    }
}

/// One API key's requests in the period.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyUsageView {
    /// The key (`key_…`); null for requests made in a signed-in session (the playground).
    pub api_key_id: Option<String>,
    /// The key's name and visible prefix (null for a session).
    pub name: Option<String>,
    pub prefix: Option<String>,
    pub requests: i64,
    pub errors: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub mean_latency_ms: f64,
    pub latency_ms: LatencyPercentiles,
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
    /// Latency percentiles of every request in the period (null without requests).
    pub latency_ms: Option<LatencyPercentiles>,
    /// Requests per API key, most first.
    pub by_key: Vec<KeyUsageView>,
    /// The organization's training compute in the same period: GPU-hours and spend per user,
    /// project and GPU type (`/api/v1/usage` only).
    pub compute: Option<services::training::ComputeUsage>,
}

impl From<UsageReport> for UsageView {
    fn from(r: UsageReport) -> Self {
        let mut bucket_latency = r.bucket_latency;
        let data: Vec<UsageBucketView> = r
            .buckets
            .into_iter()
            .map(|b| {
                let latency = bucket_latency.remove(&b.bucket_start).expect("a bucket with requests has latencies");
                UsageBucketView::of(b, latency)
            })
            .collect();
        let by_key = r
            .by_key
            .into_iter()
            .map(|(k, latency_ms)| KeyUsageView {
                total_tokens: k.prompt_tokens + k.completion_tokens,
                mean_latency_ms: k.latency_ms_sum as f64 / k.requests.max(1) as f64,
                api_key_id: k.api_key_id,
                name: k.name,
                prefix: k.prefix,
                requests: k.requests,
                errors: k.errors,
                prompt_tokens: k.prompt_tokens,
                completion_tokens: k.completion_tokens,
                latency_ms,
            })
            .collect();
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
            latency_ms: r.latency,
            by_key,
            compute: None,
        }
    }
}

/// A traffic split (online A/B test).
#[derive(Debug, Serialize, ToSchema)]
pub struct SplitView {
    pub id: String,
    pub object: &'static str,
    /// The name clients put in `model`.
    pub name: String,
    pub project_id: Option<String>,
    /// The deployments and their weights; the first is the control.
    pub variants: Vec<Variant>,
    pub sticky: Sticky,
    pub active: bool,
    /// The thresholds a newly promoted variant's model must pass, if any.
    pub gate: Option<services::evaluations::Gate>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<Split> for SplitView {
    fn from(s: Split) -> Self {
        let r = s.row;
        SplitView {
            id: r.id,
            object: "traffic_split",
            name: r.name,
            project_id: r.project_id,
            variants: s.variants,
            sticky: s.sticky,
            active: r.active != 0,
            gate: s.gate,
            created_by: r.created_by,
            created_at: r.created_at / 1000,
            updated_at: r.updated_at / 1000,
        }
    }
}

/// How one variant did, and how its ratings compare with the control's.
#[derive(Debug, Serialize, ToSchema)]
pub struct VariantResultView {
    pub deployment_id: String,
    pub weight: u32,
    pub requests: i64,
    pub errors: i64,
    pub error_rate: Option<f64>,
    pub mean_latency_ms: Option<f64>,
    /// Feedback received (thumbs up = 1, down = 0, or a 0–1 score).
    pub ratings: u64,
    pub mean_rating: Option<f64>,
    /// Mean rating minus the control's (null for the control or with too few ratings).
    pub difference: Option<f64>,
    pub z: Option<f64>,
    /// Two-sided p-value of the difference (normal approximation, from 10 ratings per side).
    pub p_value: Option<f64>,
}

/// A traffic split's results.
#[derive(Debug, Serialize, ToSchema)]
pub struct SplitResultsView {
    pub object: &'static str,
    pub split: SplitView,
    pub variants: Vec<VariantResultView>,
    /// Which variant is better, or that there is no evidence yet, in words.
    pub conclusion: String,
}

impl From<SplitReadout> for SplitResultsView {
    fn from(r: SplitReadout) -> Self {
        let variants = r
            .variants
            .into_iter()
            .map(|v| VariantResultView {
                error_rate: (v.requests > 0).then(|| v.errors as f64 / v.requests as f64),
                mean_rating: v.ratings.mean(),
                ratings: v.ratings.n,
                difference: v.comparison.map(|c| c.difference),
                z: v.comparison.map(|c| c.z).filter(|z| z.is_finite()),
                p_value: v.comparison.map(|c| c.p_value),
                deployment_id: v.deployment_id,
                weight: v.weight,
                requests: v.requests,
                errors: v.errors,
                mean_latency_ms: v.mean_latency_ms,
            })
            .collect();
        SplitResultsView { object: "traffic_split.results", split: r.split.into(), variants, conclusion: r.conclusion }
    }
}

/// An organization's content policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContentPolicyView {
    pub object: &'static str,
    pub policy: services::deployments::safety::ContentPolicy,
    /// Who changed it last (null: never set).
    pub updated_by: Option<String>,
    /// Unix seconds.
    pub updated_at: Option<i64>,
}

impl From<services::deployments::content_policy::StoredPolicy> for ContentPolicyView {
    fn from(s: services::deployments::content_policy::StoredPolicy) -> Self {
        ContentPolicyView {
            object: "content_policy",
            policy: s.policy,
            updated_by: s.updated_by,
            updated_at: s.updated_at.map(|t| t / 1000),
        }
    }
}

/// What a rule of the content policy did to one request.
#[derive(Debug, Serialize, ToSchema)]
pub struct SafetyEventView {
    pub id: String,
    pub object: &'static str,
    /// The response id of the request (`chatcmpl-…`, `cmpl-…`).
    pub request_id: String,
    pub deployment_id: Option<String>,
    /// input or output.
    pub stage: String,
    /// The rule's name, `max_input_chars`, `max_output_chars` or `moderation`.
    pub rule: String,
    /// block, mask or flag.
    pub action: String,
    /// How many matches the rule found.
    pub matches: i64,
    /// The moderation model's verdict (never the matched text).
    pub detail: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<database::safety::SafetyEventRow> for SafetyEventView {
    fn from(r: database::safety::SafetyEventRow) -> Self {
        SafetyEventView {
            id: r.id,
            object: "safety_event",
            request_id: r.request_id,
            deployment_id: r.deployment_id,
            stage: r.stage,
            rule: r.rule,
            action: r.action,
            matches: r.matches,
            detail: r.detail,
            created_at: r.created_at / 1000,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SafetyEventList {
    pub object: &'static str,
    pub data: Vec<SafetyEventView>,
    pub has_more: bool,
}

/// One logged request: what it asked (personal data masked) and what the client got.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoggedRequestView {
    /// The response id.
    pub request_id: String,
    pub object: &'static str,
    /// Unix milliseconds.
    pub created_at: i64,
    #[serde(flatten)]
    pub exchange: services::deployments::inference_logs::Exchange,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoggedRequestList {
    pub object: &'static str,
    pub data: Vec<LoggedRequestView>,
    pub has_more: bool,
}

impl From<services::Page<services::deployments::inference_logs::LoggedExchange>> for LoggedRequestList {
    fn from(page: services::Page<services::deployments::inference_logs::LoggedExchange>) -> Self {
        let data = page
            .items
            .into_iter()
            .map(|l| LoggedRequestView {
                request_id: l.request_id,
                object: "logged_request",
                created_at: l.created_at,
                exchange: l.exchange,
            })
            .collect();
        LoggedRequestList { object: "list", data, has_more: page.has_more }
    }
}
