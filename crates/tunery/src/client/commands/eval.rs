//! `tunery eval score --predictions FILE --metrics …`: scores a predictions file generated
//! anywhere, computed here by the binary with the `metrics` crate (no server, no login). The
//! file is JSONL: one `{"prediction": "...", "reference": "..."}` or `{"prediction": "...",
//! "references": ["...", ...]}` per line.

use crate::client::context::Context;
use crate::client::output::{self, Table};
use anyhow::{bail, Context as _, Result};
use metrics::BleuTokenizer;
use serde_json::{json, Map, Value};

#[derive(Debug, clap::Subcommand)]
pub enum EvalCommand {
    /// Score a predictions file (JSONL with `prediction` and `reference` or `references`).
    Score(ScoreArgs),
}

#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// The JSONL file of predictions and references.
    #[arg(long)]
    pub predictions: std::path::PathBuf,
    /// Comma-separated: bleu, chrf, chrf++, rouge (rouge1, rouge2, rougeL, rougeLsum), rouge1,
    /// rouge2, rougeL, rougeLsum, exact_match, f1, accuracy, macro_f1, distinct-1, distinct-2,
    /// self_bleu.
    #[arg(long, value_delimiter = ',', default_value = "bleu,chrf,rouge")]
    pub metrics: Vec<String>,
    /// How BLEU, distinct-n and self-BLEU split text: 13a (sacreBLEU's default), zh (every
    /// Chinese character a token) or none (already tokenized).
    #[arg(long, default_value = "13a", value_parser = ["13a", "zh", "none"])]
    pub tokenize: String,
}

/// One example of the file.
struct Example {
    prediction: String,
    references: Vec<String>,
}

/// Reads the file; an error names the line and the field.
fn read_examples(path: &std::path::Path) -> Result<Vec<Example>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).with_context(|| format!("{} line {at}: not JSON", path.display()))?;
        let Some(object) = value.as_object() else { bail!("{} line {at}: expected an object", path.display()) };
        let Some(prediction) = object.get("prediction").and_then(Value::as_str) else {
            bail!("{} line {at}: `prediction` must be a string", path.display())
        };
        let references = match (object.get("reference"), object.get("references")) {
            (Some(Value::String(r)), None) => vec![r.clone()],
            (None, Some(Value::Array(rs))) if !rs.is_empty() => rs
                .iter()
                .map(|r| r.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .with_context(|| format!("{} line {at}: `references` must be a list of strings", path.display()))?,
            _ => bail!("{} line {at}: give `reference` (a string) or `references` (a non-empty list of strings), not both", path.display()),
        };
        out.push(Example { prediction: prediction.to_string(), references });
    }
    if out.is_empty() {
        bail!("{}: no examples", path.display());
    }
    Ok(out)
}

fn tokenizer(name: &str) -> BleuTokenizer {
    match name {
        "zh" => BleuTokenizer::Zh,
        "none" => BleuTokenizer::None,
        _ => BleuTokenizer::ThirteenA,
    }
}

/// The reference streams of BLEU and chrF (`streams[k][i]`): every example needs as many.
fn streams<'a>(examples: &'a [Example], metric: &str) -> Result<Vec<Vec<&'a str>>> {
    let k = examples[0].references.len();
    if let Some((i, e)) = examples.iter().enumerate().find(|(_, e)| e.references.len() != k) {
        bail!("{metric}: example {} has {} references, the first has {k}; give every example as many", i + 1, e.references.len());
    }
    Ok((0..k).map(|j| examples.iter().map(|e| e.references[j].as_str()).collect()).collect())
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// One metric's result: its score and what it was computed with.
fn score(examples: &[Example], metric: &str, tokenize: &str) -> Result<Vec<(String, Value)>> {
    let predictions: Vec<&str> = examples.iter().map(|e| e.prediction.as_str()).collect();
    let firsts: Vec<&str> = examples.iter().map(|e| e.references[0].as_str()).collect();
    let tok = tokenizer(tokenize);
    let one = |score: f64, how: Value| -> Vec<(String, Value)> {
        let mut v = Map::new();
        v.insert("score".into(), json!(score));
        if let Value::Object(how) = how {
            v.extend(how);
        }
        vec![(metric.to_string(), Value::Object(v))]
    };
    let rouge = |name: &str, f: fn(&str, &str) -> metrics::RougeScore| -> (String, Value) {
        let scores: Vec<metrics::RougeScore> = examples
            .iter()
            .map(|e| e.references.iter().map(|r| f(r, &e.prediction)).fold(None, best).unwrap_or(metrics::RougeScore::ZERO))
            .collect();
        let value = json!({
            "score": 100.0 * mean(scores.iter().map(|s| s.fmeasure)),
            "precision": 100.0 * mean(scores.iter().map(|s| s.precision)),
            "recall": 100.0 * mean(scores.iter().map(|s| s.recall)),
            "implementation": "rouge-score 0.1.2 (no stemmer; a-z0-9 tokens), F1 averaged over examples, best reference each",
        });
        (name.to_string(), value)
    };
    Ok(match metric {
        "bleu" => {
            let b = metrics::corpus_bleu_with(&predictions, &streams(examples, metric)?, tok).map_err(anyhow::Error::msg)?;
            one(
                b.score,
                json!({"tokenize": tok.name(), "brevity_penalty": b.brevity_penalty, "precisions": b.precisions, "sys_len": b.sys_len,
                       "ref_len": b.ref_len, "implementation": "sacreBLEU 2.5.1 corpus BLEU (exp smoothing)"}),
            )
        }
        "chrf" | "chrf++" => {
            let chrf = if metric == "chrf" { metrics::Chrf::default() } else { metrics::Chrf::plus_plus() };
            let s = chrf.corpus_score(&predictions, &streams(examples, metric)?).map_err(anyhow::Error::msg)?;
            one(s, json!({"char_order": chrf.char_order, "word_order": chrf.word_order, "beta": chrf.beta, "implementation": "sacreBLEU 2.5.1 CHRF"}))
        }
        "rouge" => vec![
            rouge("rouge1", |t, p| metrics::rouge_n(t, p, 1)),
            rouge("rouge2", |t, p| metrics::rouge_n(t, p, 2)),
            rouge("rougeL", metrics::rouge_l),
            rouge("rougeLsum", metrics::rouge_lsum),
        ],
        "rouge1" => vec![rouge("rouge1", |t, p| metrics::rouge_n(t, p, 1))],
        "rouge2" => vec![rouge("rouge2", |t, p| metrics::rouge_n(t, p, 2))],
        "rougeL" => vec![rouge("rougeL", metrics::rouge_l)],
        "rougeLsum" => vec![rouge("rougeLsum", metrics::rouge_lsum)],
        "exact_match" => {
            let s = 100.0 * mean(examples.iter().map(|e| metrics::exact_match(&e.prediction, &refs(e))));
            one(s, json!({"implementation": "SQuAD v1.1 (normalised answers), best reference each"}))
        }
        "f1" => {
            let s = 100.0 * mean(examples.iter().map(|e| metrics::token_f1(&e.prediction, &refs(e))));
            one(s, json!({"implementation": "SQuAD v1.1 token F1, best reference each"}))
        }
        "accuracy" | "macro_f1" => {
            let c = metrics::classification(&firsts, &predictions).map_err(anyhow::Error::msg)?;
            let (s, what) = if metric == "accuracy" { (c.accuracy, "accuracy") } else { (c.macro_f1, "macro F1") };
            one(100.0 * s, json!({"implementation": format!("scikit-learn {what} (labels compared as written; the first reference)")}))
        }
        "distinct-1" | "distinct-2" => {
            let n = if metric == "distinct-1" { 1 } else { 2 };
            one(metrics::distinct_n(&predictions, n, tok), json!({"tokenize": tok.name(), "implementation": "distinct n-grams / all n-grams"}))
        }
        "self_bleu" => {
            let s = metrics::self_bleu(&predictions, tok).map_err(anyhow::Error::msg)?;
            one(s, json!({"tokenize": tok.name(), "implementation": "mean sacreBLEU sentence BLEU of each prediction against the others"}))
        }
        other => bail!("unknown metric '{other}' (use bleu, chrf, chrf++, rouge, rouge1, rouge2, rougeL, rougeLsum, exact_match, f1, accuracy, macro_f1, distinct-1, distinct-2, self_bleu)"),
    })
}

fn best(a: Option<metrics::RougeScore>, b: metrics::RougeScore) -> Option<metrics::RougeScore> {
    Some(match a {
        Some(a) if a.fmeasure >= b.fmeasure => a,
        _ => b,
    })
}

fn refs(e: &Example) -> Vec<&str> {
    e.references.iter().map(String::as_str).collect()
}

pub fn run(ctx: &Context, cmd: EvalCommand) -> Result<u8> {
    let EvalCommand::Score(a) = cmd;
    let examples = read_examples(&a.predictions)?;
    let mut results = Map::new();
    for metric in &a.metrics {
        for (name, value) in score(&examples, metric.trim(), &a.tokenize)? {
            results.insert(name, value);
        }
    }
    if ctx.json {
        output::json(&json!({"object": "evaluation.scores", "examples": examples.len(), "metrics": results}));
        return Ok(0);
    }
    let mut t = Table::new(&["METRIC", "SCORE", "COMPUTED AS"]);
    for (name, v) in &results {
        let score = v["score"].as_f64().map(|s| format!("{s:.2}")).unwrap_or_default();
        t.row(vec![name.clone(), score, v["implementation"].as_str().unwrap_or_default().to_string()]);
    }
    t.print();
    println!("{} examples", examples.len());
    Ok(0)
}
