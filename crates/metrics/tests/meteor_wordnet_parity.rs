//! METEOR with WordNet's synonym stage against NLTK's `meteor_score` with WordNet 3.0
//! (`fixtures/meteor_wordnet_nltk.json`, written by `fixtures/make_meteor_wordnet.py` from
//! Debian's `wordnet-base`): read from the fixture's subset of the database, and from the whole
//! database when `scripts/fetch-wordnet.sh` has fetched it (`TUNERY_WORDNET_DIR`; required in CI).

use metrics::wordnet::WordNet;
use metrics::BleuTokenizer;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn assert_equals_nltk(wordnet: &WordNet) {
    let doc: Value = serde_json::from_str(include_str!("fixtures/meteor_wordnet_nltk.json")).expect("the fixture parses");
    assert_eq!(format!("WordNet {}", doc["wordnet"].as_str().unwrap()), wordnet.version);
    let mut differs_from_no_wordnet = 0;
    for case in doc["cases"].as_array().unwrap() {
        let tokenize = BleuTokenizer::parse(case["tokenize"].as_str().unwrap()).unwrap();
        let hyp = case["hypothesis"].as_str().unwrap();
        let refs: Vec<&str> = case["references"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        let got = metrics::meteor(hyp, &refs, tokenize, Some(wordnet));
        let want = case["meteor"].as_f64().unwrap();
        assert!((got - want).abs() < 1e-12, "{hyp:?} vs {refs:?} ({}): {got} vs {want}", tokenize.name());
        if (metrics::meteor(hyp, &refs, tokenize, None) - want).abs() > 1e-9 {
            differs_from_no_wordnet += 1;
        }
    }
    // The synonym stage is exercised, not only the two stages before it.
    assert!(differs_from_no_wordnet >= 10, "only {differs_from_no_wordnet} cases use a synonym");
}

#[test]
fn meteor_with_wordnet_equals_nltk_on_the_fixture_subset() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wordnet-subset");
    let wordnet = metrics::wordnet::load(&dir).expect("the subset loads");
    assert_equals_nltk(wordnet);
    // Loaded once per folder.
    assert!(std::ptr::eq(wordnet, metrics::wordnet::load(&dir).unwrap()));
    let synonyms = wordnet.synonyms("bought");
    assert!(synonyms.contains("purchase") && synonyms.contains("bribe") && synonyms.contains("bought"), "{synonyms:?}");
}

#[test]
fn meteor_with_the_whole_wordnet_equals_nltk() {
    let Some(dir) = std::env::var_os("TUNERY_WORDNET_DIR").map(PathBuf::from) else {
        assert!(std::env::var_os("CI").is_none(), "CI needs TUNERY_WORDNET_DIR (scripts/fetch-wordnet.sh prints it)");
        eprintln!("skipped: TUNERY_WORDNET_DIR is not set (scripts/fetch-wordnet.sh fetches WordNet 3.0)");
        return;
    };
    let wordnet = metrics::wordnet::load(&dir).expect("WordNet loads");
    assert_equals_nltk(wordnet);
    // dog.n.02 is `frump, dog`; names with `_` (domestic_dog) are left out, as NLTK does.
    let dog = wordnet.synonyms("dogs");
    assert!(dog.contains("frump") && !dog.contains("domestic_dog"), "{dog:?}");
}

#[test]
fn a_broken_wordnet_is_an_error_naming_the_file_and_line() {
    let dir = std::env::temp_dir().join(format!("tunery-wordnet-broken-{}", std::process::id()));
    let subset = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wordnet-subset");
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&subset).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    let index = std::fs::read_to_string(dir.join("index.verb")).unwrap();
    let line = index.lines().position(|l| !l.starts_with(' ')).unwrap() + 1;
    let broken: String =
        index.lines().enumerate().map(|(i, l)| if i + 1 == line { "buy v x\n".to_string() } else { format!("{l}\n") }).collect();
    std::fs::write(dir.join("index.verb"), broken).unwrap();
    let e = WordNet::read(&dir).unwrap_err();
    assert!(e.contains(&format!("index.verb line {line}")) && e.contains("synset count"), "{e}");
    std::fs::remove_file(dir.join("noun.exc")).unwrap();
    assert!(WordNet::read(&dir).unwrap_err().contains("noun.exc"));
    std::fs::remove_dir_all(&dir).unwrap();
}
