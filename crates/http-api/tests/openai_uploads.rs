//! `/v1/uploads` over HTTP, the cases the SDK journey does not reach: parts sent at the same
//! time get different ids, completing twice answers the same file, a file that is not a
//! dataset is 422 and frees its storage, a facade upload is refused by the platform's own part
//! and complete routes, and a schema-violating expiry is 400 — on each database.

mod common;

use common::{Payload, TestApp};
use serde_json::{json, Value};

const LINE: &str = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Hello!\"}]}\n";

async fn create(app: &TestApp, token: &str, name: &str, bytes: usize) -> String {
    let body = json!({"filename": name, "purpose": "fine-tune", "bytes": bytes, "mime_type": "application/jsonl"});
    app.call_with("POST", "/v1/uploads", token, Payload::Json(body)).await.expect(200)["id"].as_str().unwrap().to_string()
}

async fn part(app: &TestApp, token: &str, upload: &str, bytes: &[u8]) -> Value {
    app.call_with("POST", &format!("/v1/uploads/{upload}/parts"), token, Payload::UploadPart(bytes.to_vec())).await.expect(200).clone()
}

/// Storage the organization uses and has reserved for uploads in progress.
async fn storage(app: &TestApp, token: &str) -> i64 {
    let me = app.get("/api/v1/me", token).await;
    let org = me.body["organization"]["id"].as_str().unwrap().to_string();
    let (used, reserved): (i64, i64) = sqlx::query_as("SELECT storage_used_bytes, storage_reserved_bytes FROM organizations WHERE id = $1")
        .bind(org)
        .fetch_one(app.services.db().pool())
        .await
        .unwrap();
    used + reserved
}

async fn uploads_in_parts(app: TestApp) {
    let (_, admin) = app.bootstrap().await;
    let content = LINE.repeat(8);
    let bytes = content.as_bytes();
    let upload = create(&app, &admin, "train.jsonl", bytes.len()).await;

    // Eight parts at once: eight different ids, numbered as they arrived.
    let chunks: Vec<&[u8]> = bytes.chunks(LINE.len()).collect();
    let sent = futures_util::future::join_all(chunks.iter().map(|c| part(&app, &admin, &upload, c))).await;
    let mut ids: Vec<String> = sent.iter().map(|p| p["id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 8, "{sent:?}");
    // Every chunk is the same line, so any order of the ids is the file.
    let complete = json!({"part_ids": ids});
    let done = app.post(&format!("/v1/uploads/{upload}/complete"), &admin, complete.clone()).await;
    let done = done.expect(200).clone();
    assert_eq!((done["status"].as_str(), done["file"]["bytes"].as_u64()), (Some("completed"), Some(bytes.len() as u64)), "{done}");
    // Completing again answers the same file.
    let again = app.post(&format!("/v1/uploads/{upload}/complete"), &admin, complete).await;
    assert_eq!(again.expect(200)["file"]["id"], done["file"]["id"]);
    // The platform's own routes refuse a facade upload.
    let own = app
        .post(
            &format!("/api/v1/uploads/{upload}/complete"),
            &admin,
            json!({"part_numbers": [1], "sha256": "0".repeat(64), "dataset": {"name": "x"}}),
        )
        .await;
    assert_eq!((own.status.as_u16(), own.code()), (409, "conflict"), "{}", own.body);
    let other = create(&app, &admin, "other.jsonl", 4).await;
    let put = app.call_with("PUT", &format!("/api/v1/uploads/{other}/parts/1"), &admin, Payload::Bytes(b"abcd".to_vec())).await;
    assert_eq!(put.status.as_u16(), 409, "{}", put.body);

    // Not a dataset: 422 naming why, and the storage it reserved is given back.
    let before = storage(&app, &admin).await;
    let junk = create(&app, &admin, "junk.jsonl.gz", 9).await;
    assert_eq!(storage(&app, &admin).await, before + 9);
    // Gzip: compressed files are refused (decompress first).
    let gz = [0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03];
    let p = part(&app, &admin, &junk, &gz).await;
    let refused = app.post(&format!("/v1/uploads/{junk}/complete"), &admin, json!({"part_ids": [p["id"]]})).await;
    assert_eq!((refused.status.as_u16(), refused.body["error"]["param"].as_str()), (422, Some("file")), "{}", refused.body);
    assert_eq!(storage(&app, &admin).await, before);

    // A part id of another upload, and an expiry the schema rules out.
    let wrong = app.post(&format!("/v1/uploads/{other}/complete"), &admin, json!({"part_ids": [format!("part_{upload}_1")]})).await;
    assert_eq!((wrong.status.as_u16(), wrong.body["error"]["param"].as_str()), (422, Some("part_ids")), "{}", wrong.body);
    let body = json!({"filename": "x.jsonl", "purpose": "fine-tune", "bytes": 1, "mime_type": "text/plain", "expires_after": {"anchor": "created_at", "seconds": 5}});
    let short = app.call_with("POST", "/v1/uploads", &admin, Payload::Json(body)).await;
    assert_eq!((short.status.as_u16(), short.body["error"]["param"].as_str()), (400, Some("expires_after.seconds")), "{}", short.body);
}

on_each_backend!(uploads_in_parts_test, uploads_in_parts);
