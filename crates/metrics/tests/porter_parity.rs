//! The Porter stemmer against NLTK's `PorterStemmer()` (`fixtures/porter_nltk.json`, written by
//! `fixtures/make_porter.py`): every word of the Python standard library's vocabulary and words
//! made to reach each rule stem exactly as NLTK stems them.

use serde_json::Value;

#[test]
fn every_word_stems_as_nltk_stems_it() {
    let doc: Value = serde_json::from_str(include_str!("fixtures/porter_nltk.json")).expect("the fixture parses");
    let words = doc["words"].as_object().unwrap();
    assert!(words.len() > 10_000, "{} words", words.len());
    let wrong: Vec<String> = words
        .iter()
        .filter(|(w, s)| metrics::porter_stem(w) != s.as_str().unwrap())
        .map(|(w, s)| format!("{w}: {} (NLTK {s})", metrics::porter_stem(w)))
        .collect();
    assert!(wrong.is_empty(), "{} of {} differ: {:?}", wrong.len(), words.len(), &wrong[..wrong.len().min(30)]);
}
