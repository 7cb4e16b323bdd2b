//! The web UI's built files (`web/dist`), served from disk so that a UI change rebuilds no Rust.
//!
//! Paths under `/api/` and `/v1/` never reach the UI: an unknown API path stays a JSON 404. A
//! client-side route (a path whose last segment has no extension, e.g. `/datasets/ds_1`) gets
//! `index.html`; a missing file (`/assets/gone.js`) is a 404, never HTML in a script's place.
//! Hashed files under `/assets/` are cached for a year; everything else is revalidated. Every
//! UI response carries a content security policy that allows only the server's own origin.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use std::path::Path;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

/// Ant Design writes its styles at run time, hence `'unsafe-inline'` for styles (not scripts).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; \
     frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

/// A directory holding a built UI (`index.html` and its `assets/`), with the file services
/// that answer from it, made once.
#[derive(Debug, Clone)]
pub struct WebUi {
    files: ServeDir,
    index: ServeFile,
}

impl WebUi {
    /// Checks that `dir` holds a built UI; the error says what is missing and how to build it.
    pub fn open(dir: &Path) -> Result<WebUi, String> {
        if !dir.join("index.html").is_file() {
            return Err(format!(
                "{} has no index.html: build the web UI with `npm ci && npm run build` in web/ (scripts/run.sh does)",
                dir.display()
            ));
        }
        Ok(WebUi {
            files: ServeDir::new(dir).precompressed_gzip().append_index_html_on_directories(true),
            index: ServeFile::new(dir.join("index.html")).precompressed_gzip(),
        })
    }
}

/// Whether `path` belongs to the API (or the OpenAI-compatible gateway) rather than the UI.
fn is_api_path(path: &str) -> bool {
    ["/api", "/v1"].iter().any(|p| path == *p || path.strip_prefix(p).is_some_and(|rest| rest.starts_with('/')))
}

/// Whether `path` names a client-side route rather than a file.
fn is_client_route(path: &str) -> bool {
    !path.rsplit('/').next().unwrap_or_default().contains('.')
}

/// Answers a request no route matched: a UI file, `index.html` for a client-side route, or the
/// API's JSON 404.
pub async fn respond(ui: Option<WebUi>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let Some(ui) = ui.filter(|_| !is_api_path(&path) && matches!(*req.method(), Method::GET | Method::HEAD)) else {
        return crate::middleware::not_found().await.into_response();
    };
    // The same request for index.html, with the client's headers (what it accepts, what it
    // has cached), in case the path is a client-side route.
    let mut for_index = Request::new(Body::empty());
    *for_index.method_mut() = req.method().clone();
    *for_index.uri_mut() = req.uri().clone();
    *for_index.headers_mut() = req.headers().clone();
    let mut resp = match ui.files.oneshot(req).await {
        Ok(r) if r.status() == StatusCode::NOT_FOUND && is_client_route(&path) => {
            ui.index.oneshot(for_index).await.map(IntoResponse::into_response)
        }
        Ok(r) if r.status() == StatusCode::NOT_FOUND => return crate::middleware::not_found().await.into_response(),
        Ok(r) => Ok(r.into_response()),
        Err(e) => Err(e),
    }
    .unwrap_or_else(|e| crate::error::ApiError::internal(format!("the web UI could not be read: {e}")).into_response());
    let cache = if path.starts_with("/assets/") && resp.status().is_success() { "public, max-age=31536000, immutable" } else { "no-cache" };
    let headers = resp.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_are_never_the_ui() {
        for p in ["/api", "/api/", "/api/v1/nope", "/v1", "/v1/models"] {
            assert!(is_api_path(p), "{p}");
        }
        for p in ["/", "/apis", "/v1x", "/datasets/ds_1", "/assets/index.js"] {
            assert!(!is_api_path(p), "{p}");
        }
    }

    #[test]
    fn a_path_with_an_extension_is_a_file_not_a_route() {
        assert!(is_client_route("/datasets/ds_1"));
        assert!(is_client_route("/"));
        assert!(!is_client_route("/assets/index-abc.js"));
        assert!(!is_client_route("/favicon.svg"));
    }
}
