//! Classification metrics against scikit-learn's figures and exact match / token F1 against the
//! SQuAD v1.1 script's (`fixtures/classification_squad.json`, written by
//! `fixtures/make_classification_squad.py`).

use serde_json::Value;

fn close(got: f64, want: &Value, what: &str) {
    let want = want.as_f64().unwrap();
    assert!((got - want).abs() < 1e-12, "{what}: {got} vs {want}");
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect()
}

#[test]
fn classification_auc_exact_match_and_f1_equal_the_references() {
    let doc: Value = serde_json::from_str(include_str!("fixtures/classification_squad.json")).expect("the fixture parses");
    for c in doc["classification"].as_array().unwrap() {
        let got = metrics::classification(&strs(&c["refs"]), &strs(&c["preds"])).unwrap();
        close(got.accuracy, &c["accuracy"], "accuracy");
        for (what, g, w) in [
            ("micro precision", got.micro_precision, &c["micro"][0]),
            ("micro recall", got.micro_recall, &c["micro"][1]),
            ("micro f1", got.micro_f1, &c["micro"][2]),
            ("macro precision", got.macro_precision, &c["macro"][0]),
            ("macro recall", got.macro_recall, &c["macro"][1]),
            ("macro f1", got.macro_f1, &c["macro"][2]),
        ] {
            close(g, w, what);
        }
    }
    for c in doc["auc"].as_array().unwrap() {
        let labels: Vec<bool> = c["labels"].as_array().unwrap().iter().map(|l| l.as_i64() == Some(1)).collect();
        let scores: Vec<f64> = c["scores"].as_array().unwrap().iter().map(|s| s.as_f64().unwrap()).collect();
        close(metrics::auc_roc(&labels, &scores).unwrap(), &c["auc"], "auc");
    }
    for c in doc["squad"].as_array().unwrap() {
        let (p, refs) = (c["prediction"].as_str().unwrap(), strs(&c["references"]));
        close(metrics::exact_match(p, &refs), &c["exact"], &format!("exact match of {p:?}"));
        close(metrics::token_f1(p, &refs), &c["f1"], &format!("f1 of {p:?}"));
    }
}

#[test]
fn mismatched_or_one_class_inputs_are_refused() {
    assert!(metrics::classification(&["a"], &["a", "b"]).unwrap_err().contains("1 references but 2 predictions"));
    assert!(metrics::auc_roc(&[true, true], &[0.1, 0.2]).unwrap_err().contains("positive and negative"));
    assert!(metrics::auc_roc(&[true, false], &[f64::NAN, 0.2]).unwrap_err().contains("score 0"));
}
