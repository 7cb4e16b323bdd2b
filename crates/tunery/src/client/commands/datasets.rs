//! `tunery datasets …`: uploading files (resumable, see [`upload`]), listing and changing
//! datasets, their versions, what is wrong with them and where ([`report`]), and downloads.

mod download;
mod report;
mod upload;

use crate::client::context::Context;
use crate::client::http::{seg, Api};
use crate::client::output::{self, print_kv, s, time, Table};
use crate::client::paging::{self, ListArgs};
use anyhow::{Context as _, Result};
use serde_json::{json, Value};

pub const VISIBILITIES: [&str; 4] = ["private", "project", "organization", "users"];

#[derive(Debug, clap::Subcommand)]
pub enum DatasetsCommand {
    /// Upload a file as a new dataset (or a new version with --dataset); resumes an interrupted
    /// upload of the same file when run again.
    Upload(upload::UploadArgs),
    /// List the datasets you can see.
    List {
        /// Only the datasets of this project.
        #[arg(long, value_name = "PROJECT_ID")]
        project: Option<String>,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show a dataset.
    Show { id: String },
    /// List a dataset's versions.
    Versions {
        id: String,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Statistics of a version: records, errors, turns, lengths, languages, duplicates, tokens.
    Stats {
        id: String,
        /// The version number [default: the latest].
        #[arg(long)]
        version: Option<i64>,
        /// Count tokens with this base model's own tokenizer (`bm_…`; see `tunery models list`).
        #[arg(long)]
        tokenizer: Option<String>,
        /// Report how many records exceed this many tokens [default: the server's limit].
        #[arg(long)]
        max_tokens: Option<usize>,
    },
    /// What is wrong with a version and where: each error with its line, field and code.
    Validate {
        id: String,
        /// The version number [default: the latest].
        #[arg(long)]
        version: Option<i64>,
        /// Errors to show, 1 to 1000.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// Skip this many errors first.
        #[arg(long, default_value_t = 0)]
        offset: u64,
    },
    /// Records of a version as stored and as training reads them, with their errors.
    Preview {
        id: String,
        /// The version number [default: the latest].
        #[arg(long)]
        version: Option<i64>,
        /// Index of the first record (0-based).
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// Records to show, 1 to 100.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
        limit: u32,
        /// Also show each chat record rendered through a chat template: a base model's own (its
        /// id, bm_…) or a built-in one (`chatml` for SmolLM2, `llama3`, `qwen2`, `mistral`,
        /// `gemma`, `phi3`), trained text marked.
        #[arg(long)]
        template: Option<String>,
    },
    /// Download a version's file.
    Download(download::DownloadArgs),
    /// Where a version came from and what was made from it.
    Lineage {
        id: String,
        /// The version number [default: the latest].
        #[arg(long)]
        version: Option<i64>,
    },
    /// Clean a version with a recipe (JSON file or inline): dedup, near-dup, filters, PII
    /// masking, split. Makes a new version (and a validation dataset with a split step).
    Preprocess {
        id: String,
        /// The version to start from [default: the latest].
        #[arg(long)]
        version: Option<i64>,
        /// The recipe: a path to a JSON file, or the JSON itself.
        #[arg(long)]
        recipe: String,
    },
    /// What changed between two versions: records added and removed, with examples.
    Diff {
        id: String,
        /// The newer version [default: the latest].
        #[arg(long)]
        version: Option<i64>,
        /// The older version [default: the one before].
        #[arg(long)]
        against: Option<i64>,
    },
    /// Delete a dataset with all its versions.
    Delete { id: String },
    /// Change a dataset's name, description or visibility.
    #[command(group(clap::ArgGroup::new("changes").required(true).multiple(true).args(["name", "description", "visibility", "shared_with"])))]
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Who sees it: you alone, the project's members, the organization, or named users.
        #[arg(long, value_parser = VISIBILITIES)]
        visibility: Option<String>,
        /// The users who see it (visibility `users`), comma-separated ids.
        #[arg(long, value_name = "USER_IDS", value_delimiter = ',')]
        shared_with: Option<Vec<String>>,
    },
}

pub async fn run(ctx: &Context, cmd: DatasetsCommand) -> Result<u8> {
    let mut api = ctx.authenticated()?;
    match cmd {
        DatasetsCommand::Upload(args) => return upload::run(ctx, &mut api, args).await,
        DatasetsCommand::Download(args) => return download::run(ctx, &mut api, args).await,
        DatasetsCommand::List { project, list } => {
            let query: Vec<(&str, String)> = project.into_iter().map(|p| ("project_id", p)).collect();
            let datasets = paging::fetch(&mut api, "/api/v1/datasets", &query, &list).await?;
            if ctx.json {
                output::json(&datasets);
            } else {
                let mut t = Table::new(&["ID", "NAME", "VERSION", "VISIBILITY", "PROJECT", "UPDATED"]);
                for d in output::items(&datasets) {
                    t.row(vec![
                        s(d, "id"),
                        s(d, "name"),
                        s(d, "latest_version"),
                        s(d, "visibility"),
                        s(d, "project_id"),
                        time(d, "updated_at"),
                    ]);
                }
                t.print();
                paging::hint_more(&datasets);
            }
        }
        DatasetsCommand::Show { id } => show_dataset(ctx, &api.get(&dataset_path(&id), &[]).await?),
        DatasetsCommand::Versions { id, list } => {
            let versions = paging::fetch_by(&mut api, &format!("{}/versions", dataset_path(&id)), &[], &list, "version").await?;
            if ctx.json {
                output::json(&versions);
            } else {
                let mut t = Table::new(&["VERSION", "ID", "FILE", "SIZE", "RECORDS", "VALID", "INVALID", "FORMAT", "CREATED"]);
                for v in output::items(&versions) {
                    t.row(vec![
                        s(v, "version"),
                        s(v, "id"),
                        s(v, "filename"),
                        size(v),
                        s(v, "records"),
                        s(v, "valid_records"),
                        s(v, "invalid_records"),
                        format_name(v),
                        time(v, "created_at"),
                    ]);
                }
                t.print();
                paging::hint_more_by(&versions, "version");
            }
        }
        DatasetsCommand::Stats { id, version, tokenizer, max_tokens } => {
            let v = resolve_version(&mut api, &id, version).await?;
            let mut query = Vec::new();
            query.extend(tokenizer.map(|t| ("tokenizer", t)));
            query.extend(max_tokens.map(|m| ("max_tokens", m.to_string())));
            let stats = api.get(&format!("{}/stats", version_path(&id, v)), &query).await?;
            if ctx.json {
                output::json(&stats);
            } else {
                report::print_stats(&stats);
            }
        }
        DatasetsCommand::Validate { id, version, limit, offset } => {
            let v = resolve_version(&mut api, &id, version).await?;
            let query = [("offset", offset.to_string()), ("limit", limit.to_string())];
            let validation = api.get(&format!("{}/validation", version_path(&id, v)), &query).await?;
            if ctx.json {
                output::json(&validation);
            } else {
                report::print_validation(&validation, &id, v, offset);
            }
        }
        DatasetsCommand::Preview { id, version, offset, limit, template } => {
            let v = resolve_version(&mut api, &id, version).await?;
            let mut query = vec![("offset", offset.to_string()), ("limit", limit.to_string())];
            query.extend(template.map(|t| ("template", t)));
            let preview = api.get(&format!("{}/preview", version_path(&id, v)), &query).await?;
            if ctx.json {
                output::json(&preview);
            } else {
                report::print_preview(&preview);
            }
        }
        DatasetsCommand::Lineage { id, version } => {
            let v = resolve_version(&mut api, &id, version).await?;
            let lineage = api.get(&format!("{}/lineage", version_path(&id, v)), &[]).await?;
            if ctx.json {
                output::json(&lineage);
            } else {
                print_lineage(&lineage);
            }
        }
        DatasetsCommand::Preprocess { id, version, recipe } => {
            let v = resolve_version(&mut api, &id, version).await?;
            let text = if recipe.trim_start().starts_with('{') {
                recipe
            } else {
                std::fs::read_to_string(&recipe).with_context(|| format!("cannot read the recipe file {recipe}"))?
            };
            let recipe: Value = serde_json::from_str(&text).context("the recipe is not JSON")?;
            let started = api.post(&format!("{}/preprocess", version_path(&id, v)), &json!({ "recipe": recipe })).await?;
            let op_id = started.get("id").and_then(Value::as_str).context("the server answered without an operation id")?.to_string();
            let done = wait_for_operation(&mut api, &id, &op_id).await?;
            if done.get("status").and_then(Value::as_str) == Some("failed") {
                anyhow::bail!("the recipe failed: {}", s(&done, "error"));
            }
            if ctx.json {
                output::json(&done);
            } else {
                let version = match done.get("version_id").and_then(Value::as_str) {
                    Some(vid) => version_by_id(&mut api, &id, vid).await?,
                    None => Value::Null,
                };
                report::print_preprocess(&done, &version, v);
            }
        }
        DatasetsCommand::Diff { id, version, against } => {
            let v = resolve_version(&mut api, &id, version).await?;
            let query: Vec<(&str, String)> = against.into_iter().map(|a| ("against", a.to_string())).collect();
            let diff = api.get(&format!("{}/diff", version_path(&id, v)), &query).await?;
            if ctx.json {
                output::json(&diff);
            } else {
                report::print_diff(&diff);
            }
        }
        DatasetsCommand::Delete { id } => {
            api.delete(&dataset_path(&id)).await?;
            if ctx.json {
                output::json(&json!({ "id": id, "object": "dataset", "deleted": true }));
            } else {
                println!("Deleted dataset {id} with all its versions");
            }
        }
        DatasetsCommand::Update { id, name, description, visibility, shared_with } => {
            let mut body = json!({});
            crate::client::http::set_given(&mut body, [("name", name), ("description", description), ("visibility", visibility)]);
            if let Some(users) = shared_with {
                body["shared_with"] = json!(users);
            }
            show_dataset(ctx, &api.patch(&dataset_path(&id), &body).await?);
        }
    }
    Ok(0)
}

fn dataset_path(id: &str) -> String {
    format!("/api/v1/datasets/{}", seg(id))
}

fn version_path(id: &str, version: i64) -> String {
    format!("{}/versions/{version}", dataset_path(id))
}

/// The version asked for, else the dataset's latest.
async fn resolve_version(api: &mut Api, id: &str, version: Option<i64>) -> Result<i64> {
    if let Some(v) = version {
        return Ok(v);
    }
    let dataset = api.get(&dataset_path(id), &[]).await?;
    match dataset.get("latest_version").and_then(Value::as_i64) {
        Some(v) if v > 0 => Ok(v),
        _ => anyhow::bail!("dataset {id} has no versions yet"),
    }
}

/// Polls an operation until it is no longer running, with a progress line on standard error.
async fn wait_for_operation(api: &mut Api, dataset: &str, op: &str) -> Result<Value> {
    let path = format!("{}/operations/{}", dataset_path(dataset), seg(op));
    let started = std::time::Instant::now();
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    loop {
        let o = api.get(&path, &[]).await?;
        if o.get("status").and_then(Value::as_str) != Some("running") {
            if terminal {
                eprint!("\r{:40}\r", "");
            }
            return Ok(o);
        }
        if terminal {
            let done = o["progress"]["fraction"].as_f64().map(|f| format!(", {:.0}% read", f * 100.0)).unwrap_or_default();
            let pass = match (o["progress"]["pass"].as_u64(), o["progress"]["passes"].as_u64()) {
                (Some(p), Some(n)) if n > 1 => format!(" (pass {p} of {n})"),
                _ => String::new(),
            };
            eprint!("\rapplying the recipe… {} s{done}{pass}    ", started.elapsed().as_secs());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// A version of a dataset by its id (`dataset_version_id` of an upload): usually the latest,
/// else found in the list of versions.
async fn version_by_id(api: &mut Api, dataset_id: &str, version_id: &str) -> Result<Value> {
    let latest = resolve_version(api, dataset_id, None).await?;
    let v = api.get(&version_path(dataset_id, latest), &[]).await?;
    if v.get("id").and_then(Value::as_str) == Some(version_id) {
        return Ok(v);
    }
    let all = ListArgs { limit: None, after: None, all: true };
    let versions = paging::fetch_by(api, &format!("{}/versions", dataset_path(dataset_id)), &[], &all, "version").await?;
    output::items(&versions)
        .iter()
        .find(|v| v.get("id").and_then(Value::as_str) == Some(version_id))
        .cloned()
        .with_context(|| format!("dataset {dataset_id} has no version {version_id}"))
}

fn show_dataset(ctx: &Context, d: &Value) {
    if ctx.json {
        output::json(d);
        return;
    }
    print_kv(&[
        ("id", s(d, "id")),
        ("name", s(d, "name")),
        ("description", s(d, "description")),
        ("latest version", s(d, "latest_version")),
        ("visibility", s(d, "visibility")),
        ("shared with", output::list(d, "shared_with")),
        ("project", s(d, "project_id")),
        ("my permissions", output::list(d, "my_permissions")),
        ("created by", s(d, "created_by")),
        ("created", time(d, "created_at")),
        ("updated", time(d, "updated_at")),
    ]);
}

/// `jsonl/chat` from a version's format.
fn format_name(v: &Value) -> String {
    let f = v.get("format").cloned().unwrap_or(Value::Null);
    match (f.get("container").and_then(Value::as_str), f.get("schema").and_then(Value::as_str)) {
        (Some(c), Some(sc)) => format!("{c}/{sc}"),
        (Some(c), None) => c.to_string(),
        _ => "-".into(),
    }
}

fn size(v: &Value) -> String {
    v.get("bytes").and_then(Value::as_u64).map(output::bytes).unwrap_or_else(|| "-".into())
}

/// `invalid_json 1, empty_assistant_turn 1`, most frequent first, or `none`.
fn error_counts(counts: Option<&Value>) -> String {
    let mut pairs: Vec<(String, u64)> = counts
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0))).collect())
        .unwrap_or_default();
    if pairs.is_empty() {
        return "none".into();
    }
    pairs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    pairs.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")
}

fn print_lineage(l: &Value) {
    let none = Value::Null;
    let v = l.get("version").unwrap_or(&none);
    println!("Version {} of dataset {} ({})", s(v, "version"), s(v, "dataset_id"), s(v, "id"));
    let mut t = Table::new(&["RELATION", "VERSION", "ID", "FILE", "RECORDS", "RECIPE", "CREATED"]);
    let mut add = |relation: &str, v: &Value| {
        let recipe = match v.get("recipe") {
            None | Some(Value::Null) => "-".into(),
            Some(r) => r.to_string(),
        };
        t.row(vec![relation.into(), s(v, "version"), s(v, "id"), s(v, "filename"), s(v, "records"), recipe, time(v, "created_at")]);
    };
    let list = |key: &str| l.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    let (ancestors, descendants) = (list("ancestors"), list("descendants"));
    for a in ancestors.iter().rev() {
        add("ancestor", a);
    }
    add("this", v);
    for d in &descendants {
        add("descendant", d);
    }
    t.print();
    if ancestors.is_empty() {
        println!("(an original upload: no parent version)");
    }
}
