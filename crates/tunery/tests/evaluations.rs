//! End to end: evaluations against a real `tunery serve` with the real runtime. The tiny model
//! answers a test set through the serving path (deployed on demand), the scores are the
//! metrics crate's on the stored answers, a rerun gives the same answers and scores, the same
//! model reached through an OpenAI-compatible URL (an external deployment pointing at this
//! gateway) scores the same, every request is metered, a predictions file scored by the server
//! equals `tunery eval score` here, the evaluations compare side by side and A/B test as
//! equal, the model judges answers through the same path, two raters rate the answers blind
//! in the terminal and the results report their agreement, and a running evaluation can be
//! cancelled.

mod common;

use common::{wait_json, Cli};
use serde_json::Value;

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery staple";

/// Every example of an evaluation (prediction and scores), in order.
fn examples(cli: &Cli, id: &str) -> Vec<Value> {
    let page = cli.json(&["eval", "examples", id, "--limit", "100"]);
    page["data"].as_array().unwrap().clone()
}

fn predictions(cli: &Cli, id: &str) -> Vec<String> {
    examples(cli, id).iter().map(|x| x["prediction"].as_str().expect("a prediction").to_string()).collect()
}

#[test]
fn a_model_is_evaluated_through_the_serving_path_reproducibly_and_through_an_openai_url() {
    let Some(python) = test_support::runtime_python() else { return };
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let external = format!("http://127.0.0.1:{port}/v1");
    let srv = common::runtime_server(&python, data.path(), port, &["--external-endpoint", &external], &[]);
    let cli = Cli::new(&srv.url);
    cli.ok_with(&["register", "--email", EMAIL, "--name", "Ada", "--password-stdin"], &format!("{PASSWORD}\n"));
    cli.ok_with(&["login", "--email", EMAIL, "--password-stdin"], &format!("{PASSWORD}\n"));
    let (base, ds) = common::tiny_model_and_chats(&cli, files.path());

    // The base model by id: deployed on demand, 8 examples answered greedily.
    let args = [
        "eval",
        "create",
        "--model",
        &base,
        "--dataset",
        &ds,
        "--metrics",
        "bleu,chrf,rouge,exact_match",
        "--max-tokens",
        "6",
        "--limit",
        "8",
    ];
    let mut with_wait = args.to_vec();
    with_wait.push("--wait");
    let local = cli.json(&with_wait);
    assert_eq!(local["state"], "succeeded", "{local}\n{}", srv.logs());
    let local_id = local["id"].as_str().unwrap();
    assert_eq!(local["progress"]["answered"], 8, "{local}");
    let config = &local["config"];
    assert_eq!(config["model"]["requested"], base.as_str(), "{config}");
    assert_eq!(config["model"]["base_model_id"], base.as_str(), "{config}");
    assert_eq!(config["generation"]["temperature"], 0.0, "{config}");
    assert_eq!(config["dataset_version"], 1, "{config}");
    assert!(config["prompt_rendering"].as_str().unwrap().contains("last assistant message"), "{config}");
    let deployment_id = config["model"]["deployment_id"].as_str().unwrap().to_string();
    let deployment_name = config["model"]["deployment_name"].as_str().unwrap().to_string();
    // The stored answers scored by the metrics crate give the stored scores.
    let xs = examples(&cli, local_id);
    assert_eq!(xs.len(), 8);
    assert_eq!(xs[3]["prompt"][0]["content"], "3?", "{}", xs[3]);
    assert_eq!(xs[3]["references"][0], "3!", "{}", xs[3]);
    let hyps: Vec<&str> = xs.iter().map(|x| x["prediction"].as_str().unwrap()).collect();
    let refs: Vec<&str> = xs.iter().map(|x| x["references"][0].as_str().unwrap()).collect();
    let bleu = metrics::corpus_bleu(&hyps, &[refs]).unwrap().score;
    assert!((local["results"]["metrics"]["bleu"]["score"].as_f64().unwrap() - bleu).abs() < 1e-9, "{local}");
    for x in &xs {
        assert!(x["scores"]["bleu"].is_number() && x["scores"]["exact_match"].is_number(), "{x}");
    }
    // Every request went through the gateway's accounting.
    let usage = wait_json(&cli, &["usage", "--deployment", &deployment_id, "--bucket", "day"], |u| u["requests"] == 8, 10);
    assert!(usage["completion_tokens"].as_i64().unwrap() > 0, "{usage}");
    // It ran on a slot of the serving device, accounted like a job's GPU-hours.
    let cost = &local["cost"];
    let hours = cost["gpu_hours"].as_f64().unwrap();
    let span_s = (local["finished_at"].as_i64().unwrap() - local["started_at"].as_i64().unwrap()) as f64;
    assert!(cost["runs"] == 1 && hours > 0.0 && hours * 3600.0 <= span_s + 2.0, "{local}");
    let org_usage = cli.json(&["usage", "--bucket", "day"]);
    assert_eq!(org_usage["compute"]["evaluations"], 1, "{org_usage}");

    // A rerun: the same answers, the same scores and intervals.
    let again = cli.json(&["eval", "rerun", local_id, "--wait"]);
    assert_eq!(again["state"], "succeeded", "{again}");
    assert_eq!(again["rerun_of"], local_id);
    assert_eq!(predictions(&cli, again["id"].as_str().unwrap()), predictions(&cli, local_id));
    assert_eq!(again["results"], local["results"], "a rerun changed the scores");

    // Ranked on the test set by a metric: the model evaluated is the best.
    let rank = cli.json(&["models", "rank", "--metric", "bleu", "--dataset", &ds]);
    assert_eq!((rank["best"]["model"].as_str(), rank["models"].as_array().map(Vec::len)), (Some(base.as_str()), Some(1)), "{rank}");
    assert!(cli.ok(&["models", "rank", "--metric", "bleu", "--dataset", &ds]).contains("best on bleu"));
    // A gate: deploying the model again asks for an evaluation of it to pass thresholds.
    let err = cli.fails(&["deploy", "create", &base, "--name", "gated", "--stopped", "--gate", "exact_match>=101"], 1);
    assert!(err.contains("exact_match") && err.contains("below the minimum 101"), "{err}");
    let gated = cli.json(&["deploy", "create", &base, "--name", "gated", "--stopped", "--gate", "bleu>=0", "--gate-evaluation", local_id]);
    assert_eq!(gated["name"], "gated", "{gated}");

    // The same model through an OpenAI-compatible URL (this gateway, with a key): equal scores.
    let key = cli.json(&["keys", "create", "--name", "evaluator", "--scope", "deploy_model"]);
    let secret = key["key"].as_str().unwrap().to_string();
    let ext = cli.run_with(
        &[
            "deploy",
            "create",
            &base,
            "--name",
            "tiny-through-url",
            "--external-url",
            &external,
            "--external-model",
            &deployment_name,
            "--external-key-env",
            "UPSTREAM_KEY",
            "--wait",
            "--json",
        ],
        "",
        &[("UPSTREAM_KEY", &secret)],
    );
    assert!(ext.status.success(), "{}", common::describe(&ext));
    let mut through_url = with_wait.clone();
    through_url[3] = "tiny-through-url";
    let remote = cli.json(&through_url);
    assert_eq!(remote["state"], "succeeded", "{remote}\n{}", srv.logs());
    assert_eq!(remote["config"]["model"]["backend"], "external", "{remote}");
    // An external URL's compute is billed by its provider: none here.
    assert_eq!((remote["cost"]["runs"].as_u64(), remote["cost"]["gpu_hours"].as_f64()), (Some(1), Some(0.0)), "{remote}");
    assert_eq!(predictions(&cli, remote["id"].as_str().unwrap()), predictions(&cli, local_id));
    assert_eq!(remote["results"], local["results"]);
    // Perplexity: the runtime's log-probabilities of the references, per example and over the
    // test set; a model served elsewhere cannot give them.
    let ppl = cli.json(&[
        "eval",
        "create",
        "--model",
        &base,
        "--dataset",
        &ds,
        "--metrics",
        "perplexity,exact_match",
        "--max-tokens",
        "2",
        "--limit",
        "4",
        "--wait",
    ]);
    assert_eq!(ppl["state"], "succeeded", "{ppl}\n{}", srv.logs());
    let p = &ppl["results"]["metrics"]["perplexity"];
    let score = p["score"].as_f64().unwrap();
    assert!(score > 1.0 && score.is_finite() && p["tokens"].as_u64().unwrap() >= 4, "{p}");
    let per: Vec<f64> = examples(&cli, ppl["id"].as_str().unwrap()).iter().map(|x| x["scores"]["perplexity"].as_f64().unwrap()).collect();
    assert!(per.iter().all(|x| *x > 1.0) && per.len() == 4, "{per:?}");
    assert!(
        per.iter().cloned().fold(f64::INFINITY, f64::min) <= score && score <= per.iter().cloned().fold(0.0, f64::max),
        "{per:?} {score}"
    );
    let refused = cli.fails(&["eval", "create", "--model", "tiny-through-url", "--dataset", &ds, "--metrics", "perplexity"], 1);
    assert!(refused.contains("perplexity needs the model's log-probabilities"), "{refused}");
    // Compared side by side, and A/B tested: the same answers, no difference.
    let remote_id = remote["id"].as_str().unwrap();
    let compared = cli.json(&["eval", "compare", local_id, remote_id, "--metric", "bleu", "--limit", "2"]);
    assert_eq!(compared["versus_first"][0]["ties"], 8, "{compared}");
    assert_eq!(compared["examples"].as_array().unwrap().len(), 2, "{compared}");
    let table = cli.ok(&["eval", "compare", local_id, remote_id, "--limit", "1"]);
    let remote_name = remote["name"].as_str().unwrap();
    assert!(table.contains(remote_name) && table.contains("8 ties") && table.contains("#0 reference: 0!"), "{table}");
    let ab = cli.json(&["eval", "ab", local_id, remote_id, "--metric", "chrf", "--resamples", "1000"]);
    assert_eq!((ab["results"]["p_value"].as_f64(), ab["results"]["significant"].as_bool()), (Some(1.0), Some(false)), "{ab}");
    let shown = cli.ok(&["eval", "ab-show", ab["id"].as_str().unwrap()]);
    assert!(shown.contains("no significant difference on chrf"), "{shown}");
    // The tiny model as a judge through the serving path: what it says is kept, and a reply
    // without a rating in the fixed form is counted as unparsed, never as a score.
    let judged = cli.json(&["eval", "judge", local_id, "--judge", &base, "--max-tokens", "16", "--wait"]);
    assert_eq!(judged["state"], "succeeded", "{judged}");
    let m = &judged["results"]["metrics"]["judge_rating"];
    assert_eq!(m["judged"].as_u64().unwrap() + m["unparsed"].as_u64().unwrap(), 8, "{m}");
    let x = &examples(&cli, judged["id"].as_str().unwrap())[0];
    assert_eq!((x["answers"].as_array().map(Vec::len), x["judgements"].as_array().map(Vec::len)), (Some(1), Some(1)), "{x}");

    // Human evaluation: two raters rate the local and the remote answers blind in the
    // terminal (a criterion 0-2 per answer, tags, a flag), and the results report each model's
    // mean and the raters' agreement.
    let bob = Cli::new(&srv.url);
    cli.ok_with(
        &["users", "create", "--email", "bob@example.com", "--name", "Bob", "--role", "viewer", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    bob.ok_with(&["login", "--email", "bob@example.com", "--password-stdin"], &format!("{PASSWORD}\n"));
    let args =
        ["eval", "human", "create", local_id, remote_id, "--criteria", "relevance:0-2", "--rater-roles", "admin,viewer", "--sample", "3"];
    let task = cli.json(&args);
    let task_id = task["id"].as_str().unwrap();
    assert_eq!((task["items"].as_i64(), task["state"].as_str()), (Some(3), Some("open")), "{task}");
    // Per item: A's score, B's score, A's tags, B's tags, a flag (the first item flagged).
    let ada_input = "2\n1\nhallucination\n\nunclear prompt\n".to_string() + &"2\n2\n\n\n\n".repeat(2);
    let out = cli.ok_with(&["eval", "human", "rate", task_id], &ada_input);
    assert!(out.contains("[reference]") && out.contains("[A]") && out.contains("all 3 items done (3 rated, 0 skipped)"), "{out}");
    let out = bob.ok_with(&["eval", "human", "rate", task_id], &"1\n1\n\n\n\n".repeat(3));
    assert!(out.contains("all 3 items done (3 rated, 0 skipped)"), "{out}");
    let results = cli.json(&["eval", "human", "results", task_id]);
    let relevance = &results["figures"]["criteria"][0];
    assert_eq!(relevance["models"][0]["ratings"].as_u64().unwrap() + relevance["models"][1]["ratings"].as_u64().unwrap(), 12, "{results}");
    assert!(relevance["agreement"]["krippendorff_alpha_interval"].is_number(), "{relevance}");
    assert_eq!(relevance["agreement"]["cohen_kappa"]["units"], 6, "{relevance}");
    assert_eq!(results["flags"][0]["text"], "unclear prompt", "{results}");
    let table = cli.ok(&["eval", "human", "results", task_id]);
    assert!(table.contains("alpha") && table.contains("quadratic kappa") && table.contains("tag hallucination"), "{table}");
    // Bob sees the results once the task is closed.
    assert!(bob.fails(&["eval", "human", "results", task_id], 1).contains("is open"));
    cli.ok(&["eval", "human", "close", task_id]);
    bob.ok(&["eval", "human", "results", task_id]);

    // A predictions file: scored by the server as by the binary here.
    let file = files.path().join("predictions.jsonl");
    let lines: String =
        (0..6).map(|i| serde_json::json!({"prediction": format!("{i} !"), "reference": format!("{i}!")}).to_string() + "\n").collect();
    std::fs::write(&file, lines).unwrap();
    let f = file.to_str().unwrap();
    let served = cli.json(&["eval", "upload", "--predictions", f, "--metrics", "bleu,rouge", "--wait"]);
    let here = cli.json(&["eval", "score", "--predictions", f, "--metrics", "bleu,rouge"]);
    assert_eq!(served["state"], "succeeded", "{served}");
    for name in ["bleu", "rouge1", "rougeL"] {
        assert_eq!(served["results"]["metrics"][name]["score"], here["metrics"][name]["score"], "{name}: {served} vs {here}");
        assert_eq!(served["results"]["metrics"][name]["interval"], here["metrics"][name]["interval"], "{name}");
    }

    // Cancelled while it runs: it stops and stays cancelled.
    let slow = cli.json(&["eval", "create", "--model", &base, "--dataset", &ds, "--max-tokens", "200", "--concurrency", "1"]);
    let slow_id = slow["id"].as_str().unwrap();
    wait_json(&cli, &["eval", "show", slow_id], |e| e["progress"]["answered"].as_i64().unwrap_or(0) >= 1, 120);
    let cancelled = cli.json(&["eval", "cancel", slow_id]);
    assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let after = cli.json(&["eval", "show", slow_id]);
    assert_eq!((after["state"].as_str(), after["results"].is_null()), (Some("cancelled"), true), "{after}");
    let listed = cli.json(&["eval", "list", "--model", &base]);
    assert_eq!(listed["data"].as_array().unwrap().len(), 5, "{listed}");
}
