//! Several servers on one PostgreSQL (and one data directory): each running job is leased by
//! the server that runs it. Killed mid-job, its server stops renewing; another server takes the
//! job over after the lease — never before — stopping the orphaned runtime first, and the job
//! finishes from its checkpoint with exactly one runtime at a time. A cancel sent to a server
//! that does not run the job reaches the one that does. With `--role`, API servers queue jobs
//! and the one scheduler among several (a lease in the database) runs them; a standby takes
//! over when it dies.

mod common;

use common::{wait_json, Cli, ServerProcess};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};
use test_support::{backends, Backend, TestDb};

const LEASE_S: &str = "3";

fn start(db: &TestDb, data: &Path, python: &Path) -> ServerProcess {
    start_as(db, data, python, "all")
}

fn start_as(db: &TestDb, data: &Path, python: &Path, role: &str) -> ServerProcess {
    let runtime = test_support::runtime_dir();
    ServerProcess::start(&[
        "--role",
        role,
        "--database-url",
        &db.url,
        "--data-dir",
        data.to_str().unwrap(),
        "--runtime-python",
        python.to_str().unwrap(),
        "--runtime-dir",
        runtime.to_str().unwrap(),
        "--training-threads",
        "1",
        "--job-lease-s",
        LEASE_S,
        "--rate-limit-per-second",
        "10000",
    ])
}

fn logged_in(url: &str, register: bool) -> Cli {
    let cli = Cli::new(url);
    let password = "several servers\n";
    if register {
        cli.ok_with(&["register", "--email", "ops@example.com", "--name", "Ops", "--password-stdin"], password);
    }
    cli.ok_with(&["login", "--email", "ops@example.com", "--password-stdin"], password);
    cli
}

fn states(cli: &Cli, id: &str) -> Vec<Value> {
    cli.json(&["jobs", "events", id, "--kinds", "started,state"])["data"].as_array().cloned().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_server_dies_is_taken_over_after_its_lease_and_cancels_reach_the_owner() {
    let Some(python) = test_support::runtime_python() else { return };
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let db = TestDb::fresh(Backend::Postgres).await;
    let data = tempfile::tempdir().unwrap();
    let mut first = start(&db, data.path(), &python);
    let cli = logged_in(&first.url, true);
    let (base, ds) = common::tiny_model_and_chats(&cli, data.path());

    // The first server runs the job; a second one starts and leaves it alone while the lease
    // is renewed (two leases go by).
    let id = common::tiny_lora_job(&cli, &base, &ds, "100000")["id"].as_str().unwrap().to_string();
    wait_json(&cli, &["jobs", "checkpoints", &id], |v| !v["data"].as_array().unwrap().is_empty(), 120);
    let second = start(&db, data.path(), &python);
    std::thread::sleep(Duration::from_secs(7));
    let running = cli.json(&["jobs", "show", &id]);
    assert_eq!(running["state"], "running", "{running}");
    assert_eq!(states(&cli, &id).iter().filter(|e| e["kind"] == "started").count(), 1, "taken over while its owner lived");

    // The first server dies: the second takes the job over once the lease expired, and it goes on
    // from its checkpoint.
    first.kill9();
    let killed_at = Instant::now();
    let cli = logged_in(&second.url, false);
    let started = |cli: &Cli| states(cli, &id).into_iter().filter(|e| e["kind"] == "started").collect::<Vec<_>>();
    let deadline = Instant::now() + Duration::from_secs(120);
    while started(&cli).len() < 2 {
        assert!(Instant::now() < deadline, "not taken over:\n{}", second.logs());
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(killed_at.elapsed() >= Duration::from_secs(2), "taken over before the lease could expire");
    let events = states(&cli, &id);
    let starts = started(&cli);
    assert!(starts[1]["data"]["resumed_from_step"].as_i64().unwrap() >= 10, "it continued from its checkpoint: {events:?}");
    let takeover =
        events.iter().position(|e| e["data"]["reason"].as_str().is_some_and(|r| r.contains("stopped renewing"))).expect("a takeover event");
    assert!(takeover < events.iter().rposition(|e| e["kind"] == "started").unwrap(), "the takeover came before the new runtime");
    let resumed = starts[1]["data"]["resumed_from_step"].as_i64().unwrap();
    wait_json(&cli, &["jobs", "show", &id], |v| v["current_step"].as_i64().unwrap_or(0) > resumed + 5, 120);

    // Cancelled through a third server, which does not run it: the owner (the second) stops it.
    let third = start(&db, data.path(), &python);
    let cli3 = logged_in(&third.url, false);
    cli3.ok(&["jobs", "cancel", &id]);
    let stopped = wait_json(&cli3, &["jobs", "show", &id], |v| v["state"] == "cancelled" || v["state"] == "failed", 120);
    assert_eq!(stopped["state"], "cancelled", "{stopped}\n{}", second.logs());
    assert_eq!(started(&cli3).len(), 2, "never a third runtime");
    drop(third);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_servers_queue_jobs_and_one_scheduler_among_several_runs_them_until_a_standby_takes_over() {
    let Some(python) = test_support::runtime_python() else { return };
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let db = TestDb::fresh(Backend::Postgres).await;
    let data = tempfile::tempdir().unwrap();
    let api = start_as(&db, data.path(), &python, "api");
    let cli = logged_in(&api.url, true);
    let (base, ds) = common::tiny_model_and_chats(&cli, data.path());

    // No scheduler yet: the job waits.
    let first = common::tiny_lora_job(&cli, &base, &ds, "4")["id"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(cli.json(&["jobs", "show", &first])["state"], "queued");

    // A scheduler server (health and metrics only over HTTP) runs it; a second one stands by.
    let mut scheduler = start_as(&db, data.path(), &python, "scheduler");
    let status = |path: &str| {
        let url = format!("{}{path}", scheduler.url);
        async move { reqwest::get(url).await.unwrap().status().as_u16() }
    };
    assert_eq!(status("/healthz").await, 200);
    assert_eq!(status("/api/v1/jobs").await, 404);
    let done = wait_json(&cli, &["jobs", "show", &first], |v| v["state"] == "succeeded" || v["state"] == "failed", 180);
    assert_eq!(done["state"], "succeeded", "{done}\n{}", scheduler.logs());
    let standby = start_as(&db, data.path(), &python, "scheduler");
    let second = common::tiny_lora_job(&cli, &base, &ds, "100000")["id"].as_str().unwrap().to_string();
    wait_json(&cli, &["jobs", "show", &second], |v| v["state"] == "running", 120);
    assert!(!standby.logs().contains("this server schedules training jobs now"), "two schedulers at once:\n{}", standby.logs());

    // The scheduler dies: once its lease expired, the standby schedules — it takes the running
    // job over and runs the next one.
    scheduler.kill9();
    let third = common::tiny_lora_job(&cli, &base, &ds, "4")["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(180);
    while !standby.logs().contains("this server schedules training jobs now") {
        assert!(Instant::now() < deadline, "the standby never took over:\n{}", standby.logs());
        std::thread::sleep(Duration::from_millis(300));
    }
    cli.ok(&["jobs", "cancel", &second]);
    let done = wait_json(&cli, &["jobs", "show", &third], |v| v["state"] == "succeeded" || v["state"] == "failed", 240);
    assert_eq!(done["state"], "succeeded", "{done}\n{}", standby.logs());
    drop(standby);
}
