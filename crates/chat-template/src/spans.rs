//! Where each message's content lies in the rendered text, and which parts training learns from.
//!
//! `runtime/tunery_runtime/data.py` (`locate_spans`) follows these steps one for one, in
//! character offsets; keep the two in step (see `tests/trained_spans.rs`).

use std::ops::Range;

use serde::Serialize;

use crate::{ChatTemplate, Message, Role, TemplateError};

/// Replaces one message's content to see where the template puts it: private-use characters,
/// which no template trims, changes or tests for.
const SENTINEL: &str = "\u{E000}tunery-content\u{E001}";

/// How the spans were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpanMethod {
    /// The template is prefix-stable: rendering the first k messages gives a prefix of the
    /// full text for every k, so each message owns the piece of text it added (its turn), and
    /// its content was found inside that turn.
    Incremental,
    /// The template is not prefix-stable (it renders earlier parts differently depending on
    /// later messages, e.g. Phi-3 writes the EOS token after the last turn, Mistral folds the
    /// system prompt into the first user turn), or some content lies outside its own turn: the
    /// contents were searched for in message order, each after the previous one.
    Search,
}

/// Where one message's content is in [`Rendered::text`], in byte offsets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Span {
    /// Index of the message in the conversation.
    pub message_index: usize,
    pub role: Role,
    /// First byte of the content as rendered.
    pub start: usize,
    /// End of the content as rendered (exclusive). Equals `end` unless an end-of-turn token follows.
    pub content_end: usize,
    /// End of the span (exclusive): for an assistant message, after the end-of-turn token that
    /// immediately follows the content, if one does; otherwise `content_end`.
    pub end: usize,
    /// Training learns from this span: an assistant message whose `weight` is not 0.
    pub trained: bool,
}

impl Span {
    /// `start..end`: what training learns from when `trained`.
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }

    /// `start..content_end`: the content alone.
    pub fn content_range(&self) -> Range<usize> {
        self.start..self.content_end
    }
}

/// The training text of a conversation and the spans of its messages.
///
/// - `text` is the rendering with `add_generation_prompt = false`, the text training uses.
/// - Each span covers the message's content as the template wrote it: the content itself or,
///   for templates that trim (`|trim`, `.strip()`), the trimmed content. Role headers,
///   separators, the BOS token and default system prompts belong to no span.
/// - An assistant span also covers the end-of-turn token written right after the content
///   (`<|im_end|>`, `<|eot_id|>`, `</s>`, `<end_of_turn>`, `<|end|>`; see
///   [`ChatTemplate::end_of_turn`]) — the model must learn to stop — but not the newline or
///   anything else after it.
/// - `trained` is true for assistant messages whose `weight` is not 0; system and user spans
///   are never trained.
/// - Spans are in message order; a message whose content cannot be found (the template drops
///   it, or changes it beyond trimming) has no span and is listed in `unlocated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = RenderedRecord)]
pub struct Rendered {
    pub text: String,
    pub spans: Vec<Span>,
    pub method: SpanMethod,
    pub unlocated: Vec<usize>,
}

impl Rendered {
    /// The spans training learns from.
    pub fn trained_spans(&self) -> impl Iterator<Item = &Span> {
        self.spans.iter().filter(|s| s.trained)
    }
}

/// A content found at `start..content_end`.
#[derive(Debug, Clone, Copy)]
struct Found {
    start: usize,
    content_end: usize,
}

pub(crate) fn locate(template: &ChatTemplate, messages: &[Message]) -> Result<Rendered, TemplateError> {
    let text = template.render(messages, false)?;
    let end_of_turn = template.end_of_turn();

    if let Some(bounds) = prefix_bounds(template, messages, &text) {
        let found: Option<Vec<Found>> = messages
            .iter()
            .enumerate()
            .map(|(k, message)| {
                find_in_turn(&text, bounds[k]..bounds[k + 1], message, end_of_turn, || anchor(template, messages, k, &text))
            })
            .collect();
        if let Some(found) = found {
            let spans = found.iter().enumerate().map(|(k, f)| span(&text, k, &messages[k], *f, end_of_turn)).collect();
            return Ok(Rendered { text, spans, method: SpanMethod::Incremental, unlocated: Vec::new() });
        }
    }

    let mut spans = Vec::new();
    let mut unlocated = Vec::new();
    let mut cursor = 0;
    for (k, message) in messages.iter().enumerate() {
        match find_in_text(&text, cursor, message, anchor(template, messages, k, &text)) {
            Some(found) => {
                cursor = cursor.max(found.content_end);
                spans.push(span(&text, k, message, found, end_of_turn));
            }
            None => unlocated.push(k),
        }
    }
    Ok(Rendered { text, spans, method: SpanMethod::Search, unlocated })
}

/// The byte offsets where each turn starts (and the text's end): `bounds[k]` is the length of
/// the rendering of the first k messages, 0 for k = 0. `None` when some prefix rendering fails
/// or is not a prefix of the full text.
fn prefix_bounds(template: &ChatTemplate, messages: &[Message], text: &str) -> Option<Vec<usize>> {
    let mut bounds = vec![0];
    for k in 1..messages.len() {
        let prefix = template.render(&messages[..k], false).ok()?;
        if !text.starts_with(&prefix) || prefix.len() < bounds[k - 1] {
            return None;
        }
        bounds.push(prefix.len());
    }
    bounds.push(text.len());
    Some(bounds)
}

/// Where message `k`'s content starts in `text`, found by rendering the conversation with that
/// content replaced by [`SENTINEL`]: the sentinel must appear exactly once, and everything
/// before it must equal `text` (the content did not change what comes before it).
fn anchor(template: &ChatTemplate, messages: &[Message], k: usize, text: &str) -> Option<usize> {
    if text.contains(SENTINEL) {
        return None;
    }
    let mut replaced = messages.to_vec();
    replaced[k].content = SENTINEL.to_string();
    let rendered = template.render(&replaced, false).ok()?;
    let at = rendered.find(SENTINEL)?;
    if rendered[at + SENTINEL.len()..].contains(SENTINEL) {
        return None;
    }
    (text.get(..at)? == &rendered[..at]).then_some(at)
}

/// The forms a content may take in the text: as given, or trimmed by the template
/// (`|trim`, `.strip()`).
fn forms(content: &str) -> Vec<&str> {
    let mut forms = vec![content];
    let trimmed = content.trim();
    if trimmed != content {
        forms.push(trimmed);
    }
    forms
}

/// The content at `at` if one of its forms starts there and ends by `limit`.
fn form_at(text: &str, at: usize, limit: usize, message: &Message) -> Option<Found> {
    let rest = text.get(at..limit)?;
    let form = forms(&message.content).into_iter().find(|form| rest.starts_with(form))?;
    Some(Found { start: at, content_end: at + form.len() })
}

/// Finds a content inside its own turn. A form that occurs exactly once there is the content;
/// otherwise (the header may repeat it: a user saying "user") the anchor decides, and failing
/// that, the occurrence followed by an end-of-turn token, else the last one.
fn find_in_turn(
    text: &str,
    turn: Range<usize>,
    message: &Message,
    end_of_turn: &[String],
    anchor: impl FnOnce() -> Option<usize>,
) -> Option<Found> {
    let forms = forms(&message.content);
    let occurrences = forms.iter().filter(|form| !form.is_empty()).find_map(|form| {
        let starts: Vec<usize> = text[turn.clone()].match_indices(*form).map(|(i, _)| turn.start + i).collect();
        (!starts.is_empty()).then_some((starts, form.len()))
    });
    if let Some((starts, len)) = &occurrences {
        if let [start] = starts.as_slice() {
            return Some(Found { start: *start, content_end: start + len });
        }
    }
    if let Some(found) = anchor().filter(|at| turn.contains(at) || *at == turn.end).and_then(|at| form_at(text, at, turn.end, message)) {
        return Some(found);
    }
    let (starts, len) = occurrences?;
    let ends_turn = |start: &&usize| end_of_turn.iter().any(|token| text[**start + len..].starts_with(token.as_str()));
    let start = *starts.iter().rev().find(ends_turn).or(starts.last())?;
    Some(Found { start, content_end: start + len })
}

/// Finds a content anywhere in the text: at its anchor, else its first occurrence after `cursor`
/// (the end of the previous message found).
fn find_in_text(text: &str, cursor: usize, message: &Message, anchor: Option<usize>) -> Option<Found> {
    if let Some(found) = anchor.and_then(|at| form_at(text, at, text.len(), message)) {
        return Some(found);
    }
    forms(&message.content).into_iter().filter(|form| !form.is_empty()).find_map(|form| {
        let start = cursor + text[cursor..].find(form)?;
        Some(Found { start, content_end: start + form.len() })
    })
}

fn span(text: &str, index: usize, message: &Message, found: Found, end_of_turn: &[String]) -> Span {
    let assistant = message.role == Role::Assistant;
    let end = if assistant {
        let rest = &text[found.content_end..];
        found.content_end + end_of_turn.iter().find(|token| rest.starts_with(token.as_str())).map_or(0, |token| token.len())
    } else {
        found.content_end
    };
    Span {
        message_index: index,
        role: message.role,
        start: found.start,
        content_end: found.content_end,
        end,
        trained: assistant && message.weight != Some(0),
    }
}
