//! Statistics on fixtures with known counts (`tests/fixtures/stats/`).
//!
//! `alpaca.jsonl`, record by record (valid ones: all but #5):
//! 1. en, 2 turns, 8 chars            6. other (Cyrillic), system + 2 turns, 29 chars, no `input`
//! 2. duplicate of 1                  7. none (no letters), 2 turns, 4 chars
//! 3. zh, 2 turns, 13 chars           8. duplicate of 3
//! 4. en, 6 turns (history), 20 chars 9. duplicate of 1 once converted (an empty system is none)
//! 5. invalid: empty output

use std::path::Path;

use datasets::{scan, Bucket, FieldCounts, LanguageCounts, RoleCounts, ScanOptions, Stats, TokenCounter};

fn scan_fixture(name: &str, counter: Option<&dyn TokenCounter>, max_tokens: Option<usize>) -> Stats {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stats").join(name);
    let options = ScanOptions { filename: Some(name.to_owned()), token_counter: counter, max_tokens, ..ScanOptions::default() };
    scan(std::fs::File::open(path).unwrap(), &options, |_, _, _| {}).unwrap().stats
}

fn counts(present: u64, missing: u64, empty: u64) -> FieldCounts {
    FieldCounts { present, missing, empty }
}

fn bucket(buckets: &[Bucket], lower: u64) -> &Bucket {
    buckets.iter().find(|b| b.lower == lower).unwrap()
}

#[test]
fn alpaca_fixture_has_the_known_counts() {
    let stats = scan_fixture("alpaca.jsonl", None, None);
    assert_eq!((stats.rows, stats.valid_rows), (9, 8));
    assert_eq!((stats.kinds.chat, stats.kinds.preference, stats.kinds.text), (8, 0, 0));
    assert_eq!(stats.duplicates, Some(3));
    assert_eq!(stats.languages, LanguageCounts { zh: 2, en: 4, other: 1, none: 1 });
    assert_eq!(stats.roles, RoleCounts { system: 1, user: 10, assistant: 10 });

    assert_eq!((stats.turns.count, stats.turns.min, stats.turns.max), (8, Some(2), Some(6)));
    assert_eq!(bucket(&stats.turns.buckets, 2).count, 7);
    assert_eq!(bucket(&stats.turns.buckets, 6).count, 1);
    assert_eq!(stats.turns.buckets.iter().map(|b| b.count).sum::<u64>(), 8);

    // Characters: [4, 8, 8, 8, 13, 13, 20, 29].
    let chars = &stats.chars;
    assert_eq!((chars.count, chars.sum, chars.min, chars.max), (8, 103, Some(4), Some(29)));
    assert_eq!(chars.mean, Some(12.875));
    assert_eq!((chars.p50, chars.p95), (Some(8), Some(29)));
    assert_eq!(bucket(&chars.buckets, 2).count, 1); // [2, 5): 4
    assert_eq!(bucket(&chars.buckets, 5).count, 3); // [5, 10): 8 8 8
    assert_eq!(bucket(&chars.buckets, 10).count, 2); // [10, 20): 13 13
    assert_eq!(bucket(&chars.buckets, 20).count, 2); // [20, 50): 20 29
    assert_eq!(chars.buckets.iter().map(|b| b.count).sum::<u64>(), 8);

    let fields = &stats.fields;
    assert_eq!(fields["instruction"], counts(9, 0, 0));
    assert_eq!(fields["input"], counts(8, 1, 6));
    assert_eq!(fields["output"], counts(9, 0, 1));
    assert_eq!(fields["system"], counts(2, 7, 1));
    assert_eq!(fields["history"], counts(1, 8, 0));
    assert_eq!(fields.len(), 5);
    assert_eq!(stats.tokens, None);
}

/// One token per character: a real counter, simple enough to check by hand.
struct CharTokens;

impl TokenCounter for CharTokens {
    fn count(&self, text: &str) -> Result<usize, String> {
        Ok(text.chars().count())
    }
}

/// A tokenizer that cannot encode the letter 'Q' (as a BPE model missing its unknown token
/// fails on what its vocabulary lacks).
struct NoQ;

impl TokenCounter for NoQ {
    fn count(&self, text: &str) -> Result<usize, String> {
        if text.contains('Q') {
            return Err("'Q' is not in the vocabulary".into());
        }
        Ok(text.chars().count())
    }
}

#[test]
fn records_whose_tokens_cannot_be_counted_are_reported_not_counted_as_zero() {
    let all = scan_fixture("alpaca.jsonl", Some(&CharTokens), None).tokens.unwrap();
    let partial = scan_fixture("alpaca.jsonl", Some(&NoQ), None).tokens.unwrap();
    assert!(partial.uncountable_records > 0, "the fixture has a 'Q' somewhere: {partial:?}");
    assert_eq!(partial.per_record.count + partial.uncountable_records, all.per_record.count);
    assert!(partial.uncountable_example.as_deref().unwrap().contains("'Q' is not in the vocabulary"), "{partial:?}");
    assert_eq!(all.uncountable_records, 0);
}

#[test]
fn tokens_are_counted_when_a_counter_is_given() {
    let stats = scan_fixture("alpaca.jsonl", Some(&CharTokens), Some(10));
    let tokens = stats.tokens.unwrap();
    assert_eq!(tokens.total, 103);
    assert_eq!((tokens.per_record.count, tokens.per_record.max), (8, Some(29)));
    assert_eq!((tokens.max_tokens, tokens.over_max_tokens, tokens.over_max_tokens_share), (Some(10), 4, 0.5));
}

#[test]
fn csv_columns_are_counted_per_column() {
    let stats = scan_fixture("columns.csv", None, None);
    assert_eq!((stats.rows, stats.valid_rows), (5, 3));
    assert_eq!(stats.fields["prompt"], counts(5, 0, 0));
    assert_eq!(stats.fields["completion"], counts(5, 0, 1));
    assert_eq!(stats.fields["source"], counts(4, 1, 1));
    assert_eq!(stats.duplicates, Some(1));
}
