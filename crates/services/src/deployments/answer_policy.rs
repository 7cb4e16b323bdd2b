//! The content policy on one answer, between the upstream's chunks and the client: the
//! streaming rules ([`OutputGuard`]) chunk by chunk, and, when the moderation model judges
//! answers, every chunk held until the upstream is done and the model has judged the
//! conversation with each choice's answer.

use super::output_guard::OutputGuard;
use super::safety::{ContentFilter, ModerationConfig, SafetyAction, Stage, Tally};
use super::CompletionEndpoint;
use crate::{Principal, Result, Services};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What to do with an upstream chunk.
#[derive(Debug)]
pub enum Step {
    /// Send these chunks (possibly none) and go on.
    Emit(Vec<Map<String, Value>>),
    /// Send these chunks and end the answer here (the rest of the upstream's answer is not
    /// read; the caller adds the usage and `[DONE]`).
    End(Vec<Map<String, Value>>),
}

pub struct AnswerPolicy {
    guard: Option<OutputGuard>,
    moderation: Option<ModerationConfig>,
    endpoint: CompletionEndpoint,
    /// The request as the model got it (for the moderation model).
    request: Map<String, Value>,
    /// Chunks held for the moderation model's verdict.
    held: Vec<Map<String, Value>>,
    /// Each choice's answer so far (for the moderation model).
    texts: BTreeMap<usize, String>,
    n: usize,
    /// A block rule ended the answer: nothing is left to judge.
    blocked: bool,
}

impl AnswerPolicy {
    /// The policy's hold on an answer, when it filters or moderates answers.
    pub fn new(filter: Option<&Arc<ContentFilter>>, endpoint: CompletionEndpoint, request: &Map<String, Value>) -> Option<AnswerPolicy> {
        let filter = filter?;
        let n = request.get("n").and_then(Value::as_u64).unwrap_or(1).max(1) as usize;
        let guard = OutputGuard::new(filter, endpoint, n);
        let moderation = filter.moderation(Stage::Output).cloned();
        if guard.is_none() && moderation.is_none() {
            return None;
        }
        let request = if moderation.is_some() { request.clone() } else { Map::new() };
        Some(AnswerPolicy { guard, moderation, endpoint, request, held: Vec::new(), texts: BTreeMap::new(), n, blocked: false })
    }

    /// Filters one upstream chunk.
    pub fn chunk(&mut self, mut chunk: Map<String, Value>, tally: &mut Tally) -> Step {
        let had_choices = chunk.get("choices").and_then(Value::as_array).is_some_and(|c| !c.is_empty());
        if let Some(g) = &mut self.guard {
            if g.filter(&mut chunk, tally).is_err() {
                let created = chunk.get("created").and_then(Value::as_i64).unwrap_or_default();
                self.held.clear();
                self.blocked = true;
                return Step::End(g.blocked_endings(created));
            }
        }
        let emptied = had_choices && chunk.get("choices").and_then(Value::as_array).is_some_and(Vec::is_empty);
        let done_early = self.guard.as_ref().is_some_and(OutputGuard::done_early);
        let out = if emptied { Vec::new() } else { vec![chunk] };
        if self.moderation.is_some() {
            for c in &out {
                for choice in c.get("choices").and_then(Value::as_array).into_iter().flatten() {
                    let index = choice.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
                    let text = choice.get("text").or_else(|| choice.get("delta").and_then(|d| d.get("content")));
                    if let Some(t) = text.and_then(Value::as_str) {
                        self.texts.entry(index).or_default().push_str(t);
                    }
                }
            }
            self.held.extend(out);
            return if done_early { Step::End(Vec::new()) } else { Step::Emit(Vec::new()) };
        }
        if done_early {
            Step::End(out)
        } else {
            Step::Emit(out)
        }
    }

    /// At the end of the upstream's answer: the held chunks, once the moderation model judged
    /// each answer safe (or flagged it); an unsafe answer under `block` becomes an empty one
    /// ending with `finish_reason: content_filter`. A moderation model that cannot answer
    /// fails the request (503).
    pub async fn finish(&mut self, services: &Services, principal: &Principal, tally: &mut Tally) -> Result<Vec<Map<String, Value>>> {
        let Some(config) = self.moderation.clone().filter(|_| !self.blocked) else { return Ok(std::mem::take(&mut self.held)) };
        let mut unsafe_any = false;
        for index in 0..self.n {
            let answer = self.texts.get(&index).cloned().unwrap_or_default();
            let conversation = super::content_policy::conversation(self.endpoint, &self.request, Some(&answer));
            if let Some(verdict) = services.moderate(principal, &config, conversation).await? {
                tally.add(Stage::Output, "moderation", config.action, 1, Some(verdict));
                unsafe_any = true;
            }
        }
        if !unsafe_any || config.action == SafetyAction::Flag {
            return Ok(std::mem::take(&mut self.held));
        }
        // Blocked: the usage chunks stay (the tokens were generated), the answers go.
        let created = self.held.iter().find_map(|c| c.get("created").and_then(Value::as_i64)).unwrap_or_default();
        let usage: Vec<_> = self.held.drain(..).filter(|c| c.get("choices").and_then(Value::as_array).is_some_and(Vec::is_empty)).collect();
        let mut out = OutputGuard::endings(self.endpoint, self.n, created);
        out.extend(usage);
        Ok(out)
    }
}
