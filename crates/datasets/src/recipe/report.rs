//! What applying a recipe did: counts per step, drop reasons, modifications, and a few examples.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::errors::ErrorCode;
use crate::record::Record;

use super::pii::PiiMasker;
use super::text::excerpt;

/// Examples kept per step at most …
pub const MAX_EXAMPLES_PER_STEP: usize = 10;
/// … and per reason within a step.
pub const MAX_EXAMPLES_PER_REASON: usize = 3;

/// The result of [`super::apply_recipe`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipeReport {
    pub recipe_version: u32,
    /// Passes over the input: 2 when a split needed a first pass (exact count, stratified).
    pub passes: u32,
    /// Records read from the input, valid or not.
    pub records_in: u64,
    /// Input records that failed validation: dropped before the first step.
    pub invalid_input: u64,
    /// `invalid_input` per validation error code (a record may have several codes).
    pub invalid_input_by_code: BTreeMap<ErrorCode, u64>,
    /// Lines written to the main output.
    pub records_out: u64,
    /// Lines written to the validation output (0 without a split step).
    pub validation_out: u64,
    pub steps: Vec<StepReport>,
}

/// What one step did. `records_in = kept + dropped`; `modified` counts kept records changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepReport {
    /// 0-based index in the recipe's `steps`.
    pub index: usize,
    /// The step's name (`dedup_exact`, …).
    pub step: String,
    pub records_in: u64,
    pub kept: u64,
    pub dropped: u64,
    /// Dropped records per reason: `duplicate`, `near_duplicate`, `too_few_chars`,
    /// `too_many_chars`, `too_few_turns`, `too_many_turns`, `include_regex_not_matched`,
    /// `exclude_regex_matched`, `language_not_allowed`, `no_assistant_turn`.
    pub dropped_by: BTreeMap<String, u64>,
    /// Records changed by the step.
    pub modified: u64,
    /// Changes by kind: for `mask_pii` the spans masked per PII kind (`EMAIL`, …, custom
    /// names); for `filter` the `empty_turns_removed`.
    pub modified_by: BTreeMap<String, u64>,
    /// Records the step made (`augment`'s variants), which go on to the next steps.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub added: u64,
    /// Variants the step failed to make, per reason (`augment`: `endpoint_error`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failed_by: BTreeMap<String, u64>,
    /// The first few records dropped or changed (at most [`MAX_EXAMPLES_PER_REASON`] per reason
    /// and [`MAX_EXAMPLES_PER_STEP`] in all). Excerpts are masked with the recipe's `mask_pii`
    /// rules when it has that step.
    pub examples: Vec<Example>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub near_dup: Option<NearDupInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<SplitInfo>,
}

/// One record a step dropped or changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RecipeExample)]
pub struct Example {
    /// 0-based index of the record in the input (as in validation errors and previews).
    pub index: usize,
    pub action: ExampleAction,
    /// The reason key (a `dropped_by` or `modified_by` key).
    pub reason: String,
    /// Details: the record it duplicates, the value that failed the limit, …
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// The start of the record (dropped) or of the change (modified), cut to 120 characters.
    pub excerpt: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = RecipeExampleAction)]
pub enum ExampleAction {
    Dropped,
    Modified,
    /// The step could not do it (an augmentation the model failed to make).
    Failed,
}

/// The parameters `dedup_near` ran with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NearDupInfo {
    pub num_perm: usize,
    pub bands: usize,
    pub rows: usize,
    /// Estimated memory per kept record, in bytes.
    pub bytes_per_kept_record: usize,
}

/// Where the split sent the records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitInfo {
    pub main: u64,
    pub validation: u64,
    /// Per stratum (`chat`, …, or `zh`, …) when the split is stratified.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub strata: BTreeMap<String, SplitCounts>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitCounts {
    pub main: u64,
    pub validation: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Builds one step's report.
#[derive(Debug)]
pub(crate) struct StepTally {
    pub report: StepReport,
    per_reason: BTreeMap<String, usize>,
}

impl StepTally {
    pub(crate) fn new(index: usize, step: &str) -> StepTally {
        StepTally {
            report: StepReport {
                index,
                step: step.to_owned(),
                records_in: 0,
                kept: 0,
                dropped: 0,
                dropped_by: BTreeMap::new(),
                modified: 0,
                modified_by: BTreeMap::new(),
                added: 0,
                failed_by: BTreeMap::new(),
                examples: Vec::new(),
                near_dup: None,
                split: None,
            },
            per_reason: BTreeMap::new(),
        }
    }

    pub(crate) fn dropped(
        &mut self,
        index: usize,
        reason: &str,
        note: impl FnOnce() -> String,
        record: &Record,
        masker: Option<&PiiMasker>,
    ) {
        self.report.dropped += 1;
        *self.report.dropped_by.entry(reason.to_owned()).or_default() += 1;
        if self.wants_example(reason) {
            let text = excerpt(record);
            let excerpt = match masker {
                Some(m) => m.mask(&text, &mut []).map_or(text, |masked| super::text::cut(&masked, super::text::EXCERPT_CHARS)),
                None => text,
            };
            self.push(Example { index, action: ExampleAction::Dropped, reason: reason.to_owned(), note: note(), excerpt });
        }
    }

    /// A kept record was changed; `what` names the changes and how many of each.
    pub(crate) fn modified(&mut self, index: usize, what: &[(&str, u64)], excerpt: impl FnOnce() -> String) {
        self.report.modified += 1;
        for (name, n) in what {
            *self.report.modified_by.entry((*name).to_owned()).or_default() += n;
        }
        let reason: Vec<&str> = what.iter().map(|(name, _)| *name).collect();
        let reason = reason.join(",");
        if self.wants_example(&reason) {
            self.push(Example { index, action: ExampleAction::Modified, reason, note: String::new(), excerpt: excerpt() });
        }
    }

    /// The step made a new record from record `index`.
    pub(crate) fn added(&mut self) {
        self.report.added += 1;
    }

    /// The step failed to do something for record `index` (the record itself goes on).
    pub(crate) fn failed(&mut self, index: usize, reason: &str, note: String, record: &Record) {
        *self.report.failed_by.entry(reason.to_owned()).or_default() += 1;
        if self.wants_example(reason) {
            self.push(Example { index, action: ExampleAction::Failed, reason: reason.to_owned(), note, excerpt: excerpt(record) });
        }
    }

    fn wants_example(&self, reason: &str) -> bool {
        self.report.examples.len() < MAX_EXAMPLES_PER_STEP && self.per_reason.get(reason).is_none_or(|&n| n < MAX_EXAMPLES_PER_REASON)
    }

    fn push(&mut self, example: Example) {
        *self.per_reason.entry(example.reason.clone()).or_default() += 1;
        self.report.examples.push(example);
    }

    pub(crate) fn finish(mut self) -> StepReport {
        self.report.kept = self.report.records_in - self.report.dropped;
        self.report
    }
}
