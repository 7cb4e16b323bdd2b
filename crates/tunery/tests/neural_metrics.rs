//! End to end: METEOR with WordNet synonyms and BERTScore on a predictions file, scored by a
//! real `tunery serve` (WordNet and the encoder given by its flags, BERTScore run by the
//! runtime's `score-text`) and by `tunery eval score` on this machine — equal figures, equal to
//! NLTK's METEOR and to the bert-score package on their fixtures, the WordNet, encoder and
//! layer named in the results; an A/B test on BERTScore from the stored per-example scores;
//! `bleurt` refused naming the setting it needs; a rerun on a
//! server that lost its WordNet fails naming it instead of scoring without synonyms.

mod common;

use common::Cli;
use serde_json::{json, Value};
use std::path::Path;

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery staple";

#[test]
fn meteor_with_wordnet_bertscore_and_bleurt_are_scored_by_the_server_as_here_and_as_their_references() {
    let (Some(python), Some(encoder)) = (test_support::runtime_python(), test_support::bertscore_encoder()) else { return };
    let wordnet = Path::new(env!("CARGO_MANIFEST_DIR")).join("../metrics/tests/fixtures/wordnet-subset");
    let wordnet = std::fs::canonicalize(wordnet).unwrap();
    let bert: Value = serde_json::from_str(include_str!("../../../runtime/tests/fixtures/bertscore_reference.json")).unwrap();
    let meteor: Value = serde_json::from_str(include_str!("../../metrics/tests/fixtures/meteor_wordnet_nltk.json")).unwrap();
    let bert_cases = bert["results"][0]["cases"].as_array().unwrap();
    assert_eq!(bert["results"][0]["layer"], 6);
    let meteor_cases: Vec<&Value> = meteor["cases"].as_array().unwrap().iter().filter(|c| c["tokenize"] == "13a").collect();
    let lines: String = bert_cases
        .iter()
        .map(|c| json!({"prediction": c["prediction"], "references": c["references"]}))
        .chain(meteor_cases.iter().map(|c| json!({"prediction": c["hypothesis"], "references": c["references"]})))
        .map(|v| v.to_string() + "\n")
        .collect();
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("predictions.jsonl");
    std::fs::write(&file, lines).unwrap();
    let f = file.to_str().unwrap();

    let data = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let metric_flags = ["--wordnet-dir", wordnet.to_str().unwrap(), "--bertscore-model", encoder.to_str().unwrap()];
    let mut srv = common::runtime_server(&python, data.path(), port, &metric_flags, &[]);
    let cli = Cli::new(&srv.url);
    cli.ok_with(&["register", "--email", EMAIL, "--name", "Ada", "--password-stdin"], &format!("{PASSWORD}\n"));
    cli.ok_with(&["login", "--email", EMAIL, "--password-stdin"], &format!("{PASSWORD}\n"));

    let served = cli.json(&["eval", "upload", "--predictions", f, "--metrics", "meteor,bertscore", "--wait"]);
    assert_eq!(served["state"], "succeeded", "{served}\n{}", srv.logs());
    let id = served["id"].as_str().unwrap().to_string();
    let m = &served["results"]["metrics"];
    assert_eq!(m["meteor"]["wordnet"]["version"], "WordNet 3.0", "{m}");
    assert_eq!((m["bertscore"]["model"].as_str(), m["bertscore"]["layer"].as_u64()), (Some("all-minilm-l6-v2"), Some(6)), "{m}");
    assert!(m["bertscore"]["interval"].is_array() && m["bertscore"]["precision"].is_number(), "{m}");

    // Per example: BERTScore F1 as bert-score's (× 100), METEOR as NLTK's with WordNet.
    let page = cli.json(&["eval", "examples", &id, "--limit", "100"]);
    let examples = page["data"].as_array().unwrap();
    for (x, c) in examples.iter().zip(bert_cases) {
        let got = x["scores"]["bertscore"].as_f64().unwrap();
        assert!((got - 100.0 * c["f1"].as_f64().unwrap()).abs() < 1e-3, "{x} vs {c}");
    }
    for (x, c) in examples[bert_cases.len()..].iter().zip(&meteor_cases) {
        let got = x["scores"]["meteor"].as_f64().unwrap();
        assert!((got - 100.0 * c["meteor"].as_f64().unwrap()).abs() < 1e-9, "{x} vs {c}");
    }

    // The same file scored here: the same figures.
    let here = cli.json(&[
        "eval",
        "score",
        "--predictions",
        f,
        "--metrics",
        "meteor,bertscore",
        "--wordnet-dir",
        wordnet.to_str().unwrap(),
        "--bertscore-model",
        encoder.to_str().unwrap(),
        "--runtime-python",
        python.to_str().unwrap(),
        "--runtime-dir",
        test_support::runtime_dir().to_str().unwrap(),
    ]);
    for (name, tolerance) in [("meteor", 1e-9), ("bertscore", 1e-9)] {
        let ends = |v: &Value| [v["score"].as_f64().unwrap(), v["interval"][0].as_f64().unwrap(), v["interval"][1].as_f64().unwrap()];
        for (a, b) in ends(&m[name]).into_iter().zip(ends(&here["metrics"][name])) {
            assert!((a - b).abs() < tolerance, "{name}: {} vs {}", m[name], here["metrics"][name]);
        }
    }
    let err = cli.fails(&["eval", "score", "--predictions", f, "--metrics", "bleurt"], 1);
    assert!(err.contains("bleurt needs a model: give --bleurt-checkpoint"), "{err}");

    // An offline A/B test on BERTScore, from the scores both evaluations stored: a system that
    // answers every example with its first reference is significantly better.
    let perfect = files.path().join("perfect.jsonl");
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: String = text
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            json!({"prediction": v["references"][0], "references": v["references"]}).to_string() + "\n"
        })
        .collect();
    std::fs::write(&perfect, lines).unwrap();
    let better = cli.json(&["eval", "upload", "--predictions", perfect.to_str().unwrap(), "--metrics", "bertscore", "--wait"]);
    let ab = cli.json(&["eval", "ab", &id, better["id"].as_str().unwrap(), "--metric", "bertscore"]);
    let r = &ab["results"];
    assert_eq!(r["score_a"], m["bertscore"]["score"], "{ab}");
    assert!(r["score_b"].as_f64().unwrap() > 99.99 && r["significant"] == true, "{ab}");

    // BLEURT without a checkpoint: refused, naming the setting.
    let err = cli.fails(&["eval", "upload", "--predictions", f, "--metrics", "bleu,bleurt"], 1);
    assert!(err.contains("metrics[1]") && err.contains("--bleurt-checkpoint"), "{err}");

    // The rerun scores the same; on a server without WordNet it fails naming it.
    let again = cli.json(&["eval", "rerun", &id, "--wait"]);
    assert_eq!(again["results"]["metrics"]["meteor"]["score"], m["meteor"]["score"], "{again}");
    assert_eq!(again["results"]["metrics"]["bertscore"]["score"], m["bertscore"]["score"], "{again}");
    srv.terminate();
    // The same data on a server without WordNet, and with a BLEURT checkpoint (a tiny regression
    // model in the shape of the PyTorch ports, made here).
    let bleurt = files.path().join("bleurt-tiny");
    let made = std::process::Command::new(&python)
        .args(["-c", MAKE_TINY_BLEURT, bleurt.to_str().unwrap(), encoder.to_str().unwrap()])
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let srv = common::runtime_server(
        &python,
        data.path(),
        port,
        &["--bertscore-model", encoder.to_str().unwrap(), "--bleurt-checkpoint", bleurt.to_str().unwrap()],
        &[],
    );
    let out = cli.run(&["--json", "eval", "rerun", &id, "--wait"]);
    assert_eq!(out.status.code(), Some(1), "{}", common::describe(&out));
    let lost: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(lost["state"], "failed", "{lost}");
    assert!(lost["error"].as_str().unwrap().contains("--wordnet-dir"), "{lost}\n{}", srv.logs());

    // BLEURT: scored by the server as here, the checkpoint named.
    let served = cli.json(&["eval", "upload", "--predictions", f, "--metrics", "bleurt", "--wait"]);
    let here = cli.json(&[
        "eval",
        "score",
        "--predictions",
        f,
        "--metrics",
        "bleurt",
        "--bleurt-checkpoint",
        bleurt.to_str().unwrap(),
        "--runtime-python",
        python.to_str().unwrap(),
        "--runtime-dir",
        test_support::runtime_dir().to_str().unwrap(),
    ]);
    let b = &served["results"]["metrics"]["bleurt"];
    assert_eq!(b["model"], "bleurt-tiny", "{served}");
    assert_eq!(b["score"], here["metrics"]["bleurt"]["score"], "{served} vs {here}");
}

/// A BertForSequenceClassification with one output and the encoder's tokenizer, saved to argv[1].
const MAKE_TINY_BLEURT: &str = r#"
import sys, torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification
torch.manual_seed(0)
config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=1)
BertForSequenceClassification(config).eval().save_pretrained(sys.argv[1])
AutoTokenizer.from_pretrained(sys.argv[2]).save_pretrained(sys.argv[1])
"#;
