//! The recipe document: `{"version": 1, "steps": [{"step": "<name>", …parameters}]}`, and
//! [`Recipe::check`], which refuses parameters that cannot work before any data is read.
//!
//! Every object refuses unknown fields, so a misspelt parameter is an error rather than a
//! silently ignored setting.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::RecipeError;

/// The recipe format this build reads.
pub const RECIPE_VERSION: u32 = 1;

/// Largest compiled size of a user regex (`include_regex`, `exclude_regex`, custom PII rules).
pub(crate) const REGEX_SIZE_LIMIT: usize = 2 * 1024 * 1024;

/// An ordered list of steps that makes a new dataset version from an old one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Must be [`RECIPE_VERSION`].
    #[schema(minimum = 1, maximum = 1)]
    pub version: u32,
    #[schema(min_items = 1)]
    pub steps: Vec<Step>,
    /// Whose tokenizer counts tokens for token-length filters: a base model id (`bm_…`); absent,
    /// the server's own tokenizer. Resolved by the caller, which passes the counter in
    /// [`RecipeTools`](super::RecipeTools); recorded here so a version's lineage says which one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<String>,
}

/// One step; the JSON object names it in `"step"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    DedupExact(DedupExact),
    DedupNear(DedupNear),
    Filter(Filter),
    MaskPii(MaskPii),
    Split(Split),
    Convert(Convert),
    Augment(super::augment::Augment),
}

/// One object per step: the step's own fields and `"step"` naming it.
impl PartialSchema for Step {
    fn schema() -> RefOr<Schema> {
        fn variant<T: PartialSchema>(name: &str) -> Schema {
            let RefOr::T(Schema::Object(mut object)) = T::schema() else { unreachable!("a step's parameters are an object") };
            object.properties.insert("step".into(), ObjectBuilder::new().schema_type(Type::String).enum_values(Some([name])).into());
            object.required.insert(0, "step".into());
            Schema::Object(object)
        }
        OneOfBuilder::new()
            .item(variant::<DedupExact>("dedup_exact"))
            .item(variant::<DedupNear>("dedup_near"))
            .item(variant::<Filter>("filter"))
            .item(variant::<MaskPii>("mask_pii"))
            .item(variant::<Split>("split"))
            .item(variant::<Convert>("convert"))
            .item(variant::<super::augment::Augment>("augment"))
            .into()
    }
}

impl ToSchema for Step {
    /// The components the steps' fields refer to (the steps themselves are inline).
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        DedupExact::schemas(schemas);
        DedupNear::schemas(schemas);
        Filter::schemas(schemas);
        MaskPii::schemas(schemas);
        Split::schemas(schemas);
        Convert::schemas(schemas);
        super::augment::Augment::schemas(schemas);
    }
}

impl Step {
    /// The step's name as written in a recipe.
    pub fn name(&self) -> &'static str {
        match self {
            Step::DedupExact(_) => "dedup_exact",
            Step::DedupNear(_) => "dedup_near",
            Step::Filter(_) => "filter",
            Step::MaskPii(_) => "mask_pii",
            Step::Split(_) => "split",
            Step::Convert(_) => "convert",
            Step::Augment(_) => "augment",
        }
    }
}

/// Drops records equal to an earlier record (a 64-bit XXH3 hash of the canonical form is kept
/// per distinct record: about 9–18 bytes each).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DedupExact {
    /// Compare contents after trimming, collapsing whitespace runs to one space and
    /// lowercasing. Roles, weights and the record's kind are compared as they are.
    #[serde(default)]
    pub normalize: bool,
}

/// Drops records whose estimated Jaccard similarity to an earlier kept record reaches
/// `threshold` (MinHash over character n-gram shingles, with LSH banding). See
/// [`super::NearDedup`] for the algorithm and its memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DedupNear {
    /// Jaccard similarity at or above which two records are near-duplicates (default 0.8).
    #[serde(default = "default_threshold")]
    #[schema(exclusive_minimum = 0, maximum = 1)]
    pub threshold: f64,
    /// Hash functions per signature (default 128).
    #[serde(default = "default_num_perm")]
    #[schema(minimum = 8, maximum = 1024)]
    pub num_perm: usize,
    /// Shingle length in characters (default 5).
    #[serde(default = "default_ngram")]
    #[schema(minimum = 1, maximum = 32)]
    pub ngram: usize,
    /// Seeds the hash functions: the same seed gives the same result (default 0).
    #[serde(default)]
    pub seed: u64,
}

fn default_threshold() -> f64 {
    0.8
}
fn default_num_perm() -> usize {
    128
}
fn default_ngram() -> usize {
    5
}

impl Default for DedupNear {
    fn default() -> Self {
        DedupNear { threshold: default_threshold(), num_perm: default_num_perm(), ngram: default_ngram(), seed: 0 }
    }
}

/// The language classes of [`crate::LanguageCounts`] (by script; see `language.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LanguageClass {
    Zh,
    En,
    Other,
    /// No letters at all (only digits, symbols, emoji).
    None,
}

impl LanguageClass {
    pub fn as_str(self) -> &'static str {
        match self {
            LanguageClass::Zh => "zh",
            LanguageClass::En => "en",
            LanguageClass::Other => "other",
            LanguageClass::None => "none",
        }
    }
}

/// Keeps the records that pass every criterion given. Characters are Unicode scalar values
/// over all message contents (or the text); turns are non-system messages (for a preference
/// pair: the prompt plus the chosen answer; text records have no turns and pass turn limits).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_chars: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chars: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_turns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u64>,
    /// Keep only records where some message content (or the text) matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_regex: Option<String>,
    /// Drop records where some message content (or the text) matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_regex: Option<String>,
    /// Keep only records whose dominant script is one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1)]
    pub languages: Option<Vec<LanguageClass>>,
    /// Remove empty (blank) system and user messages; drop records then left without an
    /// assistant message. Validation already refuses blank system and user messages, so on a
    /// validated input this changes nothing; it is here for inputs that carry them.
    #[serde(default)]
    pub drop_empty_turns: bool,
    /// Token limits: a record's tokens are those of the contents trained together (see
    /// [`crate::record_tokens`]), counted with the recipe's tokenizer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
}

/// Built-in kinds of personal data [`super::PiiMasker`] finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    Email,
    Phone,
    CnId,
    BankCard,
    Ipv4,
    Ipv6,
}

impl PiiKind {
    pub const ALL: [PiiKind; 6] = [PiiKind::Email, PiiKind::Phone, PiiKind::CnId, PiiKind::BankCard, PiiKind::Ipv4, PiiKind::Ipv6];

    /// The name inside the replacement token, `[EMAIL]` …
    pub fn label(self) -> &'static str {
        match self {
            PiiKind::Email => "EMAIL",
            PiiKind::Phone => "PHONE",
            PiiKind::CnId => "CN_ID",
            PiiKind::BankCard => "BANK_CARD",
            PiiKind::Ipv4 => "IPV4",
            PiiKind::Ipv6 => "IPV6",
        }
    }
}

/// An organization's own rule: matches of `pattern` become `[<name>]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomPii {
    /// Upper-case letters, digits and `_`, starting with a letter (e.g. `EMPLOYEE_ID`); not a
    /// built-in kind's label, and once per step (else 422).
    #[schema(pattern = "^[A-Z][A-Z0-9_]{0,31}$")]
    pub name: String,
    /// A regular expression (Rust `regex` syntax; Unicode classes `\d`, `\w`, `\s` and case
    /// folding are available, `\p{…}` script classes are not).
    pub pattern: String,
}

/// Replaces personal data in message contents (and texts) with typed tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaskPii {
    /// Built-in kinds to mask (default: all of them).
    #[serde(default = "all_kinds")]
    pub kinds: Vec<PiiKind>,
    /// Organization-defined rules, applied with the built-in kinds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom: Vec<CustomPii>,
}

fn all_kinds() -> Vec<PiiKind> {
    PiiKind::ALL.to_vec()
}

impl Default for MaskPii {
    fn default() -> Self {
        MaskPii { kinds: all_kinds(), custom: Vec::new() }
    }
}

/// How many records go to validation: `{"ratio": r}` with r in (0, 1), or `{"count": n}` with
/// n ≥ 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitSize {
    /// This share of the records, in (0, 1).
    Ratio(f64),
    /// Exactly this many records (all of them when fewer reach the split).
    Count(u64),
}

impl PartialSchema for SplitSize {
    fn schema() -> RefOr<Schema> {
        let one = |name: &str, value: ObjectBuilder| ObjectBuilder::new().property(name, value).required(name);
        OneOfBuilder::new()
            .item(one("ratio", ObjectBuilder::new().schema_type(Type::Number).exclusive_minimum(Some(0)).exclusive_maximum(Some(1))))
            .item(one(
                "count",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::UInt64)))
                    .minimum(Some(1)),
            ))
            .into()
    }
}

impl ToSchema for SplitSize {}

/// What a stratified split keeps proportional. Canonical records carry no metadata fields,
/// so strata come from the record itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stratify {
    /// `chat`, `preference` or `text`.
    Kind,
    /// `zh`, `en`, `other` or `none` (the dominant script, as in the statistics).
    Language,
}

/// Sends a deterministic sample of the records to a validation output instead of the main one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Split {
    pub validation: SplitSize,
    /// Changes which records are picked; the same seed always picks the same ones (default 0).
    #[serde(default)]
    pub seed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stratify_by: Option<Stratify>,
}

impl Split {
    /// Whether the split needs a first pass over the input: exact counts and stratified
    /// splits do; an unstratified ratio is decided record by record.
    pub fn needs_first_pass(&self) -> bool {
        matches!(self.validation, SplitSize::Count(_)) || self.stratify_by.is_some()
    }
}

/// Marks a plain conversion: the output is always canonical OpenAI-style JSONL, so this step
/// changes nothing; it lets a recipe be only a conversion.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Convert {}

/// Why [`Recipe::check`] refused a recipe: the step (0-based index and name) and the field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}", self.describe())]
pub struct RecipeCheckError {
    /// Index of the step in `steps`; absent for recipe-level fields (`version`, `steps`).
    pub step: Option<usize>,
    /// The step's name (`filter`, `dedup_near`, …).
    pub step_name: Option<String>,
    pub field: String,
    pub message: String,
    /// The recipe is well formed (its OpenAPI schema admits it) but a rule across fields, or
    /// about what this server has, refuses it; false: it breaks a rule its schema states.
    #[serde(skip)]
    pub unprocessable: bool,
}

impl RecipeCheckError {
    fn describe(&self) -> String {
        match (self.step, &self.step_name) {
            (Some(i), Some(name)) => format!("steps[{i}] ({name}), field `{}`: {}", self.field, self.message),
            _ => format!("field `{}`: {}", self.field, self.message),
        }
    }
}

impl Recipe {
    /// Parses a recipe from JSON and checks it.
    pub fn from_json(json: &[u8]) -> Result<Recipe, RecipeError> {
        let recipe: Recipe = serde_json::from_slice(json).map_err(|e| RecipeError::Parse(e.to_string()))?;
        recipe.check()?;
        Ok(recipe)
    }

    /// The split step, when the recipe has one.
    /// The index and field of the first filter with a token limit: such a recipe needs a
    /// token counter to run.
    pub fn token_filter(&self) -> Option<(usize, &'static str)> {
        self.steps.iter().enumerate().find_map(|(i, s)| match s {
            Step::Filter(f) if f.min_tokens.is_some() => Some((i, "min_tokens")),
            Step::Filter(f) if f.max_tokens.is_some() => Some((i, "max_tokens")),
            _ => None,
        })
    }

    /// Whether applying the recipe reads the input twice (a split by exact count, or stratified).
    pub fn reads_twice(&self) -> bool {
        self.split().is_some_and(Split::needs_first_pass)
    }

    pub fn split(&self) -> Option<&Split> {
        self.steps.iter().find_map(|s| match s {
            Step::Split(split) => Some(split),
            _ => None,
        })
    }

    /// Refuses parameters that cannot work, naming the step index and the field.
    pub fn check(&self) -> Result<(), RecipeCheckError> {
        if self.version != RECIPE_VERSION {
            return Err(recipe_error(
                "version",
                format!("unsupported recipe version {}; this build reads version {RECIPE_VERSION}", self.version),
            ));
        }
        if self.steps.is_empty() {
            return Err(recipe_error("steps", "a recipe needs at least one step (use {\"step\": \"convert\"} for a plain conversion)"));
        }
        let mut split_at = None;
        for (i, step) in self.steps.iter().enumerate() {
            let refuse = |field: &str, message: String, unprocessable: bool| {
                Err(RecipeCheckError {
                    step: Some(i),
                    step_name: Some(step.name().to_owned()),
                    field: field.to_owned(),
                    message,
                    unprocessable,
                })
            };
            let fail = |field: &str, message: String| refuse(field, message, false);
            let rule = |field: &str, message: String| refuse(field, message, true);
            if let Some(at) = split_at {
                if !matches!(step, Step::Convert(_)) {
                    return rule(
                        "step",
                        format!("the split (steps[{at}]) must be the last step so its counts are exact; move this step before it"),
                    );
                }
            }
            match step {
                Step::DedupExact(_) | Step::Convert(_) => {}
                Step::DedupNear(near) => {
                    if !(near.threshold > 0.0 && near.threshold <= 1.0) {
                        return fail("threshold", format!("must be greater than 0 and at most 1, found {}", near.threshold));
                    }
                    if !(8..=1024).contains(&near.num_perm) {
                        return fail("num_perm", format!("must be between 8 and 1024, found {}", near.num_perm));
                    }
                    if !(1..=32).contains(&near.ngram) {
                        return fail("ngram", format!("must be between 1 and 32 characters, found {}", near.ngram));
                    }
                }
                Step::Filter(filter) => check_filter(filter).or_else(|(field, message, u)| refuse(field, message, u))?,
                Step::MaskPii(mask) => check_mask(mask).or_else(|(field, message, u)| refuse(&field, message, u))?,
                Step::Augment(a) => {
                    super::augment::check_augment(a).or_else(|(field, message, u)| refuse(field, message, u))?;
                    if self.reads_twice() {
                        return rule(
                            "step",
                            "augment with a split by exact count or stratified would ask the model twice (the split reads the input \
                             twice); split by ratio instead"
                                .to_owned(),
                        );
                    }
                }
                Step::Split(split) => {
                    match split.validation {
                        SplitSize::Ratio(r) if !(r > 0.0 && r < 1.0) => {
                            return fail("validation.ratio", format!("must be greater than 0 and less than 1, found {r}"));
                        }
                        SplitSize::Count(0) => return fail("validation.count", "must be at least 1, found 0".to_owned()),
                        _ => {}
                    }
                    split_at = Some(i);
                }
            }
        }
        Ok(())
    }
}

fn recipe_error(field: &str, message: impl Into<String>) -> RecipeCheckError {
    RecipeCheckError { step: None, step_name: None, field: field.to_owned(), message: message.into(), unprocessable: false }
}

/// Compiles an organization's pattern with the size limit every user pattern gets; the error
/// says what is wrong in one line.
pub fn compile_regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern).size_limit(REGEX_SIZE_LIMIT).build().map_err(|e| match e {
        regex::Error::CompiledTooBig(_) => format!("the pattern is too large once compiled (over {REGEX_SIZE_LIMIT} bytes)"),
        e => format!("invalid regular expression: {}", e.to_string().lines().last().unwrap_or_default().trim()),
    })
}

fn check_filter(f: &Filter) -> Result<(), (&'static str, String, bool)> {
    if let (Some(min), Some(max)) = (f.min_tokens, f.max_tokens) {
        if min > max {
            return Err(("min_tokens", format!("`min_tokens` ({min}) is greater than `max_tokens` ({max})"), true));
        }
    }
    if let (Some(min), Some(max)) = (f.min_chars, f.max_chars) {
        if min > max {
            return Err(("min_chars", format!("`min_chars` ({min}) is greater than `max_chars` ({max})"), true));
        }
    }
    if let (Some(min), Some(max)) = (f.min_turns, f.max_turns) {
        if min > max {
            return Err(("min_turns", format!("`min_turns` ({min}) is greater than `max_turns` ({max})"), true));
        }
    }
    for (field, pattern) in [("include_regex", &f.include_regex), ("exclude_regex", &f.exclude_regex)] {
        if let Some(pattern) = pattern {
            compile_regex(pattern).map_err(|m| (field, m, true))?;
        }
    }
    if let Some(languages) = &f.languages {
        if languages.is_empty() {
            return Err((
                "languages",
                "must name at least one of zh, en, other, none (an empty list would drop every record)".to_owned(),
                false,
            ));
        }
    }
    let empty = Filter::default();
    if *f == empty {
        return Err((
            "filter",
            "sets no criterion; give at least one of min_chars, max_chars, min_tokens, max_tokens, min_turns, max_turns, \
             include_regex, exclude_regex, languages, drop_empty_turns"
                .to_owned(),
            true,
        ));
    }
    Ok(())
}

fn check_mask(m: &MaskPii) -> Result<(), (String, String, bool)> {
    if m.kinds.is_empty() && m.custom.is_empty() {
        return Err(("kinds".to_owned(), "masks nothing: name at least one kind or give a custom rule".to_owned(), true));
    }
    let mut names = BTreeSet::new();
    for (j, rule) in m.custom.iter().enumerate() {
        let field = |f: &str| format!("custom[{j}].{f}");
        let name = rule.name.as_str();
        let shape = name.len() <= 32
            && name.starts_with(|c: char| c.is_ascii_uppercase())
            && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !shape {
            return Err((
                field("name"),
                format!("must be 1–32 upper-case letters, digits or `_`, starting with a letter; found {name:?}"),
                false,
            ));
        }
        if PiiKind::ALL.iter().any(|k| k.label() == name) {
            return Err((field("name"), format!("{name:?} is a built-in kind; pick another name for a custom rule"), true));
        }
        if !names.insert(name) {
            return Err((field("name"), format!("{name:?} is used by two custom rules"), true));
        }
        let regex = compile_regex(&rule.pattern).map_err(|msg| (field("pattern"), msg, true))?;
        if regex.is_match("") {
            return Err((
                field("pattern"),
                format!("{:?} matches the empty string; it must match at least one character", rule.pattern),
                true,
            ));
        }
    }
    Ok(())
}
