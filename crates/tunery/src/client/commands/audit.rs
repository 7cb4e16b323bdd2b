//! `tunery audit-events`: the organization's audit log from the server, newest first.
//! (`tunery audit verify` is the database-side check of the hash chain.)

use crate::client::context::Context;
use crate::client::output::{self, s, time, Table};
use anyhow::Result;
use serde_json::Value;

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// An action (`project.create`) or an action family (`project`).
    #[arg(long)]
    pub action: Option<String>,
    /// Events by this user (id).
    #[arg(long, value_name = "USER_ID")]
    pub actor: Option<String>,
    /// Events about this object (id).
    #[arg(long, value_name = "ID")]
    pub target: Option<String>,
    #[arg(long, value_parser = ["success", "failure", "denied"])]
    pub outcome: Option<String>,
    /// Events per page, 1 to 100.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub limit: Option<u32>,
    /// Older events: those before this sequence number.
    #[arg(long, value_name = "SEQ")]
    pub before: Option<i64>,
}

pub async fn run(ctx: &Context, a: AuditArgs) -> Result<u8> {
    let mut api = ctx.authenticated()?;
    let query: Vec<(&str, String)> = [
        ("action", a.action),
        ("actor_id", a.actor),
        ("target_id", a.target),
        ("outcome", a.outcome),
        ("limit", a.limit.map(|l| l.to_string())),
        ("before", a.before.map(|b| b.to_string())),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    let list = api.get("/api/v1/audit-events", &query).await?;
    if ctx.json {
        output::json(&list);
        return Ok(0);
    }
    let mut t = Table::new(&["SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "OUTCOME"]);
    for e in output::items(&list) {
        t.row(vec![s(e, "seq"), time(e, "occurred_at"), actor(e), s(e, "action"), target(e), s(e, "outcome")]);
    }
    t.print();
    if list.get("has_more").and_then(Value::as_bool).unwrap_or(false) {
        if let Some(last) = output::items(&list).last() {
            eprintln!("(older events: add --before {})", s(last, "seq"));
        }
    }
    Ok(0)
}

fn actor(e: &Value) -> String {
    match e.get("actor_id").and_then(Value::as_str) {
        Some(id) if s(e, "actor_kind") == "api_key" => format!("{id} (api key)"),
        Some(id) => id.to_string(),
        None => s(e, "actor_kind"),
    }
}

fn target(e: &Value) -> String {
    match (e.get("target_kind").and_then(Value::as_str), e.get("target_id").and_then(Value::as_str)) {
        (Some(kind), Some(id)) => format!("{kind}:{id}"),
        (None, Some(id)) => id.to_string(),
        (Some(kind), None) => kind.to_string(),
        (None, None) => "-".into(),
    }
}
