//! Precision and recall of `mask_pii` on a labelled set: `tests/fixtures/pii/labelled.jsonl`
//! (written by `generate.py` next to it: synthetic data, English and Chinese, with hard
//! negatives). Spans there count characters; the masker reports bytes, converted here.
//! A found span counts only when start, end and kind are all exact.
//!
//! `cargo test -p datasets --test pii -- --nocapture` prints the table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use datasets::recipe::{CustomPii, MaskPii, PiiMasker};
use serde::Deserialize;

#[derive(Deserialize)]
struct Line {
    text: String,
    spans: Vec<Span>,
}

#[derive(Deserialize, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Span {
    start: usize,
    end: usize,
    kind: String,
}

#[derive(Default)]
struct Counts {
    tp: u64,
    fp: u64,
    fn_: u64,
}

impl Counts {
    fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

fn masker() -> PiiMasker {
    let config = MaskPii { custom: vec![CustomPii { name: "EMPLOYEE_ID".into(), pattern: r"E\d{6}".into() }], ..MaskPii::default() };
    PiiMasker::new(&config).unwrap()
}

#[test]
fn labelled_set_precision_and_recall() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pii/labelled.jsonl");
    let data = std::fs::read_to_string(path).unwrap();
    let masker = masker();
    let mut per_kind: BTreeMap<String, Counts> = BTreeMap::new();
    let mut mistakes = Vec::new();
    let mut lines = 0;
    for line in data.lines() {
        lines += 1;
        let line: Line = serde_json::from_str(line).unwrap();
        // Character offset → byte offset.
        let bytes: Vec<usize> = line.text.char_indices().map(|(i, _)| i).chain([line.text.len()]).collect();
        let expected: BTreeSet<Span> =
            line.spans.iter().map(|s| Span { start: bytes[s.start], end: bytes[s.end], kind: s.kind.clone() }).collect();
        let found: BTreeSet<Span> =
            masker.find(&line.text).into_iter().map(|s| Span { start: s.start, end: s.end, kind: s.kind }).collect();
        for s in found.union(&expected) {
            let counts = per_kind.entry(s.kind.clone()).or_default();
            match (found.contains(s), expected.contains(s)) {
                (true, true) => counts.tp += 1,
                (true, false) => {
                    counts.fp += 1;
                    mistakes.push(format!("false positive {} {:?} in {:?}", s.kind, &line.text[s.start..s.end], line.text));
                }
                _ => {
                    counts.fn_ += 1;
                    mistakes.push(format!("missed {} {:?} in {:?}", s.kind, &line.text[s.start..s.end], line.text));
                }
            }
        }
    }
    assert!(lines >= 300, "the labelled set has {lines} lines");
    let mut total = Counts::default();
    println!("{:<12} {:>5} {:>4} {:>4} {:>9} {:>7}", "kind", "TP", "FP", "FN", "precision", "recall");
    for (kind, c) in &per_kind {
        println!("{kind:<12} {:>5} {:>4} {:>4} {:>8.1}% {:>6.1}%", c.tp, c.fp, c.fn_, 100.0 * c.precision(), 100.0 * c.recall());
        total.tp += c.tp;
        total.fp += c.fp;
        total.fn_ += c.fn_;
    }
    println!(
        "{:<12} {:>5} {:>4} {:>4} {:>8.1}% {:>6.1}%",
        "overall",
        total.tp,
        total.fp,
        total.fn_,
        100.0 * total.precision(),
        100.0 * total.recall()
    );
    println!("({lines} lines)");
    for m in &mistakes {
        println!("{m}");
    }
    assert!(total.recall() >= 0.99, "overall recall {:.3} < 0.99", total.recall());
    assert!(total.precision() >= 0.95, "overall precision {:.3} < 0.95", total.precision());
}
