//! `tunery chat MODEL`: talks to a model through the playground (`/api/v1/playground/chat`,
//! the gateway's path), streaming the answer into the terminal. MODEL is a deployment's name or
//! id, or any fine-tuned model (`mdl_…`) or base model (`bm_…`) the caller can see: without a
//! deployment the server makes one on demand, scaling to zero after 10 idle minutes. `--prompt` asks once, `--prompts FILE`
//! answers a file of prompts (concurrently, so the backend batches them); otherwise an
//! interactive conversation on standard input.

use super::deploy::deployment_path;
use crate::client::context::Context;
use crate::client::http::Api;
use crate::client::output::{self, s};
use anyhow::{Context as _, Result};
use futures_util::StreamExt;
use serde_json::{json, Value};
use services::deployments::stream::{SseData, SseLines};
use std::io::{BufRead, Write};

/// Prompts of a file answered at once.
const CONCURRENT_PROMPTS: usize = 8;

#[derive(Debug, clap::Args)]
pub struct ChatArgs {
    /// A deployment (its name or dep_… id), a fine-tuned model (mdl_…) or a base model (bm_…).
    pub model: String,
    /// Ask this once and print the answer.
    #[arg(long, conflicts_with = "prompts")]
    pub prompt: Option<String>,
    /// A JSONL file of prompts, one {"messages": [...]} per line; prints every answer.
    #[arg(long)]
    pub prompts: Option<std::path::PathBuf>,
    /// A system message for the conversation.
    #[arg(long)]
    pub system: Option<String>,
    #[arg(long, default_value_t = 256)]
    pub max_tokens: u32,
    /// 0 answers greedily [default: the deployment's default, else 1].
    #[arg(long)]
    pub temperature: Option<f64>,
    #[arg(long)]
    pub seed: Option<i64>,
}

/// The name to send as `model`: a deployment's id becomes its name; names and model ids go to
/// the playground as they are (it deploys a model id on demand).
async fn resolve(api: &mut Api, model: &str) -> Result<String> {
    if model.starts_with("dep_") {
        let d = api.get(&deployment_path(model), &[]).await?;
        if matches!(d["state"].as_str(), Some("stopped" | "failed")) {
            api.post(&format!("{}/start", deployment_path(model)), &json!({})).await?;
        }
        return Ok(s(&d, "name"));
    }
    Ok(model.to_string())
}

/// One streamed answer; `echo` prints it as it arrives.
async fn answer(api: &mut Api, model: &str, messages: &[Value], a: &ChatArgs, echo: bool) -> Result<String> {
    let mut body = json!({"model": model, "messages": messages, "max_tokens": a.max_tokens, "stream": true});
    if let Some(t) = a.temperature {
        body["temperature"] = t.into();
    }
    if let Some(seed) = a.seed {
        body["seed"] = seed.into();
    }
    let response = api.post_stream("/api/v1/playground/chat", &body).await?;
    let mut stream = response.bytes_stream();
    let (mut lines, mut text, mut done) = (SseLines::default(), String::new(), false);
    let mut out = std::io::stdout();
    while let Some(bytes) = stream.next().await {
        let bytes = bytes.context("the answer broke off")?;
        for data in lines.push(&bytes) {
            match data {
                SseData::Chunk(c) => {
                    let delta = c["choices"][0]["delta"]["content"].as_str().unwrap_or("");
                    text.push_str(delta);
                    if echo {
                        print!("{delta}");
                        out.flush().ok();
                    }
                }
                SseData::Done => done = true,
                SseData::Malformed(line) => anyhow::bail!("the server sent a chunk that is not JSON: {line}"),
            }
        }
    }
    if !done {
        anyhow::bail!("the answer broke off before its end");
    }
    if echo {
        println!();
    }
    Ok(text)
}

fn with_system(system: &Option<String>, messages: Vec<Value>) -> Vec<Value> {
    match system {
        Some(sys) if !messages.iter().any(|m| m["role"] == "system") => {
            std::iter::once(json!({"role": "system", "content": sys})).chain(messages).collect()
        }
        _ => messages,
    }
}

pub async fn run(ctx: &Context, a: ChatArgs) -> Result<u8> {
    let mut api = ctx.authenticated()?;
    let model = resolve(&mut api, &a.model).await?;
    if let Some(file) = &a.prompts {
        let prompts = super::models::read_prompts(file)?;
        // A login about to expire is refreshed here, once: the concurrent clients below read the
        // profile afterwards (two refreshing the same token would end the session as a reuse).
        api.get("/api/v1/me", &[]).await?;
        let mut outputs = Vec::with_capacity(prompts.len());
        for group in prompts.chunks(CONCURRENT_PROMPTS) {
            let asks = group.iter().map(|p| {
                let messages = with_system(&a.system, p["messages"].as_array().cloned().unwrap_or_default());
                let (model, a) = (&model, &a);
                async move {
                    let mut api = ctx.authenticated()?;
                    answer(&mut api, model, &messages, a, false).await
                }
            });
            for result in futures_util::future::join_all(asks).await {
                outputs.push(result?);
            }
        }
        if ctx.json {
            output::json(&json!({"model": model, "outputs": outputs}));
        } else {
            for (p, out) in prompts.iter().zip(&outputs) {
                let asked = p["messages"].as_array().and_then(|m| m.last()).map(|m| s(m, "content")).unwrap_or_default();
                println!("> {asked}\n{out}\n");
            }
        }
        return Ok(0);
    }
    if let Some(prompt) = &a.prompt {
        let messages = with_system(&a.system, vec![json!({"role": "user", "content": prompt})]);
        let text = answer(&mut api, &model, &messages, &a, !ctx.json).await?;
        if ctx.json {
            output::json(&json!({"model": model, "outputs": [text]}));
        }
        return Ok(0);
    }
    eprintln!("chatting with {model} (an empty line or Ctrl-D ends)");
    let mut messages = with_system(&a.system, Vec::new());
    let stdin = std::io::stdin();
    loop {
        eprint!("> ");
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 || line.trim().is_empty() {
            return Ok(0);
        }
        messages.push(json!({"role": "user", "content": line.trim_end()}));
        let text = answer(&mut api, &model, &messages, &a, true).await?;
        messages.push(json!({"role": "assistant", "content": text}));
    }
}
