//! Metrics by name over a list of examples — what `tunery eval score` prints and what an
//! evaluation stores: each metric's corpus score, what it was computed with, its score per
//! example where it has one, and a bootstrap confidence interval of the corpus score where the
//! metric can be recomputed on a resample (BLEU and chrF from summed segment statistics, the
//! others as means or, for macro F1, anew).

use crate::bleu::{BleuStats, BleuTokenizer};
use crate::chrf::Chrf;
use crate::rouge::RougeScore;
use serde_json::{json, Map, Value};

/// One example: a prediction and its references (one or more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub prediction: String,
    pub references: Vec<String>,
}

/// The names [`score`] takes (`rouge` is rouge1, rouge2, rougeL and rougeLsum together).
pub const METRIC_NAMES: &[&str] = &[
    "bleu",
    "chrf",
    "chrf++",
    "rouge",
    "rouge1",
    "rouge2",
    "rougeL",
    "rougeLsum",
    "exact_match",
    "f1",
    "accuracy",
    "macro_f1",
    "distinct-1",
    "distinct-2",
    "self_bleu",
];

/// An error for a name that is not in [`METRIC_NAMES`].
pub fn check_metric(name: &str) -> Result<(), String> {
    if METRIC_NAMES.contains(&name) {
        Ok(())
    } else {
        Err(format!("unknown metric '{name}' (use {})", METRIC_NAMES.join(", ")))
    }
}

/// Percentile bootstrap of a corpus score: `resamples` samples of the examples drawn with
/// replacement by a seeded generator, so the same seed gives the same interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bootstrap {
    pub resamples: u32,
    /// 0.5–0.999 (0.95: the 2.5th and 97.5th percentiles).
    pub confidence: f64,
    pub seed: u64,
}

impl Default for Bootstrap {
    fn default() -> Bootstrap {
        Bootstrap { resamples: 1000, confidence: 0.95, seed: 12345 }
    }
}

/// One metric's result.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricScore {
    pub name: String,
    /// The corpus score (0–100 for every metric but distinct-n, a 0–1 ratio).
    pub score: f64,
    /// The bootstrap interval of `score`, when asked for and the metric has one.
    pub interval: Option<[f64; 2]>,
    /// The score of each example (sentence BLEU, sentence chrF, ROUGE F1, 0/100 for a match…),
    /// for metrics defined per example.
    pub per_example: Option<Vec<f64>>,
    /// What it was computed with: `implementation`, `tokenize`, and the metric's parts.
    pub details: Map<String, Value>,
}

/// Reads predictions JSONL: one `{"prediction": "...", "reference": "..."}` or
/// `{"prediction": "...", "references": ["...", ...]}` per line; an error names the line and the
/// field (`source` names the file in it).
pub fn parse_jsonl(text: &str, source: &str) -> Result<Vec<Example>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|e| format!("{source} line {at}: not JSON ({e})"))?;
        let Some(object) = value.as_object() else { return Err(format!("{source} line {at}: expected an object")) };
        let Some(prediction) = object.get("prediction").and_then(Value::as_str) else {
            return Err(format!("{source} line {at}: `prediction` must be a string"));
        };
        let references = match (object.get("reference"), object.get("references")) {
            (Some(Value::String(r)), None) => vec![r.clone()],
            (None, Some(Value::Array(rs))) if !rs.is_empty() => rs
                .iter()
                .map(|r| r.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("{source} line {at}: `references` must be a list of strings"))?,
            _ => {
                return Err(format!(
                    "{source} line {at}: give `reference` (a string) or `references` (a non-empty list of strings), not both"
                ))
            }
        };
        out.push(Example { prediction: prediction.to_string(), references });
    }
    if out.is_empty() {
        return Err(format!("{source}: no examples"));
    }
    Ok(out)
}

/// Scores `examples` with the metric `name` (`rouge` gives four results).
pub fn score(examples: &[Example], name: &str, tokenize: BleuTokenizer, bootstrap: Option<Bootstrap>) -> Result<Vec<MetricScore>, String> {
    check_metric(name)?;
    if examples.is_empty() {
        return Err("no examples to score".into());
    }
    let predictions: Vec<&str> = examples.iter().map(|e| e.prediction.as_str()).collect();
    let n = examples.len();
    let with_interval = |corpus: &dyn Fn(&[usize]) -> f64| bootstrap.map(|b| interval(n, b, corpus));
    let result = |name: &str, score: f64, interval, per_example, details: Value| MetricScore {
        name: name.to_string(),
        score,
        interval,
        per_example,
        details: match details {
            Value::Object(m) => m,
            _ => Map::new(),
        },
    };
    Ok(match name {
        "bleu" => {
            same_reference_count(examples, name)?;
            let stats: Vec<BleuStats> = examples.iter().map(|e| BleuStats::of(&e.prediction, &refs(e), tokenize)).collect();
            let corpus = |idx: &[usize]| sum_bleu(idx.iter().map(|i| &stats[*i])).corpus().score;
            let all = sum_bleu(stats.iter()).corpus();
            let per = stats.iter().map(|s| s.sentence().score).collect();
            let details = json!({"tokenize": tokenize.name(), "brevity_penalty": all.brevity_penalty, "precisions": all.precisions,
                "sys_len": all.sys_len, "ref_len": all.ref_len, "implementation": "sacreBLEU 2.5.1 corpus BLEU (exp smoothing)",
                "per_example": "sentence BLEU (effective order)"});
            vec![result(name, all.score, with_interval(&corpus), Some(per), details)]
        }
        "chrf" | "chrf++" => {
            same_reference_count(examples, name)?;
            let chrf = if name == "chrf" { Chrf::default() } else { Chrf::plus_plus() };
            let stats: Vec<Vec<u64>> = examples.iter().map(|e| chrf.segment_stats(&e.prediction, &refs(e))).collect();
            let width = 3 * (chrf.char_order + chrf.word_order);
            let sum = |idx: &mut dyn Iterator<Item = &Vec<u64>>| {
                let mut total = vec![0u64; width];
                for s in idx {
                    for (t, v) in total.iter_mut().zip(s) {
                        *t += v;
                    }
                }
                chrf.score_of(&total)
            };
            let corpus = |idx: &[usize]| sum(&mut idx.iter().map(|i| &stats[*i]));
            let per = examples.iter().map(|e| chrf.sentence_score(&e.prediction, &refs(e))).collect();
            let details = json!({"char_order": chrf.char_order, "word_order": chrf.word_order, "beta": chrf.beta,
                "implementation": "sacreBLEU 2.5.1 CHRF"});
            vec![result(name, sum(&mut stats.iter()), with_interval(&corpus), Some(per), details)]
        }
        "rouge" => ["rouge1", "rouge2", "rougeL", "rougeLsum"].iter().map(|r| rouge(examples, r, bootstrap)).collect(),
        "rouge1" | "rouge2" | "rougeL" | "rougeLsum" => vec![rouge(examples, name, bootstrap)],
        "exact_match" | "f1" => {
            let per: Vec<f64> = examples
                .iter()
                .map(|e| if name == "f1" { crate::token_f1(&e.prediction, &refs(e)) } else { crate::exact_match(&e.prediction, &refs(e)) })
                .collect();
            let implementation = if name == "f1" {
                "SQuAD v1.1 token F1, best reference each"
            } else {
                "SQuAD v1.1 (normalised answers), best reference each"
            };
            vec![mean_result(name, per, bootstrap, json!({"implementation": implementation}))]
        }
        "accuracy" => {
            let per: Vec<f64> = examples.iter().map(|e| if e.prediction == e.references[0] { 1.0 } else { 0.0 }).collect();
            vec![mean_result(
                name,
                per,
                bootstrap,
                json!({"implementation": "scikit-learn accuracy (labels compared as written; the first reference)"}),
            )]
        }
        "macro_f1" => {
            let firsts: Vec<&str> = examples.iter().map(|e| e.references[0].as_str()).collect();
            let all = crate::classification(&firsts, &predictions)?;
            let corpus = |idx: &[usize]| {
                let (r, p): (Vec<&str>, Vec<&str>) = idx.iter().map(|i| (firsts[*i], predictions[*i])).unzip();
                crate::classification(&r, &p).map(|c| 100.0 * c.macro_f1).unwrap_or(0.0)
            };
            let details = json!({"implementation": "scikit-learn macro F1 (labels compared as written; the first reference)",
                "micro_f1": 100.0 * all.micro_f1, "macro_precision": 100.0 * all.macro_precision, "macro_recall": 100.0 * all.macro_recall});
            vec![result(name, 100.0 * all.macro_f1, with_interval(&corpus), None, details)]
        }
        "distinct-1" | "distinct-2" => {
            let order = if name == "distinct-1" { 1 } else { 2 };
            let details = json!({"tokenize": tokenize.name(), "implementation": "distinct n-grams / all n-grams of the predictions"});
            vec![result(name, crate::distinct_n(&predictions, order, tokenize), None, None, details)]
        }
        "self_bleu" => {
            let details = json!({"tokenize": tokenize.name(), "implementation": "mean sacreBLEU sentence BLEU of each prediction against the others"});
            vec![result(name, crate::self_bleu(&predictions, tokenize)?, None, None, details)]
        }
        _ => unreachable!("checked by check_metric"),
    })
}

fn refs(e: &Example) -> Vec<&str> {
    e.references.iter().map(String::as_str).collect()
}

fn sum_bleu<'a>(stats: impl Iterator<Item = &'a BleuStats>) -> BleuStats {
    let mut sum = BleuStats::default();
    for s in stats {
        sum.add(s);
    }
    sum
}

/// BLEU and chrF read references as streams (sacreBLEU's shape): every example needs as many.
fn same_reference_count(examples: &[Example], metric: &str) -> Result<(), String> {
    let k = examples[0].references.len();
    match examples.iter().enumerate().find(|(_, e)| e.references.len() != k) {
        Some((i, e)) => {
            Err(format!("{metric}: example {} has {} references, the first has {k}; give every example as many", i + 1, e.references.len()))
        }
        None => Ok(()),
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// A metric that is the mean of its per-example scores (given 0–1, shown 0–100: the mean is
/// taken first, as the references do, then scaled).
fn mean_result(name: &str, per: Vec<f64>, bootstrap: Option<Bootstrap>, details: Value) -> MetricScore {
    let corpus = |idx: &[usize]| 100.0 * (idx.iter().map(|i| per[*i]).sum::<f64>() / idx.len() as f64);
    let interval = bootstrap.map(|b| interval(per.len(), b, &corpus));
    let Value::Object(details) = details else { unreachable!("details are an object") };
    let score = 100.0 * mean(&per);
    MetricScore { name: name.to_string(), score, interval, per_example: Some(per.iter().map(|v| 100.0 * v).collect()), details }
}

/// ROUGE F1 averaged over examples (each against its best reference), as `rouge-score`'s
/// scorer and aggregator are used for a corpus.
fn rouge(examples: &[Example], name: &str, bootstrap: Option<Bootstrap>) -> MetricScore {
    let f: fn(&str, &str) -> RougeScore = match name {
        "rouge1" => |t, p| crate::rouge_n(t, p, 1),
        "rouge2" => |t, p| crate::rouge_n(t, p, 2),
        "rougeL" => crate::rouge_l,
        _ => crate::rouge_lsum,
    };
    let scores: Vec<RougeScore> = examples
        .iter()
        .map(|e| {
            e.references.iter().map(|r| f(r, &e.prediction)).fold(None, |best: Option<RougeScore>, s| match best {
                Some(b) if b.fmeasure >= s.fmeasure => Some(b),
                _ => Some(s),
            })
        })
        .map(|s| s.unwrap_or(RougeScore::ZERO))
        .collect();
    let precision: Vec<f64> = scores.iter().map(|s| s.precision).collect();
    let recall: Vec<f64> = scores.iter().map(|s| s.recall).collect();
    let details = json!({"precision": 100.0 * mean(&precision), "recall": 100.0 * mean(&recall),
        "implementation": "rouge-score 0.1.2 (no stemmer; a-z0-9 tokens), F1 averaged over examples, best reference each"});
    mean_result(name, scores.iter().map(|s| s.fmeasure).collect(), bootstrap, details)
}

/// SplitMix64: a small, fast, seedable generator (the interval must not depend on a library's
/// choice of algorithm to stay reproducible).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (multiply-shift: no modulo bias worth naming for n far below 2^64).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// The percentile interval of `corpus` over bootstrap resamples of `n` examples.
fn interval(n: usize, b: Bootstrap, corpus: &dyn Fn(&[usize]) -> f64) -> [f64; 2] {
    let mut rng = SplitMix64(b.seed);
    let mut idx = vec![0usize; n];
    let mut scores: Vec<f64> = (0..b.resamples.max(1))
        .map(|_| {
            for slot in idx.iter_mut() {
                *slot = rng.below(n);
            }
            corpus(&idx)
        })
        .collect();
    scores.sort_by(f64::total_cmp);
    let tail = (1.0 - b.confidence) / 2.0;
    [percentile(&scores, tail), percentile(&scores, 1.0 - tail)]
}

/// NumPy's default (linear) percentile of sorted values, `q` in 0..1.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let at = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo as f64)
}
