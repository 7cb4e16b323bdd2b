//! `tunery eval human …`: human evaluation. `create` sets up a task (rubric or pairwise) over
//! evaluations on one test set with its raters; `rate` walks the caller's items in the
//! terminal (blind: the answers under the labels A, B, …), asking the scores or the preference,
//! error tags and a flag; `results` prints means with intervals and the raters' agreement;
//! `export` turns pairwise preferences into a DPO dataset; `list`, `show`, `close`, `reopen`,
//! `delete` manage tasks.

use crate::client::context::Context;
use crate::client::http::{seg, set_given, Api};
use crate::client::output::{self, print_kv, s, time, Table};
use crate::client::paging::{self, ListArgs};
use anyhow::{bail, Result};
use serde_json::{json, Map, Value};
use std::io::{BufRead, Write};

#[derive(Debug, clap::Subcommand)]
pub enum HumanCommand {
    /// Create a human evaluation of evaluations on one test set (two with --pairwise).
    Create(CreateArgs),
    /// List human evaluations, newest first.
    List {
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show a human evaluation.
    Show { id: String },
    /// Rate your items in the terminal, one after another (answers shown blind).
    Rate { id: String },
    /// Results: means with 95% intervals, score histograms, agreement, tags and flags.
    Results { id: String },
    /// Stop taking ratings (results become visible to every viewer).
    Close { id: String },
    /// Take ratings again.
    Reopen { id: String },
    /// Export a pairwise task's preferences as a DPO dataset (a new one, or a new version).
    Export {
        id: String,
        /// A new dataset with this name …
        #[arg(long, conflicts_with = "dataset", required_unless_present = "dataset")]
        name: Option<String>,
        /// … or a new version of this dataset.
        #[arg(long)]
        dataset: Option<String>,
    },
    /// Delete a human evaluation and its ratings.
    Delete { id: String },
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The evaluations whose answers are rated (1 to 8; exactly 2 with --pairwise).
    #[arg(num_args = 1..=8, required = true)]
    pub ids: Vec<String>,
    /// Ask which of two answers is better instead of scoring each.
    #[arg(long)]
    pub pairwise: bool,
    /// Rubric criteria as NAME or NAME:MIN-MAX, comma-separated [default: relevance,
    /// fluency, factual_accuracy on 0-5].
    #[arg(long, value_delimiter = ',')]
    pub criteria: Vec<String>,
    /// Error tags raters may choose, comma-separated [default: hallucination, incomplete,
    /// off_topic, wrong_language, formatting, unsafe].
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Raters by user id, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub raters: Vec<String>,
    /// Raters by role where the task lives (admin, researcher, developer, viewer).
    #[arg(long, value_delimiter = ',')]
    pub rater_roles: Vec<String>,
    /// Rate a random sample of this many examples.
    #[arg(long)]
    pub sample: Option<u32>,
    /// Shown to raters with every item.
    #[arg(long)]
    pub instructions: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, value_name = "PROJECT_ID")]
    pub project: Option<String>,
}

fn path(id: &str) -> String {
    format!("/api/v1/human-evals/{}", seg(id))
}

/// `NAME` or `NAME:MIN-MAX` as a criterion.
fn criterion(spec: &str) -> Result<Value> {
    let Some((name, scale)) = spec.split_once(':') else {
        return Ok(json!({"name": spec.trim()}));
    };
    let parsed = scale.split_once('-').and_then(|(lo, hi)| Some((lo.trim().parse::<i64>().ok()?, hi.trim().parse::<i64>().ok()?)));
    match parsed {
        Some((min, max)) => Ok(json!({"name": name.trim(), "min": min, "max": max})),
        None => bail!("--criteria: '{spec}' is not NAME or NAME:MIN-MAX (e.g. clarity:1-5)"),
    }
}

pub async fn run(ctx: &Context, api: &mut Api, cmd: HumanCommand) -> Result<u8> {
    match cmd {
        HumanCommand::Create(a) => {
            let mode = if a.pairwise { "pairwise" } else { "rubric" };
            let mut body = json!({"evaluation_ids": a.ids, "mode": mode, "raters": {"users": a.raters, "roles": a.rater_roles}});
            let criteria =
                if a.criteria.is_empty() { None } else { Some(a.criteria.iter().map(|c| criterion(c)).collect::<Result<Vec<_>>>()?) };
            set_given(
                &mut body,
                [
                    ("criteria", criteria.map(Value::from)),
                    ("error_tags", (!a.tags.is_empty()).then(|| Value::from(a.tags.clone()))),
                    ("sample", a.sample.map(Value::from)),
                    ("instructions", a.instructions.map(Value::from)),
                    ("name", a.name.map(Value::from)),
                    ("project_id", a.project.map(Value::from)),
                ],
            );
            show(ctx, &api.post("/api/v1/human-evals", &body).await?);
        }
        HumanCommand::List { list } => {
            let list = paging::fetch(api, "/api/v1/human-evals", &[], &list).await?;
            if ctx.json {
                output::json(&list);
            } else {
                let mut t = Table::new(&["ID", "NAME", "MODE", "STATE", "ITEMS", "CREATED"]);
                for h in output::items(&list) {
                    t.row(vec![s(h, "id"), s(h, "name"), s(h, "mode"), s(h, "state"), s(h, "items"), time(h, "created_at")]);
                }
                t.print();
                paging::hint_more(&list);
            }
        }
        HumanCommand::Show { id } => show(ctx, &api.get(&path(&id), &[]).await?),
        HumanCommand::Rate { id } => return rate(ctx, api, &id).await,
        HumanCommand::Results { id } => {
            let r = api.get(&format!("{}/results", path(&id)), &[]).await?;
            if ctx.json {
                output::json(&r);
            } else {
                show_results(&r);
            }
        }
        HumanCommand::Close { id } => show(ctx, &api.post(&format!("{}/close", path(&id)), &json!({})).await?),
        HumanCommand::Reopen { id } => show(ctx, &api.post(&format!("{}/reopen", path(&id)), &json!({})).await?),
        HumanCommand::Export { id, name, dataset } => {
            let mut body = json!({});
            set_given(&mut body, [("name", name.map(Value::from)), ("dataset_id", dataset.map(Value::from))]);
            let made = api.post(&format!("{}/export", path(&id)), &body).await?;
            if ctx.json {
                output::json(&made);
            } else {
                println!(
                    "dataset {} version {}: {} preference pairs",
                    s(&made["dataset"], "id"),
                    s(&made["version"], "version"),
                    s(&made["version"], "records")
                );
            }
        }
        HumanCommand::Delete { id } => {
            api.delete(&path(&id)).await?;
            if !ctx.json {
                println!("deleted human evaluation {id}");
            }
        }
    }
    Ok(0)
}

fn show(ctx: &Context, v: &Value) {
    if ctx.json {
        output::json(v);
        return;
    }
    let criteria: Vec<String> =
        v["criteria"].as_array().into_iter().flatten().map(|c| format!("{} ({}-{})", s(c, "name"), s(c, "min"), s(c, "max"))).collect();
    let list = |x: &Value| x.as_array().map(|a| a.iter().map(|v| v.as_str().unwrap_or("").to_string()).collect::<Vec<_>>().join(", "));
    print_kv(&[
        ("id", s(v, "id")),
        ("name", s(v, "name")),
        ("mode", s(v, "mode")),
        ("state", s(v, "state")),
        ("items", s(v, "items")),
        ("evaluations", list(&v["evaluation_ids"]).unwrap_or_default()),
        ("criteria", criteria.join(", ")),
        (
            "raters",
            format!(
                "users: {}; roles: {}",
                list(&v["raters"]["users"]).unwrap_or_default(),
                list(&v["raters"]["roles"]).unwrap_or_default()
            ),
        ),
    ]);
}

/// Reads one answer from the terminal; None at the end of input.
fn ask(question: &str) -> Result<Option<String>> {
    print!("{question}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        return Ok(None);
    }
    Ok(Some(line.trim().to_string()))
}

/// What the rater typed for one question.
enum Typed {
    Value(String),
    Skip,
    Quit,
}

/// Asks until the answer passes `accept` (`s` skips the item, `q` or the end of input quits).
fn ask_until(question: &str, accept: impl Fn(&str) -> bool) -> Result<Typed> {
    loop {
        match ask(question)?.as_deref() {
            None | Some("q") => return Ok(Typed::Quit),
            Some("s") => return Ok(Typed::Skip),
            Some(a) if accept(a) => return Ok(Typed::Value(a.to_string())),
            Some(a) => println!("  '{a}' is not an answer here"),
        }
    }
}

/// `tunery eval human rate`: the caller's items one by one until none is left or they quit.
async fn rate(ctx: &Context, api: &mut Api, id: &str) -> Result<u8> {
    let task = api.get(&path(id), &[]).await?;
    let pairwise = task["mode"] == "pairwise";
    let tags: Vec<String> = task["error_tags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_string)).collect();
    if let Some(i) = task["instructions"].as_str().filter(|i| !i.is_empty()) {
        println!("{i}\n");
    }
    loop {
        let page = api.get(&format!("{}/next", path(id)), &[]).await?;
        let p = &page["progress"];
        let Some(item) = page["item"].as_object() else {
            println!("all {} items done ({} rated, {} skipped)", s(p, "items"), s(p, "rated"), s(p, "skipped"));
            return Ok(0);
        };
        println!("\n── item {} ({} of {}) ──", s(&page["item"], "item"), s(&page["item"], "position"), s(p, "items"));
        for m in item["prompt"].as_array().into_iter().flatten() {
            println!("[{}] {}", s(m, "role"), s(m, "content"));
        }
        println!("[reference] {}", item["references"].get(0).and_then(Value::as_str).unwrap_or("-"));
        let labels: Vec<String> = item["answers"].as_array().into_iter().flatten().map(|a| s(a, "label")).collect();
        for a in item["answers"].as_array().into_iter().flatten() {
            println!("[{}] {}", s(a, "label"), s(a, "text"));
        }
        let mut body = json!({"item": item["item"]});
        let mut answers = Map::new();
        let outcome = if pairwise {
            let typed = ask_until("better answer: A, B or tie (s skip, q quit): ", |a| ["A", "B", "tie"].contains(&a))?;
            if let Typed::Value(v) = &typed {
                body["preference"] = v.clone().into();
            }
            typed
        } else {
            let mut typed = Typed::Value(String::new());
            'answers: for label in &labels {
                let mut scores = Map::new();
                for c in task["criteria"].as_array().into_iter().flatten() {
                    let (lo, hi) = (c["min"].as_i64().unwrap_or(0), c["max"].as_i64().unwrap_or(5));
                    let q = format!("{label} {} ({lo}-{hi}; s skip, q quit): ", s(c, "name"));
                    match ask_until(&q, |a| a.parse::<i64>().is_ok_and(|v| (lo..=hi).contains(&v)))? {
                        Typed::Value(v) => {
                            scores.insert(s(c, "name"), v.parse::<i64>().unwrap_or(lo).into());
                        }
                        other => {
                            typed = other;
                            break 'answers;
                        }
                    }
                }
                answers.insert(label.clone(), json!({"scores": scores}));
            }
            typed
        };
        match outcome {
            Typed::Quit => {
                println!("stopped; `tunery eval human rate {id}` goes on where you left");
                return Ok(0);
            }
            Typed::Skip => body["skip"] = true.into(),
            Typed::Value(_) => {
                for label in &labels {
                    let q = format!("{label} error tags, comma-separated ({}; empty: none): ", tags.join(", "));
                    let chosen =
                        ask_until(&q, |a| a.split(',').map(str::trim).filter(|t| !t.is_empty()).all(|t| tags.iter().any(|x| x == t)))?;
                    if let Typed::Value(v) = chosen {
                        let picked: Vec<&str> = v.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
                        if !picked.is_empty() {
                            let entry = answers.entry(label.clone()).or_insert_with(|| json!({}));
                            entry["tags"] = json!(picked);
                        }
                    }
                }
                if !answers.is_empty() {
                    body["answers"] = Value::Object(answers);
                }
            }
        }
        if let Some(flag) = ask("flag this item? a reason, or empty: ")?.filter(|f| !f.is_empty()) {
            body["flag"] = flag.into();
        }
        let saved = api.post(&format!("{}/ratings", path(id)), &body).await?;
        if ctx.json {
            output::json(&saved);
        }
    }
}

fn number(v: &Value) -> String {
    v.as_f64().map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into())
}

fn interval(v: &Value) -> String {
    match v.as_array() {
        Some(i) if i.len() == 2 => format!("{}–{}", number(&i[0]), number(&i[1])),
        _ => "-".into(),
    }
}

fn show_results(r: &Value) {
    let models: Vec<String> = r["models"].as_array().into_iter().flatten().map(|m| s(m, "name")).collect();
    println!("{} items, {} raters, {}", s(r, "items"), r["raters"].as_array().map(Vec::len).unwrap_or(0), s(r, "state"));
    for rater in r["raters"].as_array().into_iter().flatten() {
        println!(
            "  {} ({}): {} rated, {} skipped, {} flagged",
            s(rater, "name"),
            s(rater, "rater_id"),
            s(rater, "rated"),
            s(rater, "skipped"),
            s(rater, "flagged")
        );
    }
    let f = &r["figures"];
    let agreement = |a: &Value, alpha: &str| {
        let kappa = a["cohen_kappa"]
            .get("kappa")
            .map(number)
            .map(|k| format!(", {} kappa {k}", s(&a["cohen_kappa"], "weights")))
            .unwrap_or_default();
        format!("alpha {}{kappa}", number(&a[alpha]))
    };
    if r["mode"] == "pairwise" {
        let mut t = Table::new(&["MODEL", "VOTES", "PREFERRED", "95% INTERVAL"]);
        for m in f["models"].as_array().into_iter().flatten() {
            let name = models.get(m["position"].as_u64().unwrap_or(0) as usize).cloned().unwrap_or_default();
            t.row(vec![name, s(m, "votes"), number(&m["preferred_share"]), interval(&m["interval"])]);
        }
        t.print();
        println!(
            "{} ties; answer shown first chosen {}; agreement: {}",
            s(f, "ties"),
            number(&f["first_shown_chosen"]),
            agreement(&f["agreement"], "krippendorff_alpha_nominal")
        );
    } else {
        let mut t = Table::new(&["CRITERION", "MODEL", "MEAN", "95% INTERVAL", "RATINGS", "AGREEMENT"]);
        for c in f["criteria"].as_array().into_iter().flatten() {
            for m in c["models"].as_array().into_iter().flatten() {
                let name = models.get(m["position"].as_u64().unwrap_or(0) as usize).cloned().unwrap_or_default();
                t.row(vec![
                    s(c, "name"),
                    name,
                    number(&m["mean"]),
                    interval(&m["interval"]),
                    s(m, "ratings"),
                    agreement(&c["agreement"], "krippendorff_alpha_interval"),
                ]);
            }
        }
        t.print();
    }
    for tag in r["error_tags"].as_array().into_iter().flatten() {
        let counts: Vec<String> = tag["counts"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(&models)
            .filter(|(n, _)| n.as_u64() != Some(0))
            .map(|(n, m)| format!("{m} {n}"))
            .collect();
        if !counts.is_empty() {
            println!("tag {}: {}", s(tag, "tag"), counts.join(", "));
        }
    }
    for flag in r["flags"].as_array().into_iter().flatten() {
        println!("flagged item {} by {}: {}", s(flag, "item"), s(flag, "rater_id"), s(flag, "text"));
    }
}
