//! Experiment records and model rankings. A fine-tuned model's record gathers what made it and
//! what is known of it: the job and its training configuration, the lineage of its training
//! and validation data, every evaluation of exactly that model and the human evaluations that
//! rate them. A ranking orders the models evaluated on one test set by a chosen metric (each by
//! its newest succeeded evaluation there), the first being the best.

use super::gates::{GatedModel, SEARCHED};
use super::human::HumanEval;
use super::{state, Evaluation, ResolvedModel};
use crate::datasets::Lineage;
use crate::error::OrNotFound;
use crate::models::FineTunedModel;
use crate::training::Job;
use crate::{Error, Principal, Result, Services};
use domain::{Permission, ValidationError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A fine-tuned model's experiment record.
#[derive(Debug, Clone)]
pub struct ExperimentRecord {
    pub model: FineTunedModel,
    /// The job that trained it (None if it was deleted).
    pub job: Option<Job>,
    /// Where its training data came from (None when the caller may not see the dataset).
    pub training_data: Option<Lineage>,
    pub validation_data: Option<Lineage>,
    /// Every evaluation of exactly this model, newest first.
    pub evaluations: Vec<Evaluation>,
    /// Human evaluations rating any of them.
    pub human_evals: Vec<HumanEval>,
}

/// Which models to rank.
#[derive(Debug, Clone, Deserialize)]
pub struct RankingQuery {
    pub metric: String,
    pub dataset_id: String,
    pub order: Option<String>,
}

/// Written by hand: a derived parameter with `schema_with` loses `required` and its description.
impl utoipa::IntoParams for RankingQuery {
    fn into_params(_: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::Required;
        let param = |name: &str, required: bool, description: &str, schema: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(if required { Required::True } else { Required::False })
                .description(Some(description))
                .schema(Some(schema))
                .build()
        };
        let string = utoipa::openapi::schema::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::String).build();
        vec![
            param(
                "metric",
                true,
                "The metric ranked by (a corpus score: bleu, chrf, rougeL, meteor, exact_match, perplexity, …).",
                super::gates::threshold_metric_schema().build().into(),
            ),
            param("dataset_id", true, "The test set: only evaluations on this dataset count.", string.into()),
            param("order", false, "`desc` (default: higher is better) or `asc` (e.g. for perplexity).", order_schema().build().into()),
        ]
    }
}

fn order_schema() -> utoipa::openapi::schema::ObjectBuilder {
    domain::schema::one_of(true, ["desc", "asc"])
}

/// One ranked model.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RankedModel {
    pub rank: usize,
    /// What was evaluated: a fine-tuned model (`mdl_…`), a checkpoint (`ckpt_…`), a base model
    /// with no adapter (`bm_…`), or an external deployment's id.
    pub model: String,
    pub name: String,
    pub score: f64,
    /// The score's bootstrap interval, when it has one.
    pub interval: Option<[f64; 2]>,
    /// The evaluation the score comes from (the model's newest on the test set).
    pub evaluation_id: String,
    pub dataset_version: Option<i64>,
}

/// A ranking of models on one test set.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Ranking {
    pub object: &'static str,
    pub metric: String,
    pub dataset_id: String,
    pub order: String,
    /// The best model (null when none was evaluated there with the metric).
    pub best: Option<RankedModel>,
    pub models: Vec<RankedModel>,
}

/// The identity of the model an evaluation's answers came from.
fn subject(r: &ResolvedModel) -> String {
    r.model_id.clone().or(r.checkpoint_id.clone()).or(r.base_model_id.clone()).unwrap_or_else(|| r.deployment_id.clone())
}

impl Services {
    /// Generate evaluations of the organization the caller may see, newest first.
    async fn visible_generate_evaluations(&self, principal: &Principal, succeeded_only: bool) -> Result<Vec<Evaluation>> {
        let only = succeeded_only.then_some(state::SUCCEEDED);
        let rows =
            database::evaluations::recent(&mut *self.db().read().await?, &principal.organization_id, "generate", only, SEARCHED).await?;
        let mut out = Vec::new();
        for row in rows {
            match self.evaluation_with(principal, &row.id, Permission::ViewMetrics).await {
                Ok(e) => out.push(e),
                Err(Error::NotFound(_) | Error::PermissionDenied(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// A dataset version's lineage, or None when the caller may not see its dataset.
    async fn lineage_of(&self, principal: &Principal, version_id: &str) -> Result<Option<Lineage>> {
        let v = database::datasets::version_by_id(&mut *self.db().read().await?, &principal.organization_id, version_id)
            .await
            .or_not_found("dataset version")?;
        match self.version_lineage(principal, &v.dataset_id, v.version).await {
            Ok(l) => Ok(Some(l)),
            Err(Error::NotFound(_) | Error::PermissionDenied(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A fine-tuned model's experiment record (`view_metrics`).
    pub async fn experiment_record(&self, principal: &Principal, model_id: &str) -> Result<ExperimentRecord> {
        let model = self.get_model(principal, model_id).await?;
        let job = match self.get_job(principal, &model.row.job_id).await {
            Ok(j) => Some(j),
            Err(Error::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let training_data = self.lineage_of(principal, &model.row.dataset_version_id).await?;
        let validation_data = match job.as_ref().and_then(|j| j.row.validation_version_id.clone()) {
            Some(v) => self.lineage_of(principal, &v).await?,
            None => None,
        };
        let gated =
            GatedModel { model_id: Some(model.row.id.clone()), base_model_id: Some(model.row.base_model_id.clone()), ..Default::default() };
        let evaluations: Vec<Evaluation> = self
            .visible_generate_evaluations(principal, false)
            .await?
            .into_iter()
            .filter(|e| e.config.model.as_ref().is_some_and(|r| gated.made(r)))
            .collect();
        let mut human_evals = Vec::new();
        let mut seen = Vec::new();
        for e in &evaluations {
            for h in database::human_evals::of_evaluation(&mut *self.db().read().await?, &e.row.id).await? {
                if seen.contains(&h) {
                    continue;
                }
                seen.push(h.clone());
                match self.human_eval_with(principal, &h, Permission::ViewMetrics).await {
                    Ok(x) => human_evals.push(x),
                    Err(Error::NotFound(_) | Error::PermissionDenied(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(ExperimentRecord { model, job, training_data, validation_data, evaluations, human_evals })
    }

    /// The models evaluated on a test set, ranked by a metric: each by its newest succeeded
    /// evaluation there that scored it.
    pub async fn rank_models(&self, principal: &Principal, q: RankingQuery) -> Result<Ranking> {
        principal.require(Permission::ViewMetrics)?;
        if !metrics::suite::METRIC_NAMES.contains(&q.metric.as_str()) || q.metric == "rouge" {
            return Err(ValidationError::new("metric", format!("'{}' is not a metric with one score", q.metric)).into());
        }
        let descending = match q.order.as_deref() {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(other) => return Err(ValidationError::new("order", format!("'{other}' is not asc or desc")).into()),
        };
        self.visible_dataset(principal, &q.dataset_id).await?;
        let mut newest: BTreeMap<String, (Evaluation, f64)> = BTreeMap::new();
        for e in self.visible_generate_evaluations(principal, true).await? {
            let (Some(model), Some(score)) = (&e.config.model, e.results.as_ref().and_then(|r| r["metrics"][&q.metric]["score"].as_f64()))
            else {
                continue;
            };
            if e.config.dataset_id.as_deref() != Some(q.dataset_id.as_str()) {
                continue;
            }
            // Newest first: the first seen of each model is its newest.
            newest.entry(subject(model)).or_insert((e, score));
        }
        let mut ranked = Vec::new();
        for (key, (e, score)) in newest {
            let interval = e.results.as_ref().and_then(|r| {
                let i = r["metrics"][&q.metric]["interval"].as_array()?;
                Some([i.first()?.as_f64()?, i.get(1)?.as_f64()?])
            });
            let name = self.subject_name(principal, &key, &e).await?;
            ranked.push(RankedModel {
                rank: 0,
                model: key,
                name,
                score,
                interval,
                evaluation_id: e.row.id.clone(),
                dataset_version: e.config.dataset_version,
            });
        }
        ranked.sort_by(|a, b| if descending { b.score.total_cmp(&a.score) } else { a.score.total_cmp(&b.score) });
        for (i, r) in ranked.iter_mut().enumerate() {
            r.rank = i + 1;
        }
        Ok(Ranking {
            object: "model.ranking",
            metric: q.metric,
            dataset_id: q.dataset_id,
            order: if descending { "desc" } else { "asc" }.into(),
            best: ranked.first().cloned(),
            models: ranked,
        })
    }

    /// A readable name of an evaluated model.
    async fn subject_name(&self, principal: &Principal, key: &str, e: &Evaluation) -> Result<String> {
        let mut conn = self.db().read().await?;
        let name = if key.starts_with("mdl_") {
            database::models::get(&mut conn, &principal.organization_id, key).await.ok().map(|m| m.name)
        } else if key.starts_with("bm_") {
            database::base_models::get(&mut conn, &principal.organization_id, key).await.ok().map(|m| m.name)
        } else {
            None
        };
        Ok(name.unwrap_or_else(|| e.config.model.as_ref().map(|m| m.deployment_name.clone()).unwrap_or_else(|| key.to_string())))
    }
}
