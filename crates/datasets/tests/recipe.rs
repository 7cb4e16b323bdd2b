//! Recipes: one table per step, `Recipe::check` errors, determinism, two-pass splits, and a
//! whole recipe on `tests/fixtures/recipe/input.jsonl` against golden files
//! (`UPDATE_GOLDEN=1 cargo test -p datasets --test recipe` rewrites them: review the diff).

use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};

use datasets::recipe::{DedupNear, ExampleAction, NearDedup, RecipeCheckError};
use datasets::{
    apply_recipe, Container, FormatSpec, Message, Recipe, RecipeError, RecipeOutputs, RecipeReport, RecipeTools, Record, Role, Schema,
    TokenCounter,
};
use serde_json::{json, Value};

#[derive(Debug)]
struct Output {
    main: Vec<String>,
    validation: Vec<String>,
    report: RecipeReport,
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8(bytes.to_vec()).unwrap().lines().map(str::to_owned).collect()
}

fn apply(recipe: &Value, input: &str, spec: &FormatSpec) -> Result<Output, RecipeError> {
    apply_with(recipe, input, spec, RecipeTools::default())
}

fn apply_with(recipe: &Value, input: &str, spec: &FormatSpec, tools: RecipeTools<'_>) -> Result<Output, RecipeError> {
    let recipe = Recipe::from_json(recipe.to_string().as_bytes())?;
    let bytes = input.as_bytes().to_vec();
    let open = move || -> io::Result<Box<dyn Read>> { Ok(Box::new(Cursor::new(bytes.clone()))) };
    let (mut main, mut validation) = (Vec::new(), Vec::new());
    let report = apply_recipe(&open, spec, &recipe, RecipeOutputs { main: &mut main, validation: Some(&mut validation) }, tools)?;
    Ok(Output { main: lines(&main), validation: lines(&validation), report })
}

fn jsonl() -> FormatSpec {
    FormatSpec::new(Container::Jsonl, Schema::Auto)
}

fn run(steps: Value, input: &[String]) -> Output {
    apply(&json!({"version": 1, "steps": steps}), &(input.join("\n") + "\n"), &jsonl()).unwrap()
}

/// A canonical chat line.
fn chat(user: &str, assistant: &str) -> String {
    Record::Chat { messages: vec![Message::new(Role::User, user), Message::new(Role::Assistant, assistant)] }.to_openai_json()
}

fn text(t: &str) -> String {
    json!({"text": t}).to_string()
}

/// Indices of the `input` lines that `out` kept: `out` is a subsequence of `input` (whose lines
/// are canonical), matched in order.
fn kept(input: &[String], out: &[String]) -> Vec<usize> {
    let mut indices = Vec::new();
    let mut at = 0;
    for line in out {
        let i = at + input[at..].iter().position(|l| l == line).expect("output line not in the input");
        indices.push(i);
        at = i + 1;
    }
    indices
}

#[test]
fn dedup_exact_table() {
    let input = vec![
        chat("What is Rust?", "A systems language."),
        chat("What is Rust?", "A systems language."),
        chat("  what is  RUST? ", "a systems language."),
        chat("What is Go?", "A language from Google."),
        text("Plain text record."),
        text("Plain text record."),
        text("plain   TEXT record."),
    ];
    let table = [(false, vec![0, 2, 3, 4, 6], 2), (true, vec![0, 3, 4], 4)];
    for (normalize, expected, dropped) in table {
        let out = run(json!([{"step": "dedup_exact", "normalize": normalize}]), &input);
        assert_eq!(kept(&input, &out.main), expected, "normalize={normalize}");
        let step = &out.report.steps[0];
        assert_eq!((step.records_in, step.kept, step.dropped), (7, 7 - dropped, dropped));
        assert_eq!(step.dropped_by, BTreeMap::from([("duplicate".to_owned(), dropped)]));
        assert_eq!(step.examples[0].index, 1);
    }
}

#[test]
fn dedup_exact_agrees_with_the_statistics() {
    // tests/fixtures/stats/alpaca.jsonl: 8 valid records, 3 duplicates (see tests/stats.rs).
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stats/alpaca.jsonl");
    let input = std::fs::read_to_string(path).unwrap();
    let spec = FormatSpec::new(Container::Jsonl, Schema::Alpaca);
    let out = apply(&json!({"version": 1, "steps": [{"step": "dedup_exact"}]}), &input, &spec).unwrap();
    assert_eq!((out.report.invalid_input, out.report.steps[0].dropped, out.main.len()), (1, 3, 5));
}

/// A deterministic word salad: `n` texts of about `len` characters.
fn sentences(n: usize, len: usize, seed: u64) -> Vec<String> {
    const WORDS: &[&str] = &[
        "model", "training", "data", "river", "mountain", "quickly", "orange", "theory", "window", "garden", "silver", "network", "plain",
        "energy", "history", "purple", "signal", "harbor", "lantern", "market", "number", "ocean", "pencil", "quiet", "rocket", "shadow",
        "tunnel", "violet", "wander", "yellow", "zebra", "anchor", "bridge", "candle", "desert", "engine", "forest", "glacier", "island",
    ];
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    (0..n)
        .map(|_| {
            let mut s = String::new();
            while s.len() < len {
                s.push_str(WORDS[next() % WORDS.len()]);
                s.push(' ');
            }
            s.trim_end().to_owned()
        })
        .collect()
}

/// `s` with `edits` characters substituted at spread positions.
fn edit(s: &str, edits: usize) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    for e in 0..edits {
        let at = (e * 2 + 1) * chars.len() / (edits * 2 + 1);
        chars[at] = if chars[at] == 'x' { 'q' } else { 'x' };
    }
    chars.into_iter().collect()
}

fn jaccard(a: &str, b: &str) -> f64 {
    let grams = |s: &str| -> HashSet<String> {
        let c: Vec<char> = s.chars().collect();
        c.windows(5).map(|w| w.iter().collect()).collect()
    };
    let (a, b) = (grams(a), grams(b));
    a.intersection(&b).count() as f64 / a.union(&b).count() as f64
}

/// `bases`, then each base with 1–3 characters edited, then `far` records sharing only half
/// their words with a base. Returns the input and the indices of the edited copies.
fn near_input(bases: &[String], far: &[String]) -> (Vec<String>, Vec<usize>, Vec<(usize, f64)>) {
    let mut input: Vec<String> = bases.iter().map(|s| text(s)).collect();
    let mut near = Vec::new();
    for (i, base) in bases.iter().enumerate() {
        let edited = edit(base, 1 + i % 3);
        near.push((input.len(), jaccard(base, &edited)));
        input.push(text(&edited));
    }
    let mut far_indices = Vec::new();
    for (base, other) in bases.iter().zip(far) {
        let half = base.len() / 2;
        let mixed = format!("{}{}", &base[..base[..half].rfind(' ').unwrap()], &other[other[..half].rfind(' ').unwrap()..]);
        assert!(jaccard(base, &mixed) < 0.6, "{}", jaccard(base, &mixed));
        far_indices.push(input.len());
        input.push(text(&mixed));
    }
    (input, far_indices, near)
}

#[test]
fn dedup_near_drops_small_edits_and_keeps_dissimilar_records() {
    // About 400 characters: 1–3 edited characters leave a 5-gram Jaccard of 0.9 or more.
    let bases = sentences(80, 400, 1);
    let (input, far, near) = near_input(&bases, &sentences(40, 400, 2));
    assert!(near.iter().all(|&(_, j)| j >= 0.9), "{near:?}");
    let steps = json!([{"step": "dedup_near", "seed": 3}]);
    let out = run(steps.clone(), &input);
    let kept = kept(&input, &out.main);
    let near_kept: Vec<_> = near.iter().filter(|(i, _)| kept.contains(i)).collect();
    assert!(near_kept.is_empty(), "near-duplicates kept: {near_kept:?}");
    assert!((0..80).chain(far.iter().copied()).all(|i| kept.contains(&i)), "a dissimilar record was dropped");
    let step = &out.report.steps[0];
    assert_eq!(step.dropped_by["near_duplicate"], 80);
    let info = step.near_dup.as_ref().unwrap();
    assert_eq!((info.num_perm, info.bands, info.rows), (128, 14, 9));
    let example = &step.examples[0];
    assert_eq!(example.index, 80);
    assert!(example.note.starts_with("near-duplicate of record 0 (estimated Jaccard 0."), "{}", example.note);

    // Deterministic: same seed, same output; the outcome does not hinge on the seed.
    assert_eq!(run(steps, &input).main, out.main);
    assert_eq!(run(json!([{"step": "dedup_near", "seed": 99}]), &input).main.len(), out.main.len());
}

#[test]
fn dedup_near_recall_near_the_threshold() {
    // About 250 characters: 3 edits leave a Jaccard near 0.87, where MinHash with 128
    // functions misses a pair now and then (LSH and the estimate both vary): most are caught.
    let bases = sentences(300, 250, 5);
    let (input, far, near) = near_input(&bases, &sentences(300, 250, 6));
    let out = run(json!([{"step": "dedup_near"}]), &input);
    let kept = kept(&input, &out.main);
    let caught = near.iter().filter(|(i, _)| !kept.contains(i)).count();
    assert!(caught >= 291, "{caught} of 300 near-duplicates dropped");
    assert!(far.iter().all(|i| kept.contains(i)));
}

#[test]
fn near_dedup_is_usable_on_its_own() {
    let mut near = NearDedup::new(&DedupNear::default());
    let a = Record::Text { text: "The quick brown fox jumps over the lazy dog near the river bank at dawn.".into() };
    let b = Record::Text { text: "The quick brown fox jumps over the lazy dog near the river bank at dusk.".into() };
    let c = Record::Text { text: "Completely different words make a completely different record here.".into() };
    assert_eq!(near.observe(&a).unwrap(), None);
    assert_eq!(near.observe(&b).unwrap().map(|m| m.kept), Some(0));
    assert_eq!(near.observe(&c).unwrap(), None);
    assert_eq!(near.kept(), 2);
}

/// Expected counts per reason or kind.
type Counts<'a> = &'a [(&'a str, u64)];

#[test]
fn filter_table() {
    let long = "x".repeat(300);
    let input = vec![
        chat("Hi", "Hello"),                                               // 0: 7 chars
        chat("Tell me about the weather today.", "It is sunny and warm."), // 1: en
        chat("今天天气怎么样？", "今天晴天，气温二十五度。"),              // 2: zh
        chat("Как дела?", "Хорошо, спасибо."),                             // 3: other
        chat("12345", "67890"),                                            // 4: none
        chat(&long, "ok"),                                                 // 5: long
        Record::Chat {
            messages: vec![
                Message::new(Role::User, "a"),
                Message::new(Role::Assistant, "b"),
                Message::new(Role::User, "c"),
                Message::new(Role::Assistant, "d"),
            ],
        }
        .to_openai_json(), // 6: 4 turns
        chat("As an AI language model I cannot", "Sure I can."),           // 7
        text("A plain text record without turns."),                        // 8
    ];
    let table: &[(Value, &[usize], Counts)] = &[
        (json!({"min_chars": 10}), &[1, 2, 3, 4, 5, 7, 8], &[("too_few_chars", 2)]),
        (json!({"max_chars": 100}), &[0, 1, 2, 3, 4, 6, 7, 8], &[("too_many_chars", 1)]),
        (json!({"min_turns": 3}), &[6, 8], &[("too_few_turns", 7)]),
        (json!({"max_turns": 2}), &[0, 1, 2, 3, 4, 5, 7, 8], &[("too_many_turns", 1)]),
        (json!({"include_regex": "(?i)weather|天气"}), &[1, 2], &[("include_regex_not_matched", 7)]),
        (json!({"exclude_regex": "(?i)as an ai"}), &[0, 1, 2, 3, 4, 5, 6, 8], &[("exclude_regex_matched", 1)]),
        (json!({"languages": ["zh"]}), &[2], &[("language_not_allowed", 8)]),
        (json!({"languages": ["en", "other"]}), &[0, 1, 3, 5, 6, 7, 8], &[("language_not_allowed", 2)]),
        (json!({"languages": ["none"]}), &[4], &[("language_not_allowed", 8)]),
        (json!({"drop_empty_turns": true}), &[0, 1, 2, 3, 4, 5, 6, 7, 8], &[]),
        // The first failed criterion names the reason: #6 is too short before it has too many turns.
        (
            json!({"min_chars": 10, "max_turns": 2, "languages": ["en"]}),
            &[1, 5, 7, 8],
            &[("too_few_chars", 2), ("language_not_allowed", 3)],
        ),
    ];
    for (filter, expected, reasons) in table {
        let mut step = filter.clone();
        step["step"] = json!("filter");
        let out = run(json!([step]), &input);
        assert_eq!(kept(&input, &out.main), *expected, "{filter}");
        let expected_reasons: BTreeMap<String, u64> = reasons.iter().map(|(r, n)| (r.to_string(), *n)).collect();
        assert_eq!(out.report.steps[0].dropped_by, expected_reasons, "{filter}");
    }
}

#[test]
fn mask_pii_table() {
    let table: &[(&str, &str, Counts)] = &[
        ("Mail bob@example.com now", "Mail [EMAIL] now", &[("EMAIL", 1)]),
        ("电话 138-1234-5678，身份证11010519491231002X", "电话 [PHONE]，身份证[CN_ID]", &[("CN_ID", 1), ("PHONE", 1)]),
        ("Card 4111 1111 1111 1111 on 2024-03-15", "Card [BANK_CARD] on 2024-03-15", &[("BANK_CARD", 1)]),
        ("Hosts 192.0.2.1 and 2001:db8::1, v1.2.3.4", "Hosts [IPV4] and [IPV6], v1.2.3.4", &[("IPV4", 1), ("IPV6", 1)]),
        ("Ask E123456 or E654321", "Ask [EMPLOYEE_ID] or [EMPLOYEE_ID]", &[("EMPLOYEE_ID", 2)]),
        ("Order 2023112500012345 costs $1,299.00", "Order 2023112500012345 costs $1,299.00", &[]),
    ];
    let step = json!([{"step": "mask_pii", "custom": [{"name": "EMPLOYEE_ID", "pattern": "E\\d{6}"}]}]);
    for (user, masked, counts) in table {
        let out = run(step.clone(), &[chat(user, "Noted.")]);
        assert_eq!(out.main, vec![chat(masked, "Noted.")], "{user}");
        let expected: BTreeMap<String, u64> = counts.iter().map(|(k, n)| (k.to_string(), *n)).collect();
        let report = &out.report.steps[0];
        assert_eq!(report.modified_by, expected, "{user}");
        assert_eq!(report.modified, u64::from(!counts.is_empty()));
        assert_eq!(report.dropped, 0);
    }

    // Kinds are selectable.
    let only_email = json!([{"step": "mask_pii", "kinds": ["email"]}]);
    let out = run(only_email, &[chat("bob@example.com 13812345678", "ok")]);
    assert_eq!(out.main, vec![chat("[EMAIL] 13812345678", "ok")]);
}

#[test]
fn report_excerpts_are_masked_when_the_recipe_masks() {
    let input = vec![chat("Reach me at bob@example.com", "OK"), chat("Reach me at bob@example.com", "OK")];
    let out = run(json!([{"step": "dedup_exact"}, {"step": "mask_pii"}]), &input);
    let example = &out.report.steps[0].examples[0];
    assert_eq!(example.action, ExampleAction::Dropped);
    assert_eq!(example.excerpt, "user: Reach me at [EMAIL] | assistant: OK");
    let changed = &out.report.steps[1].examples[0];
    assert_eq!(
        (changed.action, changed.reason.as_str(), changed.excerpt.as_str()),
        (ExampleAction::Modified, "EMAIL", "Reach me at [EMAIL]")
    );
}

fn numbered(n: usize) -> Vec<String> {
    (0..n).map(|i| chat(&format!("Question number {i}?"), &format!("Answer number {i}."))).collect()
}

#[test]
fn split_by_count_is_exact_and_deterministic() {
    let input = numbered(500);
    let steps = json!([{"step": "split", "validation": {"count": 37}, "seed": 42}]);
    let out = run(steps.clone(), &input);
    assert_eq!((out.main.len(), out.validation.len()), (463, 37));
    assert_eq!(out.report.passes, 2);
    assert_eq!((out.report.records_out, out.report.validation_out), (463, 37));
    let split = out.report.steps[0].split.as_ref().unwrap();
    assert_eq!((split.main, split.validation), (463, 37));
    // Every record lands once; order is kept.
    let mut all = out.main.clone();
    all.extend(out.validation.clone());
    all.sort();
    let mut sorted = input.clone();
    sorted.sort();
    assert_eq!(all, sorted);
    assert!(kept(&input, &out.validation).windows(2).all(|w| w[0] < w[1]));
    // Same recipe, same split; another seed, another sample.
    assert_eq!(run(steps, &input).validation, out.validation);
    let other = run(json!([{"step": "split", "validation": {"count": 37}, "seed": 43}]), &input);
    assert_eq!(other.validation.len(), 37);
    assert_ne!(other.validation, out.validation);
    // More than there are: all of them.
    let all = run(json!([{"step": "split", "validation": {"count": 1000}}]), &input);
    assert_eq!((all.main.len(), all.validation.len()), (0, 500));
}

#[test]
fn split_by_ratio_is_one_pass_and_close() {
    let input = numbered(2000);
    let out = run(json!([{"step": "split", "validation": {"ratio": 0.1}, "seed": 42}]), &input);
    assert_eq!(out.report.passes, 1);
    let v = out.validation.len();
    assert!((150..=250).contains(&v), "{v}");
    assert_eq!(out.main.len() + v, 2000);
}

#[test]
fn stratified_splits_are_proportional() {
    let mut input = numbered(300);
    input.extend((0..100).map(|i| chat(&format!("第{i}个问题是什么？"), &format!("这是第{i}个回答。"))));
    input.extend((0..20).map(|i| text(&format!("Plain text number {i}."))));
    let out = run(json!([{"step": "split", "validation": {"count": 42}, "stratify_by": "language"}]), &input);
    let strata = &out.report.steps[0].split.as_ref().unwrap().strata;
    // 320 en, 100 zh: 42 × 320/420 = 32, 42 × 100/420 = 10.
    assert_eq!((strata["en"].validation, strata["zh"].validation), (32, 10));
    assert_eq!(out.validation.len(), 42);

    let out = run(json!([{"step": "split", "validation": {"ratio": 0.25}, "stratify_by": "kind"}]), &input);
    let strata = &out.report.steps[0].split.as_ref().unwrap().strata;
    assert_eq!((strata["chat"].validation, strata["text"].validation), (100, 5));
    assert_eq!(out.report.passes, 2);
}

#[test]
fn convert_writes_canonical_chat() {
    let input = [
        json!({"instruction": "Say hi", "input": "", "output": "Hi"}).to_string(),
        json!({"conversations": [{"from": "human", "value": "2+2?"}, {"from": "gpt", "value": "4"}]}).to_string(),
        json!({"prompt": "Capital of Peru?", "completion": "Lima"}).to_string(),
    ];
    let out = apply(&json!({"version": 1, "steps": [{"step": "convert"}]}), &(input.join("\n") + "\n"), &jsonl()).unwrap();
    assert_eq!(out.main, vec![chat("Say hi", "Hi"), chat("2+2?", "4"), chat("Capital of Peru?", "Lima")]);
}

#[test]
fn invalid_input_is_dropped_and_counted() {
    let input = "{\"messages\": [\n".to_owned() + &chat("ok?", "ok") + "\n{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}]}\n";
    let out = apply(&json!({"version": 1, "steps": [{"step": "convert"}]}), &input, &jsonl()).unwrap();
    assert_eq!(out.main, vec![chat("ok?", "ok")]);
    assert_eq!((out.report.records_in, out.report.invalid_input), (3, 2));
    assert_eq!(out.report.steps[0].records_in, 1);
    let codes: Vec<String> =
        out.report.invalid_input_by_code.keys().map(|c| serde_json::to_value(c).unwrap().as_str().unwrap().to_owned()).collect();
    assert_eq!(codes, ["invalid_json", "no_assistant_turn"]);
}

#[test]
fn check_names_the_step_and_field() {
    let table: &[(Value, Option<usize>, &str, &str)] = &[
        (json!({"version": 2, "steps": [{"step": "convert"}]}), None, "version", "unsupported recipe version 2"),
        (json!({"version": 1, "steps": []}), None, "steps", "at least one step"),
        (
            json!({"version": 1, "steps": [{"step": "filter", "min_tokens": 9, "max_tokens": 3}]}),
            Some(0),
            "min_tokens",
            "greater than `max_tokens`",
        ),
        (
            json!({"version": 1, "steps": [{"step": "filter", "min_chars": 10, "max_chars": 5}]}),
            Some(0),
            "min_chars",
            "greater than `max_chars`",
        ),
        (
            json!({"version": 1, "steps": [{"step": "filter", "min_turns": 4, "max_turns": 2}]}),
            Some(0),
            "min_turns",
            "greater than `max_turns`",
        ),
        (
            json!({"version": 1, "steps": [{"step": "filter", "include_regex": "(unclosed"}]}),
            Some(0),
            "include_regex",
            "invalid regular expression",
        ),
        (json!({"version": 1, "steps": [{"step": "filter", "languages": []}]}), Some(0), "languages", "at least one"),
        (json!({"version": 1, "steps": [{"step": "filter"}]}), Some(0), "filter", "sets no criterion"),
        (json!({"version": 1, "steps": [{"step": "dedup_near", "threshold": 1.5}]}), Some(0), "threshold", "at most 1, found 1.5"),
        (json!({"version": 1, "steps": [{"step": "dedup_near", "num_perm": 4}]}), Some(0), "num_perm", "between 8 and 1024, found 4"),
        (json!({"version": 1, "steps": [{"step": "dedup_near", "ngram": 0}]}), Some(0), "ngram", "found 0"),
        (json!({"version": 1, "steps": [{"step": "mask_pii", "kinds": []}]}), Some(0), "kinds", "masks nothing"),
        (
            json!({"version": 1, "steps": [{"step": "mask_pii", "custom": [{"name": "employee", "pattern": "E\\d+"}]}]}),
            Some(0),
            "custom[0].name",
            "upper-case",
        ),
        (
            json!({"version": 1, "steps": [{"step": "mask_pii", "custom": [{"name": "EMAIL", "pattern": "x"}]}]}),
            Some(0),
            "custom[0].name",
            "built-in kind",
        ),
        (
            json!({"version": 1, "steps": [{"step": "mask_pii", "custom": [{"name": "A", "pattern": "x"}, {"name": "A", "pattern": "y"}]}]}),
            Some(0),
            "custom[1].name",
            "used by two",
        ),
        (
            json!({"version": 1, "steps": [{"step": "mask_pii", "custom": [{"name": "A", "pattern": "\\d*"}]}]}),
            Some(0),
            "custom[0].pattern",
            "matches the empty string",
        ),
        (
            json!({"version": 1, "steps": [{"step": "mask_pii", "custom": [{"name": "A", "pattern": "[z-a]"}]}]}),
            Some(0),
            "custom[0].pattern",
            "invalid regular expression",
        ),
        (
            json!({"version": 1, "steps": [{"step": "split", "validation": {"ratio": 1.0}}]}),
            Some(0),
            "validation.ratio",
            "less than 1, found 1",
        ),
        (json!({"version": 1, "steps": [{"step": "split", "validation": {"count": 0}}]}), Some(0), "validation.count", "at least 1"),
        (
            json!({"version": 1, "steps": [{"step": "split", "validation": {"count": 5}}, {"step": "dedup_exact"}]}),
            Some(1),
            "step",
            "must be the last step",
        ),
    ];
    for (recipe, step, field, message) in table {
        let error = match Recipe::from_json(recipe.to_string().as_bytes()) {
            Err(RecipeError::Invalid(e)) => e,
            other => panic!("{recipe}: expected a check error, got {other:?}"),
        };
        let RecipeCheckError { step: got_step, field: got_field, message: got_message, .. } = &error;
        assert_eq!((got_step, got_field.as_str()), (step, *field), "{recipe}: {error}");
        assert!(got_message.contains(message), "{recipe}: {got_message}");
        if let Some(i) = step {
            assert!(error.to_string().starts_with(&format!("steps[{i}] (")), "{error}");
        }
    }
}

#[test]
fn the_recipe_shape_is_strict() {
    let table = [
        json!({"version": 1, "steps": [{"step": "dedupe"}]}),
        json!({"version": 1, "steps": [{"step": "filter", "min_char": 3}]}),
        json!({"version": 1, "steps": [{"step": "convert", "format": "chat"}]}),
        json!({"version": 1, "steps": [{"step": "split", "validation": {"ratio": 0.1, "count": 3}}]}),
        json!({"version": 1, "steps": [{"step": "filter", "languages": ["fr"]}]}),
        json!({"version": 1, "steps": [{"step": "mask_pii", "kinds": ["ssn"]}]}),
        json!({"version": 1, "steps": [], "extra": true}),
    ];
    for recipe in table {
        assert!(matches!(Recipe::from_json(recipe.to_string().as_bytes()), Err(RecipeError::Parse(_))), "{recipe}");
    }
    // Round trip.
    let recipe = Recipe::from_json(&std::fs::read(fixture_dir().join("recipe.json")).unwrap()).unwrap();
    let again: Recipe = serde_json::from_value(serde_json::to_value(&recipe).unwrap()).unwrap();
    assert_eq!(again, recipe);
}

#[test]
fn splits_need_a_validation_output_and_a_stable_input() {
    let recipe = Recipe::from_json(br#"{"version": 1, "steps": [{"step": "split", "validation": {"count": 2}}]}"#).unwrap();
    let open = || -> io::Result<Box<dyn Read>> { Ok(Box::new(Cursor::new(numbered(10).join("\n").into_bytes()))) };
    let mut main = Vec::new();
    let result = apply_recipe(&open, &jsonl(), &recipe, RecipeOutputs { main: &mut main, validation: None }, RecipeTools::default());
    assert!(matches!(result, Err(RecipeError::MissingValidationOutput)));

    // The reader factory is called once per pass; a second pass seeing other data fails.
    let calls = Cell::new(0);
    let changing = || -> io::Result<Box<dyn Read>> {
        calls.set(calls.get() + 1);
        Ok(Box::new(Cursor::new(numbered(10 + calls.get()).join("\n").into_bytes())))
    };
    let (mut main, mut validation) = (Vec::new(), Vec::new());
    let result = apply_recipe(
        &changing,
        &jsonl(),
        &recipe,
        RecipeOutputs { main: &mut main, validation: Some(&mut validation) },
        RecipeTools::default(),
    );
    assert!(matches!(result, Err(RecipeError::InputChanged { first: 11, second: 12 })), "{result:?}");
    assert_eq!(calls.get(), 2);

    // A file the input layer refuses is an error.
    let gz = || -> io::Result<Box<dyn Read>> { Ok(Box::new(Cursor::new(vec![0x1f, 0x8b, 8, 0, 0, 0]))) };
    let convert = Recipe::from_json(br#"{"version": 1, "steps": [{"step": "convert"}]}"#).unwrap();
    let result = apply_recipe(&gz, &jsonl(), &convert, RecipeOutputs { main: &mut Vec::new(), validation: None }, RecipeTools::default());
    assert!(matches!(result, Err(RecipeError::File(_))), "{result:?}");
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recipe")
}

#[test]
fn whole_recipe_matches_the_golden_files() {
    let dir = fixture_dir();
    let recipe: Value = serde_json::from_slice(&std::fs::read(dir.join("recipe.json")).unwrap()).unwrap();
    let input = std::fs::read_to_string(dir.join("input.jsonl")).unwrap();
    let spec = FormatSpec::new(Container::Jsonl, Schema::Chat);
    let out = apply(&recipe, &input, &spec).unwrap();
    let again = apply(&recipe, &input, &spec).unwrap();
    assert_eq!((&again.main, &again.validation, &again.report), (&out.main, &out.validation, &out.report), "not deterministic");

    let files = [
        ("main.expected.jsonl", out.main.iter().map(|l| format!("{l}\n")).collect::<String>()),
        ("validation.expected.jsonl", out.validation.iter().map(|l| format!("{l}\n")).collect::<String>()),
        ("report.expected.json", serde_json::to_string_pretty(&out.report).unwrap() + "\n"),
    ];
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    for (name, actual) in files {
        let path = dir.join(name);
        if update {
            std::fs::write(&path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(actual, expected, "{name} differs (UPDATE_GOLDEN=1 rewrites it)");
    }
}

/// Rewrites every content in capitals; fails for contents that contain "FAIL", and returns a
/// shorter conversation for "SHORT": a real augmenter, deterministic enough to check.
struct Capitals;

impl datasets::recipe::augment::Augmenter for Capitals {
    fn augment(&self, request: &datasets::recipe::augment::AugmentRequest<'_>) -> Result<Vec<Message>, String> {
        if request.messages.iter().any(|m| m.content.contains("FAIL")) {
            return Err("HTTP 503 from the endpoint".to_owned());
        }
        let n = if request.messages.iter().any(|m| m.content.contains("SHORT")) { 1 } else { request.messages.len() };
        Ok(request.messages[..n].iter().map(|m| Message::new(m.role, m.content.to_uppercase())).collect())
    }
}

#[test]
fn augment_adds_variants_that_go_through_the_later_steps() {
    let input = [chat("hi there", "hello"), chat("FAIL me", "no"), chat("a SHORT one", "ok"), text("plain text")];
    let recipe = json!({"version": 1, "steps": [
        {"step": "augment", "method": "paraphrase", "endpoint": {"url": {"url": "http://127.0.0.1:9/v1", "model": "m"}}, "copies": 2},
        {"step": "dedup_exact"}
    ]});
    let tools = RecipeTools { augmenter: Some(&Capitals), ..RecipeTools::default() };
    let out = apply_with(&recipe, &(input.join("\n") + "\n"), &jsonl(), tools).unwrap();
    // Each chat record is followed by its variants; the two identical variants of the first
    // record are one after dedup; the text passes unchanged.
    assert_eq!(out.main, vec![input[0].clone(), chat("HI THERE", "HELLO"), input[1].clone(), input[2].clone(), input[3].clone()]);
    let step = &out.report.steps[0];
    assert_eq!((step.records_in, step.added), (4, 2));
    assert_eq!(step.failed_by.get("endpoint_error"), Some(&4), "{step:?}");
    assert!(step.examples.iter().any(|e| e.note.contains("HTTP 503")), "{:?}", step.examples);
    assert!(step.examples.iter().any(|e| e.note.contains("same turns and roles")), "{:?}", step.examples);
    assert_eq!(out.report.steps[1].dropped_by.get("duplicate"), Some(&1));

    // An endpoint that keeps failing stops the recipe.
    let failing: Vec<String> = (0..6).map(|i| chat(&format!("FAIL {i}"), "x")).collect();
    let err = apply_with(&recipe, &(failing.join("\n") + "\n"), &jsonl(), tools).unwrap_err().to_string();
    assert!(err.contains("failed 10 times in a row") && err.contains("HTTP 503"), "{err}");
    // Without a client, the step is refused before any data is read.
    let err = apply(&recipe, &input[0], &jsonl()).unwrap_err().to_string();
    assert!(err.contains("no client for the augmentation endpoint"), "{err}");
}

#[test]
fn augment_parameters_are_checked() {
    let deployment = br#"{"version": 1, "steps": [{"step": "augment", "method": "paraphrase", "endpoint": {"deployment": {"deployment_id": "dep_1"}}}]}"#;
    let err = datasets::Recipe::from_json(deployment).unwrap_err().to_string();
    assert!(err.contains("deployments do not exist yet"), "{err}");
    let bad = br#"{"version": 1, "steps": [{"step": "augment", "method": "back_translate", "endpoint": {"url": {"url": "http://x/v1", "model": "m"}}}]}"#;
    let err = datasets::Recipe::from_json(bad).unwrap_err().to_string();
    assert!(err.contains("pivot_language"), "{err}");
    let twice = br#"{"version": 1, "steps": [{"step": "augment", "method": "paraphrase", "endpoint": {"url": {"url": "http://x/v1", "model": "m"}}},
        {"step": "split", "validation": {"count": 5}}]}"#;
    let err = datasets::Recipe::from_json(twice).unwrap_err().to_string();
    assert!(err.contains("would ask the model twice"), "{err}");
    let unknown =
        br#"{"version": 1, "steps": [{"step": "augment", "method": "summarise", "endpoint": {"deployment": {"deployment_id": "d"}}}]}"#;
    assert!(datasets::Recipe::from_json(unknown).is_err());
}

/// Whitespace-separated words as tokens: a real counter, simple enough to check by hand.
struct WordTokens;

impl TokenCounter for WordTokens {
    fn count(&self, text: &str) -> Result<usize, String> {
        Ok(text.split_whitespace().count())
    }
}

#[test]
fn token_filters_count_the_contents_trained_together() {
    let input = [
        chat("hi", "hello"),                                        // 2 tokens
        chat("one two three", "four five six seven"),               // 7
        chat("a b c d e f g h", "i j k l m n o p q r s t u v w x"), // 24
        text("just three words"),                                   // 3
    ];
    let recipe = json!({"version": 1, "tokenizer": "bm_anything", "steps": [{"step": "filter", "min_tokens": 3, "max_tokens": 20}]});
    let out =
        apply_with(&recipe, &(input.join("\n") + "\n"), &jsonl(), RecipeTools { tokens: Some(&WordTokens), ..RecipeTools::default() })
            .unwrap();
    assert_eq!(kept(&input, &out.main), [1, 3]);
    let step = &out.report.steps[0];
    assert_eq!(step.dropped_by.get("too_few_tokens"), Some(&1), "{step:?}");
    assert_eq!(step.dropped_by.get("too_many_tokens"), Some(&1), "{step:?}");
    let notes: Vec<&str> = step.examples.iter().map(|e| e.note.as_str()).collect();
    assert!(notes.contains(&"2 tokens, min_tokens is 3") && notes.contains(&"24 tokens, max_tokens is 20"), "{notes:?}");
    // Without a counter the recipe is refused before any data is read, naming the step and field.
    let refused = apply(&json!({"version": 1, "steps": [{"step": "convert"}, {"step": "filter", "max_tokens": 100}]}), &input[0], &jsonl());
    match refused {
        Err(RecipeError::Invalid(e)) => {
            assert_eq!((e.step, e.field.as_str()), (Some(1), "max_tokens"));
            assert!(e.message.contains("token filters need a tokenizer: name a base model"), "{}", e.message);
        }
        other => panic!("expected a refusal, got {:?}", other.map(|o| o.report)),
    }
    // The recipe records whose tokenizer counted.
    assert_eq!(Recipe::from_json(recipe.to_string().as_bytes()).unwrap().tokenizer.as_deref(), Some("bm_anything"));
}

/// Counts words, but cannot encode "x" (as a tokenizer missing a piece of its vocabulary).
struct NoX;

impl TokenCounter for NoX {
    fn count(&self, text: &str) -> Result<usize, String> {
        if text.split_whitespace().any(|w| w == "x") {
            return Err("'x' cannot be encoded".into());
        }
        Ok(text.split_whitespace().count())
    }
}

#[test]
fn a_record_whose_tokens_cannot_be_counted_stops_the_recipe_naming_it() {
    let input = [chat("hi", "hello"), chat("a b", "w x"), chat("one", "two")];
    let recipe = json!({"version": 1, "tokenizer": "bm_anything", "steps": [{"step": "filter", "max_tokens": 20}]});
    let tools = RecipeTools { tokens: Some(&NoX), ..RecipeTools::default() };
    match apply_with(&recipe, &(input.join("\n") + "\n"), &jsonl(), tools) {
        Err(RecipeError::Record { index, step, reason }) => {
            assert_eq!((index, step), (1, 0));
            assert!(reason.contains("'x' cannot be encoded"), "{reason}");
        }
        other => panic!("expected the recipe to stop, got {:?}", other.map(|o| o.report)),
    }
}
