//! Every role × every endpoint, generated from the OpenAPI document: each operation declares
//! the permission it needs as the scope of its `bearer` security requirement, and this test
//! checks the server enforces exactly that. A new endpoint is picked up automatically; one
//! without a request body fixture below fails the test until it gets one.

mod common;

use common::{operations, Payload, TestApp, PASSWORD};
use domain::{Permission, Role};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use test_support::backends;

/// Endpoints that need no credentials. Adding one must be deliberate.
const PUBLIC: [&str; 6] = ["registration", "register", "login", "refresh", "healthz", "readyz"];

/// POST endpoints that compute and change nothing (so they leave no audit record): estimates,
/// and inference through the gateway (metered as usage rows, one per request, not audited).
const COMPUTE_ONLY: [&str; 6] =
    ["create_estimate", "estimate_fine_tuning_job", "chat_completions", "completions", "playground_chat", "compare_evaluations"];

const RECORD: &str = r#"{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"}]}"#;

/// A request body for each operation that takes one ("{target_user}" and "{project_id}" are
/// replaced).
fn body_for(operation: &str, n: usize, f: &Fixture, role: &str) -> Option<Payload> {
    let fill = |v: Value| {
        let mut text = v.to_string().replace("{target_user}", &f.ids["user_id"]);
        for (name, id) in &f.ids {
            text = text.replace(&format!("{{{name}}}"), id);
        }
        serde_json::from_str(&text).unwrap()
    };
    Some(match operation {
        "create_dataset" => Payload::Multipart {
            fields: vec![("name".into(), format!("dataset {n} {role}")), ("project_id".into(), f.ids["project_id"].clone())],
            filename: "d.jsonl".into(),
            content: RECORD.as_bytes().to_vec(),
        },
        "put_part" => Payload::Bytes(RECORD.as_bytes().to_vec()),
        "add_upload_part" => Payload::UploadPart(RECORD.as_bytes().to_vec()),
        "create_file" => Payload::Multipart {
            fields: vec![("purpose".into(), "fine-tune".into())],
            filename: format!("train {n} {role}.jsonl"),
            content: RECORD.as_bytes().to_vec(),
        },
        // Not an archive: the import is accepted (202) and fails in the background.
        "import_base_model_archive" => Payload::Multipart {
            fields: vec![("name".into(), format!("archive {n} {role}"))],
            filename: "model.tar".into(),
            content: b"not an archive".to_vec(),
        },
        other => Payload::Json(fill(json_body(other, n)?)),
    })
}

fn json_body(operation: &str, n: usize) -> Option<Value> {
    Some(match operation {
        "create_organization" => json!({"name": format!("Org {n}")}),
        "update_organization" => json!({"open_registration": false}),
        "create_user" => json!({"email": format!("new{n}@example.com"), "name": "New", "password": PASSWORD, "role": "viewer"}),
        "update_user" => json!({"name": format!("Renamed {n}")}),
        "create_invitation" => json!({"email": format!("inv{n}@example.com"), "role": "viewer"}),
        "create_api_key" => json!({"name": format!("key {n}")}),
        "create_project" => json!({"name": format!("project {n}")}),
        "update_project" => json!({"description": format!("changed {n}")}),
        "add_member" => json!({"user_id": "{target_user}", "role": "viewer"}),
        "update_member" => json!({"role": "developer"}),
        "update_dataset" => json!({"description": format!("changed {n}")}),
        "create_upload" => json!({"filename": format!("u{n}.jsonl"), "bytes": RECORD.len()}),
        "preprocess_version" => json!({"recipe": {"version": 1, "steps": [{"step": "dedup_exact"}]}}),
        "complete_upload" => json!({"part_numbers": [1], "sha256": "0".repeat(64), "dataset": {"name": format!("from upload {n}")}}),
        "create_job" => {
            json!({"base_model_id": "{base_model_id}", "dataset_id": "{dataset_id}", "config": {"hyperparameters": {"max_steps": 1}}})
        }
        "resume_job" => json!({}),
        "import_base_model" => json!({"name": format!("import {n}"), "source": {"kind": "directory", "path": "/nonexistent/model"}}),
        "create_estimate" => json!({"catalog_repo_id": "HuggingFaceTB/SmolLM2-135M-Instruct", "dataset_tokens": 1000}),
        "create_deployment" => json!({"model": "{base_model_id}", "name": format!("dep-{n}"), "replicas": 0}),
        "update_deployment" => json!({"idle_timeout_s": 0}),
        "create_split" => {
            json!({"name": format!("split-{n}"), "variants": [{"deployment_id": "{deployment_id}", "weight": 1}, {"deployment_id": "{deployment_id_2}", "weight": 3}]})
        }
        "update_split" => json!({"active": false}),
        "set_quota" => json!({"max_gpus": 4, "gpu_hours_per_month": 10.0 + n as f64}),
        "set_price" => json!({"on_demand": 1.5 + n as f64, "spot": 0.5}),
        "create_annotation_task" => json!({"name": format!("task {n}"), "assignee_ids": ["{target_user}"]}),
        "annotate_record" => json!({"labels": ["ok"], "note": format!("note {n}")}),
        "complete_annotation_task" => json!({}),
        "create_job_template" => json!({"name": format!("template {n}"), "config": {"method": {"kind": "lora"}}}),
        "update_job_template" => json!({"name": format!("template {n}"), "config": {"method": {"kind": "dora"}}}),
        "put_content_policy" => json!({"rules": [{"name": format!("rule-{n}"), "words": ["x"], "action": "flag"}]}),
        // The fixture's deployment logs requests but has none: callers who may export get 422.
        "export_deployment_logs" => json!({"name": format!("export {n}")}),
        // No such answer: callers who may give feedback get 404, others 403.
        "give_feedback" => json!({"response_id": "chatcmpl-none", "rating": "up"}),
        // The fixture's deployment is stopped: callers who may call it get 409, others 403.
        "chat_completions" => json!({"model": "fixture-deployment", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}),
        "completions" => json!({"model": "fixture-deployment", "prompt": "Hi", "max_tokens": 1}),
        "playground_chat" => json!({"model": "fixture-deployment", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}),
        // Queued (no runner in this app): callers who may evaluate get 202.
        "create_evaluation" => {
            json!({"model": "fixture-deployment", "dataset_id": "{dataset_id}", "metrics": ["bleu"], "name": format!("eval {n}")})
        }
        "compare_evaluations" => json!({"evaluation_ids": ["{evaluation_id}", "{evaluation_id_2}"], "limit": 1}),
        "create_ab_test" => {
            json!({"evaluation_a": "{evaluation_id}", "evaluation_b": "{evaluation_id_2}", "metric": "exact_match", "resamples": 100})
        }
        "create_human_eval" => json!({"evaluation_ids": ["{evaluation_id}", "{evaluation_id_2}"], "raters": {"roles": ["viewer"]}}),
        // The fixture's task is closed: raters get 409.
        "rate_human_eval_item" => json!({"item": 0, "skip": true}),
        // A rubric: callers who may export get 422.
        "export_human_preferences" => json!({"name": format!("preferences {n}")}),
        // Accepted (validating_files): the training job it becomes is queued or fails later.
        "create_fine_tuning_job" => json!({"model": "{base_model_id}", "training_file": "{file_id}", "suffix": format!("matrix-{n}")}),
        "estimate_fine_tuning_job" => json!({"model": "{base_model_id}", "training_file": "{file_id}"}),
        "create_openai_upload" => {
            json!({"filename": format!("u{n}.jsonl"), "purpose": "fine-tune", "bytes": RECORD.len(), "mime_type": "application/jsonl"})
        }
        // No part received: callers who may complete get 422.
        "complete_openai_upload" => json!({"part_ids": ["part_{upload_id}_1"]}),
        "create_judge_evaluation" => {
            json!({"judge": "fixture-deployment", "mode": "pairwise", "evaluation_ids": ["{evaluation_id}", "{evaluation_id_2}"]})
        }
        _ => return None,
    })
}

/// One organization with a user per role, each a member of one project with the same role.
struct Fixture {
    app: TestApp,
    root: String,
    tokens: BTreeMap<&'static str, String>,
    ids: BTreeMap<&'static str, String>,
    keys: BTreeMap<&'static str, String>,
}

async fn fixture(backend: test_support::Backend) -> Fixture {
    let app = TestApp::with_settings(backend, common::settings_with_runtime()).await;
    let (root_id, root) = app.bootstrap().await;
    let org = app.get("/api/v1/me", &root).await.body["organization"]["id"].as_str().unwrap().to_string();
    let project = app.post("/api/v1/projects", &root, json!({"name": "shared"})).await.id();
    let (target, _) = app.user(&root, "target@example.com", "viewer").await;
    app.post(&format!("/api/v1/projects/{project}/members"), &root, json!({"user_id": target, "role": "viewer"})).await.expect(201);
    let invitation = app.post("/api/v1/invitations", &root, json!({"email": "invited@example.com", "role": "viewer"})).await.id();
    let dataset = app.upload_dataset(&root, &[("name", "fixture"), ("project_id", &project)], "f.jsonl", RECORD.as_bytes()).await;
    let dataset = dataset.expect(201)["dataset"]["id"].as_str().unwrap().to_string();
    // Made through /v1/uploads, so it is an upload for both APIs.
    let upload = json!({"filename": "f.jsonl", "purpose": "fine-tune", "bytes": RECORD.len(), "mime_type": "application/jsonl"});
    let upload = app.call_with("POST", "/v1/uploads", &root, Payload::Json(upload)).await.expect(200)["id"].as_str().unwrap().to_string();
    let convert = json!({"recipe": {"version": 1, "steps": [{"step": "convert"}]}});
    let operation = app.post(&format!("/api/v1/datasets/{dataset}/versions/1/preprocess"), &root, convert).await.id();
    let (base_model, job, model) = common::insert_training_rows(&app, &org, &root_id, &dataset).await;
    // A price set through the API (deleting one needs one), and a job template of the project.
    app.call("PUT", "/api/v1/prices/a100", Some(&root), Some(json!({"on_demand": 2.0}))).await.expect(200);
    let template = app.post(&format!("/api/v1/projects/{project}/job-templates"), &root, json!({"name": "fixture template"})).await.id();
    let deployment = common::insert_deployment(&app, &org, &root_id, &base_model, "fixture-deployment").await;
    let deployment_2 = common::insert_deployment(&app, &org, &root_id, &base_model, "fixture-deployment-2").await;
    let variants = json!([{"deployment_id": deployment, "weight": 1}, {"deployment_id": deployment_2, "weight": 1}]);
    let split = app.post("/api/v1/traffic-splits", &root, json!({"name": "fixture-split", "variants": variants})).await.id();
    let (evaluation, ab_test) = common::ab_test(&app, &root).await;
    let evaluation_2 = common::predictions_evaluation(&app, &root).await;
    let human_eval = common::human_eval(&app, &root, &evaluation, &evaluation_2).await;
    let file = Payload::Multipart {
        fields: vec![("purpose".into(), "fine-tune".into())],
        filename: "train.jsonl".into(),
        content: RECORD.as_bytes().to_vec(),
    };
    let file = app.call_with("POST", "/v1/files", &root, file).await.expect(200)["id"].as_str().unwrap().to_string();
    let ft_job = json!({"model": base_model, "training_file": file});
    let ft_job =
        app.call_with("POST", "/v1/fine_tuning/jobs", &root, Payload::Json(ft_job)).await.expect(200)["id"].as_str().unwrap().to_string();
    // A quota to read and delete.
    app.call_with("PUT", &format!("/api/v1/quotas/user/{target}"), &root, Payload::Json(json!({"max_gpus": 8}))).await.expect(200);
    let mut tokens = BTreeMap::new();
    let mut keys = BTreeMap::new();
    let mut annotators = Vec::new();
    for role in Role::ALL {
        let (id, token) = app.user(&root, &format!("role-{}@example.com", role.as_str()), role.as_str()).await;
        app.post(&format!("/api/v1/projects/{project}/members"), &root, json!({"user_id": id, "role": role.as_str()})).await.expect(201);
        keys.insert(role.as_str(), app.post("/api/v1/api-keys", &token, json!({"name": "own"})).await.id());
        tokens.insert(role.as_str(), token);
        annotators.push(id);
    }
    // Every role annotates: the permission, not the assignment, is what this test checks.
    let task = json!({"name": "fixture task", "labels": ["ok"], "assignee_ids": annotators});
    let task = app.post(&format!("/api/v1/datasets/{dataset}/versions/1/annotation-tasks"), &root, task).await.id();
    let ids = BTreeMap::from([
        ("org_id", org),
        ("project_id", project),
        ("user_id", target.clone()),
        ("invitation_id", invitation),
        ("dataset_id", dataset),
        ("version", "1".to_string()),
        ("upload_id", upload),
        ("part_number", "1".to_string()),
        ("operation_id", operation),
        ("base_model_id", base_model),
        ("job_id", job),
        ("model_id", model),
        ("deployment_id", deployment),
        ("deployment_id_2", deployment_2),
        ("split_id", split),
        ("evaluation_id", evaluation),
        ("evaluation_id_2", evaluation_2),
        ("ab_test_id", ab_test),
        ("human_eval_id", human_eval),
        ("file_id", file),
        ("fine_tuning_job_id", ft_job),
        // No fine-tuned model has this name: callers who may delete models get 404.
        ("model", "ft:none:org:x:mdl_none".to_string()),
        ("item", "0".to_string()),
        ("scope", "user".to_string()),
        ("subject_id", target.clone()),
        ("gpu_type", "a100".to_string()),
        ("template_id", template),
        ("task_id", task),
        ("index", "0".to_string()),
    ]);
    Fixture { app, root, tokens, ids, keys }
}

impl Fixture {
    /// The same fixture on a copy of its database (whose connections are closed).
    async fn copy(&self) -> Fixture {
        let db = self.app.db.copy().await;
        Fixture {
            app: TestApp::on(db, common::settings_with_runtime(), http_api::HttpSettings::default()).await,
            root: self.root.clone(),
            tokens: self.tokens.clone(),
            ids: self.ids.clone(),
            keys: self.keys.clone(),
        }
    }
}

fn fill(path: &str, f: &Fixture, role: &str) -> String {
    let mut p = path.to_string();
    for (name, id) in &f.ids {
        p = p.replace(&format!("{{{name}}}"), id);
    }
    p.replace("{key_id}", f.keys.get(role).map(String::as_str).unwrap_or("key_missing"))
}

fn allowed(role: Role, scopes: &[String]) -> bool {
    match scopes.first().map(String::as_str) {
        None => true,
        Some("instance_admin") => false,
        Some(name) => role.allows(Permission::parse(name).unwrap_or_else(|| panic!("scope '{name}' is not a permission"))),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_on_every_endpoint_gets_exactly_its_permissions() {
    let ops = operations();
    let public: Vec<&str> = ops.iter().filter(|o| o.scopes.is_none()).map(|o| o.id.as_str()).collect();
    let mut expected_public = PUBLIC.to_vec();
    expected_public.sort();
    let mut public_sorted = public.clone();
    public_sorted.sort();
    assert_eq!(public_sorted, expected_public, "the set of public endpoints changed");
    assert!(ops.len() >= 25, "only {} operations found", ops.len());
    for backend in backends() {
        // The fixture is made once and frozen; each operation runs on a copy of its database
        // (reads share one, as they change nothing; every other operation gets its own), so
        // that what one deletes or changes cannot decide another's answer.
        let prepared = fixture(backend).await;
        prepared.app.services.db().close().await;
        let for_reads = prepared.copy().await;
        for (n, op) in ops.iter().filter(|o| o.scopes.is_some()).enumerate() {
            let scopes = op.scopes.clone().unwrap();
            let own;
            let f = if op.method == "GET" {
                &for_reads
            } else {
                own = prepared.copy().await;
                &own
            };
            // Denied roles first, so that an allowed DELETE cannot hide a denial behind a 404.
            let mut roles: Vec<Role> = Role::ALL.to_vec();
            roles.sort_by_key(|r| allowed(*r, &scopes));
            for role in roles.iter().copied() {
                let token = &f.tokens[role.as_str()];
                let path = fill(&op.path, f, role.as_str());
                let body = if op.has_body {
                    body_for(&op.id, n, f, role.as_str()).unwrap_or_else(|| panic!("add a request body for '{}' to body_for()", op.id))
                } else {
                    Payload::None
                };
                let audit_before = f.app.audit_count().await;
                let a = f.app.call_with(&op.method, &path, token, body).await;
                let what = format!("{} {} as {} ({:?})", op.method, op.path, role, backend);
                assert!(a.status.as_u16() < 500, "{what}: {}", a.body);
                assert_ne!(a.status.as_u16(), 401, "{what}: {}", a.body);
                if allowed(role, &scopes) {
                    assert_ne!(a.status.as_u16(), 403, "{what} was refused: {}", a.body);
                } else {
                    assert_eq!(a.status.as_u16(), 403, "{what} was not refused: {}", a.body);
                    let code = a.code();
                    assert!(code == "permission_denied" || code == "forbidden", "{what}: {code}");
                    if code == "permission_denied" {
                        assert!(
                            a.body["error"]["message"].as_str().unwrap().contains(&scopes[0]),
                            "{what}: the message names the permission"
                        );
                    }
                }
                if op.method != "GET" && !COMPUTE_ONLY.contains(&op.id.as_str()) {
                    assert!(f.app.audit_count().await > audit_before, "{what}: mutating request left no audit record ({})", a.status);
                }
            }
            let body = if op.has_body { body_for(&op.id, n + 1000, f, "root").unwrap_or(Payload::None) } else { Payload::None };
            let root = f.app.call_with(&op.method, &fill(&op.path, f, "admin"), &f.root, body).await;
            if scopes.first().map(String::as_str) == Some("instance_admin") {
                assert!(root.status.is_success(), "{} {} as instance admin: {}", op.method, op.path, root.body);
            }
        }
    }
}
