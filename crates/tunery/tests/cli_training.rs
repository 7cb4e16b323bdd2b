//! End to end: training through the CLI against a real `tunery serve` process with the real
//! Python runtime. A tiny model trains, is watched live, and survives a SIGKILL of the server
//! mid-job (reconciled on restart, continued from its checkpoint, never run twice); and the
//! built-in SmolLM2-135M-Instruct learns a made-up answer format (exact match on held-out
//! prompts from near 0 to at least 80%).

mod common;

use common::{wait_json, Cli, ServerProcess};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Instant;

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

#[test]
fn a_job_survives_a_server_kill_and_finishes_once_from_its_checkpoint() {
    let Some(python) = test_support::runtime_python() else { return };
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let mut srv = server(data.path(), &python, &[]);
    let cli = Cli::new(&srv.url);
    login(&cli);
    let (base, ds) = common::tiny_model_and_chats(&cli, files.path());

    let estimate = cli.ok(&["estimate", "--model", &base, "--dataset", &ds, "--max-steps", "300", "--seq-len", "64"]);
    assert!(estimate.contains("memory per device") && estimate.contains("H100-80GB"), "{estimate}");

    let job = common::tiny_lora_job(&cli, &base, &ds, "300");
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
    assert!(common::processes(&needle).is_empty(), "a runtime of the job is still running");
    let done = cli.json(&["jobs", "show", &id]);
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["current_step"], 300);
    let started = cli.json(&["jobs", "events", &id, "--kinds", "started,state"])["data"].as_array().cloned().unwrap();
    let starts: Vec<&Value> = started.iter().filter(|e| e["kind"] == "started").collect();
    assert_eq!(starts.len(), 2, "{started:?}");
    let resumed = starts[1]["data"]["resumed_from_step"].as_i64().expect("the second run resumed");
    assert!(resumed >= 10, "resumed from {resumed}");
    let reconciled = started
        .iter()
        .position(|e| e["data"]["reason"].as_str().is_some_and(|r| r.contains("server restarted")))
        .expect("a reconcile event");
    let second_start = started.iter().rposition(|e| e["kind"] == "started").unwrap();
    assert!(reconciled < second_start);

    let models = cli.json(&["models", "list", "--fine-tuned"]);
    let model = models["data"][0]["id"].as_str().unwrap().to_string();
    let out = files.path().join("model");
    cli.ok(&["models", "download", &model, "--output", out.to_str().unwrap()]);
    assert!(out.join("adapter_config.json").is_file());
    // Its experiment record: the job that made it, its configuration and its data.
    let record = cli.json(&["models", "record", &model]);
    assert_eq!((record["job"]["id"].as_str(), record["model"]["id"].as_str()), (Some(id.as_str()), Some(model.as_str())), "{record}");
    assert!(record["job"]["config"]["hyperparameters"]["max_steps"].is_number(), "{record}");
    assert_eq!(record["training_data"]["version"]["version"], 1, "{record}");
    let shown = cli.ok(&["models", "record", &model]);
    assert!(shown.contains(&id) && shown.contains("trained on"), "{shown}");
    let logs = cli.ok(&["jobs", "logs", &id]);
    assert!(logs.contains("resuming from"), "{logs}");
}

/// The repository's `examples/` folder, which the README's quickstart uses.
fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Exact matches of `tunery chat --prompts … --json` answers with the expected replies: the
/// greeting format of `examples/greetings.jsonl` for the name in each held-out prompt.
fn exact_matches(answer: &Value, prompts: &[Value]) -> usize {
    let outputs = answer["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), prompts.len(), "{answer}");
    prompts
        .iter()
        .zip(outputs)
        .filter(|(p, out)| {
            let asked = p["messages"][0]["content"].as_str().unwrap();
            let name = asked.trim_start_matches("Greet ").trim_end_matches('.');
            out.as_str().unwrap().trim() == format!("<greeting>Hello, {name}!</greeting>")
        })
        .count()
}

/// The README's path, as a newcomer follows it: the server started as `scripts/run.sh` starts
/// it (a relative `--data-dir .tunery`, from a fresh current directory), the built-in
/// SmolLM2-135M-Instruct imported, the quickstart's example dataset uploaded, the quickstart's
/// job trained, and its effect shown by the documented `tunery chat` on held-out
/// prompts: from near 0 to at least 80% exact answers in the taught format.
#[test]
fn the_readme_quickstart_teaches_the_builtin_smollm2_a_visible_behaviour() {
    let Some(python) = test_support::runtime_python() else { return };
    let gguf = test_support::smollm2_tokenizer().map(|t| t.with_file_name("SmolLM2-135M-Instruct.Q4_1.gguf")).filter(|g| g.is_file());
    let Some(gguf) = gguf else {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "no SmolLM2 GGUF under CI: run scripts/fetch-smollm2-tokenizer.sh");
        eprintln!("warning: no SmolLM2 GGUF: the built-in model test is skipped");
        return;
    };
    let Some(encoder) = test_support::bertscore_encoder() else { return };
    let cwd = tempfile::tempdir().unwrap();
    let runtime = test_support::runtime_dir();
    // scripts/run.sh also passes WordNet when it could fetch it: the metrics crate's subset
    // stands in where the whole database is not here.
    let wordnet = std::env::var("TUNERY_WORDNET_DIR").unwrap_or_else(|_| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../metrics/tests/fixtures/wordnet-subset").display().to_string()
    });
    let args = [
        "--data-dir",
        ".tunery",
        "--runtime-python",
        python.to_str().unwrap(),
        "--runtime-dir",
        runtime.to_str().unwrap(),
        "--builtin-model-gguf",
        gguf.to_str().unwrap(),
        "--training-threads",
        "2",
        "--wordnet-dir",
        &wordnet,
        "--bertscore-model",
        encoder.to_str().unwrap(),
    ];
    let srv = ServerProcess::start_in(Some(cwd.path()), &args, &[]);
    assert!(cwd.path().join(".tunery/tunery.db").is_file(), "the data directory is relative to the server's directory");
    let cli = Cli::new(&srv.url);
    login(&cli);
    let builtin = wait_json(&cli, &["models", "list"], |v| v["data"].as_array().unwrap().iter().any(|m| m["status"] != "importing"), 600);
    let model = builtin["data"][0].clone();
    assert_eq!(
        (model["name"].as_str(), model["status"].as_str()),
        (Some("SmolLM2-135M-Instruct"), Some("ready")),
        "{model}\n{}",
        srv.logs()
    );
    assert_eq!(model["spec"]["layers"], 30);
    assert_eq!(model["catalog_repo_id"], "HuggingFaceTB/SmolLM2-135M-Instruct");
    let base = model["id"].as_str().unwrap().to_string();

    let file = examples().join("greetings.jsonl");
    let ds = cli.json(&["datasets", "upload", file.to_str().unwrap(), "--name", "greetings"]);
    let ds = ds["dataset"]["id"].as_str().or(ds["id"].as_str()).unwrap().to_string();
    let prompts_file = examples().join("greeting-prompts.jsonl");
    let prompts: Vec<Value> = std::fs::read_to_string(&prompts_file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let generate = |id: &str| {
        let args = ["chat", id, "--prompts", prompts_file.to_str().unwrap(), "--max-tokens", "24", "--temperature", "0"];
        cli.json(&args)
    };
    let before = exact_matches(&generate(&base), &prompts);

    // The README's quickstart job, exactly.
    let started = Instant::now();
    let watched = cli.run(&["jobs", "create", "--model", &base, "--dataset", &ds, "--max-steps", "60", "--lr", "0.002", "--watch"]);
    assert!(watched.status.success(), "{}\nserver logs:\n{}", common::describe(&watched), srv.logs());
    eprintln!("the quickstart job took {:.0} s", started.elapsed().as_secs_f64());
    let jobs = cli.json(&["jobs", "list"]);
    let job = &jobs["data"][0];
    let model_id = job["model_id"].as_str().unwrap().to_string();
    // max_seq_length auto: these short chats fit in 64 or 128 tokens, not the model's 8192.
    let seq_len = job["config"]["data"]["max_seq_length"].as_u64().expect("resolved at submission");
    assert!([64, 128].contains(&seq_len), "{job}");
    let losses = cli.json(&["jobs", "events", job["id"].as_str().unwrap(), "--kinds", "progress"]);
    let losses: Vec<f64> = losses["data"].as_array().unwrap().iter().map(|e| e["data"]["loss"].as_f64().unwrap()).collect();
    assert_eq!(losses.len(), 60);
    assert!(losses[55..].iter().sum::<f64>() / 5.0 < losses[..5].iter().sum::<f64>() / 5.0 / 2.0, "the loss fell: {losses:?}");

    let after = exact_matches(&generate(&model_id), &prompts);
    eprintln!("exact match on {} held-out prompts: before {before}, after {after}", prompts.len());
    assert!(before <= 2, "the base model already answers in the format ({before}/20)");
    assert!(after >= 16, "the fine-tuned model answers in the format only {after}/20 times");
    // Its files download, and the runtime's work directories are gone.
    let out = cwd.path().join("fine-tuned");
    cli.ok(&["models", "download", &model_id, "--output", out.to_str().unwrap()]);
    assert!(out.join("adapter_model.safetensors").is_file());
    let left: Vec<_> = std::fs::read_dir(cwd.path().join(".tunery/work")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.iter().all(|n| !n.to_string_lossy().starts_with("job_")), "job work directories left: {left:?}");
    // `tunery chat` deployed both models on demand, into one serving process (base + adapter).
    let deployments = cli.json(&["deploy", "list"]);
    let served: Vec<&str> = deployments["data"].as_array().unwrap().iter().map(|d| d["model"].as_str().unwrap()).collect();
    assert_eq!(served, [model_id.as_str(), base.as_str()], "{deployments}");
    assert!(deployments["data"].as_array().unwrap().iter().all(|d| d["idle_timeout_s"] == 600 && d["state"] == "ready"), "{deployments}");

    // A configuration template saved in a project from the job flags, and a job submitted from
    // it with one setting overridden: the rest (base model, method, rank, steps, priority,
    // project) comes from the template.
    let project = cli.json(&["projects", "create", "greeters"])["id"].as_str().unwrap().to_string();
    let template = cli.json(&[
        "templates",
        "create",
        "--project",
        &project,
        "--name",
        "small dora",
        "--model",
        &base,
        "--method",
        "dora",
        "--rank",
        "4",
        "--max-steps",
        "3",
        "--lr",
        "0.001",
        "--priority",
        "low",
    ]);
    let template_id = template["id"].as_str().unwrap().to_string();
    assert_eq!((template["config"]["method"]["lora"]["rank"].as_u64(), template["resources"]["priority"].as_str()), (Some(4), Some("low")));
    let taken = cli.fails(&["templates", "create", "--project", &project, "--name", "small dora"], 1);
    assert!(taken.contains("already exists"), "{taken}");
    let listed = cli.ok(&["templates", "list", "--project", &project]);
    assert!(listed.contains(&template_id) && listed.contains("dora (sft)"), "{listed}");
    assert!(cli.ok(&["templates", "show", &template_id]).contains("small dora"));
    let from_template = cli.json(&["jobs", "create", "--template", &template_id, "--dataset", &ds, "--lr", "0.003"]);
    let c = &from_template["config"];
    assert_eq!(
        (
            from_template["base_model_id"].as_str(),
            from_template["project_id"].as_str(),
            c["method"]["kind"].as_str(),
            c["method"]["lora"]["rank"].as_u64(),
            c["hyperparameters"]["max_steps"].as_u64(),
            c["hyperparameters"]["learning_rate"].as_f64(),
            from_template["resources"]["priority"].as_str(),
        ),
        (Some(base.as_str()), Some(project.as_str()), Some("dora"), Some(4), Some(3), Some(0.003), Some("low")),
        "{from_template}"
    );
    cli.ok(&["jobs", "cancel", from_template["id"].as_str().unwrap()]);
    let no_model = cli.json(&["templates", "create", "--project", &project, "--name", "any model", "--method", "lora"]);
    let err = cli.fails(&["jobs", "create", "--template", no_model["id"].as_str().unwrap(), "--dataset", &ds], 1);
    assert!(err.contains("names no base model") && err.contains("--model"), "{err}");
    cli.ok(&["templates", "delete", no_model["id"].as_str().unwrap()]);
    assert!(!cli.ok(&["templates", "list", "--project", &project]).contains("any model"));

    // The README's measurement: both models answer the held-out test set through the serving
    // path, an A/B test finds the difference, the ranking and the fine-tune's record show it.
    let test_file = examples().join("greetings-test.jsonl");
    let tds = cli.json(&["datasets", "upload", test_file.to_str().unwrap(), "--name", "greetings-test"]);
    let tds = tds["dataset"]["id"].as_str().or(tds["id"].as_str()).unwrap().to_string();
    let evaluate = |id: &str| {
        let e = cli.json(&[
            "eval",
            "create",
            "--model",
            id,
            "--dataset",
            &tds,
            "--metrics",
            "exact_match,chrf,meteor,bertscore",
            "--max-tokens",
            "24",
            "--wait",
        ]);
        assert_eq!(e["state"], "succeeded", "{e}");
        let m = &e["results"]["metrics"];
        assert_eq!(
            (m["bertscore"]["model"].as_str(), m["meteor"]["wordnet"]["version"].as_str()),
            (Some("all-minilm-l6-v2"), Some("WordNet 3.0")),
            "{m}"
        );
        let score = |name: &str| m[name]["score"].as_f64().unwrap();
        (e["id"].as_str().unwrap().to_string(), score("exact_match"), score("bertscore"))
    };
    let ((base_eval, base_em, base_bert), (tuned_eval, tuned_em, tuned_bert)) = (evaluate(&base), evaluate(&model_id));
    eprintln!("on the README's test set: exact match base {base_em}, fine-tune {tuned_em}; BERTScore base {base_bert:.2}, fine-tune {tuned_bert:.2}");
    assert!(base_em <= 10.0 && tuned_em >= 90.0, "base {base_em}, fine-tune {tuned_em}");
    assert!(tuned_bert > base_bert + 10.0, "BERTScore: base {base_bert}, fine-tune {tuned_bert}");
    let ab = cli.json(&["eval", "ab", &base_eval, &tuned_eval, "--metric", "exact_match"]);
    assert_eq!(ab["results"]["significant"], true, "{ab}");
    let rank = cli.json(&["models", "rank", "--metric", "exact_match", "--dataset", &tds]);
    assert_eq!(rank["best"]["model"], model_id.as_str(), "{rank}");
    let record = cli.json(&["models", "record", &model_id]);
    assert!(record["evaluations"].as_array().unwrap().iter().any(|e| e["id"] == tuned_eval.as_str()), "{record}");
    // A blind pairwise human evaluation of five items, rated in the terminal.
    let human =
        cli.json(&["eval", "human", "create", &base_eval, &tuned_eval, "--pairwise", "--rater-roles", "admin,researcher", "--sample", "5"]);
    let human = human["id"].as_str().unwrap().to_string();
    let rated = cli.ok_with(&["eval", "human", "rate", &human], &"A\n\n\n\n".repeat(5));
    assert!(rated.contains("all 5 items done (5 rated, 0 skipped)"), "{rated}");
    let results = cli.json(&["eval", "human", "results", &human]);
    assert_eq!(results["figures"]["votes"], 5, "{results}");
    // A deployment gated on the fine-tune's evaluation: refused above its score, made at it.
    let refused = cli.fails(&["deploy", "create", &model_id, "--name", "greeter", "--gate", "exact_match>=101", "--wait"], 1);
    assert!(refused.contains("below the minimum 101"), "{refused}");
    let greeter = cli.json(&["deploy", "create", &model_id, "--name", "greeter", "--gate", "exact_match>=90", "--wait"]);
    assert_eq!(greeter["state"], "ready", "{greeter}");

    // The README's OpenAI-compatible snippet as written (read from README.md), with the official
    // client and a key with the scopes the README gives: the example file uploaded, a job on the
    // built-in model by its name, the fine-tuned model called by its ft: name.
    let Some(openai_python) = test_support::openai_python() else { return };
    let scopes = ["upload_dataset", "view_dataset", "train_model", "deploy_model", "view_metrics"];
    let mut args = vec!["keys", "create", "--name", "sdk"];
    for s in &scopes {
        args.extend(["--scope", s]);
    }
    let key = cli.json(&args)["key"].as_str().unwrap().to_string();
    let repo = examples().parent().unwrap().to_path_buf();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/readme_openai.py");
    let started = Instant::now();
    let out = std::process::Command::new(&openai_python)
        .current_dir(&repo)
        .arg(&script)
        .args([repo.join("README.md").to_str().unwrap(), &format!("{}/v1", srv.url)])
        .env("TUNERY_TEST_API_KEY", &key)
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
    eprintln!("the README's OpenAI snippet took {:.0} s: {report}", started.elapsed().as_secs_f64());
    assert_eq!(report["status"], "succeeded", "{report}");
    let name = report["fine_tuned_model"].as_str().unwrap();
    assert!(name.starts_with("ft:smollm2-135m-instruct:") && name.contains(":greeter:"), "{report}");
    assert!(!report["answer"].as_str().unwrap_or_default().is_empty(), "{report}");
}

#[test]
fn catalog_compare_estimate_and_a_missing_runtime_through_the_cli() {
    let srv = ServerProcess::start(&[]);
    let cli = Cli::new(&srv.url);
    login(&cli);
    let catalog = cli.ok(&["models", "list", "--catalog", "--search", "qwen"]);
    assert!(catalog.contains("Qwen/Qwen2.5-7B-Instruct") && !catalog.contains("Llama"), "{catalog}");
    let small = cli.json(&["models", "list", "--catalog", "--max-parameters", "1e9"]);
    assert!(small["data"].as_array().unwrap().iter().all(|m| m["spec"]["parameters"].as_u64().unwrap() <= 1_000_000_000));
    let compared = cli.ok(&["models", "compare", "meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen2.5-7B-Instruct"]);
    let layers = compared.lines().find(|l| l.starts_with("layers")).unwrap();
    assert!(layers.contains("32") && layers.contains("28"), "{compared}");
    let shown = cli.ok(&["models", "show", "HuggingFaceTB/SmolLM2-135M-Instruct"]);
    assert!(shown.contains("134") && shown.contains("apache-2.0"), "{shown}");

    let fits = cli.ok(&[
        "estimate",
        "--model",
        "meta-llama/Llama-2-7b-hf",
        "--method",
        "qlora",
        "--seq-len",
        "512",
        "--batch",
        "1",
        "--gradient-checkpointing",
        "--device-type",
        "T4",
        "--tokens",
        "1000000",
    ]);
    assert!(fits.contains("T4: fits"), "{fits}");
    let too_big = cli.fails(&["estimate", "--model", "meta-llama/Llama-3.1-70B-Instruct", "--method", "full", "--tokens", "1000000"], 3);
    let _ = too_big;
    let json = cli.json(&["estimate", "--model", "meta-llama/Llama-3.1-70B-Instruct", "--method", "full", "--tokens", "1000000"]);
    assert_eq!(json["selected"]["fits"], false);

    // This server has no training runtime: jobs are refused with the way to fix it.
    let err = cli.fails(&["jobs", "create", "--model", "bm_000000000000000000000000", "--dataset", "ds_000000000000000000000000"], 1);
    assert!(err.contains("runtime-env.sh") && err.contains("--runtime-python"), "{err}");
}

#[test]
fn a_model_archive_uploads_through_the_cli_and_imports() {
    let Some(python) = test_support::runtime_python() else { return };
    let tiny = test_support::tiny_model_dir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let archive = files.path().join("tiny model.tar.gz");
    test_support::tar_gz(&tiny, &archive);
    let srv = server(data.path(), &python, &[]);
    let cli = Cli::new(&srv.url);
    login(&cli);
    let base = cli.json(&["models", "import", "--name", "tiny archive", "--archive", archive.to_str().unwrap(), "--wait"]);
    assert_eq!(base["status"], "ready", "{base}");
    assert_eq!(base["source_kind"], "upload");
    assert!(base["source_ref"].as_str().unwrap().ends_with("/tiny model.tar.gz"), "{base}");
    let listed = cli.ok(&["models", "list"]);
    assert!(listed.contains("tiny archive"), "{listed}");
    let id = base["id"].as_str().unwrap();
    assert!(cli.ok(&["models", "delete", id]).contains(&format!("deleted {id}")));
    assert!(!cli.ok(&["models", "list"]).contains("tiny archive"));
    // No such file: said before anything is sent.
    let missing = cli.fails(&["models", "import", "--name", "x", "--archive", "/nonexistent/model.tar"], 1);
    assert!(missing.contains("/nonexistent/model.tar"), "{missing}");
}
