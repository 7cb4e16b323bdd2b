//! What can go wrong talking to a remote executor's HTTP API (a Ray cluster's dashboard, the
//! Kubernetes API): one error type, naming the service, its address and the call.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("the address of {service} must be an http:// or https:// URL, got '{address}'")]
    BadAddress { service: &'static str, address: String },
    #[error("the {what} file {path} cannot be used: {error}")]
    File { what: &'static str, path: PathBuf, error: String },
    #[error("{service} at {address} did not answer {what}: {error}")]
    Unreachable { service: &'static str, address: String, what: String, error: String },
    #[error("{service} at {address} refused {what} ({status}): {message}")]
    Refused { service: &'static str, address: String, what: String, status: u16, message: String },
    #[error("{service} at {address} answered {what} with something that does not parse: {error}")]
    BadAnswer { service: &'static str, address: String, what: String, error: String },
}

/// The base URL of a remote API (no trailing slash), or the error naming `service`.
pub(crate) fn base_url(service: &'static str, address: &str) -> Result<String, RemoteError> {
    let base = address.trim_end_matches('/').to_string();
    if !(base.starts_with("http://") || base.starts_with("https://")) || base.len() <= "https://".len() {
        return Err(RemoteError::BadAddress { service, address: address.to_string() });
    }
    Ok(base)
}

/// Sends `request` (`what`, for errors) and reads its JSON answer; a 404 is None, another
/// failure status is [`RemoteError::Refused`] with the answer's `message` (Kubernetes' `Status`)
/// or its text.
pub(crate) async fn read_json(
    service: &'static str,
    base: &str,
    what: String,
    request: reqwest::RequestBuilder,
) -> Result<Option<serde_json::Value>, RemoteError> {
    let unreachable =
        |e: reqwest::Error| RemoteError::Unreachable { service, address: base.into(), what: what.clone(), error: e.to_string() };
    let response = request.send().await.map_err(unreachable)?;
    let status = response.status();
    let text = response.text().await.map_err(unreachable)?;
    if status == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(refused(service, base, what, status.as_u16(), &text));
    }
    serde_json::from_str(&text).map(Some).map_err(|e| RemoteError::BadAnswer {
        service,
        address: base.into(),
        what,
        error: format!("{e}: {}", text.chars().take(200).collect::<String>()),
    })
}

/// A refusal: the answer's `message` when it is a JSON object with one, else its text.
pub(crate) fn refused(service: &'static str, base: &str, what: String, status: u16, body: &str) -> RemoteError {
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.chars().take(2000).collect());
    RemoteError::Refused { service, address: base.into(), what, status, message }
}
