//! Another organization's ids answer 404 on every endpoint that takes an id, and lists never
//! show another organization's objects.

mod common;

use common::{Payload, TestApp};
use serde_json::json;
use test_support::backends;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_organizations_ids_answer_404_everywhere() {
    for backend in backends() {
        let app = TestApp::with_settings(backend, common::settings_with_runtime()).await;
        let (root_id, root) = app.bootstrap().await;
        // Organization A (the default one) with a project, a member, a key and an invitation.
        let org_a = app.get("/api/v1/me", &root).await.body["organization"]["id"].as_str().unwrap().to_string();
        let (user_a, _) = app.user(&root, "a-user@example.com", "researcher").await;
        let project_a = app.post("/api/v1/projects", &root, json!({"name": "secret plans", "visibility": "organization"})).await.id();
        app.post(&format!("/api/v1/projects/{project_a}/members"), &root, json!({"user_id": user_a, "role": "researcher"}))
            .await
            .expect(201);
        let key_a = app.post("/api/v1/api-keys", &root, json!({"name": "a key"})).await.id();
        let invitation_a = app.post("/api/v1/invitations", &root, json!({"email": "x@example.com", "role": "viewer"})).await.id();
        let record = r#"{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"}]}"#;
        let dataset_a =
            app.upload_dataset(&root, &[("name", "secret data"), ("visibility", "organization")], "a.jsonl", record.as_bytes()).await;
        let dataset_a = dataset_a.expect(201)["dataset"]["id"].as_str().unwrap().to_string();
        // Made through /v1/uploads: an upload of both APIs.
        let upload_a = json!({"filename": "a.jsonl", "purpose": "fine-tune", "bytes": record.len(), "mime_type": "application/jsonl"});
        let upload_a =
            app.call_with("POST", "/v1/uploads", &root, Payload::Json(upload_a)).await.expect(200)["id"].as_str().unwrap().to_string();
        let (version, part) = ("1".to_string(), "1".to_string());
        let convert = json!({"recipe": {"version": 1, "steps": [{"step": "convert"}]}});
        let operation_a = app.post(&format!("/api/v1/datasets/{dataset_a}/versions/1/preprocess"), &root, convert).await.id();
        let (base_model_a, job_a, model_a) = common::insert_training_rows(&app, &org_a, &root_id, &dataset_a).await;
        let deployment_a = common::insert_deployment(&app, &org_a, &root_id, &base_model_a, "a-secret-model").await;
        let deployment_a2 = common::insert_deployment(&app, &org_a, &root_id, &base_model_a, "a-secret-model-2").await;
        let variants = json!([{"deployment_id": deployment_a, "weight": 1}, {"deployment_id": deployment_a2, "weight": 1}]);
        let split_a = app.post("/api/v1/traffic-splits", &root, json!({"name": "a-secret-split", "variants": variants})).await.id();
        let (evaluation_a, ab_test_a) = common::ab_test(&app, &root).await;
        let evaluation_a2 = common::predictions_evaluation(&app, &root).await;
        let human_eval_a = common::human_eval(&app, &root, &evaluation_a, &evaluation_a2).await;
        let item = "0".to_string();
        let scope = "user".to_string();
        app.call_with("PUT", &format!("/api/v1/quotas/user/{user_a}"), &root, Payload::Json(json!({"max_gpus": 2}))).await.expect(200);
        let template_a =
            app.post(&format!("/api/v1/projects/{project_a}/job-templates"), &root, json!({"name": "a secret recipe"})).await.id();
        let task = json!({"name": "a secret task", "assignee_ids": [user_a]});
        let task_a = app.post(&format!("/api/v1/datasets/{dataset_a}/versions/1/annotation-tasks"), &root, task).await.id();
        let index = "0".to_string();
        let file = Payload::Multipart {
            fields: vec![("purpose".into(), "fine-tune".into())],
            filename: "a.jsonl".into(),
            content: record.as_bytes().to_vec(),
        };
        let file_a = app.call_with("POST", "/v1/files", &root, file).await.expect(200)["id"].as_str().unwrap().to_string();
        let ft_job = Payload::Json(json!({"model": base_model_a, "training_file": file_a}));
        let ft_job_a = app.call_with("POST", "/v1/fine_tuning/jobs", &root, ft_job).await.expect(200)["id"].as_str().unwrap().to_string();
        // A's fine-tuned model by the name the gateway calls it.
        let callable = app.get("/v1/models", &root).await;
        let callable = callable.expect(200);
        let ft_model_a = callable["data"].as_array().unwrap().iter().filter_map(|m| m["id"].as_str()).find(|m| m.starts_with("ft:"));
        let ft_model_a = ft_model_a.unwrap_or_else(|| panic!("no ft: model in {callable}")).to_string();
        // Organization B's admin holds every permission, in B.
        let (_, admin_b) = app.other_org(&root, "Beta").await;
        let ids = [
            ("org_id", &org_a),
            ("project_id", &project_a),
            ("user_id", &user_a),
            ("key_id", &key_a),
            ("invitation_id", &invitation_a),
            ("dataset_id", &dataset_a),
            ("version", &version),
            ("upload_id", &upload_a),
            ("part_number", &part),
            ("operation_id", &operation_a),
            ("base_model_id", &base_model_a),
            ("job_id", &job_a),
            ("model_id", &model_a),
            ("deployment_id", &deployment_a),
            ("split_id", &split_a),
            ("evaluation_id", &evaluation_a),
            ("ab_test_id", &ab_test_a),
            ("human_eval_id", &human_eval_a),
            ("item", &item),
            ("scope", &scope),
            ("subject_id", &user_a),
            ("file_id", &file_a),
            ("fine_tuning_job_id", &ft_job_a),
            ("model", &ft_model_a),
            ("template_id", &template_a),
            ("task_id", &task_a),
            ("index", &index),
        ];
        let mut checked = 0;
        // Prices are the instance's, named by GPU type: no organization owns them.
        let instance_wide = ["set_price", "delete_price"];
        for op in
            common::operations().iter().filter(|o| o.path.contains('{') && o.scopes.is_some() && !instance_wide.contains(&o.id.as_str()))
        {
            let mut path = op.path.clone();
            for (name, id) in ids {
                path = path.replace(&format!("{{{name}}}"), id);
            }
            assert!(!path.contains('{'), "no fixture for a parameter of {}", op.path);
            let body = match (op.has_body, op.id.as_str()) {
                (false, _) => Payload::None,
                (true, "put_part") => Payload::Bytes(record.as_bytes().to_vec()),
                (true, "add_upload_part") => Payload::UploadPart(record.as_bytes().to_vec()),
                (true, id) => Payload::Json(serde_json::from_str(&matrix_body(id).to_string().replace("{target_user}", &user_a)).unwrap()),
            };
            let a = app.call_with(&op.method, &path, &admin_b, body).await;
            assert_eq!(a.status.as_u16(), 404, "{} {} with organization A's ids: {}", op.method, op.path, a.body);
            assert_eq!(a.code(), "not_found");
            checked += 1;
        }
        assert!(checked >= 12, "only {checked} endpoints with ids");
        // Lists of B show nothing of A.
        for list in [
            "/api/v1/users",
            "/api/v1/projects",
            "/api/v1/api-keys",
            "/api/v1/invitations",
            "/api/v1/audit-events",
            "/api/v1/organizations",
            "/api/v1/datasets",
            "/api/v1/uploads",
            "/api/v1/base-models",
            "/api/v1/jobs",
            "/api/v1/models",
            "/api/v1/deployments",
            "/api/v1/traffic-splits",
            "/api/v1/evaluations",
            "/api/v1/ab-tests",
            "/v1/models",
            "/v1/files",
            "/v1/fine_tuning/jobs",
            "/api/v1/quotas",
            "/api/v1/cluster",
            "/api/v1/usage",
        ] {
            let a = app.get(list, &admin_b).await;
            let text = a.expect(200).to_string();
            for (_, id) in ids.iter().filter(|(_, id)| id.contains('_')) {
                assert!(!text.contains(id.as_str()), "{list} shows {id} of organization A");
            }
        }
        app.get(&format!("/api/v1/api-keys?user_id={user_a}"), &admin_b).await.expect(200);
        // The gateway: A's deployment name is no model of B's, and A's usage is not B's.
        for model in ["a-secret-model", "a-secret-split"] {
            let chat = json!({"model": model, "messages": [{"role": "user", "content": "Hi"}]});
            let a = app.post("/v1/chat/completions", &admin_b, chat).await;
            assert_eq!((a.status.as_u16(), a.code()), (404, "model_not_found"), "{}", a.body);
        }
        // An evaluation in B cannot read A's test set or call A's deployment.
        let steal = json!({"model": "a-secret-model", "dataset_id": dataset_a, "metrics": ["bleu"]});
        let a = app.post("/api/v1/evaluations", &admin_b, steal).await;
        assert_eq!((a.status.as_u16(), a.code()), (404, "not_found"), "{}", a.body);
        let own = common::predictions_evaluation(&app, &admin_b).await;
        let a = app.post("/api/v1/comparisons", &admin_b, json!({"evaluation_ids": [evaluation_a, own]})).await;
        assert_eq!((a.status.as_u16(), a.code()), (404, "not_found"), "{}", a.body);
        let a = app.post("/api/v1/ab-tests", &admin_b, json!({"evaluation_a": evaluation_a, "evaluation_b": own, "metric": "bleu"})).await;
        assert_eq!((a.status.as_u16(), a.code()), (404, "not_found"), "{}", a.body);
        // A fine-tuning job in B cannot train on A's file or A's base model.
        let a = app.post("/v1/fine_tuning/jobs", &admin_b, json!({"model": base_model_a, "training_file": file_a})).await;
        assert_eq!(a.status.as_u16(), 422, "{}", a.body);
        let usage = app.get(&format!("/api/v1/usage?deployment_id={deployment_a}"), &admin_b).await;
        assert_eq!(usage.expect(200)["requests"], 0);
        app.get(&format!("/api/v1/audit-events?organization_id={org_a}"), &admin_b).await.expect(404);
        // A's user, by the email they sign in with, is nobody B can add to a project.
        let project_b = app.post("/api/v1/projects", &admin_b, json!({"name": "b's"})).await.id();
        let members_b = format!("/api/v1/projects/{project_b}/members");
        let a = app.post(&members_b, &admin_b, json!({"email": "a-user@example.com", "role": "viewer"})).await;
        assert_eq!(a.expect(404)["error"]["code"], "not_found");
        // Nothing of A changed.
        let d = app.get(&format!("/api/v1/datasets/{dataset_a}"), &root).await;
        assert_eq!(d.expect(200)["name"], "secret data");
        assert_eq!(app.get(&format!("/api/v1/uploads/{upload_a}"), &root).await.body["status"], "pending");
        assert!(app.get("/v1/models", &root).await.expect(200).to_string().contains(&ft_model_a), "A's model was deleted");
        let p = app.get(&format!("/api/v1/projects/{project_a}"), &root).await;
        assert_eq!(p.expect(200)["name"], "secret plans");
        assert!(app.get(&format!("/api/v1/api-keys/{key_a}"), &root).await.body["revoked_at"].is_null());
        let members = app.get(&format!("/api/v1/projects/{project_a}/members"), &root).await;
        assert_eq!(members.body["data"].as_array().unwrap().len(), 2);
    }
}

fn matrix_body(operation: &str) -> serde_json::Value {
    match operation {
        "update_organization" => json!({"name": "Hijacked"}),
        "update_user" => json!({"role": "viewer"}),
        "update_project" => json!({"name": "hijacked"}),
        "add_member" => json!({"user_id": "{target_user}", "role": "admin"}),
        "update_member" => json!({"role": "admin"}),
        "update_dataset" => json!({"name": "hijacked"}),
        "preprocess_version" => json!({"recipe": {"version": 1, "steps": [{"step": "convert"}]}}),
        "complete_upload" => json!({"part_numbers": [1], "sha256": "0".repeat(64), "dataset": {"name": "stolen"}}),
        "resume_job" => json!({}),
        "update_deployment" => json!({"replicas": 1}),
        "update_split" => json!({"active": false}),
        "export_deployment_logs" => json!({"name": "stolen conversations"}),
        "rate_human_eval_item" => json!({"item": 0, "skip": true}),
        "export_human_preferences" => json!({"name": "stolen"}),
        "complete_openai_upload" => json!({"part_ids": ["part_upl_x_1"]}),
        "set_quota" => json!({"max_gpus": 1}),
        "create_job_template" | "update_job_template" => json!({"name": "stolen"}),
        "create_annotation_task" => json!({"name": "stolen", "assignee_ids": ["{target_user}"]}),
        "annotate_record" => json!({"flagged": true}),
        "complete_annotation_task" => json!({}),
        other => panic!("add a body for '{other}' to matrix_body()"),
    }
}
