//! `tunery quotas …`: quotas and budgets of the organization, its projects and users, with
//! this month's usage.

use crate::client::context::Context;
use crate::client::http::seg;
use crate::client::output::{self, s, Table};
use anyhow::Result;
use serde_json::{json, Value};

const SCOPES: [&str; 3] = ["organization", "project", "user"];

#[derive(Debug, clap::Subcommand)]
pub enum QuotasCommand {
    /// The organization's quotas with this month's use.
    List,
    /// Set a quota (administrators): limits not given do not apply.
    Set {
        #[arg(value_parser = SCOPES)]
        scope: String,
        /// The organization, project or user id.
        subject_id: String,
        /// GPU-hours (CPU-slot hours here) per calendar month.
        #[arg(long)]
        gpu_hours: Option<f64>,
        /// Spend per calendar month; running jobs pause once it is reached.
        #[arg(long)]
        budget: Option<f64>,
        /// Jobs running at once.
        #[arg(long)]
        max_jobs: Option<u32>,
        /// GPUs (or CPU slots) at once.
        #[arg(long)]
        max_gpus: Option<u32>,
        /// Share of the GPU-hours or budget at which an alert is recorded [default: 0.8].
        #[arg(long)]
        alert_at: Option<f64>,
    },
    /// Remove a quota.
    Delete {
        #[arg(value_parser = SCOPES)]
        scope: String,
        subject_id: String,
    },
}

fn limit(v: &Value) -> String {
    if v.is_null() {
        "-".into()
    } else {
        v.to_string()
    }
}

pub async fn run(ctx: &Context, cmd: QuotasCommand) -> Result<u8> {
    let mut api = ctx.authenticated()?;
    match cmd {
        QuotasCommand::List => {
            let list = api.get("/api/v1/quotas", &[]).await?;
            if ctx.json {
                output::json(&list);
                return Ok(0);
            }
            let mut t = Table::new(&["SCOPE", "SUBJECT", "GPU-H USED/LIMIT", "SPENT/BUDGET", "JOBS", "GPUS", "STATE"]);
            for q in output::items(&list) {
                let (l, u) = (&q["limits"], &q["usage"]);
                let state = if q["exhausted"] == true {
                    "exhausted"
                } else if q["alerted"] == true {
                    "alerted"
                } else {
                    "ok"
                };
                t.row(vec![
                    s(q, "scope"),
                    s(q, "subject_id"),
                    format!("{:.2}/{}", u["gpu_hours"].as_f64().unwrap_or(0.0), limit(&l["gpu_hours_per_month"])),
                    format!("{:.2}/{}", u["cost"].as_f64().unwrap_or(0.0), limit(&l["budget_per_month"])),
                    format!(
                        "{}/{}",
                        u["running_jobs"].as_u64().unwrap_or(0) + u["running_evaluations"].as_u64().unwrap_or(0),
                        limit(&l["max_concurrent_jobs"])
                    ),
                    format!("{}/{}", s(u, "gpus_in_use"), limit(&l["max_gpus"])),
                    state.into(),
                ]);
            }
            t.print();
        }
        QuotasCommand::Set { scope, subject_id, gpu_hours, budget, max_jobs, max_gpus, alert_at } => {
            let body = json!({
                "gpu_hours_per_month": gpu_hours, "budget_per_month": budget, "max_concurrent_jobs": max_jobs,
                "max_gpus": max_gpus, "alert_at": alert_at,
            });
            let v = api.put(&format!("/api/v1/quotas/{}/{}", seg(&scope), seg(&subject_id)), &body).await?;
            if ctx.json {
                output::json(&v);
            } else {
                println!("quota of {} {} set", s(&v, "scope"), s(&v, "subject_id"));
            }
        }
        QuotasCommand::Delete { scope, subject_id } => {
            api.delete(&format!("/api/v1/quotas/{}/{}", seg(&scope), seg(&subject_id))).await?;
            if !ctx.json {
                println!("quota of {scope} {subject_id} removed");
            }
        }
    }
    Ok(0)
}
