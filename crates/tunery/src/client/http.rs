//! Talking to the server: JSON requests carrying the caller's credential, the API's error
//! shape, and one refresh-and-retry when a login session's access token has expired (the new
//! token pair is saved in the profile at once, since the old refresh token no longer works).

use super::profile::ConfigStore;
use super::progress::Progress;
use anyhow::{Context, Result};
use reqwest::Method;
use serde_json::{json, Value};
use std::fmt;
use std::time::Duration;

/// An error answer of the API: `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub code: Option<String>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} ({code})", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// The API error inside an error chain, if there is one.
    pub fn find(e: &anyhow::Error) -> Option<&ApiError> {
        e.chain().find_map(|c| c.downcast_ref::<ApiError>())
    }
}

/// A login session: its tokens and the profile they are saved in.
pub struct Session {
    pub store: ConfigStore,
    pub profile: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
}

/// What a request is authenticated with. Not `Debug`: it holds secrets.
pub enum Credential {
    None,
    ApiKey(String),
    Session(Session),
}

/// What a request carries.
#[derive(Clone, Copy)]
enum Payload<'a> {
    None,
    Json(&'a Value),
    /// Raw bytes (`application/octet-stream`), e.g. one part of an upload.
    Octets(&'a [u8]),
    /// A multipart form: text fields, then one file streamed from disk with its progress.
    FileForm {
        fields: &'a [(&'a str, &'a str)],
        file: &'a std::path::Path,
        progress: &'a Shared<Progress>,
    },
}

type Shared<T> = std::sync::Arc<std::sync::Mutex<T>>;

/// One request, as it is sent again after a token refresh.
struct Call<'a> {
    method: Method,
    path: &'a str,
    query: &'a [(&'a str, String)],
    payload: Payload<'a>,
    headers: &'a [(&'a str, &'a str)],
    accept: &'a str,
    /// Moves file bytes: no limit on the whole exchange, only on each read.
    transfer: bool,
}

impl<'a> Call<'a> {
    fn new(method: Method, path: &'a str) -> Call<'a> {
        Call { method, path, query: &[], payload: Payload::None, headers: &[], accept: "application/json", transfer: false }
    }
}

/// A client for one server.
pub struct Api {
    http: reqwest::Client,
    /// For file bytes (parts, downloads): a transfer may take longer than any fixed limit, so
    /// only connecting and each read are timed.
    transfer: reqwest::Client,
    base: String,
    credential: Credential,
}

impl Api {
    pub fn new(server: &str, credential: Credential) -> Result<Api> {
        let base = server.trim_end_matches('/').to_string();
        if !base.starts_with("http://") {
            anyhow::bail!("the server URL must start with http:// (this build has no TLS support): {server}");
        }
        let builder = || {
            reqwest::Client::builder()
                .user_agent(concat!("tunery-cli/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(10))
        };
        let http = builder().timeout(Duration::from_secs(120)).build().context("cannot set up the HTTP client")?;
        let transfer = builder().read_timeout(Duration::from_secs(120)).build().context("cannot set up the HTTP client")?;
        Ok(Api { http, transfer, base, credential })
    }

    pub fn server(&self) -> &str {
        &self.base
    }

    pub async fn get(&mut self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        self.request(Method::GET, path, query, None).await
    }

    pub async fn post(&mut self, path: &str, body: &Value) -> Result<Value> {
        self.request(Method::POST, path, &[], Some(body)).await
    }

    pub async fn patch(&mut self, path: &str, body: &Value) -> Result<Value> {
        self.request(Method::PATCH, path, &[], Some(body)).await
    }

    pub async fn put(&mut self, path: &str, body: &Value) -> Result<Value> {
        self.request(Method::PUT, path, &[], Some(body)).await
    }

    pub async fn delete(&mut self, path: &str) -> Result<Value> {
        self.request(Method::DELETE, path, &[], None).await
    }

    /// Sends a request; `Value::Null` for an empty answer (204).
    pub async fn request(&mut self, method: Method, path: &str, query: &[(&str, String)], body: Option<&Value>) -> Result<Value> {
        let payload = body.map_or(Payload::None, Payload::Json);
        let call = Call { query, payload, ..Call::new(method, path) };
        let response = self.respond(&call).await?;
        self.json_of(response, path).await
    }

    /// PUTs raw bytes (`application/octet-stream`) with extra headers; the JSON answer.
    pub async fn put_octets(&mut self, path: &str, bytes: &[u8], headers: &[(&str, &str)]) -> Result<Value> {
        let call = Call { payload: Payload::Octets(bytes), headers, transfer: true, ..Call::new(Method::PUT, path) };
        let response = self.respond(&call).await?;
        self.json_of(response, path).await
    }

    /// POSTs a multipart form of text `fields` and the file at `file` (streamed, never read
    /// into memory whole; progress on standard error); the JSON answer. Sent again after a
    /// token refresh, the file is read again from its start.
    pub async fn post_file_form(&mut self, path: &str, fields: &[(&str, &str)], file: &std::path::Path) -> Result<Value> {
        let size = std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?.len();
        let progress = std::sync::Arc::new(std::sync::Mutex::new(Progress::new("sent", size, 0)));
        let call =
            Call { payload: Payload::FileForm { fields, file, progress: &progress }, transfer: true, ..Call::new(Method::POST, path) };
        let response = self.respond(&call).await;
        progress.lock().unwrap_or_else(|e| e.into_inner()).finish();
        self.json_of(response?, path).await
    }

    /// POSTs JSON and answers the successful response unread: a stream of server-sent events
    /// (only each read is timed, as generation may take long).
    pub async fn post_stream(&mut self, path: &str, body: &Value) -> Result<reqwest::Response> {
        let call = Call { payload: Payload::Json(body), accept: "text/event-stream", transfer: true, ..Call::new(Method::POST, path) };
        self.respond(&call).await
    }

    /// GETs a file: the successful response, its body not read yet (stream it with `chunk`).
    pub async fn download(&mut self, path: &str) -> Result<reqwest::Response> {
        let call = Call { accept: "application/octet-stream, application/json", transfer: true, ..Call::new(Method::GET, path) };
        self.respond(&call).await
    }

    /// Sends a call, renewing an expired login session once; a successful response, or the
    /// server's error answer as an [`ApiError`].
    async fn respond(&mut self, call: &Call<'_>) -> Result<reqwest::Response> {
        let first = self.send(call, self.bearer()).await?;
        let expired = matches!(&first, Err(e) if e.status == 401 && e.code.as_deref() == Some("token_expired"));
        let answer = if expired && self.can_refresh() {
            self.refresh().await?;
            self.send(call, self.bearer()).await?
        } else {
            first
        };
        answer.map_err(anyhow::Error::new)
    }

    fn bearer(&self) -> Option<&str> {
        match &self.credential {
            Credential::None => None,
            Credential::ApiKey(key) => Some(key.as_str()),
            Credential::Session(s) => Some(s.access_token.as_str()),
        }
    }

    fn can_refresh(&self) -> bool {
        matches!(&self.credential, Credential::Session(s) if s.refresh_token.is_some())
    }

    /// Trades the refresh token for a new pair and saves it in the profile.
    async fn refresh(&mut self) -> Result<()> {
        let Credential::Session(session) = &self.credential else { return Ok(()) };
        let Some(refresh_token) = session.refresh_token.clone() else { return Ok(()) };
        let body = json!({ "refresh_token": refresh_token });
        let path = "/api/v1/auth/refresh";
        let call = Call { payload: Payload::Json(&body), ..Call::new(Method::POST, path) };
        let renewed = match self.send(&call, None).await? {
            Ok(response) => self.json_of(response, path).await,
            Err(e) => Err(anyhow::Error::new(e)),
        };
        let answer = renewed.context("the login session has expired and could not be renewed; run `tunery login`")?;
        let access = str_field(&answer, "access_token")?;
        let refresh = str_field(&answer, "refresh_token")?;
        let Credential::Session(session) = &mut self.credential else { return Ok(()) };
        session.access_token = access.clone();
        session.refresh_token = Some(refresh.clone());
        session.store.update_profile(&session.profile, |p| {
            p.access_token = Some(access);
            p.refresh_token = Some(refresh);
        })
    }

    /// One attempt: a transport failure is the outer error, an error answer of the server the
    /// inner one.
    async fn send(&self, call: &Call<'_>, bearer: Option<&str>) -> Result<Result<reqwest::Response, ApiError>> {
        let url = format!("{}{}", self.base, call.path);
        let client = if call.transfer { &self.transfer } else { &self.http };
        let mut request = client.request(call.method.clone(), &url).header("accept", call.accept);
        if !call.query.is_empty() {
            request = request.query(call.query);
        }
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        for (name, value) in call.headers {
            request = request.header(*name, *value);
        }
        request = match call.payload {
            Payload::None => request,
            Payload::Json(body) => request.json(body),
            Payload::Octets(bytes) => request.header("content-type", "application/octet-stream").body(bytes.to_vec()),
            Payload::FileForm { fields, file, progress } => {
                let (content_type, length, body) = file_form(fields, file, progress.clone()).await?;
                request.header("content-type", content_type).header("content-length", length).body(body)
            }
        };
        let response = request.send().await.with_context(|| format!("cannot reach the server at {}", self.base))?;
        let status = response.status();
        if status.is_success() {
            return Ok(Ok(response));
        }
        let bytes = response.bytes().await.with_context(|| format!("the server at {} stopped answering", self.base))?;
        Ok(Err(error_of(status, &bytes)))
    }

    /// A successful answer's JSON; `Value::Null` when it is empty.
    async fn json_of(&self, response: reqwest::Response, path: &str) -> Result<Value> {
        let bytes = response.bytes().await.with_context(|| format!("the server at {} stopped answering", self.base))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).with_context(|| format!("the server answered {}{path} with something other than JSON", self.base))
    }
}

/// A multipart body streaming `file` after the text `fields`: its content type, length and body.
async fn file_form(fields: &[(&str, &str)], file: &std::path::Path, progress: Shared<Progress>) -> Result<(String, u64, reqwest::Body)> {
    use futures_util::StreamExt;
    use tokio::io::AsyncReadExt;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let boundary = format!("tunery-form-{nanos:x}-{:x}", std::process::id());
    let filename = file.file_name().map_or("upload".into(), |n| n.to_string_lossy().replace(['"', '\r', '\n'], "_"));
    let mut head = String::new();
    for (name, value) in fields {
        head.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"));
    }
    head.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    ));
    let tail = format!("\r\n--{boundary}--\r\n");
    let opened = tokio::fs::File::open(file).await.with_context(|| format!("cannot open {}", file.display()))?;
    let size = opened.metadata().await.with_context(|| format!("cannot read {}", file.display()))?.len();
    let length = head.len() as u64 + size + tail.len() as u64;
    let chunks = futures_util::stream::try_unfold(opened, move |mut f| {
        let (progress, filename) = (progress.clone(), filename.clone());
        async move {
            let mut buf = vec![0u8; 1 << 20];
            let n = f.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(None);
            }
            buf.truncate(n);
            let mut p = progress.lock().unwrap_or_else(|e| e.into_inner());
            p.advance(n as u64);
            p.tick(&filename);
            Ok(Some((buf, f)))
        }
    });
    let body = futures_util::stream::once(async move { Ok(head.into_bytes()) })
        .chain(chunks)
        .chain(futures_util::stream::once(async move { Ok(tail.into_bytes()) }));
    Ok((format!("multipart/form-data; boundary={boundary}"), length, reqwest::Body::wrap_stream(body)))
}

fn error_of(status: reqwest::StatusCode, bytes: &[u8]) -> ApiError {
    let detail = serde_json::from_slice::<Value>(bytes).ok().and_then(|v| v.get("error").cloned());
    let text = |key: &str| detail.as_ref().and_then(|d| d.get(key)).and_then(Value::as_str).map(str::to_string);
    ApiError {
        status: status.as_u16(),
        message: text("message").unwrap_or_else(|| format!("the server answered HTTP {status}")),
        code: text("code"),
    }
}

fn str_field(v: &Value, key: &str) -> Result<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string).with_context(|| format!("the server's answer has no `{key}`"))
}

/// A path segment with everything but unreserved characters percent-encoded, so that an id
/// typed by the user with `/`, `?` or `#` in it stays one segment.
/// Sets on a JSON body the fields that are given (`Some`); the others stay absent.
pub fn set_given<V: serde::Serialize>(body: &mut Value, fields: impl IntoIterator<Item = (&'static str, Option<V>)>) {
    for (key, value) in fields {
        if let Some(v) = value {
            body[key] = serde_json::to_value(v).expect("a JSON value");
        }
    }
}

pub fn seg(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(seg("usr_01AB-c.d~"), "usr_01AB-c.d~");
        assert_eq!(seg("../x y"), "..%2Fx%20y");
    }

    #[test]
    fn error_answers_are_read() {
        let body = br#"{"error":{"message":"nope","type":"authentication_error","param":null,"code":"api_key_revoked"}}"#;
        let e = error_of(reqwest::StatusCode::UNAUTHORIZED, body);
        assert_eq!(e.to_string(), "nope (api_key_revoked)");
        let e = error_of(reqwest::StatusCode::BAD_GATEWAY, b"<html>");
        assert_eq!(e.to_string(), "the server answered HTTP 502 Bad Gateway");
    }
}
