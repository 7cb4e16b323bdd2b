//! `tunery safety …`: the organization's content policy and what it did; `tunery deploy logs`
//! and `tunery deploy export-logs`: a deployment's logged conversations.

use super::deploy::deployment_path;
use crate::client::context::Context;
use crate::client::http::Api;
use crate::client::output::{self, print_kv, s, Table};
use crate::client::paging::{self, ListArgs};
use anyhow::{Context as _, Result};
use serde_json::{json, Value};

#[derive(Debug, clap::Subcommand)]
pub enum SafetyCommand {
    /// Show the content policy (rules, length limits, moderation model).
    Show,
    /// Replace the content policy with a JSON file (`-` reads standard input; `{}` clears it).
    Set { file: String },
    /// What the policy did, newest first (one event per rule that blocked, masked or flagged a request).
    Events {
        /// Only this deployment's requests (dep_…).
        #[arg(long)]
        deployment: Option<String>,
        #[arg(long, value_parser = ["block", "mask", "flag"])]
        action: Option<String>,
        #[command(flatten)]
        list: ListArgs,
    },
}

pub async fn run(ctx: &Context, cmd: SafetyCommand) -> Result<u8> {
    let mut api = ctx.authenticated()?;
    match cmd {
        SafetyCommand::Show => output::json(&api.get("/api/v1/safety/policy", &[]).await?["policy"]),
        SafetyCommand::Set { file } => {
            let text = if file == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading the policy from standard input")?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("reading {file}"))?
            };
            let policy: Value = serde_json::from_str(&text).with_context(|| format!("{file} is not JSON"))?;
            let v = api.put("/api/v1/safety/policy", &policy).await?;
            if ctx.json {
                output::json(&v);
            } else {
                let rules = v["policy"]["rules"].as_array().map_or(0, Vec::len);
                println!("content policy set: {rules} rules");
            }
        }
        SafetyCommand::Events { deployment, action, list } => {
            let mut query = Vec::new();
            if let Some(d) = deployment {
                query.push(("deployment_id", d));
            }
            if let Some(a) = action {
                query.push(("action", a));
            }
            let v = paging::fetch(&mut api, "/api/v1/safety/events", &query, &list).await?;
            if ctx.json {
                output::json(&v);
                return Ok(0);
            }
            let mut t = Table::new(&["TIME", "REQUEST", "STAGE", "RULE", "ACTION", "MATCHES", "DETAIL"]);
            for e in output::items(&v) {
                let at = e["created_at"].as_i64().map(output::format_unix).unwrap_or_default();
                let detail = e["detail"].as_str().unwrap_or("").to_string();
                t.row(vec![at, s(e, "request_id"), s(e, "stage"), s(e, "rule"), s(e, "action"), s(e, "matches"), detail]);
            }
            t.print();
            paging::hint_more(&v);
        }
    }
    Ok(0)
}

/// `tunery deploy logs ID`: the logged requests, oldest first.
pub async fn logs(ctx: &Context, api: &mut Api, id: &str, list: &ListArgs) -> Result<u8> {
    let v = paging::fetch_by(api, &format!("{}/logs", deployment_path(id)), &[], list, "request_id").await?;
    if ctx.json {
        output::json(&v);
        return Ok(0);
    }
    for r in output::items(&v) {
        let at = r["created_at"].as_i64().map(|t| output::format_unix(t / 1000)).unwrap_or_default();
        println!("── {} {at}", s(r, "request_id"));
        for m in r["messages"].as_array().into_iter().flatten() {
            println!("{}: {}", s(m, "role"), if m["content"].is_string() { s(m, "content") } else { m["content"].to_string() });
        }
        if let Some(p) = r["prompt"].as_str() {
            println!("prompt: {p}");
        }
        for a in r["answers"].as_array().into_iter().flatten() {
            println!("answer ({}): {}", s(a, "finish_reason"), s(a, "text"));
        }
    }
    paging::hint_more(&v);
    Ok(0)
}

/// `tunery deploy export-logs ID`: logged conversations → a dataset version.
pub async fn export_logs(
    ctx: &Context,
    api: &mut Api,
    id: &str,
    name: Option<String>,
    dataset: Option<String>,
    project: Option<String>,
) -> Result<u8> {
    let mut body = json!({});
    crate::client::http::set_given(&mut body, [("name", name), ("dataset_id", dataset), ("project_id", project)]);
    let v = api.post(&format!("{}/logs/export", deployment_path(id)), &body).await?;
    if ctx.json {
        output::json(&v);
    } else {
        print_kv(&[
            ("dataset", s(&v["dataset"], "id")),
            ("version", s(&v["version"], "version")),
            ("records", s(&v["version"], "records")),
            ("source deployment", s(&v["version"], "source_deployment_id")),
        ]);
    }
    Ok(0)
}
