//! Statistics gathered in the same pass as validation, in memory bounded independently of the
//! file size, except the duplicate set (see [`Stats::duplicates`]).
//!
//! - `rows`: every record read; the rest describes the valid records only (what would be
//!   trained on), except `fields`, which counts every record that was a JSON object or CSV row.
//! - `turns`: non-system messages per conversation (chat records; for a preference pair the
//!   prompt plus the chosen answer), over [`TURN_BUCKET_EDGES`].
//! - `chars`: Unicode characters of all message contents (or the text) per record, over
//!   [`LENGTH_BUCKET_EDGES`].
//! - `languages`: see [`crate::language`] for the rule.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dedup::Duplicates;
use crate::histogram::{Distribution, DistributionReport, LENGTH_BUCKET_EDGES, TURN_BUCKET_EDGES};
use crate::language::{LanguageCounts, Letters};
use crate::record::{Message, Record, Role};
use crate::tokens::{record_tokens, TokenCounter, TokenStats};

/// Field names tracked in `fields`; further names are only counted in `untracked_fields`.
pub const MAX_TRACKED_FIELDS: usize = 64;

/// How often a top-level field (CSV: a column) is present and empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldCounts {
    pub present: u64,
    /// Absent from the record (CSV: the row is too short for the column).
    pub missing: u64,
    /// Present but null, blank, `[]` or `{}` (CSV: a blank cell).
    pub empty: u64,
}

/// Messages per role over valid records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoleCounts {
    pub system: u64,
    pub user: u64,
    pub assistant: u64,
}

/// Valid records per canonical kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordKinds {
    pub chat: u64,
    pub preference: u64,
    pub text: u64,
}

/// The statistics of a scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = DatasetStats)]
pub struct Stats {
    /// Records read, valid or not.
    pub rows: u64,
    /// Valid records: those the statistics below describe.
    pub valid_rows: u64,
    pub kinds: RecordKinds,
    pub turns: DistributionReport,
    pub chars: DistributionReport,
    /// Per top-level field (CSV: per column), over every JSON object or CSV row read.
    pub fields: BTreeMap<String, FieldCounts>,
    /// Occurrences of field names beyond the first [`MAX_TRACKED_FIELDS`] distinct ones.
    pub untracked_fields: u64,
    /// Valid records equal to an earlier valid record after conversion (absent when
    /// duplicate detection is off). Costs about 9–18 bytes of memory per distinct record.
    pub duplicates: Option<u64>,
    pub languages: LanguageCounts,
    pub roles: RoleCounts,
    /// Present when a token counter was given.
    pub tokens: Option<TokenStats>,
}

/// Counts field presence per record.
#[derive(Debug, Default)]
pub(crate) struct FieldCounter {
    records: u64,
    fields: BTreeMap<String, (u64, u64)>,
    untracked: u64,
}

impl FieldCounter {
    /// One record's fields: `(name, is_empty)`.
    pub(crate) fn record<'a>(&mut self, fields: impl Iterator<Item = (&'a str, bool)>) {
        self.records += 1;
        for (name, empty) in fields {
            if let Some(counts) = self.fields.get_mut(name) {
                counts.0 += 1;
                counts.1 += u64::from(empty);
            } else if self.fields.len() < MAX_TRACKED_FIELDS {
                self.fields.insert(name.to_owned(), (1, u64::from(empty)));
            } else {
                self.untracked += 1;
            }
        }
    }

    /// CSV: every header column is a field even when no row fills it.
    pub(crate) fn declare(&mut self, names: &[String]) {
        for name in names.iter().take(MAX_TRACKED_FIELDS) {
            self.fields.entry(name.clone()).or_default();
        }
    }

    fn report(&self) -> BTreeMap<String, FieldCounts> {
        self.fields
            .iter()
            .map(|(name, &(present, empty))| (name.clone(), FieldCounts { present, missing: self.records - present, empty }))
            .collect()
    }
}

/// The running statistics of one scan.
pub(crate) struct StatsBuilder<'a> {
    rows: u64,
    valid_rows: u64,
    kinds: RecordKinds,
    turns: Distribution,
    chars: Distribution,
    pub(crate) fields: FieldCounter,
    duplicates: Option<Duplicates>,
    languages: LanguageCounts,
    roles: RoleCounts,
    token_counter: Option<&'a dyn TokenCounter>,
    max_tokens: Option<usize>,
    tokens: Distribution,
    over_max_tokens: u64,
    uncountable: u64,
    uncountable_example: Option<String>,
}

impl<'a> StatsBuilder<'a> {
    pub(crate) fn new(detect_duplicates: bool, token_counter: Option<&'a dyn TokenCounter>, max_tokens: Option<usize>) -> Self {
        StatsBuilder {
            rows: 0,
            valid_rows: 0,
            kinds: RecordKinds::default(),
            turns: Distribution::new(TURN_BUCKET_EDGES),
            chars: Distribution::new(LENGTH_BUCKET_EDGES),
            fields: FieldCounter::default(),
            duplicates: detect_duplicates.then(Duplicates::default),
            languages: LanguageCounts::default(),
            roles: RoleCounts::default(),
            token_counter,
            max_tokens,
            tokens: Distribution::new(LENGTH_BUCKET_EDGES),
            over_max_tokens: 0,
            uncountable: 0,
            uncountable_example: None,
        }
    }

    pub(crate) fn add_row(&mut self) {
        self.rows += 1;
    }

    pub(crate) fn add_valid(&mut self, record: &Record) {
        self.valid_rows += 1;
        let mut letters = Letters::default();
        let mut chars = 0;
        match record {
            Record::Chat { messages } => {
                self.kinds.chat += 1;
                self.turns.add(non_system(messages));
            }
            Record::Preference { prompt, chosen, .. } => {
                self.kinds.preference += 1;
                self.turns.add(non_system(prompt) + non_system(chosen));
            }
            Record::Text { text } => {
                self.kinds.text += 1;
                chars += letters.add(text);
            }
        }
        for m in record.messages() {
            chars += letters.add(&m.content);
            match m.role {
                Role::System => self.roles.system += 1,
                Role::User => self.roles.user += 1,
                Role::Assistant => self.roles.assistant += 1,
            }
        }
        self.chars.add(chars);
        self.languages.add(letters.classify());
        if let Some(d) = &mut self.duplicates {
            d.observe(record);
        }
        if let Some(counter) = self.token_counter {
            match record_tokens(counter, record) {
                Ok(tokens) => {
                    let tokens = tokens as u64;
                    self.tokens.add(tokens);
                    if self.max_tokens.is_some_and(|max| tokens > max as u64) {
                        self.over_max_tokens += 1;
                    }
                }
                Err(why) => {
                    self.uncountable += 1;
                    let record = self.valid_rows - 1;
                    self.uncountable_example.get_or_insert_with(|| format!("valid record {record}: {why}"));
                }
            }
        }
    }

    pub(crate) fn finish(self) -> Stats {
        let tokens = self.token_counter.map(|_| {
            let per_record = self.tokens.report();
            let share = if per_record.count == 0 { 0.0 } else { self.over_max_tokens as f64 / per_record.count as f64 };
            TokenStats {
                total: per_record.sum,
                per_record,
                max_tokens: self.max_tokens,
                over_max_tokens: self.over_max_tokens,
                over_max_tokens_share: share,
                uncountable_records: self.uncountable,
                uncountable_example: self.uncountable_example.clone(),
            }
        });
        Stats {
            rows: self.rows,
            valid_rows: self.valid_rows,
            kinds: self.kinds,
            turns: self.turns.report(),
            chars: self.chars.report(),
            fields: self.fields.report(),
            untracked_fields: self.fields.untracked,
            duplicates: self.duplicates.as_ref().map(Duplicates::count),
            languages: self.languages,
            roles: self.roles,
            tokens,
        }
    }
}

fn non_system(messages: &[Message]) -> u64 {
    messages.iter().filter(|m| m.role != Role::System).count() as u64
}
