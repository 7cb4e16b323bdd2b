//! METEOR against NLTK's `meteor_score` with an empty WordNet (`fixtures/meteor_nltk.json`,
//! written by `fixtures/make_meteor.py`): NLTK's own example (0.6944), inflections the stem stage
//! aligns, repeated words, no match, an empty hypothesis, Chinese under the `zh` tokenizer, and
//! random sentences over a small vocabulary.

use metrics::BleuTokenizer;
use serde_json::Value;

#[test]
fn meteor_equals_nltk() {
    let doc: Value = serde_json::from_str(include_str!("fixtures/meteor_nltk.json")).expect("the fixture parses");
    for case in doc["cases"].as_array().unwrap() {
        let tokenize = BleuTokenizer::parse(case["tokenize"].as_str().unwrap()).unwrap();
        let hyp = case["hypothesis"].as_str().unwrap();
        let refs: Vec<&str> = case["references"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        let got = metrics::meteor(hyp, &refs, tokenize, None);
        let want = case["meteor"].as_f64().unwrap();
        assert!((got - want).abs() < 1e-12, "{hyp:?} vs {refs:?} ({}): {got} vs {want}", tokenize.name());
    }
}
