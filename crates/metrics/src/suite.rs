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
    "meteor",
    "exact_match",
    "f1",
    "accuracy",
    "macro_f1",
    "distinct-1",
    "distinct-2",
    "self_bleu",
    "perplexity",
    "bertscore",
    "bleurt",
];

/// Metrics computed from what the model itself says of the references (their log-probability),
/// not from the answers' text: [`perplexity`] computes them from the model's figures.
pub const MODEL_METRICS: &[&str] = &["perplexity"];

/// Metrics a neural model computes from the answers' text, in the runtime (`score-text`):
/// [`from_runtime`] turns its per-example figures into a score.
pub const RUNTIME_METRICS: &[&str] = &["bertscore", "bleurt"];

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

/// A metric as a sum over examples: each example's statistics (a row), and the corpus score
/// of any sum of rows — so a resample, or a mix of two systems' rows, is scored without
/// scoring text again. BLEU and chrF sum n-gram counts; the others sum their per-example
/// value and a count.
pub struct Summable {
    pub name: String,
    pub rows: Vec<Vec<f64>>,
    aggregate: Aggregate,
}

/// The score of summed rows.
type Aggregate = Box<dyn Fn(&[f64]) -> f64 + Send + Sync>;

impl Summable {
    /// The score of the rows at these indexes (a resample may repeat one).
    pub fn score_of(&self, rows: impl Iterator<Item = usize>) -> f64 {
        self.score_of_rows(rows.map(|i| &self.rows[i]))
    }

    /// The score of any rows (of this metric's shape), e.g. a mix of two systems'.
    pub fn score_of_rows<'a>(&self, rows: impl Iterator<Item = &'a Vec<f64>>) -> f64 {
        (self.aggregate)(&self.sum(rows))
    }

    /// The rows summed column by column.
    fn sum<'a>(&self, rows: impl Iterator<Item = &'a Vec<f64>>) -> Vec<f64> {
        let mut sum = vec![0.0; self.rows.first().map_or(0, Vec::len)];
        for row in rows {
            for (s, v) in sum.iter_mut().zip(row) {
                *s += v;
            }
        }
        sum
    }

    /// The corpus score of every example.
    pub fn score(&self) -> f64 {
        self.score_of(0..self.rows.len())
    }
}

/// The metrics [`summable`] takes: those that are sums over examples.
pub const SUMMABLE: &[&str] =
    &["bleu", "chrf", "chrf++", "rouge1", "rouge2", "rougeL", "rougeLsum", "meteor", "exact_match", "f1", "accuracy"];

/// A metric kept as per-example scores on its own scale (BERTScore and BLEURT, from an
/// evaluation's stored scores): the corpus score is their mean.
pub fn stored_summable(name: &str, values: &[f64]) -> Summable {
    Summable {
        name: name.to_string(),
        rows: values.iter().map(|v| vec![*v, 1.0]).collect(),
        aggregate: Box::new(|s| if s[1] > 0.0 { s[0] / s[1] } else { 0.0 }),
    }
}

/// A metric that is the mean of per-example values (0–1; the score is the mean × 100, the
/// mean taken first as the references do).
fn mean_summable(name: &str, values: impl Iterator<Item = f64>) -> Summable {
    Summable {
        name: name.to_string(),
        rows: values.map(|v| vec![v, 1.0]).collect(),
        aggregate: Box::new(|s| if s[1] > 0.0 { 100.0 * (s[0] / s[1]) } else { 0.0 }),
    }
}

/// BLEU's statistics as a row: matches and totals per order, then the two lengths.
fn bleu_summable(examples: &[Example], tokenize: BleuTokenizer) -> Summable {
    let rows = crate::parallel::map(examples, |e| {
        let s = BleuStats::of(&e.prediction, &refs(e), tokenize);
        let mut row: Vec<f64> = s.correct.iter().chain(&s.total).map(|v| *v as f64).collect();
        row.extend([s.sys_len as f64, s.ref_len as f64]);
        row
    });
    Summable { name: "bleu".into(), rows, aggregate: Box::new(|s| bleu_stats(s).corpus().score) }
}

fn bleu_stats(s: &[f64]) -> BleuStats {
    let n = |start: usize| -> [u64; 4] { std::array::from_fn(|k| s[start + k] as u64) };
    BleuStats { correct: n(0), total: n(4), sys_len: s[8] as u64, ref_len: s[9] as u64 }
}

fn chrf_summable(examples: &[Example], name: &str) -> (Chrf, Summable) {
    let chrf = if name == "chrf" { Chrf::default() } else { Chrf::plus_plus() };
    let rows = crate::parallel::map(examples, |e| chrf.segment_stats(&e.prediction, &refs(e)).into_iter().map(|v| v as f64).collect());
    let aggregate = move |s: &[f64]| chrf.score_of(&s.iter().map(|v| *v as u64).collect::<Vec<_>>());
    (chrf, Summable { name: name.into(), rows, aggregate: Box::new(aggregate) })
}

const ROUGE_NAMES: [&str; 4] = ["rouge1", "rouge2", "rougeL", "rougeLsum"];

/// How the metrics that read words split and match them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextOptions {
    /// sacreBLEU's tokenizer for BLEU, METEOR, distinct-n and self-BLEU; `zh` also makes ROUGE
    /// count each Chinese character as a token (rouge-score's own tokenizer drops them all).
    pub tokenize: BleuTokenizer,
    /// Porter-stem ROUGE's tokens longer than three letters (rouge-score's `use_stemmer`).
    pub stemmer: bool,
    /// WordNet for METEOR's synonym stage (None: exact and stem stages only).
    pub wordnet: Option<&'static crate::wordnet::WordNet>,
}

impl From<BleuTokenizer> for TextOptions {
    fn from(tokenize: BleuTokenizer) -> TextOptions {
        TextOptions { tokenize, stemmer: false, wordnet: None }
    }
}

impl TextOptions {
    fn rouge(self) -> crate::RougeOptions {
        crate::RougeOptions { stemmer: self.stemmer, chinese: self.tokenize == BleuTokenizer::Zh }
    }
}

/// Each example's ROUGE-1/2/L/Lsum, each against its best reference (by that metric's F1), as
/// `rouge-score`'s scorer is used with several references.
fn rouge_table(examples: &[Example], options: crate::RougeOptions) -> Vec<[RougeScore; 4]> {
    crate::parallel::map(examples, |e| {
        let mut best = [RougeScore::ZERO; 4];
        for (k, reference) in e.references.iter().enumerate() {
            let all = crate::rouge::rouge_all_with(reference, &e.prediction, options);
            for m in 0..4 {
                if k == 0 || all[m].fmeasure > best[m].fmeasure {
                    best[m] = all[m];
                }
            }
        }
        best
    })
}

/// One metric as a [`Summable`] (not `rouge`, which is four: name one of them).
pub fn summable(examples: &[Example], name: &str, tokenization: impl Into<TextOptions>) -> Result<Summable, String> {
    let tokenization = tokenization.into();
    let tokenize = tokenization.tokenize;
    check_metric(name)?;
    if examples.is_empty() {
        return Err("no examples to score".into());
    }
    Ok(match name {
        "bleu" => {
            same_reference_count(examples, name)?;
            bleu_summable(examples, tokenize)
        }
        "chrf" | "chrf++" => {
            same_reference_count(examples, name)?;
            chrf_summable(examples, name).1
        }
        "rouge1" | "rouge2" | "rougeL" | "rougeLsum" => {
            let k = ROUGE_NAMES.iter().position(|r| *r == name).expect("a ROUGE name");
            mean_summable(name, rouge_table(examples, tokenization.rouge()).iter().map(|s| s[k].fmeasure))
        }
        "meteor" => {
            let wordnet = tokenization.wordnet;
            mean_summable(name, crate::parallel::map(examples, |e| crate::meteor(&e.prediction, &refs(e), tokenize, wordnet)).into_iter())
        }
        "exact_match" => mean_summable(name, crate::parallel::map(examples, |e| crate::exact_match(&e.prediction, &refs(e))).into_iter()),
        "f1" => mean_summable(name, crate::parallel::map(examples, |e| crate::token_f1(&e.prediction, &refs(e))).into_iter()),
        "accuracy" => mean_summable(name, examples.iter().map(|e| if e.prediction == e.references[0] { 1.0 } else { 0.0 })),
        other => return Err(format!("{other} is not a sum over examples (use one of {})", SUMMABLE.join(", "))),
    })
}

/// Scores `examples` with the metric `name` (`rouge` gives four results).
pub fn score(
    examples: &[Example],
    name: &str,
    tokenization: impl Into<TextOptions>,
    bootstrap: Option<Bootstrap>,
) -> Result<Vec<MetricScore>, String> {
    let tokenization = tokenization.into();
    let tokenize = tokenization.tokenize;
    check_metric(name)?;
    if MODEL_METRICS.contains(&name) {
        return Err(format!("{name} is computed from the model's log-probabilities of the references: evaluate a model on the server"));
    }
    if RUNTIME_METRICS.contains(&name) {
        return Err(format!("{name} is computed by a neural model in the runtime: use from_runtime with its figures"));
    }
    if examples.is_empty() {
        return Err("no examples to score".into());
    }
    let predictions: Vec<&str> = examples.iter().map(|e| e.prediction.as_str()).collect();
    let n = examples.len();
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
    // A summable metric: its score, interval, per-example scores (by default the per-example
    // value of a mean metric, 0–100).
    let summed = |s: &Summable, per_example: Option<Vec<f64>>, details: Value| -> MetricScore {
        let interval = bootstrap.map(|b| interval(n, b, &|idx: &[usize]| s.score_of(idx.iter().copied())));
        let per = per_example.unwrap_or_else(|| s.rows.iter().map(|r| 100.0 * r[0]).collect());
        result(&s.name, s.score(), interval, Some(per), details)
    };
    Ok(match name {
        "bleu" => {
            same_reference_count(examples, name)?;
            let s = bleu_summable(examples, tokenize);
            let all = bleu_stats(&s.sum(s.rows.iter())).corpus();
            let per = s.rows.iter().map(|r| bleu_stats(r).sentence().score).collect();
            let details = json!({"tokenize": tokenize.name(), "brevity_penalty": all.brevity_penalty, "precisions": all.precisions,
                "sys_len": all.sys_len, "ref_len": all.ref_len, "implementation": "sacreBLEU 2.5.1 corpus BLEU (exp smoothing)",
                "per_example": "sentence BLEU (effective order)"});
            vec![summed(&s, Some(per), details)]
        }
        "chrf" | "chrf++" => {
            same_reference_count(examples, name)?;
            let (chrf, s) = chrf_summable(examples, name);
            let per = s
                .rows
                .iter()
                .map(|r| if r.is_empty() { 0.0 } else { chrf.score_of(&r.iter().map(|v| *v as u64).collect::<Vec<_>>()) })
                .collect();
            let details = json!({"char_order": chrf.char_order, "word_order": chrf.word_order, "beta": chrf.beta,
                "implementation": "sacreBLEU 2.5.1 CHRF"});
            vec![summed(&s, Some(per), details)]
        }
        "rouge" | "rouge1" | "rouge2" | "rougeL" | "rougeLsum" => {
            let options = tokenization.rouge();
            let table = rouge_table(examples, options);
            ROUGE_NAMES
                .iter()
                .enumerate()
                .filter(|(_, r)| name == "rouge" || **r == name)
                .map(|(k, r)| {
                    let precision = 100.0 * table.iter().map(|s| s[k].precision).sum::<f64>() / n as f64;
                    let recall = 100.0 * table.iter().map(|s| s[k].recall).sum::<f64>() / n as f64;
                    let details = json!({"precision": precision, "recall": recall, "stemmer": options.stemmer,
                        "tokenize": if options.chinese { "zh" } else { "rouge-score" }, "tokens": options.describe(),
                        "implementation": "rouge-score 0.1.2, F1 averaged over examples, best reference each"});
                    summed(&mean_summable(r, table.iter().map(|s| s[k].fmeasure)), None, details)
                })
                .collect()
        }
        "meteor" => {
            let (wordnet, implementation) = match tokenization.wordnet {
                Some(w) => (
                    json!({"version": w.version, "sha256": w.sha256}),
                    "NLTK 3.10 meteor_score (exact, Porter-stem and WordNet synonym stages), best reference each, averaged over examples",
                ),
                None => (
                    Value::Null,
                    "NLTK 3.10 meteor_score (exact and Porter-stem stages, no WordNet synonyms), best reference each, averaged over examples",
                ),
            };
            let details = json!({"tokenize": tokenize.name(), "alpha": 0.9, "beta": 3.0, "gamma": 0.5, "wordnet": wordnet,
                "implementation": implementation});
            vec![summed(&summable(examples, name, tokenization)?, None, details)]
        }
        "exact_match" | "f1" | "accuracy" => {
            let implementation = match name {
                "exact_match" => "SQuAD v1.1 (normalised answers), best reference each",
                "f1" => "SQuAD v1.1 token F1, best reference each",
                _ => "scikit-learn accuracy (labels compared as written; the first reference)",
            };
            vec![summed(&summable(examples, name, tokenize)?, None, json!({"implementation": implementation}))]
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
            vec![result(name, 100.0 * all.macro_f1, bootstrap.map(|b| interval(n, b, &corpus)), None, details)]
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

/// SplitMix64: a small, fast, seedable generator (the interval must not depend on a library's
/// choice of algorithm to stay reproducible).
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (multiply-shift: no modulo bias worth naming for n far below 2^64).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// Perplexity from each example's log-probability (natural log) of its reference tokens, summed,
/// and their number: exp(−Σ log-probability / Σ tokens) over the corpus, the same per example,
/// with a bootstrap interval over examples. An example without tokens is refused.
pub fn perplexity(rows: &[(f64, u64)], bootstrap: Option<Bootstrap>) -> Result<MetricScore, String> {
    if rows.is_empty() {
        return Err("no examples to score".into());
    }
    if let Some(i) = rows.iter().position(|(_, tokens)| *tokens == 0) {
        return Err(format!("example {i} has no reference tokens"));
    }
    let s = Summable {
        name: "perplexity".into(),
        rows: rows.iter().map(|(logprob, tokens)| vec![*logprob, *tokens as f64]).collect(),
        aggregate: Box::new(|s| (-s[0] / s[1]).exp()),
    };
    let interval = bootstrap.map(|b| interval(rows.len(), b, &|idx: &[usize]| s.score_of(idx.iter().copied())));
    let tokens: u64 = rows.iter().map(|(_, t)| t).sum();
    let mut details = Map::new();
    details.insert("tokens".into(), json!(tokens));
    details.insert(
        "implementation".into(),
        json!("exp(-summed log-probability of the reference answers' tokens / their number), the model's own tokenizer and chat template"),
    );
    Ok(MetricScore {
        name: s.name.clone(),
        score: s.score(),
        interval,
        per_example: Some(rows.iter().map(|(logprob, tokens)| (-logprob / *tokens as f64).exp()).collect()),
        details,
    })
}

/// A [`RUNTIME_METRICS`] score from the runtime's rows (one per example, in order) and its
/// summary: BERTScore is the mean F1 × 100 (precision and recall alongside), BLEURT the mean of
/// the checkpoint's scores on its own scale; each with a bootstrap interval of the mean and
/// what computed it (model, layer).
pub fn from_runtime(
    name: &str,
    rows: &[Map<String, Value>],
    summary: &Map<String, Value>,
    bootstrap: Option<Bootstrap>,
) -> Result<MetricScore, String> {
    let (field, scale) = match name {
        "bertscore" => ("f1", 100.0),
        "bleurt" => ("score", 1.0),
        other => return Err(format!("{other} is not computed by the runtime (use {})", RUNTIME_METRICS.join(", "))),
    };
    if rows.is_empty() {
        return Err("no examples to score".into());
    }
    let column = |field: &str| -> Result<Vec<f64>, String> {
        rows.iter()
            .enumerate()
            .map(|(i, r)| {
                r.get(field)
                    .and_then(Value::as_f64)
                    .map(|v| v * scale)
                    .ok_or_else(|| format!("{name}: example {} has no number `{field}`", i + 1))
            })
            .collect()
    };
    let values = column(field)?;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let mut details = Map::new();
    for key in ["model", "model_type", "layer", "layers", "idf", "rescale_with_baseline"] {
        if let Some(v) = summary.get(key) {
            details.insert(key.into(), v.clone());
        }
    }
    let implementation = if name == "bertscore" {
        details.insert("precision".into(), json!(mean(&column("precision")?)));
        details.insert("recall".into(), json!(mean(&column("recall")?)));
        "BERTScore as bert-score 0.3.13 computes it (idf off, no baseline rescaling), F1 averaged over examples, best reference each"
    } else {
        "BLEURT (a PyTorch port of the checkpoint): its score of (reference, prediction), best reference each, averaged over examples"
    };
    details.insert("implementation".into(), json!(implementation));
    Ok(MetricScore {
        name: name.to_string(),
        score: mean(&values),
        interval: bootstrap.and_then(|b| mean_interval(&values, b)),
        per_example: Some(values),
        details,
    })
}

/// The bootstrap interval of the mean of `values` (judge ratings, win shares).
pub fn mean_interval(values: &[f64], b: Bootstrap) -> Option<[f64; 2]> {
    if values.is_empty() {
        return None;
    }
    Some(interval(values.len(), b, &|idx: &[usize]| idx.iter().map(|i| values[*i]).sum::<f64>() / idx.len() as f64))
}

/// The percentile interval of `corpus` over bootstrap resamples of `n` examples.
pub(crate) fn interval(n: usize, b: Bootstrap, corpus: &dyn Fn(&[usize]) -> f64) -> [f64; 2] {
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
