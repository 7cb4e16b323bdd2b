//! Blobs are never lost: blobs are content-addressed and shared, so an upload of bytes that are
//! already stored reuses the stored blob. An identical upload racing the deletion of the dataset
//! that holds those bytes must never leave the new dataset pointing at a missing blob — its data
//! and its report (which is identical too) stay readable. Repeated 200 times on each database.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::TestApp;
use test_support::backends;

/// The status and body (parsed as JSON when it is: one record here) of a version's download.
async fn download(app: &TestApp, token: &str, dataset: &str) -> (u16, serde_json::Value) {
    let req = Request::builder()
        .uri(format!("/api/v1/datasets/{dataset}/versions/1/download"))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let a = app.send(req).await;
    (a.status.as_u16(), a.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_identical_upload_racing_a_delete_never_loses_its_blob() {
    for backend in backends() {
        // Hundreds of requests in a few seconds: lift the per-role rate limit.
        let mut settings = services::Settings::default();
        for limit in settings.rate_limits.values_mut() {
            *limit = domain::rate_limit::BucketLimit { per_second: 1e6, burst: 1e6 };
        }
        let app = TestApp::with_settings(backend, settings).await;
        let (_, admin) = app.bootstrap().await;
        for i in 0..200 {
            let content = format!(
                "{{\"messages\": [{{\"role\": \"user\", \"content\": \"Question {i}?\"}}, {{\"role\": \"assistant\", \"content\": \"Answer {i}.\"}}]}}\n"
            );
            let name = format!("first {i}");
            let first = app.upload_dataset(&admin, &[("name", &name)], "same.jsonl", content.as_bytes()).await;
            let first = first.expect(201)["dataset"]["id"].as_str().unwrap().to_string();
            let (path, name) = (format!("/api/v1/datasets/{first}"), format!("second {i}"));
            let fields = [("name", name.as_str())];
            let (deleted, second) =
                tokio::join!(app.delete(&path, &admin), app.upload_dataset(&admin, &fields, "same.jsonl", content.as_bytes()));
            assert_eq!(deleted.status.as_u16(), 204, "{backend:?} round {i}: {}", deleted.body);
            let second = second.expect(201)["dataset"]["id"].as_str().unwrap().to_string();
            let (status, body) = download(&app, &admin, &second).await;
            let expected: serde_json::Value = serde_json::from_str(&content).unwrap();
            assert_eq!((status, body), (200, expected), "{backend:?} round {i}: the new dataset lost its data");
            let report = app.get(&format!("/api/v1/datasets/{second}/versions/1/validation"), &admin).await;
            assert_eq!(report.status.as_u16(), 200, "{backend:?} round {i}: the new dataset lost its report: {}", report.body);
            app.delete(&format!("/api/v1/datasets/{second}"), &admin).await.expect(204);
        }
    }
}
