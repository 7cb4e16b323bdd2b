//! Metrics by name (`metrics::suite`): each corpus score equals the metric's own function, the
//! per-example scores are the sentence-level ones, and the bootstrap interval is seeded
//! (the same seed, the same interval), contains the score, is degenerate when every example
//! scores the same, and narrows as the test set grows.

use metrics::suite::{self, Bootstrap, Example};
use metrics::BleuTokenizer;

fn example(prediction: &str, reference: &str) -> Example {
    Example { prediction: prediction.into(), references: vec![reference.into()] }
}

fn corpus(n: usize) -> Vec<Example> {
    let words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "away"];
    (0..n)
        .map(|i| {
            let reference: Vec<&str> = (0..8).map(|k| words[(i * 7 + k * 3) % words.len()]).collect();
            let mut prediction = reference.clone();
            // Every third example has two words wrong.
            if i % 3 == 0 {
                prediction[2] = "zebra";
                prediction[5] = "yak";
            }
            example(&prediction.join(" "), &reference.join(" "))
        })
        .collect()
}

#[test]
fn corpus_scores_equal_the_metric_functions_and_per_example_scores_the_sentence_ones() {
    let xs = corpus(30);
    let hyps: Vec<&str> = xs.iter().map(|x| x.prediction.as_str()).collect();
    let refs: Vec<&str> = xs.iter().map(|x| x.references[0].as_str()).collect();
    let bleu = &suite::score(&xs, "bleu", BleuTokenizer::ThirteenA, None).unwrap()[0];
    assert_eq!(bleu.score, metrics::corpus_bleu(&hyps, std::slice::from_ref(&refs)).unwrap().score);
    let per = bleu.per_example.as_ref().unwrap();
    for (i, x) in xs.iter().enumerate() {
        assert_eq!(per[i], metrics::sentence_bleu(&x.prediction, &[&x.references[0]]).score);
    }
    let chrf = &suite::score(&xs, "chrf++", BleuTokenizer::ThirteenA, None).unwrap()[0];
    assert_eq!(chrf.score, metrics::Chrf::plus_plus().corpus_score(&hyps, std::slice::from_ref(&refs)).unwrap());
    let rouge = suite::score(&xs, "rouge", BleuTokenizer::ThirteenA, None).unwrap();
    assert_eq!(rouge.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["rouge1", "rouge2", "rougeL", "rougeLsum"]);
    let mean_f: f64 = xs.iter().map(|x| metrics::rouge_l(&x.references[0], &x.prediction).fmeasure).sum::<f64>() / xs.len() as f64;
    assert!((rouge[2].score - 100.0 * mean_f).abs() < 1e-9);
    let em = &suite::score(&xs, "exact_match", BleuTokenizer::ThirteenA, None).unwrap()[0];
    assert!((em.score - 200.0 / 3.0).abs() < 1e-9, "{}", em.score);
    let acc = &suite::score(&xs, "accuracy", BleuTokenizer::ThirteenA, None).unwrap()[0];
    assert_eq!(acc.score, 100.0 * metrics::classification(&refs, &hyps).unwrap().accuracy);
}

#[test]
fn the_bootstrap_interval_is_seeded_contains_the_score_and_narrows_with_more_examples() {
    let b = Bootstrap { resamples: 500, confidence: 0.95, seed: 7 };
    let small = corpus(30);
    let first = &suite::score(&small, "bleu", BleuTokenizer::ThirteenA, Some(b)).unwrap()[0];
    let again = &suite::score(&small, "bleu", BleuTokenizer::ThirteenA, Some(b)).unwrap()[0];
    assert_eq!(first.interval, again.interval, "the same seed gives the same interval");
    let other = &suite::score(&small, "bleu", BleuTokenizer::ThirteenA, Some(Bootstrap { seed: 8, ..b })).unwrap()[0];
    assert_ne!(first.interval, other.interval);
    let [lo, hi] = first.interval.unwrap();
    assert!(lo < first.score && first.score < hi, "{lo} < {} < {hi}", first.score);
    // Exact match on 30 examples where 10 miss: the interval of a proportion of 2/3.
    let em = &suite::score(&small, "exact_match", BleuTokenizer::ThirteenA, Some(b)).unwrap()[0];
    let [lo, hi] = em.interval.unwrap();
    assert!((45.0..60.0).contains(&lo) && (75.0..90.0).contains(&hi), "{lo}–{hi}");
    // Ten times the examples: a narrower interval (about 1/sqrt(10) as wide).
    let large = corpus(300);
    let em_large = &suite::score(&large, "exact_match", BleuTokenizer::ThirteenA, Some(b)).unwrap()[0];
    let [l2, h2] = em_large.interval.unwrap();
    assert!((h2 - l2) < 0.5 * (hi - lo), "{l2}–{h2} against {lo}–{hi}");
    // Every example the same: nothing to resample.
    let same: Vec<Example> = (0..20).map(|_| example("a b c d", "a b c d")).collect();
    let m = &suite::score(&same, "chrf", BleuTokenizer::ThirteenA, Some(b)).unwrap()[0];
    assert_eq!(m.interval, Some([m.score, m.score]));
    // Corpus-level only metrics have no interval.
    let d = &suite::score(&small, "distinct-2", BleuTokenizer::ThirteenA, Some(b)).unwrap()[0];
    assert_eq!((d.interval, d.per_example.is_none()), (None, true));
}

#[test]
fn edge_cases_score_without_failing_and_bad_input_names_the_line() {
    let xs =
        vec![example("", "a reference"), example("x", "x"), example("日本語のテキスト", "日本語"), example(&"word ".repeat(5000), "word")];
    for name in suite::METRIC_NAMES.iter().filter(|m| !suite::MODEL_METRICS.contains(m) && !suite::RUNTIME_METRICS.contains(m)) {
        let scores = suite::score(&xs, name, BleuTokenizer::Zh, Some(Bootstrap::default())).unwrap();
        for m in scores {
            assert!(m.score.is_finite(), "{name}: {}", m.score);
        }
    }
    assert!(suite::score(&xs, "comet", BleuTokenizer::ThirteenA, None).unwrap_err().contains("unknown metric 'comet'"));
    assert!(suite::score(&[], "bleu", BleuTokenizer::ThirteenA, None).is_err());
    let uneven = vec![example("a", "a"), Example { prediction: "b".into(), references: vec!["b".into(), "c".into()] }];
    assert!(suite::score(&uneven, "bleu", BleuTokenizer::ThirteenA, None).unwrap_err().contains("example 2 has 2 references"));
    let err = suite::parse_jsonl("{\"prediction\": \"a\", \"reference\": \"a\"}\n\n{\"prediction\": 3, \"reference\": \"b\"}\n", "p.jsonl")
        .unwrap_err();
    assert!(err.contains("p.jsonl line 3") && err.contains("`prediction`"), "{err}");
    let err = suite::parse_jsonl("{\"prediction\": \"a\", \"reference\": \"a\", \"references\": [\"b\"]}\n", "p.jsonl").unwrap_err();
    assert!(err.contains("not both"), "{err}");
    assert_eq!(suite::parse_jsonl("\n", "empty.jsonl").unwrap_err(), "empty.jsonl: no examples");
}

#[test]
fn scoring_on_every_core_gives_the_figures_of_one_and_distinct_n_the_naive_count() {
    let xs = corpus(2000);
    let score_all = || -> Vec<(String, f64, Option<Vec<f64>>)> {
        suite::METRIC_NAMES
            .iter()
            .filter(|m| **m != "self_bleu" && !suite::MODEL_METRICS.contains(m) && !suite::RUNTIME_METRICS.contains(m))
            .flat_map(|m| {
                suite::score(&xs, m, BleuTokenizer::ThirteenA, Some(Bootstrap { resamples: 50, ..Bootstrap::default() })).unwrap()
            })
            .map(|m| (m.name, m.score, m.interval.map(|i| i.to_vec())))
            .collect()
    };
    metrics::parallel::set_threads(1);
    let one = score_all();
    metrics::parallel::set_threads(0);
    assert_eq!(one, score_all());
    // distinct-n against the plain definition: the bitmap (n ≤ 2 here) and the hash-set (n = 3,
    // 5) paths.
    let texts: Vec<String> =
        (0..3000).map(|i| format!("w{} u{} w{} w{} w{} w{}", i % 7, i % 1000, i % 11, i % 13, (i * 7) % 17, i % 5)).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    for n in [1, 2, 3, 5] {
        let mut seen = std::collections::HashSet::new();
        let mut total = 0;
        for t in &refs {
            let tokens: Vec<&str> = t.split(' ').collect();
            for w in tokens.windows(n) {
                seen.insert(w.to_vec());
                total += 1;
            }
        }
        assert_eq!(metrics::distinct_n(&refs, n, BleuTokenizer::None), seen.len() as f64 / total as f64, "n = {n}");
    }
}

#[test]
fn meteor_by_name_is_the_mean_of_nltks_per_example_scores() {
    let doc: serde_json::Value = serde_json::from_str(include_str!("fixtures/meteor_nltk.json")).unwrap();
    let cases: Vec<&serde_json::Value> = doc["cases"].as_array().unwrap().iter().filter(|c| c["tokenize"] == "13a").collect();
    let xs: Vec<Example> = cases
        .iter()
        .map(|c| Example {
            prediction: c["hypothesis"].as_str().unwrap().into(),
            references: c["references"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect(),
        })
        .collect();
    let m = &suite::score(&xs, "meteor", BleuTokenizer::ThirteenA, Some(Bootstrap::default())).unwrap()[0];
    let want = 100.0 * cases.iter().map(|c| c["meteor"].as_f64().unwrap()).sum::<f64>() / cases.len() as f64;
    assert!((m.score - want).abs() < 1e-9, "{} vs {want}", m.score);
    let per = m.per_example.as_ref().unwrap();
    assert!((per[0] - 100.0 * cases[0]["meteor"].as_f64().unwrap()).abs() < 1e-9);
    let [lo, hi] = m.interval.unwrap();
    assert!(lo <= m.score && m.score <= hi, "{lo} {hi}");
    assert_eq!(m.details["tokenize"], "13a");
}

#[test]
fn perplexity_is_exp_of_minus_the_log_probability_per_token() {
    let rows = [(-2.0, 2), (-6.0, 3)];
    let p = suite::perplexity(&rows, Some(Bootstrap::default())).unwrap();
    assert!((p.score - (8.0f64 / 5.0).exp()).abs() < 1e-12, "{}", p.score);
    let per = p.per_example.unwrap();
    assert!((per[0] - 1f64.exp()).abs() < 1e-12 && (per[1] - 2f64.exp()).abs() < 1e-12, "{per:?}");
    let [lo, hi] = p.interval.unwrap();
    assert!(lo <= p.score && p.score <= hi && lo >= 1f64.exp() - 1e-12 && hi <= 2f64.exp() + 1e-12, "{lo} {hi}");
    assert!(suite::perplexity(&[(-1.0, 0)], None).unwrap_err().contains("example 0"));
    let text =
        suite::score(&[Example { prediction: "a".into(), references: vec!["a".into()] }], "perplexity", BleuTokenizer::ThirteenA, None);
    assert!(text.unwrap_err().contains("log-probabilities"));
}

#[test]
fn runtime_scores_become_a_mean_with_an_interval_and_what_computed_them() {
    let rows: Vec<serde_json::Map<String, serde_json::Value>> = [(0.9, 0.8, 0.85), (0.5, 0.7, 0.6), (1.0, 1.0, 1.0)]
        .iter()
        .map(|(p, r, f)| serde_json::json!({"precision": p, "recall": r, "f1": f}).as_object().unwrap().clone())
        .collect();
    let summary = serde_json::json!({"model": "all-minilm-l6-v2", "layer": 6, "seconds": 1.5}).as_object().unwrap().clone();
    let s = suite::from_runtime("bertscore", &rows, &summary, Some(Bootstrap::default())).unwrap();
    assert!((s.score - 100.0 * (0.85 + 0.6 + 1.0) / 3.0).abs() < 1e-12);
    assert!((s.details["precision"].as_f64().unwrap() - 100.0 * 2.4 / 3.0).abs() < 1e-12);
    assert_eq!((s.details["model"].as_str(), s.details["layer"].as_u64()), (Some("all-minilm-l6-v2"), Some(6)));
    assert!(!s.details.contains_key("seconds"), "timing is not part of a score");
    let [lo, hi] = s.interval.unwrap();
    assert!(lo <= s.score && s.score <= hi && lo >= 60.0 && hi <= 100.0, "{lo} {hi}");
    assert_eq!(s.per_example.as_deref(), Some(&[85.0, 60.0, 100.0][..]));
    // BLEURT keeps the checkpoint's scale.
    let rows = vec![serde_json::json!({"score": -0.25}).as_object().unwrap().clone()];
    assert_eq!(suite::from_runtime("bleurt", &rows, &summary, None).unwrap().score, -0.25);
    // A row without its figure is an error naming the example; other names are refused.
    let e = suite::from_runtime("bertscore", &rows, &summary, None).unwrap_err();
    assert!(e.contains("example 1") && e.contains("`f1`"), "{e}");
    assert!(suite::from_runtime("bleu", &rows, &summary, None).is_err());
    assert!(suite::score(&[example("a", "a")], "bertscore", BleuTokenizer::ThirteenA, None).unwrap_err().contains("runtime"));
    // Stored scores sum as a mean on their own scale (an A/B test of them).
    let stored = suite::stored_summable("bertscore", &[85.0, 60.0, 100.0]);
    assert!((stored.score() - 245.0 / 3.0).abs() < 1e-12);
}
