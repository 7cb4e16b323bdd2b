//! The API's surface: bad input in the error shape, limits, health, metrics, OpenAPI, audit.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::TestApp;
use domain::rate_limit::BucketLimit;
use serde_json::json;
use services::Settings;
use test_support::backends;

async fn bad_input_answers_in_the_error_shape(app: TestApp) {
    let (_, admin) = app.bootstrap().await;
    let raw = |body: &str, content_type: Option<&str>| {
        let mut r = Request::builder().method("POST").uri("/api/v1/projects").header("authorization", format!("Bearer {admin}"));
        if let Some(ct) = content_type {
            r = r.header("content-type", ct);
        }
        r.body(Body::from(body.to_string())).unwrap()
    };
    let malformed = app.send(raw("{\"name\": ", Some("application/json"))).await;
    malformed.expect(400);
    assert_eq!(malformed.code(), "invalid_json");
    assert_eq!(malformed.body["error"]["type"], "invalid_request_error");
    let wrong_type = app.send(raw("{\"name\": 42}", Some("application/json"))).await;
    assert_eq!(wrong_type.code(), "invalid_body");
    assert!(wrong_type.body["error"]["message"].as_str().unwrap().contains("name"), "{}", wrong_type.body);
    let unknown = app.send(raw("{\"name\": \"x\", \"created_by\": \"usr_1\"}", Some("application/json"))).await;
    assert_eq!(unknown.code(), "invalid_body");
    assert!(unknown.body["error"]["message"].as_str().unwrap().contains("created_by"));
    let no_type = app.send(raw("{\"name\": \"x\"}", None)).await;
    no_type.expect(415);
    let long = app.post("/api/v1/projects", &admin, json!({"name": "n".repeat(101)})).await;
    long.expect(400);
    assert_eq!(long.code(), "validation_failed");
    assert_eq!(long.body["error"]["param"], "name");
    assert!(long.body["error"]["message"].as_str().unwrap().contains("101"));
    let huge = app.post("/api/v1/projects", &admin, json!({"name": "x", "description": "d".repeat(2 * 1024 * 1024)})).await;
    huge.expect(413);
    assert_eq!(huge.code(), "payload_too_large");
    let nowhere = app.get("/api/v1/nowhere", &admin).await;
    nowhere.expect(404);
    assert_eq!(nowhere.code(), "not_found");
    let method = app.call("PUT", "/api/v1/me", Some(&admin), None).await;
    method.expect(405);
    assert_eq!(method.code(), "method_not_allowed");
    let bad_email =
        app.post("/api/v1/users", &admin, json!({"email": "not-an-email", "name": "x", "password": "long enough", "role": "viewer"})).await;
    assert_eq!(bad_email.body["error"]["param"], "email");
    let bad_role =
        app.post("/api/v1/users", &admin, json!({"email": "a@b.co", "name": "x", "password": "long enough", "role": "root"})).await;
    assert!(bad_role.body["error"]["message"].as_str().unwrap().contains("'root'"));
    // Nothing of the refused requests was written.
    assert_eq!(app.get("/api/v1/projects", &admin).await.body["data"].as_array().unwrap().len(), 0);
    assert_eq!(app.get("/api/v1/users", &admin).await.body["data"].as_array().unwrap().len(), 1);
}
on_each_backend!(bad_input_answers_in_the_error_shape_test, bad_input_answers_in_the_error_shape);

async fn audit_log_records_mutations_and_denials(app: TestApp) {
    let (admin_id, admin) = app.bootstrap().await;
    let (viewer_id, viewer) = app.user(&admin, "v@example.com", "viewer").await;
    let pid = app.post("/api/v1/projects", &admin, json!({"name": "audited"})).await.id();
    app.post("/api/v1/projects", &viewer, json!({"name": "nope"})).await.expect(403);
    app.post("/api/v1/projects", &admin, json!({"name": "audited"})).await.expect(409);
    let list = app.get("/api/v1/audit-events?limit=100", &admin).await;
    let events = list.expect(200)["data"].as_array().unwrap().clone();
    let find = |action: &str| events.iter().find(|e| e["action"] == action).cloned().unwrap_or_else(|| panic!("no {action} in {events:?}"));
    let created = find("project.create");
    assert_eq!(created["actor_id"], admin_id.as_str());
    assert_eq!(created["target_id"], pid.as_str());
    assert_eq!(created["outcome"], "success");
    let denied = find("permission.denied");
    assert_eq!(denied["actor_id"], viewer_id.as_str());
    assert_eq!(denied["outcome"], "denied");
    assert_eq!(denied["details"]["permission"], "upload_dataset");
    assert_eq!(denied["details"]["route"], "/api/v1/projects");
    let failed = find("request.failed");
    assert_eq!(failed["details"]["status"], 409);
    find("auth.login");
    find("auth.register");
    find("user.create");
    // Newest first, by chain position; filters narrow.
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]));
    let only = app.get(&format!("/api/v1/audit-events?actor_id={viewer_id}&outcome=denied"), &admin).await;
    assert_eq!(only.body["data"].as_array().unwrap().len(), 1);
    let family = app.get("/api/v1/audit-events?action=project", &admin).await;
    assert!(family.body["data"].as_array().unwrap().iter().all(|e| e["action"].as_str().unwrap().starts_with("project.")));
    // Paging backwards through the chain.
    let page = app.get("/api/v1/audit-events?limit=2", &admin).await;
    let before = page.body["data"][1]["seq"].as_i64().unwrap();
    let next = app.get(&format!("/api/v1/audit-events?limit=2&before={before}"), &admin).await;
    assert_eq!(next.body["data"][0]["seq"].as_i64().unwrap(), before - 1);
    // Viewers cannot read the log, and trying is recorded too.
    app.get("/api/v1/audit-events", &viewer).await.expect(403);
    let tried = app.get(&format!("/api/v1/audit-events?actor_id={viewer_id}&action=permission.denied"), &admin).await;
    let routes: Vec<&str> = tried.body["data"].as_array().unwrap().iter().map(|e| e["details"]["route"].as_str().unwrap()).collect();
    assert_eq!(routes, vec!["/api/v1/audit-events", "/api/v1/projects"]);
    let report = app.services.verify_audit_chain().await.unwrap();
    assert!(report.broken.is_none(), "{report:?}");
    assert_eq!(report.records, app.audit_count().await);
}
on_each_backend!(audit_log_records_mutations_and_denials_test, audit_log_records_mutations_and_denials);

async fn altering_any_audit_record_is_detected(app: TestApp) {
    let (_, admin) = app.bootstrap().await;
    for i in 0..5 {
        app.post("/api/v1/projects", &admin, json!({"name": format!("p{i}")})).await.expect(201);
    }
    let total = app.audit_count().await;
    let pool = app.services.db().pool();
    // The log refuses changes through SQL...
    let refused = sqlx::query("UPDATE audit_events SET action = 'x' WHERE seq = 2").execute(pool).await;
    assert!(refused.is_err(), "append-only trigger must refuse updates");
    assert!(sqlx::query("DELETE FROM audit_events WHERE seq = 2").execute(pool).await.is_err());
    // ...so an attacker with database access drops the guard first; the chain still tells.
    let drop_guard = match app.db.backend {
        test_support::Backend::Sqlite => vec!["DROP TRIGGER audit_events_no_update", "DROP TRIGGER audit_events_no_delete"],
        test_support::Backend::Postgres => vec!["DROP TRIGGER audit_events_no_change ON audit_events"],
    };
    for s in drop_guard {
        sqlx::query(s).execute(pool).await.unwrap();
    }
    sqlx::query("CREATE TABLE audit_backup AS SELECT * FROM audit_events").execute(pool).await.unwrap();
    for (column, value) in [
        ("action", "'project.delete'"),
        ("actor_id", "'usr_other'"),
        ("ip", "'10.0.0.1'"),
        ("details", "'{}'"),
        ("occurred_at", "occurred_at + 1"),
    ] {
        for seq in [1, total / 2, total] {
            sqlx::query(&format!("UPDATE audit_events SET {column} = {value} WHERE seq = {seq}")).execute(pool).await.unwrap();
            let report = app.services.verify_audit_chain().await.unwrap();
            let broken = report.broken.unwrap_or_else(|| panic!("altering {column} of record {seq} went unnoticed"));
            assert_eq!(broken.seq, seq, "{column}");
            sqlx::query(&format!(
                "UPDATE audit_events SET {column} = (SELECT b.{column} FROM audit_backup b WHERE b.seq = audit_events.seq) WHERE seq = {seq}"
            ))
            .execute(pool)
            .await
            .unwrap();
        }
    }
    assert!(app.services.verify_audit_chain().await.unwrap().broken.is_none());
    // Removing the newest record is caught by the chain head.
    sqlx::query(&format!("DELETE FROM audit_events WHERE seq = {total}")).execute(pool).await.unwrap();
    let broken = app.services.verify_audit_chain().await.unwrap().broken.expect("truncation detected");
    assert_eq!(broken.seq, total);
}
on_each_backend!(altering_any_audit_record_is_detected_test, altering_any_audit_record_is_detected);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_answers_429_with_retry_after() {
    for backend in backends() {
        let mut settings = Settings::default();
        for limit in settings.rate_limits.values_mut() {
            *limit = BucketLimit { per_second: 0.5, burst: 3.0 };
        }
        let app = TestApp::with_settings(backend, settings).await;
        let (_, admin) = app.bootstrap().await;
        let (_, viewer) = app.user(&admin, "v@example.com", "viewer").await;
        for _ in 0..2 {
            app.get("/api/v1/me", &admin).await.expect(200);
        }
        let limited = app.get("/api/v1/me", &admin).await;
        limited.expect(429);
        assert_eq!(limited.code(), "rate_limited");
        assert_eq!(limited.headers["retry-after"], "2");
        // Another caller has a bucket of their own.
        app.get("/api/v1/me", &viewer).await.expect(200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_and_openapi() {
    let app = TestApp::new(test_support::Backend::Sqlite).await;
    assert_eq!(app.call("GET", "/healthz", None, None).await.expect(200)["status"], "ok");
    assert_eq!(app.call("GET", "/readyz", None, None).await.expect(200)["status"], "ready");
    let (_, admin) = app.bootstrap().await;
    app.get("/api/v1/me", &admin).await.expect(200);
    app.get("/api/v1/nowhere", &admin).await.expect(404);
    let metrics = app.call("GET", "/metrics", None, None).await;
    let text = metrics.body.as_str().unwrap();
    assert!(text.contains(r#"tunery_http_requests_total{method="GET",route="/api/v1/me",status="200"} 1"#), "{text}");
    assert!(
        text.contains(r#"tunery_http_request_duration_seconds_bucket{le="0.001",method="GET",route="/api/v1/me",status="200"}"#)
            || text.contains("tunery_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    let doc = app.call("GET", "/openapi.json", None, None).await;
    let doc = doc.expect(200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/projects"]["post"]["security"][0]["bearer"][0] == "upload_dataset");
    assert!(doc["components"]["schemas"]["ErrorCode"]["enum"].as_array().unwrap().contains(&json!("permission_denied")));
}
