//! The content policy applied to an answer as it streams. Each choice's text is held back by
//! the policy's [`ContentFilter::hold_bytes`] — the longest match its output rules can make, so a
//! word list or a bounded pattern is always seen whole (up to 4 KiB) — and released masked; a
//! block match ends the answer (`finish_reason: content_filter`, the held text never sent); the
//! `max_output_chars` limit ends a choice with `finish_reason: length`. A rule with no bound on
//! its matches (an unbounded pattern, personal data) holds back 128 bytes: a longer match may be
//! released unmasked in part.

use super::safety::{ContentFilter, SafetyAction, Stage, Tally};
use super::CompletionEndpoint;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Default)]
struct ChoiceText {
    raw: String,
    /// Bytes of `raw` released (masked) to the client.
    released: usize,
    /// The choice ended (its finish chunk passed, or the limit cut it).
    finished: bool,
}

/// Why an answer ended early: the block rule that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub rule: String,
}

pub struct OutputGuard {
    filter: Arc<ContentFilter>,
    endpoint: CompletionEndpoint,
    choices: BTreeMap<usize, ChoiceText>,
    /// Choices the request asked for.
    n: usize,
    /// A choice was cut by `max_output_chars`.
    cut: bool,
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    while at > 0 && !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

impl OutputGuard {
    /// A guard when the policy filters answers.
    pub fn new(filter: &Arc<ContentFilter>, endpoint: CompletionEndpoint, n: usize) -> Option<OutputGuard> {
        filter.filters_output().then(|| OutputGuard { filter: filter.clone(), endpoint, choices: BTreeMap::new(), n: n.max(1), cut: false })
    }

    fn text_of(endpoint: CompletionEndpoint, choice: &mut Value) -> Option<&mut Value> {
        match endpoint {
            CompletionEndpoint::Chat => choice.get_mut("delta").and_then(|d| d.get_mut("content")),
            CompletionEndpoint::Completions => choice.get_mut("text"),
        }
    }

    /// Rewrites a chunk from the upstream: each choice's text becomes what may be released
    /// now. Err when a block rule matched (the caller ends the answer with
    /// [`OutputGuard::blocked_endings`]).
    pub fn filter(&mut self, chunk: &mut Map<String, Value>, tally: &mut Tally) -> Result<(), Blocked> {
        let Some(choices) = chunk.get_mut("choices").and_then(Value::as_array_mut) else { return Ok(()) };
        let mut kept = Vec::with_capacity(choices.len());
        for mut choice in choices.drain(..) {
            let Some(index) = choice.get("index").and_then(Value::as_u64).map(|i| i as usize) else {
                kept.push(choice);
                continue;
            };
            let state = self.choices.entry(index).or_default();
            if state.finished {
                continue; // cut by the limit: what the upstream sends after is not the client's
            }
            let finishing = choice.get("finish_reason").is_some_and(|r| !r.is_null());
            let delta = Self::text_of(self.endpoint, &mut choice).and_then(|t| t.as_str().map(str::to_string)).unwrap_or_default();
            let (released, cut) = release(&self.filter, state, &delta, finishing, tally)?;
            if let Some(t) = Self::text_of(self.endpoint, &mut choice) {
                *t = released.into();
            } else if !released.is_empty() {
                match self.endpoint {
                    CompletionEndpoint::Chat => choice["delta"]["content"] = released.into(),
                    CompletionEndpoint::Completions => choice["text"] = released.into(),
                }
            }
            if cut {
                self.cut = true;
                choice["finish_reason"] = "length".into();
                tally.add(Stage::Output, "max_output_chars", SafetyAction::Block, 1, None);
            }
            kept.push(choice);
        }
        *choices = kept;
        Ok(())
    }

    /// Whether every choice ended and the limit cut one: the rest of the upstream's answer is
    /// not needed.
    pub fn done_early(&self) -> bool {
        self.cut && self.choices.len() >= self.n && self.choices.values().all(|c| c.finished)
    }

    /// Chunks that end every unfinished choice with `finish_reason: content_filter`.
    pub fn blocked_endings(&mut self, created: i64) -> Vec<Map<String, Value>> {
        let mut out = Vec::new();
        for index in 0..self.n {
            let state = self.choices.entry(index).or_default();
            if !state.finished {
                state.finished = true;
                out.push(ending(self.endpoint, index, created));
            }
        }
        out
    }

    /// Chunks that end choices `0..n` with `finish_reason: content_filter`.
    pub fn endings(endpoint: CompletionEndpoint, n: usize, created: i64) -> Vec<Map<String, Value>> {
        (0..n).map(|index| ending(endpoint, index, created)).collect()
    }
}

/// The chunk that ends choice `index` with `finish_reason: content_filter`.
fn ending(endpoint: CompletionEndpoint, index: usize, created: i64) -> Map<String, Value> {
    let choice = match endpoint {
        CompletionEndpoint::Chat => json!({"index": index, "delta": {}, "logprobs": null, "finish_reason": "content_filter"}),
        CompletionEndpoint::Completions => json!({"index": index, "text": "", "logprobs": null, "finish_reason": "content_filter"}),
    };
    let mut chunk = Map::new();
    chunk.insert("object".into(), endpoint.chunk_object().into());
    chunk.insert("created".into(), created.into());
    chunk.insert("choices".into(), Value::Array(vec![choice]));
    chunk
}

/// Adds `delta` to a choice and returns the text that may go to the client now, and whether
/// the length limit ended the choice.
fn release(
    filter: &ContentFilter,
    state: &mut ChoiceText,
    delta: &str,
    mut finishing: bool,
    tally: &mut Tally,
) -> Result<(String, bool), Blocked> {
    state.raw.push_str(delta);
    let mut cut = false;
    if let Some(max) = filter.policy.max_output_chars {
        if let Some((at, _)) = state.raw.char_indices().nth(max as usize) {
            state.raw.truncate(at);
            finishing = true;
            cut = true;
        }
    }
    // Text before `scan_from` was judged with enough text after it.
    let hold = filter.hold_bytes();
    let scan_from = floor_boundary(&state.raw, state.released.saturating_sub(hold));
    let window = &state.raw[scan_from..];
    if let Some((rule, n)) = filter.blocking(Stage::Output, window) {
        tally.add(Stage::Output, filter.rule_name(rule), SafetyAction::Block, n, None);
        return Err(Blocked { rule: filter.rule_name(rule).to_string() });
    }
    let mut end = if finishing { state.raw.len() } else { floor_boundary(&state.raw, state.raw.len().saturating_sub(hold)) };
    end = end.max(state.released);
    let shift = |mut s: super::safety::Span| {
        s.start += scan_from;
        s.end += scan_from;
        s
    };
    let masks: Vec<_> = filter.spans(Stage::Output, SafetyAction::Mask, window).into_iter().map(shift).collect();
    // A match across the release point waits for the next delta.
    if let Some(s) = masks.iter().find(|s| s.start < end && s.end > end && s.start >= state.released) {
        end = s.start;
    }
    let released = state.released;
    let inside: Vec<_> = masks
        .into_iter()
        .filter(|s| s.start >= released && s.end <= end)
        .map(|mut s| {
            s.start -= released;
            s.end -= released;
            s
        })
        .collect();
    for s in &inside {
        tally.add(Stage::Output, filter.rule_name(s.rule), SafetyAction::Mask, 1, None);
    }
    for s in filter.spans(Stage::Output, SafetyAction::Flag, window).into_iter().map(shift) {
        if s.start >= state.released && s.start < end {
            tally.add(Stage::Output, filter.rule_name(s.rule), SafetyAction::Flag, 1, None);
        }
    }
    let out = filter.masked(&state.raw[released..end], &inside);
    state.released = end;
    if finishing {
        state.finished = true;
    }
    Ok((out, cut))
}

#[cfg(test)]
mod tests {
    use super::super::safety::{ContentPolicy, ContentRule};
    use super::*;
    use datasets::recipe::PiiKind;

    fn guard(policy: ContentPolicy, endpoint: CompletionEndpoint, n: usize) -> OutputGuard {
        OutputGuard::new(&Arc::new(ContentFilter::compile(policy).unwrap()), endpoint, n).unwrap()
    }

    fn rule(name: &str, action: SafetyAction) -> ContentRule {
        ContentRule { name: name.into(), stages: vec![Stage::Output], words: vec![], pattern: None, pii: vec![], action, replacement: None }
    }

    fn chat_chunk(index: usize, text: &str, finish: Option<&str>) -> Map<String, Value> {
        json!({"choices": [{"index": index, "delta": {"content": text}, "finish_reason": finish}]}).as_object().unwrap().clone()
    }

    /// Streams `text` in pieces of `step` bytes (on character boundaries) and returns what the
    /// client got.
    fn stream(g: &mut OutputGuard, text: &str, step: usize, tally: &mut Tally) -> Result<String, Blocked> {
        let mut pieces = Vec::new();
        let mut at = 0;
        while at < text.len() {
            let end = floor_boundary(text, (at + step).min(text.len())).max(at + 1);
            let end = (end..=text.len()).find(|e| text.is_char_boundary(*e)).unwrap();
            pieces.push(&text[at..end]);
            at = end;
        }
        let mut got = String::new();
        for (i, p) in pieces.iter().enumerate() {
            let mut c = chat_chunk(0, p, (i + 1 == pieces.len()).then_some("stop"));
            g.filter(&mut c, tally)?;
            for choice in c["choices"].as_array().unwrap() {
                got.push_str(choice["delta"]["content"].as_str().unwrap_or(""));
            }
        }
        Ok(got)
    }

    #[test]
    fn a_match_split_across_chunks_is_masked_whatever_the_chunk_size() {
        let policy = ContentPolicy {
            rules: vec![
                ContentRule { pii: vec![PiiKind::Email, PiiKind::Phone], ..rule("pii", SafetyAction::Mask) },
                ContentRule { words: vec!["Phoenix".into()], replacement: Some("***".into()), ..rule("codename", SafetyAction::Mask) },
            ],
            ..ContentPolicy::default()
        };
        let text = format!("Write to olga.ivanova@example.com or call 138 1234 5678 about phoenix. {}", "filler ".repeat(40));
        let want = format!("Write to [EMAIL] or call [PHONE] about ***. {}", "filler ".repeat(40));
        for step in [1, 2, 3, 5, 8, 13, 64, 200, 1000] {
            let mut tally = Tally::default();
            let got = stream(&mut guard(policy.clone(), CompletionEndpoint::Chat, 1), &text, step, &mut tally).unwrap();
            assert_eq!(got, want, "chunks of {step} bytes");
            let masked: i64 = tally.hits.iter().map(|h| h.matches).sum();
            assert_eq!(masked, 3, "chunks of {step} bytes: {:?}", tally.hits);
        }
    }

    #[test]
    fn text_is_held_back_only_while_it_may_still_match() {
        let policy =
            ContentPolicy { rules: vec![ContentRule { words: vec!["x".into()], ..rule("w", SafetyAction::Mask) }], ..Default::default() };
        let mut g = guard(policy, CompletionEndpoint::Chat, 1);
        // "x" and one more character (a word boundary needs the character after the word).
        assert_eq!(g.filter.hold_bytes(), 5);
        let mut c = chat_chunk(0, &"a".repeat(20), None);
        g.filter(&mut c, &mut Tally::default()).unwrap();
        assert_eq!(c["choices"][0]["delta"]["content"].as_str().unwrap().len(), 15);
        let mut c = chat_chunk(0, "", Some("stop"));
        g.filter(&mut c, &mut Tally::default()).unwrap();
        assert_eq!(c["choices"][0]["delta"]["content"].as_str().unwrap().len(), 5);
    }

    #[test]
    fn the_hold_is_the_longest_match_a_rule_can_make() {
        use super::super::safety::{DEFAULT_HOLD_BYTES, MAX_HOLD_BYTES};
        let hold = |r: ContentRule| ContentFilter::compile(ContentPolicy { rules: vec![r], ..Default::default() }).unwrap().hold_bytes();
        assert_eq!(hold(ContentRule { pattern: Some(r"[0-9]{3}-[0-9]{4}".into()), ..rule("p", SafetyAction::Mask) }), 8 + 4);
        assert_eq!(hold(ContentRule { pattern: Some(r"key-\d+".into()), ..rule("p", SafetyAction::Mask) }), DEFAULT_HOLD_BYTES);
        assert_eq!(hold(ContentRule { pii: vec![PiiKind::Email], ..rule("p", SafetyAction::Mask) }), DEFAULT_HOLD_BYTES);
        assert_eq!(hold(ContentRule { pattern: Some(r"[a-z]{5000}".into()), ..rule("p", SafetyAction::Block) }), MAX_HOLD_BYTES);
        assert_eq!(hold(ContentRule { stages: vec![Stage::Input], words: vec!["x".into()], ..rule("p", SafetyAction::Mask) }), 0);
    }

    #[test]
    fn a_word_longer_than_the_default_hold_is_masked_whole_whatever_the_chunk_size() {
        let word = "pneumonoultramicroscopicsilicovolcanoconiosis".repeat(4); // 180 bytes
        let policy = ContentPolicy {
            rules: vec![ContentRule { words: vec![word.clone()], replacement: Some("[term]".into()), ..rule("long", SafetyAction::Mask) }],
            ..ContentPolicy::default()
        };
        let text = format!("It is called {} in the books. {}", word.to_uppercase(), "more ".repeat(60));
        let want = format!("It is called [term] in the books. {}", "more ".repeat(60));
        for step in [1, 7, 64, 129, 200, 1000] {
            let got = stream(&mut guard(policy.clone(), CompletionEndpoint::Chat, 1), &text, step, &mut Tally::default()).unwrap();
            assert_eq!(got, want, "chunks of {step} bytes");
        }
    }

    #[test]
    fn a_block_match_ends_the_answer_without_releasing_it() {
        let policy = ContentPolicy {
            rules: vec![ContentRule { pattern: Some(r"(?i)drop\s+table".into()), ..rule("sql", SafetyAction::Block) }],
            ..Default::default()
        };
        let mut g = guard(policy, CompletionEndpoint::Chat, 2);
        let mut tally = Tally::default();
        let err = stream(&mut g, "Sure: DROP   TABLE users;", 4, &mut tally).unwrap_err();
        assert_eq!(err.rule, "sql");
        let endings = g.blocked_endings(7);
        assert_eq!(endings.len(), 2);
        assert_eq!(endings[1]["choices"][0]["finish_reason"], "content_filter");
        assert_eq!(tally.hits[0].action, SafetyAction::Block);
    }

    #[test]
    fn the_length_limit_cuts_a_choice_and_ends_the_stream_early() {
        let policy = ContentPolicy { max_output_chars: Some(5), ..Default::default() };
        let mut g = OutputGuard::new(&Arc::new(ContentFilter::compile(policy).unwrap()), CompletionEndpoint::Completions, 1).unwrap();
        let mut c = json!({"choices": [{"index": 0, "text": "héllo world", "finish_reason": null}]}).as_object().unwrap().clone();
        g.filter(&mut c, &mut Tally::default()).unwrap();
        assert_eq!(c["choices"][0]["text"], "héllo");
        assert_eq!(c["choices"][0]["finish_reason"], "length");
        assert!(g.done_early());
        let mut later = json!({"choices": [{"index": 0, "text": " more", "finish_reason": null}]}).as_object().unwrap().clone();
        g.filter(&mut later, &mut Tally::default()).unwrap();
        assert_eq!(later["choices"], json!([]));
    }
}
