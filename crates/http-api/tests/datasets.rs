//! Datasets over HTTP: multipart and resumable uploads, validation with line numbers,
//! previews, statistics, downloads, quotas, encryption at rest — on each database.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::TestApp;
use serde_json::{json, Value};
use services::Settings;
use sha2::{Digest, Sha256};
use test_support::backends;

const GOOD: &str = r#"{"messages":[{"role":"user","content":"What is the capital of France?"},{"role":"assistant","content":"Paris."}]}"#;
const GOOD_ZH: &str = r#"{"messages":[{"role":"user","content":"法国的首都是哪里？"},{"role":"assistant","content":"巴黎。"}]}"#;

fn sha256(bytes: &[u8]) -> String {
    hex_string(&Sha256::digest(bytes))
}

fn hex_string(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn put_part(token: &str, upload: &str, n: i64, bytes: &[u8], sha: Option<&str>) -> Request<Body> {
    let mut r = Request::builder()
        .method("PUT")
        .uri(format!("/api/v1/uploads/{upload}/parts/{n}"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/octet-stream");
    if let Some(s) = sha {
        r = r.header("x-content-sha256", s);
    }
    r.body(Body::from(bytes.to_vec())).unwrap()
}

async fn wait_for_upload(app: &TestApp, token: &str, id: &str) -> Value {
    for _ in 0..600 {
        let u = app.get(&format!("/api/v1/uploads/{id}"), token).await;
        let status = u.body["status"].as_str().unwrap_or("").to_string();
        if status != "processing" {
            return u.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("upload {id} still processing");
}

async fn wait_for_operation(app: &TestApp, token: &str, dataset: &str, op: &str) -> Value {
    for _ in 0..600 {
        let o = app.get(&format!("/api/v1/datasets/{dataset}/operations/{op}"), token).await;
        if o.body["status"] != "running" {
            return o.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("operation {op} still running");
}

async fn upload_validate_preview_download(app: TestApp) {
    let (_, admin) = app.bootstrap().await;
    let content = format!("{GOOD}\n{GOOD_ZH}\n{{\"messages\": [\n{GOOD}\n");
    let a = app.upload_dataset(&admin, &[("name", "capitals"), ("description", "toy")], "capitals.jsonl", content.as_bytes()).await;
    let created = a.expect(201).clone();
    let dataset_id = created["dataset"]["id"].as_str().unwrap().to_string();
    let v = &created["version"];
    assert_eq!(v["version"], 1);
    assert_eq!(created["dataset"]["latest_version"], 1, "the dataset shows the version the upload just created");
    assert_eq!(v["records"], 4);
    assert_eq!(v["valid_records"], 3);
    assert_eq!(v["invalid_records"], 1);
    assert_eq!(v["sha256"], sha256(content.as_bytes()));
    assert_eq!(v["bytes"], content.len());
    assert_eq!(v["filename"], "capitals.jsonl");
    // Exactly what is wrong, and where.
    let val = app.get(&format!("/api/v1/datasets/{dataset_id}/versions/1/validation"), &admin).await;
    let errors = val.expect(200)["errors"].as_array().unwrap().clone();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["line"], 3);
    assert_eq!(errors[0]["code"], "invalid_json");
    // Preview: raw and canonical.
    let preview = app.get(&format!("/api/v1/datasets/{dataset_id}/versions/1/preview?offset=1&limit=2"), &admin).await;
    let data = preview.expect(200)["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["index"], 1);
    assert_eq!(data[0]["line"], 2);
    assert!(data[0]["raw"].as_str().unwrap().contains("巴黎"));
    assert!(data[1]["errors"].as_array().unwrap().len() == 1);
    let stats = app.get(&format!("/api/v1/datasets/{dataset_id}/versions/1/stats"), &admin).await;
    assert_eq!(stats.expect(200)["summary"]["records"], 4);
    // Download gives back the exact bytes.
    let dl = app
        .send(
            Request::builder()
                .uri(format!("/api/v1/datasets/{dataset_id}/versions/1/download"))
                .header("authorization", format!("Bearer {admin}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(dl.status, 200);
    assert_eq!(dl.body.as_str().unwrap(), content);
    // Listed; renamed; a second upload of the same name conflicts.
    let list = app.get("/api/v1/datasets", &admin).await;
    assert_eq!(list.expect(200)["data"].as_array().unwrap().len(), 1);
    app.patch(&format!("/api/v1/datasets/{dataset_id}"), &admin, json!({"description": "capital cities"})).await.expect(200);
    let dup = app.upload_dataset(&admin, &[("name", "capitals")], "again.jsonl", GOOD.as_bytes()).await;
    dup.expect(409);
}
on_each_backend!(upload_validate_preview_download_test, upload_validate_preview_download);

async fn visibility_and_permissions(app: TestApp) {
    let (_, admin) = app.bootstrap().await;
    let (_, researcher) = app.user(&admin, "r@example.com", "researcher").await;
    let (_, viewer) = app.user(&admin, "v@example.com", "viewer").await;
    let project = app.post("/api/v1/projects", &researcher, json!({"name": "p"})).await.id();
    let a = app.upload_dataset(&researcher, &[("name", "private-ish"), ("project_id", &project)], "d.jsonl", GOOD.as_bytes()).await;
    let id = a.expect(201)["dataset"]["id"].as_str().unwrap().to_string();
    // Not a member of the project: the dataset does not exist for the viewer.
    app.get(&format!("/api/v1/datasets/{id}"), &viewer).await.expect(404);
    assert_eq!(app.get("/api/v1/datasets", &viewer).await.body["data"].as_array().unwrap().len(), 0);
    // Viewers cannot upload; refusal comes before any byte is stored.
    let refused = app.upload_dataset(&viewer, &[("name", "nope")], "d.jsonl", GOOD.as_bytes()).await;
    refused.expect(403);
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("upload_dataset"));
    // Fields after the file are refused with a clear message... fields before are required.
    app.delete(&format!("/api/v1/datasets/{id}"), &viewer).await.expect(404);
    app.get(&format!("/api/v1/datasets/{id}/versions/1/download"), &admin).await.expect(200);
}
on_each_backend!(visibility_and_permissions_test, visibility_and_permissions);

async fn resumable_upload_in_any_order(app: TestApp) {
    let (_, admin) = app.bootstrap().await;
    let content: String = (0..200).map(|i| if i % 2 == 0 { format!("{GOOD}\n") } else { format!("{GOOD_ZH}\n") }).collect();
    let bytes = content.as_bytes();
    let (p1, p2, p3) = (&bytes[..7000], &bytes[7000..15000], &bytes[15000..]);
    let up = app.post("/api/v1/uploads", &admin, json!({"filename": "big.jsonl", "bytes": bytes.len()})).await;
    let id = up.expect(201)["id"].as_str().unwrap().to_string();
    assert_eq!(up.body["status"], "pending");
    // Out of order, with checksums; a corrupted part is refused and can be sent again.
    app.send(put_part(&admin, &id, 3, p3, Some(&sha256(p3)))).await.expect(201);
    let bad = app.send(put_part(&admin, &id, 1, p1, Some(&sha256(b"something else")))).await;
    bad.expect(422);
    assert_eq!(bad.code(), "checksum_mismatch");
    app.send(put_part(&admin, &id, 1, p1, Some(&sha256(p1)))).await.expect(201);
    // Resume: the server says what it has.
    let state = app.get(&format!("/api/v1/uploads/{id}"), &admin).await;
    let have: Vec<i64> = state.body["parts"].as_array().unwrap().iter().map(|p| p["part_number"].as_i64().unwrap()).collect();
    assert_eq!(have, vec![1, 3]);
    assert_eq!(state.body["received_bytes"], (p1.len() + p3.len()) as i64);
    // Completing before all parts are there says which is missing.
    let early = app
        .post(
            &format!("/api/v1/uploads/{id}/complete"),
            &admin,
            json!({"part_numbers": [1, 2, 3], "sha256": sha256(bytes), "dataset": {"name": "big"}}),
        )
        .await;
    early.expect(422);
    assert!(early.body["error"]["message"].as_str().unwrap().contains("part 2"));
    app.send(put_part(&admin, &id, 2, p2, None)).await.expect(201);
    // A whole-file checksum mismatch sends it back to pending, parts kept.
    let wrong = app
        .post(
            &format!("/api/v1/uploads/{id}/complete"),
            &admin,
            json!({"part_numbers": [1, 3, 2], "sha256": sha256(bytes), "dataset": {"name": "big"}}),
        )
        .await;
    wrong.expect(202);
    let after = wait_for_upload(&app, &admin, &id).await;
    assert_eq!(after["status"], "pending");
    assert!(after["error"].as_str().unwrap().contains("out of order"), "{after}");
    let done = app
        .post(
            &format!("/api/v1/uploads/{id}/complete"),
            &admin,
            json!({"part_numbers": [1, 2, 3], "sha256": sha256(bytes), "dataset": {"name": "big"}}),
        )
        .await;
    done.expect(202);
    let finished = wait_for_upload(&app, &admin, &id).await;
    assert_eq!(finished["status"], "completed", "{finished}");
    assert_eq!(finished["processed_bytes"], bytes.len() as i64);
    let dataset_id = finished["dataset_id"].as_str().unwrap();
    let v = app.get(&format!("/api/v1/datasets/{dataset_id}/versions/1"), &admin).await;
    assert_eq!(v.expect(200)["records"], 200);
    assert_eq!(v.body["sha256"], sha256(bytes));
    // A second upload becomes version 2 of the same dataset.
    let up2 = app.post("/api/v1/uploads", &admin, json!({"filename": "more.jsonl", "bytes": GOOD.len()})).await.id();
    app.send(put_part(&admin, &up2, 1, GOOD.as_bytes(), None)).await.expect(201);
    app.post(
        &format!("/api/v1/uploads/{up2}/complete"),
        &admin,
        json!({"part_numbers": [1], "sha256": sha256(GOOD.as_bytes()), "dataset": {"dataset_id": dataset_id}}),
    )
    .await
    .expect(202);
    assert_eq!(wait_for_upload(&app, &admin, &up2).await["status"], "completed");
    let versions = app.get(&format!("/api/v1/datasets/{dataset_id}/versions"), &admin).await;
    assert_eq!(versions.body["data"].as_array().unwrap().len(), 2);
    // Finished uploads take no more parts.
    app.send(put_part(&admin, &id, 4, b"x", None)).await.expect(409);
}
on_each_backend!(resumable_upload_in_any_order_test, resumable_upload_in_any_order);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_hold_under_concurrency_and_failures_release_storage() {
    for backend in backends() {
        let app = TestApp::with_settings(backend, Settings { storage_quota_bytes: 10_000, ..Settings::default() }).await;
        let (_, admin) = app.bootstrap().await;
        let over = app.post("/api/v1/uploads", &admin, json!({"filename": "x.jsonl", "bytes": 20_000})).await;
        over.expect(413);
        assert_eq!(over.code(), "storage_quota_exceeded");
        // Two uploads racing for the same room: exactly one gets it.
        let (a, b) = tokio::join!(
            app.post("/api/v1/uploads", &admin, json!({"filename": "a.jsonl", "bytes": 6_000})),
            app.post("/api/v1/uploads", &admin, json!({"filename": "b.jsonl", "bytes": 6_000}))
        );
        let mut statuses = vec![a.status.as_u16(), b.status.as_u16()];
        statuses.sort();
        assert_eq!(statuses, vec![201, 413]);
        let winner = if a.status == 201 { a.id() } else { b.id() };
        app.post(&format!("/api/v1/uploads/{winner}/cancel"), &admin, json!({})).await.expect(200);
        // Cancelling released the room; a multipart upload over the quota is refused midway
        // and releases what it held.
        let big = GOOD.repeat(200);
        let refused = app.upload_dataset(&admin, &[("name", "too big")], "big.jsonl", big.as_bytes()).await;
        refused.expect(413);
        let again = app.post("/api/v1/uploads", &admin, json!({"filename": "c.jsonl", "bytes": 9_000})).await;
        again.expect(201);
        assert!(app.get("/api/v1/datasets", &admin).await.body["data"].as_array().unwrap().is_empty());
    }
}

async fn refused_files_leave_nothing_behind(app: TestApp) {
    let (_, admin) = app.bootstrap().await;
    let gz = [0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x01, 0x02];
    let a = app.upload_dataset(&admin, &[("name", "zipped")], "data.jsonl.gz", &gz).await;
    a.expect(422);
    assert_eq!(a.code(), "invalid_file");
    assert!(a.body["error"]["message"].as_str().unwrap().to_lowercase().contains("compress"), "{}", a.body);
    assert!(app.get("/api/v1/datasets", &admin).await.body["data"].as_array().unwrap().is_empty());
    // Path-like names keep only their last component.
    let p = app.upload_dataset(&admin, &[("name", "paths")], "../../etc/passwd.jsonl", GOOD.as_bytes()).await;
    assert_eq!(p.expect(201)["version"]["filename"], "passwd.jsonl");
    // Deleting the dataset deletes its blob.
    let id = p.body["dataset"]["id"].as_str().unwrap().to_string();
    app.delete(&format!("/api/v1/datasets/{id}"), &admin).await.expect(204);
    let blobs = app.db.dir.path().join("blobs").join("blobs");
    let files = walk(&blobs);
    assert!(files.is_empty(), "left behind: {files:?}");
}
on_each_backend!(refused_files_leave_nothing_behind_test, refused_files_leave_nothing_behind);

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

async fn every_byte_is_encrypted_on_disk(app: TestApp) {
    let (_, admin) = app.bootstrap().await;
    let canary = "CANARY-7d1e-secret-payload";
    let line = format!(r#"{{"messages":[{{"role":"user","content":"{canary}"}},{{"role":"assistant","content":"ok {canary}"}}]}}"#);
    let content = format!("{line}\n").repeat(50);
    app.upload_dataset(&admin, &[("name", "secret")], "secret.jsonl", content.as_bytes()).await.expect(201);
    let up = app.post("/api/v1/uploads", &admin, json!({"filename": "s.jsonl", "bytes": content.len()})).await.id();
    app.send(put_part(&admin, &up, 1, content.as_bytes(), None)).await.expect(201);
    for file in walk(app.db.dir.path()) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(!bytes.windows(canary.len()).any(|w| w == canary.as_bytes()), "plaintext found in {}", file.display());
    }
}
on_each_backend!(every_byte_is_encrypted_on_disk_test, every_byte_is_encrypted_on_disk);

async fn versions_diff_as_multisets(app: TestApp) {
    let (_, admin) = app.bootstrap().await;
    let v1 = format!("{GOOD}\n{GOOD}\n{GOOD_ZH}\n");
    let created = app.upload_dataset(&admin, &[("name", "diffed")], "v1.jsonl", v1.as_bytes()).await;
    let id = created.expect(201)["dataset"]["id"].as_str().unwrap().to_string();
    let third = r#"{"messages":[{"role":"user","content":"2+2?"},{"role":"assistant","content":"4"}]}"#;
    let v2 = format!("{GOOD}\n{third}\n");
    let up = app.post("/api/v1/uploads", &admin, json!({"filename": "v2.jsonl", "bytes": v2.len()})).await.id();
    app.send(put_part(&admin, &up, 1, v2.as_bytes(), None)).await.expect(201);
    app.post(
        &format!("/api/v1/uploads/{up}/complete"),
        &admin,
        json!({"part_numbers": [1], "sha256": sha256(v2.as_bytes()), "dataset": {"dataset_id": id}}),
    )
    .await
    .expect(202);
    assert_eq!(wait_for_upload(&app, &admin, &up).await["status"], "completed");
    let d = app.get(&format!("/api/v1/datasets/{id}/versions/2/diff"), &admin).await;
    let d = d.expect(200);
    assert_eq!(d["added"], 1);
    assert_eq!(d["removed"], 2, "one duplicate of GOOD and the Chinese record");
    assert_eq!(d["unchanged"], 1);
    assert!(d["added_examples"][0]["excerpt"].as_str().unwrap().contains("2+2"));
    assert_eq!(d["added_examples"][0]["line"], 2);
    let removed: Vec<&str> = d["removed_examples"].as_array().unwrap().iter().map(|e| e["excerpt"].as_str().unwrap()).collect();
    assert!(removed.iter().any(|e| e.contains("巴黎")), "{removed:?}");
    app.get(&format!("/api/v1/datasets/{id}/versions/2/diff?against=9"), &admin).await.expect(404);
}
on_each_backend!(versions_diff_as_multisets_test, versions_diff_as_multisets);

async fn preprocess_cleans_into_a_new_version_with_lineage(app: TestApp) {
    let (_, admin) = app.bootstrap().await;
    let pii = r#"{"messages":[{"role":"user","content":"Mail me at ann@example.com or call 13812345678"},{"role":"assistant","content":"Noted."}]}"#;
    let mut content = format!("{GOOD}\n{GOOD}\n{GOOD_ZH}\n{pii}\n");
    for i in 0..20 {
        content.push_str(&format!(
            r#"{{"messages":[{{"role":"user","content":"question number {i}"}},{{"role":"assistant","content":"answer {i}"}}]}}"#
        ));
        content.push('\n');
    }
    let created = app.upload_dataset(&admin, &[("name", "raw")], "raw.jsonl", content.as_bytes()).await;
    let id = created.expect(201)["dataset"]["id"].as_str().unwrap().to_string();
    let recipe = json!({"version": 1, "steps": [
        {"step": "dedup_exact"},
        {"step": "filter", "languages": ["en"]},
        {"step": "mask_pii", "kinds": ["email", "phone"]},
        {"step": "split", "validation": {"count": 5}, "seed": 7}
    ]});
    let started = app.post(&format!("/api/v1/datasets/{id}/versions/1/preprocess"), &admin, json!({"recipe": recipe})).await;
    let op = started.expect(202)["id"].as_str().unwrap().to_string();
    let done = wait_for_operation(&app, &admin, &id, &op).await;
    assert_eq!(done["status"], "completed", "{done}");
    let version = app.get(&format!("/api/v1/datasets/{id}/versions/2"), &admin).await.expect(200).clone();
    assert_eq!(done["version_id"], version["id"]);
    assert_eq!(version["parent_version_id"], created.body["version"]["id"]);
    assert_eq!(done["report"]["records_in"], 24);
    // 24 in, one exact duplicate and one Chinese record dropped: 22, of which 5 to validation.
    assert_eq!(version["records"], 17, "{}", done["report"]);
    let validation_id = done["validation_dataset_id"].as_str().unwrap().to_string();
    assert_eq!(app.get(&format!("/api/v1/datasets/{validation_id}/versions/1"), &admin).await.body["records"], 5);
    // PII is masked in whichever output holds that record.
    let mut texts = String::new();
    for (ds, v) in [(id.clone(), 2), (validation_id.clone(), 1)] {
        let dl = app.get(&format!("/api/v1/datasets/{ds}/versions/{v}/download"), &admin).await;
        texts.push_str(dl.body.as_str().unwrap());
    }
    assert!(!texts.contains("ann@example.com") && !texts.contains("13812345678"), "{texts}");
    assert!(texts.contains("[EMAIL]") && texts.contains("[PHONE]"));
    // Lineage both ways, across datasets.
    let up = app.get(&format!("/api/v1/datasets/{id}/versions/1/lineage"), &admin).await;
    assert_eq!(up.expect(200)["descendants"].as_array().unwrap().len(), 2);
    let down = app.get(&format!("/api/v1/datasets/{id}/versions/2/lineage"), &admin).await;
    assert_eq!(down.body["ancestors"][0]["version"], 1);
    assert_eq!(down.body["version"]["recipe"]["recipe"]["steps"][0]["step"], "dedup_exact");
    // A bad recipe says which step and field.
    let bad = app
        .post(
            &format!("/api/v1/datasets/{id}/versions/1/preprocess"),
            &admin,
            json!({"recipe": {"version": 1, "steps": [{"step": "dedup_near", "threshold": 7}]}}),
        )
        .await;
    bad.expect(400);
    assert_eq!(bad.body["error"]["param"], "recipe");
    assert!(bad.body["error"]["message"].as_str().unwrap().contains("threshold"), "{}", bad.body);
}
on_each_backend!(preprocess_cleans_into_a_new_version_with_lineage_test, preprocess_cleans_into_a_new_version_with_lineage);

/// A version's or an operation's stored JSON that does not parse is an error when read (500,
/// detail in the server's log), never shown as a default (`{}` or no recipe).
async fn stored_records_that_do_not_parse_are_errors(app: TestApp) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let (_, admin) = app.bootstrap().await;
    let created = app.upload_dataset(&admin, &[("name", "raw")], "raw.jsonl", format!("{GOOD}\n{GOOD_ZH}\n").as_bytes()).await;
    let id = created.expect(201)["dataset"]["id"].as_str().unwrap().to_string();
    let recipe = json!({"version": 1, "steps": [{"step": "dedup_exact"}]});
    let started = app.post(&format!("/api/v1/datasets/{id}/versions/1/preprocess"), &admin, json!({"recipe": recipe})).await;
    let op = started.expect(202)["id"].as_str().unwrap().to_string();
    assert_eq!(wait_for_operation(&app, &admin, &id, &op).await["status"], "completed");
    app.get(&format!("/api/v1/datasets/{id}/versions/2"), &admin).await.expect(200);
    let mut conn = sqlx::AnyConnection::connect(&app.db.url).await.unwrap();
    sqlx::query("UPDATE dataset_operations SET recipe = $1 WHERE id = $2")
        .bind("{\"version\": 1,")
        .bind(&op)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(app.get(&format!("/api/v1/datasets/{id}/operations/{op}"), &admin).await.status, 500);
    sqlx::query("UPDATE dataset_versions SET recipe = $1 WHERE dataset_id = $2 AND version = 2")
        .bind("not json")
        .bind(&id)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(app.get(&format!("/api/v1/datasets/{id}/versions/2"), &admin).await.status, 500);
    assert_eq!(app.get(&format!("/api/v1/datasets/{id}/versions"), &admin).await.status, 500);
    assert_eq!(app.get(&format!("/api/v1/datasets/{id}/versions/1/lineage"), &admin).await.status, 500);
    // The untouched first version still reads.
    app.get(&format!("/api/v1/datasets/{id}/versions/1"), &admin).await.expect(200);
}
on_each_backend!(stored_records_that_do_not_parse_are_errors_test, stored_records_that_do_not_parse_are_errors);

/// Token statistics with the real SmolLM2 tokenizer: totals, per-record distribution, and the
/// share of records longer than the training length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_count_tokens_with_the_model_tokenizer() {
    let Some(path) = test_support::smollm2_tokenizer() else { return };
    let exact = tokenizer::ModelTokenizer::from_file(&path).unwrap().without_fast_path();
    for backend in backends() {
        let app = TestApp::with_settings(backend, Settings { max_tokens_per_record: 8, ..Settings::default() }).await;
        app.services.set_token_counter(std::sync::Arc::from(tokenizer::counter_for(&path).unwrap()));
        let (_, admin) = app.bootstrap().await;
        let long = r#"{"messages":[{"role":"user","content":"Please list the first twelve prime numbers, separated by commas."},{"role":"assistant","content":"2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37"}]}"#;
        let content = format!("{GOOD}\n{GOOD_ZH}\n{long}\n");
        let created = app.upload_dataset(&admin, &[("name", "tokens")], "t.jsonl", content.as_bytes()).await;
        let id = created.expect(201)["dataset"]["id"].as_str().unwrap().to_string();
        let stats = app.get(&format!("/api/v1/datasets/{id}/versions/1/stats"), &admin).await;
        let tokens = stats.expect(200)["stats"]["tokens"].clone();
        let texts = [
            ("What is the capital of France?", "Paris."),
            ("法国的首都是哪里？", "巴黎。"),
            ("Please list the first twelve prime numbers, separated by commas.", "2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37"),
        ];
        let per_record: Vec<u64> =
            texts.iter().map(|(u, a)| (exact.try_count_exact(u).unwrap() + exact.try_count_exact(a).unwrap()) as u64).collect();
        assert_eq!(tokens["total"], per_record.iter().sum::<u64>(), "{tokens}");
        assert_eq!(tokens["per_record"]["max"], *per_record.iter().max().unwrap(), "{tokens}");
        let over = per_record.iter().filter(|n| **n > 8).count();
        assert_eq!(tokens["over_max_tokens"], over as u64, "{tokens}");
        assert_eq!(tokens["max_tokens"], 8);
    }
}

async fn preview_renders_through_the_chat_template(app: TestApp) {
    let (_, admin) = app.bootstrap().await;
    let weighted = r#"{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!","weight":0},{"role":"user","content":"Capital of France?"},{"role":"assistant","content":"Paris."}]}"#;
    let created = app.upload_dataset(&admin, &[("name", "rendered")], "r.jsonl", format!("{weighted}\n").as_bytes()).await;
    let id = created.expect(201)["dataset"]["id"].as_str().unwrap().to_string();
    let p = app.get(&format!("/api/v1/datasets/{id}/versions/1/preview?template=chatml"), &admin).await;
    let item = p.expect(200)["data"][0].clone();
    let text = item["rendered"]["text"].as_str().unwrap();
    assert!(text.starts_with("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>"), "{text}");
    let trained: Vec<&str> = item["rendered"]["spans"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["trained"] == true)
        .map(|s| &text[s["start"].as_u64().unwrap() as usize..s["end"].as_u64().unwrap() as usize])
        .collect();
    assert_eq!(trained, vec!["Paris.<|im_end|>"], "weight 0 turns are not trained; the end token is");
    let unknown = app.get(&format!("/api/v1/datasets/{id}/versions/1/preview?template=nope"), &admin).await;
    unknown.expect(400);
    assert!(unknown.body["error"]["message"].as_str().unwrap().contains("chatml"));
}
on_each_backend!(preview_renders_through_the_chat_template_test, preview_renders_through_the_chat_template);

async fn expired_uploads_are_swept_and_release_storage(app: TestApp) {
    let (_, admin) = app.bootstrap().await;
    let up = app.post("/api/v1/uploads", &admin, json!({"filename": "late.jsonl", "bytes": GOOD.len()})).await.id();
    app.send(put_part(&admin, &up, 1, GOOD.as_bytes(), None)).await.expect(201);
    let org = app.get("/api/v1/me", &admin).await.body["organization"]["id"].as_str().unwrap().to_string();
    let storage = |app: &TestApp| {
        let (pool, org) = (app.services.db().pool().clone(), org.clone());
        async move {
            let row: (i64, i64) = sqlx::query_as("SELECT storage_used_bytes, storage_reserved_bytes FROM organizations WHERE id = $1")
                .bind(org)
                .fetch_one(&pool)
                .await
                .unwrap();
            row
        }
    };
    assert_eq!(storage(&app).await, (0, GOOD.len() as i64));
    assert_eq!(app.services.sweep_expired_uploads().await.unwrap(), 0, "not expired yet");
    sqlx::query("UPDATE uploads SET expires_at = 0 WHERE id = $1").bind(&up).execute(app.services.db().pool()).await.unwrap();
    assert_eq!(app.services.sweep_expired_uploads().await.unwrap(), 1);
    let after = app.get(&format!("/api/v1/uploads/{up}"), &admin).await;
    assert_eq!(after.expect(200)["status"], "cancelled");
    assert!(after.body["parts"].as_array().unwrap().is_empty());
    assert_eq!(storage(&app).await, (0, 0), "the reservation is released");
    assert!(walk(&app.db.dir.path().join("blobs").join("blobs")).is_empty(), "the part's blob is deleted");
    let events = app.get("/api/v1/audit-events?action=upload.expire", &admin).await;
    assert_eq!(events.expect(200)["data"][0]["target_id"], up.as_str());
}
on_each_backend!(expired_uploads_are_swept_and_release_storage_test, expired_uploads_are_swept_and_release_storage);

async fn parquet_files_are_datasets_too(app: TestApp) {
    let (_, admin) = app.bootstrap().await;
    let file = include_bytes!("../../datasets/tests/golden/parquet_rows.parquet");
    let created = app.upload_dataset(&admin, &[("name", "columnar")], "rows.parquet", file).await;
    let v = created.expect(201)["version"].clone();
    assert_eq!(v["format"]["container"], "parquet");
    assert_eq!((v["records"].as_i64(), v["invalid_records"].as_i64()), (Some(3), Some(2)), "{v}");
    let id = created.body["dataset"]["id"].as_str().unwrap();
    let val = app.get(&format!("/api/v1/datasets/{id}/versions/1/validation"), &admin).await;
    let rows: Vec<i64> = val.expect(200)["errors"].as_array().unwrap().iter().map(|e| e["row"].as_i64().unwrap()).collect();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| (1..=3).contains(r)));
    let brotli = include_bytes!("../../datasets/tests/golden/brotli.parquet");
    let refused = app.upload_dataset(&admin, &[("name", "brotli")], "b.parquet", brotli).await;
    refused.expect(422);
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("brotli"));
}
on_each_backend!(parquet_files_are_datasets_too_test, parquet_files_are_datasets_too);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_preprocess_reports_how_far_it_has_read() {
    let app = TestApp::new(test_support::Backend::Sqlite).await;
    let (_, admin) = app.bootstrap().await;
    // ~12 MB of distinct records: near-duplicate detection over them takes a few seconds.
    let mut content = String::new();
    for i in 0..100_000u64 {
        let words: String = (0..6).map(|k| format!("w{} ", (i * 7919 + k * 104_729) % 1_000_003)).collect();
        content.push_str(&format!(
            r#"{{"messages":[{{"role":"user","content":"{words}{i}?"}},{{"role":"assistant","content":"answer {i}"}}]}}"#
        ));
        content.push('\n');
    }
    let total = content.len() as u64;
    let created = app.upload_dataset(&admin, &[("name", "big")], "big.jsonl", content.as_bytes()).await;
    let id = created.expect(201)["dataset"]["id"].as_str().unwrap().to_string();
    let recipe = json!({"version": 1, "steps": [{"step": "dedup_near", "threshold": 0.9}, {"step": "split", "validation": {"count": 10}}]});
    let started = app.post(&format!("/api/v1/datasets/{id}/versions/1/preprocess"), &admin, json!({"recipe": recipe})).await;
    let op = started.expect(202)["id"].as_str().unwrap().to_string();
    let mut seen = Vec::new();
    let done = loop {
        let o = app.get(&format!("/api/v1/datasets/{id}/operations/{op}"), &admin).await.body.clone();
        if o["status"] != "running" {
            break o;
        }
        if !o["progress"].is_null() {
            seen.push(o["progress"].clone());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done["progress"].is_null(), "a finished operation has no progress: {done}");
    assert!(!seen.is_empty(), "never saw the operation running with progress");
    let fractions: Vec<f64> = seen.iter().map(|p| p["fraction"].as_f64().unwrap()).collect();
    for p in &seen {
        assert_eq!((p["total_bytes"].as_u64(), p["passes"].as_u64()), (Some(total), Some(2)), "{p}");
        assert!(p["bytes_read"].as_u64().unwrap() <= total && (1..=2).contains(&p["pass"].as_u64().unwrap()), "{p}");
    }
    assert!(fractions.windows(2).all(|w| w[0] <= w[1]) && fractions.iter().all(|f| (0.0..=1.0).contains(f)), "{fractions:?}");
}

/// A stand-in for an OpenAI-compatible server (vLLM, llama.cpp, a hosted API) on loopback:
/// `POST /v1/chat/completions` answers with the user's text in capitals, and 401 without the
/// expected key. It records the system instructions it was sent.
async fn fake_completions() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<String>>>;
    async fn complete(
        axum::extract::State(seen): axum::extract::State<Seen>,
        headers: HeaderMap,
        axum::Json(body): axum::Json<Value>,
    ) -> axum::response::Response {
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer augment-secret") {
            return (StatusCode::UNAUTHORIZED, "missing key").into_response();
        }
        seen.lock().unwrap().push(body["messages"][0]["content"].as_str().unwrap_or_default().to_string());
        let text = body["messages"][1]["content"].as_str().unwrap_or_default().to_uppercase();
        axum::Json(json!({"object": "chat.completion", "model": body["model"], "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]})).into_response()
    }
    let seen: Seen = Default::default();
    let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(complete)).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn augment_calls_an_allowed_openai_compatible_endpoint() {
    let (url, seen) = fake_completions().await;
    std::env::set_var("TUNERY_TEST_AUGMENT_KEY", "augment-secret");
    let settings = Settings { augment_endpoints: vec![url.clone()], ..Settings::default() };
    let app = TestApp::with_settings(test_support::Backend::Sqlite, settings).await;
    let (_, admin) = app.bootstrap().await;
    let content = format!("{GOOD}\n{GOOD_ZH}\n");
    let created = app.upload_dataset(&admin, &[("name", "small")], "small.jsonl", content.as_bytes()).await;
    let id = created.expect(201)["dataset"]["id"].as_str().unwrap().to_string();
    let endpoint = json!({"url": {"url": url, "model": "qwen2.5-7b-instruct", "api_key_env": "TUNERY_TEST_AUGMENT_KEY"}});
    let recipe = json!({"version": 1, "steps": [{"step": "augment", "method": "paraphrase", "endpoint": endpoint, "copies": 1}]});
    let started = app.post(&format!("/api/v1/datasets/{id}/versions/1/preprocess"), &admin, json!({"recipe": recipe})).await;
    let op = started.expect(202)["id"].as_str().unwrap().to_string();
    let done = wait_for_operation(&app, &admin, &id, &op).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!((done["report"]["records_out"].as_u64(), done["report"]["steps"][0]["added"].as_u64()), (Some(4), Some(2)), "{done}");
    let text = app.get(&format!("/api/v1/datasets/{id}/versions/2/download"), &admin).await.body.as_str().unwrap().to_string();
    let originals: Vec<Value> = content.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let capital = originals[0]["messages"][0]["content"].as_str().unwrap().to_uppercase();
    assert!(text.contains(&capital), "the paraphrase is in the new version: {text}");
    assert!(seen.lock().unwrap().iter().all(|s| s.starts_with("Paraphrase")), "{:?}", seen.lock().unwrap());

    // Back-translation goes there and back: two calls per turn.
    let before = seen.lock().unwrap().len();
    let endpoint = json!({"url": {"url": url, "model": "m", "api_key_env": "TUNERY_TEST_AUGMENT_KEY"}});
    let recipe =
        json!({"version": 1, "steps": [{"step": "augment", "method": "back_translate", "pivot_language": "French", "endpoint": endpoint}]});
    let op = app.post(&format!("/api/v1/datasets/{id}/versions/1/preprocess"), &admin, json!({"recipe": recipe})).await.expect(202)["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(wait_for_operation(&app, &admin, &id, &op).await["status"], "completed");
    let calls: Vec<String> = seen.lock().unwrap()[before..].to_vec();
    assert!(calls.len() >= 4 && calls[0].contains("into French") && calls[1].contains("Translate"), "{calls:?}");

    // A wrong key: every variant fails, the recipe stops and says why (no version is made).
    let endpoint = json!({"url": {"url": url, "model": "m"}});
    let recipe = json!({"version": 1, "steps": [{"step": "augment", "method": "paraphrase", "endpoint": endpoint, "copies": 10}]});
    let op = app.post(&format!("/api/v1/datasets/{id}/versions/1/preprocess"), &admin, json!({"recipe": recipe})).await.expect(202)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let failed = wait_for_operation(&app, &admin, &id, &op).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed["error"].as_str().unwrap().contains("HTTP 401"), "{failed}");
    // An endpoint the administrator did not allow, or a missing key variable: refused at once.
    let elsewhere = json!({"version": 1, "steps": [{"step": "augment", "method": "paraphrase", "endpoint": {"url": {"url": "http://169.254.169.254/v1", "model": "m"}}}]});
    let refused = app.post(&format!("/api/v1/datasets/{id}/versions/1/preprocess"), &admin, json!({"recipe": elsewhere})).await;
    assert_eq!(refused.expect(422)["error"]["param"], "recipe.steps[0].endpoint.url", "{}", refused.body);
    let no_key = json!({"version": 1, "steps": [{"step": "augment", "method": "paraphrase", "endpoint": {"url": {"url": url, "model": "m", "api_key_env": "TUNERY_TEST_NO_SUCH_VARIABLE"}}}]});
    let refused = app.post(&format!("/api/v1/datasets/{id}/versions/1/preprocess"), &admin, json!({"recipe": no_key})).await;
    assert!(refused.expect(422)["error"]["message"].as_str().unwrap().contains("TUNERY_TEST_NO_SUCH_VARIABLE"), "{}", refused.body);
}

async fn annotate(app: &TestApp, token: &str, task: &str, index: u64, body: Value) -> common::Answer {
    app.call("PUT", &format!("/api/v1/annotation-tasks/{task}/records/{index}"), Some(token), Some(body)).await
}

async fn annotation_corrects_labels_and_flags_records_into_a_new_version(app: TestApp) {
    let (_, admin) = app.bootstrap().await;
    let (ann_id, annotator) = app.user(&admin, "annotator@example.com", "viewer").await;
    let (res_id, researcher) = app.user(&admin, "r@example.com", "researcher").await;
    let (_, bystander) = app.user(&admin, "b@example.com", "viewer").await;
    let chat = |i: usize| {
        json!({"messages": [{"role": "user", "content": format!("question {i}")}, {"role": "assistant", "content": format!("answer {i}")}]})
            .to_string()
    };
    // Seven records, the fourth (index 3) broken.
    let lines: Vec<String> = (0..7).map(|i| if i == 3 { "{\"messages\": [".to_string() } else { chat(i) }).collect();
    let created = app
        .upload_dataset(&admin, &[("name", "support"), ("visibility", "organization")], "s.jsonl", (lines.join("\n") + "\n").as_bytes())
        .await;
    let ds = created.expect(201)["dataset"]["id"].as_str().unwrap().to_string();
    let tasks = format!("/api/v1/datasets/{ds}/versions/1/annotation-tasks");
    let body =
        json!({"name": "first pass", "instructions": "Fix wrong answers.", "labels": ["good", "bad"], "assignee_ids": [ann_id, res_id]});
    // Only those who may add versions start one; annotators must be users of the organization.
    assert_eq!(app.post(&tasks, &annotator, body.clone()).await.code(), "permission_denied");
    let mut stranger = body.clone();
    stranger["assignee_ids"] = json!([ann_id, "usr_000000000000000000000000"]);
    let refused = app.post(&tasks, &admin, stranger).await;
    assert_eq!((refused.status.as_u16(), refused.body["error"]["param"].as_str()), (422, Some("assignee_ids[1]")), "{}", refused.body);
    // …and able to see the records: a private dataset refuses anyone but its owner as annotator.
    let private = app.upload_dataset(&admin, &[("name", "mine"), ("visibility", "private")], "p.jsonl", (chat(0) + "\n").as_bytes()).await;
    let private = private.expect(201)["dataset"]["id"].as_str().unwrap().to_string();
    let unseen = app.post(&format!("/api/v1/datasets/{private}/versions/1/annotation-tasks"), &admin, body.clone()).await;
    assert_eq!((unseen.status.as_u16(), unseen.body["error"]["param"].as_str()), (422, Some("assignee_ids[0]")), "{}", unseen.body);
    assert!(
        unseen.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("annotator@example.com ({ann_id}) cannot see dataset {private}")),
        "{}",
        unseen.body
    );
    let task = app.post(&tasks, &admin, body).await.expect(201).clone();
    let id = task["id"].as_str().unwrap().to_string();
    assert_eq!((task["records"].as_u64(), task["state"].as_str()), (Some(7), Some("open")), "{task}");
    let shares: Vec<u64> = task["annotators"].as_array().unwrap().iter().map(|a| a["assigned"].as_u64().unwrap()).collect();
    assert_eq!(shares, [4, 3], "records go round-robin: {task}");
    assert_eq!(task["annotators"][0]["email"], "annotator@example.com");
    // The annotator's share: every other record, the broken one shown as such in the other share.
    let mine = app.get(&format!("/api/v1/annotation-tasks/{id}/records?assignee={ann_id}"), &annotator).await.expect(200).clone();
    let indices: Vec<u64> = mine["data"].as_array().unwrap().iter().map(|r| r["index"].as_u64().unwrap()).collect();
    assert_eq!(indices, [0, 2, 4, 6]);
    let all = app.get(&format!("/api/v1/annotation-tasks/{id}/records?limit=7"), &annotator).await.expect(200).clone();
    let broken = &all["data"][3];
    assert!(broken["original"].is_null() && !broken["errors"].as_array().unwrap().is_empty(), "{broken}");
    // A fixed answer, a flag, a label.
    let fixed = json!({"type": "chat", "messages": [{"role": "user", "content": "question 0"}, {"role": "assistant", "content": "a better answer 0"}]});
    let saved =
        annotate(&app, &annotator, &id, 0, json!({"labels": ["good"], "record": fixed, "note": "was too short"})).await.expect(200).clone();
    assert_eq!(
        (saved["annotation"]["edited"].as_bool(), saved["record"]["messages"][1]["content"].as_str()),
        (Some(true), Some("a better answer 0"))
    );
    annotate(&app, &annotator, &id, 2, json!({"flagged": true, "note": "not our product"})).await.expect(200);
    annotate(&app, &researcher, &id, 5, json!({"labels": ["bad"]})).await.expect(200);
    // Mistakes are named: a label of no set, a type change, an empty answer, a broken record.
    for (i, b, status, param) in [
        (4, json!({"labels": ["great"]}), 422, "labels[0]"),
        (4, json!({"record": {"type": "text", "text": "plain"}}), 422, "record.type"),
        (
            4,
            json!({"record": {"type": "chat", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": " "}]}}),
            422,
            "record.messages",
        ),
        (3, json!({"labels": ["good"]}), 422, "index"),
    ] {
        let a = annotate(&app, &annotator, &id, i, b).await;
        assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (status, Some(param)), "{}", a.body);
    }
    assert_eq!(annotate(&app, &annotator, &id, 99, json!({})).await.status.as_u16(), 404);
    // Someone who sees the dataset but is no annotator (and may not add versions) cannot annotate.
    assert_eq!(annotate(&app, &bystander, &id, 4, json!({"labels": ["good"]})).await.status.as_u16(), 403);
    let progress = app.get(&format!("/api/v1/annotation-tasks/{id}"), &annotator).await.expect(200).clone();
    assert_eq!((progress["annotated"].as_u64(), progress["flagged"].as_u64(), progress["edited"].as_u64()), (Some(3), Some(1), Some(1)));
    assert_eq!((progress["label_counts"]["good"].as_u64(), progress["label_counts"]["bad"].as_u64()), (Some(1), Some(1)));
    assert_eq!(progress["annotators"][0]["done"].as_u64(), Some(2), "{progress}");
    // Completion: the corrected records, less the flagged one and those labelled bad.
    let done =
        app.post(&format!("/api/v1/annotation-tasks/{id}/complete"), &admin, json!({"drop_labels": ["bad"]})).await.expect(201).clone();
    assert_eq!((done["task"]["state"].as_str(), done["task"]["result_version"].as_i64()), (Some("completed"), Some(2)), "{done}");
    assert_eq!(done["version"]["valid_records"].as_i64(), Some(4), "7 records less the broken, the flagged and the bad one: {done}");
    let lineage = app.get(&format!("/api/v1/datasets/{ds}/versions/2/lineage"), &admin).await.expect(200).clone();
    assert_eq!(lineage["ancestors"][0]["version"].as_i64(), Some(1), "{lineage}");
    assert_eq!(lineage["version"]["recipe"]["annotation_task_id"], id.as_str(), "{lineage}");
    let preview = app.get(&format!("/api/v1/datasets/{ds}/versions/2/preview?limit=10"), &admin).await.expect(200).to_string();
    assert!(preview.contains("a better answer 0") && !preview.contains("answer 2\"") && !preview.contains("question 5"), "{preview}");
    // A completed task takes nothing more; another organization sees none of it.
    assert_eq!(annotate(&app, &annotator, &id, 4, json!({"labels": ["good"]})).await.status.as_u16(), 422);
    assert_eq!(app.post(&format!("/api/v1/annotation-tasks/{id}/complete"), &admin, json!({})).await.status.as_u16(), 422);
    let (_, other) = app.other_org(&admin, "Other").await;
    app.get(&format!("/api/v1/annotation-tasks/{id}"), &other).await.expect(404);
    let listed = app.get(&format!("/api/v1/datasets/{ds}/annotation-tasks"), &annotator).await.expect(200).clone();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    app.delete(&format!("/api/v1/annotation-tasks/{id}"), &admin).await.expect(204);
    app.get(&format!("/api/v1/datasets/{ds}/versions/2"), &admin).await.expect(200);
    let actions: Vec<String> = app.audit_tail(30).await.into_iter().map(|(action, _, _)| action).collect();
    for action in ["annotation_task.create", "annotation.save", "annotation_task.complete", "annotation_task.delete"] {
        assert!(actions.iter().any(|a| a == action), "{action} not in {actions:?}");
    }
}
on_each_backend!(annotation_test, annotation_corrects_labels_and_flags_records_into_a_new_version);
