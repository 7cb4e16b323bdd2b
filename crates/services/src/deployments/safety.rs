//! Content safety: an organization's content policy — rules that block, mask or flag text in
//! requests (input) and answers (output), length limits, and an optional moderation model —
//! checked, compiled once per policy, and applied by the gateway.
//!
//! A rule matches by one of: a word list (case-insensitive; a word that begins or ends with an
//! ASCII letter or digit matches only where that side is not inside an ASCII word, so `secret`
//! is not found in `secretary`, while `机密` is found anywhere), a regular expression, or kinds
//! of personal data (the detectors of the dataset `mask_pii` step). Block rules are looked for
//! first: one match refuses the input or ends the answer. Mask spans of several rules are
//! resolved like the PII detectors: leftmost first, then longest, then rule order.

use crate::{Error, Result};
use datasets::recipe::{compile_regex, MaskPii, PiiKind, PiiMasker};
use domain::ValidationError;
use regex::Regex;
use serde::{Deserialize, Serialize};

/// Where a rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The request's messages (every role) or prompt, before it reaches the model.
    Input,
    /// The model's answer, as it streams.
    Output,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Input => "input",
            Stage::Output => "output",
        }
    }
}

/// What a rule does with a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SafetyAction {
    /// Refuse the input (400 `content_filter`), or end the answer there (`finish_reason:
    /// content_filter`).
    Block,
    /// Replace the match (`replacement`, or the kind of personal data: `[EMAIL]` …).
    Mask,
    /// Let it pass; record that the rule matched.
    Flag,
}

impl SafetyAction {
    pub fn as_str(self) -> &'static str {
        match self {
            SafetyAction::Block => "block",
            SafetyAction::Mask => "mask",
            SafetyAction::Flag => "flag",
        }
    }
}

fn both_stages() -> Vec<Stage> {
    vec![Stage::Input, Stage::Output]
}

/// An organization's content policy (`PUT /api/v1/safety/policy`). The empty policy (the
/// default) changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContentPolicy {
    /// Applied to every request through the gateway, in this order.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub rules: Vec<ContentRule>,
    /// Most characters of input (the text of all messages, or the prompt); a longer request is
    /// refused with 400 `content_filter`.
    #[schema(minimum = 1)]
    pub max_input_chars: Option<u32>,
    /// Most characters of an answer (per choice): the answer ends there with
    /// `finish_reason: length`.
    #[schema(minimum = 1)]
    pub max_output_chars: Option<u32>,
    /// A model the organization serves that classifies conversations as safe or unsafe.
    pub moderation: Option<ModerationConfig>,
}

/// One rule: what it looks for (exactly one of `words`, `pattern`, `pii`) and what it does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContentRule {
    /// Names the rule in errors and events: lower-case letters, digits, `_`, `-` and `.`.
    #[schema(pattern = "^[a-z0-9][a-z0-9_.-]{0,63}$")]
    pub name: String,
    /// Where it applies (default: both).
    #[serde(default = "both_stages")]
    #[schema(min_items = 1)]
    pub stages: Vec<Stage>,
    /// Words or phrases (case-insensitive), each 1–200 characters and not only spaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 1000)]
    pub words: Vec<String>,
    /// A regular expression (Rust `regex` syntax; `(?i)` for case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Kinds of personal data, as the dataset `mask_pii` step finds them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pii: Vec<PiiKind>,
    pub action: SafetyAction,
    /// What a masked match becomes (mask rules only). Default: `[REDACTED]`, or the kind of
    /// personal data (`[EMAIL]`, `[PHONE]` …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 64)]
    pub replacement: Option<String>,
}

/// The moderation model: any deployment of the organization, asked (as a chat, temperature 0)
/// about the conversation before generation (`input`) and about the answer after it
/// (`output`; the answer is then released when the model has judged it, not token by token).
/// An answer that begins with `unsafe_prefix` (case-insensitive) means unsafe — the convention
/// of Llama Guard, whose chat template carries its own policy; a general model gets
/// `system_prompt` first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModerationConfig {
    /// The deployment's name (as requests call it).
    #[schema(min_length = 1)]
    pub deployment: String,
    #[serde(default = "both_stages")]
    #[schema(min_items = 1)]
    pub stages: Vec<Stage>,
    /// `block` (default) or `flag`.
    #[serde(default = "block")]
    pub action: SafetyAction,
    #[serde(default = "unsafe_word")]
    #[schema(min_length = 1)]
    pub unsafe_prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
}

fn block() -> SafetyAction {
    SafetyAction::Block
}

fn unsafe_word() -> String {
    "unsafe".into()
}

const MAX_RULES: usize = 100;
const MAX_WORDS: usize = 1000;
const DEFAULT_REPLACEMENT: &str = "[REDACTED]";

/// One match of a rule in a text (byte offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    /// Index of the rule in the policy.
    pub rule: usize,
    /// The kind of personal data, for a `pii` rule.
    pub kind: Option<String>,
}

enum Matcher {
    Regex(Regex),
    Pii(PiiMasker),
}

struct CompiledRule {
    name: String,
    input: bool,
    output: bool,
    action: SafetyAction,
    matcher: Matcher,
    replacement: Option<String>,
    /// The longest text in bytes it can match (None: unbounded, or personal data).
    longest: Option<usize>,
}

impl CompiledRule {
    fn applies(&self, stage: Stage) -> bool {
        match stage {
            Stage::Input => self.input,
            Stage::Output => self.output,
        }
    }

    fn find(&self, rule: usize, text: &str, out: &mut Vec<Span>) {
        match &self.matcher {
            Matcher::Regex(r) => {
                out.extend(r.find_iter(text).filter(|m| !m.is_empty()).map(|m| Span { start: m.start(), end: m.end(), rule, kind: None }))
            }
            Matcher::Pii(p) => out.extend(p.find(text).into_iter().map(|s| Span { start: s.start, end: s.end, rule, kind: Some(s.kind) })),
        }
    }
}

/// What an answer is held back by for a rule whose matches have no bound (an unbounded
/// pattern, personal data: far shorter in practice); a longer match may be released in part.
pub const DEFAULT_HOLD_BYTES: usize = 128;
/// The most an answer is held back by (a rule that can match more is held back this much).
pub const MAX_HOLD_BYTES: usize = 4096;

/// A checked, compiled policy.
pub struct ContentFilter {
    pub policy: ContentPolicy,
    rules: Vec<CompiledRule>,
    /// [`ContentFilter::hold_bytes`].
    hold: usize,
}

impl std::fmt::Debug for ContentFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentFilter").field("policy", &self.policy).finish()
    }
}

/// The longest text in bytes `pattern` can match (None when unbounded), as the regex crate's own
/// parser reads it.
fn longest_match(pattern: &str) -> Option<usize> {
    regex_syntax::ParserBuilder::new().build().parse(pattern).ok()?.properties().maximum_len()
}

/// The regular expression of a word list.
fn words_pattern(words: &[String]) -> String {
    let ascii_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let alternatives: Vec<String> = words
        .iter()
        .map(|w| {
            let (lead, tail) = (ascii_word(w.chars().next()), ascii_word(w.chars().last()));
            format!("{}{}{}", if lead { r"(?-u:\b)" } else { "" }, regex::escape(w), if tail { r"(?-u:\b)" } else { "" })
        })
        .collect();
    format!("(?i)(?:{})", alternatives.join("|"))
}

impl ContentFilter {
    /// Checks a policy (errors name the field: `rules[2].pattern` …) and compiles its rules.
    /// Whether the moderation deployment exists is the caller's check.
    pub fn compile(policy: ContentPolicy) -> Result<ContentFilter> {
        if policy.rules.len() > MAX_RULES {
            return Err(ValidationError::new("rules", format!("at most {MAX_RULES} rules, got {}", policy.rules.len())).into());
        }
        let mut rules = Vec::with_capacity(policy.rules.len());
        let mut names = std::collections::HashSet::new();
        for (i, r) in policy.rules.iter().enumerate() {
            let field = |f: &str| format!("rules[{i}].{f}");
            let name_ok = r.name.len() <= 64
                && r.name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && r.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
            if !name_ok {
                return Err(ValidationError::new(
                    &field("name"),
                    format!("'{}': use 1–64 lower-case letters, digits, '_', '-' or '.', starting with a letter or digit", r.name),
                )
                .into());
            }
            if !names.insert(r.name.as_str()) {
                return Err(ValidationError::unprocessable(&field("name"), format!("two rules are named '{}'", r.name)).into());
            }
            if r.stages.is_empty() {
                return Err(ValidationError::new(&field("stages"), "name at least one stage: input, output").into());
            }
            let given = usize::from(!r.words.is_empty()) + usize::from(r.pattern.is_some()) + usize::from(!r.pii.is_empty());
            if given != 1 {
                return Err(ValidationError::unprocessable(
                    &format!("rules[{i}]"),
                    format!("rule '{}' needs exactly one of words, pattern or pii (it has {given})", r.name),
                )
                .into());
            }
            if let Some(text) = &r.replacement {
                if text.chars().count() > 64 {
                    return Err(ValidationError::new(&field("replacement"), "at most 64 characters").into());
                }
                if r.action != SafetyAction::Mask {
                    return Err(ValidationError::unprocessable(&field("replacement"), "only a mask rule replaces what it finds").into());
                }
            }
            let (matcher, longest) = if !r.words.is_empty() {
                if r.words.len() > MAX_WORDS {
                    return Err(ValidationError::new(&field("words"), format!("at most {MAX_WORDS} words, got {}", r.words.len())).into());
                }
                if let Some((j, _)) = r.words.iter().enumerate().find(|(_, w)| w.trim().is_empty() || w.chars().count() > 200) {
                    return Err(ValidationError::unprocessable(
                        &format!("rules[{i}].words[{j}]"),
                        "a word is 1–200 characters, not only spaces",
                    )
                    .into());
                }
                let pattern = words_pattern(&r.words);
                (
                    Matcher::Regex(compile_regex(&pattern).map_err(|m| ValidationError::unprocessable(&field("words"), m))?),
                    longest_match(&pattern),
                )
            } else if let Some(pattern) = &r.pattern {
                let regex = compile_regex(pattern).map_err(|m| ValidationError::unprocessable(&field("pattern"), m))?;
                if regex.is_match("") {
                    return Err(ValidationError::unprocessable(
                        &field("pattern"),
                        "the pattern matches the empty text: it would match everywhere",
                    )
                    .into());
                }
                (Matcher::Regex(regex), longest_match(pattern))
            } else {
                let config = MaskPii { kinds: r.pii.clone(), custom: Vec::new() };
                (Matcher::Pii(PiiMasker::new(&config).map_err(|e| Error::Internal(format!("the PII detectors: {e}")))?), None)
            };
            rules.push(CompiledRule {
                name: r.name.clone(),
                input: r.stages.contains(&Stage::Input),
                output: r.stages.contains(&Stage::Output),
                action: r.action,
                matcher,
                replacement: r.replacement.clone(),
                longest,
            });
        }
        for (field, value) in [("max_input_chars", policy.max_input_chars), ("max_output_chars", policy.max_output_chars)] {
            if value == Some(0) {
                return Err(ValidationError::new(field, "at least 1 (leave it out for no limit)").into());
            }
        }
        if let Some(m) = &policy.moderation {
            if m.deployment.is_empty() {
                return Err(ValidationError::new("moderation.deployment", "name the deployment that moderates").into());
            }
            if m.stages.is_empty() {
                return Err(ValidationError::new("moderation.stages", "name at least one stage: input, output").into());
            }
            if m.action == SafetyAction::Mask {
                return Err(
                    ValidationError::unprocessable("moderation.action", "a moderation model blocks or flags; it cannot mask").into()
                );
            }
            if m.unsafe_prefix.trim().is_empty() {
                let message = "the prefix of an unsafe verdict needs a character other than a space";
                return Err(ValidationError::unprocessable("moderation.unsafe_prefix", message).into());
            }
        }
        let hold = rules
            .iter()
            .filter(|r| r.output)
            .map(|r| r.longest.map_or(DEFAULT_HOLD_BYTES, |n| n.saturating_add(4).min(MAX_HOLD_BYTES)))
            .max()
            .unwrap_or(0);
        Ok(ContentFilter { policy, rules, hold })
    }

    /// Whether the policy changes nothing.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
            && self.policy.max_input_chars.is_none()
            && self.policy.max_output_chars.is_none()
            && self.policy.moderation.is_none()
    }

    /// Whether anything applies to answers as they stream (rules or a length limit).
    pub fn filters_output(&self) -> bool {
        self.policy.max_output_chars.is_some() || self.rules.iter().any(|r| r.output)
    }

    /// How many bytes of an answer are held back while a match may still be forming at its end:
    /// the longest match any output rule can make, and one more character (a word boundary
    /// depends on the character after a word), at most [`MAX_HOLD_BYTES`]; unbounded patterns
    /// and personal data count [`DEFAULT_HOLD_BYTES`].
    pub fn hold_bytes(&self) -> usize {
        self.hold
    }

    /// The moderation model when it judges `stage`.
    pub fn moderation(&self, stage: Stage) -> Option<&ModerationConfig> {
        self.policy.moderation.as_ref().filter(|m| m.stages.contains(&stage))
    }

    pub fn rule_name(&self, rule: usize) -> &str {
        &self.rules[rule].name
    }

    pub fn rule_action(&self, rule: usize) -> SafetyAction {
        self.rules[rule].action
    }

    /// The first block rule (in policy order) that matches `text`, with its match count.
    pub fn blocking(&self, stage: Stage, text: &str) -> Option<(usize, i64)> {
        self.rules.iter().enumerate().filter(|(_, r)| r.action == SafetyAction::Block && r.applies(stage)).find_map(|(i, r)| {
            let mut spans = Vec::new();
            r.find(i, text, &mut spans);
            (!spans.is_empty()).then_some((i, spans.len() as i64))
        })
    }

    /// The matches of the `action` rules for `stage`, leftmost first and not overlapping (on a
    /// tie the longest, then the earlier rule).
    pub fn spans(&self, stage: Stage, action: SafetyAction, text: &str) -> Vec<Span> {
        let mut all = Vec::new();
        for (i, r) in self.rules.iter().enumerate().filter(|(_, r)| r.action == action && r.applies(stage)) {
            r.find(i, text, &mut all);
        }
        all.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)).then(a.rule.cmp(&b.rule)));
        let mut out: Vec<Span> = Vec::with_capacity(all.len());
        for s in all {
            if out.last().is_none_or(|last| s.start >= last.end) {
                out.push(s);
            }
        }
        out
    }

    /// What a masked span becomes.
    pub fn replacement(&self, span: &Span) -> String {
        match (&self.rules[span.rule].replacement, &span.kind) {
            (Some(r), _) => r.clone(),
            (None, Some(kind)) => format!("[{kind}]"),
            (None, None) => DEFAULT_REPLACEMENT.to_string(),
        }
    }

    /// `text` with `spans` (sorted, not overlapping, inside `text`) replaced.
    pub fn masked(&self, text: &str, spans: &[Span]) -> String {
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for s in spans {
            out.push_str(&text[at..s.start]);
            out.push_str(&self.replacement(s));
            at = s.end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// Applies the `stage` rules to a whole text: Err(rule index) when a block rule matches,
    /// else the text with its masks applied (None when unchanged); every rule that acted is
    /// counted in `tally`.
    pub fn apply(&self, stage: Stage, text: &str, tally: &mut Tally) -> std::result::Result<Option<String>, usize> {
        if let Some((rule, n)) = self.blocking(stage, text) {
            tally.add(stage, self.rule_name(rule), SafetyAction::Block, n, None);
            return Err(rule);
        }
        for span_rule in self.spans(stage, SafetyAction::Flag, text).iter().map(|s| s.rule) {
            tally.add(stage, self.rule_name(span_rule), SafetyAction::Flag, 1, None);
        }
        let masks = self.spans(stage, SafetyAction::Mask, text);
        if masks.is_empty() {
            return Ok(None);
        }
        for s in &masks {
            tally.add(stage, self.rule_name(s.rule), SafetyAction::Mask, 1, None);
        }
        Ok(Some(self.masked(text, &masks)))
    }
}

/// What the policy did to one request: (stage, rule, action) with the matches found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub hits: Vec<Hit>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub stage: Stage,
    /// A rule's name, `max_input_chars`, `max_output_chars` or `moderation`.
    pub rule: String,
    pub action: SafetyAction,
    pub matches: i64,
    /// A moderation model's verdict.
    pub detail: Option<String>,
}

impl Tally {
    pub fn add(&mut self, stage: Stage, rule: &str, action: SafetyAction, matches: i64, detail: Option<String>) {
        if let Some(h) = self.hits.iter_mut().find(|h| h.stage == stage && h.rule == rule && h.action == action) {
            h.matches += matches;
            if detail.is_some() {
                h.detail = detail;
            }
            return;
        }
        self.hits.push(Hit { stage, rule: rule.to_string(), action, matches, detail });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, action: SafetyAction) -> ContentRule {
        ContentRule { name: name.into(), stages: both_stages(), words: vec![], pattern: None, pii: vec![], action, replacement: None }
    }

    fn filter(rules: Vec<ContentRule>) -> ContentFilter {
        ContentFilter::compile(ContentPolicy { rules, ..ContentPolicy::default() }).unwrap()
    }

    #[test]
    fn words_match_whole_ascii_words_case_insensitively_and_cjk_anywhere() {
        let f = filter(vec![ContentRule { words: vec!["Secret".into(), "机密".into(), "c++".into()], ..rule("w", SafetyAction::Mask) }]);
        let mut tally = Tally::default();
        let out = f.apply(Stage::Output, "a SECRET, not a secretary; 这是机密文件的secret。c++ and cc++", &mut tally).unwrap();
        assert_eq!(out.as_deref(), Some("a [REDACTED], not a secretary; 这是[REDACTED]文件的[REDACTED]。[REDACTED] and cc++"));
        assert_eq!(tally.hits, vec![Hit { stage: Stage::Output, rule: "w".into(), action: SafetyAction::Mask, matches: 4, detail: None }]);
    }

    #[test]
    fn a_block_rule_wins_over_masks_and_names_itself() {
        let f = filter(vec![
            ContentRule { pii: vec![PiiKind::Email], ..rule("pii", SafetyAction::Mask) },
            ContentRule { pattern: Some(r"(?i)project\s+phoenix".into()), ..rule("codename", SafetyAction::Block) },
        ]);
        let mut tally = Tally::default();
        assert_eq!(f.apply(Stage::Input, "mail a@b.io about Project  Phoenix", &mut tally), Err(1));
        assert_eq!(tally.hits[0].rule, "codename");
        let out = f.apply(Stage::Input, "mail a@b.io today", &mut Tally::default()).unwrap();
        assert_eq!(out.as_deref(), Some("mail [EMAIL] today"));
    }

    #[test]
    fn stages_and_flags_are_respected() {
        let f = filter(vec![
            ContentRule { stages: vec![Stage::Input], words: vec!["x".into()], ..rule("in-only", SafetyAction::Block) },
            ContentRule { words: vec!["maybe".into()], ..rule("watch", SafetyAction::Flag) },
        ]);
        let mut tally = Tally::default();
        assert_eq!(f.apply(Stage::Output, "x maybe maybe", &mut tally), Ok(None));
        assert_eq!(
            tally.hits,
            vec![Hit { stage: Stage::Output, rule: "watch".into(), action: SafetyAction::Flag, matches: 2, detail: None }]
        );
    }

    #[test]
    fn the_example_policy_of_the_readme_compiles() {
        let policy: ContentPolicy = serde_json::from_str(include_str!("../../../../examples/content-policy.json")).unwrap();
        let f = ContentFilter::compile(policy).unwrap();
        let mut tally = Tally::default();
        let out = f.apply(Stage::Output, "Write to a@b.io about AcmeCorp", &mut tally).unwrap();
        assert_eq!(out.as_deref(), Some("Write to [EMAIL] about AcmeCorp"));
        assert_eq!(f.apply(Stage::Input, "what is project phoenix?", &mut Tally::default()), Err(1));
    }

    #[test]
    fn a_bad_policy_names_the_field() {
        let cases = [
            (vec![ContentRule { pattern: Some("(".into()), ..rule("p", SafetyAction::Block) }], "rules[0].pattern"),
            (vec![ContentRule { pattern: Some("a*".into()), ..rule("p", SafetyAction::Block) }], "rules[0].pattern"),
            (vec![rule("none", SafetyAction::Block)], "rules[0]"),
            (vec![ContentRule { words: vec!["a".into()], ..rule("Bad Name", SafetyAction::Block) }], "rules[0].name"),
            (
                vec![
                    ContentRule { words: vec!["a".into()], ..rule("same", SafetyAction::Block) },
                    ContentRule { words: vec!["b".into()], ..rule("same", SafetyAction::Flag) },
                ],
                "rules[1].name",
            ),
            (vec![ContentRule { words: vec![" ".into()], ..rule("w", SafetyAction::Block) }], "rules[0].words[0]"),
            (
                vec![ContentRule { words: vec!["a".into()], replacement: Some("*".into()), ..rule("w", SafetyAction::Flag) }],
                "rules[0].replacement",
            ),
        ];
        for (rules, field) in cases {
            match ContentFilter::compile(ContentPolicy { rules, ..ContentPolicy::default() }) {
                Err(Error::Validation(e)) => assert_eq!(e.field, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}
