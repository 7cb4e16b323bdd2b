//! Cleaning and preprocessing recipes: a new dataset version is made by applying a [`Recipe`]
//! to an old one.
//!
//! A recipe is an ordered list of steps applied to each valid record of the input, in one
//! streaming pass: `dedup_exact`, `dedup_near`, `filter`, `mask_pii`, `split`, `convert`.
//! Input records that fail validation are dropped first and counted as `invalid_input`. Kept
//! records are written as canonical OpenAI-style JSON lines ([`Record::to_openai_json`]) to the
//! main output, or to the validation output when a `split` step picks them.
//!
//! One pass, except for a `split` by exact count or stratified: it needs the number of records
//! that reach it first, so the input is read twice (the steps are deterministic, so both
//! passes see the same records; a different record count on the second pass is an error).
//!
//! Memory: one record at a time, plus per step: `dedup_exact` 9–18 bytes per distinct record,
//! `dedup_near` ≈ 830 bytes per kept record with the defaults (+ 8 for the report's
//! "duplicate of" index), a split's first pass up to 16 bytes per record (see `split.rs`).
//!
//! ```json
//! {"version": 1, "steps": [
//!   {"step": "dedup_exact", "normalize": true},
//!   {"step": "dedup_near", "threshold": 0.8, "num_perm": 128, "ngram": 5, "seed": 7},
//!   {"step": "filter", "min_chars": 20, "max_turns": 20, "languages": ["en", "zh"],
//!    "exclude_regex": "(?i)as an ai language model"},
//!   {"step": "mask_pii", "kinds": ["email", "phone", "cn_id", "bank_card", "ipv4", "ipv6"],
//!    "custom": [{"name": "EMPLOYEE_ID", "pattern": "E\\d{6}"}]},
//!   {"step": "split", "validation": {"ratio": 0.1}, "seed": 42, "stratify_by": "language"}
//! ]}
//! ```

pub mod augment;
mod config;
pub(crate) mod exact;
mod filter;
mod near;
mod pii;
mod report;
mod split;
mod text;

use std::io::{self, BufWriter, Read, Write};

pub use config::{
    compile_regex, Convert, CustomPii, DedupExact, DedupNear, Filter, LanguageClass, MaskPii, PiiKind, Recipe, RecipeCheckError, Split,
    SplitSize, Step, Stratify, RECIPE_VERSION,
};
pub use exact::ExactDedup;
pub use near::{Banding, NearDedup, NearMatch, TooManyRecords, FALSE_NEGATIVE_WEIGHT, FALSE_POSITIVE_WEIGHT, MAX_CANDIDATES};
pub use pii::{PiiMasker, PiiSpan};
pub use report::{
    Example, ExampleAction, NearDupInfo, RecipeReport, SplitCounts, SplitInfo, StepReport, MAX_EXAMPLES_PER_REASON, MAX_EXAMPLES_PER_STEP,
};
pub use text::EXCERPT_CHARS;

use crate::errors::FileError;
use crate::format::FormatSpec;
use crate::input::{self, Outcome};
use crate::record::Record;
use crate::stats::FieldCounter;
use crate::tokens::TokenCounter;
use crate::validate::DEFAULT_MAX_RECORD_BYTES;

use filter::{FilterOutcome, FilterStage};
use report::StepTally;
use split::{SplitCollector, SplitPlan, SplitRouter};

/// Why a recipe could not be applied. On an error the outputs hold a partial result: discard
/// them.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    /// The recipe is not JSON of the expected shape (unknown step or field, wrong type).
    #[error("the recipe is not valid: {0}")]
    Parse(String),
    #[error("invalid recipe: {0}")]
    Invalid(#[from] RecipeCheckError),
    /// The input was refused as a whole (compressed, wrong encoding, truncated, …).
    #[error("the input cannot be read as a dataset: {0}")]
    File(FileError),
    #[error("reading the input or writing the output failed: {0}")]
    Io(#[from] io::Error),
    #[error("the recipe has a split step: a validation output is needed")]
    MissingValidationOutput,
    /// The two passes of a split saw different inputs.
    #[error("the input changed between the two passes: {first} records reached the split, then {second}")]
    InputChanged { first: u64, second: u64 },
    #[error("{0}")]
    TooManyRecords(#[from] TooManyRecords),
    /// The augmentation endpoint kept failing.
    #[error("{0}")]
    Augment(String),
    /// A record a step could not process (its tokens could not be counted, say).
    #[error("record {index}, step {step}: {reason}")]
    Record { index: u64, step: usize, reason: String },
    #[error("internal error: {0}")]
    Internal(String),
}

/// Where the records go: `main`, and `validation` for the records a `split` step picks
/// (required when the recipe has one, ignored otherwise).
pub struct RecipeOutputs<'a> {
    pub main: &'a mut dyn Write,
    pub validation: Option<&'a mut dyn Write>,
}

/// What some steps need from outside the crate: a token counter for token-length filters (the
/// tokenizer belongs to a model), an augmenter for `augment` (a model endpoint).
#[derive(Default, Clone, Copy)]
pub struct RecipeTools<'a> {
    pub tokens: Option<&'a dyn TokenCounter>,
    /// Makes `augment`'s variants through a model endpoint.
    pub augmenter: Option<&'a dyn augment::Augmenter>,
    /// Random access to the input, for Parquet of any size (see [`crate::RandomAccess`]).
    pub random_access: Option<&'a std::sync::Arc<dyn crate::RandomAccess>>,
}

/// Opens the input from its start; called once per pass.
pub type OpenInput<'a> = &'a dyn Fn() -> io::Result<Box<dyn Read>>;

/// Applies `recipe` to the dataset that `open_input` reads (in format `spec`), writing the
/// kept records as canonical JSON lines. See the module documentation.
pub fn apply_recipe(
    open_input: OpenInput<'_>,
    spec: &FormatSpec,
    recipe: &Recipe,
    outputs: RecipeOutputs<'_>,
    tools: RecipeTools<'_>,
) -> Result<RecipeReport, RecipeError> {
    recipe.check()?;
    if let (Some((i, field)), None) = (recipe.token_filter(), tools.tokens) {
        return Err(RecipeCheckError {
            step: Some(i),
            step_name: Some("filter".to_owned()),
            field: field.to_owned(),
            message: "token filters need a tokenizer: name a base model in the recipe's `tokenizer`, or start the server with \
                      --tokenizer-file"
                .to_owned(),
            unprocessable: true,
        }
        .into());
    }
    spec.check().map_err(RecipeError::File)?;
    let split = recipe.split();
    let RecipeOutputs { main, validation } = outputs;
    if split.is_some() && validation.is_none() {
        return Err(RecipeError::MissingValidationOutput);
    }
    let excerpt_masker = recipe
        .steps
        .iter()
        .find_map(|s| match s {
            Step::MaskPii(m) => Some(m),
            _ => None,
        })
        .map(PiiMasker::new)
        .transpose()?;

    let mut plan = None;
    if split.is_some_and(Split::needs_first_pass) {
        let mut pipeline = Pipeline::new(recipe, Phase::Collect, tools)?;
        pipeline.run(open_input()?, spec, None, |_, _| Ok(()))?;
        plan = pipeline.stages.into_iter().find_map(|s| match s {
            Stage::Collect(c) => Some(c.finish()),
            _ => None,
        });
    }
    let passes = if plan.is_some() { 2 } else { 1 };
    let first_reaching = plan.as_ref().map(|p| p.reaching);

    let mut pipeline = Pipeline::new(recipe, Phase::Route(plan), tools)?;
    let mut main = BufWriter::new(main);
    let mut validation = validation.map(BufWriter::new);
    let (mut records_out, mut validation_out) = (0u64, 0u64);
    let input = pipeline.run(open_input()?, spec, excerpt_masker.as_ref(), |to_validation, record| {
        let out: &mut dyn Write = match (to_validation, validation.as_mut()) {
            (true, Some(v)) => {
                validation_out += 1;
                v
            }
            _ => {
                records_out += 1;
                &mut main
            }
        };
        out.write_all(record.to_openai_json().as_bytes())?;
        out.write_all(b"\n")
    })?;
    main.flush()?;
    if let Some(v) = validation.as_mut() {
        v.flush()?;
    }

    let mut steps = Vec::with_capacity(recipe.steps.len());
    for (stage, tally) in pipeline.stages.iter().zip(pipeline.tallies) {
        let mut report = tally.finish();
        match stage {
            Stage::Near { dedup, .. } => {
                let banding = dedup.banding();
                report.near_dup = Some(NearDupInfo {
                    num_perm: dedup.num_perm(),
                    bands: banding.bands,
                    rows: banding.rows,
                    bytes_per_kept_record: dedup.bytes_per_kept_record(),
                });
            }
            Stage::Route(router) => {
                if let Some(first) = first_reaching.filter(|&first| first != router.reached()) {
                    return Err(RecipeError::InputChanged { first, second: router.reached() });
                }
                report.split = Some(router.info());
            }
            _ => {}
        }
        steps.push(report);
    }
    Ok(RecipeReport {
        recipe_version: recipe.version,
        passes,
        records_in: input.records_in,
        invalid_input: input.invalid,
        invalid_input_by_code: input.invalid_by_code,
        records_out,
        validation_out,
        steps,
    })
}

enum Phase {
    /// First pass: the split step only collects keys.
    Collect,
    /// The pass that writes: the split step routes (with the first pass's plan, if any).
    Route(Option<SplitPlan>),
}

enum Stage {
    Exact(ExactDedup),
    Near {
        dedup: NearDedup,
        /// Input index of each kept record (for the examples' notes).
        origins: Vec<u64>,
    },
    Filter(FilterStage),
    Mask {
        masker: PiiMasker,
        counts: Vec<u64>,
    },
    Collect(SplitCollector),
    Route(SplitRouter),
    Convert,
    Augment {
        config: augment::Augment,
        failures_in_a_row: u32,
    },
}

/// What became of one record.
enum Flow {
    Dropped,
    Out { validation: bool },
}

#[derive(Debug, Default)]
struct InputCounts {
    records_in: u64,
    invalid: u64,
    invalid_by_code: std::collections::BTreeMap<crate::errors::ErrorCode, u64>,
}

struct Pipeline<'a> {
    stages: Vec<Stage>,
    tallies: Vec<StepTally>,
    tools: RecipeTools<'a>,
}

impl<'a> Pipeline<'a> {
    fn new(recipe: &Recipe, phase: Phase, tools: RecipeTools<'a>) -> Result<Pipeline<'a>, RecipeError> {
        let mut plan = match phase {
            Phase::Collect => None,
            Phase::Route(plan) => Some(plan),
        };
        let mut stages = Vec::with_capacity(recipe.steps.len());
        let mut tallies = Vec::with_capacity(recipe.steps.len());
        for (i, step) in recipe.steps.iter().enumerate() {
            stages.push(match step {
                Step::DedupExact(c) => Stage::Exact(ExactDedup::new(c.normalize)),
                Step::DedupNear(c) => Stage::Near { dedup: NearDedup::new(c), origins: Vec::new() },
                Step::Filter(c) => Stage::Filter(FilterStage::new(c).map_err(|(field, message)| RecipeCheckError {
                    step: Some(i),
                    step_name: Some(step.name().to_owned()),
                    field: field.to_owned(),
                    message,
                    unprocessable: true,
                })?),
                Step::MaskPii(c) => {
                    let masker = PiiMasker::new(c)?;
                    let counts = vec![0; masker.labels().len()];
                    Stage::Mask { masker, counts }
                }
                Step::Split(c) => match plan.take() {
                    Some(plan) => Stage::Route(SplitRouter::new(c, plan)),
                    None => Stage::Collect(SplitCollector::new(c)),
                },
                Step::Convert(_) => Stage::Convert,
                Step::Augment(a) => {
                    if tools.augmenter.is_none() {
                        return Err(RecipeCheckError {
                            step: Some(i),
                            step_name: Some(step.name().to_owned()),
                            field: "endpoint".to_owned(),
                            message: "no client for the augmentation endpoint was given".to_owned(),
                            unprocessable: true,
                        }
                        .into());
                    }
                    Stage::Augment { config: a.clone(), failures_in_a_row: 0 }
                }
            });
            tallies.push(StepTally::new(i, step.name()));
        }
        Ok(Pipeline { stages, tallies, tools })
    }

    /// Reads the input once, sending every record through the stages; `emit(to_validation,
    /// record)` receives the records that come out.
    fn run(
        &mut self,
        reader: Box<dyn Read>,
        spec: &FormatSpec,
        excerpt_masker: Option<&PiiMasker>,
        mut emit: impl FnMut(bool, &Record) -> io::Result<()>,
    ) -> Result<InputCounts, RecipeError> {
        let opened = match input::open(reader, Some(spec), None, DEFAULT_MAX_RECORD_BYTES, 0, self.tools.random_access)? {
            Outcome::Ready(opened) => opened,
            Outcome::Refused { error, .. } => return Err(RecipeError::File(error)),
        };
        let input::Opened { mut units, decoder, .. } = opened;
        let mut fields = FieldCounter::default();
        let mut counts = InputCounts::default();
        while let Some(unit) = units.next_unit()? {
            counts.records_in += 1;
            let decoded = decoder.decode(&unit, units.data(&unit), &mut fields);
            let mut record = match decoded.record {
                Some(record) if decoded.errors.is_empty() => record,
                _ => {
                    counts.invalid += 1;
                    for e in &decoded.errors {
                        *counts.invalid_by_code.entry(e.code).or_default() += 1;
                    }
                    continue;
                }
            };
            self.record(unit.index, &mut record, excerpt_masker, 0, &mut emit)?;
        }
        if let Some(error) = units.take_file_error() {
            return Err(RecipeError::File(error));
        }
        Ok(counts)
    }

    /// Sends input record `index` through the stages from `from` on and emits it if it comes
    /// out; variants an `augment` stage makes follow it, through the stages after that one.
    fn record(
        &mut self,
        index: usize,
        record: &mut Record,
        excerpt_masker: Option<&PiiMasker>,
        from: usize,
        emit: &mut dyn FnMut(bool, &Record) -> io::Result<()>,
    ) -> Result<(), RecipeError> {
        let mut variants: Vec<(usize, Record)> = Vec::new();
        if let Flow::Out { validation } = self.stages_from(index, record, excerpt_masker, from, &mut variants)? {
            emit(validation, record)?;
        }
        for (next, mut variant) in variants {
            self.record(index, &mut variant, excerpt_masker, next, emit)?;
        }
        Ok(())
    }

    fn stages_from(
        &mut self,
        index: usize,
        record: &mut Record,
        excerpt_masker: Option<&PiiMasker>,
        from: usize,
        variants: &mut Vec<(usize, Record)>,
    ) -> Result<Flow, RecipeError> {
        let mut validation = false;
        for (i, (stage, tally)) in self.stages.iter_mut().zip(self.tallies.iter_mut()).enumerate().skip(from) {
            tally.report.records_in += 1;
            match stage {
                Stage::Exact(dedup) => {
                    if dedup.observe(record) {
                        tally.dropped(index, "duplicate", || "equal to an earlier record".to_owned(), record, excerpt_masker);
                        return Ok(Flow::Dropped);
                    }
                }
                Stage::Near { dedup, origins } => {
                    if let Some(found) = dedup.observe(record)? {
                        let note = || format!("near-duplicate of record {} (estimated Jaccard {:.2})", origins[found.kept], found.jaccard);
                        tally.dropped(index, "near_duplicate", note, record, excerpt_masker);
                        return Ok(Flow::Dropped);
                    }
                    origins.push(index as u64);
                }
                Stage::Filter(filter) => match filter.apply(record, self.tools.tokens) {
                    FilterOutcome::Keep { removed: 0 } => {}
                    FilterOutcome::Keep { removed } => {
                        tally.modified(index, &[("empty_turns_removed", removed as u64)], || text::excerpt(record));
                    }
                    FilterOutcome::Drop { reason, note } => {
                        tally.dropped(index, reason, || note, record, excerpt_masker);
                        return Ok(Flow::Dropped);
                    }
                    FilterOutcome::Fail(why) => return Err(RecipeError::Record { index: index as u64, step: i, reason: why }),
                },
                Stage::Mask { masker, counts } => mask_record(masker, counts, index, record, tally),
                Stage::Collect(collector) => {
                    // First pass: nothing is written.
                    collector.observe(record);
                    return Ok(Flow::Dropped);
                }
                Stage::Route(router) => validation = router.route(record),
                Stage::Convert => {}
                Stage::Augment { config, failures_in_a_row } => {
                    let augmenter = self.tools.augmenter.expect("checked when the pipeline was built");
                    for made in augment::variants(config, augmenter, record, failures_in_a_row)? {
                        match made {
                            Ok(variant) => {
                                tally.added();
                                variants.push((i + 1, variant));
                            }
                            Err(note) => tally.failed(index, "endpoint_error", note, record),
                        }
                    }
                }
            }
        }
        Ok(Flow::Out { validation })
    }
}

fn mask_record(masker: &PiiMasker, counts: &mut [u64], index: usize, record: &mut Record, tally: &mut StepTally) {
    counts.fill(0);
    let mut first_change: Option<(String, usize)> = None;
    for content in text::contents_mut(record) {
        if let Some((masked, at)) = masker.mask_at(content, counts) {
            *content = masked;
            if first_change.is_none() {
                first_change = Some((content.clone(), at));
            }
        }
    }
    if let Some((masked, at)) = first_change {
        let what: Vec<(&str, u64)> =
            masker.labels().iter().zip(counts.iter()).filter(|(_, &n)| n > 0).map(|(label, &n)| (label.as_str(), n)).collect();
        tally.modified(index, &what, || text::around(&masked, at, EXCERPT_CHARS));
    }
}
