//! `tunery chat MODEL`: talks to a model through the OpenAI-compatible gateway, streaming the
//! answer into the terminal. MODEL is a deployment's name or id, or any fine-tuned model
//! (`mdl_…`) or base model (`bm_…`) the caller can see: without a deployment one is created on
//! demand, scaling to zero after 10 idle minutes. `--prompt` asks once, `--prompts FILE`
//! answers a file of prompts (concurrently, so the backend batches them); otherwise an
//! interactive conversation on standard input.

use super::deploy::{deployment_path, wait_ready};
use crate::client::context::Context;
use crate::client::http::Api;
use crate::client::output::{self, s};
use anyhow::{Context as _, Result};
use futures_util::StreamExt;
use serde_json::{json, Value};
use services::deployments::stream::{SseData, SseLines};
use std::io::{BufRead, Write};

/// Seconds a deployment made on demand waits idle before it scales to zero.
const ON_DEMAND_IDLE_S: u32 = 600;
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

/// The name requests use for `model`, deploying it first when needed.
async fn resolve(ctx: &Context, api: &mut Api, model: &str) -> Result<String> {
    let wanted = if model.starts_with("dep_") {
        Some(api.get(&deployment_path(model), &[]).await?)
    } else if model.starts_with("mdl_") || model.starts_with("bm_") {
        let all = crate::client::paging::fetch(
            api,
            "/api/v1/deployments",
            &[],
            &crate::client::paging::ListArgs { limit: None, after: None, all: true },
        )
        .await?;
        let found = output::items(&all).iter().find(|d| d["model"] == model && d["backend"] == "local").cloned();
        match found {
            Some(d) => Some(d),
            None => {
                let d = api.post("/api/v1/deployments", &json!({"model": model, "idle_timeout_s": ON_DEMAND_IDLE_S})).await?;
                if !ctx.json {
                    eprintln!("deploying {model} as {} (it scales to zero after {} idle minutes)", s(&d, "name"), ON_DEMAND_IDLE_S / 60);
                }
                Some(d)
            }
        }
    } else {
        None
    };
    let Some(d) = wanted else { return Ok(model.to_string()) };
    let id = s(&d, "id");
    if matches!(d["state"].as_str(), Some("stopped" | "failed")) {
        api.post(&format!("{}/start", deployment_path(&id)), &json!({})).await?;
    }
    if d["state"] != "idle" {
        wait_ready(api, &id, 600).await?;
    }
    Ok(s(&d, "name"))
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
    let response = api.post_stream("/v1/chat/completions", &body).await?;
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
    let model = resolve(ctx, &mut api, &a.model).await?;
    if let Some(file) = &a.prompts {
        let prompts = super::models::read_prompts(file)?;
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
