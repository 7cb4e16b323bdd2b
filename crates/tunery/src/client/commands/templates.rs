//! `tunery templates …`: configuration templates of fine-tuning jobs, kept per project — list,
//! show, save (from the same flags as `tunery jobs create`) and delete them; `tunery jobs create
//! --template` submits a job from one.

use super::jobs::{resources_line, SubmissionArgs};
use crate::client::context::Context;
use crate::client::http::seg;
use crate::client::output::{self, print_kv, s, time, Table};
use anyhow::Result;
use serde_json::{json, Value};

#[derive(Debug, clap::Subcommand)]
pub enum TemplatesCommand {
    /// A project's templates, by name.
    List {
        #[arg(long, value_name = "PROJECT_ID")]
        project: String,
    },
    /// Show a template: what a job submitted from it uses.
    Show { id: String },
    /// Save a template in a project (where you may train), from the flags `tunery jobs create`
    /// takes.
    Create(CreateArgs),
    /// Delete a template (jobs submitted from it are not affected).
    Delete { id: String },
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    #[arg(long, value_name = "PROJECT_ID")]
    pub project: String,
    /// Unique in the project.
    #[arg(long)]
    pub name: String,
    #[arg(long)]
    pub description: Option<String>,
    /// The base model jobs from it start from (bm_…) [default: chosen per job].
    #[arg(long)]
    pub model: Option<String>,
    #[command(flatten)]
    pub choices: SubmissionArgs,
}

fn template_path(id: &str) -> String {
    format!("/api/v1/job-templates/{}", seg(id))
}

fn show_template(ctx: &Context, v: &Value) {
    if ctx.json {
        output::json(v);
        return;
    }
    let c = &v["config"];
    let h = &c["hyperparameters"];
    print_kv(&[
        ("id", s(v, "id")),
        ("name", s(v, "name")),
        ("project", s(v, "project_id")),
        ("description", s(v, "description")),
        ("base model", v["base_model_id"].as_str().unwrap_or("chosen per job").to_string()),
        ("method", format!("{} ({})", s(&c["method"], "kind"), s(c, "objective"))),
        ("learning rate", s(h, "learning_rate")),
        ("steps", h["max_steps"].as_u64().map(|n| n.to_string()).unwrap_or_else(|| format!("{} epochs", s(h, "epochs")))),
        ("resources", resources_line(&v["resources"])),
        ("chat template", v["chat_template"].as_str().unwrap_or("the model's own").to_string()),
        ("updated", time(v, "updated_at")),
    ]);
}

pub async fn run(ctx: &Context, cmd: TemplatesCommand) -> Result<u8> {
    let mut api = ctx.authenticated()?;
    let v = match cmd {
        TemplatesCommand::List { project } => {
            let list = api.get(&format!("/api/v1/projects/{}/job-templates", seg(&project)), &[]).await?;
            if ctx.json {
                output::json(&list);
                return Ok(0);
            }
            let mut t = Table::new(&["ID", "NAME", "METHOD", "BASE MODEL", "UPDATED"]);
            for v in output::items(&list) {
                let method = format!("{} ({})", s(&v["config"]["method"], "kind"), s(&v["config"], "objective"));
                t.row(vec![
                    s(v, "id"),
                    s(v, "name"),
                    method,
                    v["base_model_id"].as_str().unwrap_or("-").to_string(),
                    time(v, "updated_at"),
                ]);
            }
            t.print();
            return Ok(0);
        }
        TemplatesCommand::Show { id } => api.get(&template_path(&id), &[]).await?,
        TemplatesCommand::Create(a) => {
            let mut body = a.choices.over(&json!({}))?;
            body["name"] = Value::from(a.name);
            crate::client::http::set_given(
                &mut body,
                [("description", a.description.map(Value::from)), ("base_model_id", a.model.map(Value::from))],
            );
            api.post(&format!("/api/v1/projects/{}/job-templates", seg(&a.project)), &body).await?
        }
        TemplatesCommand::Delete { id } => {
            api.delete(&template_path(&id)).await?;
            if ctx.json {
                output::json(&json!({ "id": id, "object": "job_template", "deleted": true }));
            } else {
                println!("Deleted template {id}");
            }
            return Ok(0);
        }
    };
    show_template(ctx, &v);
    Ok(0)
}
