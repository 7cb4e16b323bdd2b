//! Comparing evaluations on one test set: a comparison (several models: the metric table,
//! wins/ties/losses against the first per example, score histograms, and the examples side by
//! side with word diffs against the first's answer — computed on request), and offline A/B
//! tests (two models, one metric: the difference with its interval, a p-value, the effect size
//! and the sample size that would detect a given difference — stored, seeded, so they are
//! reproducible).

use super::examples::Case;
use super::{state, Evaluation};
use crate::audit::{append, AuditEvent};
use crate::error::OrNotFound;
use crate::{now_ms, Error, Page, Principal, RequestContext, Result, Services};
use database::evaluations::AbTestRow;
use domain::ids::IdKind;
use domain::{validate, Permission, ValidationError};
use metrics::significance::{AbSettings, Method};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A comparison request.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComparison {
    /// 2 to 10 succeeded evaluations on the same test set; the first is the baseline.
    #[schema(min_items = 2, max_items = 10)]
    pub evaluation_ids: Vec<String>,
    /// The metric wins, ties, losses and histograms are counted on (one with per-example
    /// scores; default: the first evaluation's first such metric).
    pub metric: Option<String>,
    /// The first example shown side by side (default 0).
    #[schema(minimum = 0)]
    pub from: Option<i64>,
    /// Examples shown side by side (0–100, default 20).
    #[schema(minimum = 0, maximum = 100)]
    pub limit: Option<i64>,
}

/// An offline A/B test request: B is compared with A.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAbTest {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    pub project_id: Option<String>,
    /// The control (a succeeded evaluation).
    pub evaluation_a: String,
    /// The candidate, on the same test set.
    pub evaluation_b: String,
    /// A metric that is a sum over examples: bleu, chrf, chrf++, rouge1, rouge2, rougeL,
    /// rougeLsum, meteor, exact_match, f1, accuracy, or bertscore or bleurt (from the scores
    /// both evaluations stored per example, with the same model).
    #[schema(schema_with = ab_metric_schema)]
    pub metric: String,
    /// `paired_bootstrap` (default) or `approximate_randomization`.
    #[schema(schema_with = method_schema)]
    pub method: Option<String>,
    /// Resamples or shuffles (100–100000, default 10000).
    #[schema(minimum = 100, maximum = 100000)]
    pub resamples: Option<u32>,
    /// 0.5–0.999 (default 0.95): the interval's level; significant means p < 1 − confidence.
    #[schema(minimum = 0.5, maximum = 0.999)]
    pub confidence: Option<f64>,
    /// For the sample size (0.5–0.999, default 0.8).
    #[schema(minimum = 0.5, maximum = 0.999)]
    pub power: Option<f64>,
    /// The smallest difference worth detecting, in the metric's units (default: the observed
    /// one), for the sample size.
    #[schema(minimum = 0.0)]
    pub minimum_effect: Option<f64>,
    /// Default 12345.
    pub seed: Option<u64>,
}

/// The metrics an A/B test takes: those the metrics crate sums over examples, and the neural
/// ones, from stored per-example scores.
fn ab_metrics() -> impl Iterator<Item = &'static str> {
    metrics::suite::SUMMABLE.iter().chain(metrics::suite::RUNTIME_METRICS).copied()
}

fn ab_metric_schema() -> utoipa::openapi::schema::ObjectBuilder {
    domain::schema::one_of(false, ab_metrics())
}

fn method_schema() -> utoipa::openapi::schema::ObjectBuilder {
    domain::schema::one_of(true, [Method::PairedBootstrap.name(), Method::ApproximateRandomization.name()])
}

/// The settings an A/B test was computed with (`ab_tests.config`).
/// Evaluations compared on one test set (`POST /api/v1/comparisons`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Comparison {
    pub object: &'static str,
    /// In the order asked; the first is the baseline.
    pub evaluations: Vec<ComparedEvaluation>,
    pub examples_total: i64,
    /// The metric wins, ties, losses, histograms and side-by-side scores are counted on.
    pub metric: String,
    /// Every metric any of them has: each evaluation's score and interval, in their order (null
    /// where one lacks the metric).
    pub table: BTreeMap<String, Vec<Option<TableScore>>>,
    /// Each evaluation after the first against the first, per example on `metric`.
    pub versus_first: Vec<VersusFirst>,
    /// Per evaluation, its per-example `metric` scores in ten bins of width 10 (0–10, …, 90–100).
    pub histograms: Vec<ScoreBins>,
    /// Examples `from` on, side by side.
    pub examples: Vec<ComparedExample>,
    pub from: i64,
    pub has_more: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComparedEvaluation {
    pub id: String,
    pub name: String,
    pub model: Option<String>,
    pub kind: String,
}

/// A metric's score with its bootstrap interval, as the evaluation stored them.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TableScore {
    pub score: Option<f64>,
    #[serde(default)]
    pub interval: Option<[f64; 2]>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersusFirst {
    pub evaluation_id: String,
    /// Examples where it scored higher than the first, the same, lower.
    pub wins: u64,
    pub ties: u64,
    pub losses: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScoreBins {
    pub evaluation_id: String,
    pub bins: [u64; 10],
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComparedExample {
    pub index: usize,
    /// The conversation answered (null for a predictions file).
    #[schema(value_type = Option<Vec<Object>>)]
    pub prompt: Option<Value>,
    pub references: Vec<String>,
    /// One per evaluation, in their order.
    pub answers: Vec<ComparedAnswer>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComparedAnswer {
    pub prediction: String,
    /// This example's score per metric.
    #[schema(value_type = Object)]
    pub scores: Value,
    /// Word operations from the first evaluation's answer to this one (null for the first).
    pub diff_from_first: Option<Vec<DiffOp>>,
}

/// One step of a word diff: `equal`, `delete` (only in the first answer) or `insert`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DiffOp {
    pub op: String,
    pub text: String,
}

/// How an A/B test was computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AbTestConfig {
    pub method: String,
    pub resamples: u32,
    pub confidence: f64,
    pub power: f64,
    pub minimum_effect: Option<f64>,
    pub seed: u64,
    pub tokenize: String,
    pub metrics_version: String,
}

/// An A/B test's figures and verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AbResults {
    pub metric: String,
    /// paired_bootstrap or approximate_randomization.
    pub method: String,
    pub score_a: f64,
    pub score_b: f64,
    /// B − A.
    pub difference: f64,
    /// The paired bootstrap interval of the difference at `confidence`.
    pub interval: [f64; 2],
    pub confidence: f64,
    pub p_value: f64,
    /// p < 1 − confidence.
    pub significant: bool,
    /// The difference over the per-example standard deviation of the difference.
    pub standardized_effect: Option<f64>,
    /// Examples needed to detect `effect_for_sample_size` at the confidence and power (null
    /// without variation to estimate it from).
    pub sample_size_needed: Option<u64>,
    pub effect_for_sample_size: f64,
    pub power: f64,
    pub examples: usize,
    /// The verdict in words.
    pub verdict: String,
}

/// An A/B test, read back.
#[derive(Debug, Clone)]
pub struct AbTest {
    pub row: AbTestRow,
    pub config: AbTestConfig,
    pub results: AbResults,
}

impl AbTest {
    fn of(row: AbTestRow) -> Result<AbTest> {
        let parse = |what: &str, text: &str| -> Result<Value> {
            serde_json::from_str(text).map_err(|e| Error::Internal(format!("A/B test {}: the stored {what} does not parse: {e}", row.id)))
        };
        let config = serde_json::from_value(parse("configuration", &row.config)?)
            .map_err(|e| Error::Internal(format!("A/B test {}: the stored configuration does not parse: {e}", row.id)))?;
        let results = serde_json::from_value(parse("results", &row.results)?)
            .map_err(|e| Error::Internal(format!("A/B test {}: the stored results do not parse: {e}", row.id)))?;
        Ok(AbTest { row, config, results })
    }
}

/// Examples per side-by-side page at most.
const MAX_SIDE_BY_SIDE: i64 = 100;
/// Words per answer the diff aligns (longer answers are shown as replaced whole).
const MAX_DIFF_WORDS: usize = 400;

impl Services {
    /// The evaluations (each visible, succeeded) and their cases, checked to be on the same test
    /// set: as many examples, with the same references in the same order.
    pub(super) async fn on_one_test_set(&self, principal: &Principal, ids: &[String], field: &str) -> Result<Vec<(Evaluation, Vec<Case>)>> {
        let mut out: Vec<(Evaluation, Vec<Case>)> = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let e = self.evaluation_with(principal, id, Permission::ViewMetrics).await?;
            if e.row.state != state::SUCCEEDED {
                return Err(Error::Conflict(format!("evaluation {id} is {}; compare it once it has succeeded", e.row.state)));
            }
            let cases = self.evaluation_cases(&e.row).await?;
            if let Some((first, first_cases)) = out.first() {
                let at = if ids.len() > 2 || field.ends_with("ids") { format!("{field}[{i}]") } else { field.to_string() };
                if cases.len() != first_cases.len() {
                    let why = format!(
                        "evaluation {id} has {} examples, {} has {}: compare evaluations on the same test set",
                        cases.len(),
                        first.row.id,
                        first_cases.len()
                    );
                    return Err(ValidationError::unprocessable(&at, why).into());
                }
                if let Some(k) = cases.iter().zip(first_cases).position(|(a, b)| a.references != b.references) {
                    let why = format!(
                        "example {k} of evaluation {id} has other references than in {}: compare evaluations on the same test set",
                        first.row.id
                    );
                    return Err(ValidationError::unprocessable(&at, why).into());
                }
            }
            out.push((e, cases));
        }
        Ok(out)
    }

    /// Compares evaluations on one test set (`view_metrics`; computes, stores nothing).
    pub async fn compare_evaluations(&self, principal: &Principal, n: NewComparison) -> Result<Comparison> {
        principal.require(Permission::ViewMetrics)?;
        if !(2..=10).contains(&n.evaluation_ids.len()) {
            return Err(ValidationError::new("evaluation_ids", format!("give 2 to 10 evaluations (got {})", n.evaluation_ids.len())).into());
        }
        let from = n.from.unwrap_or(0);
        let limit = n.limit.unwrap_or(20);
        if from < 0 {
            return Err(ValidationError::new("from", "must be 0 or more").into());
        }
        if !(0..=MAX_SIDE_BY_SIDE).contains(&limit) {
            return Err(ValidationError::new("limit", format!("must be 0 to {MAX_SIDE_BY_SIDE}")).into());
        }
        let all = self.on_one_test_set(principal, &n.evaluation_ids, "evaluation_ids").await?;
        let mut scores: Vec<Vec<Value>> = Vec::new();
        for (e, _) in &all {
            scores.push(self.example_scores(&e.row).await?);
        }
        let per_example_metric = |name: &str| scores.iter().all(|s| s.iter().all(|x| x.get(name).is_some_and(Value::is_number)));
        let metric = match &n.metric {
            Some(m) if per_example_metric(m) => m.clone(),
            Some(m) => {
                return Err(ValidationError::unprocessable(
                    "metric",
                    format!("'{m}' has no per-example scores in every evaluation compared"),
                )
                .into())
            }
            None => all[0]
                .0
                .results
                .as_ref()
                .and_then(|r| r["metrics"].as_object())
                .and_then(|m| m.keys().find(|k| per_example_metric(k)).cloned())
                .ok_or_else(|| ValidationError::unprocessable("metric", "the evaluations share no metric with per-example scores"))?,
        };
        let value = |s: &Value| s.get(&metric).and_then(Value::as_f64).unwrap_or(0.0);
        // The metric table: every metric each evaluation has, with its interval.
        let mut names: Vec<String> = Vec::new();
        for (e, _) in &all {
            for k in e.results.as_ref().and_then(|r| r["metrics"].as_object()).into_iter().flat_map(|m| m.keys()) {
                if !names.contains(k) {
                    names.push(k.clone());
                }
            }
        }
        let mut table = BTreeMap::new();
        for name in &names {
            let mut row = Vec::new();
            for (e, _) in &all {
                let stored = e.results.as_ref().map(|r| &r["metrics"][name]).filter(|m| !m.is_null());
                row.push(match stored {
                    Some(m) => {
                        Some(serde_json::from_value::<TableScore>(json!({"score": m["score"], "interval": m.get("interval")})).map_err(
                            |err| Error::Internal(format!("evaluation {}: the stored score of {name} does not parse: {err}", e.row.id)),
                        )?)
                    }
                    None => None,
                });
            }
            table.insert(name.clone(), row);
        }
        let versus_first: Vec<VersusFirst> = (1..all.len())
            .map(|k| {
                let (mut wins, mut ties, mut losses) = (0, 0, 0);
                for (a, b) in scores[0].iter().zip(&scores[k]) {
                    let d = value(b) - value(a);
                    if d.abs() < 1e-9 {
                        ties += 1;
                    } else if d > 0.0 {
                        wins += 1;
                    } else {
                        losses += 1;
                    }
                }
                VersusFirst { evaluation_id: all[k].0.row.id.clone(), wins, ties, losses }
            })
            .collect();
        let histograms: Vec<ScoreBins> = scores
            .iter()
            .zip(&all)
            .map(|(s, (e, _))| {
                let mut bins = [0u64; 10];
                for x in s {
                    bins[((value(x) / 10.0).floor().clamp(0.0, 9.0)) as usize] += 1;
                }
                ScoreBins { evaluation_id: e.row.id.clone(), bins }
            })
            .collect();
        let total = all[0].1.len() as i64;
        let examples: Vec<ComparedExample> = (from..(from + limit).min(total))
            .map(|i| {
                let i = i as usize;
                let first = all[0].1[i].prediction.clone().unwrap_or_default();
                let answers: Vec<ComparedAnswer> = all
                    .iter()
                    .zip(&scores)
                    .enumerate()
                    .map(|(k, ((_, cases), s))| {
                        let prediction = cases[i].prediction.clone().unwrap_or_default();
                        let diff_from_first = (k > 0).then(|| word_diff(&first, &prediction));
                        ComparedAnswer { prediction, scores: s[i].clone(), diff_from_first }
                    })
                    .collect();
                let prompt = all[0].1[i].prompt.as_ref().map(|p| json!(p));
                ComparedExample { index: i, prompt, references: all[0].1[i].references.clone(), answers }
            })
            .collect();
        let evaluations = all
            .iter()
            .map(|(e, _)| ComparedEvaluation {
                id: e.row.id.clone(),
                name: e.row.name.clone(),
                model: e.row.model.clone(),
                kind: e.row.kind.clone(),
            })
            .collect();
        Ok(Comparison {
            object: "comparison",
            evaluations,
            examples_total: total,
            metric,
            table,
            versus_first,
            histograms,
            examples,
            from,
            has_more: from + limit < total,
        })
    }

    /// Each example's per-metric scores, in order (an empty object where none were stored).
    async fn example_scores(&self, row: &database::evaluations::EvaluationRow) -> Result<Vec<Value>> {
        self.example_rows(row).await?.iter().map(|r| Ok(super::examples::scores_of(r)?.unwrap_or_else(|| json!({})))).collect()
    }

    /// Each example's stored score of `metric` (422 naming the evaluation when it has none).
    async fn stored_scores(&self, row: &database::evaluations::EvaluationRow, metric: &str) -> Result<Vec<f64>> {
        let scores = self.example_scores(row).await?;
        scores
            .iter()
            .map(|s| {
                s[metric].as_f64().ok_or_else(|| {
                    ValidationError::unprocessable("metric", format!("evaluation {} was not scored with {metric}", row.id)).into()
                })
            })
            .collect()
    }

    /// Computes and stores an offline A/B test of two evaluations on one test set.
    pub async fn create_ab_test(&self, principal: &Principal, n: NewAbTest, ctx: &RequestContext) -> Result<AbTest> {
        self.require_in(principal, n.project_id.as_deref(), Permission::DeployModel).await?;
        if !ab_metrics().any(|m| m == n.metric) {
            let why = format!(
                "'{}' cannot be compared example by example (use one of {})",
                n.metric,
                ab_metrics().collect::<Vec<_>>().join(", ")
            );
            return Err(ValidationError::new("metric", why).into());
        }
        let method = match n.method.as_deref() {
            None => Method::PairedBootstrap,
            Some(m) => Method::parse(m).ok_or_else(|| {
                ValidationError::new("method", format!("'{m}' is not a method (use paired_bootstrap or approximate_randomization)"))
            })?,
        };
        let settings = AbSettings {
            method,
            resamples: n.resamples.unwrap_or(10_000),
            confidence: n.confidence.unwrap_or(0.95),
            seed: n.seed.unwrap_or(12345),
            power: n.power.unwrap_or(0.8),
            minimum_effect: n.minimum_effect,
        };
        if !(100..=100_000).contains(&settings.resamples) {
            return Err(ValidationError::new("resamples", format!("must be 100 to 100000 (got {})", settings.resamples)).into());
        }
        for (field, v) in [("confidence", settings.confidence), ("power", settings.power)] {
            if !(0.5..=0.999).contains(&v) {
                return Err(ValidationError::new(field, format!("must be 0.5 to 0.999 (got {v})")).into());
            }
        }
        if settings.minimum_effect.is_some_and(|e| !(e >= 0.0 && e.is_finite())) {
            return Err(ValidationError::new("minimum_effect", "must be 0 or more").into());
        }
        if n.evaluation_a == n.evaluation_b {
            return Err(ValidationError::unprocessable("evaluation_b", "compare two different evaluations").into());
        }
        let mut pair = self.on_one_test_set(principal, &[n.evaluation_a.clone(), n.evaluation_b.clone()], "evaluation_b").await?;
        let (b, a) = (pair.pop().expect("two"), pair.pop().expect("two"));
        let tokenize = a.0.config.tokenize.clone();
        let tokenizer = self.text_options(&a.0.config)?;
        let metric = n.metric.clone();
        let stored = match metric.as_str() {
            "bertscore" | "bleurt" => {
                let (ra, rb) = (&a.0.config.resources, &b.0.config.resources);
                if (ra.bertscore != rb.bertscore && metric == "bertscore") || (ra.bleurt != rb.bleurt && metric == "bleurt") {
                    let why =
                        format!("evaluation {} scored {metric} with another model than {}: compare like with like", b.0.row.id, a.0.row.id);
                    return Err(ValidationError::unprocessable("evaluation_b", why).into());
                }
                Some((self.stored_scores(&a.0.row, &metric).await?, self.stored_scores(&b.0.row, &metric).await?))
            }
            _ => None,
        };
        let (cases_a, cases_b) = (a.1, b.1);
        let result = tokio::task::spawn_blocking(move || -> std::result::Result<metrics::significance::AbResult, String> {
            if let Some((va, vb)) = stored {
                let (sa, sb) = (metrics::suite::stored_summable(&metric, &va), metrics::suite::stored_summable(&metric, &vb));
                return metrics::significance::ab_test(&sa, &sb, &settings);
            }
            let examples = |cases: &[Case]| -> Vec<metrics::suite::Example> {
                cases
                    .iter()
                    .map(|c| metrics::suite::Example {
                        prediction: c.prediction.clone().unwrap_or_default(),
                        references: c.references.clone(),
                    })
                    .collect()
            };
            let sa = metrics::suite::summable(&examples(&cases_a), &metric, tokenizer)?;
            let sb = metrics::suite::summable(&examples(&cases_b), &metric, tokenizer)?;
            metrics::significance::ab_test(&sa, &sb, &settings)
        })
        .await
        .map_err(crate::datasets::internal)?
        .map_err(|e| ValidationError::unprocessable("metric", e))?;
        let results = ab_results(&n.metric, &settings, &result, &a.0, &b.0);
        let config = AbTestConfig {
            method: method.name().into(),
            resamples: settings.resamples,
            confidence: settings.confidence,
            power: settings.power,
            minimum_effect: settings.minimum_effect,
            seed: settings.seed,
            tokenize,
            metrics_version: super::metrics_version(),
        };
        let name = super::check_name(n.name.as_deref(), || format!("{} vs {} on {}", b.0.row.name, a.0.row.name, n.metric))?;
        let row = AbTestRow {
            id: crate::crypto::new_id(IdKind::AbTest),
            organization_id: principal.organization_id.clone(),
            project_id: n.project_id,
            name,
            evaluation_a: a.0.row.id.clone(),
            evaluation_b: b.0.row.id.clone(),
            metric: n.metric,
            config: serde_json::to_string(&config).expect("a configuration serialises"),
            results: serde_json::to_string(&results).expect("results serialise"),
            created_by: principal.user_id.clone(),
            created_at: now_ms(),
        };
        let mut tx = self.db().begin_write().await?;
        // Neither evaluation may vanish meanwhile (a delete locks it too).
        database::evaluations::lock(tx.conn(), &row.evaluation_a).await.or_not_found("evaluation")?;
        database::evaluations::lock(tx.conn(), &row.evaluation_b).await.or_not_found("evaluation")?;
        database::evaluations::insert_ab_test(tx.conn(), &row).await?;
        let event = AuditEvent::by(principal, "ab_test.create").target("ab_test", &row.id).details(json!({
            "evaluation_a": row.evaluation_a, "evaluation_b": row.evaluation_b, "metric": row.metric,
            "p_value": results.p_value, "significant": results.significant,
        }));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        AbTest::of(row)
    }

    async fn ab_test_with(&self, principal: &Principal, id: &str, permission: Permission) -> Result<AbTest> {
        let row = database::evaluations::get_ab_test(&mut *self.db().read().await?, &principal.organization_id, id)
            .await
            .or_not_found("A/B test")?;
        self.require_on_resource(principal, row.project_id.as_deref(), "A/B test", permission).await?;
        AbTest::of(row)
    }

    pub async fn get_ab_test(&self, principal: &Principal, id: &str) -> Result<AbTest> {
        self.ab_test_with(principal, id, Permission::ViewMetrics).await
    }

    pub async fn list_ab_tests(&self, principal: &Principal, after: Option<&str>, limit: Option<i64>) -> Result<Page<AbTest>> {
        principal.require(Permission::ViewMetrics)?;
        let limit = validate::page_limit(limit)?;
        let rows =
            database::evaluations::list_ab_tests(&mut *self.db().read().await?, &principal.organization_id, after, limit + 1).await?;
        let mut out = Vec::new();
        for row in rows {
            if let Ok(t) = self.ab_test_with(principal, &row.id, Permission::ViewMetrics).await {
                out.push(t);
            }
        }
        Ok(Page::from_rows(out, limit))
    }

    pub async fn delete_ab_test(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<()> {
        self.ab_test_with(principal, id, Permission::DeployModel).await?;
        let mut tx = self.db().begin_write().await?;
        database::evaluations::delete_ab_test(tx.conn(), id).await?;
        append(tx.conn(), self.derived_keys(), AuditEvent::by(principal, "ab_test.delete").target("ab_test", id), ctx).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The stored figures of an A/B test, with its verdict in words.
fn ab_results(metric: &str, s: &AbSettings, r: &metrics::significance::AbResult, a: &Evaluation, b: &Evaluation) -> AbResults {
    let level = format!("{:.0}%", 100.0 * s.confidence);
    let (lo, hi) = (r.interval[0], r.interval[1]);
    let verdict = if r.significant {
        let better = if r.difference > 0.0 { "better" } else { "worse" };
        format!(
            "{} is {better} than {} on {metric}: {:+.2} ({level} interval {lo:+.2} to {hi:+.2}), p = {:.4}",
            b.row.name, a.row.name, r.difference, r.p_value
        )
    } else {
        let size = r
            .sample_size_needed
            .map(|n| format!("; about {n} examples would detect a difference of {:.2}", r.effect_for_sample_size))
            .unwrap_or_default();
        format!(
            "no significant difference on {metric} at {level}: {:+.2} ({level} interval {lo:+.2} to {hi:+.2}), p = {:.4}{size}",
            r.difference, r.p_value
        )
    };
    AbResults {
        metric: metric.to_string(),
        method: s.method.name().to_string(),
        score_a: r.score_a,
        score_b: r.score_b,
        difference: r.difference,
        interval: r.interval,
        confidence: s.confidence,
        p_value: r.p_value,
        significant: r.significant,
        standardized_effect: r.standardized_effect,
        sample_size_needed: r.sample_size_needed,
        effect_for_sample_size: r.effect_for_sample_size,
        power: s.power,
        examples: r.examples,
        verdict,
    }
}

/// A word-level diff of `b` against `a` (longest common subsequence on whitespace-separated
/// words): segments `{"op": "equal" | "delete" | "insert", "text": …}`.
pub fn word_diff<'a>(a: &'a str, b: &'a str) -> Vec<DiffOp> {
    let (wa, wb): (Vec<&str>, Vec<&str>) = (a.split_whitespace().collect(), b.split_whitespace().collect());
    if wa.len() > MAX_DIFF_WORDS || wb.len() > MAX_DIFF_WORDS {
        return vec![DiffOp { op: "delete".into(), text: a.to_string() }, DiffOp { op: "insert".into(), text: b.to_string() }];
    }
    let (n, m) = (wa.len(), wb.len());
    let mut lcs = vec![vec![0u16; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if wa[i] == wb[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
    let mut push = |op: &'static str, word: &'a str| match out.last_mut() {
        Some((last, words)) if *last == op => words.push(word),
        _ => out.push((op, vec![word])),
    };
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && wa[i] == wb[j] {
            push("equal", wa[i]);
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            push("insert", wb[j]);
            j += 1;
        } else {
            push("delete", wa[i]);
            i += 1;
        }
    }
    out.into_iter().map(|(op, words)| DiffOp { op: op.to_string(), text: words.join(" ") }).collect()
}

#[cfg(test)]
mod tests {
    use super::word_diff;
    use serde_json::json;

    #[test]
    fn the_word_diff_keeps_what_is_common() {
        let d = serde_json::to_value(word_diff("the cat sat on the mat", "the dog sat on a mat today")).unwrap();
        assert_eq!(
            d,
            json!(vec![
                json!({"op": "equal", "text": "the"}),
                json!({"op": "insert", "text": "dog"}),
                json!({"op": "delete", "text": "cat"}),
                json!({"op": "equal", "text": "sat on"}),
                json!({"op": "insert", "text": "a"}),
                json!({"op": "delete", "text": "the"}),
                json!({"op": "equal", "text": "mat"}),
                json!({"op": "insert", "text": "today"}),
            ])
        );
        assert!(word_diff("", "").is_empty());
    }
}
