//! The scheduler in the server, with the real Python runtime on a tiny model and one CPU slot:
//! resource requests checked at submission, the queue ordered by priority with each job's
//! position and reason at `/api/v1/cluster` (another organization sees its jobs without ids),
//! a maximum duration enforced, and an urgent job preempting a spot job that saves a
//! checkpoint, waits, and resumes where it stopped. Both databases.

mod common;

use common::TestApp;
use serde_json::{json, Value};
use services::Settings;
use std::time::{Duration, Instant};

struct Env {
    app: TestApp,
    admin: String,
    base: String,
    dataset: String,
    _dirs: tempfile::TempDir,
}

/// One CPU slot; preemption allowed at once (no minimum run, no patience).
async fn env(backend: test_support::Backend) -> Option<Env> {
    let runtime = test_support::runtime_command()?;
    let dirs = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.training.runtime = Some(runtime);
    settings.training.work_dir = dirs.path().join("work");
    settings.training.model_cache_dir = dirs.path().join("models");
    settings.training.stop_grace_s = 30;
    settings.training.max_concurrent_jobs = 1;
    settings.scheduling.min_run_s = 0;
    settings.scheduling.preempt_after_wait_s = 0;
    let app = TestApp::with_settings(backend, settings).await;
    app.services.start_training().await.unwrap();
    let (_, admin) = app.bootstrap().await;
    let dir = test_support::tiny_model_dir().expect("tiny model");
    let a = app.post("/api/v1/base-models/import", &admin, json!({"name": "tiny", "source": {"kind": "directory", "path": dir}})).await;
    let base = a.expect(202)["id"].as_str().unwrap().to_string();
    wait_for(&app, &admin, &format!("/api/v1/base-models/{base}"), |b| b["status"] == "ready", 120).await;
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
    Some(Env { app, admin, base, dataset, _dirs: dirs })
}

async fn wait_for(app: &TestApp, token: &str, path: &str, done: impl Fn(&Value) -> bool, seconds: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let body = app.get(path, token).await.expect(200).clone();
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "timed out waiting on {path}: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn job(e: &Env, name: &str, steps: u64, resources: Value) -> Value {
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

fn terminal(b: &Value) -> bool {
    ["succeeded", "failed", "cancelled"].contains(&b["state"].as_str().unwrap_or(""))
}

async fn submit(e: &Env, token: &str, body: Value) -> String {
    e.app.post("/api/v1/jobs", token, body).await.expect(202)["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_checked_the_queue_is_ordered_and_explained_and_a_maximum_duration_stops_a_job() {
    for backend in test_support::backends() {
        let Some(e) = env(backend).await else { return };
        // Bad requests: the field and the reason.
        let cases = [
            (json!({"gpu_type": "H100"}), 422, "no node has GPUs of type H100"),
            (json!({"gpus": 2}), 422, "2 GPUs of any type"),
            (json!({"gpus": 0}), 400, "gpus"),
            (json!({"max_duration_s": -5}), 400, "max_duration_s"),
            (json!({"priority": "vip"}), 422, "unknown priority class 'vip'"),
        ];
        for (resources, status, says) in cases {
            let a = e.app.post("/api/v1/jobs", &e.admin, job(&e, "bad", 2, resources.clone())).await;
            assert_eq!(a.status.as_u16(), status, "{resources}: {}", a.body);
            assert!(a.body.to_string().contains(says), "{resources}: {}", a.body);
        }
        // A member may ask up to `high`; `urgent` is above their allowance.
        let (_, dev) = e.app.user(&e.admin, "dev@example.com", "researcher").await;
        let a = e.app.post("/api/v1/jobs", &dev, job(&e, "mine", 2, json!({"priority": "urgent"}))).await;
        assert_eq!(a.status.as_u16(), 403, "{}", a.body);
        assert!(a.body["error"]["message"].as_str().unwrap().contains("at most 'high'"), "{}", a.body);

        // One slot: a long job runs, then a normal and a high job wait — high first.
        let long = submit(&e, &e.admin, job(&e, "long", 400, json!({"max_duration_s": 8}))).await;
        wait_for(&e.app, &e.admin, &format!("/api/v1/jobs/{long}"), |b| b["state"] == "running", 60).await;
        let normal = submit(&e, &dev, job(&e, "normal", 2, json!({}))).await;
        let high = submit(&e, &dev, job(&e, "high", 2, json!({"priority": "high"}))).await;
        let cluster = e.app.get("/api/v1/cluster", &dev).await.expect(200).clone();
        assert_eq!(
            (cluster["policy"].as_str(), cluster["gpus"].as_u64(), cluster["free_gpus"].as_u64()),
            (Some("tunery"), Some(1), Some(0)),
            "{cluster}"
        );
        assert_eq!(cluster["nodes"][0]["gpu_type"], "cpu", "{cluster}");
        assert_eq!(cluster["running"][0]["job_id"].as_str(), Some(long.as_str()), "{cluster}");
        let queue: Vec<(&str, i64, &str)> = cluster["queue"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| (q["job_id"].as_str().unwrap(), q["position"].as_i64().unwrap(), q["wait"]["code"].as_str().unwrap()))
            .collect();
        assert_eq!(queue, vec![(high.as_str(), 1, "no_room"), (normal.as_str(), 2, "no_room")], "{cluster}");
        let waiting = e.app.get(&format!("/api/v1/jobs/{normal}"), &dev).await.expect(200).clone();
        assert_eq!((waiting["queue"]["position"].as_i64(), waiting["queue"]["of"].as_i64()), (Some(2), Some(2)), "{waiting}");
        assert_eq!(waiting["resources"]["priority"], "normal", "{waiting}");
        assert!(waiting["queue"]["wait"]["message"].as_str().unwrap().contains("needs 1 GPU(s)"), "{waiting}");
        // Another organization sees the queue's shape, not its jobs.
        let (_, other) = e.app.other_org(&e.admin, "Other").await;
        let theirs = e.app.get("/api/v1/cluster", &other).await.expect(200).clone();
        assert_eq!(theirs["queue"].as_array().unwrap().len(), 2, "{theirs}");
        assert!(theirs["queue"].as_array().unwrap().iter().all(|q| q["job_id"].is_null() && q["name"].is_null()), "{theirs}");
        assert!(theirs["running"][0]["job_id"].is_null(), "{theirs}");
        assert_eq!(e.app.get(&format!("/api/v1/jobs/{normal}"), &other).await.status.as_u16(), 404);

        // The long job uses up its 8 s and fails saying so; the queue then drains, high first.
        let done = wait_for(&e.app, &e.admin, &format!("/api/v1/jobs/{long}"), terminal, 120).await;
        assert_eq!((done["state"].as_str(), done["error"]["code"].as_str()), (Some("failed"), Some("max_duration_exceeded")), "{done}");
        for id in [&high, &normal] {
            let d = wait_for(&e.app, &dev, &format!("/api/v1/jobs/{id}"), terminal, 180).await;
            assert_eq!(d["state"], "succeeded", "{d}");
        }
        let started = |id: &str| {
            let id = id.to_string();
            let app = &e.app;
            let token = dev.clone();
            async move { app.get(&format!("/api/v1/jobs/{id}"), &token).await.expect(200)["started_at"].as_i64().unwrap() }
        };
        assert!(started(&high).await <= started(&normal).await, "the high-priority job started first");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_urgent_job_preempts_a_spot_job_which_checkpoints_waits_and_resumes_where_it_stopped() {
    for backend in test_support::backends() {
        let Some(e) = env(backend).await else { return };
        let spot = submit(&e, &e.admin, job(&e, "spot", 60, json!({"priority": "low", "preemptible": true}))).await;
        wait_for(&e.app, &e.admin, &format!("/api/v1/jobs/{spot}"), |b| b["current_step"].as_i64().unwrap_or(0) >= 3, 120).await;
        let urgent = submit(&e, &e.admin, job(&e, "urgent", 2, json!({"priority": "urgent"}))).await;

        // The spot job saves a checkpoint and goes back to the queue; the urgent one runs.
        let waiting = wait_for(&e.app, &e.admin, &format!("/api/v1/jobs/{spot}"), |b| b["preemptions"] == 1 || terminal(b), 120).await;
        assert!(!terminal(&waiting), "{waiting}");
        let stopped_at = e.app.get(&format!("/api/v1/jobs/{spot}/checkpoints"), &e.admin).await.expect(200)["data"]
            .as_array()
            .unwrap()
            .last()
            .expect("the preempted job saved a checkpoint")["step"]
            .as_i64()
            .unwrap();
        let done = wait_for(&e.app, &e.admin, &format!("/api/v1/jobs/{urgent}"), terminal, 120).await;
        assert_eq!(done["state"], "succeeded", "{done}");
        let done = wait_for(&e.app, &e.admin, &format!("/api/v1/jobs/{spot}"), terminal, 180).await;
        assert_eq!((done["state"].as_str(), done["preemptions"].as_i64()), (Some("succeeded"), Some(1)), "{done}");

        // It resumed from its checkpoint, after the urgent job finished.
        let events = e.app.get(&format!("/api/v1/jobs/{spot}/events?stream=false&kinds=started&limit=10"), &e.admin).await;
        let runs = events.body["data"].as_array().unwrap();
        assert_eq!(runs.len(), 2, "{}", events.body);
        assert_eq!(runs[1]["data"]["resumed_from_step"].as_i64(), Some(stopped_at), "{}", events.body);
        let urgent_done = e.app.get(&format!("/api/v1/jobs/{urgent}"), &e.admin).await.expect(200)["finished_at"].as_i64().unwrap();
        assert!(runs[1]["time_ms"].as_i64().unwrap() / 1000 >= urgent_done, "the spot job resumed after the urgent one ended");
        let states = e.app.get(&format!("/api/v1/jobs/{spot}/events?stream=false&kinds=state&limit=20"), &e.admin).await;
        let states: Vec<&str> = states.body["data"].as_array().unwrap().iter().map(|s| s["data"]["state"].as_str().unwrap()).collect();
        assert_eq!(states, ["queued", "running", "queued", "running", "succeeded"], "{backend:?}");
        // Its GPU-time: two runs, the first ended by the preemption; no run is left open.
        use sqlx::Connection;
        let mut conn = sqlx::AnyConnection::connect(&e.app.db.url).await.unwrap();
        let runs: Vec<(Option<String>,)> = sqlx::query_as("SELECT ended_because FROM job_runs WHERE job_id = $1 ORDER BY started_at")
            .bind(&spot)
            .fetch_all(&mut conn)
            .await
            .unwrap();
        assert_eq!(runs, vec![(Some("preempted".to_string()),), (Some("succeeded".to_string()),)]);
        let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM job_runs WHERE ended_at IS NULL").fetch_one(&mut conn).await.unwrap();
        assert_eq!(open, 0, "a job holds GPUs only while it runs");
        // The preemption is audited, naming the job it made room for.
        let audits = e.app.get(&format!("/api/v1/audit-events?target_id={spot}&action=job.preempt"), &e.admin).await;
        let audits = audits.expect(200)["data"].as_array().unwrap().clone();
        assert_eq!(audits.len(), 1, "{audits:?}");
        assert_eq!(audits[0]["details"]["for_job"].as_str(), Some(urgent.as_str()));
    }
}
