//! `tunery jobs …`: submit a fine-tuning job, list and show jobs, cancel and resume them,
//! read their logs (`-f` follows), and watch one live (a progress bar with loss and tokens/s).

use super::training_args::TrainingArgs;
use crate::client::context::Context;
use crate::client::http::{seg, Api};
use crate::client::output::{self, print_kv, s, time, Table};
use crate::client::paging::{self, ListArgs};
use anyhow::Result;
use serde_json::{json, Value};
use std::io::{IsTerminal, Write};
use std::time::Duration;

#[derive(Debug, clap::Subcommand)]
pub enum JobsCommand {
    /// Submit a fine-tuning job (checked against the data, the model and the estimate).
    Create(CreateArgs),
    /// List jobs, newest first.
    List {
        /// Only jobs in this state.
        #[arg(long, value_parser = ["queued", "running", "cancelling", "succeeded", "failed", "cancelled"])]
        state: Option<String>,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show a job.
    Show { id: String },
    /// Cancel a job (a running one saves a checkpoint first).
    Cancel { id: String },
    /// Continue a failed or cancelled job from its latest checkpoint (or --checkpoint).
    Resume {
        id: String,
        #[arg(long)]
        checkpoint: Option<String>,
    },
    /// The job's log lines; -f follows until the job ends.
    Logs {
        id: String,
        #[arg(short = 'f', long)]
        follow: bool,
    },
    /// Watch a job live: step, loss, tokens/s, until it ends (exit 0 when it succeeds).
    Watch { id: String },
    /// The job's stored checkpoints, oldest first (paged: --limit, --after, --all).
    Checkpoints {
        id: String,
        #[command(flatten)]
        list: crate::client::paging::ListArgs,
    },
    /// Everything the job reported, in order (state changes, progress, evaluations, checkpoints, logs).
    Events {
        id: String,
        /// Only these kinds (comma-separated: state, started, progress, eval, system, checkpoint, log, …).
        #[arg(long)]
        kinds: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The base model id (bm_…; `tunery models list`) [default: the template's].
    #[arg(long, required_unless_present = "template")]
    pub model: Option<String>,
    #[arg(long)]
    pub dataset: String,
    /// The dataset version [default: the latest].
    #[arg(long)]
    pub dataset_version: Option<i64>,
    /// A validation dataset (evaluated every --eval-every steps).
    #[arg(long)]
    pub validation: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    /// The project to train in [default: the template's, else none].
    #[arg(long, value_name = "PROJECT_ID")]
    pub project: Option<String>,
    /// Start from a configuration template of a project (`tunery templates list`); the flags
    /// given here override what it sets.
    #[arg(long, value_name = "TEMPLATE_ID")]
    pub template: Option<String>,
    /// Watch the job after submitting it.
    #[arg(long)]
    pub watch: bool,
    #[command(flatten)]
    pub choices: SubmissionArgs,
}

/// What a job submission and a configuration template share: the training configuration, the
/// resources, the chat template, merging and restarts. Flags not given leave the value to the
/// template (or the server's default).
#[derive(Debug, clap::Args)]
pub struct SubmissionArgs {
    /// Crashed runs restarted from the last checkpoint before the job fails.
    #[arg(long)]
    pub max_restarts: Option<u32>,
    /// Also store the LoRA merged into the base weights.
    #[arg(long)]
    pub merge_lora: bool,
    /// Train through a built-in chat template (chatml, llama3, qwen2, mistral, gemma, phi3)
    /// instead of the model's own.
    #[arg(long)]
    pub chat_template: Option<String>,
    /// GPUs (or CPU slots) for the job [default: 1].
    #[arg(long)]
    pub gpus: Option<u32>,
    /// A GPU type of the cluster (`tunery cluster` lists them) [default: any].
    #[arg(long)]
    pub gpu_type: Option<String>,
    /// Memory each GPU must have, GiB.
    #[arg(long)]
    pub gpu_memory_gib: Option<f64>,
    /// Stop the job (with a checkpoint) and fail it after this many seconds of running.
    #[arg(long, value_name = "SECONDS")]
    pub max_duration: Option<u64>,
    /// Spot: a higher-priority job may preempt it (it checkpoints and resumes later).
    #[arg(long)]
    pub preemptible: bool,
    /// A priority class (low, normal, high, urgent unless the administrator defined others).
    #[arg(long)]
    pub priority: Option<String>,
    #[command(flatten)]
    pub training: TrainingArgs,
}

impl SubmissionArgs {
    /// These choices laid over `base` (a template's, or an empty object): the configuration
    /// merged key by key, the resources field by field, the rest where given.
    pub(crate) fn over(self, base: &Value) -> Result<Value> {
        let mut body = json!({
            "config": base["config"].clone(),
            "resources": base["resources"].clone(),
            "merge_lora": self.merge_lora || base["merge_lora"] == true,
        });
        for key in ["chat_template", "max_restarts"] {
            if !base[key].is_null() {
                body[key] = base[key].clone();
            }
        }
        merge(&mut body["config"], self.training.to_config()?);
        if !body["resources"].is_object() {
            body["resources"] = json!({});
        }
        if self.preemptible {
            body["resources"]["preemptible"] = Value::from(true);
        }
        crate::client::http::set_given(
            &mut body["resources"],
            [
                ("gpus", self.gpus.map(Value::from)),
                ("gpu_type", self.gpu_type.map(Value::from)),
                ("gpu_memory_gib", self.gpu_memory_gib.map(Value::from)),
                ("max_duration_s", self.max_duration.map(Value::from)),
                ("priority", self.priority.map(Value::from)),
            ],
        );
        crate::client::http::set_given(
            &mut body,
            [("chat_template", self.chat_template.map(Value::from)), ("max_restarts", self.max_restarts.map(Value::from))],
        );
        Ok(body)
    }
}

/// `over` merged into `base`: objects key by key (recursively), anything else replaced.
fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o,
    }
}

fn job_path(id: &str) -> String {
    format!("/api/v1/jobs/{}", seg(id))
}

fn show_job(ctx: &Context, v: &Value) {
    if ctx.json {
        output::json(v);
        return;
    }
    let c = &v["config"];
    let step = match v["total_steps"].as_i64() {
        Some(total) => format!("{} / {total}", s(v, "current_step")),
        None => s(v, "current_step"),
    };
    let mut rows = vec![
        ("id", s(v, "id")),
        ("name", s(v, "name")),
        ("state", s(v, "state")),
        ("base model", s(v, "base_model_id")),
        ("dataset version", s(v, "dataset_version_id")),
        ("method", format!("{} ({})", s(&c["method"], "kind"), s(c, "objective"))),
        ("step", step),
        ("loss", s(v, "latest_loss")),
        ("restarts", format!("{} of {}", s(v, "restarts"), s(v, "max_restarts"))),
        ("resources", resources_line(&v["resources"])),
        ("preemptions", s(v, "preemptions")),
        (
            "estimate",
            format!(
                "{:.2} GiB, {} tokens",
                v["estimate"]["memory_per_device_bytes"].as_f64().unwrap_or(0.0) / (1u64 << 30) as f64,
                s(&v["estimate"], "training_tokens")
            ),
        ),
        ("model", s(v, "model_id")),
        ("created", time(v, "created_at")),
        ("finished", time(v, "finished_at")),
    ];
    if let Some(q) = v["queue"].as_object() {
        let q = Value::Object(q.clone());
        rows.push(("queue", format!("{} of {}", s(&q, "position"), s(&q, "of"))));
        if q["wait"].is_object() {
            rows.push(("waiting", format!("{} ({})", s(&q["wait"], "message"), s(&q["wait"], "code"))));
        }
    }
    if let Some(e) = v["error"].as_object() {
        let e = Value::Object(e.clone());
        rows.push(("error", format!("{}: {}", s(&e, "code"), s(&e, "message"))));
        rows.push(("hint", s(&e, "hint")));
    }
    print_kv(&rows);
}

/// "2 × A100, priority high, spot, at most 3600 s".
pub(crate) fn resources_line(r: &Value) -> String {
    let mut line = format!("{} × {}, priority {}", s(r, "gpus"), r["gpu_type"].as_str().unwrap_or("any"), s(r, "priority"));
    if r["preemptible"] == true {
        line.push_str(", spot");
    }
    if let Some(d) = r["max_duration_s"].as_u64() {
        line.push_str(&format!(", at most {d} s"));
    }
    line
}

fn terminal(state: &str) -> bool {
    matches!(state, "succeeded" | "failed" | "cancelled")
}

pub async fn run(ctx: &Context, cmd: JobsCommand) -> Result<u8> {
    let mut api = ctx.authenticated()?;
    match cmd {
        JobsCommand::Create(a) => {
            let template = match &a.template {
                Some(id) => api.get(&format!("/api/v1/job-templates/{}", seg(id)), &[]).await?,
                None => json!({}),
            };
            let mut body = a.choices.over(&template)?;
            let model = a
                .model
                .or_else(|| template["base_model_id"].as_str().map(String::from))
                .ok_or_else(|| anyhow::anyhow!("the template names no base model: give --model (`tunery models list`)"))?;
            let project = a.project.or_else(|| template["project_id"].as_str().map(String::from));
            body["base_model_id"] = Value::from(model);
            body["dataset_id"] = Value::from(a.dataset);
            crate::client::http::set_given(
                &mut body,
                [
                    ("name", a.name.map(Value::from)),
                    ("project_id", project.map(Value::from)),
                    ("dataset_version", a.dataset_version.map(Value::from)),
                    ("validation_dataset_id", a.validation.map(Value::from)),
                ],
            );
            let v = api.post("/api/v1/jobs", &body).await?;
            if a.watch {
                if !ctx.json {
                    eprintln!("submitted job {}", s(&v, "id"));
                }
                return watch(ctx, &mut api, &s(&v, "id")).await;
            }
            show_job(ctx, &v);
        }
        JobsCommand::List { state, list } => {
            let query: Vec<(&str, String)> = state.map(|s| vec![("state", s)]).unwrap_or_default();
            let list = paging::fetch(&mut api, "/api/v1/jobs", &query, &list).await?;
            if ctx.json {
                output::json(&list);
            } else {
                let mut t = Table::new(&["ID", "NAME", "STATE", "METHOD", "STEP", "LOSS", "CREATED"]);
                for j in output::items(&list) {
                    let step = format!("{}/{}", s(j, "current_step"), s(j, "total_steps"));
                    let loss = j["latest_loss"].as_f64().map(|l| format!("{l:.4}")).unwrap_or_else(|| "-".into());
                    t.row(vec![
                        s(j, "id"),
                        s(j, "name"),
                        s(j, "state"),
                        s(&j["config"]["method"], "kind"),
                        step,
                        loss,
                        time(j, "created_at"),
                    ]);
                }
                t.print();
                paging::hint_more(&list);
            }
        }
        JobsCommand::Show { id } => show_job(ctx, &api.get(&job_path(&id), &[]).await?),
        JobsCommand::Cancel { id } => show_job(ctx, &api.post(&format!("{}/cancel", job_path(&id)), &json!({})).await?),
        JobsCommand::Resume { id, checkpoint } => {
            let body = match checkpoint {
                Some(c) => json!({"checkpoint_id": c}),
                None => json!({}),
            };
            show_job(ctx, &api.post(&format!("{}/resume", job_path(&id)), &body).await?);
        }
        JobsCommand::Logs { id, follow } => {
            let mut after = 0i64;
            loop {
                let page = api.get(&format!("{}/logs", job_path(&id)), &[("after", after.to_string()), ("limit", "1000".into())]).await?;
                for e in output::items(&page) {
                    if ctx.json {
                        println!("{e}");
                    } else {
                        println!(
                            "{} {:<7} {}",
                            output::format_unix(e["time_ms"].as_i64().unwrap_or(0) / 1000),
                            s(&e["data"], "level"),
                            s(&e["data"], "message")
                        );
                    }
                }
                after = page["last_seq"].as_i64().unwrap_or(after);
                if page["has_more"] == true {
                    continue;
                }
                if !follow || terminal(&s(&api.get(&job_path(&id), &[]).await?, "state")) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        JobsCommand::Watch { id } => return watch(ctx, &mut api, &id).await,
        JobsCommand::Events { id, kinds } => {
            let mut all = Vec::new();
            let mut after = 0i64;
            loop {
                let mut query = vec![("stream", "false".to_string()), ("after", after.to_string()), ("limit", "1000".into())];
                if let Some(k) = &kinds {
                    query.push(("kinds", k.clone()));
                }
                let page = api.get(&format!("{}/events", job_path(&id)), &query).await?;
                all.extend(output::items(&page).iter().cloned());
                after = page["last_seq"].as_i64().unwrap_or(after);
                if page["has_more"] != true {
                    break;
                }
            }
            if ctx.json {
                output::json(&json!({"object": "list", "data": all, "has_more": false}));
            } else {
                let mut t = Table::new(&["SEQ", "TIME", "KIND", "STEP", "DETAIL"]);
                for e in &all {
                    let d = &e["data"];
                    let detail = match e["kind"].as_str().unwrap_or("") {
                        "progress" => format!("loss {} · {} tok/s", s(d, "loss"), s(d, "tokens_per_second")),
                        "state" => s(d, "state"),
                        "log" => s(d, "message"),
                        "failed" => format!("{}: {}", s(d, "code"), s(d, "message")),
                        _ => String::new(),
                    };
                    t.row(vec![
                        s(e, "seq"),
                        output::format_unix(e["time_ms"].as_i64().unwrap_or(0) / 1000),
                        s(e, "kind"),
                        s(e, "step"),
                        detail,
                    ]);
                }
                t.print();
            }
        }
        JobsCommand::Checkpoints { id, list: paging } => {
            let list = crate::client::paging::fetch(&mut api, &format!("{}/checkpoints", job_path(&id)), &[], &paging).await?;
            if ctx.json {
                output::json(&list);
            } else {
                let mut t = Table::new(&["ID", "STEP", "FILES", "SIZE", "CREATED"]);
                for c in output::items(&list) {
                    t.row(vec![
                        s(c, "id"),
                        s(c, "step"),
                        s(c, "files"),
                        output::bytes(c["size_bytes"].as_u64().unwrap_or(0)),
                        time(c, "created_at"),
                    ]);
                }
                t.print();
                crate::client::paging::hint_more(&list);
            }
        }
    }
    Ok(0)
}

/// One line of the live view: `step 12/60 [#####.....] 20%  loss 1.2345  139 tok/s  eta 4m`.
fn progress_line(step: i64, total: Option<i64>, loss: Option<f64>, tps: Option<f64>) -> String {
    let mut line = match total.filter(|t| *t > 0) {
        Some(t) => {
            let width = 24;
            let filled = ((step as f64 / t as f64) * width as f64).round().clamp(0.0, width as f64) as usize;
            format!("step {step}/{t} [{}{}] {:>3}%", "#".repeat(filled), ".".repeat(width - filled), step * 100 / t)
        }
        None => format!("step {step}"),
    };
    if let Some(l) = loss {
        line.push_str(&format!("  loss {l:.4}"));
    }
    if let Some(t) = tps {
        line.push_str(&format!("  {t:.0} tok/s"));
    }
    line
}

/// Follows a job's events until it ends; exit code 0 when it succeeded, 1 otherwise.
async fn watch(ctx: &Context, api: &mut Api, id: &str) -> Result<u8> {
    let tty = std::io::stderr().is_terminal() && !ctx.json;
    let mut after = 0i64;
    let (mut step, mut total, mut loss, mut tps) = (0i64, None, None, None);
    let mut last_printed = String::new();
    loop {
        let page = api
            .get(
                &format!("{}/events", job_path(id)),
                &[
                    ("stream", "false".into()),
                    ("after", after.to_string()),
                    ("kinds", "state,started,progress,eval,checkpoint,failed,finished,stopped".into()),
                ],
            )
            .await?;
        for e in output::items(&page) {
            let d = &e["data"];
            if ctx.json {
                println!("{e}");
                continue;
            }
            match e["kind"].as_str().unwrap_or("") {
                "progress" => {
                    step = d["step"].as_i64().unwrap_or(step);
                    total = d["total_steps"].as_i64().or(total);
                    loss = d["loss"].as_f64().or(loss);
                    tps = d["tokens_per_second"].as_f64().or(tps);
                }
                "started" => {
                    total = d["total_steps"].as_i64().or(total);
                    note(
                        tty,
                        &format!(
                            "started on {} ({}), {} trainable parameters",
                            s(d, "device"),
                            s(d, "dtype"),
                            s(d, "trainable_parameters")
                        ),
                    );
                }
                "state" => {
                    note(tty, &format!("state: {}{}", s(d, "state"), d["reason"].as_str().map(|r| format!(" ({r})")).unwrap_or_default()))
                }
                "eval" => note(tty, &format!("eval at step {}: loss {}", s(d, "step"), s(d, "eval_loss"))),
                "checkpoint" => note(tty, &format!("checkpoint at step {}", s(d, "step"))),
                "failed" => note(
                    tty,
                    &format!(
                        "failed: {}: {}{}",
                        s(d, "code"),
                        s(d, "message"),
                        d["hint"].as_str().map(|h| format!("\nhint: {h}")).unwrap_or_default()
                    ),
                ),
                _ => {}
            }
        }
        after = page["last_seq"].as_i64().unwrap_or(after);
        if !ctx.json {
            let line = progress_line(step, total, loss, tps);
            if tty {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r{line}\x1b[K");
                let _ = err.flush();
            } else if line != last_printed {
                eprintln!("{line}");
            }
            last_printed = line;
        }
        if page["has_more"] == true {
            continue;
        }
        let job = api.get(&job_path(id), &[]).await?;
        let state = s(&job, "state");
        if terminal(&state) {
            if tty {
                eprintln!();
            }
            if !ctx.json {
                show_job(ctx, &job);
            }
            return Ok(if state == "succeeded" { 0 } else { 1 });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn note(tty: bool, message: &str) {
    if tty {
        eprint!("\r\x1b[K");
    }
    eprintln!("{message}");
}
