//! `tunery deploy …`: deployments (create, list, show, start, stop, scale, delete, events) and
//! `tunery usage`: inference usage per minute or day.

use crate::client::context::Context;
use crate::client::http::{seg, Api};
use crate::client::output::{self, print_kv, s, time, Table};
use crate::client::paging::{self, ListArgs};
use anyhow::Result;
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Debug, clap::Subcommand)]
pub enum DeployCommand {
    /// Serve a model behind the OpenAI-compatible gateway (a fine-tuned mdl_… or a base bm_…).
    Create(CreateArgs),
    /// List deployments, newest first.
    List {
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show a deployment.
    Show { id: String },
    /// Start a stopped or failed deployment.
    Start {
        id: String,
        /// Wait until it is ready (or failed).
        #[arg(long)]
        wait: bool,
    },
    /// Stop a deployment (requests answer 503 until it starts again).
    Stop { id: String },
    /// Set the replicas: 0 stops; 1 to 8 serving processes (an external deployment: 0 or 1).
    Scale { id: String, replicas: u32 },
    /// Change the idle timeout or the generation defaults.
    Update {
        id: String,
        /// Scale to zero after this many idle seconds (0: never).
        #[arg(long)]
        idle_timeout: Option<u32>,
        #[arg(long)]
        max_tokens: Option<u32>,
        #[arg(long)]
        temperature: Option<f64>,
        /// Log requests and answers (personal data masked) to review and export them.
        #[arg(long, value_name = "true|false")]
        log_requests: Option<bool>,
    },
    /// Delete a deployment (its usage stays).
    Delete { id: String },
    /// What happened to a deployment (ready, crashed, restarting, scaled_to_zero, cold_start, logs).
    Events { id: String },
    /// The logged requests and answers (with log_requests on), oldest first.
    Logs {
        id: String,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Export the logged conversations as a dataset version (a new dataset, or a new version).
    ExportLogs {
        id: String,
        /// Create a dataset with this name.
        #[arg(long, conflicts_with = "dataset", required_unless_present = "dataset")]
        name: Option<String>,
        /// Add a version to this dataset (ds_…).
        #[arg(long)]
        dataset: Option<String>,
        #[arg(long, value_name = "PROJECT_ID")]
        project: Option<String>,
    },
    /// Online A/B tests: a name whose requests are split across deployments by weight.
    #[command(subcommand)]
    Split(SplitCommand),
}

#[derive(Debug, clap::Subcommand)]
pub enum SplitCommand {
    /// Split the traffic of NAME across deployments (the first is the control).
    Create {
        name: String,
        /// A deployment and its weight, e.g. dep_…=70 (repeat for each variant).
        #[arg(long = "variant", value_name = "DEPLOYMENT=WEIGHT", required = true)]
        variants: Vec<String>,
        /// Keep each user (or key) on one variant, or assign each request at random.
        #[arg(long, default_value = "user", value_parser = ["user", "key", "none"])]
        sticky: String,
        #[arg(long, value_name = "PROJECT_ID")]
        project: Option<String>,
        #[command(flatten)]
        gate: GateArgs,
    },
    /// The results: requests, errors, latency and ratings per variant, and the conclusion.
    Show {
        id: String,
    },
    /// Pause (requests to the name answer 409) or resume a split.
    Pause {
        id: String,
    },
    Resume {
        id: String,
    },
    Delete {
        id: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The model: a fine-tuned model (mdl_…) or a base model (bm_…); with --external-url, the
    /// Tunery model the external server serves, if any.
    pub model: Option<String>,
    /// The name requests use as `model` [default: ft:… for a fine-tuned model, the base model's name].
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, value_name = "PROJECT_ID")]
    pub project: Option<String>,
    /// Serve with the runtime on this server (local) or with vLLM (needs the server's --vllm-command).
    #[arg(long, value_parser = ["local", "vllm"], conflicts_with = "external_url")]
    pub backend: Option<String>,
    /// Serve through an external OpenAI-compatible server at this base URL (…/v1).
    #[arg(long, value_name = "URL")]
    pub external_url: Option<String>,
    /// The model name the external server knows.
    #[arg(long)]
    pub external_model: Option<String>,
    /// The environment variable holding the external server's API key.
    #[arg(long, value_name = "ENV")]
    pub external_key_env: Option<String>,
    /// Scale to zero after this many idle seconds (the next request starts it again).
    #[arg(long)]
    pub idle_timeout: Option<u32>,
    /// Create it stopped.
    #[arg(long, conflicts_with = "replicas")]
    pub stopped: bool,
    /// Serving processes (1 to 8; the gateway sends each request to the least loaded).
    #[arg(long, default_value_t = 1)]
    pub replicas: u32,
    /// Default max_tokens for requests that leave it out.
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Default temperature for requests that leave it out.
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Log requests and answers (personal data masked) to review and export them.
    #[arg(long)]
    pub log_requests: bool,
    /// Wait until it is ready (or failed).
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub gate: GateArgs,
}

/// A gate: thresholds an evaluation of the model must pass (`gate_failed` otherwise).
#[derive(Debug, clap::Args)]
pub struct GateArgs {
    /// A threshold, METRIC>=MIN or METRIC<=MAX (e.g. chrf>=40; repeat for each).
    #[arg(long = "gate", value_name = "METRIC>=MIN")]
    pub thresholds: Vec<String>,
    /// Judge by this evaluation [default: the model's newest with the metrics].
    #[arg(long, requires = "thresholds")]
    pub gate_evaluation: Option<String>,
    /// Only evaluations on this test set count.
    #[arg(long, requires = "thresholds")]
    pub gate_dataset: Option<String>,
}

impl GateArgs {
    /// The request's `gate`, or None without thresholds.
    fn body(&self) -> Result<Option<Value>> {
        if self.thresholds.is_empty() {
            return Ok(None);
        }
        let mut thresholds = Vec::new();
        for t in &self.thresholds {
            let (metric, bound, value) = match (t.split_once(">="), t.split_once("<=")) {
                (Some((m, v)), None) => (m, "min", v),
                (None, Some((m, v))) => (m, "max", v),
                _ => anyhow::bail!("--gate {t}: write METRIC>=MIN or METRIC<=MAX"),
            };
            let value: f64 = value.trim().parse().map_err(|e| anyhow::anyhow!("--gate {t}: {e}"))?;
            thresholds.push(json!({"metric": metric.trim(), bound: value}));
        }
        let mut gate = json!({"thresholds": thresholds});
        crate::client::http::set_given(
            &mut gate,
            [("evaluation_id", self.gate_evaluation.clone().map(Value::from)), ("dataset_id", self.gate_dataset.clone().map(Value::from))],
        );
        Ok(Some(gate))
    }
}

pub(crate) fn deployment_path(id: &str) -> String {
    format!("/api/v1/deployments/{}", seg(id))
}

fn show(ctx: &Context, v: &Value) {
    if ctx.json {
        output::json(v);
        return;
    }
    let mut rows = vec![
        ("id", s(v, "id")),
        ("name (model)", s(v, "name")),
        ("serves", s(v, "model")),
        ("backend", s(v, "backend")),
        ("state", s(v, "state")),
        ("replicas", s(v, "replicas")),
        ("ready replicas", s(v, "ready_replicas")),
        ("idle timeout (s)", s(v, "idle_timeout_s")),
        ("log requests", s(v, "log_requests")),
        ("last request", time(v, "last_request_at")),
        ("created", time(v, "created_at")),
    ];
    if v["error"].is_string() {
        rows.push(("error", s(v, "error")));
    }
    print_kv(&rows);
}

/// Polls a deployment until it is ready (Ok) or failed/stopped (Err with its error).
pub(crate) async fn wait_ready(api: &mut Api, id: &str, seconds: u64) -> Result<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        let v = api.get(&deployment_path(id), &[]).await?;
        match v["state"].as_str() {
            Some("ready") => return Ok(v),
            Some("failed") => anyhow::bail!("deployment {id} failed: {}", s(&v, "error")),
            Some("stopped") => anyhow::bail!("deployment {id} is stopped"),
            _ => {}
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!("deployment {id} is not ready after {seconds} s (state {})", s(&v, "state"));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

pub async fn run(ctx: &Context, cmd: DeployCommand) -> Result<u8> {
    let mut api = ctx.authenticated()?;
    match cmd {
        DeployCommand::Create(a) => {
            let mut body = json!({"replicas": if a.stopped { 0 } else { a.replicas }});
            if let Some(model) = &a.model {
                body["model"] = model.clone().into();
            }
            let mut defaults = json!({});
            if let Some(t) = a.max_tokens {
                defaults["max_tokens"] = t.into();
            }
            if let Some(t) = a.temperature {
                defaults["temperature"] = t.into();
            }
            body["defaults"] = defaults;
            if a.log_requests {
                body["log_requests"] = true.into();
            }
            if let Some(backend) = a.backend {
                body["backend"] = backend.into();
            }
            crate::client::http::set_given(
                &mut body,
                [
                    ("name", a.name.map(Value::from)),
                    ("project_id", a.project.map(Value::from)),
                    ("idle_timeout_s", a.idle_timeout.map(Value::from)),
                    ("gate", a.gate.body()?),
                ],
            );
            if let Some(url) = a.external_url {
                let model = a.external_model.ok_or_else(|| anyhow::anyhow!("--external-url needs --external-model"))?;
                let mut endpoint = json!({"url": url, "model": model});
                if let Some(env) = a.external_key_env {
                    endpoint["api_key"] = std::env::var(&env).map_err(|_| anyhow::anyhow!("the environment has no {env}"))?.into();
                }
                body["backend"] = "external".into();
                body["endpoint"] = endpoint;
            }
            let mut v = api.post("/api/v1/deployments", &body).await?;
            if a.wait {
                v = wait_ready(&mut api, &s(&v, "id"), 600).await?;
            }
            show(ctx, &v);
        }
        DeployCommand::List { list } => {
            let list = paging::fetch(&mut api, "/api/v1/deployments", &[], &list).await?;
            if ctx.json {
                output::json(&list);
            } else {
                let mut t = Table::new(&["ID", "NAME", "SERVES", "BACKEND", "STATE", "LAST REQUEST"]);
                for d in output::items(&list) {
                    t.row(vec![s(d, "id"), s(d, "name"), s(d, "model"), s(d, "backend"), s(d, "state"), time(d, "last_request_at")]);
                }
                t.print();
                paging::hint_more(&list);
            }
        }
        DeployCommand::Show { id } => show(ctx, &api.get(&deployment_path(&id), &[]).await?),
        DeployCommand::Start { id, wait } => {
            let mut v = api.post(&format!("{}/start", deployment_path(&id)), &json!({})).await?;
            if wait {
                v = wait_ready(&mut api, &id, 600).await?;
            }
            show(ctx, &v);
        }
        DeployCommand::Stop { id } => show(ctx, &api.post(&format!("{}/stop", deployment_path(&id)), &json!({})).await?),
        DeployCommand::Scale { id, replicas } => show(ctx, &api.patch(&deployment_path(&id), &json!({"replicas": replicas})).await?),
        DeployCommand::Update { id, idle_timeout, max_tokens, temperature, log_requests } => {
            let mut body = json!({});
            if let Some(on) = log_requests {
                body["log_requests"] = on.into();
            }
            if let Some(t) = idle_timeout {
                body["idle_timeout_s"] = t.into();
            }
            if max_tokens.is_some() || temperature.is_some() {
                let current = api.get(&deployment_path(&id), &[]).await?;
                let mut defaults = current["defaults"].clone();
                if let Some(t) = max_tokens {
                    defaults["max_tokens"] = t.into();
                }
                if let Some(t) = temperature {
                    defaults["temperature"] = t.into();
                }
                body["defaults"] = defaults;
            }
            show(ctx, &api.patch(&deployment_path(&id), &body).await?);
        }
        DeployCommand::Delete { id } => {
            api.delete(&deployment_path(&id)).await?;
            if !ctx.json {
                println!("deleted {id}");
            }
        }
        DeployCommand::Split(c) => return split(ctx, &mut api, c).await,
        DeployCommand::Logs { id, list } => return super::safety::logs(ctx, &mut api, &id, &list).await,
        DeployCommand::ExportLogs { id, name, dataset, project } => {
            return super::safety::export_logs(ctx, &mut api, &id, name, dataset, project).await
        }
        DeployCommand::Events { id } => {
            let v = api.get(&format!("{}/events", deployment_path(&id)), &[("limit", "100".into())]).await?;
            if ctx.json {
                output::json(&v);
            } else {
                for e in output::items(&v) {
                    let at = e["time"].as_i64().map(|t| output::format_unix(t / 1000)).unwrap_or_default();
                    println!("{at}  {:<15} {}", s(e, "kind"), e["data"]);
                }
            }
        }
    }
    Ok(0)
}

async fn split(ctx: &Context, api: &mut Api, c: SplitCommand) -> Result<u8> {
    let path = |id: &str| format!("/api/v1/traffic-splits/{}", seg(id));
    let v = match c {
        SplitCommand::Create { name, variants, sticky, project, gate } => {
            let variants = variants
                .iter()
                .map(|v| {
                    let (id, weight) = v.split_once('=').ok_or_else(|| anyhow::anyhow!("--variant {v}: write DEPLOYMENT=WEIGHT"))?;
                    Ok(json!({"deployment_id": id, "weight": weight.parse::<u32>().map_err(|e| anyhow::anyhow!("--variant {v}: {e}"))?}))
                })
                .collect::<Result<Vec<_>>>()?;
            let mut body = json!({"name": name, "variants": variants, "sticky": sticky});
            crate::client::http::set_given(&mut body, [("project_id", project.map(Value::from)), ("gate", gate.body()?)]);
            api.post("/api/v1/traffic-splits", &body).await?
        }
        SplitCommand::Show { id } => {
            let v = api.get(&path(&id), &[]).await?;
            if !ctx.json {
                let mut t = Table::new(&["DEPLOYMENT", "WEIGHT", "REQUESTS", "ERRORS", "MEAN MS", "RATINGS", "MEAN RATING", "P-VALUE"]);
                for r in output::items(&json!({"data": v["variants"]})) {
                    let num = |k: &str, digits: usize| r[k].as_f64().map(|x| format!("{x:.digits$}")).unwrap_or_else(|| "-".into());
                    t.row(vec![
                        s(r, "deployment_id"),
                        s(r, "weight"),
                        s(r, "requests"),
                        s(r, "errors"),
                        num("mean_latency_ms", 0),
                        s(r, "ratings"),
                        num("mean_rating", 3),
                        num("p_value", 4),
                    ]);
                }
                t.print();
                println!("{}", s(&v, "conclusion"));
                return Ok(0);
            }
            v
        }
        SplitCommand::Pause { id } => api.patch(&path(&id), &json!({"active": false})).await?,
        SplitCommand::Resume { id } => api.patch(&path(&id), &json!({"active": true})).await?,
        SplitCommand::Delete { id } => {
            api.delete(&path(&id)).await?;
            Value::Null
        }
    };
    if ctx.json {
        output::json(&v);
    } else if !v.is_null() {
        print_kv(&[("id", s(&v, "id")), ("name", s(&v, "name")), ("active", s(&v, "active")), ("sticky", s(&v, "sticky"))]);
    }
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct UsageArgs {
    /// Only this deployment's requests (dep_…).
    #[arg(long)]
    pub deployment: Option<String>,
    /// Only requests made with this API key (key_…).
    #[arg(long)]
    pub key: Option<String>,
    /// minute or day.
    #[arg(long, default_value = "day", value_parser = ["minute", "day"])]
    pub bucket: String,
}

/// `tunery usage`: requests, tokens and latency per minute or day.
pub async fn usage(ctx: &Context, a: UsageArgs) -> Result<u8> {
    let mut api = ctx.authenticated()?;
    let mut query = vec![("bucket", a.bucket)];
    if let Some(d) = a.deployment {
        query.push(("deployment_id", d));
    }
    if let Some(k) = a.key {
        query.push(("api_key_id", k));
    }
    let v = api.get("/api/v1/usage", &query).await?;
    if ctx.json {
        output::json(&v);
        return Ok(0);
    }
    let ms = |x: &serde_json::Value| x.as_f64().map(|x| format!("{x:.0}")).unwrap_or_else(|| "-".into());
    let mut t =
        Table::new(&["FROM", "REQUESTS", "ERRORS", "PROMPT TOKENS", "COMPLETION TOKENS", "MEAN LATENCY MS", "P95 MS", "MEAN TTFT MS"]);
    for b in output::items(&v) {
        t.row(vec![
            b["start"].as_i64().map(output::format_unix).unwrap_or_default(),
            s(b, "requests"),
            s(b, "errors"),
            s(b, "prompt_tokens"),
            s(b, "completion_tokens"),
            ms(&b["mean_latency_ms"]),
            ms(&b["latency_ms"]["p95"]),
            ms(&b["mean_time_to_first_token_ms"]),
        ]);
    }
    t.print();
    println!("total: {} requests, {} tokens ({} errors)", s(&v, "requests"), s(&v, "total_tokens"), s(&v, "errors"));
    let l = &v["latency_ms"];
    if l.is_object() {
        println!("latency: p50 {} ms, p95 {} ms, p99 {} ms", ms(&l["p50"]), ms(&l["p95"]), ms(&l["p99"]));
    }
    let keys = v["by_key"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if !keys.is_empty() {
        let mut t = Table::new(&["KEY", "NAME", "REQUESTS", "ERRORS", "TOKENS", "P95 MS"]);
        for k in keys {
            let id = k["api_key_id"].as_str().unwrap_or("(signed-in session)").to_string();
            t.row(vec![id, s(k, "name"), s(k, "requests"), s(k, "errors"), s(k, "total_tokens"), ms(&k["latency_ms"]["p95"])]);
        }
        t.print();
    }
    let c = &v["compute"];
    if c.is_object() {
        let num = |x: &serde_json::Value| x.as_f64().unwrap_or(0.0);
        println!(
            "compute: {} jobs and {} evaluations, {:.3} GPU-hours, cost {:.2}",
            s(c, "jobs"),
            s(c, "evaluations"),
            num(&c["gpu_hours"]),
            num(&c["cost"])
        );
        let mut t = Table::new(&["BY", "WHO", "JOBS", "EVALUATIONS", "GPU-HOURS", "COST"]);
        for (by, field) in [("user", "by_user"), ("project", "by_project"), ("gpu type", "by_gpu_type")] {
            for l in c[field].as_array().into_iter().flatten() {
                let who = l["key"].as_str().unwrap_or("(none)").to_string();
                let (hours, cost) = (format!("{:.3}", num(&l["gpu_hours"])), format!("{:.2}", num(&l["cost"])));
                t.row(vec![by.into(), who, s(l, "jobs"), s(l, "evaluations"), hours, cost]);
            }
        }
        t.print();
    }
    Ok(0)
}
