//! Gates: a deployment, or a new variant promoted into a traffic split, may require an
//! evaluation of its model to pass named thresholds. The evaluation is the one named, or the
//! newest succeeded evaluation of exactly that model (the same fine-tuned model, checkpoint, or
//! base model with no adapter; for an external deployment, one made through it) that scored
//! every metric named — on the gate's test set when it names one. A failing gate refuses
//! (`gate_failed`, 422) with the scores that failed; a passing one is stored with the
//! deployment or split, naming the evaluation and the scores it passed with.

use super::{state, Evaluation, ResolvedModel};
use crate::error::OrNotFound;
use crate::{now_ms, Error, Principal, Refusal, Result, Services};
use domain::{Permission, ValidationError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Evaluations searched for the newest one of a model.
pub(super) const SEARCHED: i64 = 500;

/// One threshold: a metric's corpus score must be at least `min` and at most `max`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// A corpus score of an evaluation: bleu, chrf, chrf++, rouge1, rouge2, rougeL, rougeLsum,
    /// meteor, exact_match, f1, accuracy, macro_f1, distinct-1, distinct-2, self_bleu,
    /// perplexity, bertscore or bleurt.
    #[schema(schema_with = threshold_metric_schema)]
    pub metric: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

pub(super) fn threshold_metric_schema() -> utoipa::openapi::schema::ObjectBuilder {
    domain::schema::one_of(false, threshold_metrics())
}

/// Names a threshold may use: every metric with one corpus score (`rouge` stands for four).
fn threshold_metrics() -> impl Iterator<Item = &'static str> {
    metrics::suite::METRIC_NAMES.iter().copied().filter(|m| *m != "rouge")
}

/// What a model must pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// 1 to 10 thresholds, all of which must hold.
    #[schema(min_items = 1, max_items = 10)]
    pub thresholds: Vec<Threshold>,
    /// Judge by this evaluation (it must be of the same model); default: the newest succeeded
    /// evaluation of the model with every metric named.
    pub evaluation_id: Option<String>,
    /// Only evaluations on this test set (a dataset id) count.
    pub dataset_id: Option<String>,
}

/// A gate that passed: stored with what it gated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PassedGate {
    pub gate: Gate,
    /// The evaluation it passed with, and its scores on the gate's metrics.
    pub evaluation_id: String,
    pub scores: BTreeMap<String, f64>,
    /// Unix seconds.
    pub checked_at: i64,
}

/// The model a gate judges: what a deployment serves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatedModel {
    pub base_model_id: Option<String>,
    pub model_id: Option<String>,
    pub checkpoint_id: Option<String>,
    /// An external deployment's id (it serves no model of ours: its own evaluations count).
    pub deployment_id: Option<String>,
}

impl GatedModel {
    /// Whether an evaluation's answers came from exactly this model.
    pub(super) fn made(&self, r: &ResolvedModel) -> bool {
        match (&self.model_id, &self.checkpoint_id, &self.base_model_id) {
            (Some(m), _, _) => r.model_id.as_ref() == Some(m),
            (None, Some(c), _) => r.checkpoint_id.as_ref() == Some(c),
            (None, None, Some(b)) => r.base_model_id.as_ref() == Some(b) && r.model_id.is_none() && r.checkpoint_id.is_none(),
            (None, None, None) => self.deployment_id.as_ref() == Some(&r.deployment_id),
        }
    }

    fn describe(&self) -> String {
        self.model_id
            .clone()
            .or(self.checkpoint_id.clone())
            .or(self.base_model_id.clone())
            .or(self.deployment_id.as_ref().map(|d| format!("deployment {d}")))
            .unwrap_or_default()
    }
}

/// Checks a gate's shape (names the field under `at`).
fn check_gate(gate: &Gate, at: &str) -> Result<()> {
    if gate.thresholds.is_empty() || gate.thresholds.len() > 10 {
        return Err(ValidationError::new(&format!("{at}.thresholds"), "give 1 to 10 thresholds").into());
    }
    for (i, t) in gate.thresholds.iter().enumerate() {
        let field = format!("{at}.thresholds[{i}]");
        if !threshold_metrics().any(|m| m == t.metric) {
            let why = format!("'{}' is not a metric with one score (use {})", t.metric, threshold_metrics().collect::<Vec<_>>().join(", "));
            return Err(ValidationError::new(&format!("{field}.metric"), why).into());
        }
        match (t.min, t.max) {
            (None, None) => return Err(ValidationError::unprocessable(&field, "give min, max or both").into()),
            (Some(lo), Some(hi)) if lo > hi => {
                return Err(ValidationError::unprocessable(&field, format!("min {lo} is above max {hi}")).into())
            }
            (lo, hi) if lo.is_some_and(|v| !v.is_finite()) || hi.is_some_and(|v| !v.is_finite()) => {
                return Err(ValidationError::new(&field, "min and max are finite numbers").into())
            }
            _ => {}
        }
    }
    Ok(())
}

/// The corpus score of `metric` in an evaluation's results.
fn score_of(e: &Evaluation, metric: &str) -> Option<f64> {
    e.results.as_ref()?["metrics"][metric]["score"].as_f64()
}

impl Services {
    /// Checks that `model` passes `gate` (field `at` in errors): the passed gate, or
    /// `gate_failed` naming each failing score, or 422 when no evaluation can judge it.
    pub(crate) async fn pass_gate(&self, principal: &Principal, gate: &Gate, model: &GatedModel, at: &str) -> Result<PassedGate> {
        check_gate(gate, at)?;
        if let Some(d) = &gate.dataset_id {
            self.visible_dataset(principal, d).await.map_err(|e| match e {
                Error::NotFound(_) => ValidationError::unprocessable(&format!("{at}.dataset_id"), format!("no dataset {d}")).into(),
                e => e,
            })?;
        }
        let metrics: Vec<&str> = gate.thresholds.iter().map(|t| t.metric.as_str()).collect();
        let evaluation = match &gate.evaluation_id {
            Some(id) => {
                let e = self.evaluation_with(principal, id, Permission::ViewMetrics).await.map_err(|e| match e {
                    Error::NotFound(_) => {
                        ValidationError::unprocessable(&format!("{at}.evaluation_id"), format!("no evaluation {id}")).into()
                    }
                    e => e,
                })?;
                if e.row.state != state::SUCCEEDED {
                    return Err(ValidationError::unprocessable(
                        &format!("{at}.evaluation_id"),
                        format!("evaluation {id} is {}", e.row.state),
                    )
                    .into());
                }
                if !e.config.model.as_ref().is_some_and(|r| model.made(r)) || e.row.kind != "generate" {
                    let why = format!("evaluation {id} did not evaluate {}", model.describe());
                    return Err(ValidationError::unprocessable(&format!("{at}.evaluation_id"), why).into());
                }
                e
            }
            None => self.newest_evaluation_of(principal, model, gate.dataset_id.as_deref(), &metrics).await?.ok_or_else(|| {
                let on = gate.dataset_id.as_ref().map(|d| format!(" on dataset {d}")).unwrap_or_default();
                ValidationError::unprocessable(
                    at,
                    format!("no succeeded evaluation of {}{on} scored {}: evaluate it first", model.describe(), metrics.join(", ")),
                )
            })?,
        };
        if let Some(d) = &gate.dataset_id {
            if evaluation.config.dataset_id.as_ref() != Some(d) {
                let why = format!("evaluation {} is not on dataset {d}", evaluation.row.id);
                return Err(ValidationError::unprocessable(&format!("{at}.evaluation_id"), why).into());
            }
        }
        let (mut scores, mut failed) = (BTreeMap::new(), Vec::new());
        for t in &gate.thresholds {
            let Some(score) = score_of(&evaluation, &t.metric) else {
                failed.push(format!("{} was not scored", t.metric));
                continue;
            };
            scores.insert(t.metric.clone(), score);
            if let Some(lo) = t.min.filter(|lo| score < *lo) {
                failed.push(format!("{} {score:.2} is below the minimum {lo}", t.metric));
            }
            if let Some(hi) = t.max.filter(|hi| score > *hi) {
                failed.push(format!("{} {score:.2} is above the maximum {hi}", t.metric));
            }
        }
        if !failed.is_empty() {
            let message = format!("{at} failed on evaluation {} ({}): {}", evaluation.row.id, evaluation.row.name, failed.join("; "));
            return Err(Error::Refused { reason: Refusal::GateFailed, message });
        }
        Ok(PassedGate { gate: gate.clone(), evaluation_id: evaluation.row.id.clone(), scores, checked_at: now_ms() / 1000 })
    }

    /// The newest succeeded evaluation of `model` the caller may see that scored every metric
    /// (on `dataset_id` when given).
    async fn newest_evaluation_of(
        &self,
        principal: &Principal,
        model: &GatedModel,
        dataset_id: Option<&str>,
        metrics: &[&str],
    ) -> Result<Option<Evaluation>> {
        let rows = database::evaluations::recent(
            &mut *self.db().read().await?,
            &principal.organization_id,
            "generate",
            Some(state::SUCCEEDED),
            SEARCHED,
        )
        .await?;
        for row in rows {
            let e = Evaluation::of(row)?;
            let made = e.config.model.as_ref().is_some_and(|r| model.made(r));
            let on = dataset_id.is_none_or(|d| e.config.dataset_id.as_deref() == Some(d));
            if made && on && metrics.iter().all(|m| score_of(&e, m).is_some()) {
                match self.evaluation_with(principal, &e.row.id, Permission::ViewMetrics).await {
                    Ok(e) => return Ok(Some(e)),
                    Err(Error::NotFound(_) | Error::PermissionDenied(_)) => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(None)
    }

    /// The gated model a deployment serves.
    pub(crate) async fn gated_model_of_deployment(&self, principal: &Principal, deployment_id: &str) -> Result<GatedModel> {
        let row = database::deployments::get(&mut *self.db().read().await?, &principal.organization_id, deployment_id)
            .await
            .or_not_found("deployment")?;
        Ok(GatedModel {
            deployment_id: Some(row.id),
            base_model_id: row.base_model_id,
            model_id: row.model_id,
            checkpoint_id: row.checkpoint_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(base: Option<&str>, model: Option<&str>, checkpoint: Option<&str>) -> ResolvedModel {
        ResolvedModel {
            requested: "x".into(),
            deployment_id: "dep_1".into(),
            deployment_name: "x".into(),
            backend: "local".into(),
            base_model_id: base.map(str::to_string),
            model_id: model.map(str::to_string),
            checkpoint_id: checkpoint.map(str::to_string),
            chat_template_sha256: None,
        }
    }

    #[test]
    fn a_gate_judges_exactly_the_model_deployed() {
        let base = GatedModel { base_model_id: Some("bm_1".into()), ..Default::default() };
        assert!(base.made(&resolved(Some("bm_1"), None, None)));
        assert!(!base.made(&resolved(Some("bm_1"), Some("mdl_1"), None)), "a fine-tune of the base is another model");
        let tuned = GatedModel { base_model_id: Some("bm_1".into()), model_id: Some("mdl_1".into()), ..Default::default() };
        assert!(tuned.made(&resolved(Some("bm_1"), Some("mdl_1"), None)));
        assert!(!tuned.made(&resolved(Some("bm_1"), None, None)));
        let external = GatedModel { deployment_id: Some("dep_1".into()), ..Default::default() };
        assert!(external.made(&resolved(None, None, None)));
    }

    #[test]
    fn thresholds_are_checked_by_name_and_range() {
        let gate = |metric: &str, min: Option<f64>, max: Option<f64>| Gate {
            thresholds: vec![Threshold { metric: metric.into(), min, max }],
            evaluation_id: None,
            dataset_id: None,
        };
        assert!(check_gate(&gate("chrf", Some(40.0), None), "gate").is_ok());
        assert!(check_gate(&gate("rouge", Some(40.0), None), "gate").unwrap_err().to_string().contains("one score"));
        assert!(check_gate(&gate("chrf", None, None), "gate").unwrap_err().to_string().contains("min, max"));
        assert!(check_gate(&gate("chrf", Some(5.0), Some(1.0)), "gate").unwrap_err().to_string().contains("above max"));
    }
}
