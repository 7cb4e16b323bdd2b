//! End to end: the OpenAI-compatible fine-tuning API driven by the official `openai` Python
//! package (pinned in scripts/api-clients/requirements.txt) against a real `tunery serve` with
//! the real runtime and the tiny model: `tests/clients/openai_fine_tuning.py` runs OpenAI's
//! quickstart unchanged but for base_url and api_key, and the cases around it. Here: what the
//! platform shows of it afterwards (the dataset the file became, the training job behind the
//! fine-tuning job, the deployment made on demand, the audit records).

mod common;

use common::Cli;
use serde_json::Value;

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery staple";

#[test]
fn the_openai_sdk_fine_tunes_and_calls_the_model_through_tunery() {
    let Some(python) = test_support::runtime_python() else { return };
    let Some(openai_python) = test_support::openai_python() else { return };
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let srv = common::runtime_server(&python, data.path(), port, &["--training-threads", "2"], &[]);
    let cli = Cli::new(&srv.url);
    cli.ok_with(&["register", "--email", EMAIL, "--name", "Ada", "--password-stdin"], &format!("{PASSWORD}\n"));
    cli.ok_with(&["login", "--email", EMAIL, "--password-stdin"], &format!("{PASSWORD}\n"));
    let (base, _) = common::tiny_model_and_chats(&cli, files.path());
    let scopes = ["upload_dataset", "view_dataset", "delete_dataset", "train_model", "deploy_model", "delete_model", "view_metrics"];
    let mut args = vec!["keys", "create", "--name", "sdk"];
    for s in &scopes {
        args.extend(["--scope", s]);
    }
    let key = cli.json(&args);
    let secret = key["key"].as_str().unwrap().to_string();

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/openai_fine_tuning.py");
    // The base model by its name, as an SDK user names a model.
    let out = std::process::Command::new(&openai_python)
        .arg(&script)
        .args([&format!("{}/v1", srv.url), "tiny", files.path().to_str().unwrap()])
        .env("TUNERY_TEST_API_KEY", &secret)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}\nserver:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        srv.logs()
    );
    let report: Value = serde_json::from_slice(out.stdout.split(|b| *b == b'\n').rfind(|l| !l.is_empty()).unwrap()).unwrap();
    let ft_name = report["fine_tuned_model"].as_str().unwrap();
    // The estimate before the job against what the job trained on (printed for the record).
    eprintln!(
        "estimated trained tokens {} / trained {}; DPO {} / {}",
        report["estimated_trained_tokens"], report["trained_tokens"], report["dpo_estimated_trained_tokens"], report["dpo_trained_tokens"]
    );

    // Behind it, the platform's own objects: the training job (on the base model, its dataset
    // the uploaded file), the fine-tuned model deployed on demand under its ft: name.
    let jobs = cli.json(&["jobs", "list"]);
    let trained: Vec<&Value> = jobs["data"].as_array().unwrap().iter().filter(|j| j["name"] == "sdk").collect();
    assert_eq!(trained.len(), 1, "{jobs}");
    assert_eq!((trained[0]["state"].as_str(), trained[0]["base_model_id"].as_str()), (Some("succeeded"), Some(base.as_str())));
    // The model was deleted at the end, and the deployment made for it on demand with it.
    let deployments = cli.json(&["deploy", "list"]);
    assert!(!deployments["data"].as_array().unwrap().iter().any(|d| d["name"] == ft_name), "{deployments}");
    let models = cli.json(&["models", "list", "--fine-tuned"]);
    assert!(!models["data"].as_array().unwrap().iter().any(|m| m["job_id"] == trained[0]["id"]), "{models}");
    let datasets = cli.json(&["datasets", "list"]);
    let named =
        |prefix: &str| datasets["data"].as_array().unwrap().iter().filter(|d| d["name"].as_str().unwrap().starts_with(prefix)).count();
    // train.jsonl uploaded twice: two datasets, each named after the file and its id; dpo.jsonl
    // sent in parts through Uploads: one more.
    assert_eq!(named("train.jsonl (file_"), 2, "{datasets}");
    assert_eq!(named("dpo.jsonl (file_"), 1, "{datasets}");
    // The bad file's dataset went with it (no training job used it).
    assert_eq!(named("bad.jsonl"), 0, "{datasets}");
    for action in [
        "file.create",
        "file.delete",
        "fine_tuning_job.create",
        "fine_tuning_job.cancel",
        "fine_tuning_job.pause",
        "fine_tuning_job.resume",
        "job.create",
        "upload.create",
        "upload.complete",
        "upload.cancel",
        "model.delete",
        "deployment.delete",
    ] {
        let found = cli.json(&["audit-events", "--action", action, "--limit", "1"]);
        assert_eq!(found["data"][0]["action"], action, "no {action} in the audit log");
    }
}
