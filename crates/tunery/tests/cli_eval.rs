//! `tunery eval score`: a predictions file scored by the binary itself, with no server and no
//! login; the figures are sacreBLEU's (the metrics crate's fixture) and errors name the line.

mod common;

use common::Cli;
use serde_json::{json, Value};

#[test]
fn a_predictions_file_is_scored_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let fixture: Value = serde_json::from_str(include_str!("../../metrics/tests/fixtures/sacrebleu_bleu.json")).unwrap();
    let case = &fixture["cases"][0];
    let lines: String = (0..3)
        .map(|i| json!({"prediction": case["hyps"][i], "references": [case["refs"][0][i], case["refs"][1][i]]}).to_string() + "\n")
        .collect();
    let file = dir.path().join("predictions.jsonl");
    std::fs::write(&file, lines).unwrap();
    // Nothing listens there: the command never calls a server.
    let cli = Cli::new("http://127.0.0.1:9");
    let out = cli.json(&["eval", "score", "--predictions", file.to_str().unwrap(), "--metrics", "bleu,chrf,rouge,exact_match,f1"]);
    assert_eq!(out["examples"], 3, "{out}");
    let bleu = out["metrics"]["bleu"]["score"].as_f64().unwrap();
    assert!((bleu - case["score"].as_f64().unwrap()).abs() < 1e-9, "{out}");
    assert_eq!(out["metrics"]["bleu"]["tokenize"], "13a");
    for name in ["chrf", "rouge1", "rouge2", "rougeL", "rougeLsum", "exact_match", "f1"] {
        let s = out["metrics"][name]["score"].as_f64().unwrap_or(-1.0);
        assert!((0.0..=100.0).contains(&s), "{name}: {out}");
    }
    let table = cli.ok(&["eval", "score", "--predictions", file.to_str().unwrap(), "--metrics", "bleu"]);
    assert!(table.contains("46.77") && table.contains("3 examples"), "{table}");

    // ROUGE with rouge-score's stemmer, and Chinese-aware: rouge-score's figures with them.
    let variants: Value = serde_json::from_str(include_str!("../../metrics/tests/fixtures/rouge_variants.json")).unwrap();
    for (stemmer, chinese, flags) in [(true, false, vec!["--rouge-stemmer"]), (false, true, vec!["--tokenize", "zh"])] {
        let cases: Vec<&Value> =
            variants["cases"].as_array().unwrap().iter().filter(|c| c["stemmer"] == stemmer && c["chinese"] == chinese).collect();
        let lines: String =
            cases.iter().map(|c| json!({"prediction": c["prediction"], "reference": c["target"]}).to_string() + "\n").collect();
        let file = dir.path().join("variants.jsonl");
        std::fs::write(&file, lines).unwrap();
        let mut args = vec!["eval", "score", "--predictions", file.to_str().unwrap(), "--metrics", "rouge1", "--bootstrap", "0"];
        args.extend(flags);
        let out = cli.json(&args);
        let want = 100.0 * cases.iter().map(|c| c["scores"]["rouge1"][2].as_f64().unwrap()).sum::<f64>() / cases.len() as f64;
        assert!((out["metrics"]["rouge1"]["score"].as_f64().unwrap() - want).abs() < 1e-9, "{out} vs {want}");
        assert_eq!(out["metrics"]["rouge1"]["stemmer"], stemmer, "{out}");
    }

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"prediction\": \"a\", \"reference\": \"a\"}\n{\"reference\": \"b\"}\n").unwrap();
    let err = cli.fails(&["eval", "score", "--predictions", bad.to_str().unwrap()], 1);
    assert!(err.contains("line 2") && err.contains("`prediction`"), "{err}");
    let err = cli.fails(&["eval", "score", "--predictions", file.to_str().unwrap(), "--metrics", "bleurt2"], 1);
    assert!(err.contains("unknown metric 'bleurt2'"), "{err}");
}
