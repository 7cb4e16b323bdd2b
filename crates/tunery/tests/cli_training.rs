//! End to end: training through the CLI against a real `tunery serve` process with the real
//! Python runtime. A tiny model trains, is watched live, and survives a SIGKILL of the server
//! mid-job (reconciled on restart, continued from its checkpoint, never run twice); and the
//! built-in SmolLM2-135M-Instruct learns a made-up answer format (exact match on held-out
//! prompts from near 0 to at least 80%).

mod common;

use common::{Cli, ServerProcess};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery staple";

fn login(cli: &Cli) {
    cli.ok_with(&["register", "--email", EMAIL, "--name", "Ada", "--password-stdin"], &format!("{PASSWORD}\n"));
    cli.ok_with(&["login", "--email", EMAIL, "--password-stdin"], &format!("{PASSWORD}\n"));
}

fn server(data_dir: &Path, python: &Path, extra: &[&str]) -> ServerProcess {
    let runtime = test_support::runtime_dir();
    let mut args = vec![
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--runtime-python",
        python.to_str().unwrap(),
        "--runtime-dir",
        runtime.to_str().unwrap(),
        "--training-threads",
        "2",
    ];
    args.extend_from_slice(extra);
    ServerProcess::start(&args)
}

fn wait_json(cli: &Cli, args: &[&str], done: impl Fn(&Value) -> bool, seconds: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let v = cli.json(args);
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out on tunery {args:?}: {v}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Processes whose command line names `needle` (the job's work directory).
fn runtime_processes(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle)))
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_job_survives_a_server_kill_and_finishes_once_from_its_checkpoint() {
    let Some(python) = test_support::runtime_python() else { return };
    let tiny = test_support::tiny_model_dir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let mut srv = server(data.path(), &python, &[]);
    let cli = Cli::new(&srv.url);
    login(&cli);
    let base = cli.json(&["models", "import", "--name", "tiny", "--dir", tiny.to_str().unwrap(), "--wait"]);
    assert_eq!(base["status"], "ready", "{base}");
    let base = base["id"].as_str().unwrap().to_string();
    let records: String =
        (0..24).map(|i| json!({"messages": [{"role": "user", "content": format!("{i}?")}, {"role": "assistant", "content": format!("{i}!")}]}).to_string() + "\n").collect();
    let file = write(files.path(), "chat.jsonl", &records);
    let ds = cli.json(&["datasets", "upload", file.to_str().unwrap(), "--name", "chat"]);
    let ds = ds["dataset"]["id"].as_str().or(ds["id"].as_str()).unwrap().to_string();

    let estimate = cli.ok(&["estimate", "--model", &base, "--dataset", &ds, "--max-steps", "300", "--seq-len", "64"]);
    assert!(estimate.contains("memory per device") && estimate.contains("H100-80GB"), "{estimate}");

    let job = cli.json(&[
        "jobs", "create", "--model", &base, "--dataset", &ds, "--method", "lora", "--rank", "4", "--seq-len", "64", "--batch", "2",
        "--max-steps", "300", "--lr", "0.01", "--checkpoint-every", "10",
    ]);
    assert_eq!(job["state"], "queued");
    let id = job["id"].as_str().unwrap().to_string();
    wait_json(&cli, &["jobs", "checkpoints", &id], |v| !v["data"].as_array().unwrap().is_empty(), 120);

    // The server dies mid-job; its runtime (in its own process group) is now an orphan.
    srv.kill9();
    let workdir = data.path().join("work").join(&id);
    let needle = workdir.to_string_lossy().into_owned();
    // Back on the same address (the CLI's login belongs to it).
    let address = srv.url.trim_start_matches("http://").to_string();
    srv = server(data.path(), &python, &["--listen", &address]);
    // Reconciled: the orphan is stopped before the job runs again, so only one runtime runs it.
    let watched = cli.run(&["jobs", "watch", &id]);
    assert!(watched.status.success(), "watch:\n{}\nserver logs:\n{}", common::describe(&watched), srv.logs());
    assert!(runtime_processes(&needle).is_empty(), "a runtime of the job is still running");
    let done = cli.json(&["jobs", "show", &id]);
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["current_step"], 300);
    let started = cli.json(&["jobs", "events", &id, "--kinds", "started,state"])["data"].as_array().cloned().unwrap();
    let starts: Vec<&Value> = started.iter().filter(|e| e["kind"] == "started").collect();
    assert_eq!(starts.len(), 2, "{started:?}");
    let resumed = starts[1]["data"]["resumed_from_step"].as_i64().expect("the second run resumed");
    assert!(resumed >= 10, "resumed from {resumed}");
    let reconciled = started.iter().position(|e| e["data"]["reason"].as_str().is_some_and(|r| r.contains("server restarted"))).expect("a reconcile event");
    let second_start = started.iter().rposition(|e| e["kind"] == "started").unwrap();
    assert!(reconciled < second_start);

    let models = cli.json(&["models", "list", "--fine-tuned"]);
    let model = models["data"][0]["id"].as_str().unwrap().to_string();
    let out = files.path().join("model");
    cli.ok(&["models", "download", &model, "--output", out.to_str().unwrap()]);
    assert!(out.join("adapter_config.json").is_file());
    let logs = cli.ok(&["jobs", "logs", &id]);
    assert!(logs.contains("resuming from"), "{logs}");
}
