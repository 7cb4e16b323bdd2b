//! The gateway's answer to a client: the upstream's stream relayed chunk by chunk (rewritten
//! for the client, metered, passed through the content policy), or assembled into one answer
//! for a client that did not ask for a stream.

use super::gateway::UsageGuard;
use crate::error::{ApiError, ErrorCode};
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde_json::{Map, Value};
use services::deployments::answer_policy::{AnswerPolicy, Step};
use services::deployments::stream::{for_client, usage_chunk, Assembler, SseData, SseLines};
use services::deployments::{CompletionEndpoint, Prepared, UpstreamReply};

/// An answer on its way from the upstream to the client.
pub(super) struct Answer {
    pub guard: UsageGuard,
    pub upstream: UpstreamReply,
    pub policy: Option<AnswerPolicy>,
    pub endpoint: CompletionEndpoint,
    pub id: String,
    pub model: String,
}

/// What reading the upstream gave next.
enum Next {
    /// Chunks for the client, in order.
    Chunks(Vec<Map<String, Value>>),
    /// Chunks for the client, then the end of the answer (`[DONE]`).
    Last(Vec<Map<String, Value>>),
    /// The answer cannot go on: status and error code for the usage row, and why.
    Broken(u16, &'static str, String),
}

impl Answer {
    /// Reads the upstream until it yields something for the client (or ends).
    async fn next(&mut self, lines: &mut SseLines) -> Next {
        loop {
            let bytes = match self.upstream.body.next().await {
                Some(Ok(b)) => b,
                Some(Err(e)) => return Next::Broken(502, "upstream_broke_off", format!("the backend's answer broke off: {e}")),
                None => return Next::Broken(502, "upstream_ended_early", "the backend's answer ended before [DONE]".into()),
            };
            let mut out = Vec::new();
            for data in lines.push(&bytes) {
                match data {
                    SseData::Chunk(c) => {
                        let at = self.guard.elapsed_ms();
                        self.guard.meter.observe(&c, at);
                        let step = match &mut self.policy {
                            Some(p) => p.chunk(c, &mut self.guard.record.safety),
                            None => Step::Emit(vec![c]),
                        };
                        match step {
                            Step::Emit(chunks) => out.extend(chunks),
                            Step::End(chunks) => {
                                out.extend(chunks);
                                return self.last(out, true).await;
                            }
                        }
                    }
                    SseData::Done => return self.last(out, false).await,
                    SseData::Malformed(line) => {
                        return Next::Broken(502, "upstream_malformed", format!("the backend sent a chunk that is not JSON: {line}"))
                    }
                }
            }
            if !out.is_empty() {
                return Next::Chunks(out);
            }
        }
    }

    /// The end of the answer: what the policy held back (judged by the moderation model), and
    /// the usage when the gateway ended the answer before the upstream's own usage chunk.
    async fn last(&mut self, mut out: Vec<Map<String, Value>>, cut: bool) -> Next {
        if let Some(p) = &mut self.policy {
            match p.finish(&self.guard.services, &self.guard.principal, &mut self.guard.record.safety).await {
                Ok(held) => out.extend(held),
                Err(e) => return Next::Broken(503, "moderation_failed", e.to_string()),
            }
        }
        let blocked = out
            .iter()
            .any(|c| c.get("choices").and_then(Value::as_array).into_iter().flatten().any(|ch| ch["finish_reason"] == "content_filter"));
        if cut {
            let created = self.guard.record.row.created_at / 1000;
            out.push(usage_chunk(self.endpoint, &self.guard.meter, created));
        }
        self.guard.ended(200, blocked.then_some("content_filter"));
        Next::Last(out)
    }

    /// One answer in OpenAI's non-streaming shape.
    pub async fn assemble(mut self) -> Response {
        let (mut lines, mut assembler) = (SseLines::default(), Assembler::default());
        loop {
            match self.next(&mut lines).await {
                Next::Chunks(chunks) => chunks.iter().for_each(|c| assembler.push(c)),
                Next::Last(chunks) => {
                    chunks.iter().for_each(|c| assembler.push(c));
                    break;
                }
                Next::Broken(_, code, why) => {
                    let code = if code == "moderation_failed" { ErrorCode::ServiceUnavailable } else { ErrorCode::BadGateway };
                    return self.guard.failed(ApiError::new(code, why));
                }
            }
        }
        if self.guard.answers.is_some() {
            self.guard.answers = Some(assembler.clone());
        }
        let created = self.guard.record.row.created_at / 1000;
        Json(assembler.finish(self.endpoint, &self.id, &self.model, created, &self.guard.meter)).into_response()
    }

    /// A stream of server-sent events ending with `data: [DONE]` (or breaking off without it
    /// when the upstream does).
    pub fn stream(self, prepared: &Prepared) -> Response {
        let (include_usage, continuous) = (prepared.include_usage, prepared.continuous_usage);
        let state = (self, SseLines::default(), false);
        let body = futures_util::stream::unfold(state, move |(mut answer, mut lines, finished)| async move {
            if finished {
                return None;
            }
            let (chunks, last) = match answer.next(&mut lines).await {
                Next::Chunks(c) => (c, false),
                Next::Last(c) => (c, true),
                Next::Broken(status, code, why) => {
                    // The stream ends without [DONE]: the client sees an interrupted answer.
                    answer.guard.ended(status, Some(code));
                    tracing::warn!("a stream through the gateway ended early: {why}");
                    return None;
                }
            };
            let mut out = String::new();
            for c in chunks {
                if let Some(c) = for_client(c, &answer.id, &answer.model, include_usage, continuous) {
                    answer.guard.sent(&c);
                    out.push_str("data: ");
                    out.push_str(&Value::Object(c).to_string());
                    out.push_str("\n\n");
                }
            }
            if last {
                out.push_str("data: [DONE]\n\n");
            }
            Some((Ok::<_, std::convert::Infallible>(Bytes::from(out)), (answer, lines, last)))
        });
        let mut resp = Response::new(Body::from_stream(body));
        let headers = resp.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        resp
    }
}
