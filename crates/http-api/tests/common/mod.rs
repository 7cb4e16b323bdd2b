//! An in-process Tunery app over a fresh database, driven through `Router::oneshot`.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use services::{Services, Settings};
use test_support::{Backend, TestDb};
use tower::ServiceExt;

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub router: Router,
    pub services: Services,
    pub db: TestDb,
}

#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub headers: axum::http::HeaderMap,
}

impl Answer {
    /// The error code of an error answer.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn id(&self) -> String {
        self.body["id"].as_str().unwrap_or_else(|| panic!("no id in {}", self.body)).to_string()
    }

    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "unexpected answer: {}", self.body);
        &self.body
    }
}

impl TestApp {
    pub async fn new(backend: Backend) -> TestApp {
        TestApp::with_settings(backend, Settings::default()).await
    }

    pub async fn with_settings(backend: Backend, settings: Settings) -> TestApp {
        TestApp::with(backend, settings, http_api::HttpSettings::default()).await
    }

    pub async fn with(backend: Backend, settings: Settings, http: http_api::HttpSettings) -> TestApp {
        TestApp::on(TestDb::fresh(backend).await, settings, http).await
    }

    /// An app on a database of the test's (a fresh one, or a copy of one prepared before).
    pub async fn on(db: TestDb, settings: Settings, http: http_api::HttpSettings) -> TestApp {
        let database = database::Db::connect(&db.url, 8).await.expect("connect");
        database.migrate().await.expect("migrate");
        let services = Services::new(database, db.blob_store(), settings).await.expect("services");
        let router = http_api::router(services.clone(), &http);
        TestApp { router, services, db }
    }

    /// Sends a raw request.
    pub async fn send(&self, req: Request<Body>) -> Answer {
        let resp = self.router.clone().oneshot(req).await.expect("router answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Answer { status, body, headers }
    }

    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req.header("content-type", "application/json").body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        self.send(req).await
    }

    /// Sends a request from client address `ip` (in `X-Forwarded-For`; the app must trust it).
    pub async fn call_from(&self, ip: &str, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let mut req = Request::builder().method(method).uri(path).header("x-forwarded-for", ip);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req.header("content-type", "application/json").body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        self.send(req).await
    }

    /// Sends `payload` (JSON, a multipart form or raw bytes).
    pub async fn call_with(&self, method: &str, path: &str, token: &str, payload: Payload) -> Answer {
        let req = Request::builder().method(method).uri(path).header("authorization", format!("Bearer {token}"));
        let req = match payload {
            Payload::None => req.body(Body::empty()),
            Payload::Json(v) => req.header("content-type", "application/json").body(Body::from(v.to_string())),
            Payload::Bytes(b) => req.header("content-type", "application/octet-stream").body(Body::from(b)),
            Payload::Multipart { fields, filename, content } => {
                let (content_type, body) = multipart_body(&fields, &filename, &content);
                req.header("content-type", content_type).body(Body::from(body))
            }
            Payload::UploadPart(content) => {
                let (content_type, body) = multipart_named("data", &[], "blob", &content);
                req.header("content-type", content_type).body(Body::from(body))
            }
        }
        .expect("request");
        self.send(req).await
    }

    /// `POST /api/v1/datasets` with text fields first, then the file.
    pub async fn upload_dataset(&self, token: &str, fields: &[(&str, &str)], filename: &str, content: &[u8]) -> Answer {
        let fields = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.call_with(
            "POST",
            "/api/v1/datasets",
            token,
            Payload::Multipart { fields, filename: filename.into(), content: content.to_vec() },
        )
        .await
    }

    /// GETs `path` until `done` holds (else panics after `seconds`), and answers the last body.
    pub async fn wait_for(&self, token: &str, path: &str, done: impl Fn(&Value) -> bool, seconds: u64) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        loop {
            let body = self.get(path, token).await.expect(200).clone();
            if done(&body) {
                return body;
            }
            assert!(std::time::Instant::now() < deadline, "timed out waiting on {path}: {body}");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call("POST", path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call("PATCH", path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Answer {
        self.call("DELETE", path, Some(token), None).await
    }

    /// `POST /api/v1/auth/register` without credentials.
    pub async fn register(&self, body: Value) -> Answer {
        self.call("POST", "/api/v1/auth/register", None, Some(body)).await
    }

    pub async fn login(&self, email: &str) -> String {
        let a = self.call("POST", "/api/v1/auth/login", None, Some(json!({"email": email, "password": PASSWORD}))).await;
        a.expect(200)["access_token"].as_str().expect("access token").to_string()
    }

    /// Registers the first user (instance admin) and logs in: (user id, token).
    pub async fn bootstrap(&self) -> (String, String) {
        let a = self.register(json!({"email": "admin@example.com", "name": "Admin", "password": PASSWORD})).await;
        let id = a.expect(201)["id"].as_str().expect("id").to_string();
        (id, self.login("admin@example.com").await)
    }

    /// Creates a user with `role` in the admin's organization and logs in: (user id, token).
    pub async fn user(&self, admin_token: &str, email: &str, role: &str) -> (String, String) {
        let a = self.post("/api/v1/users", admin_token, json!({"email": email, "name": email, "password": PASSWORD, "role": role})).await;
        let id = a.expect(201)["id"].as_str().expect("id").to_string();
        (id, self.login(email).await)
    }

    /// Creates a second organization with its own admin (by the instance admin): (org id, admin token).
    pub async fn other_org(&self, instance_admin_token: &str, name: &str) -> (String, String) {
        let email = format!("admin@{}.example.com", name.to_lowercase());
        let a = self
            .post(
                "/api/v1/organizations",
                instance_admin_token,
                json!({"name": name, "admin": {"email": email, "name": "Other admin", "password": PASSWORD}}),
            )
            .await;
        let org = a.expect(201)["id"].as_str().expect("id").to_string();
        (org, self.login(&email).await)
    }

    /// The newest audit records of the whole instance, newest first: (action, outcome, details).
    pub async fn audit_tail(&self, n: i64) -> Vec<(String, String, Value)> {
        let mut conn = self.services.db().read().await.expect("conn");
        let rows = database::audit::list(&mut conn, &Default::default(), None, n).await.expect("audit list");
        rows.into_iter().map(|r| (r.action, r.outcome, serde_json::from_str(&r.details).unwrap_or(Value::Null))).collect()
    }

    /// Runs one statement with foreign keys off (to simulate rows vanishing under a token).
    pub async fn without_foreign_keys(&self, sql: &str) {
        let mut conn = self.services.db().read().await.expect("conn");
        let (off, on) = match self.db.backend {
            Backend::Sqlite => ("PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys = ON"),
            Backend::Postgres => ("SET session_replication_role = replica", "SET session_replication_role = DEFAULT"),
        };
        for statement in [off, sql, on] {
            sqlx::query(statement).execute(&mut *conn).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
    }

    /// Number of audit records of the whole instance.
    pub async fn audit_count(&self) -> i64 {
        let mut conn = self.services.db().read().await.expect("conn");
        database::audit::head(&mut conn).await.expect("head").0
    }
}

/// A request body.
#[derive(Debug, Clone)]
pub enum Payload {
    None,
    Json(Value),
    Bytes(Vec<u8>),
    Multipart {
        fields: Vec<(String, String)>,
        filename: String,
        content: Vec<u8>,
    },
    /// A `/v1/uploads` part: the bytes in the form field `data`.
    UploadPart(Vec<u8>),
}

/// A multipart/form-data body: (content type, bytes).
pub fn multipart_body(fields: &[(String, String)], filename: &str, content: &[u8]) -> (String, Vec<u8>) {
    multipart_named("file", fields, filename, content)
}

/// A multipart/form-data body whose file is in the field `file_field`.
pub fn multipart_named(file_field: &str, fields: &[(String, String)], filename: &str, content: &[u8]) -> (String, Vec<u8>) {
    let boundary = "tunery-test-boundary-7f3a";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{file_field}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// An operation of the OpenAPI document.
pub struct Operation {
    pub id: String,
    pub method: String,
    pub path: String,
    pub has_body: bool,
    /// None: public. Some(vec![]): any authenticated caller. Some([scope]): that permission.
    pub scopes: Option<Vec<String>>,
}

pub fn operations() -> Vec<Operation> {
    let doc = http_api::openapi();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let scopes = op
                .get("security")
                .map(|s| s[0]["bearer"].as_array().expect("bearer scheme").iter().map(|v| v.as_str().unwrap().to_string()).collect());
            ops.push(Operation {
                id: op["operationId"].as_str().unwrap().to_string(),
                method: method.to_uppercase(),
                path: path.clone(),
                has_body: op.get("requestBody").is_some(),
                scopes,
            });
        }
    }
    ops
}

/// Defines a test that runs `flow(app)` once per backend (SQLite, and PostgreSQL when available).
#[macro_export]
macro_rules! on_each_backend {
    ($name:ident, $flow:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            for backend in test_support::backends() {
                $flow(common::TestApp::new(backend).await).await;
            }
        }
    };
}

/// Rows for the training endpoints without running anything: a ready base model (tiny figures,
/// no files), a succeeded job on version 1 of `dataset_id` (so its event stream ends), and the
/// fine-tuned model of that job.
/// Returns (base model id, job id, model id).
pub async fn insert_training_rows(app: &TestApp, org_id: &str, user_id: &str, dataset_id: &str) -> (String, String, String) {
    let mut tx = app.services.db().begin_write().await.unwrap();
    let version = database::datasets::version(tx.conn(), org_id, dataset_id, 1).await.unwrap();
    let now = services::now_ms();
    let suffix = &dataset_id[dataset_id.len() - 12..];
    let spec = json!({"architecture": "LlamaForCausalLM", "layers": 2, "hidden_size": 32, "intermediate_size": 64, "attention_heads": 4,
        "kv_heads": 2, "head_dim": 8, "vocab_size": 400, "context_length": 512, "tied_embeddings": false, "qkv_bias": false});
    let base = database::base_models::BaseModelRow {
        id: format!("bm_fixture{suffix}00"),
        organization_id: Some(org_id.into()),
        name: format!("fixture {suffix}"),
        source_kind: "directory".into(),
        source_ref: "/nonexistent".into(),
        status: "ready".into(),
        error: None,
        catalog_repo_id: None,
        spec: Some(spec.to_string()),
        parameters: Some(44192),
        license: None,
        chat_template: None,
        files: "[]".into(),
        size_bytes: 0,
        created_by: Some(user_id.into()),
        created_at: now,
        updated_at: now,
    };
    database::base_models::insert(tx.conn(), &base).await.unwrap();
    let job = database::jobs::JobRow {
        id: format!("job_fixture{suffix}0"),
        organization_id: org_id.into(),
        project_id: None,
        name: "fixture".into(),
        created_by: user_id.into(),
        base_model_id: base.id.clone(),
        dataset_version_id: version.id.clone(),
        validation_version_id: None,
        config: "{}".into(),
        device: "cpu".into(),
        estimate: "{}".into(),
        state: "succeeded".into(),
        attempt: 0,
        max_restarts: 0,
        resume_checkpoint_id: None,
        cancel_requested: 0,
        current_step: 0,
        total_steps: None,
        latest_loss: None,
        error_code: None,
        error_message: None,
        error_hint: None,
        model_id: None,
        runner_pid: None,
        runner_instance: None,
        created_at: now,
        started_at: None,
        finished_at: None,
        updated_at: now,
        resources: serde_json::to_string(&domain::resources::JobResources {
            gpu_type: None,
            gpus: 1,
            gpu_memory_gib: 0.0,
            max_duration_s: None,
            preemptible: false,
            priority: "normal".into(),
            priority_value: 1,
        })
        .unwrap(),
        preemptions: 0,
        preempted_by: "[]".into(),
        stopping: None,
    };
    database::jobs::insert(tx.conn(), &job).await.unwrap();
    let model = database::models::ModelRow {
        id: format!("mdl_fixture{suffix}0"),
        organization_id: org_id.into(),
        project_id: None,
        name: "fixture".into(),
        base_model_id: base.id.clone(),
        job_id: job.id.clone(),
        dataset_version_id: version.id,
        kind: "adapter".into(),
        files: "[]".into(),
        size_bytes: 0,
        config: "{}".into(),
        metrics: "{}".into(),
        created_by: user_id.into(),
        created_at: now,
    };
    database::models::insert(tx.conn(), &model).await.unwrap();
    tx.commit().await.unwrap();
    (base.id, job.id, model.id)
}

/// An evaluation scoring a two-line predictions file (queued: no runner in the test app): its id.
pub async fn predictions_evaluation(app: &TestApp, token: &str) -> String {
    let file = "{\"prediction\": \"a cat\", \"reference\": \"a cat\"}\n{\"prediction\": \"a dog\", \"reference\": \"the dog\"}\n";
    let fields = vec![("metrics".to_string(), "bleu,exact_match".to_string())];
    let a = app
        .call_with(
            "POST",
            "/api/v1/evaluations",
            token,
            Payload::Multipart { fields, filename: "p.jsonl".into(), content: file.as_bytes().to_vec() },
        )
        .await;
    a.expect(202)["id"].as_str().expect("an evaluation id").to_string()
}

/// Two scored predictions evaluations and an A/B test of them (the evaluation runner is
/// started): (the first evaluation's id, the A/B test's id).
pub async fn ab_test(app: &TestApp, token: &str) -> (String, String) {
    app.services.start_evaluations().await.expect("the evaluation runner");
    let (a, b) = (predictions_evaluation(app, token).await, predictions_evaluation(app, token).await);
    for id in [&a, &b] {
        for _ in 0..200 {
            if app.get(&format!("/api/v1/evaluations/{id}"), token).await.body["state"] == "succeeded" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let t = app.post("/api/v1/ab-tests", token, json!({"evaluation_a": a, "evaluation_b": b, "metric": "bleu", "resamples": 100})).await;
    (a, t.expect(201)["id"].as_str().expect("an A/B test id").to_string())
}

/// A closed rubric human evaluation of two predictions evaluations (waited for until they
/// succeed; the runner must be started), rated by every role: its id.
pub async fn human_eval(app: &TestApp, token: &str, a: &str, b: &str) -> String {
    for id in [a, b] {
        for _ in 0..200 {
            if app.get(&format!("/api/v1/evaluations/{id}"), token).await.body["state"] == "succeeded" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let raters = json!({"roles": ["admin", "researcher", "developer", "viewer"]});
    let h = app.post("/api/v1/human-evals", token, json!({"evaluation_ids": [a, b], "raters": raters})).await;
    let id = h.expect(201)["id"].as_str().expect("a human evaluation id").to_string();
    app.post(&format!("/api/v1/human-evals/{id}/close"), token, json!({})).await.expect(200);
    id
}

/// A stopped deployment of `base_model_id` named `name`: its id.
pub async fn insert_deployment(app: &TestApp, org_id: &str, user_id: &str, base_model_id: &str, name: &str) -> String {
    let now = services::now_ms();
    let row = database::deployments::DeploymentRow {
        id: {
            use sha2::Digest;
            format!("dep_{}", &hex::encode(sha2::Sha256::digest(format!("{base_model_id}/{name}")))[..24])
        },
        organization_id: org_id.into(),
        project_id: None,
        name: name.into(),
        base_model_id: Some(base_model_id.into()),
        model_id: None,
        backend: "local".into(),
        endpoint_url: None,
        endpoint_model: None,
        endpoint_key: None,
        replicas: 0,
        idle_timeout_s: None,
        defaults: "{}".into(),
        state: "stopped".into(),
        error: None,
        last_request_at: None,
        log_requests: 1,
        checkpoint_id: None,
        created_by: user_id.into(),
        created_at: now,
        updated_at: now,
    };
    let mut tx = app.services.db().begin_write().await.unwrap();
    database::deployments::insert(tx.conn(), &row).await.unwrap();
    tx.commit().await.unwrap();
    row.id
}

/// Settings with a runtime configured (jobs are accepted and queued; nothing starts them unless
/// the test calls `start_training`).
/// An app with the real Python runtime and the dispatcher started (work directories in the
/// returned temporary directory; stopping runs get 30 s), and its admin's token; None (the test
/// skips, or fails under CI) without the runtime.
pub async fn training_app(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Option<(TestApp, String, tempfile::TempDir)> {
    let runtime = test_support::runtime_command()?;
    let dirs = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.training.runtime = Some(runtime);
    settings.training.work_dir = dirs.path().join("work");
    settings.training.model_cache_dir = dirs.path().join("models");
    settings.training.stop_grace_s = 30;
    configure(&mut settings);
    let app = TestApp::with_settings(backend, settings).await;
    app.services.start_training().await.unwrap();
    let (_, admin) = app.bootstrap().await;
    Some((app, admin, dirs))
}

pub fn settings_with_runtime() -> Settings {
    let mut s = Settings::default();
    s.training.runtime = Some(executors::RuntimeCommand { python: "/bin/false".into(), runtime_dir: std::env::temp_dir(), env: vec![] });
    s
}

/// An OpenAI-compatible model server (an external deployment): model `polite` greets by name,
/// `curt` says "No.", `rude` "Go away." to every prompt.
pub async fn answer_server() -> String {
    async fn complete(axum::Json(body): axum::Json<Value>) -> impl axum::response::IntoResponse {
        let prompt = body["messages"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap_or_default().to_string();
        let name = prompt.trim_start_matches("Greet ");
        let answer = match body["model"].as_str() {
            Some("polite") => format!("Hello, {name}!"),
            Some("curt") => "No.".to_string(),
            _ => "Go away.".to_string(),
        };
        let chunk = json!({"object": "chat.completion.chunk", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": answer}, "finish_reason": null}]});
        let end = json!({"object": "chat.completion.chunk", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}});
        ([(axum::http::header::CONTENT_TYPE, "text/event-stream")], format!("data: {chunk}\n\ndata: {end}\n\ndata: [DONE]\n\n"))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let models = || async {
        axum::Json(json!({"object": "list", "data": [{"id": "polite", "object": "model"}, {"id": "rude", "object": "model"}]}))
    };
    let app =
        axum::Router::new().route("/v1/chat/completions", axum::routing::post(complete)).route("/v1/models", axum::routing::get(models));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// A job (or run) body in a final state.
pub fn job_ended(b: &Value) -> bool {
    ["succeeded", "failed", "cancelled"].contains(&b["state"].as_str().unwrap_or(""))
}

/// A training app with a tiny base model imported and a 24-chat dataset uploaded, for the
/// scheduling tests: one CPU slot, preemption allowed at once (no minimum run, no patience).
pub struct QueueEnv {
    pub app: TestApp,
    pub admin: String,
    pub base: String,
    pub dataset: String,
    _dirs: tempfile::TempDir,
}

pub async fn queue_env(backend: test_support::Backend, configure: impl FnOnce(&mut Settings)) -> Option<QueueEnv> {
    let (app, admin, dirs) = training_app(backend, |settings| {
        settings.training.max_concurrent_jobs = 1;
        settings.scheduling.min_run_s = 0;
        settings.scheduling.preempt_after_wait_s = 0;
        configure(settings);
    })
    .await?;
    let dir = test_support::tiny_model_dir().expect("tiny model");
    let a = app.post("/api/v1/base-models/import", &admin, json!({"name": "tiny", "source": {"kind": "directory", "path": dir}})).await;
    let base = a.expect(202)["id"].as_str().unwrap().to_string();
    app.wait_for(&admin, &format!("/api/v1/base-models/{base}"), |b| b["status"] == "ready", 120).await;
    let rows: String = (0..24)
        .map(|i| {
            json!({"messages": [{"role": "user", "content": format!("What is {i} plus one?")}, {"role": "assistant", "content": format!("{}.", i + 1)}]})
                .to_string()
                + "\n"
        })
        .collect();
    let dataset = app.upload_dataset(&admin, &[("name", "sums")], "sums.jsonl", rows.as_bytes()).await.expect(201)["dataset"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    Some(QueueEnv { app, admin, base, dataset, _dirs: dirs })
}

/// A LoRA job of `steps` steps (checkpoints every 2) asking for `resources`.
pub fn queue_job(e: &QueueEnv, name: &str, steps: u64, resources: Value) -> Value {
    json!({
        "name": name,
        "base_model_id": e.base,
        "dataset_id": e.dataset,
        "config": {
            "method": {"kind": "lora", "lora": {"rank": 4, "alpha": 8, "dropout": 0.0}},
            "data": {"max_seq_length": 64},
            "hyperparameters": {"max_steps": steps, "micro_batch_size": 2, "learning_rate": 0.01, "checkpoint_every_steps": 2, "keep_checkpoints": 2, "lr_scheduler": "constant"}
        },
        "resources": resources,
    })
}

pub async fn queue_submit(e: &QueueEnv, token: &str, body: Value) -> String {
    e.app.post("/api/v1/jobs", token, body).await.expect(202)["id"].as_str().unwrap().to_string()
}

/// The ids of a job's runs, oldest first (on Ray the submission ids, on Kubernetes the names of
/// the workloads).
pub async fn runs_of(e: &QueueEnv, job: &str) -> Vec<String> {
    use sqlx::Connection;
    let mut conn = sqlx::AnyConnection::connect(&e.app.db.url).await.unwrap();
    sqlx::query_scalar("SELECT id FROM job_runs WHERE job_id = $1 ORDER BY started_at").bind(job).fetch_all(&mut conn).await.unwrap()
}

/// The step of the last checkpoint a stopped job saved.
pub async fn last_checkpoint_step(e: &QueueEnv, job: &str) -> i64 {
    let checkpoints = e.app.get(&format!("/api/v1/jobs/{job}/checkpoints"), &e.admin).await.expect(200).clone();
    checkpoints["data"].as_array().unwrap().last().expect("the stopped job saved a checkpoint")["step"].as_i64().unwrap()
}

/// Waits until a job runs past `stopped_at` again, and checks that its second start resumed
/// from that step.
pub async fn wait_resumed_past(e: &QueueEnv, job: &str, stopped_at: i64) {
    let path = format!("/api/v1/jobs/{job}");
    let resumed = e.app.wait_for(&e.admin, &path, |b| b["current_step"].as_i64().unwrap_or(0) > stopped_at || job_ended(b), 180).await;
    assert_eq!(resumed["state"], "running", "{resumed}");
    let events = e.app.get(&format!("/api/v1/jobs/{job}/events?stream=false&kinds=started&limit=10"), &e.admin).await;
    let starts = events.body["data"].as_array().unwrap();
    assert_eq!(starts.len(), 2, "{}", events.body);
    assert_eq!(starts[1]["data"]["resumed_from_step"].as_i64(), Some(stopped_at), "{}", events.body);
}

/// Cancels a job and waits until it reads cancelled.
pub async fn cancel_and_wait(e: &QueueEnv, job: &str) {
    e.app.post(&format!("/api/v1/jobs/{job}/cancel"), &e.admin, json!({})).await.expect(200);
    let cancelled = e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{job}"), job_ended, 120).await;
    assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
}
