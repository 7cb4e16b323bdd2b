//! `tunery eval …`: `score --predictions FILE --metrics …` scores a predictions file generated
//! anywhere, computed here by the binary with the `metrics` crate (no server, no login; the
//! file is JSONL: one `{"prediction": "...", "reference": "..."}` or `{"prediction": "...",
//! "references": ["...", ...]}` per line); `create` evaluates a model on a test set on the
//! server, `upload` scores a predictions file there (stored with its examples), and `list`,
//! `show`, `examples`, `cancel`, `rerun`, `delete` manage evaluations; `human …` is human
//! evaluation (`human_eval.rs`).

use crate::client::context::Context;
use crate::client::http::{seg, Api};
use crate::client::output::{self, print_kv, s, time, Table};
use crate::client::paging::{self, ListArgs};
use anyhow::{Context as _, Result};
use metrics::suite::{self, MetricScore};
use metrics::BleuTokenizer;
use serde_json::{json, Map, Value};

#[derive(Debug, clap::Subcommand)]
pub enum EvalCommand {
    /// Score a predictions file here (JSONL with `prediction` and `reference` or `references`).
    Score(ScoreArgs),
    /// Evaluate a model on a test set on the server: it answers each conversation's prompt
    /// through the serving path, and the metrics score the answers.
    Create(CreateArgs),
    /// Score a predictions file on the server (stored with its examples, like `create`).
    Upload(UploadArgs),
    /// List evaluations, newest first.
    List {
        /// Only evaluations of this model id or deployment name.
        #[arg(long)]
        model: Option<String>,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show an evaluation and its scores.
    Show { id: String },
    /// An evaluation's examples: prompt, references, prediction and scores.
    Examples {
        id: String,
        /// The first example's index.
        #[arg(long, default_value_t = 0)]
        from: i64,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Cancel a queued or running evaluation.
    Cancel { id: String },
    /// Run an evaluation again with its stored configuration.
    Rerun {
        id: String,
        /// Wait until it ends (exit 0 when it succeeds).
        #[arg(long)]
        wait: bool,
    },
    /// Delete a finished evaluation.
    Delete { id: String },
    /// Compare evaluations on one test set: scores, wins/ties/losses against the first, and
    /// examples side by side.
    Compare {
        /// Two to ten evaluation ids; the first is the baseline.
        #[arg(num_args = 2..=10, required = true)]
        ids: Vec<String>,
        /// The metric wins and losses are counted on.
        #[arg(long)]
        metric: Option<String>,
        /// Examples shown side by side, from --from.
        #[arg(long, default_value_t = 5)]
        limit: i64,
        #[arg(long, default_value_t = 0)]
        from: i64,
    },
    /// Offline A/B test: is evaluation B better than A on a metric? (p-value, interval, effect
    /// size, sample size).
    Ab(AbArgs),
    /// LLM-as-judge: a judge model rates one evaluation's answers (one id) or compares two
    /// evaluations' answers in both orders (two ids: A then B).
    Judge(JudgeArgs),
    /// List offline A/B tests.
    AbList {
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show an offline A/B test.
    AbShow { id: String },
    /// Delete an offline A/B test.
    AbDelete { id: String },
    /// Human evaluation: raters score or compare answers blind; agreement and DPO export.
    Human {
        #[command(subcommand)]
        cmd: super::human_eval::HumanCommand,
    },
}

#[derive(Debug, clap::Args)]
pub struct JudgeArgs {
    /// One evaluation (rubric rating) or two on the same test set (pairwise: A, then B).
    #[arg(num_args = 1..=2, required = true)]
    pub ids: Vec<String>,
    /// The judge: a deployment's name or a model id.
    #[arg(long)]
    pub judge: String,
    /// What is judged.
    #[arg(long)]
    pub criteria: Option<String>,
    /// The highest rating (rubric).
    #[arg(long)]
    pub scale: Option<u32>,
    #[arg(long)]
    pub max_tokens: Option<u32>,
    #[arg(long)]
    pub name: Option<String>,
    /// Wait until it ends (exit 0 when it succeeds).
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, clap::Args)]
pub struct AbArgs {
    /// The control evaluation.
    pub a: String,
    /// The candidate evaluation (on the same test set).
    pub b: String,
    /// bleu, chrf, chrf++, rouge1, rouge2, rougeL, rougeLsum, meteor, exact_match, f1 or accuracy.
    #[arg(long)]
    pub metric: String,
    #[arg(long, value_parser = ["paired_bootstrap", "approximate_randomization"])]
    pub method: Option<String>,
    #[arg(long)]
    pub resamples: Option<u32>,
    #[arg(long)]
    pub confidence: Option<f64>,
    /// The smallest difference worth detecting (for the sample size).
    #[arg(long)]
    pub minimum_effect: Option<f64>,
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// A model id (bm_…, mdl_…, ckpt_…; deployed on demand) or a deployment's name.
    #[arg(long)]
    pub model: String,
    /// The test set: a dataset of conversations (the last assistant message is the reference).
    #[arg(long)]
    pub dataset: String,
    /// The dataset version [default: the latest].
    #[arg(long)]
    pub dataset_version: Option<i64>,
    /// Comma-separated metric names (as for `score`).
    #[arg(long, value_delimiter = ',', default_value = "bleu,chrf,rouge")]
    pub metrics: Vec<String>,
    #[arg(long, default_value = "13a", value_parser = ["13a", "zh", "none"])]
    pub tokenize: String,
    /// Porter-stem ROUGE's tokens (rouge-score's use_stemmer).
    #[arg(long)]
    pub rouge_stemmer: bool,
    #[arg(long, default_value_t = 256)]
    pub max_tokens: u32,
    /// 0 decodes greedily (reruns give the same answers).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Only the first N examples.
    #[arg(long)]
    pub limit: Option<u32>,
    /// Requests in flight at once.
    #[arg(long)]
    pub concurrency: Option<u32>,
    /// Bootstrap resamples for the confidence intervals (0: none).
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: u32,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, value_name = "PROJECT_ID")]
    pub project: Option<String>,
    /// Wait until it ends (exit 0 when it succeeds).
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, clap::Args)]
pub struct UploadArgs {
    /// The JSONL file of predictions and references.
    #[arg(long)]
    pub predictions: std::path::PathBuf,
    #[arg(long, value_delimiter = ',', default_value = "bleu,chrf,rouge")]
    pub metrics: Vec<String>,
    #[arg(long, default_value = "13a", value_parser = ["13a", "zh", "none"])]
    pub tokenize: String,
    /// Porter-stem ROUGE's tokens (rouge-score's use_stemmer).
    #[arg(long)]
    pub rouge_stemmer: bool,
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: u32,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, value_name = "PROJECT_ID")]
    pub project: Option<String>,
    /// Wait until it ends (exit 0 when it succeeds).
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// The JSONL file of predictions and references.
    #[arg(long)]
    pub predictions: std::path::PathBuf,
    /// Comma-separated: bleu, chrf, chrf++, rouge (rouge1, rouge2, rougeL, rougeLsum), rouge1,
    /// rouge2, rougeL, rougeLsum, meteor, exact_match, f1, accuracy, macro_f1, distinct-1, distinct-2,
    /// self_bleu, bertscore (with --bertscore-model), bleurt (with --bleurt-checkpoint).
    #[arg(long, value_delimiter = ',', default_value = "bleu,chrf,rouge")]
    pub metrics: Vec<String>,
    /// How BLEU, distinct-n and self-BLEU split text: 13a (sacreBLEU's default), zh (every
    /// Chinese character a token, for ROUGE too) or none (already tokenized).
    #[arg(long, default_value = "13a", value_parser = ["13a", "zh", "none"])]
    pub tokenize: String,
    /// Porter-stem ROUGE's tokens (rouge-score's use_stemmer).
    #[arg(long)]
    pub rouge_stemmer: bool,
    /// Bootstrap resamples for 95% confidence intervals of the corpus scores (0: none).
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: u32,
    /// WordNet 3.0 for METEOR's synonym stage (scripts/fetch-wordnet.sh fetches it).
    #[arg(long, env = "TUNERY_WORDNET_DIR", value_name = "DIR")]
    pub wordnet_dir: Option<std::path::PathBuf>,
    /// BERTScore's encoder (scripts/fetch-bertscore-encoder.sh fetches all-MiniLM-L6-v2).
    #[arg(long, env = "TUNERY_BERTSCORE_MODEL", value_name = "DIR")]
    pub bertscore_model: Option<std::path::PathBuf>,
    /// BERTScore's layer (default: the encoder's last).
    #[arg(long, env = "TUNERY_BERTSCORE_LAYER")]
    pub bertscore_layer: Option<u32>,
    /// A BLEURT checkpoint ported to PyTorch.
    #[arg(long, env = "TUNERY_BLEURT_CHECKPOINT", value_name = "DIR")]
    pub bleurt_checkpoint: Option<std::path::PathBuf>,
    /// The runtime's Python, which computes BERTScore and BLEURT (scripts/runtime-env.sh prints it).
    #[arg(long, env = "TUNERY_RUNTIME_PYTHON")]
    pub runtime_python: Option<std::path::PathBuf>,
    /// The folder holding the `tunery_runtime` package.
    #[arg(long, env = "TUNERY_RUNTIME_DIR", default_value = "runtime")]
    pub runtime_dir: std::path::PathBuf,
}

/// One metric's result as printed with `--json`: its score, its interval, what it was
/// computed with.
fn result_json(m: &MetricScore) -> Value {
    let mut v = Map::new();
    v.insert("score".into(), json!(m.score));
    if let Some([lo, hi]) = m.interval {
        v.insert("interval".into(), json!([lo, hi]));
    }
    v.extend(m.details.clone());
    Value::Object(v)
}

pub async fn run(ctx: &Context, cmd: EvalCommand) -> Result<u8> {
    let cmd = match cmd {
        EvalCommand::Score(a) => return score_here(ctx, a).await,
        other => other,
    };
    let mut api = ctx.authenticated()?;
    match cmd {
        EvalCommand::Score(_) => unreachable!("scored above"),
        EvalCommand::Create(a) => {
            let mut body = json!({
                "model": a.model, "dataset_id": a.dataset, "metrics": a.metrics.iter().map(|m| m.trim()).collect::<Vec<_>>(), "tokenize": a.tokenize, "rouge_stemmer": a.rouge_stemmer,
                "generation": {"max_tokens": a.max_tokens, "temperature": a.temperature, "seed": a.seed},
                "bootstrap": {"resamples": a.bootstrap},
            });
            crate::client::http::set_given(
                &mut body,
                [
                    ("version", a.dataset_version.map(Value::from)),
                    ("limit", a.limit.map(Value::from)),
                    ("concurrency", a.concurrency.map(Value::from)),
                    ("name", a.name.map(Value::from)),
                    ("project_id", a.project.map(Value::from)),
                ],
            );
            let v = api.post("/api/v1/evaluations", &body).await?;
            return finish(ctx, &mut api, v, a.wait).await;
        }
        EvalCommand::Upload(a) => {
            let metrics = a.metrics.iter().map(|m| m.trim()).collect::<Vec<_>>().join(",");
            let resamples = a.bootstrap.to_string();
            let stemmer = a.rouge_stemmer.to_string();
            let mut fields = vec![
                ("metrics", metrics.as_str()),
                ("tokenize", a.tokenize.as_str()),
                ("bootstrap_resamples", resamples.as_str()),
                ("rouge_stemmer", stemmer.as_str()),
            ];
            if let Some(n) = &a.name {
                fields.push(("name", n));
            }
            if let Some(p) = &a.project {
                fields.push(("project_id", p));
            }
            let v = api.post_file_form("/api/v1/evaluations", &fields, &a.predictions).await?;
            return finish(ctx, &mut api, v, a.wait).await;
        }
        EvalCommand::List { model, list } => {
            let query: Vec<(&str, String)> = model.map(|m| vec![("model", m)]).unwrap_or_default();
            let list = paging::fetch(&mut api, "/api/v1/evaluations", &query, &list).await?;
            if ctx.json {
                output::json(&list);
            } else {
                let mut t = Table::new(&["ID", "NAME", "KIND", "STATE", "PROGRESS", "CREATED"]);
                for e in output::items(&list) {
                    let progress = format!("{}/{}", s(&e["progress"], "answered"), s(&e["progress"], "total"));
                    t.row(vec![s(e, "id"), s(e, "name"), s(e, "kind"), s(e, "state"), progress, time(e, "created_at")]);
                }
                t.print();
                paging::hint_more(&list);
            }
        }
        EvalCommand::Show { id } => show(ctx, &api.get(&path(&id), &[]).await?),
        EvalCommand::Examples { id, from, limit } => {
            let page = api.get(&format!("{}/examples", path(&id)), &[("from", from.to_string()), ("limit", limit.to_string())]).await?;
            if ctx.json {
                output::json(&page);
            } else {
                let mut t = Table::new(&["#", "PREDICTION", "REFERENCE", "SCORES"]);
                for x in output::items(&page) {
                    let scores = x["scores"]
                        .as_object()
                        .map(|m| m.iter().map(|(k, v)| format!("{k} {:.1}", v.as_f64().unwrap_or(0.0))).collect::<Vec<_>>().join(", "));
                    t.row(vec![
                        s(x, "index"),
                        clip(&s(x, "prediction")),
                        clip(x["references"][0].as_str().unwrap_or("")),
                        scores.unwrap_or_default(),
                    ]);
                }
                t.print();
            }
        }
        EvalCommand::Cancel { id } => show(ctx, &api.post(&format!("{}/cancel", path(&id)), &json!({})).await?),
        EvalCommand::Rerun { id, wait } => {
            let v = api.post(&format!("{}/rerun", path(&id)), &json!({})).await?;
            return finish(ctx, &mut api, v, wait).await;
        }
        EvalCommand::Delete { id } => {
            api.delete(&path(&id)).await?;
            if !ctx.json {
                println!("deleted evaluation {id}");
            }
        }
        EvalCommand::Compare { ids, metric, limit, from } => {
            let mut body = json!({"evaluation_ids": ids, "limit": limit, "from": from});
            if let Some(m) = metric {
                body["metric"] = m.into();
            }
            let c = api.post("/api/v1/comparisons", &body).await?;
            if ctx.json {
                output::json(&c);
            } else {
                show_comparison(&c);
            }
        }
        EvalCommand::Ab(a) => {
            let mut body = json!({"evaluation_a": a.a, "evaluation_b": a.b, "metric": a.metric});
            crate::client::http::set_given(
                &mut body,
                [
                    ("method", a.method.map(Value::from)),
                    ("resamples", a.resamples.map(Value::from)),
                    ("confidence", a.confidence.map(Value::from)),
                    ("minimum_effect", a.minimum_effect.map(Value::from)),
                    ("name", a.name.map(Value::from)),
                ],
            );
            show_ab(ctx, &api.post("/api/v1/ab-tests", &body).await?);
        }
        EvalCommand::Judge(a) => {
            let mode = if a.ids.len() == 2 { "pairwise" } else { "rubric" };
            let mut body = json!({"judge": a.judge, "mode": mode, "evaluation_ids": a.ids});
            crate::client::http::set_given(
                &mut body,
                [
                    ("criteria", a.criteria.map(Value::from)),
                    ("scale", a.scale.map(Value::from)),
                    ("max_tokens", a.max_tokens.map(Value::from)),
                    ("name", a.name.map(Value::from)),
                ],
            );
            let v = api.post("/api/v1/judgements", &body).await?;
            return finish(ctx, &mut api, v, a.wait).await;
        }
        EvalCommand::AbList { list } => {
            let list = paging::fetch(&mut api, "/api/v1/ab-tests", &[], &list).await?;
            if ctx.json {
                output::json(&list);
            } else {
                let mut t = Table::new(&["ID", "NAME", "METRIC", "DIFFERENCE", "P", "CREATED"]);
                for x in output::items(&list) {
                    let r = &x["results"];
                    let diff = format!("{:+.2}", r["difference"].as_f64().unwrap_or(0.0));
                    t.row(vec![
                        s(x, "id"),
                        s(x, "name"),
                        s(x, "metric"),
                        diff,
                        format!("{:.4}", r["p_value"].as_f64().unwrap_or(1.0)),
                        time(x, "created_at"),
                    ]);
                }
                t.print();
                paging::hint_more(&list);
            }
        }
        EvalCommand::AbShow { id } => show_ab(ctx, &api.get(&format!("/api/v1/ab-tests/{}", seg(&id)), &[]).await?),
        EvalCommand::Human { cmd } => return super::human_eval::run(ctx, &mut api, cmd).await,
        EvalCommand::AbDelete { id } => {
            api.delete(&format!("/api/v1/ab-tests/{}", seg(&id))).await?;
            if !ctx.json {
                println!("deleted A/B test {id}");
            }
        }
    }
    Ok(0)
}

fn path(id: &str) -> String {
    format!("/api/v1/evaluations/{}", seg(id))
}

/// One line of a table: the first 60 characters, newlines shown as spaces.
fn clip(text: &str) -> String {
    let flat = text.replace('\n', " ");
    match flat.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &flat[..at]),
        None => flat,
    }
}

/// Shows a new evaluation, or waits for its end first (exit 1 unless it succeeded).
async fn finish(ctx: &Context, api: &mut Api, v: Value, wait: bool) -> Result<u8> {
    if !wait {
        show(ctx, &v);
        return Ok(0);
    }
    let id = s(&v, "id");
    loop {
        let v = api.get(&path(&id), &[]).await?;
        if ["succeeded", "failed", "cancelled"].contains(&v["state"].as_str().unwrap_or("")) {
            show(ctx, &v);
            return Ok(if v["state"] == "succeeded" { 0 } else { 1 });
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

fn show_ab(ctx: &Context, v: &Value) {
    if ctx.json {
        output::json(v);
        return;
    }
    let r = &v["results"];
    let f = |k: &str| r[k].as_f64().map(|x| format!("{x:.4}")).unwrap_or_default();
    print_kv(&[
        ("id", s(v, "id")),
        ("metric", s(v, "metric")),
        ("A", format!("{} ({})", s(v, "evaluation_a"), f("score_a"))),
        ("B", format!("{} ({})", s(v, "evaluation_b"), f("score_b"))),
        ("p-value", format!("{} ({})", f("p_value"), s(r, "method"))),
        (
            "sample size",
            r["sample_size_needed"]
                .as_u64()
                .map(|n| format!("{n} examples would detect {:.2}", r["effect_for_sample_size"].as_f64().unwrap_or(0.0)))
                .unwrap_or_else(|| "- (no variation to estimate it from)".into()),
        ),
    ]);
    println!("{}", s(r, "verdict"));
}

fn show_comparison(c: &Value) {
    let array = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let evaluations = array(&c["evaluations"]);
    let mut header = vec!["METRIC".to_string()];
    header.extend(evaluations.iter().map(|e| s(e, "name")));
    let mut t = Table::new(&header.iter().map(String::as_str).collect::<Vec<_>>());
    for (name, row) in c["table"].as_object().into_iter().flatten() {
        let mut cells = vec![name.clone()];
        cells.extend(array(row).iter().map(|m| m["score"].as_f64().map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into())));
        t.row(cells);
    }
    t.print();
    for v in array(&c["versus_first"]) {
        println!(
            "{} against the first on {}: {} wins, {} ties, {} losses",
            s(&v, "evaluation_id"),
            s(c, "metric"),
            s(&v, "wins"),
            s(&v, "ties"),
            s(&v, "losses")
        );
    }
    for x in array(&c["examples"]) {
        println!("\n#{} reference: {}", s(&x, "index"), clip(x["references"][0].as_str().unwrap_or("")));
        for (e, a) in evaluations.iter().zip(array(&x["answers"])) {
            println!("  {}: {}", s(e, "name"), clip(&s(&a, "prediction")));
        }
    }
}

fn show(ctx: &Context, v: &Value) {
    if ctx.json {
        output::json(v);
        return;
    }
    let mut fields = vec![
        ("id", s(v, "id")),
        ("name", s(v, "name")),
        ("kind", s(v, "kind")),
        ("state", s(v, "state")),
        ("model", s(v, "model")),
        ("progress", format!("{}/{}", s(&v["progress"], "answered"), s(&v["progress"], "total"))),
    ];
    if v["wait"].is_object() {
        fields.push(("waiting", s(&v["wait"], "message")));
    }
    if let Some(hours) = v["cost"]["gpu_hours"].as_f64() {
        fields.push(("compute", format!("{hours:.4} device-hours, cost {:.2}", v["cost"]["cost"].as_f64().unwrap_or(0.0))));
    }
    fields.push(("error", s(v, "error")));
    print_kv(&fields);
    if let Some(metrics) = v["results"]["metrics"].as_object() {
        let mut t = Table::new(&["METRIC", "SCORE", "INTERVAL", "COMPUTED AS"]);
        for (name, m) in metrics {
            let interval =
                m["interval"].as_array().map(|i| format!("{:.2}–{:.2}", i[0].as_f64().unwrap_or(0.0), i[1].as_f64().unwrap_or(0.0)));
            t.row(vec![
                name.clone(),
                format!("{:.2}", m["score"].as_f64().unwrap_or(0.0)),
                interval.unwrap_or_default(),
                s(m, "implementation"),
            ]);
        }
        t.print();
    }
}

/// BERTScore or BLEURT of `examples` by the runtime on this machine (its `score-text` mode, in
/// a temporary folder).
async fn score_with_runtime(
    a: &ScoreArgs,
    metric: &str,
    examples: &[suite::Example],
    bootstrap: Option<suite::Bootstrap>,
) -> Result<MetricScore> {
    let (model, setting) = match metric {
        "bertscore" => (&a.bertscore_model, "--bertscore-model (scripts/fetch-bertscore-encoder.sh fetches all-MiniLM-L6-v2)"),
        _ => (&a.bleurt_checkpoint, "--bleurt-checkpoint (a BLEURT checkpoint ported to PyTorch)"),
    };
    let model = model.as_ref().with_context(|| format!("{metric} needs a model: give {setting}"))?;
    let python = a.runtime_python.as_ref().with_context(|| format!("{metric} runs in the training runtime: give --runtime-python"))?;
    let runtime = executors::RuntimeCommand {
        python: std::path::absolute(python)?,
        runtime_dir: std::path::absolute(&a.runtime_dir)?,
        // The runtime sets its own defaults per mode (OpenMP's wait policy among them).
        env: Vec::new(),
    };
    // Removed by score_text on every way out.
    let work = std::env::temp_dir().join(format!("tunery-score-{}-{metric}", std::process::id()));
    let texts: Vec<executors::TextExample> =
        examples.iter().map(|e| executors::TextExample { prediction: &e.prediction, references: &e.references }).collect();
    let layer = if metric == "bertscore" { a.bertscore_layer } else { None };
    let model = std::path::absolute(model)?;
    let m = executors::TextMetric { metric, model_path: &model, layer, device: "auto" };
    let scores = executors::score_text(&runtime, &m, &texts, &work).await.map_err(anyhow::Error::msg)?;
    suite::from_runtime(metric, &scores.rows, &scores.summary, bootstrap).map_err(anyhow::Error::msg)
}

/// `tunery eval score`: computed by this binary.
async fn score_here(ctx: &Context, a: ScoreArgs) -> Result<u8> {
    let text = std::fs::read_to_string(&a.predictions).with_context(|| format!("reading {}", a.predictions.display()))?;
    let examples = suite::parse_jsonl(&text, &a.predictions.display().to_string()).map_err(anyhow::Error::msg)?;
    let bootstrap = (a.bootstrap > 0).then(|| suite::Bootstrap { resamples: a.bootstrap, ..Default::default() });
    let tokenize = BleuTokenizer::parse(&a.tokenize).with_context(|| format!("--tokenize {}: not a tokenizer", a.tokenize))?;
    let wordnet = match &a.wordnet_dir {
        Some(dir) => Some(metrics::wordnet::load(dir).map_err(|e| anyhow::anyhow!("--wordnet-dir: {e}"))?),
        None => None,
    };
    let options = suite::TextOptions { tokenize, stemmer: a.rouge_stemmer, wordnet };
    let mut scores = Vec::new();
    for metric in &a.metrics {
        let metric = metric.trim();
        if suite::RUNTIME_METRICS.contains(&metric) {
            scores.push(score_with_runtime(&a, metric, &examples, bootstrap).await?);
        } else {
            scores.extend(suite::score(&examples, metric, options, bootstrap).map_err(anyhow::Error::msg)?);
        }
    }
    let results: Map<String, Value> = scores.iter().map(|m| (m.name.clone(), result_json(m))).collect();
    if ctx.json {
        output::json(&json!({"object": "evaluation.scores", "examples": examples.len(), "metrics": results}));
        return Ok(0);
    }
    let mut t = Table::new(&["METRIC", "SCORE", "95% INTERVAL", "COMPUTED AS"]);
    for m in &scores {
        let interval = m.interval.map(|[lo, hi]| format!("{lo:.2}–{hi:.2}")).unwrap_or_default();
        let how = m.details.get("implementation").and_then(Value::as_str).unwrap_or_default().to_string();
        t.row(vec![m.name.clone(), format!("{:.2}", m.score), interval, how]);
    }
    t.print();
    println!("{} examples", examples.len());
    Ok(0)
}
