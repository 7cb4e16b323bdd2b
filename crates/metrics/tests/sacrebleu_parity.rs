//! BLEU and chrF against sacreBLEU's own figures (`fixtures/sacrebleu_{bleu,chrf}.json`,
//! written by `fixtures/make_sacrebleu_{bleu,chrf}.py` with sacreBLEU 2.5.1): tokens, counts,
//! lengths, brevity penalty, corpus and sentence scores; chrF, chrF++, lowercase, eps
//! smoothing and whitespace variants.

use serde_json::Value;

fn cases(text: &str) -> Vec<Value> {
    let doc: Value = serde_json::from_str(text).expect("the fixture parses");
    doc["cases"].as_array().expect("cases").clone()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().expect("a list").iter().map(|s| s.as_str().expect("a string")).collect()
}

#[test]
fn corpus_and_sentence_bleu_equal_sacrebleus() {
    check_bleu(include_str!("fixtures/sacrebleu_bleu.json"), metrics::BleuTokenizer::ThirteenA, metrics::tokenize_13a);
}

#[test]
fn bleu_with_the_zh_tokenizer_equals_sacrebleus() {
    check_bleu(include_str!("fixtures/sacrebleu_bleu_zh.json"), metrics::BleuTokenizer::Zh, metrics::tokenize_zh);
}

fn check_bleu(fixture: &str, tokenizer: metrics::BleuTokenizer, tokenize: fn(&str) -> String) {
    for case in cases(fixture) {
        let name = case["name"].as_str().unwrap();
        let hyps = strings(&case["hyps"]);
        let refs: Vec<Vec<&str>> = case["refs"].as_array().unwrap().iter().map(strings).collect();
        for (h, want) in hyps.iter().zip(strings(&case["tokens"])) {
            assert_eq!(tokenize(h), want, "{name}: tokens of {h:?}");
        }
        let got = metrics::corpus_bleu_with(&hyps, &refs, tokenizer).unwrap();
        let as_u64 = |v: &Value| v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect::<Vec<_>>();
        assert_eq!(got.counts.to_vec(), as_u64(&case["counts"]), "{name}: counts");
        assert_eq!(got.totals.to_vec(), as_u64(&case["totals"]), "{name}: totals");
        assert_eq!((got.sys_len, got.ref_len), (case["sys_len"].as_u64().unwrap(), case["ref_len"].as_u64().unwrap()), "{name}");
        assert!((got.brevity_penalty - case["bp"].as_f64().unwrap()).abs() < 1e-12, "{name}: bp {}", got.brevity_penalty);
        assert!((got.score - case["score"].as_f64().unwrap()).abs() < 1e-9, "{name}: {} vs {}", got.score, case["score"]);
        for (i, want) in case["sentence_scores"].as_array().unwrap().iter().enumerate() {
            let refs_i: Vec<&str> = refs.iter().map(|s| s[i]).collect();
            let got = metrics::sentence_bleu_with(hyps[i], &refs_i, tokenizer).score;
            assert!((got - want.as_f64().unwrap()).abs() < 1e-9, "{name}: sentence {i}: {got} vs {want}");
        }
    }
}

#[test]
fn reference_streams_of_another_length_are_refused() {
    let err = metrics::corpus_bleu(&["a", "b"], &[vec!["a"]]).unwrap_err();
    assert!(err.contains("1 segments, the hypotheses 2"), "{err}");
}

#[test]
fn chrf_and_chrf_plus_plus_equal_sacrebleus() {
    let doc: Value = serde_json::from_str(include_str!("fixtures/sacrebleu_chrf.json")).expect("the fixture parses");
    let variants = [
        ("chrf", metrics::Chrf::default()),
        ("chrf++", metrics::Chrf::plus_plus()),
        ("chrf lowercase", metrics::Chrf { lowercase: true, ..metrics::Chrf::default() }),
        ("chrf eps", metrics::Chrf { eps_smoothing: true, ..metrics::Chrf::default() }),
        ("chrf whitespace", metrics::Chrf { whitespace: true, ..metrics::Chrf::default() }),
    ];
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let hyps = strings(&case["hyps"]);
        let refs: Vec<Vec<&str>> = case["refs"].as_array().unwrap().iter().map(strings).collect();
        for (variant, chrf) in &variants {
            let want = &case["scores"][*variant];
            let got = chrf.corpus_score(&hyps, &refs).unwrap();
            assert!((got - want["corpus"].as_f64().unwrap()).abs() < 1e-9, "{name} {variant}: {got} vs {}", want["corpus"]);
            for (i, w) in want["sentences"].as_array().unwrap().iter().enumerate() {
                let refs_i: Vec<&str> = refs.iter().map(|s| s[i]).collect();
                let got = chrf.sentence_score(hyps[i], &refs_i);
                assert!((got - w.as_f64().unwrap()).abs() < 1e-9, "{name} {variant} sentence {i}: {got} vs {w}");
            }
        }
    }
}
