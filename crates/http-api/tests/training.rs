//! Training through the API with the real Python runtime on a tiny model: import, estimate,
//! submit, watch, checkpoints, the fine-tuned model and its lineage; cancel and resume; a
//! crashed runtime restarted from its checkpoint; refusals with clear errors. Both databases.

mod common;

use common::{job_ended, TestApp};
use serde_json::{json, Value};
use services::Settings;
use std::time::{Duration, Instant};

fn chat_jsonl(n: usize) -> String {
    (0..n)
        .map(|i| {
            json!({"messages": [
                {"role": "user", "content": format!("What is {i} plus one?")},
                {"role": "assistant", "content": format!("The answer is {}.", i + 1)}
            ]})
            .to_string()
                + "\n"
        })
        .collect()
}

struct Env {
    app: TestApp,
    admin: String,
    _dirs: tempfile::TempDir,
}

async fn env(backend: test_support::Backend) -> Option<Env> {
    env_with(backend, |_| {}).await
}

async fn env_with(backend: test_support::Backend, configure: impl FnOnce(&mut Settings)) -> Option<Env> {
    let (app, admin, dirs) = common::training_app(backend, configure).await?;
    Some(Env { app, admin, _dirs: dirs })
}

async fn import_tiny(e: &Env) -> String {
    let dir = test_support::tiny_model_dir().expect("tiny model");
    let a = e.app.post("/api/v1/base-models/import", &e.admin, json!({"name": "tiny", "source": {"kind": "directory", "path": dir}})).await;
    let id = a.expect(202)["id"].as_str().unwrap().to_string();
    assert_eq!(a.body["status"], "importing");
    let ready = e.app.wait_for(&e.admin, &format!("/api/v1/base-models/{id}"), |b| b["status"] != "importing", 120).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    id
}

async fn dataset(e: &Env, name: &str, content: &str) -> String {
    e.app.upload_dataset(&e.admin, &[("name", name)], &format!("{name}.jsonl"), content.as_bytes()).await.expect(201)["dataset"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn job_body(base: &str, dataset: &str, steps: u64) -> Value {
    json!({
        "name": "tiny-lora",
        "base_model_id": base,
        "dataset_id": dataset,
        "config": {
            "method": {"kind": "lora", "lora": {"rank": 4, "alpha": 8, "dropout": 0.0}},
            "data": {"max_seq_length": 64},
            "hyperparameters": {"max_steps": steps, "micro_batch_size": 2, "learning_rate": 0.01, "checkpoint_every_steps": 2, "keep_checkpoints": 2, "lr_scheduler": "constant"}
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lora_job_trains_checkpoints_and_records_its_model_and_lineage() {
    for backend in test_support::backends() {
        let Some(e) = env(backend).await else { return };
        let base = import_tiny(&e).await;
        let model = e.app.get(&format!("/api/v1/base-models/{base}"), &e.admin).await;
        assert_eq!(model.body["spec"]["layers"], 2);
        assert_eq!(model.body["spec"]["hidden_size"], 32);
        assert!(model.body["has_chat_template"].as_bool().unwrap());
        let ds = dataset(&e, "sums", &chat_jsonl(24)).await;
        // Previews render through the base model's own chat template.
        let preview = e.app.get(&format!("/api/v1/datasets/{ds}/versions/1/preview?limit=1&template={base}"), &e.admin).await;
        let rendered = preview.expect(200)["data"][0]["rendered"].to_string();
        assert!(rendered.contains("<|im_start|>assistant"), "{rendered}");

        let est = e
            .app
            .post(
                "/api/v1/estimates",
                &e.admin,
                json!({"base_model_id": base, "dataset_id": ds, "config": job_body(&base, &ds, 6)["config"]}),
            )
            .await;
        let est = est.expect(200);
        assert!(est["memory"]["total_bytes"].as_f64().unwrap() > 0.0);
        assert!(est["trainable_parameters"].as_u64().unwrap() > 0);
        assert_eq!(est["selected"]["device"], "cpu");
        assert!(est["devices"].as_array().unwrap().len() > 5);

        let a = e.app.post("/api/v1/jobs", &e.admin, job_body(&base, &ds, 6)).await;
        let job = a.expect(202)["id"].as_str().unwrap().to_string();
        assert_eq!(a.body["state"], "queued");
        let done = e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{job}"), job_ended, 180).await;
        assert_eq!(done["state"], "succeeded", "{done}");
        assert_eq!(done["current_step"], 6);
        let model_id = done["model_id"].as_str().unwrap().to_string();
        // What the run measured, beside what the estimate said at submission.
        let m = &done["measured"];
        let (peak, estimated) = (m["peak_memory_bytes"].as_f64().unwrap(), m["estimated_memory_bytes"].as_f64().unwrap());
        // Whole bytes of the stored estimate (to within a byte: it went through JSON twice).
        assert!(peak > 100e6 && (estimated - done["estimate"]["memory_per_device_bytes"].as_f64().unwrap()).abs() <= 1.0, "{m}");
        assert!((m["memory_ratio"].as_f64().unwrap() - peak / estimated).abs() < 1e-6, "{m}");
        assert!(m["tokens_per_second"].as_f64().unwrap() > 0.0 && m["step_time_s"].as_f64().unwrap() > 0.0, "{m}");
        let estimated_step = done["estimate"]["seconds"].as_f64().unwrap() / 6.0;
        assert!((m["estimated_step_time_s"].as_f64().unwrap() - estimated_step).abs() < 1e-9, "{m}");
        assert!(m["estimated_tokens_per_second"].as_f64().unwrap() > 0.0, "{m}");

        let events = e.app.get(&format!("/api/v1/jobs/{job}/events?stream=false&limit=1000"), &e.admin).await;
        let kinds: Vec<&str> = events.body["data"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
        for k in ["state", "started", "progress", "checkpoint", "finished"] {
            assert!(kinds.contains(&k), "no {k} event in {kinds:?}");
        }
        let progress: Vec<&Value> = events.body["data"].as_array().unwrap().iter().filter(|e| e["kind"] == "progress").collect();
        assert_eq!(progress.len(), 6);
        assert!(progress.iter().all(|p| p["data"]["tokens"].as_u64().unwrap_or(0) > 0));

        // The default is a Server-Sent Events stream that replays from `after` and ends with the job.
        let sse = e.app.get(&format!("/api/v1/jobs/{job}/events?after=1&kinds=progress,state"), &e.admin).await;
        assert_eq!(sse.headers["content-type"], "text/event-stream");
        let text = sse.body.as_str().unwrap().to_string();
        assert_eq!(text.matches("event: progress").count(), 6, "{text}");
        assert!(text.contains("event: state") && !text.contains("id: 1\n"), "{text}");

        let metrics = e.app.get(&format!("/api/v1/jobs/{job}/metrics?names=loss,tokens_per_second,cpu_percent,rss_bytes"), &e.admin).await;
        let series = metrics.expect(200)["series"].as_array().unwrap().clone();
        let names: Vec<&str> = series.iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["loss", "tokens_per_second", "cpu_percent", "rss_bytes"]);
        assert_eq!(series[0]["points"].as_array().unwrap().len(), 6);
        // The runtime's system reports chart the CPU and memory of the run.
        let rss = series[3]["points"].as_array().unwrap();
        assert!(!rss.is_empty() && rss.iter().all(|p| p["value"].as_f64().unwrap() > 1e6), "{rss:?}");
        // A series nobody reports is an error naming the known ones, not an empty chart.
        let unknown = e.app.get(&format!("/api/v1/jobs/{job}/metrics?names=loss,los"), &e.admin).await;
        let message = unknown.expect(422)["error"]["message"].as_str().unwrap().to_string();
        assert!(message.contains("unknown series 'los'") && message.contains("gpu_utilization_percent"), "{message}");

        let checkpoints = e.app.get(&format!("/api/v1/jobs/{job}/checkpoints"), &e.admin).await;
        let steps: Vec<i64> = checkpoints.expect(200)["data"].as_array().unwrap().iter().map(|c| c["step"].as_i64().unwrap()).collect();
        assert_eq!(steps, vec![4, 6], "the newest two of 2, 4, 6 are kept");

        let m = e.app.get(&format!("/api/v1/models/{model_id}"), &e.admin).await;
        let m = m.expect(200);
        assert_eq!(m["kind"], "adapter");
        assert_eq!(m["base_model_id"], base.as_str());
        assert_eq!(m["job_id"], job.as_str());
        assert!(m["files"].as_u64().unwrap() >= 2, "{m}");
        assert!(m["metrics"]["tokens_per_second"].as_f64().unwrap() > 0.0, "{m}");

        let lineage = e.app.get(&format!("/api/v1/datasets/{ds}/versions/1/lineage"), &e.admin).await;
        let lineage = lineage.expect(200);
        assert_eq!(lineage["jobs"][0]["id"], job.as_str(), "{lineage}");
        assert_eq!(lineage["models"][0]["id"], model_id.as_str(), "{lineage}");

        // A finished job's speed makes later estimates measured rather than assumed, in the
        // precision it ran in (`auto` resolves on the machine that trains); the other
        // precision's estimate is still assumed.
        let ran_in = m["metrics"]["precision"].as_str().expect("the model's metrics name its precision").to_string();
        let estimate_in = |precision: &str| {
            let mut config = job_body(&base, &ds, 6)["config"].clone();
            config["hyperparameters"]["precision"] = json!(precision);
            e.app.post("/api/v1/estimates", &e.admin, json!({"base_model_id": base, "dataset_tokens": 10000, "config": config}))
        };
        let est = estimate_in(&ran_in).await;
        let est = est.expect(200);
        assert_eq!(
            (est["precision"].as_str(), est["selected"]["throughput_source"].as_str()),
            (Some(ran_in.as_str()), Some("measured")),
            "{est}"
        );
        let other = if ran_in == "bf16" { "fp32" } else { "bf16" };
        let est = estimate_in(other).await;
        let est = est.expect(200);
        assert_eq!((est["precision"].as_str(), est["selected"]["throughput_source"].as_str()), (Some(other), Some("assumed")), "{est}");

        // The dataset cannot be deleted while a job records it.
        assert_eq!(e.app.delete(&format!("/api/v1/datasets/{ds}"), &e.admin).await.status, 409);
        let audit: Vec<String> = e.app.audit_tail(200).await.into_iter().map(|(a, _, _)| a).collect();
        for action in ["job.create", "job.succeeded", "base_model.import", "base_model.imported"] {
            assert!(audit.iter().any(|a| a == action), "no {action} in the audit log");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_and_token_filters_count_with_a_base_models_own_tokenizer() {
    let Some(e) = env(test_support::Backend::Sqlite).await else { return };
    let base = import_tiny(&e).await;
    let content: String = (0..12)
        .map(|i| {
            let answer = "many words in this answer ".repeat(i);
            json!({"messages": [{"role": "user", "content": format!("Question {i}?")}, {"role": "assistant", "content": format!("Yes. {answer}")}]})
                .to_string()
                + "\n"
        })
        .collect();
    let ds = dataset(&e, "lengths", &content).await;
    // The exact count, through the tokenizer library's own encode on the model's file.
    let tok = tokenizer::ModelTokenizer::from_file(test_support::tiny_model_dir().unwrap().join("tokenizer.json")).unwrap();
    let per_record: Vec<u64> = content
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["messages"].as_array().unwrap().iter().map(|m| tok.try_count_exact(m["content"].as_str().unwrap()).unwrap() as u64).sum()
        })
        .collect();

    // This server has no tokenizer of its own: the stored statistics have no tokens, and a
    // recount must name a model.
    let stored = e.app.get(&format!("/api/v1/datasets/{ds}/versions/1/stats"), &e.admin).await;
    assert!(stored.expect(200)["stats"]["tokens"].is_null(), "{}", stored.body);
    let refused = e.app.get(&format!("/api/v1/datasets/{ds}/versions/1/stats?max_tokens=20"), &e.admin).await;
    assert_eq!(refused.expect(422)["error"]["param"], "tokenizer");
    let limit = 20;
    let stats = e.app.get(&format!("/api/v1/datasets/{ds}/versions/1/stats?tokenizer={base}&max_tokens={limit}"), &e.admin).await;
    stats.expect(200);
    assert_eq!(stats.body["tokenizer"], base.as_str());
    let tokens = &stats.body["stats"]["tokens"];
    assert_eq!(tokens["total"], per_record.iter().sum::<u64>(), "{tokens}");
    assert_eq!(tokens["max_tokens"], limit);
    assert_eq!(tokens["over_max_tokens"], per_record.iter().filter(|&&n| n > limit).count() as u64, "{tokens}");
    // Asked again: the same figures (kept, not recounted).
    let again = e.app.get(&format!("/api/v1/datasets/{ds}/versions/1/stats?tokenizer={base}&max_tokens={limit}"), &e.admin).await;
    assert_eq!(again.expect(200)["stats"], stats.body["stats"]);
    let unknown = e.app.get(&format!("/api/v1/datasets/{ds}/versions/1/stats?tokenizer=bm_doesnotexist0000"), &e.admin).await;
    unknown.expect(404);

    // A recipe filters by tokens with the same tokenizer, and the new version records which.
    let recipe = json!({"version": 1, "tokenizer": base, "steps": [{"step": "filter", "max_tokens": limit}]});
    let started = e.app.post(&format!("/api/v1/datasets/{ds}/versions/1/preprocess"), &e.admin, json!({"recipe": recipe})).await;
    let op = started.expect(202)["id"].as_str().unwrap().to_string();
    let done = e.app.wait_for(&e.admin, &format!("/api/v1/datasets/{ds}/operations/{op}"), |b| b["status"] != "running", 60).await;
    assert_eq!(done["status"], "completed", "{done}");
    let kept = per_record.iter().filter(|&&n| n <= limit).count() as u64;
    assert!(kept > 0 && kept < 12, "the fixture should straddle the limit: {per_record:?}");
    assert_eq!(done["report"]["records_out"], kept, "{}", done["report"]);
    assert_eq!(done["report"]["steps"][0]["dropped_by"]["too_many_tokens"], 12 - kept);
    let v2 = e.app.get(&format!("/api/v1/datasets/{ds}/versions/2"), &e.admin).await;
    assert_eq!(v2.expect(200)["recipe"]["recipe"]["tokenizer"], base.as_str(), "{}", v2.body);
    // Without a tokenizer to count with, the recipe is refused before it starts.
    let no_tokenizer = json!({"recipe": {"version": 1, "steps": [{"step": "filter", "min_tokens": 3}]}});
    let refused = e.app.post(&format!("/api/v1/datasets/{ds}/versions/1/preprocess"), &e.admin, no_tokenizer).await;
    refused.expect(422);
    assert!(
        refused.body["error"]["message"].as_str().unwrap().contains("steps[0].min_tokens: token filters need a tokenizer"),
        "{}",
        refused.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_safetensors_archive_imports_and_is_then_deleted() {
    let Some(e) = env(test_support::Backend::Sqlite).await else { return };
    let tiny = test_support::tiny_model_dir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let archive = scratch.path().join("tiny-model.tar.gz");
    test_support::tar_gz(&tiny, &archive);
    let bytes = std::fs::read(&archive).unwrap();
    let archive_id = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let upload = |name: &str, filename: &str, content: Vec<u8>| {
        let fields = vec![("name".to_string(), name.to_string())];
        e.app.call_with(
            "POST",
            "/api/v1/base-models/import/archive",
            &e.admin,
            common::Payload::Multipart { fields, filename: filename.into(), content },
        )
    };

    let started = upload("tiny from archive", "tiny-model.tar.gz", bytes.clone()).await;
    let id = started.expect(202)["id"].as_str().unwrap().to_string();
    assert_eq!(started.body["source_kind"], "upload", "{}", started.body);
    assert_eq!(started.body["source_ref"], format!("sha256:{archive_id}/tiny-model.tar.gz"));
    let ready = e.app.wait_for(&e.admin, &format!("/api/v1/base-models/{id}"), |b| b["status"] != "importing", 120).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!((ready["spec"]["layers"].as_u64(), ready["spec"]["hidden_size"].as_u64()), (Some(2), Some(32)), "{ready}");
    assert!(ready["files"].as_u64().unwrap() >= 4, "{ready}");
    // A job can train on it like on any import.
    let ds = dataset(&e, "archive-sums", &chat_jsonl(8)).await;
    e.app
        .post("/api/v1/estimates", &e.admin, json!({"base_model_id": id, "dataset_id": ds, "config": job_body(&id, &ds, 2)["config"]}))
        .await
        .expect(200);

    // A bad archive is accepted, then fails with the runtime's reason; either way the archive
    // leaves the blob store once its import ends.
    let bad = upload("escaping", "evil.tar", b"definitely not a tar file".to_vec()).await;
    let bad_id = bad.expect(202)["id"].as_str().unwrap().to_string();
    let failed = e.app.wait_for(&e.admin, &format!("/api/v1/base-models/{bad_id}"), |b| b["status"] != "importing", 120).await;
    assert_eq!(failed["status"], "failed");
    assert!(failed["error"].as_str().unwrap().contains("is not a tar or zip archive"), "{failed}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let held = e.app.db.blob_store().list().unwrap();
        if !held.contains(&archive_id) {
            break;
        }
        assert!(Instant::now() < deadline, "the uploaded archive is still stored");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Deleting: a viewer may not; the failed import goes at once; the ready one takes its files
    // out of the blob store (no job used it) and is gone.
    let (_, viewer) = e.app.user(&e.admin, "viewer@example.com", "viewer").await;
    assert_eq!(e.app.delete(&format!("/api/v1/base-models/{id}"), &viewer).await.code(), "permission_denied");
    e.app.delete(&format!("/api/v1/base-models/{bad_id}"), &e.admin).await.expect(204);
    let files_before = e.app.db.blob_store().list().unwrap().len();
    e.app.delete(&format!("/api/v1/base-models/{id}"), &e.admin).await.expect(204);
    e.app.get(&format!("/api/v1/base-models/{id}"), &e.admin).await.expect(404);
    let files_after = e.app.db.blob_store().list().unwrap().len();
    assert!(files_after + 4 <= files_before, "{files_before} -> {files_after}: the model's files should be gone");
    // A model a job trained on stays (lineage): 409.
    let used = import_tiny(&e).await;
    let job = e.app.post("/api/v1/jobs", &e.admin, job_body(&used, &ds, 2)).await.expect(202)["id"].as_str().unwrap().to_string();
    e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{job}"), job_ended, 120).await;
    let refused = e.app.delete(&format!("/api/v1/base-models/{used}"), &e.admin).await;
    assert_eq!(
        refused.expect(409)["error"]["message"].as_str().unwrap(),
        "the base model is used by 1 training job(s)",
        "{}",
        refused.body
    );
    // Form mistakes are named.
    let no_name = e
        .app
        .call_with(
            "POST",
            "/api/v1/base-models/import/archive",
            &e.admin,
            common::Payload::Multipart { fields: vec![], filename: "m.tar".into(), content: bytes.clone() },
        )
        .await;
    assert_eq!(no_name.expect(422)["error"]["param"], "name");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_left_running_by_a_stopped_server_is_stopped_and_done_again() {
    use std::os::unix::process::CommandExt;
    let Some(e) = env(test_support::Backend::Sqlite).await else { return };
    let me = e.app.get("/api/v1/me", &e.admin).await.expect(200).clone();
    let (org, user) = (me["organization"]["id"].as_str().unwrap().to_string(), me["user"]["id"].as_str().unwrap().to_string());
    // What a server killed mid-import leaves: the row `importing`, and the runtime still
    // running in the import's work directory (here a stand-in process naming it).
    let tiny = test_support::tiny_model_dir().unwrap();
    let now = services::now_ms();
    let row = database::base_models::BaseModelRow {
        id: "bm_0000000000000000000leftover".into(),
        organization_id: Some(org),
        name: "left importing".into(),
        source_kind: "directory".into(),
        source_ref: tiny.to_string_lossy().into_owned(),
        status: "importing".into(),
        error: None,
        catalog_repo_id: None,
        spec: None,
        parameters: None,
        license: None,
        chat_template: None,
        files: "[]".into(),
        size_bytes: 0,
        created_by: Some(user),
        created_at: now,
        updated_at: now,
    };
    let mut tx = e.app.services.db().begin_write().await.unwrap();
    database::base_models::insert(tx.conn(), &row).await.unwrap();
    tx.commit().await.unwrap();
    let workdir = e.app.services.settings().training.work_dir.join(format!("import-{}", row.id));
    std::fs::create_dir_all(&workdir).unwrap();
    let mut orphan = std::process::Command::new("sh").arg("-c").arg("sleep 300; true").arg(&workdir).process_group(0).spawn().unwrap();
    // Until it has exec'd, the child's command line is still this test's: wait for it.
    let needle = workdir.to_string_lossy().into_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read(format!("/proc/{}/cmdline", orphan.id())).is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle)) {
        assert!(Instant::now() < deadline, "the stand-in process did not start");
        std::thread::sleep(Duration::from_millis(10));
    }

    // The next start stops it, then imports again.
    e.app.services.ensure_builtin_model(None).await.unwrap();
    assert!(orphan.try_wait().unwrap().is_some(), "the orphaned import process is still running");
    let ready = e.app.wait_for(&e.admin, &format!("/api/v1/base-models/{}", row.id), |b| b["status"] != "importing", 120).await;
    assert_eq!(ready["status"], "ready", "{ready}");
}

/// Two jobs start at once on a base model not yet in the model cache: one materialization of
/// the cache directory at a time (a per-directory lock, a unique temporary name), so both read a
/// whole model and succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_jobs_on_an_uncached_model_both_train() {
    let Some(e) = env_with(test_support::Backend::Sqlite, |s| s.training.max_concurrent_jobs = 2).await else { return };
    let base = import_tiny(&e).await;
    let cache = e.app.services.settings().training.model_cache_dir.join(&base);
    assert!(!cache.exists(), "the model is not cached yet");
    let ds = dataset(&e, "sums", &chat_jsonl(8)).await;
    let jobs: Vec<String> = futures_util::future::join_all((0..2).map(|_| e.app.post("/api/v1/jobs", &e.admin, job_body(&base, &ds, 2))))
        .await
        .iter()
        .map(|a| a.expect(202)["id"].as_str().unwrap().to_string())
        .collect();
    for job in &jobs {
        let done = e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{job}"), job_ended, 300).await;
        assert_eq!(done["state"], "succeeded", "{done}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(cache.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "temporary copies left: {leftovers:?}");
}

/// The stored error message of job `id` once it has failed (read straight from the database:
/// reading the job through the API is itself an error when its stored data is damaged).
async fn failure_message(conn: &mut sqlx::AnyConnection, id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (state, message): (String, Option<String>) =
            sqlx::query_as("SELECT state, error_message FROM jobs WHERE id = $1").bind(id).fetch_one(&mut *conn).await.unwrap();
        if state == "failed" {
            return message.unwrap_or_default();
        }
        assert!(Instant::now() < deadline, "job {id} did not fail: it is {state}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A stored configuration, or a base model's stored file manifest, that does not parse fails
/// the job with an error naming what when the job is claimed, never a default (an empty model).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_stored_configuration_does_not_parse_fails_naming_it() {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    for backend in test_support::backends() {
        let Some(e) = env(backend).await else { return };
        let base = import_tiny(&e).await;
        let ds = dataset(&e, "sums", &chat_jsonl(24)).await;
        // The first job holds the only slot while the second, queued, is damaged.
        let first = e.app.post("/api/v1/jobs", &e.admin, job_body(&base, &ds, 400)).await.expect(202)["id"].as_str().unwrap().to_string();
        e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{first}"), |b| b["state"] == "running", 60).await;
        let second = e.app.post("/api/v1/jobs", &e.admin, job_body(&base, &ds, 4)).await.expect(202)["id"].as_str().unwrap().to_string();
        let mut conn = sqlx::AnyConnection::connect(&e.app.db.url).await.unwrap();
        let damaged = r#"{"schema_version": 2, "hyperparameters": {"epochs": "two"}}"#;
        sqlx::query("UPDATE jobs SET config = $1 WHERE id = $2").bind(damaged).bind(&second).execute(&mut conn).await.unwrap();
        // A third job, whose base model's stored file manifest is damaged after the submission.
        let third = e.app.post("/api/v1/jobs", &e.admin, job_body(&base, &ds, 4)).await.expect(202)["id"].as_str().unwrap().to_string();
        sqlx::query("UPDATE base_models SET files = $1 WHERE id = $2")
            .bind("[{\"path\": 3}]")
            .bind(&base)
            .execute(&mut conn)
            .await
            .unwrap();
        e.app.post(&format!("/api/v1/jobs/{first}/cancel"), &e.admin, json!({})).await.expect(200);
        let message = failure_message(&mut conn, &second).await;
        assert!(message.contains(&second) && message.contains("stored configuration") && message.contains("epochs"), "{message}");
        // Reading it is an error too, not a job shown with a default configuration.
        assert_eq!(e.app.get(&format!("/api/v1/jobs/{second}"), &e.admin).await.status, 500);
        let message = failure_message(&mut conn, &third).await;
        assert!(message.contains(&base) && message.contains("stored file manifest does not parse"), "{message}");
    }
}

/// An error in the executor's supervision loop (here: recording a checkpoint fails, its table
/// gone) kills the runtime's whole process group before the job is marked failed: at the moment
/// the job reads `failed`, no process of its work directory is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervision_error_kills_the_runtime_before_the_job_fails() {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    for backend in test_support::backends() {
        let Some(e) = env(backend).await else { return };
        let base = import_tiny(&e).await;
        let ds = dataset(&e, "sums", &chat_jsonl(24)).await;
        let job = e.app.post("/api/v1/jobs", &e.admin, job_body(&base, &ds, 400)).await.expect(202)["id"].as_str().unwrap().to_string();
        e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{job}"), |b| b["current_step"].as_i64().unwrap_or(0) >= 1, 120).await;
        let workdir = e.app.services.settings().training.work_dir.join(&job);
        assert!(!executors::local::processes_in(&workdir).is_empty(), "the runtime runs in {}", workdir.display());
        let mut conn = sqlx::AnyConnection::connect(&e.app.db.url).await.unwrap();
        sqlx::query("ALTER TABLE job_checkpoints RENAME TO job_checkpoints_gone").execute(&mut conn).await.unwrap();
        let message = failure_message(&mut conn, &job).await;
        let left = executors::local::processes_in(&workdir);
        sqlx::query("ALTER TABLE job_checkpoints_gone RENAME TO job_checkpoints").execute(&mut conn).await.unwrap();
        assert!(left.is_empty(), "processes of the failed job still run: {left:?} ({message})");
        // On SQLite the renaming holds the database's write lock for a moment, and a write of
        // the supervision loop that meets it fails "database is locked": a supervision error too.
        assert!(message.contains("job_checkpoints") || message.contains("database is locked"), "{message}");
    }
}

/// A run that finished but whose ending cannot be recorded (here: its speed's table gone, so
/// the transaction that stores the model rolls back) fails, saying why, instead of staying
/// `running` with nothing behind it; no model is listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_ending_cannot_be_recorded_fails_saying_why() {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    for backend in test_support::backends() {
        let Some(e) = env(backend).await else { return };
        let base = import_tiny(&e).await;
        let ds = dataset(&e, "sums", &chat_jsonl(24)).await;
        let job = e.app.post("/api/v1/jobs", &e.admin, job_body(&base, &ds, 30)).await.expect(202)["id"].as_str().unwrap().to_string();
        e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{job}"), |b| b["current_step"].as_i64().unwrap_or(0) >= 1, 120).await;
        let mut conn = sqlx::AnyConnection::connect(&e.app.db.url).await.unwrap();
        sqlx::query("ALTER TABLE throughput_measurements RENAME TO throughput_gone").execute(&mut conn).await.unwrap();
        let message = failure_message(&mut conn, &job).await;
        sqlx::query("ALTER TABLE throughput_gone RENAME TO throughput_measurements").execute(&mut conn).await.unwrap();
        // On SQLite a write of the supervision loop can meet the renaming's lock first (see
        // `a_supervision_error_kills_the_runtime_before_the_job_fails`): the job fails then too.
        assert!(message.contains("could not record how the run ended") || message.contains("database is locked"), "{message}");
        let done = e.app.get(&format!("/api/v1/jobs/{job}"), &e.admin).await;
        assert_eq!((done.body["state"].as_str(), &done.body["model_id"]), (Some("failed"), &Value::Null), "{}", done.body);
        let models = e.app.get("/api/v1/models", &e.admin).await;
        assert_eq!(models.expect(200)["data"].as_array().map(Vec::len), Some(0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_saves_a_checkpoint_and_resume_finishes_the_job() {
    for backend in test_support::backends() {
        let Some(e) = env(backend).await else { return };
        let base = import_tiny(&e).await;
        let ds = dataset(&e, "sums", &chat_jsonl(24)).await;
        let job = e.app.post("/api/v1/jobs", &e.admin, job_body(&base, &ds, 400)).await.expect(202)["id"].as_str().unwrap().to_string();
        e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{job}"), |b| b["current_step"].as_i64().unwrap_or(0) >= 3, 120).await;
        let c = e.app.post(&format!("/api/v1/jobs/{job}/cancel"), &e.admin, json!({})).await;
        assert_eq!(c.expect(200)["state"], "cancelling");
        let done = e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{job}"), job_ended, 120).await;
        assert_eq!(done["state"], "cancelled", "{done}");
        let stopped_at = done["current_step"].as_i64().unwrap();
        assert!(stopped_at < 400);
        let checkpoints = e.app.get(&format!("/api/v1/jobs/{job}/checkpoints"), &e.admin).await;
        let last = checkpoints.body["data"].as_array().unwrap().last().cloned().expect("a checkpoint");
        assert_eq!(last["step"].as_i64().unwrap(), stopped_at, "the stop saved the last completed step");
        // Checkpoints page for real: oldest first, `after` a checkpoint id.
        let base = format!("/api/v1/jobs/{job}/checkpoints");
        let first = e.app.get(&format!("{base}?limit=1"), &e.admin).await.expect(200).clone();
        assert_eq!((first["data"].as_array().unwrap().len(), first["has_more"].as_bool()), (1, Some(true)), "{first}");
        let after = first["data"][0]["id"].as_str().unwrap();
        let second = e.app.get(&format!("{base}?limit=1&after={after}"), &e.admin).await.expect(200).clone();
        assert!(second["data"][0]["step"].as_i64() > first["data"][0]["step"].as_i64(), "{second}");
        assert_eq!(second["has_more"], false, "keep_checkpoints is 2: {second}");
        let bad = e.app.get(&format!("{base}?after=ckpt_nope"), &e.admin).await;
        assert_eq!(
            (bad.status.as_u16(), bad.code(), bad.body["error"]["param"].as_str()),
            (400, "validation_failed", Some("after")),
            "{}",
            bad.body
        );
        assert_eq!(e.app.post(&format!("/api/v1/jobs/{job}/cancel"), &e.admin, json!({})).await.status, 409);

        let r = e.app.post(&format!("/api/v1/jobs/{job}/resume"), &e.admin, json!({})).await;
        assert_eq!(r.expect(202)["state"], "queued");
        e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{job}"), |b| b["state"] == "running", 60).await;
        let done = e
            .app
            .wait_for(
                &e.admin,
                &format!("/api/v1/jobs/{job}"),
                |b| b["current_step"].as_i64().unwrap_or(0) > stopped_at + 2 || job_ended(b),
                120,
            )
            .await;
        assert!(!job_ended(&done) || done["state"] == "succeeded", "{done}");
        let events = e.app.get(&format!("/api/v1/jobs/{job}/events?stream=false&kinds=started&limit=10"), &e.admin).await;
        let resumed = events.body["data"].as_array().unwrap().last().unwrap()["data"]["resumed_from_step"].as_i64();
        assert_eq!(resumed, Some(stopped_at), "{}", events.body);
        e.app.post(&format!("/api/v1/jobs/{job}/cancel"), &e.admin, json!({})).await.expect(200);
        e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{job}"), job_ended, 120).await;

        // One way a job changes state: every state event has its audit record, in the same order
        // (queued, running, cancelling, cancelled, queued, running, cancelling, cancelled).
        let states = e.app.get(&format!("/api/v1/jobs/{job}/events?stream=false&kinds=state&limit=100"), &e.admin).await;
        let states: Vec<String> =
            states.body["data"].as_array().unwrap().iter().map(|e| e["data"]["state"].as_str().unwrap().to_string()).collect();
        let audits = e.app.get(&format!("/api/v1/audit-events?target_id={job}&limit=100"), &e.admin).await;
        let mut audits: Vec<Value> = audits.expect(200)["data"].as_array().unwrap().clone();
        audits.reverse(); // newest first → chain order
        let audited: Vec<String> = audits.iter().filter_map(|a| a["details"]["to"].as_str().map(str::to_string)).collect();
        assert_eq!(states[0], "queued", "{states:?}");
        assert_eq!(audited, states[1..].to_vec(), "{backend:?}: each state change after the submission is audited with it");
        // queued, running, cancelling, cancelled, queued, running, cancelling, cancelled — with a
        // running → queued restart wherever a runtime crashed on a loaded machine (its log says why).
        let logs = e.app.get(&format!("/api/v1/jobs/{job}/events?stream=false&kinds=log&limit=100"), &e.admin).await;
        let without_restarts: Vec<&String> =
            states.iter().enumerate().filter(|(i, s)| !(*s == "queued" && *i > 0 && states[i - 1] == "running")).map(|(_, s)| s).collect();
        let expected = ["queued", "running", "cancelling", "cancelled", "queued", "running", "cancelling", "cancelled"];
        let without_restarts: Vec<&str> = without_restarts.iter().map(|s| s.as_str()).collect::<Vec<_>>();
        let collapsed: Vec<&str> =
            without_restarts.iter().enumerate().filter(|(i, s)| *i == 0 || without_restarts[i - 1] != **s).map(|(_, s)| *s).collect();
        assert_eq!(collapsed, expected, "{backend:?}: {states:?}\nlogs: {}", logs.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_runtime_restarts_from_its_checkpoint_and_finishes() {
    let Some(e) = env(test_support::backends()[0]).await else { return };
    let base = import_tiny(&e).await;
    let ds = dataset(&e, "sums", &chat_jsonl(24)).await;
    let mut body = job_body(&base, &ds, 1000);
    body["max_restarts"] = json!(1);
    body["config"]["hyperparameters"]["checkpoint_every_steps"] = json!(10);
    let job = e.app.post("/api/v1/jobs", &e.admin, body).await.expect(202)["id"].as_str().unwrap().to_string();
    e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{job}/checkpoints"), |b| !b["data"].as_array().unwrap().is_empty(), 120).await;
    let pid = {
        let mut conn = e.app.services.db().read().await.unwrap();
        database::jobs::get_any(&mut conn, &job).await.unwrap().runner_pid.expect("a running runtime")
    };
    let killed = std::process::Command::new("kill").args(["-s", "KILL", "--", &format!("-{pid}")]).status().unwrap();
    assert!(killed.success(), "the runtime was still running");
    let done = e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{job}"), job_ended, 180).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["restarts"], 1, "{done}");
    let started = e.app.get(&format!("/api/v1/jobs/{job}/events?stream=false&kinds=started"), &e.admin).await;
    let started = started.body["data"].as_array().unwrap().clone();
    assert_eq!(started.len(), 2);
    assert!(started[1]["data"]["resumed_from_step"].as_i64().unwrap() >= 2, "{started:?}");

    // The same job without the crash ends with the same loss: the resume is exact.
    let mut twin = job_body(&base, &ds, 1000);
    twin["config"]["hyperparameters"]["checkpoint_every_steps"] = json!(10);
    let twin = e.app.post("/api/v1/jobs", &e.admin, twin).await.expect(202)["id"].as_str().unwrap().to_string();
    let twin = e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{twin}"), job_ended, 180).await;
    let (a, b) = (done["latest_loss"].as_f64().unwrap(), twin["latest_loss"].as_f64().unwrap());
    assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "final loss {a} after a crash vs {b} without");

    // With no restarts left, a crash fails the job with the tail of the runtime's stderr.
    let mut fragile = job_body(&base, &ds, 1000);
    fragile["max_restarts"] = json!(0);
    let fragile = e.app.post("/api/v1/jobs", &e.admin, fragile).await.expect(202)["id"].as_str().unwrap().to_string();
    e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{fragile}"), |b| b["current_step"].as_i64().unwrap_or(0) >= 2, 120).await;
    let pid = {
        let mut conn = e.app.services.db().read().await.unwrap();
        database::jobs::get_any(&mut conn, &fragile).await.unwrap().runner_pid.expect("a running runtime")
    };
    std::process::Command::new("kill").args(["-s", "KILL", "--", &format!("-{pid}")]).status().unwrap();
    let failed = e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{fragile}"), job_ended, 120).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(failed["error"]["code"], "runtime_crashed", "{failed}");
    assert!(failed["error"]["message"].as_str().unwrap().contains("signal 9"), "{failed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_does_not_fit_the_device_is_refused_with_its_estimate() {
    let Some(e) = env_with(test_support::backends()[0], |s| s.training.device_memory_bytes = 64 << 20).await else { return };
    let base = import_tiny(&e).await;
    let ds = dataset(&e, "sums", &chat_jsonl(8)).await;
    let a = e.app.post("/api/v1/jobs", &e.admin, job_body(&base, &ds, 4)).await;
    assert_eq!((a.status.as_u16(), a.code()), (422, "model_does_not_fit"), "{}", a.body);
    let message = a.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("GiB") && message.contains("QLoRA") && message.contains("gradient_checkpointing"), "{message}");
    assert!(e.app.get("/api/v1/jobs", &e.admin).await.body["data"].as_array().unwrap().is_empty(), "nothing was queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_submissions_are_refused_with_the_field_and_the_reason() {
    let Some(e) = env(test_support::backends()[0]).await else { return };
    let base = import_tiny(&e).await;
    let ds = dataset(&e, "sums", &chat_jsonl(8)).await;
    let post = |body: Value| e.app.post("/api/v1/jobs", &e.admin, body);

    let mut neg = job_body(&base, &ds, 4);
    neg["config"]["hyperparameters"]["learning_rate"] = json!(-0.001);
    let a = post(neg).await;
    assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (400, Some("hyperparameters.learning_rate")), "{}", a.body);

    let mut rank0 = job_body(&base, &ds, 4);
    rank0["config"]["method"]["lora"]["rank"] = json!(0);
    assert_eq!(post(rank0).await.body["error"]["param"], "method.lora.rank");

    // A chat template that cannot label the dataset is refused at submission, naming the record.
    let system: String = (0..3)
        .map(|i| {
            let messages = if i == 2 {
                json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hi."}])
            } else {
                json!([{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hi."}])
            };
            json!({ "messages": messages }).to_string() + "\n"
        })
        .collect();
    let with_system = dataset(&e, "with-system", &system).await;
    let mut gemma = job_body(&base, &with_system, 4);
    gemma["chat_template"] = json!("gemma");
    let a = post(gemma).await;
    assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (422, Some("dataset_id")), "{}", a.body);
    assert!(a.body["error"]["message"].as_str().unwrap().contains("record 2"), "{}", a.body);

    // max_seq_length defaults to auto: resolved at submission from the rendered lengths, to a
    // multiple of 64, and said in the job's log.
    let mut auto = job_body(&base, &ds, 4);
    auto["config"]["data"].as_object_mut().unwrap().remove("max_seq_length");
    let job = post(auto).await;
    let resolved = job.expect(202)["config"]["data"]["max_seq_length"].as_u64().expect("a number");
    assert!(resolved % 64 == 0 && (64..=256).contains(&resolved), "{resolved}");
    let id = job.id();
    let logs = e.app.get(&format!("/api/v1/jobs/{id}/events?stream=false&kinds=log&limit=10"), &e.admin).await;
    assert!(logs.body.to_string().contains(&format!("max_seq_length auto: {resolved} tokens")), "{}", logs.body);
    e.app.post(&format!("/api/v1/jobs/{id}/cancel"), &e.admin, json!({})).await;

    let mut unknown = job_body(&base, &ds, 4);
    unknown["config"]["hyperparameters"]["learnin_rate"] = json!(0.1);
    let a = post(unknown).await;
    assert_eq!(a.status, 400);
    assert!(a.body["error"]["message"].as_str().unwrap().contains("learnin_rate"), "{}", a.body);

    let text = dataset(&e, "raw", "{\"text\": \"just text\"}\n").await;
    let a = post(job_body(&base, &text, 4)).await;
    assert_eq!((a.status.as_u16(), a.code()), (422, "dataset_not_usable"), "{}", a.body);
    assert!(a.body["error"]["message"].as_str().unwrap().contains("'sft'"));

    let bad = dataset(&e, "broken", "{\"messages\": [{\"role\": \"user\"}]}\nnot json\n").await;
    let a = post(job_body(&base, &bad, 4)).await;
    assert_eq!((a.status.as_u16(), a.code()), (422, "dataset_not_usable"), "{}", a.body);

    let a = post(job_body("bm_000000000000000000000000", &ds, 4)).await;
    assert_eq!(a.status, 404);

    let mut long = job_body(&base, &ds, 4);
    long["config"]["data"]["max_seq_length"] = json!(100_000);
    let a = post(long).await;
    assert_eq!(a.body["error"]["param"], "data.max_seq_length", "{}", a.body);
    assert!(a.body["error"]["message"].as_str().unwrap().contains("512"));

    // Estimates say when a run fits no device.
    let est = e.app.post("/api/v1/estimates", &e.admin, json!({"catalog_repo_id": "meta-llama/Llama-3.1-70B-Instruct", "dataset_tokens": 1000000, "config": {"method": {"kind": "full"}}})).await;
    let est = est.expect(200);
    assert_eq!(est["selected"]["fits"], false);
    assert!(est["devices"].as_array().unwrap().iter().all(|d| d["fits"] == false));
    let qlora = e.app.post("/api/v1/estimates", &e.admin, json!({"catalog_repo_id": "meta-llama/Llama-2-7b-hf", "device_type": "T4", "config": {"method": {"kind": "qlora"}, "data": {"max_seq_length": 512}, "hyperparameters": {"micro_batch_size": 1, "gradient_checkpointing": true}}})).await;
    assert_eq!(qlora.expect(200)["selected"]["fits"], true, "{}", qlora.body);

    // `auto` micro-batch and checkpointing: the job stores what they chose and says so.
    let mut auto = job_body(&base, &ds, 2);
    auto["config"]["hyperparameters"]["micro_batch_size"] = json!("auto");
    auto["config"]["hyperparameters"]["gradient_checkpointing"] = json!("auto");
    let job = post(auto).await.expect(202).clone();
    let h = &job["config"]["hyperparameters"];
    assert!(h["micro_batch_size"].as_u64().is_some_and(|n| n >= 1) && h["gradient_checkpointing"] == false, "{job}");
    let id = job["id"].as_str().unwrap();
    let logs = e.app.get(&format!("/api/v1/jobs/{id}/events?stream=false&kinds=log&limit=10"), &e.admin).await;
    let said = format!("micro_batch_size auto: {}, gradient_checkpointing auto: off", h["micro_batch_size"]);
    assert!(logs.body.to_string().contains(&said), "{}", logs.body);
    e.app.post(&format!("/api/v1/jobs/{id}/cancel"), &e.admin, json!({})).await.expect(200);

    // A viewer may look but not train; another organization sees nothing.
    let (_, viewer) = e.app.user(&e.admin, "viewer@example.com", "viewer").await;
    assert_eq!(e.app.post("/api/v1/jobs", &viewer, job_body(&base, &ds, 4)).await.code(), "permission_denied");
    let mut unknown_template = job_body(&base, &ds, 2);
    unknown_template["chat_template"] = json!("nope");
    let a = post(unknown_template).await;
    assert_eq!(a.body["error"]["param"], "chat_template", "{}", a.body);
    assert!(a.body["error"]["message"].as_str().unwrap().contains("llama3"), "{}", a.body);
    // A built-in template chosen by name trains instead of the model's own.
    let mut named = job_body(&base, &ds, 2);
    named["chat_template"] = json!("chatml");
    // SmolLM2's template adds a default system prompt: longer rows.
    named["config"]["data"]["max_seq_length"] = json!(256);
    let job = post(named).await.expect(202).clone();
    assert_eq!(job["chat_template"], "chatml");
    let job = job["id"].as_str().unwrap().to_string();
    assert_eq!(e.app.get(&format!("/api/v1/jobs/{job}"), &viewer).await.status, 200);
    let (_, other) = e.app.other_org(&e.admin, "Other").await;
    assert_eq!(e.app.get(&format!("/api/v1/jobs/{job}"), &other).await.status, 404);
    assert_eq!(e.app.get(&format!("/api/v1/base-models/{base}"), &other).await.status, 404);
    let done = e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{job}"), job_ended, 120).await;
    assert_eq!(done["state"], "succeeded", "{done}");
}

/// A stand-in for the Hugging Face Hub on loopback, serving a model directory in the Hub's
/// layout: the revision API (`sha`, `siblings` with sizes, git blob ids and LFS SHA-256s) and
/// `resolve/<commit>/<file>` with range requests. The first download of each weights file is
/// cut off halfway (the client must resume with a range request); with `corrupt`, the served
/// config.json differs from its listed checksum.
struct FakeHub {
    url: String,
    ranges: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

async fn fake_hub(dir: std::path::PathBuf, corrupt: bool) -> FakeHub {
    use axum::extract::{Path as P, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use sha2::Digest;
    type Shared = (std::path::PathBuf, bool, std::sync::Arc<std::sync::Mutex<Vec<String>>>, std::sync::Arc<std::sync::Mutex<Vec<String>>>);
    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    async fn revision(State((dir, _, _, _)): State<Shared>, P((_owner, _name, _rev)): P<(String, String, String)>) -> impl IntoResponse {
        let mut siblings = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).unwrap();
            if name.ends_with(".safetensors") {
                siblings
                    .push(json!({"rfilename": name, "lfs": {"sha256": hex::encode(sha2::Sha256::digest(&bytes)), "size": bytes.len()}}));
            } else {
                let mut h = sha1::Sha1::new();
                h.update(format!("blob {}\0", bytes.len()).as_bytes());
                h.update(&bytes);
                siblings.push(json!({"rfilename": name, "size": bytes.len(), "blobId": hex::encode(h.finalize())}));
            }
        }
        siblings.push(json!({"rfilename": "README.md", "size": 3}));
        axum::Json(json!({"sha": COMMIT, "siblings": siblings}))
    }

    async fn resolve(
        State((dir, corrupt, ranges, cut)): State<Shared>,
        P((_owner, _name, commit, file)): P<(String, String, String, String)>,
        headers: HeaderMap,
    ) -> axum::response::Response {
        if commit != COMMIT {
            return StatusCode::NOT_FOUND.into_response();
        }
        let Ok(mut bytes) = std::fs::read(dir.join(&file)) else { return StatusCode::NOT_FOUND.into_response() };
        if corrupt && file == "config.json" {
            // Same size, different bytes: only the checksum can tell.
            bytes[0] ^= 0x20;
        }
        if let Some(range) = headers.get("range").and_then(|r| r.to_str().ok()) {
            ranges.lock().unwrap().push(format!("{file} {range}"));
            let start: usize = range.trim_start_matches("bytes=").trim_end_matches('-').parse().unwrap();
            return (StatusCode::PARTIAL_CONTENT, bytes[start..].to_vec()).into_response();
        }
        let first_time = { !cut.lock().unwrap().contains(&file) };
        if file.ends_with(".safetensors") && first_time {
            cut.lock().unwrap().push(file.clone());
            // Half the bytes, then the connection breaks.
            let half = bytes[..bytes.len() / 2].to_vec();
            let total = bytes.len();
            use futures_util::StreamExt;
            let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(half)]).chain(futures_util::stream::once(async {
                // Let the first half reach the client before the connection breaks.
                tokio::time::sleep(Duration::from_millis(300)).await;
                Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut"))
            }));
            return ([("content-length", total.to_string())], axum::body::Body::from_stream(stream)).into_response();
        }
        bytes.into_response()
    }

    let ranges = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let state: Shared = (dir, corrupt, ranges.clone(), std::sync::Arc::new(std::sync::Mutex::new(Vec::new())));
    let app = axum::Router::new()
        .route("/api/models/{owner}/{name}/revision/{rev}", axum::routing::get(revision))
        .route("/{owner}/{name}/resolve/{commit}/{file}", axum::routing::get(resolve))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    FakeHub { url, ranges }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_imports_from_the_hub_pinned_resumed_and_checksummed() {
    let Some(runtime) = test_support::runtime_command() else { return };
    let tiny = test_support::tiny_model_dir().unwrap();
    for corrupt in [false, true] {
        let hub = fake_hub(tiny.clone(), corrupt).await;
        let dirs = tempfile::tempdir().unwrap();
        let mut settings = Settings::default();
        settings.training.runtime = Some(runtime.clone());
        settings.training.work_dir = dirs.path().join("work");
        settings.training.model_cache_dir = dirs.path().join("models");
        settings.training.hub_base_url = hub.url.clone();
        let app = TestApp::with_settings(test_support::backends()[0], settings).await;
        let (_, admin) = app.bootstrap().await;
        let a = app
            .post("/api/v1/base-models/import", &admin, json!({"name": "tiny", "source": {"kind": "hub", "repo_id": "tunery/tiny-llama"}}))
            .await;
        let id = a.expect(202)["id"].as_str().unwrap().to_string();
        let done = app.wait_for(&admin, &format!("/api/v1/base-models/{id}"), |b| b["status"] != "importing", 120).await;
        if corrupt {
            assert_eq!(done["status"], "failed", "{done}");
            assert!(done["error"].as_str().unwrap().contains("config.json: git blob"), "{done}");
            continue;
        }
        assert_eq!(done["status"], "ready", "{done}");
        assert_eq!(done["spec"]["layers"], 2);
        let ranges = hub.ranges.lock().unwrap().clone();
        assert!(ranges.iter().any(|r| r.starts_with("model.safetensors bytes=") && !r.ends_with("=0-")), "no resumed download: {ranges:?}");
        let mut conn = app.services.db().read().await.unwrap();
        let row = database::base_models::get_any(&mut conn, &id).await.unwrap();
        assert_eq!(row.source_ref, "tunery/tiny-llama@0123456789abcdef0123456789abcdef01234567", "the revision is pinned to its commit");
        assert!(!row.files.contains("README.md"), "only model files are fetched");
        assert!(
            !dirs.path().join("work/hub-cache/tunery/tiny-llama").join("0123456789abcdef0123456789abcdef01234567").exists(),
            "the download cache is removed"
        );
    }
    let app = TestApp::new(test_support::backends()[0]).await;
    let (_, admin) = app.bootstrap().await;
    let a = app.post("/api/v1/base-models/import", &admin, json!({"name": "x", "source": {"kind": "hub", "repo_id": "../etc"}})).await;
    assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (400, Some("source.repo_id")), "{}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_data_parallel_over_two_cpu_processes() {
    let Some(e) = env_with(test_support::backends()[0], |s| s.training.devices = 2).await else { return };
    let base = import_tiny(&e).await;
    let ds = dataset(&e, "sums", &chat_jsonl(24)).await;
    let job = e.app.post("/api/v1/jobs", &e.admin, job_body(&base, &ds, 4)).await.expect(202)["id"].as_str().unwrap().to_string();
    let done = e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{job}"), job_ended, 180).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let started = e.app.get(&format!("/api/v1/jobs/{job}/events?stream=false&kinds=started"), &e.admin).await;
    assert_eq!(started.body["data"][0]["data"]["world_size"], 2, "{}", started.body);
    let progress = e.app.get(&format!("/api/v1/jobs/{job}/events?stream=false&kinds=progress"), &e.admin).await;
    assert_eq!(progress.body["data"].as_array().unwrap().len(), 4, "rank 0 alone reports");

    // ZeRO-3: the two ranks shard the model; the estimate divides the weights too.
    let mut sharded = job_body(&base, &ds, 2);
    sharded["config"]["hyperparameters"]["zero_stage"] = json!(3);
    let replicated_estimate =
        e.app.post("/api/v1/estimates", &e.admin, json!({"base_model_id": base, "config": job_body(&base, &ds, 2)["config"]})).await;
    let sharded_estimate = e.app.post("/api/v1/estimates", &e.admin, json!({"base_model_id": base, "config": sharded["config"]})).await;
    let weights = |a: &common::Answer| a.body["memory"]["weights_bytes"].as_f64().unwrap();
    assert!(weights(&sharded_estimate) < weights(&replicated_estimate), "{} vs {}", sharded_estimate.body, replicated_estimate.body);
    let job = e.app.post("/api/v1/jobs", &e.admin, sharded).await.expect(202)["id"].as_str().unwrap().to_string();
    let done = e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{job}"), job_ended, 180).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let logs = e.app.get(&format!("/api/v1/jobs/{job}/events?stream=false&kinds=log"), &e.admin).await;
    assert!(logs.body.to_string().contains("sharded over 2 ranks"), "{}", logs.body);
    // QLoRA cannot be sharded: refused at submit, naming the field.
    let mut qlora = job_body(&base, &ds, 2);
    qlora["config"]["method"]["kind"] = json!("qlora");
    qlora["config"]["hyperparameters"]["zero_stage"] = json!(2);
    let refused = e.app.post("/api/v1/jobs", &e.admin, qlora).await;
    assert_eq!(refused.expect(422)["error"]["param"], "hyperparameters.zero_stage", "{}", refused.body);
}

/// An app whose administrator has a succeeded job made of rows (nothing runs): (app, token, job id).
async fn app_with_a_finished_job(backend: test_support::Backend) -> (TestApp, String, String) {
    let app = TestApp::with_settings(backend, common::settings_with_runtime()).await;
    let (user, admin) = app.bootstrap().await;
    let org = app.get("/api/v1/me", &admin).await.body["organization"]["id"].as_str().unwrap().to_string();
    let ds = app.upload_dataset(&admin, &[("name", "d")], "d.jsonl", chat_jsonl(2).as_bytes()).await.expect(201)["dataset"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, job, _) = common::insert_training_rows(&app, &org, &user, &ds).await;
    (app, admin, job)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_event_appends_get_distinct_sequence_numbers() {
    for backend in test_support::backends() {
        let (app, _, job) = app_with_a_finished_job(backend).await;
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let (db, job) = (app.services.db().clone(), job.clone());
                tokio::spawn(async move {
                    let mut tx = db.begin_write().await.unwrap();
                    let seq = database::jobs::append_event(tx.conn(), &job, "log", None, i, "{}").await.unwrap();
                    tx.commit().await.unwrap();
                    seq
                })
            })
            .collect();
        let mut seqs = Vec::new();
        for t in tasks {
            seqs.push(t.await.unwrap());
        }
        seqs.sort();
        assert_eq!(seqs, (1..=40).collect::<Vec<i64>>(), "{backend:?}");
    }
}

/// The monitor's charts stay light on a long job: 100,000 progress events answer as at most
/// 500 points per series (the asked-for maximum), step buckets averaged, the latest value last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_with_100k_metric_points_answers_each_series_downsampled() {
    const STEPS: i64 = 100_000;
    let loss = |step: i64| 10.0 / (step as f64).sqrt();
    for backend in test_support::backends() {
        let (app, admin, job) = app_with_a_finished_job(backend).await;
        // After the fixture's own events, in batches of one statement each.
        let mut tx = app.services.db().begin_write().await.unwrap();
        let first: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM job_events WHERE job_id = $1")
            .bind(&job)
            .fetch_one(&mut *tx.conn())
            .await
            .unwrap();
        for batch in (1..=STEPS).collect::<Vec<_>>().chunks(2000) {
            let rows: Vec<String> = batch
                .iter()
                .map(|&step| {
                    let data = json!({"event": "progress", "step": step, "loss": loss(step), "learning_rate": 1e-4, "tokens_per_second": 900.0 + (step % 200) as f64});
                    format!("('{job}', {}, 'progress', {step}, {step}, '{data}')", first + step - 1)
                })
                .collect();
            sqlx::query(&format!("INSERT INTO job_events (job_id, seq, kind, step, time, data) VALUES {}", rows.join(", ")))
                .execute(&mut *tx.conn())
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let answer = app.get(&format!("/api/v1/jobs/{job}/metrics?names=loss,learning_rate,tokens_per_second"), &admin).await;
        let series = answer.expect(200)["series"].as_array().unwrap().clone();
        assert!(answer.body.to_string().len() < 120_000, "{} bytes for three charts", answer.body.to_string().len());
        for s in &series {
            let points = s["points"].as_array().unwrap();
            assert!((400..=500).contains(&points.len()), "{}: {} points ({backend:?})", s["name"], points.len());
            let last = points.last().unwrap();
            assert_eq!(last["step"].as_i64(), Some(STEPS), "{}", s["name"]);
            if s["name"] == "loss" {
                assert!((last["value"].as_f64().unwrap() - loss(STEPS)).abs() < 1e-12, "the latest value is the last point");
                // Averages of a falling curve over step buckets fall too.
                let values: Vec<f64> = points.iter().map(|p| p["value"].as_f64().unwrap()).collect();
                assert!(values.windows(2).all(|w| w[1] < w[0]), "{values:?}");
                assert!(values[0] < loss(1) && values[0] > loss(400), "the first bucket averages its steps: {}", values[0]);
            }
        }
        let fine = app.get(&format!("/api/v1/jobs/{job}/metrics?names=loss&points=5000"), &admin).await;
        assert!(fine.expect(200)["series"][0]["points"].as_array().unwrap().len() <= 5000);
    }
}
