//! `tunery models …`: the base-model catalog, imported base models, importing one, comparing
//! models side by side, and fine-tuned models.

use crate::client::context::Context;
use crate::client::http::seg;
use crate::client::output::{self, bytes, print_kv, s, time, Table};
use crate::client::paging::{self, ListArgs};
use anyhow::{bail, Result};
use serde_json::{json, Value};

#[derive(Debug, clap::Subcommand)]
pub enum ModelsCommand {
    /// Base models you can train (imported ones and the built-in model); with --catalog, the
    /// catalog of popular open models; with --fine-tuned, your fine-tuned models.
    List {
        #[arg(long, conflicts_with = "fine_tuned")]
        catalog: bool,
        #[arg(long)]
        fine_tuned: bool,
        /// Catalog only: match repository id or family.
        #[arg(long)]
        search: Option<String>,
        /// Catalog only: at most this many parameters (e.g. 8e9).
        #[arg(long)]
        max_parameters: Option<f64>,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show a base model (bm_…), a fine-tuned model (mdl_…) or a catalog entry (repository id).
    Show { id: String },
    /// A fine-tuned model's experiment record: its job and configuration, data lineage and
    /// every evaluation of it.
    Record { id: String },
    /// Rank the models evaluated on a test set by a metric (each by its newest evaluation
    /// there); the first is the best.
    Rank {
        /// A metric with one corpus score (bleu, chrf, rougeL, exact_match, …).
        #[arg(long)]
        metric: String,
        /// The test set's dataset id.
        #[arg(long)]
        dataset: String,
        /// Lower is better.
        #[arg(long)]
        ascending: bool,
    },
    /// Compare models side by side: base model ids or catalog repository ids.
    Compare {
        #[arg(num_args = 2..=10, required = true)]
        ids: Vec<String>,
    },
    /// Import a model from the Hugging Face Hub or a file or directory on the server
    /// (administrators).
    #[command(group(clap::ArgGroup::new("source").required(true)))]
    Import {
        #[arg(long)]
        name: String,
        /// A GGUF file on the server (dequantized on import).
        #[arg(long, group = "source")]
        gguf: Option<String>,
        /// A Hugging Face model directory on the server.
        #[arg(long, group = "source")]
        dir: Option<String>,
        /// A tar or zip archive of a model directory on this machine, uploaded (encrypted at
        /// rest on the server, deleted once imported).
        #[arg(long, group = "source", value_name = "FILE")]
        archive: Option<std::path::PathBuf>,
        /// A Hugging Face Hub repository (owner/name).
        #[arg(long, group = "source")]
        hub: Option<String>,
        /// With --hub: the branch, tag or commit [default: main].
        #[arg(long, requires = "hub")]
        revision: Option<String>,
        /// Wait until the import has finished.
        #[arg(long)]
        wait: bool,
    },
    /// Delete an imported base model (bm_…; refused while a training job names it), or a
    /// fine-tuned model (mdl_…) with the deployments serving it.
    Delete { id: String },
    /// Download a fine-tuned model's files into a directory (checked against their SHA-256).
    Download {
        id: String,
        #[arg(short, long, value_name = "DIR")]
        output: std::path::PathBuf,
    },
}

fn params(v: &Value) -> String {
    match v.as_f64() {
        Some(n) if n >= 1e9 => format!("{:.2}B", n / 1e9),
        Some(n) => format!("{:.0}M", n / 1e6),
        None => "-".into(),
    }
}

/// 134515008 → `134,515,008`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn spec_rows(spec: &Value) -> Vec<(&'static str, String)> {
    vec![
        ("architecture", s(spec, "architecture")),
        ("parameters", params(&spec["parameters"])),
        ("layers", s(spec, "layers")),
        ("hidden size", s(spec, "hidden_size")),
        ("intermediate size", s(spec, "intermediate_size")),
        ("attention heads", s(spec, "attention_heads")),
        ("KV heads", s(spec, "kv_heads")),
        ("context length", s(spec, "context_length")),
        ("vocabulary", s(spec, "vocab_size")),
    ]
}

pub async fn run(ctx: &Context, cmd: ModelsCommand) -> Result<u8> {
    let mut api = ctx.authenticated()?;
    match cmd {
        ModelsCommand::List { catalog: true, search, max_parameters, .. } => {
            let mut query = Vec::new();
            if let Some(q) = search {
                query.push(("search", q));
            }
            if let Some(p) = max_parameters {
                query.push(("max_parameters", format!("{}", p as u64)));
            }
            let list = api.get("/api/v1/base-models/catalog", &query).await?;
            if ctx.json {
                output::json(&list);
            } else {
                let mut t = Table::new(&["REPOSITORY", "FAMILY", "PARAMS", "LAYERS", "CONTEXT", "LICENSE"]);
                for m in output::items(&list) {
                    let spec = &m["spec"];
                    t.row(vec![
                        s(m, "repo_id"),
                        s(m, "family"),
                        params(&spec["parameters"]),
                        s(spec, "layers"),
                        s(spec, "context_length"),
                        s(m, "license"),
                    ]);
                }
                t.print();
            }
        }
        ModelsCommand::List { fine_tuned: true, list, .. } => {
            let list = paging::fetch(&mut api, "/api/v1/models", &[], &list).await?;
            if ctx.json {
                output::json(&list);
            } else {
                let mut t = Table::new(&["ID", "NAME", "KIND", "BASE MODEL", "JOB", "CREATED"]);
                for m in output::items(&list) {
                    t.row(vec![s(m, "id"), s(m, "name"), s(m, "kind"), s(m, "base_model_id"), s(m, "job_id"), time(m, "created_at")]);
                }
                t.print();
                paging::hint_more(&list);
            }
        }
        ModelsCommand::List { list, .. } => {
            let list = paging::fetch(&mut api, "/api/v1/base-models", &[], &list).await?;
            if ctx.json {
                output::json(&list);
            } else {
                let mut t = Table::new(&["ID", "NAME", "STATUS", "ARCHITECTURE", "PARAMS", "SIZE"]);
                for m in output::items(&list) {
                    let spec = &m["spec"];
                    let size = bytes(m["size_bytes"].as_u64().unwrap_or(0));
                    t.row(vec![s(m, "id"), s(m, "name"), s(m, "status"), s(spec, "architecture"), params(&spec["parameters"]), size]);
                }
                t.print();
                paging::hint_more(&list);
            }
        }
        ModelsCommand::Show { id } => {
            let v = if id.starts_with("mdl_") {
                api.get(&format!("/api/v1/models/{}", seg(&id)), &[]).await?
            } else if id.starts_with("bm_") {
                api.get(&format!("/api/v1/base-models/{}", seg(&id)), &[]).await?
            } else {
                let list = api.get("/api/v1/base-models/catalog", &[("search", id.clone())]).await?;
                match output::items(&list).iter().find(|m| m["repo_id"].as_str().is_some_and(|r| r.eq_ignore_ascii_case(&id))) {
                    Some(m) => m.clone(),
                    None => bail!("no model '{id}': give a base model id (bm_…), a fine-tuned model id (mdl_…) or a catalog repository id"),
                }
            };
            if ctx.json {
                output::json(&v);
            } else if v["object"] == "model" {
                let m = &v["metrics"];
                print_kv(&[
                    ("id", s(&v, "id")),
                    ("name", s(&v, "name")),
                    ("kind", s(&v, "kind")),
                    ("base model", s(&v, "base_model_id")),
                    ("dataset version", s(&v, "dataset_version_id")),
                    ("job", s(&v, "job_id")),
                    ("files", format!("{} ({})", s(&v, "files"), bytes(v["size_bytes"].as_u64().unwrap_or(0)))),
                    ("final loss", s(m, "final_loss")),
                    ("eval loss", s(m, "eval_loss")),
                    ("tokens/s", s(m, "tokens_per_second")),
                    ("created", time(&v, "created_at")),
                ]);
            } else {
                let mut rows = if v["object"] == "base_model" {
                    vec![
                        ("id", s(&v, "id")),
                        ("name", s(&v, "name")),
                        ("status", s(&v, "status")),
                        ("catalog entry", s(&v, "catalog_repo_id")),
                    ]
                } else {
                    vec![("repository", s(&v, "repo_id")), ("family", s(&v, "family"))]
                };
                rows.push(("license", s(&v, "license")));
                rows.extend(spec_rows(&v["spec"]));
                if let (Some(n), Some(at)) = (v["spec"]["parameters"].as_u64(), rows.iter().position(|(k, _)| *k == "parameters")) {
                    rows[at].1 = format!("{} ({})", thousands(n), params(&v["spec"]["parameters"]));
                }
                print_kv(&rows);
            }
        }
        ModelsCommand::Record { id } => {
            let r = api.get(&format!("/api/v1/models/{}/record", seg(&id)), &[]).await?;
            if ctx.json {
                output::json(&r);
                return Ok(0);
            }
            let m = &r["model"];
            let h = &r["job"]["config"]["hyperparameters"];
            print_kv(&[
                ("model", format!("{} ({})", s(m, "name"), s(m, "id"))),
                ("base model", s(m, "base_model_id")),
                ("job", s(&r["job"], "id")),
                ("method", format!("{} {}", s(&r["job"]["config"], "objective"), s(&r["job"]["config"]["method"], "kind"))),
                ("hyperparameters", format!("lr {}, epochs {}, max steps {}", s(h, "learning_rate"), s(h, "epochs"), s(h, "max_steps"))),
                (
                    "trained on",
                    format!("{} v{}", s(&r["training_data"]["version"], "dataset_id"), s(&r["training_data"]["version"], "version")),
                ),
                ("data ancestors", r["training_data"]["ancestors"].as_array().map(Vec::len).unwrap_or(0).to_string()),
            ]);
            let mut t = Table::new(&["EVALUATION", "NAME", "STATE", "SCORES", "CREATED"]);
            for e in r["evaluations"].as_array().into_iter().flatten() {
                let scores = e["results"]["metrics"]
                    .as_object()
                    .map(|ms| {
                        ms.iter().map(|(k, v)| format!("{k} {:.2}", v["score"].as_f64().unwrap_or(0.0))).collect::<Vec<_>>().join(", ")
                    })
                    .unwrap_or_default();
                t.row(vec![s(e, "id"), s(e, "name"), s(e, "state"), scores, time(e, "created_at")]);
            }
            t.print();
            for h in r["human_evals"].as_array().into_iter().flatten() {
                println!("human evaluation {} ({}, {})", s(h, "id"), s(h, "mode"), s(h, "state"));
            }
        }
        ModelsCommand::Rank { metric, dataset, ascending } => {
            let order = if ascending { "asc" } else { "desc" };
            let query = [("metric", metric), ("dataset_id", dataset), ("order", order.to_string())];
            let r = api.get("/api/v1/models/ranking", &query).await?;
            if ctx.json {
                output::json(&r);
                return Ok(0);
            }
            let mut t = Table::new(&["RANK", "MODEL", "NAME", "SCORE", "95% INTERVAL", "EVALUATION"]);
            for m in r["models"].as_array().into_iter().flatten() {
                let interval = m["interval"]
                    .as_array()
                    .map(|i| format!("{:.2}–{:.2}", i[0].as_f64().unwrap_or(0.0), i[1].as_f64().unwrap_or(0.0)))
                    .unwrap_or_default();
                t.row(vec![
                    s(m, "rank"),
                    s(m, "model"),
                    s(m, "name"),
                    format!("{:.2}", m["score"].as_f64().unwrap_or(0.0)),
                    interval,
                    s(m, "evaluation_id"),
                ]);
            }
            t.print();
            match r["best"].as_object() {
                Some(_) => println!("best on {}: {} ({})", s(&r, "metric"), s(&r["best"], "name"), s(&r["best"], "model")),
                None => println!("no model was evaluated on this test set with {}", s(&r, "metric")),
            }
        }
        ModelsCommand::Compare { ids } => {
            let v = api.get("/api/v1/base-models/compare", &[("ids", ids.join(","))]).await?;
            if ctx.json {
                output::json(&v);
            } else {
                let models = output::items(&v);
                let mut header = vec![""];
                header.extend(models.iter().map(|m| m["name"].as_str().unwrap_or("?")));
                let mut t = Table::new(&header);
                let specs: Vec<Vec<(&str, String)>> = models.iter().map(|m| spec_rows(&m["spec"])).collect();
                for (i, (label, _)) in spec_rows(&Value::Null).iter().enumerate() {
                    let mut row = vec![label.to_string()];
                    row.extend(specs.iter().map(|s| s[i].1.clone()));
                    t.row(row);
                }
                let mut license = vec!["license".to_string()];
                license.extend(models.iter().map(|m| s(m, "license")));
                t.row(license);
                t.print();
            }
        }
        ModelsCommand::Import { name, gguf, dir, archive, hub, revision, wait } => {
            let source = match (gguf, dir, hub) {
                (Some(path), _, _) => Some(json!({"kind": "gguf", "path": path})),
                (_, Some(path), _) => Some(json!({"kind": "directory", "path": path})),
                (_, _, Some(repo)) => Some(json!({"kind": "hub", "repo_id": repo, "revision": revision})),
                _ => None,
            };
            let mut v = match (source, archive) {
                (Some(source), _) => api.post("/api/v1/base-models/import", &json!({"name": name, "source": source})).await?,
                (None, Some(file)) => api.post_file_form("/api/v1/base-models/import/archive", &[("name", &name)], &file).await?,
                (None, None) => bail!("give --hub OWNER/NAME, --gguf FILE, --dir DIRECTORY or --archive FILE"),
            };
            let id = s(&v, "id");
            while wait && v["status"] == "importing" {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                v = api.get(&format!("/api/v1/base-models/{}", seg(&id)), &[]).await?;
            }
            if ctx.json {
                output::json(&v);
            } else {
                print_kv(&[("id", id), ("name", s(&v, "name")), ("status", s(&v, "status")), ("error", s(&v, "error"))]);
            }
            if v["status"] == "failed" {
                return Ok(1);
            }
        }
        ModelsCommand::Download { id, output } => download(ctx, &mut api, &id, &output).await?,
        ModelsCommand::Delete { id } => {
            let collection = if id.starts_with("mdl_") { "models" } else { "base-models" };
            api.delete(&format!("/api/v1/{collection}/{}", seg(&id))).await?;
            if !ctx.json {
                println!("deleted {id}");
            }
        }
    }
    Ok(0)
}

/// The prompts of a JSONL file, each line `{"messages": [...]}`; a bad line is an error naming it.
pub(crate) fn read_prompts(file: &std::path::Path) -> Result<Vec<Value>> {
    use anyhow::Context as _;
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut prompts = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).with_context(|| format!("{}:{}: not JSON", file.display(), n + 1))?;
        if !v["messages"].is_array() {
            bail!("{}:{}: expected {{\"messages\": [...]}}", file.display(), n + 1);
        }
        prompts.push(json!({"messages": v["messages"]}));
    }
    Ok(prompts)
}

/// Downloads every file of a fine-tuned model into `dir`, each through a temporary name and
/// checked against the SHA-256 the server lists.
async fn download(ctx: &Context, api: &mut crate::client::http::Api, id: &str, dir: &std::path::Path) -> Result<()> {
    use anyhow::Context as _;
    use sha2::Digest;
    use std::io::Write;
    let list = api.get(&format!("/api/v1/models/{}/files", seg(id)), &[]).await?;
    let files = output::items(&list).to_vec();
    let total: u64 = files.iter().map(|f| f["size_bytes"].as_u64().unwrap_or(0)).sum();
    let mut progress = crate::client::progress::Progress::new("received", total, 0);
    for f in &files {
        let rel = s(f, "path");
        if rel.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
            bail!("the server listed an unsafe path: {rel}");
        }
        let dest = dir.join(&rel);
        std::fs::create_dir_all(dest.parent().unwrap_or(dir)).with_context(|| format!("cannot create {}", dir.display()))?;
        let tmp = dest.with_extension("partial");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?);
        let query: String = rel
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() || b"-_./".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect();
        let mut response = api.download(&format!("/api/v1/models/{}/download?path={query}", seg(id))).await?;
        let mut hasher = sha2::Sha256::new();
        while let Some(chunk) = response.chunk().await.context("the download was interrupted")? {
            out.write_all(&chunk).context("cannot write the file")?;
            hasher.update(&chunk);
            progress.advance(chunk.len() as u64);
            progress.tick(&rel);
        }
        out.flush()?;
        drop(out);
        let got = hex::encode(hasher.finalize());
        if got != s(f, "sha256") {
            let _ = std::fs::remove_file(&tmp);
            bail!("{rel}: the downloaded bytes do not match the listed SHA-256");
        }
        std::fs::rename(&tmp, &dest)?;
    }
    progress.finish();
    if ctx.json {
        output::json(&json!({"id": id, "object": "model.download", "files": files.len(), "bytes": total, "directory": dir}));
    } else {
        println!("Downloaded {} files ({}) of {id} into {}", files.len(), bytes(total), dir.display());
    }
    Ok(())
}
