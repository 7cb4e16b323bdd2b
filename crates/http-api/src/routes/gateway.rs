//! The OpenAI-compatible inference gateway: `POST /v1/chat/completions`, `POST /v1/completions`
//! and `GET /v1/models`, routed by `model` to a deployment the caller may call. Every request
//! is streamed from the backend (with usage), so a client that goes away cancels generation,
//! and every request is metered: one usage row each, written in the background.

use super::gateway_answer::Answer;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{Caller, Origin};
use crate::metrics::Metrics;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{Map, Value};
use services::deployments::answer_policy::AnswerPolicy;
use services::deployments::inference_logs::Exchange;
use services::deployments::request::{ChatCompletionRequest, CompletionRequest};
use services::deployments::safety::{SafetyAction, Stage};
use services::deployments::stream::{Assembler, Meter};
use services::deployments::{Admission, CompletionEndpoint, InferenceRecord, Route};
use services::{Principal, Services};
use std::sync::Arc;
use std::time::Instant;
use utoipa::ToSchema;

/// Creates a chat completion (OpenAI's shape; `stream: true` for server-sent events ending
/// with `data: [DONE]`). `model` is a deployment's name.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "openai", request_body = ChatCompletionRequest,
    responses((status = 200, body = Object, description = "a chat.completion, or text/event-stream of chat.completion.chunk"), (status = "default", body = ErrorBody)),
    security(("bearer" = ["deploy_model"])))]
pub async fn chat_completions(State(app): State<AppState>, Caller(p): Caller, headers: HeaderMap, body: Bytes) -> Response {
    complete(app, p, CompletionEndpoint::Chat, hops(&headers), body).await
}

/// Creates a text completion (OpenAI's legacy completions; `prompt` is one string).
#[utoipa::path(post, path = "/v1/completions", tag = "openai", request_body = CompletionRequest,
    responses((status = 200, body = Object, description = "a text_completion, or text/event-stream of its chunks"), (status = "default", body = ErrorBody)),
    security(("bearer" = ["deploy_model"])))]
pub async fn completions(State(app): State<AppState>, Caller(p): Caller, headers: HeaderMap, body: Bytes) -> Response {
    complete(app, p, CompletionEndpoint::Completions, hops(&headers), body).await
}

/// The Tunery gateways the request passed already (0 from a client).
fn hops(headers: &HeaderMap) -> u32 {
    headers.get(services::deployments::HOPS_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// The response header naming the deployment that answered.
const DEPLOYMENT_HEADER: &str = "tunery-deployment";

/// The playground (the web UI's, and `tunery chat`'s): a chat completion like
/// `/v1/chat/completions`, through the same gateway path, whose `model` may also be a
/// fine-tuned or base model id — deployed on demand when no deployment of it exists (it scales
/// to zero after 10 idle minutes). Needs `deploy_model`.
#[utoipa::path(post, path = "/api/v1/playground/chat", tag = "deployments", request_body = ChatCompletionRequest,
    responses((status = 200, body = Object, description = "a chat.completion, or text/event-stream of chat.completion.chunk"), (status = "default", body = ErrorBody)),
    security(("bearer" = ["deploy_model"])))]
pub async fn playground_chat(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return ApiError::new(ErrorCode::InvalidJson, format!("the body is not JSON: {e}")).into_response(),
    };
    if let Some(model) = value.get("model").and_then(Value::as_str).map(str::to_string) {
        if let Err(e) = p.require(domain::Permission::DeployModel) {
            return ApiError::from(e).into_response();
        }
        match app.services.deployment_for(&p, &model, &ctx).await {
            Ok(name) => value["model"] = name.into(),
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    let body = Bytes::from(value.to_string());
    complete(app, p, CompletionEndpoint::Chat, hops(&headers), body).await
}

/// One model the caller may call.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiModel {
    /// The name to put in `model`.
    pub id: String,
    pub object: &'static str,
    /// Unix seconds.
    pub created: i64,
    /// The organization it belongs to (`tunery` for the built-in and catalog base models).
    pub owned_by: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiModelList {
    pub object: &'static str,
    pub data: Vec<OpenAiModel>,
}

/// The models the caller may call, by the names requests use: deployments, then fine-tuned
/// models and ready base models without one (deployed on demand when first called).
#[utoipa::path(get, path = "/v1/models", tag = "openai", operation_id = "list_openai_models",
    responses((status = 200, body = OpenAiModelList), (status = "default", body = ErrorBody)), security(("bearer" = ["deploy_model"])))]
pub async fn list_models(State(app): State<AppState>, Caller(p): Caller) -> ApiResult<Json<OpenAiModelList>> {
    let data = app
        .services
        .callable_models(&p)
        .await?
        .into_iter()
        .map(|(id, created, owned_by)| OpenAiModel { id, object: "model", created: created / 1000, owned_by })
        .collect();
    Ok(Json(OpenAiModelList { object: "list", data }))
}

/// Records the request's usage row when dropped: at the end of an answer, or when the client
/// went away (status 499, with the tokens generated until then).
pub(super) struct UsageGuard {
    pub(super) services: Services,
    pub(super) record: InferenceRecord,
    started: Instant,
    pub(super) meter: Meter,
    /// The limits the request was admitted under: its tokens are charged to them at the end.
    admission: Option<Admission>,
    metrics: Arc<Metrics>,
    /// The deployment's name once routed (counted in flight until the guard drops).
    routed: Option<String>,
    /// What the client got, per choice, when the deployment logs requests.
    pub(super) answers: Option<Assembler>,
    pub(super) principal: Principal,
}

impl UsageGuard {
    fn new(services: &Services, metrics: Arc<Metrics>, p: &Principal, endpoint: CompletionEndpoint, id: &str) -> UsageGuard {
        let row = services::deployments::InferenceRow {
            id: id.to_string(),
            organization_id: p.organization_id.clone(),
            deployment_id: None,
            api_key_id: p.api_key_id().map(str::to_string),
            user_id: Some(p.user_id.clone()),
            model: String::new(),
            endpoint: endpoint.as_str().to_string(),
            prompt_tokens: 0,
            completion_tokens: 0,
            time_to_first_token_ms: None,
            latency_ms: 0,
            status: 499,
            error_code: Some("client_closed_request".into()),
            created_at: services::now_ms(),
            split_id: None,
        };
        UsageGuard {
            services: services.clone(),
            record: InferenceRecord::of(row),
            started: Instant::now(),
            meter: Meter::default(),
            admission: None,
            metrics,
            routed: None,
            answers: None,
            principal: p.clone(),
        }
    }

    fn routed(&mut self, route: &Route) {
        self.record.row.deployment_id = Some(route.deployment.row.id.clone());
        self.metrics.in_flight(&route.deployment.row.name, 1);
        self.routed = Some(route.deployment.row.name.clone());
    }

    pub(super) fn elapsed_ms(&self) -> i64 {
        self.started.elapsed().as_millis() as i64
    }

    pub(super) fn ended(&mut self, status: u16, error_code: Option<&str>) {
        self.record.row.status = i64::from(status);
        self.record.row.error_code = error_code.map(str::to_string);
    }

    /// Notes a chunk the client gets (for the log).
    pub(super) fn sent(&mut self, chunk: &Map<String, Value>) {
        if let Some(a) = &mut self.answers {
            a.push(chunk);
        }
    }

    pub(super) fn failed(&mut self, e: ApiError) -> Response {
        let (status, _) = e.code.status_and_type();
        self.ended(status.as_u16(), Some(&e.code.as_str()));
        let mut resp = e.into_response();
        // The usage row records a failed inference request; only a refusal (403) is also a
        // security event for the audit log.
        if status != StatusCode::FORBIDDEN {
            resp.extensions_mut().insert(crate::error::AlreadyAudited);
        }
        resp
    }
}

impl Drop for UsageGuard {
    fn drop(&mut self) {
        let (prompt, completion) = self.meter.tokens();
        let row = &mut self.record.row;
        row.prompt_tokens = prompt;
        row.completion_tokens = completion;
        row.time_to_first_token_ms = self.meter.first_token_ms;
        row.latency_ms = self.started.elapsed().as_millis() as i64;
        if let (Some(exchange), Some(answers)) = (&mut self.record.exchange, &self.answers) {
            exchange.answers = answers.answers();
        }
        if let Some(admission) = &self.admission {
            self.services.charge_inference(admission, prompt + completion);
        }
        if let Some(name) = &self.routed {
            self.metrics.in_flight(name, -1);
            let first = self.meter.first_token_ms.map(|ms| ms as f64 / 1000.0);
            let status = u16::try_from(self.record.row.status).unwrap_or(0);
            self.metrics.inference(name, status, (prompt, completion), self.started.elapsed().as_secs_f64(), first);
        }
        self.services.record_inference(self.record.clone());
    }
}

fn response_id(endpoint: CompletionEndpoint) -> String {
    let prefix = match endpoint {
        CompletionEndpoint::Chat => "chatcmpl",
        CompletionEndpoint::Completions => "cmpl",
    };
    format!("{prefix}-{}", services::random_id())
}

async fn complete(app: AppState, p: Principal, endpoint: CompletionEndpoint, hops: u32, body: Bytes) -> Response {
    let services = app.services;
    let id = response_id(endpoint);
    let mut guard = UsageGuard::new(&services, app.metrics, &p, endpoint, &id);
    let mut body: Map<String, Value> = match serde_json::from_slice(&body) {
        Ok(Value::Object(mut o)) => {
            // `45.0` is the integer 45, as for every JSON body of the API (and the backend
            // gets the integer).
            o.values_mut().for_each(crate::extract::integral_floats_as_integers);
            o
        }
        Ok(_) => return guard.failed(ApiError::new(ErrorCode::InvalidBody, "the body must be a JSON object")),
        Err(e) => return guard.failed(ApiError::new(ErrorCode::InvalidJson, format!("the body is not JSON: {e}"))),
    };
    let model = match services::deployments::request::check(endpoint, &body) {
        Ok(m) => m,
        Err(e) => return guard.failed(e.into()),
    };
    guard.record.row.model = model.clone();
    let admission = match services.admit_inference(&p).await {
        Ok(a) => a,
        Err(e) => return guard.failed(e.into()),
    };
    let mut limit_headers: Vec<(&'static str, String)> = admission.headers.clone();
    guard.admission = Some(admission);
    let filter = match services.content_filter(&p.organization_id).await {
        Ok(f) => f,
        Err(e) => return guard.failed(e.into()),
    };
    if let Some(f) = &filter {
        if let Err(e) = check_input(&services, &p, f, endpoint, &mut body, &mut guard).await {
            return guard.failed(e);
        }
    }
    let route = match services.route(&p, &model).await {
        Ok(r) => r,
        Err(services::Error::NotFound(_)) => {
            let message = format!("The model `{model}` does not exist or you do not have access to it.");
            return guard.failed(ApiError::new(ErrorCode::ModelNotFound, message).param("model"));
        }
        Err(e) => return guard.failed(e.into()),
    };
    guard.routed(&route);
    guard.record.row.split_id = route.split_id.clone();
    if route.deployment.row.log_requests != 0 {
        guard.record.exchange = Some(Exchange::of_request(endpoint, &body));
        guard.answers = Some(Assembler::default());
    }
    // Which deployment answered (the variant, when `model` names a traffic split).
    limit_headers.push((DEPLOYMENT_HEADER, route.deployment.row.name.clone()));
    let policy = AnswerPolicy::new(filter.as_ref(), endpoint, &body);
    let prepared = match services::deployments::prepare(endpoint, body, &route) {
        Ok(p) => p,
        Err(e) => return guard.failed(e.into()),
    };
    let reply = match services.send_upstream(&route, endpoint, &prepared.body, hops).await {
        Ok(r) => r,
        Err(e) => return guard.failed(e.into()),
    };
    if let Some(text) = &reply.error {
        return relay_error(guard, reply.status, text, &route);
    }
    let answer = Answer { guard, upstream: reply, policy, endpoint, id, model };
    let mut resp = if prepared.stream { answer.stream(&prepared) } else { answer.assemble().await };
    for (name, value) in limit_headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(name, v);
        }
    }
    resp
}

/// The input stage of the content policy: its rules (block or mask), then the moderation
/// model when it judges inputs.
async fn check_input(
    services: &Services,
    p: &Principal,
    filter: &services::deployments::safety::ContentFilter,
    endpoint: CompletionEndpoint,
    body: &mut Map<String, Value>,
    guard: &mut UsageGuard,
) -> Result<(), ApiError> {
    services::deployments::content_policy::filter_input(filter, endpoint, body, &mut guard.record.safety)?;
    let Some(m) = filter.moderation(Stage::Input) else { return Ok(()) };
    let conversation = services::deployments::content_policy::conversation(endpoint, body, None);
    if let Some(verdict) = services.moderate(p, m, conversation).await? {
        guard.record.safety.add(Stage::Input, "moderation", m.action, 1, Some(verdict));
        if m.action == SafetyAction::Block {
            let param = if endpoint == CompletionEndpoint::Chat { "messages" } else { "prompt" };
            let message = format!("the input was blocked by this organization's moderation model ({})", m.deployment);
            return Err(ApiError::new(ErrorCode::ContentFilter, message).param(param));
        }
    }
    Ok(())
}

/// An upstream's error answer: passed on when it is OpenAI-shaped, else 502 quoting it.
fn relay_error(mut guard: UsageGuard, status: u16, text: &str, route: &Route) -> Response {
    let code = serde_json::from_str::<Value>(text).ok().filter(|v| v["error"].is_object());
    match (code, StatusCode::from_u16(status)) {
        (Some(body), Ok(status)) if status.is_client_error() => {
            let code = body["error"]["code"].as_str().map(str::to_string);
            guard.ended(status.as_u16(), Some(code.as_deref().unwrap_or("upstream_error")));
            let mut resp = (status, Json(body)).into_response();
            resp.extensions_mut().insert(crate::error::AlreadyAudited);
            resp
        }
        _ => {
            let message = format!(
                "the backend of deployment {} answered {status}: {}",
                route.deployment.row.name,
                services::deployments::upstream_error_message(text)
            );
            guard.failed(ApiError::new(ErrorCode::BadGateway, message))
        }
    }
}
