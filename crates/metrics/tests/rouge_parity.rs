//! ROUGE against Google `rouge-score` 0.1.2's own figures: tokens, and precision, recall and F1
//! of ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum — with its default tokenizer
//! (`fixtures/rouge_score.json`, by `fixtures/make_rouge_score.py`), with its Porter stemmer, and
//! with the Chinese-aware tokenizer (`fixtures/rouge_variants.json`, by
//! `fixtures/make_rouge_variants.py`).

use serde_json::Value;

#[test]
fn rouge_equals_rouge_scores() {
    let doc: Value = serde_json::from_str(include_str!("fixtures/rouge_score.json")).expect("the fixture parses");
    for case in doc["cases"].as_array().unwrap() {
        let (target, prediction) = (case["target"].as_str().unwrap(), case["prediction"].as_str().unwrap());
        let tokens: Vec<String> = case["tokens"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
        assert_eq!(metrics::rouge_tokenize(prediction), tokens, "tokens of {prediction:?}");
        let got = [
            ("rouge1", metrics::rouge_n(target, prediction, 1)),
            ("rouge2", metrics::rouge_n(target, prediction, 2)),
            ("rougeL", metrics::rouge_l(target, prediction)),
            ("rougeLsum", metrics::rouge_lsum(target, prediction)),
        ];
        for (kind, s) in got {
            let want: Vec<f64> = case["scores"][kind].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            for (name, g, w) in [("precision", s.precision, want[0]), ("recall", s.recall, want[1]), ("f", s.fmeasure, want[2])] {
                assert!((g - w).abs() < 1e-12, "{kind} {name} of {prediction:?} vs {target:?}: {g} vs {w}");
            }
        }
    }
}

#[test]
fn the_stemmer_and_the_chinese_aware_tokenizer_equal_rouge_score_with_them() {
    let doc: Value = serde_json::from_str(include_str!("fixtures/rouge_variants.json")).expect("the fixture parses");
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.iter().any(|c| c["chinese"] == true && c["scores"]["rouge1"][2].as_f64().unwrap() > 0.0), "Chinese scores something");
    for case in cases {
        let options = metrics::RougeOptions { stemmer: case["stemmer"] == true, chinese: case["chinese"] == true };
        let (target, prediction) = (case["target"].as_str().unwrap(), case["prediction"].as_str().unwrap());
        let tokens: Vec<String> = case["tokens"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
        assert_eq!(metrics::rouge_tokenize_with(prediction, options), tokens, "tokens of {prediction:?} ({options:?})");
        let got = metrics::rouge_all_with(target, prediction, options);
        for (kind, s) in ["rouge1", "rouge2", "rougeL", "rougeLsum"].iter().zip(got) {
            let want: Vec<f64> = case["scores"][kind].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            for (name, g, w) in [("precision", s.precision, want[0]), ("recall", s.recall, want[1]), ("f", s.fmeasure, want[2])] {
                assert!((g - w).abs() < 1e-12, "{kind} {name} of {prediction:?} vs {target:?} ({options:?}): {g} vs {w}");
            }
        }
    }
}
