//! Evaluations as the API shows them.

use serde::Serialize;
use serde_json::Value;
use services::evaluations::{Evaluation, EvaluationExample, EvaluationWait};
use services::training::JobCost;
use utoipa::ToSchema;

/// How far an evaluation got.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvaluationProgress {
    /// Examples answered (all of them at once for a predictions file).
    pub answered: i64,
    pub total: i64,
}

/// An evaluation: what it evaluates, with what, how far it got, and its scores.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvaluationView {
    pub id: String,
    pub object: &'static str,
    pub name: String,
    pub project_id: Option<String>,
    /// `generate` (a model answered a test set) or `predictions` (a file was scored).
    pub kind: String,
    /// queued, running, succeeded, failed or cancelled.
    pub state: String,
    /// What the request named (a model id or a deployment's name).
    pub model: Option<String>,
    /// The deployment the answers came through.
    pub deployment_id: Option<String>,
    pub dataset_version_id: Option<String>,
    /// Everything it was made with — metrics, tokenize, generation, bootstrap, the resolved
    /// model with its chat template's digest, the prompt rendering, the metrics version —
    /// enough to rerun it.
    pub config: services::evaluations::EvaluationConfig,
    /// `{"metrics": {name: {score, interval, confidence, implementation, …}}, "examples": n}`
    /// once it succeeded.
    #[schema(value_type = Option<Object>)]
    pub results: Option<Value>,
    pub progress: EvaluationProgress,
    pub error: Option<String>,
    /// The evaluation this one reran.
    pub rerun_of: Option<String>,
    /// What its runs used: one device slot of a deployment served here while a runner held
    /// it (none for an external URL or a predictions file), priced like a job's GPU-hours.
    pub cost: Option<JobCost>,
    /// Why it still waits, while queued: `quota` (a jobs-at-once limit, or a month's
    /// GPU-hours or budget used up) or `runners` (every runner busy). Shown when one
    /// evaluation is read.
    pub wait: Option<EvaluationWait>,
    pub created_by: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

impl From<Evaluation> for EvaluationView {
    fn from(e: Evaluation) -> Self {
        let r = e.row;
        EvaluationView {
            id: r.id,
            object: "evaluation",
            name: r.name,
            project_id: r.project_id,
            kind: r.kind,
            state: r.state,
            model: r.model,
            deployment_id: r.deployment_id,
            dataset_version_id: r.dataset_version_id,
            config: e.config,
            results: e.results,
            progress: EvaluationProgress { answered: r.examples_done, total: r.examples_total },
            error: r.error,
            rerun_of: r.rerun_of,
            cost: e.cost,
            wait: e.wait,
            created_by: r.created_by,
            created_at: r.created_at / 1000,
            started_at: r.started_at.map(|t| t / 1000),
            finished_at: r.finished_at.map(|t| t / 1000),
        }
    }
}

/// A page of an evaluation's examples (`after` is the last index of the previous page).
#[derive(Debug, Serialize, ToSchema)]
pub struct EvaluationExampleList {
    pub object: &'static str,
    pub data: Vec<EvaluationExample>,
    pub has_more: bool,
}

/// An offline A/B test: B compared with A on one metric.
#[derive(Debug, Serialize, ToSchema)]
pub struct AbTestView {
    pub id: String,
    pub object: &'static str,
    pub name: String,
    pub project_id: Option<String>,
    /// The control.
    pub evaluation_a: String,
    /// The candidate.
    pub evaluation_b: String,
    pub metric: String,
    pub config: services::evaluations::AbTestConfig,
    pub results: services::evaluations::AbResults,
    pub created_by: String,
    pub created_at: i64,
}

impl From<services::evaluations::AbTest> for AbTestView {
    fn from(t: services::evaluations::AbTest) -> Self {
        let r = t.row;
        AbTestView {
            id: r.id,
            object: "ab_test",
            name: r.name,
            project_id: r.project_id,
            evaluation_a: r.evaluation_a,
            evaluation_b: r.evaluation_b,
            metric: r.metric,
            config: t.config,
            results: t.results,
            created_by: r.created_by,
            created_at: r.created_at / 1000,
        }
    }
}

/// A human evaluation: the models rated, how, by whom.
#[derive(Debug, Serialize, ToSchema)]
pub struct HumanEvalView {
    pub id: String,
    pub object: &'static str,
    pub name: String,
    pub project_id: Option<String>,
    /// rubric or pairwise.
    pub mode: services::evaluations::HumanEvalMode,
    /// open (taking ratings) or closed.
    pub state: String,
    /// Items (examples) to rate.
    pub items: i64,
    /// The evaluations whose answers are rated, by position (raters never see which is which).
    pub evaluation_ids: Vec<String>,
    /// The test set's dataset version, when the evaluations have one.
    pub dataset_version_id: Option<String>,
    /// The rubric (empty for pairwise).
    pub criteria: Vec<services::evaluations::Criterion>,
    pub error_tags: Vec<String>,
    pub raters: services::evaluations::Raters,
    pub instructions: String,
    pub created_by: String,
    pub created_at: i64,
    pub closed_at: Option<i64>,
}

impl From<services::evaluations::HumanEval> for HumanEvalView {
    fn from(h: services::evaluations::HumanEval) -> Self {
        let (r, c) = (h.row, h.config);
        HumanEvalView {
            id: r.id,
            object: "human_eval",
            name: r.name,
            project_id: r.project_id,
            mode: h.mode,
            state: r.state,
            items: r.items,
            evaluation_ids: h.evaluation_ids,
            dataset_version_id: c.dataset_version_id,
            criteria: c.criteria,
            error_tags: c.error_tags,
            raters: c.raters,
            instructions: c.instructions,
            created_by: r.created_by,
            created_at: r.created_at / 1000,
            closed_at: r.closed_at.map(|t| t / 1000),
        }
    }
}

/// A fine-tuned model's experiment record: what made it and everything known of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExperimentRecordView {
    pub object: &'static str,
    pub model: crate::views::ModelView,
    /// The job that trained it, with its training configuration (null if it was deleted).
    pub job: Option<crate::views::JobView>,
    /// Where the training data came from: its version, ancestors and recipes (null when the
    /// caller may not see the dataset).
    pub training_data: Option<crate::views::LineageView>,
    pub validation_data: Option<crate::views::LineageView>,
    /// Every evaluation of exactly this model, newest first.
    pub evaluations: Vec<EvaluationView>,
    /// Human evaluations that rate any of them.
    pub human_evals: Vec<HumanEvalView>,
}

impl TryFrom<services::evaluations::ExperimentRecord> for ExperimentRecordView {
    type Error = crate::error::ApiError;

    fn try_from(r: services::evaluations::ExperimentRecord) -> Result<Self, Self::Error> {
        Ok(ExperimentRecordView {
            object: "model.record",
            model: r.model.into(),
            job: r.job.map(Into::into),
            training_data: r.training_data.map(TryInto::try_into).transpose()?,
            validation_data: r.validation_data.map(TryInto::try_into).transpose()?,
            evaluations: r.evaluations.into_iter().map(Into::into).collect(),
            human_evals: r.human_evals.into_iter().map(Into::into).collect(),
        })
    }
}
