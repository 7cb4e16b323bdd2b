//! Request middleware: metrics and error logging (outermost), then for the API: authentication,
//! rate limiting, and the audit record of every mutating request the services did not record.

use crate::error::{AddressCharged, AlreadyAudited, ApiError, DeniedPermission, ErrorCode, InternalDetail, RefusalReason};
use crate::metrics::RequestLabels;
use crate::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use domain::audit::Outcome;
use services::audit::AuditEvent;
use services::{AuthFailure, Principal, RequestContext};
use std::net::SocketAddr;
use std::time::Instant;

/// Counts and times every request; logs internal errors once, with their detail.
pub async fn observe(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    if let Some(InternalDetail(detail)) = resp.extensions().get::<InternalDetail>() {
        tracing::error!(%method, %route, status, error = %detail, "internal error");
    }
    app.metrics.observe(RequestLabels { method, route, status }, started.elapsed().as_secs_f64());
    resp
}

/// The client's address: the TCP peer, or behind a trusted reverse proxy the address that
/// proxy appended last to `X-Forwarded-For`.
fn client_ip(req: &Request, trust_forwarded_for: bool) -> Option<String> {
    let forwarded = trust_forwarded_for
        .then(|| req.headers().get("x-forwarded-for")?.to_str().ok()?.rsplit(',').next().map(|s| s.trim().to_string()))
        .flatten()
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok());
    forwarded.or_else(|| req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()))
}

fn request_context(req: &Request, trust_forwarded_for: bool) -> RequestContext {
    let ip = client_ip(req, trust_forwarded_for);
    let user_agent = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string);
    RequestContext { ip, user_agent }
}

fn bearer(req: &Request) -> Option<Result<String, ()>> {
    let value = req.headers().get(header::AUTHORIZATION)?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    Some(token.ok_or(()))
}

/// Authenticates the bearer token (if any), charges the caller's rate limit, and audits
/// mutating requests that failed or were denied.
pub async fn authenticate(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let ctx = request_context(&req, app.trust_forwarded_for);
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_default();
    let mutating = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    let principal = match bearer(&req) {
        None => {
            // An address throttled for failed attempts gets nothing done anonymously: refused
            // before any work (a registration's password hash, a refresh's transaction).
            if let Some(retry_after_s) = app.services.login_throttled(ctx.ip.as_deref().unwrap_or_default()) {
                return finish(&app, None, &ctx, &method, &route, mutating, throttled(retry_after_s)).await;
            }
            None
        }
        Some(Err(())) => {
            let err: ApiError = services::Error::Unauthenticated(AuthFailure::InvalidToken).into();
            return finish(&app, None, &ctx, &method, &route, mutating, err.into_response()).await;
        }
        Some(Ok(token)) => match app.services.authenticate(&token).await {
            Ok(p) => Some(p),
            Err(e) => return finish(&app, None, &ctx, &method, &route, mutating, ApiError::from(e).into_response()).await,
        },
    };
    if let Some(p) = &principal {
        if let Err(e) = app.services.charge_request(p) {
            let limit = match &e {
                services::Error::RateLimited { limit_per_second, .. } => *limit_per_second,
                _ => 0.0,
            };
            let mut resp = ApiError::from(e).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("{limit}")) {
                resp.headers_mut().insert("x-ratelimit-limit-requests-per-second", v);
            }
            return resp;
        }
        req.extensions_mut().insert(p.clone());
    }
    req.extensions_mut().insert(ctx.clone());
    let resp = next.run(req).await;
    finish(&app, principal.as_ref(), &ctx, &method, &route, mutating, resp).await
}

fn throttled(retry_after_s: i64) -> Response {
    ApiError {
        retry_after_s: Some(retry_after_s),
        ..ApiError::new(ErrorCode::LoginThrottled, format!("too many failed attempts from this address; try again in {retry_after_s} s"))
    }
    .into_response()
}

/// Charges anonymous failures to the client address, and writes the audit record of a request
/// that the services did not record themselves: every refusal (403), and every failed mutation
/// (successful mutations are recorded inside their own transaction).
async fn finish(
    app: &AppState,
    principal: Option<&Principal>,
    ctx: &RequestContext,
    method: &Method,
    route: &str,
    mutating: bool,
    resp: Response,
) -> Response {
    let status = resp.status();
    if status.is_success() {
        return resp;
    }
    let mut resp = resp;
    if principal.is_none() {
        // Every anonymous failed attempt (bad or missing credentials, a wrong password, a
        // locked account, a bad invitation or refresh token, a malformed body) counts against
        // the address, unless the services charged it already. An expired access token is an
        // honest client about to refresh: not counted.
        let code = resp.extensions().get::<ErrorCode>().copied();
        let charged = resp.extensions().get::<AddressCharged>().is_some();
        let exempt = matches!(code, Some(ErrorCode::TokenExpired | ErrorCode::LoginThrottled));
        if status.is_client_error() && !charged && !exempt {
            if let Err(retry_after_s) = app.services.charge_auth_failure(ctx.ip.as_deref().unwrap_or_default()) {
                resp = throttled(retry_after_s);
            }
        }
        // A throttled address is refused without an audit record per request: only its
        // crossing into the throttled state is recorded, so floods cannot fill the log.
        if resp.extensions().get::<ErrorCode>() == Some(&ErrorCode::LoginThrottled) {
            let retry_after_s = resp.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i64>().ok());
            let details = serde_json::json!({"method": method.as_str(), "route": route, "retry_after_s": retry_after_s});
            if let Err(e) = app.services.record_throttled(ctx, details).await {
                tracing::error!(error = %e, "could not write an audit record");
                return ApiError::internal(format!("audit write failed: {e}")).into_response();
            }
            return resp;
        }
    }
    let status = resp.status();
    // Refusals are security events whatever the method; other failures count for mutations.
    let refused = status == StatusCode::FORBIDDEN;
    if !(mutating || refused) || resp.extensions().get::<AlreadyAudited>().is_some() {
        return resp;
    }
    let denied = resp.extensions().get::<DeniedPermission>().map(|d| d.0.clone());
    let reason = resp.extensions().get::<RefusalReason>().map(|r| r.0.clone());
    let outcome = if status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED { Outcome::Denied } else { Outcome::Failure };
    let action = if refused { "permission.denied" } else { "request.failed" };
    let mut event = match principal {
        Some(p) => AuditEvent::by(p, action),
        None => AuditEvent::anonymous(None, action),
    };
    let mut details = serde_json::json!({
        "method": method.as_str(), "route": route, "status": status.as_u16(), "permission": denied,
    });
    if let Some(reason) = reason {
        details["reason"] = reason.into();
    }
    event = event.outcome(outcome).details(details);
    if let Err(e) = app.services.record_event(event, ctx).await {
        tracing::error!(error = %e, "could not write an audit record");
        return ApiError::internal(format!("audit write failed: {e}")).into_response();
    }
    resp
}

/// Answers unknown paths in the error shape.
pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint; see /openapi.json")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed, "this endpoint does not accept that method; see /openapi.json")
}
