//! The web UI's built files served from disk: client-side routes get index.html, files keep
//! their type and cache rules, API paths and missing files stay JSON 404s, nothing outside the
//! folder is reachable, gzipped copies go to clients that accept them.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::TestApp;
use http_api::web_ui::WebUi;
use http_api::HttpSettings;
use services::Settings;
use std::path::Path;
use test_support::Backend;

const INDEX: &str = "<!doctype html><div id=\"root\"></div><script type=\"module\" src=\"/assets/index-abc.js\"></script>";

fn built_ui(dir: &Path) -> WebUi {
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("index.html"), INDEX).unwrap();
    std::fs::write(dir.join("assets/index-abc.js"), "console.log('ui')").unwrap();
    std::fs::write(dir.join("assets/index-abc.js.gz"), b"\x1f\x8bnot really gzip").unwrap();
    std::fs::write(dir.parent().unwrap().join("secret.txt"), "outside").unwrap();
    WebUi::open(dir).expect("a built UI")
}

async fn app_serving(dir: &Path) -> TestApp {
    let http = HttpSettings { web_ui: Some(built_ui(dir)), ..HttpSettings::default() };
    TestApp::with(Backend::Sqlite, Settings::default(), http).await
}

async fn get(app: &TestApp, path: &str, accept_gzip: bool) -> common::Answer {
    let mut req = Request::builder().uri(path);
    if accept_gzip {
        req = req.header("accept-encoding", "gzip");
    }
    app.send(req.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn client_routes_get_the_index_and_files_keep_their_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app_serving(&tmp.path().join("dist")).await;
    for path in ["/", "/datasets/ds_1", "/sign-in"] {
        let a = get(&app, path, false).await;
        a.expect(200);
        assert_eq!(a.body, serde_json::Value::String(INDEX.into()), "{path}");
        assert_eq!(a.headers["cache-control"], "no-cache", "{path}");
        assert!(a.headers["content-type"].to_str().unwrap().starts_with("text/html"), "{path}");
        let csp = a.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("script-src 'self';") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert_eq!(a.headers["x-content-type-options"], "nosniff");
    }
    let js = get(&app, "/assets/index-abc.js", false).await;
    js.expect(200);
    assert_eq!(js.body, serde_json::Value::String("console.log('ui')".into()));
    assert!(js.headers["content-type"].to_str().unwrap().contains("javascript"));
    assert_eq!(js.headers["cache-control"], "public, max-age=31536000, immutable");
    let gz = get(&app, "/assets/index-abc.js", true).await;
    assert_eq!(gz.headers["content-encoding"], "gzip", "the precompressed copy");
    assert!(gz.headers["content-type"].to_str().unwrap().contains("javascript"));
}

#[tokio::test]
async fn a_client_route_answers_with_the_clients_headers_in_mind() {
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    let app = app_serving(&dist).await;
    std::fs::write(dist.join("index.html.gz"), b"\x1f\x8bgzipped index").unwrap();
    // A browser that accepts gzip gets the precompressed index on a client-side route too.
    let gz = get(&app, "/datasets/ds_1", true).await;
    gz.expect(200);
    assert_eq!(gz.headers["content-encoding"], "gzip");
    assert!(gz.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    // A browser that has it cached is told so (304), not sent it again.
    let first = get(&app, "/datasets/ds_1", false).await;
    let modified = first.headers["last-modified"].to_str().unwrap().to_string();
    let req = Request::builder().uri("/jobs/job_1").header("if-modified-since", modified).body(Body::empty()).unwrap();
    let cached = app.send(req).await;
    assert_eq!(cached.status.as_u16(), 304, "{:?}", cached.headers);
    assert!(cached.headers.contains_key("content-security-policy"));
}

#[tokio::test]
async fn api_paths_missing_files_and_other_methods_stay_json_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app_serving(&tmp.path().join("dist")).await;
    for path in [
        "/api/v1/no-such-thing",
        "/v1/no-such-thing",
        "/assets/gone.js",
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/assets/..%2f..%2fsecret.txt",
    ] {
        let a = get(&app, path, false).await;
        a.expect(404);
        assert_eq!(a.code(), "not_found", "{path}: {:?}", a.body);
    }
    let post = app.call("POST", "/datasets", None, Some(serde_json::json!({}))).await;
    post.expect(404);
    assert_eq!(post.code(), "not_found");
    // The API itself is untouched.
    app.call("GET", "/api/v1/auth/registration", None, None).await.expect(200);
    app.call("GET", "/api/v1/me", None, None).await.expect(401);
}

#[tokio::test]
async fn without_a_ui_the_server_answers_the_api_only() {
    let app = TestApp::new(Backend::Sqlite).await;
    let a = get(&app, "/", false).await;
    a.expect(404);
    assert_eq!(a.code(), "not_found");
}

#[test]
fn a_folder_without_a_built_ui_is_refused_with_the_way_to_build_it() {
    let tmp = tempfile::tempdir().unwrap();
    let err = WebUi::open(tmp.path()).unwrap_err();
    assert!(err.contains("has no index.html") && err.contains("npm run build"), "{err}");
}
