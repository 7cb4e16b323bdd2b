//! `tunery keys …`: API keys. The secret is printed once, by `keys create`.

use crate::client::context::Context;
use crate::client::http::seg;
use crate::client::output::{self, print_kv, s, time, Table};
use crate::client::paging::{self, ListArgs};
use anyhow::Result;
use serde_json::{json, Value};

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// List API keys (yours, or another user's with --user).
    List {
        /// Another user's keys (needs the manage_users permission).
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Create an API key; its secret is shown this once.
    Create {
        #[arg(long)]
        name: String,
        /// A permission the key gets (repeatable); default: all of yours.
        #[arg(long = "scope", value_name = "PERMISSION")]
        scopes: Vec<String>,
        /// Restrict the key to one project.
        #[arg(long, value_name = "PROJECT_ID")]
        project: Option<String>,
        /// Expire the key after this many days; default: never.
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=36_500))]
        expires_in_days: Option<u32>,
        /// Inference requests per minute (429 beyond).
        #[arg(long)]
        requests_per_minute: Option<u32>,
        /// Inference tokens (prompt + completion) per minute.
        #[arg(long)]
        tokens_per_minute: Option<u64>,
        /// Inference tokens per calendar month (UTC).
        #[arg(long)]
        monthly_tokens: Option<u64>,
        /// The only deployments the key may call (repeatable, dep_…).
        #[arg(long = "deployment", value_name = "DEPLOYMENT_ID")]
        deployments: Vec<String>,
    },
    /// Show an API key (never its secret).
    Show { id: String },
    /// Revoke an API key at once.
    Revoke { id: String },
}

pub async fn run(ctx: &Context, cmd: KeysCommand) -> Result<u8> {
    let mut api = ctx.authenticated()?;
    match cmd {
        KeysCommand::List { user, list } => {
            let query: Vec<(&str, String)> = user.into_iter().map(|u| ("user_id", u)).collect();
            let keys = paging::fetch(&mut api, "/api/v1/api-keys", &query, &list).await?;
            if ctx.json {
                output::json(&keys);
            } else {
                let mut t = Table::new(&["ID", "NAME", "PREFIX", "SCOPES", "PROJECT", "EXPIRES", "LAST USED", "REVOKED"]);
                for k in output::items(&keys) {
                    t.row(vec![
                        s(k, "id"),
                        s(k, "name"),
                        s(k, "prefix"),
                        output::list(k, "scopes"),
                        s(k, "project_id"),
                        time(k, "expires_at"),
                        time(k, "last_used_at"),
                        time(k, "revoked_at"),
                    ]);
                }
                t.print();
                paging::hint_more(&keys);
            }
        }
        KeysCommand::Create {
            name,
            scopes,
            project,
            expires_in_days,
            requests_per_minute,
            tokens_per_minute,
            monthly_tokens,
            deployments,
        } => {
            let mut body = json!({ "name": name });
            let mut limits = json!({});
            if let Some(n) = requests_per_minute {
                limits["requests_per_minute"] = n.into();
            }
            if let Some(n) = tokens_per_minute {
                limits["tokens_per_minute"] = n.into();
            }
            if let Some(n) = monthly_tokens {
                limits["monthly_tokens"] = n.into();
            }
            if !deployments.is_empty() {
                limits["deployment_ids"] = json!(deployments);
            }
            body["limits"] = limits;
            if !scopes.is_empty() {
                body["scopes"] = json!(scopes);
            }
            if let Some(project) = project {
                body["project_id"] = json!(project);
            }
            if let Some(days) = expires_in_days {
                body["expires_at"] = json!(output::now_unix() + i64::from(days) * 86_400);
            }
            let key = api.post("/api/v1/api-keys", &body).await?;
            if ctx.json {
                output::json(&key);
            } else {
                show_key(&key);
                println!();
                println!("API key (shown only now; it cannot be retrieved later):");
                println!();
                println!("    {}", s(&key, "key"));
                println!();
                println!("Use it with --api-key or the TUNERY_API_KEY environment variable.");
            }
        }
        KeysCommand::Show { id } => {
            let key = api.get(&format!("/api/v1/api-keys/{}", seg(&id)), &[]).await?;
            if ctx.json {
                output::json(&key);
            } else {
                show_key(&key);
            }
        }
        KeysCommand::Revoke { id } => {
            let key = api.delete(&format!("/api/v1/api-keys/{}", seg(&id))).await?;
            if ctx.json {
                output::json(&key);
            } else {
                println!("Revoked API key {} ({}) at {} UTC", s(&key, "id"), s(&key, "name"), time(&key, "revoked_at"));
            }
        }
    }
    Ok(0)
}

fn show_key(k: &Value) {
    print_kv(&[
        ("id", s(k, "id")),
        ("name", s(k, "name")),
        ("prefix", s(k, "prefix")),
        ("user", s(k, "user_id")),
        ("scopes", output::list(k, "scopes")),
        ("project", s(k, "project_id")),
        ("expires", time(k, "expires_at")),
        ("last used", time(k, "last_used_at")),
        ("revoked", time(k, "revoked_at")),
        ("created", time(k, "created_at")),
    ]);
}
