//! The OpenAI streaming format, as the gateway reads it from an upstream: `data:` lines split
//! out of the byte stream, each chunk rewritten for the client (its id and model name), the
//! usage metered (the upstream's usage when it reports it, else one token per content delta),
//! and, for a client that did not ask for a stream, the chunks assembled into one answer.

use super::CompletionEndpoint;
use serde_json::{json, Map, Value};

/// Splits a byte stream into the payloads of its `data:` lines.
#[derive(Default)]
pub struct SseLines {
    buffer: Vec<u8>,
}

/// One payload: a JSON chunk or the final `[DONE]`.
#[derive(Debug, Clone, PartialEq)]
pub enum SseData {
    Chunk(Map<String, Value>),
    Done,
    /// A data line that is not a JSON object (the upstream broke the format).
    Malformed(String),
}

impl SseLines {
    /// Feeds bytes; returns the payloads of the lines they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseData> {
        self.buffer.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\r', '\n']);
            let Some(data) = line.strip_prefix("data:") else { continue };
            let data = data.trim_start();
            if data == "[DONE]" {
                out.push(SseData::Done);
            } else {
                match serde_json::from_str::<Value>(data) {
                    Ok(Value::Object(o)) => out.push(SseData::Chunk(o)),
                    _ => out.push(SseData::Malformed(data.chars().take(200).collect())),
                }
            }
        }
        out
    }
}

/// Counts tokens and times what a response streamed.
#[derive(Debug, Clone, Default)]
pub struct Meter {
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    /// Content deltas seen (the count of last resort).
    pub deltas: i64,
    pub first_token_ms: Option<i64>,
}

impl Meter {
    /// Reads a chunk's usage (final or continuous) and notes its first content.
    pub fn observe(&mut self, chunk: &Map<String, Value>, elapsed_ms: i64) {
        if let Some(u) = chunk.get("usage").and_then(Value::as_object) {
            if let Some(p) = u.get("prompt_tokens").and_then(Value::as_i64) {
                self.prompt_tokens = Some(p);
            }
            if let Some(c) = u.get("completion_tokens").and_then(Value::as_i64) {
                self.completion_tokens = Some(c);
            }
        }
        let has_content = chunk.get("choices").and_then(Value::as_array).is_some_and(|choices| {
            choices.iter().any(|c| {
                c.get("text").and_then(Value::as_str).is_some_and(|t| !t.is_empty())
                    || c["delta"].get("content").and_then(Value::as_str).is_some_and(|t| !t.is_empty())
            })
        });
        if has_content {
            self.deltas += 1;
            self.first_token_ms.get_or_insert(elapsed_ms);
        }
    }

    /// (prompt, completion) tokens: the upstream's figures, else the deltas seen.
    pub fn tokens(&self) -> (i64, i64) {
        (self.prompt_tokens.unwrap_or(0), self.completion_tokens.unwrap_or(self.deltas))
    }
}

/// Rewrites a chunk for the client: the gateway's id and the name the client called; the
/// usage the gateway asks for on every chunk (`continuous_usage_stats`) only where the client
/// asked for it too, else `null` with `include_usage` and nothing without. Returns None for a
/// chunk the client should not see (a usage-only chunk it did not ask for).
pub fn for_client(
    mut chunk: Map<String, Value>,
    id: &str,
    model: &str,
    include_usage: bool,
    continuous: bool,
) -> Option<Map<String, Value>> {
    chunk.insert("id".into(), id.into());
    chunk.insert("model".into(), model.into());
    let usage_only = chunk.get("choices").and_then(Value::as_array).is_some_and(Vec::is_empty);
    if usage_only {
        return include_usage.then_some(chunk);
    }
    if continuous {
        return Some(chunk);
    }
    if include_usage {
        chunk.insert("usage".into(), Value::Null);
    } else {
        chunk.remove("usage");
    }
    Some(chunk)
}

/// A usage-only chunk with the metered tokens (the end of an answer cut short by the gateway).
pub fn usage_chunk(endpoint: CompletionEndpoint, meter: &Meter, created: i64) -> Map<String, Value> {
    let (prompt, completion) = meter.tokens();
    let mut chunk = Map::new();
    chunk.insert("object".into(), endpoint.chunk_object().into());
    chunk.insert("created".into(), created.into());
    chunk.insert("choices".into(), Value::Array(Vec::new()));
    chunk.insert("usage".into(), json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}));
    chunk
}

/// Assembles streamed chunks into the answer of a non-streaming request.
#[derive(Debug, Clone, Default)]
pub struct Assembler {
    choices: Vec<(String, Option<Value>)>,
    created: Option<i64>,
    system_fingerprint: Option<Value>,
}

impl Assembler {
    pub fn push(&mut self, chunk: &Map<String, Value>) {
        if self.created.is_none() {
            self.created = chunk.get("created").and_then(Value::as_i64);
        }
        if let Some(f) = chunk.get("system_fingerprint").filter(|f| !f.is_null()) {
            self.system_fingerprint = Some(f.clone());
        }
        for c in chunk.get("choices").and_then(Value::as_array).into_iter().flatten() {
            let Some(index) = c.get("index").and_then(Value::as_u64).map(|i| i as usize) else { continue };
            if index >= 1024 {
                continue;
            }
            while self.choices.len() <= index {
                self.choices.push((String::new(), None));
            }
            let text = c.get("text").and_then(Value::as_str).or_else(|| c["delta"].get("content").and_then(Value::as_str));
            if let Some(t) = text {
                self.choices[index].0.push_str(t);
            }
            if let Some(reason) = c.get("finish_reason").filter(|r| !r.is_null()) {
                self.choices[index].1 = Some(reason.clone());
            }
        }
    }

    /// Each choice's text and finish reason so far (what a log keeps).
    pub fn answers(&self) -> Vec<super::inference_logs::LoggedAnswer> {
        self.choices
            .iter()
            .map(|(text, reason)| super::inference_logs::LoggedAnswer {
                text: text.clone(),
                finish_reason: reason.as_ref().and_then(Value::as_str).map(str::to_string),
            })
            .collect()
    }

    /// The answer in OpenAI's non-streaming shape.
    pub fn finish(self, endpoint: CompletionEndpoint, id: &str, model: &str, created_s: i64, meter: &Meter) -> Value {
        let (prompt, completion) = meter.tokens();
        let choices: Vec<Value> = self
            .choices
            .into_iter()
            .enumerate()
            .map(|(index, (text, reason))| match endpoint {
                CompletionEndpoint::Chat => json!({
                    "index": index, "message": {"role": "assistant", "content": text}, "logprobs": null,
                    "finish_reason": reason.unwrap_or(Value::Null),
                }),
                CompletionEndpoint::Completions => json!({
                    "index": index, "text": text, "logprobs": null, "finish_reason": reason.unwrap_or(Value::Null),
                }),
            })
            .collect();
        json!({
            "id": id,
            "object": match endpoint { CompletionEndpoint::Chat => "chat.completion", CompletionEndpoint::Completions => "text_completion" },
            "created": self.created.unwrap_or(created_s),
            "model": model,
            "system_fingerprint": self.system_fingerprint,
            "choices": choices,
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_lines_are_split_across_arbitrary_byte_boundaries() {
        let text = "data: {\"a\":1}\n\n: comment\ndata: {\"b\":\"é\"}\r\n\ndata: [DONE]\n\n";
        for cut in 0..text.len() {
            let mut lines = SseLines::default();
            let mut got = lines.push(&text.as_bytes()[..cut]);
            got.extend(lines.push(&text.as_bytes()[cut..]));
            assert_eq!(got.len(), 3, "cut at {cut}");
            assert_eq!(got[1], SseData::Chunk(serde_json::from_str("{\"b\":\"é\"}").unwrap()));
            assert_eq!(got[2], SseData::Done);
        }
    }

    #[test]
    fn chunks_assemble_into_one_answer_per_choice_with_the_upstream_usage() {
        let chunks = [
            json!({"created": 5, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}),
            json!({"choices": [{"index": 1, "delta": {"content": "b"}}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}),
            json!({"choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": "stop"}]}),
            json!({"choices": [{"index": 1, "delta": {}, "finish_reason": "length"}]}),
            json!({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}),
        ];
        let (mut assembler, mut meter) = (Assembler::default(), Meter::default());
        for (i, c) in chunks.iter().enumerate() {
            assembler.push(c.as_object().unwrap());
            meter.observe(c.as_object().unwrap(), i as i64 * 10);
        }
        let answer = assembler.finish(CompletionEndpoint::Chat, "chatcmpl-x", "m", 9, &meter);
        assert_eq!(answer["created"], 5);
        assert_eq!(answer["choices"][0]["message"]["content"], "a");
        assert_eq!(answer["choices"][0]["finish_reason"], "stop");
        assert_eq!(answer["choices"][1]["message"]["content"], "b");
        assert_eq!(answer["choices"][1]["finish_reason"], "length");
        assert_eq!(answer["usage"], json!({"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}));
        assert_eq!(meter.first_token_ms, Some(10));
    }

    #[test]
    fn a_client_that_did_not_ask_for_usage_never_sees_it() {
        let chunk = json!({"id": "up", "model": "mdl_x", "choices": [{"index": 0}], "usage": {"prompt_tokens": 1}});
        let out = for_client(chunk.as_object().unwrap().clone(), "chatcmpl-1", "ft:x", false, false).unwrap();
        assert_eq!((out["id"].as_str(), out["model"].as_str(), out.get("usage")), (Some("chatcmpl-1"), Some("ft:x"), None));
        let usage_only = json!({"choices": [], "usage": {"prompt_tokens": 1}});
        assert!(for_client(usage_only.as_object().unwrap().clone(), "i", "m", false, false).is_none());
        assert!(for_client(usage_only.as_object().unwrap().clone(), "i", "m", true, false).is_some());
        let continuous = for_client(chunk.as_object().unwrap().clone(), "i", "m", false, true).unwrap();
        assert_eq!(continuous["usage"]["prompt_tokens"], 1);
    }
}
