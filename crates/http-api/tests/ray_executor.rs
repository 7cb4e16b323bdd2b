//! The Ray executor against a real Ray head started on loopback (`ray[default]` from PyPI) with
//! one CPU slot: the cluster's node becomes the scheduler's; a tiny-model training job is
//! submitted through the Ray Jobs REST API and its events come back from the job's logs; an
//! urgent job preempts it on Ray (SIGTERM, checkpoint, back to the queue) and it resumes there
//! from its checkpoint; a cancel stops its Ray job. SQLite only: the executor does not touch the
//! database differently per backend, and one Ray journey is slow enough.

mod common;

use common::{cancel_and_wait, job_ended, last_checkpoint_step, queue_env, queue_job, queue_submit, runs_of, wait_resumed_past};
use serde_json::{json, Value};

/// A job's Ray status by its open run's id (the submission id), read from Ray itself.
async fn ray_status(address: &str, submission_id: &str) -> Value {
    let client = reqwest::Client::new();
    client.get(format!("{address}/api/jobs/{submission_id}")).send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_jobs_run_on_a_real_ray_cluster_with_events_preemption_and_cancel() {
    let Some(python) = test_support::ray::ray_python() else { return };
    if test_support::runtime_python().is_none() {
        return;
    }
    let head = test_support::ray::RayHead::start(&python, 1);
    let address = head.address.clone();
    let Some(e) = queue_env(test_support::Backend::Sqlite, |s| {
        s.scheduling.ray =
            Some(services::settings::RaySettings { address: address.clone(), runtime_python: None, runtime_dir: None, cpus_per_job: 1.0 });
    })
    .await
    else {
        return;
    };

    // The cluster's one node, with one CPU slot, is the scheduler's.
    let cluster = e.app.get("/api/v1/cluster", &e.admin).await.expect(200).clone();
    let nodes = cluster["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{cluster}");
    assert_eq!((nodes[0]["gpu_type"].as_str(), nodes[0]["gpus"].as_u64()), (Some("cpu"), Some(1)), "{cluster}");
    let node = nodes[0]["id"].as_str().unwrap().to_string();

    // A spot job runs on Ray; its progress comes back from the Ray job's logs.
    let spot = queue_submit(&e, &e.admin, queue_job(&e, "spot", 40, json!({"priority": "low", "preemptible": true}))).await;
    e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{spot}"), |b| b["current_step"].as_i64().unwrap_or(0) >= 3 || job_ended(b), 180).await;
    let first_run = runs_of(&e, &spot).await.remove(0);
    let status = ray_status(&head.address, &first_run).await;
    assert_eq!(status["status"], "RUNNING", "{status}");
    assert_eq!(status["metadata"]["tunery_job"].as_str(), Some(spot.as_str()), "{status}");
    let logs = e.app.get(&format!("/api/v1/jobs/{spot}/logs?limit=500"), &e.admin).await.expect(200).clone();
    assert!(
        logs.to_string().contains(&format!("submitted to the Ray cluster at {} as {first_run} on node {node}", head.address)),
        "{logs}"
    );

    // An urgent job preempts it: Ray stops the run (SIGTERM), the runtime saves a checkpoint,
    // the job waits, the urgent one runs on Ray and succeeds, then the spot job resumes there.
    let urgent = queue_submit(&e, &e.admin, queue_job(&e, "urgent", 2, json!({"priority": "urgent"}))).await;
    let waiting = e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{spot}"), |b| b["preemptions"] == 1 || job_ended(b), 180).await;
    assert!(!job_ended(&waiting), "{waiting}");
    let stopped = ray_status(&head.address, &first_run).await;
    assert_eq!(stopped["status"], "STOPPED", "{stopped}");
    let stopped_at = last_checkpoint_step(&e, &spot).await;
    let done = e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{urgent}"), job_ended, 180).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert!(done["model_id"].is_string(), "{done}");
    let urgent_run = runs_of(&e, &urgent).await.remove(0);
    assert_eq!(ray_status(&head.address, &urgent_run).await["status"], "SUCCEEDED");

    // Resumed on Ray from its checkpoint; then cancelled, which stops its Ray job.
    wait_resumed_past(&e, &spot, stopped_at).await;
    cancel_and_wait(&e, &spot).await;
    let second_run = runs_of(&e, &spot).await.pop().unwrap();
    assert_ne!(second_run, first_run);
    assert_eq!(ray_status(&head.address, &second_run).await["status"], "STOPPED");
    drop(e);
    drop(head);
}
