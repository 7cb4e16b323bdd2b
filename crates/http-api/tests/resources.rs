//! Users, API keys, projects and members, over HTTP, on each database.

mod common;

use common::{TestApp, PASSWORD};
use serde_json::{json, Value};

async fn users_roles_and_last_admin(app: TestApp) {
    let (admin_id, admin) = app.bootstrap().await;
    let (dev_id, dev) = app.user(&admin, "dev@example.com", "developer").await;
    let denied = app.get("/api/v1/users", &dev).await;
    denied.expect(403);
    assert_eq!(denied.code(), "permission_denied");
    assert!(denied.body["error"]["message"].as_str().unwrap().contains("manage_users"));
    // Oneself is always visible; others need manage_users.
    app.get(&format!("/api/v1/users/{dev_id}"), &dev).await.expect(200);
    app.get(&format!("/api/v1/users/{admin_id}"), &dev).await.expect(403);
    // No mass assignment: a user cannot raise their own role.
    app.patch(&format!("/api/v1/users/{dev_id}"), &dev, json!({"role": "admin"})).await.expect(403);
    let smuggled = app.patch(&format!("/api/v1/users/{dev_id}"), &dev, json!({"organization_id": "org_x"})).await;
    smuggled.expect(400);
    assert_eq!(smuggled.code(), "invalid_body");
    // Role changes are audited.
    app.patch(&format!("/api/v1/users/{dev_id}"), &admin, json!({"role": "researcher"})).await.expect(200);
    let events = app.get("/api/v1/audit-events?action=user.role_change", &admin).await;
    let ev = &events.expect(200)["data"][0];
    assert_eq!(ev["details"]["from"], "developer");
    assert_eq!(ev["details"]["to"], "researcher");
    assert_eq!(ev["target_id"], dev_id.as_str());
    // The last admin cannot be demoted.
    let last = app.patch(&format!("/api/v1/users/{admin_id}"), &admin, json!({"role": "viewer"})).await;
    last.expect(409);
    // Own password change needs the current password, then ends other sessions.
    let no_current = app.patch(&format!("/api/v1/users/{dev_id}"), &dev, json!({"password": "a new password"})).await;
    assert_eq!(no_current.body["error"]["param"], "current_password");
    app.patch(&format!("/api/v1/users/{dev_id}"), &dev, json!({"password": "a new password", "current_password": PASSWORD}))
        .await
        .expect(200);
    assert_eq!(app.get("/api/v1/me", &dev).await.code(), "session_revoked");
    // Disabling ends sessions and keys at once.
    let (v_id, viewer) = app.user(&admin, "v@example.com", "viewer").await;
    app.patch(&format!("/api/v1/users/{v_id}"), &admin, json!({"disabled": true})).await.expect(200);
    assert_eq!(app.get("/api/v1/me", &viewer).await.code(), "session_revoked");
    let login = app.call("POST", "/api/v1/auth/login", None, Some(json!({"email": "v@example.com", "password": PASSWORD}))).await;
    assert_eq!(login.code(), "account_disabled");
}
on_each_backend!(users_roles_and_last_admin_test, users_roles_and_last_admin);

async fn api_keys_scopes_projects_and_revocation(app: TestApp) {
    let (_, admin) = app.bootstrap().await;
    let (_, dev) = app.user(&admin, "dev@example.com", "developer").await;
    let over = app.post("/api/v1/api-keys", &dev, json!({"name": "ci", "scopes": ["train_model"]})).await;
    over.expect(422);
    assert!(over.body["error"]["message"].as_str().unwrap().contains("train_model"));
    let created = app.post("/api/v1/api-keys", &dev, json!({"name": "read only", "scopes": ["view_dataset"]})).await;
    let created = created.expect(201).clone();
    let key = created["key"].as_str().unwrap().to_string();
    let prefix = created["prefix"].as_str().unwrap();
    assert!(key.starts_with(&format!("tk_{prefix}_")), "{key}");
    let me = app.get("/api/v1/me", &key).await;
    let me = me.expect(200);
    assert_eq!(me["auth"], "api_key");
    assert_eq!(me["permissions"], json!(["view_dataset"]));
    // Scopes limit what the key may do even though its owner could.
    let p = app.post("/api/v1/projects", &key, json!({"name": "via key"})).await;
    p.expect(403);
    assert!(p.body["error"]["message"].as_str().unwrap().contains("upload_dataset"));
    // The secret is never shown again; last use is recorded.
    let id = created["id"].as_str().unwrap();
    let shown = app.get(&format!("/api/v1/api-keys/{id}"), &dev).await;
    assert!(shown.expect(200).get("key").is_none());
    assert!(shown.body["last_used_at"].is_i64());
    let listed = app.get("/api/v1/api-keys", &dev).await;
    assert_eq!(listed.expect(200)["data"].as_array().unwrap().len(), 1);
    // Another user's key is not theirs to see unless they manage users.
    let (_, viewer) = app.user(&admin, "v@example.com", "viewer").await;
    app.get(&format!("/api/v1/api-keys/{id}"), &viewer).await.expect(403);
    app.delete(&format!("/api/v1/api-keys/{id}"), &dev).await.expect(200);
    assert_eq!(app.get("/api/v1/me", &key).await.code(), "api_key_revoked");
    // Expiry in the past is refused; project restriction narrows visibility.
    app.post("/api/v1/api-keys", &dev, json!({"name": "old", "expires_at": 1})).await.expect(422);
    let p1 = app.post("/api/v1/projects", &dev, json!({"name": "one"})).await.id();
    let p2 = app.post("/api/v1/projects", &dev, json!({"name": "two"})).await.id();
    let scoped = app.post("/api/v1/api-keys", &dev, json!({"name": "p1 only", "project_id": p1})).await;
    let scoped_key = scoped.expect(201)["key"].as_str().unwrap().to_string();
    let visible = app.get("/api/v1/projects", &scoped_key).await;
    let ids: Vec<&str> = visible.body["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![p1.as_str()]);
    app.get(&format!("/api/v1/projects/{p2}"), &scoped_key).await.expect(404);
    app.post("/api/v1/projects", &scoped_key, json!({"name": "three"})).await.expect(403);
    // A key cannot log out; its owner revokes it instead.
    app.call("POST", "/api/v1/auth/logout", Some(&scoped_key), None).await.expect(403);
    // A key cannot create keys (not even weaker ones): that needs a login. The refusal is audited.
    let minted = app.post("/api/v1/api-keys", &scoped_key, json!({"name": "child", "scopes": ["view_dataset"]})).await;
    minted.expect(403);
    assert_eq!(minted.code(), "forbidden");
    assert_eq!(minted.body["error"]["message"], "API keys cannot create API keys; log in to create one");
    let refusal = app.get("/api/v1/audit-events?action=permission.denied&limit=1", &admin).await;
    let refusal = &refusal.expect(200)["data"][0];
    assert_eq!(refusal["details"]["route"], "/api/v1/api-keys");
    assert_eq!(refusal["details"]["reason"], "API keys cannot create API keys; log in to create one");
    // A project key's scopes are checked against what the caller holds in that project.
    let (_, researcher) = app.user(&admin, "r@example.com", "researcher").await;
    let (viewer_id, _) = app.user(&admin, "v2@example.com", "viewer").await;
    let open = app.post("/api/v1/projects", &admin, json!({"name": "open", "visibility": "organization"})).await.id();
    let outsider = app.post("/api/v1/api-keys", &researcher, json!({"name": "x", "project_id": open, "scopes": ["train_model"]})).await;
    outsider.expect(422);
    assert!(outsider.body["error"]["message"].as_str().unwrap().contains("train_model"), "{}", outsider.body);
    app.post("/api/v1/api-keys", &researcher, json!({"name": "x", "project_id": open, "scopes": ["view_dataset"]})).await.expect(201);
    app.post(&format!("/api/v1/projects/{open}/members"), &admin, json!({"user_id": viewer_id, "role": "researcher"})).await.expect(201);
    let member = app.login("v2@example.com").await;
    app.post("/api/v1/api-keys", &member, json!({"name": "x", "project_id": open, "scopes": ["train_model"]})).await.expect(201);
    // Deleting a project takes its keys with it, each with a revocation record.
    let project_key = app.post("/api/v1/api-keys", &dev, json!({"name": "p2 only", "project_id": p2})).await.id();
    app.delete(&format!("/api/v1/projects/{p2}"), &dev).await.expect(204);
    let revoked = app.get(&format!("/api/v1/audit-events?action=api_key.revoke&target_id={project_key}"), &admin).await;
    let revoked = revoked.expect(200)["data"].as_array().unwrap().clone();
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_eq!(revoked[0]["details"]["reason"], "project_deleted");
}
on_each_backend!(api_keys_scopes_projects_and_revocation_test, api_keys_scopes_projects_and_revocation);

async fn project_visibility_and_project_roles(app: TestApp) {
    let (_, admin) = app.bootstrap().await;
    let (_, researcher) = app.user(&admin, "r@example.com", "researcher").await;
    let (viewer_id, viewer) = app.user(&admin, "v@example.com", "viewer").await;
    let created = app.post("/api/v1/projects", &researcher, json!({"name": "llama", "description": "LoRA runs"})).await;
    let created = created.expect(201).clone();
    let pid = created["id"].as_str().unwrap().to_string();
    // The creator keeps their organization role; as owner they may manage the project.
    assert_eq!(created["my_role"], "researcher");
    let perms = created["my_permissions"].as_array().unwrap();
    assert!(perms.contains(&json!("manage_resources")) && perms.contains(&json!("train_model")), "{perms:?}");
    assert!(!perms.contains(&json!("manage_users")), "{perms:?}");
    assert_eq!(created["visibility"], "project");
    // Members only: the viewer gets 404, not 403, so existence does not leak.
    app.get(&format!("/api/v1/projects/{pid}"), &viewer).await.expect(404);
    assert_eq!(app.get("/api/v1/projects", &viewer).await.body["data"].as_array().unwrap().len(), 0);
    app.get(&format!("/api/v1/projects/{pid}"), &admin).await.expect(200);
    // Adding the viewer as a project researcher grants training inside the project only.
    app.post(&format!("/api/v1/projects/{pid}/members"), &researcher, json!({"user_id": viewer_id, "role": "researcher"}))
        .await
        .expect(201);
    let seen = app.get(&format!("/api/v1/projects/{pid}"), &viewer).await;
    let perms = seen.expect(200)["my_permissions"].as_array().unwrap().clone();
    assert!(perms.contains(&json!("train_model")));
    assert!(!perms.contains(&json!("manage_resources")));
    app.patch(&format!("/api/v1/projects/{pid}"), &viewer, json!({"name": "renamed"})).await.expect(403);
    // Nobody grants more than they hold: the researcher owner cannot make anyone project admin...
    let escalate = app.patch(&format!("/api/v1/projects/{pid}/members/{viewer_id}"), &researcher, json!({"role": "admin"})).await;
    escalate.expect(403);
    assert_eq!(escalate.code(), "permission_denied");
    assert!(escalate.body["error"]["message"].as_str().unwrap().contains("manage_users"), "{}", escalate.body);
    // ...the organization admin can.
    app.patch(&format!("/api/v1/projects/{pid}/members/{viewer_id}"), &admin, json!({"role": "admin"})).await.expect(200);
    app.patch(&format!("/api/v1/projects/{pid}"), &viewer, json!({"name": "renamed"})).await.expect(200);
    let members = app.get(&format!("/api/v1/projects/{pid}/members"), &viewer).await;
    assert_eq!(members.expect(200)["data"].as_array().unwrap().len(), 2);
    app.delete(&format!("/api/v1/projects/{pid}/members/{viewer_id}"), &researcher).await.expect(204);
    app.get(&format!("/api/v1/projects/{pid}"), &viewer).await.expect(404);
    app.patch(&format!("/api/v1/projects/{pid}/members/{viewer_id}"), &admin, json!({"role": "admin"})).await.expect(404);
    // Organization-wide visibility: everyone sees it, with view permissions only.
    app.patch(&format!("/api/v1/projects/{pid}"), &researcher, json!({"visibility": "organization"})).await.expect(200);
    let seen = app.get(&format!("/api/v1/projects/{pid}"), &viewer).await;
    assert_eq!(seen.expect(200)["my_permissions"], json!(["view_dataset", "view_metrics"]));
    // Private: the owner and organization admins only.
    app.patch(&format!("/api/v1/projects/{pid}"), &researcher, json!({"visibility": "private"})).await.expect(200);
    app.get(&format!("/api/v1/projects/{pid}"), &viewer).await.expect(404);
    app.get(&format!("/api/v1/projects/{pid}"), &admin).await.expect(200);
    app.patch(&format!("/api/v1/projects/{pid}"), &researcher, json!({"visibility": "users"})).await.expect(400);
    // Names are unique per organization.
    app.post("/api/v1/projects", &researcher, json!({"name": "renamed"})).await.expect(409);
    app.delete(&format!("/api/v1/projects/{pid}"), &researcher).await.expect(204);
    app.get(&format!("/api/v1/projects/{pid}"), &researcher).await.expect(404);
    // A developer who creates a project gains no training rights there, and cannot hand out
    // roles beyond their own.
    let (_, developer) = app.user(&admin, "d@example.com", "developer").await;
    let (other_id, _) = app.user(&admin, "o@example.com", "viewer").await;
    let own = app.post("/api/v1/projects", &developer, json!({"name": "dev's"})).await;
    let own = own.expect(201).clone();
    assert_eq!(own["my_role"], "developer");
    assert_eq!(own["my_permissions"], json!(["upload_dataset", "view_dataset", "deploy_model", "view_metrics", "manage_resources"]));
    let dev_pid = own["id"].as_str().unwrap();
    let grant =
        app.post(&format!("/api/v1/projects/{dev_pid}/members"), &developer, json!({"user_id": other_id, "role": "researcher"})).await;
    grant.expect(403);
    assert!(grant.body["error"]["message"].as_str().unwrap().contains("delete_dataset"), "{}", grant.body);
    app.post(&format!("/api/v1/projects/{dev_pid}/members"), &developer, json!({"user_id": other_id, "role": "developer"}))
        .await
        .expect(201);
    // Members are added by the email they sign in with too (any case), and the list names
    // everyone, to members who may not list the organization's users.
    let (r2_id, _) = app.user(&admin, "r2@example.com", "researcher").await;
    let added =
        app.post(&format!("/api/v1/projects/{dev_pid}/members"), &developer, json!({"email": " R2@Example.com ", "role": "viewer"})).await;
    let added = added.expect(201);
    assert_eq!(
        (added["user_id"].as_str(), added["email"].as_str(), added["name"].as_str()),
        (Some(r2_id.as_str()), Some("r2@example.com"), Some("r2@example.com"))
    );
    let members = app.get(&format!("/api/v1/projects/{dev_pid}/members"), &developer).await;
    let named: Vec<(String, String)> = members.expect(200)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["email"].as_str().unwrap().to_string(), m["role"].as_str().unwrap().to_string()))
        .collect();
    let expected = [("d@example.com", "developer"), ("o@example.com", "developer"), ("r2@example.com", "viewer")];
    assert_eq!(named, expected.map(|(e, r)| (e.to_string(), r.to_string())));
    // Exactly one of user_id and email; an unknown email is nobody.
    for body in [json!({"role": "viewer"}), json!({"user_id": r2_id, "email": "r2@example.com", "role": "viewer"})] {
        let a = app.post(&format!("/api/v1/projects/{dev_pid}/members"), &developer, body).await;
        assert!(a.expect(422)["error"]["message"].as_str().unwrap().contains("exactly one of user_id and email"), "{}", a.body);
    }
    let members = format!("/api/v1/projects/{dev_pid}/members");
    app.post(&members, &developer, json!({"email": "nobody@example.com", "role": "viewer"})).await.expect(404);
    let a = app.post(&members, &developer, json!({"email": "not an email", "role": "viewer"})).await;
    assert!(a.expect(422)["error"]["message"].as_str().unwrap().contains("email"), "{}", a.body);
}
on_each_backend!(project_visibility_and_project_roles_test, project_visibility_and_project_roles);

async fn lists_page_with_cursors(app: TestApp) {
    let (_, admin) = app.bootstrap().await;
    for i in 0..25 {
        app.post("/api/v1/projects", &admin, json!({"name": format!("p{i:02}")})).await.expect(201);
    }
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let q = if after.is_empty() { "/api/v1/projects?limit=10".to_string() } else { format!("/api/v1/projects?limit=10&after={after}") };
        let page = app.get(&q, &admin).await;
        let page = page.expect(200).clone();
        assert_eq!(page["object"], "list");
        let data = page["data"].as_array().unwrap();
        seen.extend(data.iter().map(|p| p["name"].as_str().unwrap().to_string()));
        if !page["has_more"].as_bool().unwrap() {
            break;
        }
        after = data.last().unwrap()["id"].as_str().unwrap().to_string();
    }
    let expected: Vec<String> = (0..25).map(|i| format!("p{i:02}")).collect();
    assert_eq!(seen, expected, "creation order, no duplicates, nothing missing");
    let bad = app.get("/api/v1/projects?limit=0", &admin).await;
    bad.expect(400);
    assert_eq!(bad.body["error"]["param"], "limit");
    assert_eq!(app.get("/api/v1/projects?limit=ten", &admin).await.code(), "invalid_query");
    assert_eq!(app.get("/api/v1/projects?color=red", &admin).await.code(), "invalid_query");
}
on_each_backend!(lists_page_with_cursors_test, lists_page_with_cursors);

async fn organizations_by_instance_admin(app: TestApp) {
    let (_, root) = app.bootstrap().await;
    let (org_b, admin_b) = app.other_org(&root, "Beta").await;
    let mine = app.get("/api/v1/organizations", &admin_b).await;
    let data = mine.expect(200)["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["id"], org_b.as_str());
    assert_eq!(app.get("/api/v1/organizations", &root).await.body["data"].as_array().unwrap().len(), 2);
    // Only instance admins create organizations.
    app.post("/api/v1/organizations", &admin_b, json!({"name": "Gamma"})).await.expect(403);
    // Instance powers respect the credential: a narrowly scoped key of the instance admin
    // neither creates nor changes organizations; a project-restricted one cannot either.
    let narrow = app.post("/api/v1/api-keys", &root, json!({"name": "narrow", "scopes": ["view_dataset"]})).await;
    let narrow = narrow.expect(201)["key"].as_str().unwrap().to_string();
    let refused = app.post("/api/v1/organizations", &narrow, json!({"name": "Gamma"})).await;
    refused.expect(403);
    assert_eq!(refused.code(), "permission_denied");
    app.patch(&format!("/api/v1/organizations/{org_b}"), &narrow, json!({"name": "Renamed"})).await.expect(403);
    let project = app.post("/api/v1/projects", &root, json!({"name": "root's"})).await.id();
    let restricted = app.post("/api/v1/api-keys", &root, json!({"name": "restricted", "project_id": project})).await;
    let restricted = restricted.expect(201)["key"].as_str().unwrap().to_string();
    app.post("/api/v1/organizations", &restricted, json!({"name": "Gamma"})).await.expect(403);
    let full = app.post("/api/v1/api-keys", &root, json!({"name": "full"})).await;
    let full = full.expect(201)["key"].as_str().unwrap().to_string();
    app.post("/api/v1/organizations", &full, json!({"name": "Gamma"})).await.expect(201);
    app.patch(&format!("/api/v1/organizations/{org_b}"), &full, json!({"name": "Beta two"})).await.expect(200);
    // One transaction: an organization whose admin cannot be created is not created either.
    let clash = app
        .post(
            "/api/v1/organizations",
            &root,
            json!({"name": "Delta", "admin": {"email": "admin@example.com", "name": "X", "password": PASSWORD}}),
        )
        .await;
    clash.expect(409);
    let names: Vec<String> = app.get("/api/v1/organizations", &root).await.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect();
    assert!(!names.contains(&"Delta".to_string()), "{names:?}");
}
on_each_backend!(organizations_by_instance_admin_test, organizations_by_instance_admin);

async fn job_templates_are_kept_per_project_checked_as_submissions_are(app: TestApp) {
    let (user_id, admin) = app.bootstrap().await;
    let org = app.get("/api/v1/me", &admin).await.body["organization"]["id"].as_str().unwrap().to_string();
    let (viewer_id, viewer) = app.user(&admin, "v@example.com", "viewer").await;
    let (_, outsider) = app.user(&admin, "r@example.com", "researcher").await;
    let pid = app.post("/api/v1/projects", &admin, json!({"name": "recipes"})).await.expect(201)["id"].as_str().unwrap().to_string();
    app.post(&format!("/api/v1/projects/{pid}/members"), &admin, json!({"user_id": viewer_id, "role": "viewer"})).await.expect(201);
    let chats = "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"hello\"}]}\n";
    let ds = app.upload_dataset(&admin, &[("name", "d")], "d.jsonl", chats.as_bytes()).await.expect(201)["dataset"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (base, _, _) = common::insert_training_rows(&app, &org, &user_id, &ds).await;
    let templates = format!("/api/v1/projects/{pid}/job-templates");
    let body = json!({
        "name": "short lora", "description": "rank 8, 30 steps", "base_model_id": base,
        "config": {"method": {"kind": "lora", "lora": {"rank": 8}}, "hyperparameters": {"learning_rate": 0.0001, "max_steps": 30}},
        "resources": {"gpus": 1, "priority": "high", "max_duration_s": 3600}, "max_restarts": 2
    });
    let created = app.post(&templates, &admin, body.clone()).await;
    let created = created.expect(201).clone();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("tmpl_"), "{id}");
    // What was saved comes back whole, with every default of the configuration filled in.
    assert_eq!(created["config"]["method"]["lora"]["rank"], 8);
    assert_eq!(created["config"]["hyperparameters"]["max_steps"], 30);
    assert!(created["config"]["hyperparameters"]["gradient_accumulation_steps"].is_number(), "{created}");
    assert_eq!((created["resources"]["priority"].as_str(), created["max_restarts"].as_u64()), (Some("high"), Some(2)));
    assert_eq!(created["base_model_id"], base.as_str());
    // A name is unique in its project.
    assert_eq!(app.post(&templates, &admin, body.clone()).await.status.as_u16(), 409);
    // Checked as a submission is, naming the field.
    let refused = |patch: Value| {
        let mut b = body.clone();
        b["name"] = json!("other");
        merge(&mut b, patch);
        b
    };
    for (patch, status, param) in [
        (json!({"config": {"method": {"kind": "freeze", "freeze": {"trainable_layers": 5}}}}), 422, "method.freeze.trainable_layers"),
        (json!({"config": {"hyperparameters": {"learning_rate": 2.0}}}), 400, "hyperparameters.learning_rate"),
        (json!({"config": {"method": {"kind": "full"}}, "merge_lora": true}), 422, "merge_lora"),
        (json!({"resources": {"priority": "platinum"}}), 422, "resources.priority"),
        (json!({"max_restarts": 21}), 400, "max_restarts"),
        (json!({"base_model_id": "bm_000000000000000000000000"}), 422, "base_model_id"),
        (json!({"name": " "}), 400, "name"),
    ] {
        let a = app.post(&templates, &admin, refused(patch.clone())).await;
        assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (status, Some(param)), "{patch}: {}", a.body);
    }
    let unknown = app.post(&templates, &admin, refused(json!({"dataset_id": ds}))).await;
    assert_eq!((unknown.status.as_u16(), unknown.code()), (400, "invalid_body"), "{}", unknown.body);
    // Without a base model the model's own limits wait for the job: 5 frozen layers are kept.
    let mut free = refused(json!({"config": {"method": {"kind": "freeze", "freeze": {"trainable_layers": 5}}}}));
    free.as_object_mut().unwrap().remove("base_model_id");
    app.post(&templates, &admin, free).await.expect(201);
    // Project members see them by name; only those who may train there change them.
    let listed = app.get(&templates, &viewer).await;
    let names: Vec<&str> = listed.expect(200)["data"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["other", "short lora"]);
    app.get(&format!("/api/v1/job-templates/{id}"), &viewer).await.expect(200);
    assert_eq!(app.post(&templates, &viewer, refused(json!({"name": "mine"}))).await.code(), "permission_denied");
    app.delete(&format!("/api/v1/job-templates/{id}"), &viewer).await.expect(403);
    // Outside the project, and in another organization, a template does not exist.
    app.get(&templates, &outsider).await.expect(404);
    app.get(&format!("/api/v1/job-templates/{id}"), &outsider).await.expect(404);
    let (_, other_admin) = app.other_org(&admin, "Other").await;
    app.get(&format!("/api/v1/job-templates/{id}"), &other_admin).await.expect(404);
    app.delete(&format!("/api/v1/job-templates/{id}"), &other_admin).await.expect(404);
    // Replaced whole, keeping its creation; a name taken by another template is 409.
    let mut renamed = body.clone();
    renamed["name"] = json!("short lora v2");
    renamed["config"]["hyperparameters"]["max_steps"] = json!(60);
    let put = app.call("PUT", &format!("/api/v1/job-templates/{id}"), Some(&admin), Some(renamed)).await;
    let put = put.expect(200).clone();
    assert_eq!((put["name"].as_str(), put["config"]["hyperparameters"]["max_steps"].as_u64()), (Some("short lora v2"), Some(60)));
    assert_eq!(put["created_at"], created["created_at"]);
    let mut clash = body.clone();
    clash["name"] = json!("other");
    assert_eq!(app.call("PUT", &format!("/api/v1/job-templates/{id}"), Some(&admin), Some(clash)).await.status.as_u16(), 409);
    app.delete(&format!("/api/v1/job-templates/{id}"), &admin).await.expect(204);
    app.get(&format!("/api/v1/job-templates/{id}"), &admin).await.expect(404);
    let actions: Vec<String> = app.audit_tail(20).await.into_iter().map(|(action, _, _)| action).collect();
    for action in ["job_template.create", "job_template.update", "job_template.delete"] {
        assert!(actions.iter().any(|a| a == action), "{action} not in {actions:?}");
    }
}
on_each_backend!(job_templates_test, job_templates_are_kept_per_project_checked_as_submissions_are);

/// Merges `patch` into `value`, object by object.
fn merge(value: &mut Value, patch: Value) {
    match (value, patch) {
        (Value::Object(v), Value::Object(p)) => {
            for (k, pv) in p {
                merge(v.entry(k).or_insert(Value::Null), pv);
            }
        }
        (v, p) => *v = p,
    }
}

async fn prices_are_set_by_an_instance_administrator_over_the_configured_ones(app: TestApp) {
    let (_, root) = app.bootstrap().await;
    let (_, org_admin) = app.other_org(&root, "Tenant").await;
    let (_, viewer) = app.user(&root, "v@example.com", "viewer").await;
    let price_of = |list: &Value, gpu_type: &str| list["data"].as_array().unwrap().iter().find(|p| p["gpu_type"] == gpu_type).cloned();
    // Every listed type is priced: this machine's CPU slots and the catalog's GPUs at list price.
    let listed = app.get("/api/v1/prices", &viewer).await.expect(200).clone();
    let h100 = price_of(&listed, "H100-80GB").expect("the H100 is listed");
    assert_eq!((h100["source"].as_str(), h100["on_demand"].as_f64()), (Some("list"), Some(2.5)), "{h100}");
    assert!(price_of(&listed, "cpu").is_some(), "{listed}");
    // An instance administrator sets a price for every organization; spot defaults to it.
    let set = app.call("PUT", "/api/v1/prices/H100-80GB", Some(&root), Some(json!({"on_demand": 4.25, "spot": 1.5}))).await;
    let set = set.expect(200).clone();
    assert_eq!((set["source"].as_str(), set["on_demand"].as_f64(), set["spot"].as_f64()), (Some("set"), Some(4.25), Some(1.5)), "{set}");
    assert!(set["updated_at"].as_i64().is_some(), "{set}");
    let a100 = app.call("PUT", "/api/v1/prices/my-a100", Some(&root), Some(json!({"on_demand": 2.0}))).await.expect(200).clone();
    assert_eq!(a100["spot"].as_f64(), Some(2.0), "{a100}");
    let seen = app.get("/api/v1/prices", &org_admin).await.expect(200).clone();
    assert_eq!(price_of(&seen, "H100-80GB").unwrap()["on_demand"].as_f64(), Some(4.25), "another organization pays it too");
    assert!(price_of(&seen, "my-a100").is_some(), "{seen}");
    // An organization's administrator may not change what every organization pays.
    let refused = app.call("PUT", "/api/v1/prices/H100-80GB", Some(&org_admin), Some(json!({"on_demand": 0.0}))).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (403, "forbidden"), "{}", refused.body);
    // Bad prices and names are named.
    for (path, body, status, param) in [
        ("/api/v1/prices/H100-80GB", json!({"on_demand": -1.0}), 400, "on_demand"),
        ("/api/v1/prices/H100-80GB", json!({"on_demand": 1.0, "spot": -0.5}), 400, "spot"),
        ("/api/v1/prices/a%20b", json!({"on_demand": 1.0}), 422, "gpu_type"),
    ] {
        let a = app.call("PUT", path, Some(&root), Some(body)).await;
        assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (status, Some(param)), "{}", a.body);
    }
    let unknown = app.call("PUT", "/api/v1/prices/H100-80GB", Some(&root), Some(json!({"on_demand": 1.0, "currency": "EUR"}))).await;
    assert_eq!(unknown.code(), "invalid_body", "{}", unknown.body);
    // Removed, the list price applies again; removing it twice finds nothing.
    let back = app.delete("/api/v1/prices/H100-80GB", &root).await.expect(200).clone();
    assert_eq!((back["source"].as_str(), back["on_demand"].as_f64()), (Some("list"), Some(2.5)), "{back}");
    app.delete("/api/v1/prices/H100-80GB", &root).await.expect(404);
    let actions: Vec<String> = app.audit_tail(20).await.into_iter().map(|(action, _, _)| action).collect();
    assert!(actions.contains(&"price.set".to_string()) && actions.contains(&"price.delete".to_string()), "{actions:?}");
}
on_each_backend!(prices_test, prices_are_set_by_an_instance_administrator_over_the_configured_ones);
