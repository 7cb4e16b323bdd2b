//! Evaluations: a model answers a test set (a dataset version's conversations, each prompt
//! being the messages before its last assistant answer and the reference that answer) through
//! the same serving path as production traffic, and named metrics score the answers; or a
//! predictions file made elsewhere is scored as it is. Every evaluation stores what it needs to
//! be rerun — the requested and resolved model, the dataset version, generation settings, the
//! chat template's digest, the metrics and their bootstrap — its corpus scores with bootstrap
//! confidence intervals, and each example with its own scores. Evaluations are queued and run
//! by `run.rs` (a claim is one conditional change; a lease lets another server take over).

mod accounting;
mod compare;
mod examples;
mod gates;
mod human;
mod human_rating;
mod human_results;
mod judge;
mod record;
mod resources;
mod run;

pub use accounting::EvaluationWait;
pub use compare::{
    word_diff, AbResults, AbTest, AbTestConfig, ComparedAnswer, ComparedEvaluation, ComparedExample, Comparison, DiffOp, NewAbTest,
    NewComparison, ScoreBins, TableScore, VersusFirst,
};
pub use examples::EvaluationExample;
pub use gates::{Gate, GatedModel, PassedGate, Threshold};
pub use human::{
    default_criteria, Criterion, HumanEval, HumanEvalConfig, HumanEvalMode, NewHumanEval, Raters, DEFAULT_ERROR_TAGS, MAX_ITEMS,
};
pub use human_rating::{AnswerRating, HumanEvalItem, RaterProgress, RaterView, RatingInput, ShownAnswer};
pub use human_results::{
    Agreement, CriterionFigures, HumanEvalFigures, HumanEvalResults, Kappa, PairwiseFigures, PreferenceExport, PreferenceShare, RatedModel,
    RaterNote, RaterTally, RubricFigures, RubricModelFigures, ScoreCount, TagCounts,
};
pub use judge::{JudgeConfig, JudgeMode, NewJudgeEvaluation};
pub use record::{ExperimentRecord, RankedModel, Ranking, RankingQuery};
pub use resources::{Digest, Encoder, MetricResources};
pub use run::Runner;

use crate::audit::{append, AuditEvent};
use crate::error::OrNotFound;
use crate::{now_ms, Error, Page, Principal, RequestContext, Result, Services};
use database::evaluations::{EvaluationRow, ExampleRow};
use domain::ids::IdKind;
use domain::{validate, Permission, ValidationError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most examples one evaluation holds.
pub const MAX_EXAMPLES: usize = 20_000;

/// Generation settings of an evaluation (greedy by default, so a rerun gives the same answers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerationSettings {
    /// Most tokens per answer (1–8192; default 256).
    #[serde(default = "default_max_tokens")]
    #[schema(minimum = 1, maximum = 8192)]
    pub max_tokens: u32,
    /// 0 (the default) decodes greedily.
    #[serde(default)]
    #[schema(minimum = 0.0, maximum = 2.0)]
    pub temperature: f64,
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub top_p: Option<f64>,
    /// Seed of each request's sampling (default 0).
    #[serde(default)]
    pub seed: u64,
    /// Up to 4 stop strings.
    #[schema(max_items = 4)]
    pub stop: Option<Vec<String>>,
}

fn default_max_tokens() -> u32 {
    256
}

impl Default for GenerationSettings {
    fn default() -> GenerationSettings {
        GenerationSettings { max_tokens: default_max_tokens(), temperature: 0.0, top_p: None, seed: 0, stop: None }
    }
}

/// Bootstrap confidence intervals of the corpus scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BootstrapSettings {
    /// Resamples (0: no intervals; at most 10000; default 1000).
    #[serde(default = "default_resamples")]
    #[schema(maximum = 10000)]
    pub resamples: u32,
    /// Confidence level, 0.5–0.999 (default 0.95).
    #[serde(default = "default_confidence")]
    #[schema(minimum = 0.5, maximum = 0.999)]
    pub confidence: f64,
    /// The resampling seed (default 12345): the same seed gives the same interval.
    #[serde(default = "default_bootstrap_seed")]
    pub seed: u64,
}

fn default_resamples() -> u32 {
    1000
}
fn default_confidence() -> f64 {
    0.95
}
fn default_bootstrap_seed() -> u64 {
    12345
}

impl Default for BootstrapSettings {
    fn default() -> BootstrapSettings {
        BootstrapSettings { resamples: default_resamples(), confidence: default_confidence(), seed: default_bootstrap_seed() }
    }
}

/// A request to evaluate a model on a test set.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvaluation {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    pub project_id: Option<String>,
    /// A base model (`bm_…`), fine-tuned model (`mdl_…`) or checkpoint (`ckpt_…`) id — deployed
    /// on demand when no deployment of it exists — or a deployment's name (also an external one:
    /// any OpenAI-compatible URL).
    #[schema(min_length = 1, max_length = 300)]
    pub model: String,
    /// The test set: a dataset of conversations; each prompt is a record's messages before its
    /// last assistant message, and the reference that message.
    pub dataset_id: String,
    /// The dataset's version (default: its latest).
    #[schema(minimum = 1)]
    pub version: Option<i64>,
    /// Metric names: bleu, chrf, chrf++, rouge (the four ROUGEs), rouge1, rouge2, rougeL,
    /// rougeLsum, meteor (with WordNet synonyms where the server has WordNet), exact_match, f1,
    /// accuracy, macro_f1, distinct-1, distinct-2, self_bleu, perplexity (this platform's
    /// runtime only), bertscore (where the administrator set an encoder), bleurt (where the
    /// administrator set a checkpoint).
    #[schema(schema_with = metric_names_schema)]
    pub metrics: Vec<String>,
    /// How BLEU, distinct-n and self-BLEU tokenize: `13a` (default), `zh` or `none`.
    #[schema(schema_with = tokenize_schema)]
    pub tokenize: Option<String>,
    /// Porter-stem ROUGE's tokens (rouge-score's `use_stemmer`; default false).
    #[serde(default)]
    pub rouge_stemmer: bool,
    #[serde(default)]
    pub generation: GenerationSettings,
    #[serde(default)]
    pub bootstrap: BootstrapSettings,
    /// Only the first N examples of the test set.
    #[schema(minimum = 1, maximum = 20000)]
    pub limit: Option<u32>,
    /// Requests in flight at once (1–64, default 8): the serving engine batches them.
    #[schema(minimum = 1, maximum = 64)]
    pub concurrency: Option<u32>,
}

/// What a predictions file is scored with.
#[derive(Debug, Clone, Default)]
pub struct NewScoring {
    pub name: Option<String>,
    pub project_id: Option<String>,
    pub metrics: Vec<String>,
    pub tokenize: Option<String>,
    pub rouge_stemmer: bool,
    pub bootstrap: BootstrapSettings,
}

/// The model an evaluation's answers came from, as resolved when it was created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResolvedModel {
    /// What the request named.
    pub requested: String,
    pub deployment_id: String,
    pub deployment_name: String,
    /// local, vllm or external.
    pub backend: String,
    pub base_model_id: Option<String>,
    pub model_id: Option<String>,
    pub checkpoint_id: Option<String>,
    /// SHA-256 of the chat template the serving process renders prompts with (the base
    /// model's), when the backend is one of ours.
    pub chat_template_sha256: Option<String>,
}

/// Everything an evaluation was made with (`evaluations.config`): enough to rerun it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EvaluationConfig {
    pub metrics: Vec<String>,
    pub tokenize: String,
    /// ROUGE's tokens Porter-stemmed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rouge_stemmer: bool,
    pub bootstrap: BootstrapSettings,
    /// Generation (None for a predictions file).
    pub generation: Option<GenerationSettings>,
    pub concurrency: u32,
    pub model: Option<ResolvedModel>,
    pub dataset_id: Option<String>,
    pub dataset_version: Option<i64>,
    pub limit: Option<u32>,
    /// How prompts are made from records.
    pub prompt_rendering: Option<String>,
    /// The metrics implementation (`metrics` crate of this build).
    pub metrics_version: String,
    /// A judge evaluation: how the judge judges which evaluations' answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeConfig>,
    /// METEOR's WordNet, BERTScore's encoder, the BLEURT checkpoint — by digest.
    #[serde(default, skip_serializing_if = "MetricResources::is_empty")]
    pub resources: MetricResources,
}

/// States of an evaluation.
pub mod state {
    pub const QUEUED: &str = "queued";
    pub const RUNNING: &str = "running";
    pub const SUCCEEDED: &str = "succeeded";
    pub const FAILED: &str = "failed";
    pub const CANCELLED: &str = "cancelled";
}

/// An evaluation, read back.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub row: EvaluationRow,
    pub config: EvaluationConfig,
    /// `{"metrics": {name: {score, interval, …}}}` once it succeeded.
    pub results: Option<Value>,
    /// What its runs used (read back through the API; None inside the runner).
    pub cost: Option<crate::training::JobCost>,
    /// Why it waits, while queued (a single evaluation read back).
    pub wait: Option<EvaluationWait>,
}

impl Evaluation {
    fn of(row: EvaluationRow) -> Result<Evaluation> {
        let config = serde_json::from_str(&row.config)
            .map_err(|e| Error::Internal(format!("evaluation {}: the stored configuration does not parse: {e}", row.id)))?;
        let results = match &row.results {
            Some(r) => Some(
                serde_json::from_str(r)
                    .map_err(|e| Error::Internal(format!("evaluation {}: the stored results do not parse: {e}", row.id)))?,
            ),
            None => None,
        };
        Ok(Evaluation { row, config, results, cost: None, wait: None })
    }
}

/// 1 to 20 of the metric names.
fn metric_names_schema() -> utoipa::openapi::schema::ArrayBuilder {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(domain::schema::one_of(false, metrics::suite::METRIC_NAMES.iter().copied()))
        .min_items(Some(1))
        .max_items(Some(20))
}

/// A comma-separated list of metric names, or nothing (a form field).
pub fn metric_list_pattern() -> String {
    let name = metrics::suite::METRIC_NAMES.iter().map(|m| m.replace('+', "\\+")).collect::<Vec<_>>().join("|");
    format!("^(({name})(,({name}))*)?$")
}

/// The BLEU tokenizers, or null.
fn tokenize_schema() -> utoipa::openapi::schema::ObjectBuilder {
    domain::schema::one_of(true, ["13a", "zh", "none"])
}

fn check_metrics(metrics: &[String]) -> Result<Vec<String>> {
    if metrics.is_empty() || metrics.len() > 20 {
        return Err(ValidationError::new("metrics", format!("give 1 to 20 metrics (got {})", metrics.len())).into());
    }
    let mut out: Vec<String> = Vec::new();
    for (i, m) in metrics.iter().enumerate() {
        let m = m.as_str();
        metrics::suite::check_metric(m).map_err(|e| ValidationError::new(&format!("metrics[{i}]"), e))?;
        if !out.iter().any(|o| o == m) {
            out.push(m.to_string());
        }
    }
    Ok(out)
}

fn check_tokenize(tokenize: Option<&str>) -> Result<String> {
    let t = tokenize.unwrap_or("13a");
    match metrics::BleuTokenizer::parse(t) {
        Some(t) => Ok(t.name().to_string()),
        None => Err(ValidationError::new("tokenize", format!("'{t}' is not a tokenizer (use 13a, zh or none)")).into()),
    }
}

fn check_bootstrap(b: &BootstrapSettings) -> Result<()> {
    if b.resamples > 10_000 {
        return Err(ValidationError::new("bootstrap.resamples", format!("at most 10000 (got {})", b.resamples)).into());
    }
    if !(0.5..=0.999).contains(&b.confidence) {
        return Err(ValidationError::new("bootstrap.confidence", format!("must be 0.5 to 0.999 (got {})", b.confidence)).into());
    }
    Ok(())
}

fn check_generation(g: &GenerationSettings) -> Result<()> {
    if !(1..=8192).contains(&g.max_tokens) {
        return Err(ValidationError::new("generation.max_tokens", format!("must be 1 to 8192 (got {})", g.max_tokens)).into());
    }
    if !(0.0..=2.0).contains(&g.temperature) {
        return Err(ValidationError::new("generation.temperature", format!("must be 0 to 2 (got {})", g.temperature)).into());
    }
    if let Some(p) = g.top_p {
        if !(0.0..=1.0).contains(&p) {
            return Err(ValidationError::new("generation.top_p", format!("must be 0 to 1 (got {p})")).into());
        }
    }
    if g.stop.as_ref().is_some_and(|s| s.len() > 4) {
        return Err(ValidationError::new("generation.stop", "at most 4 stop strings").into());
    }
    Ok(())
}

pub(super) fn check_name(name: Option<&str>, fallback: impl FnOnce() -> String) -> Result<String> {
    match name {
        Some(n) if n.is_empty() || n.chars().count() > 200 => Err(ValidationError::new("name", "must be 1 to 200 characters").into()),
        Some(n) if n.trim().is_empty() => Err(ValidationError::unprocessable("name", "must not be only white space").into()),
        Some(n) => Ok(n.trim().to_string()),
        None => Ok(fallback()),
    }
}

/// How prompts and references are made from a test set's records (stored with the evaluation).
pub const PROMPT_RENDERING: &str =
    "chat records: the messages before the last assistant message are the prompt, that message the reference; \
     preference records: the prompt, and the chosen answer's last assistant message as the reference";

impl Services {
    /// Creates an evaluation of a model on a test set (202: it is queued). Needs `deploy_model`
    /// (it calls the model) and sight of the dataset.
    pub async fn create_evaluation(&self, principal: &Principal, n: NewEvaluation, ctx: &RequestContext) -> Result<Evaluation> {
        self.require_in(principal, n.project_id.as_deref(), Permission::DeployModel).await?;
        let metrics = check_metrics(&n.metrics)?;
        let resources = self.metric_resources(&metrics)?;
        let tokenize = check_tokenize(n.tokenize.as_deref())?;
        check_bootstrap(&n.bootstrap)?;
        check_generation(&n.generation)?;
        let concurrency = n.concurrency.unwrap_or(8);
        if !(1..=64).contains(&concurrency) {
            return Err(ValidationError::new("concurrency", format!("must be 1 to 64 (got {concurrency})")).into());
        }
        if n.limit.is_some_and(|l| l == 0 || l as usize > MAX_EXAMPLES) {
            return Err(ValidationError::new("limit", format!("must be 1 to {MAX_EXAMPLES}")).into());
        }
        let dataset = self.visible_dataset(principal, &n.dataset_id).await?;
        let version_number = n.version.unwrap_or(dataset.dataset.latest_version);
        let version = self.get_version(principal, &n.dataset_id, version_number).await?;
        let cases = self.test_cases(&version, n.limit.map(|l| l as usize)).await?;
        let model = self.resolve_evaluated_model(principal, &n.model, ctx).await?;
        if metrics.iter().any(|m| m == "perplexity") && model.backend != "local" {
            let why = format!(
                "perplexity needs the model's log-probabilities, which only this platform's runtime gives: '{}' is served by {}",
                n.model, model.backend
            );
            return Err(ValidationError::unprocessable("metrics", why).into());
        }
        let name = check_name(n.name.as_deref(), || format!("{} on {} v{version_number}", n.model, dataset.dataset.name))?;
        let config = EvaluationConfig {
            metrics,
            tokenize,
            rouge_stemmer: n.rouge_stemmer,
            bootstrap: n.bootstrap,
            generation: Some(n.generation),
            concurrency,
            model: Some(model.clone()),
            dataset_id: Some(n.dataset_id.clone()),
            dataset_version: Some(version_number),
            limit: n.limit,
            prompt_rendering: Some(PROMPT_RENDERING.to_string()),
            metrics_version: metrics_version(),
            judge: None,
            resources,
        };
        let row = self.new_evaluation_row(principal, n.project_id, name, "generate", Some(n.model), &config, cases.len());
        let row = EvaluationRow { deployment_id: Some(model.deployment_id), dataset_version_id: Some(version.id), ..row };
        self.insert_evaluation(principal, row, cases, ctx).await
    }

    /// Creates an evaluation that scores a predictions file (JSONL, see
    /// `metrics::suite::parse_jsonl`) as it is. Needs `deploy_model`.
    pub async fn score_predictions(
        &self,
        principal: &Principal,
        n: NewScoring,
        file: &str,
        filename: &str,
        ctx: &RequestContext,
    ) -> Result<Evaluation> {
        self.require_in(principal, n.project_id.as_deref(), Permission::DeployModel).await?;
        let metrics = check_metrics(&n.metrics)?;
        if let Some(m) = metrics.iter().find(|m| metrics::suite::MODEL_METRICS.contains(&m.as_str())) {
            let why = format!("{m} needs the model's log-probabilities: evaluate the model itself, not a file of its answers");
            return Err(ValidationError::unprocessable("metrics", why).into());
        }
        let resources = self.metric_resources(&metrics)?;
        let tokenize = check_tokenize(n.tokenize.as_deref())?;
        check_bootstrap(&n.bootstrap)?;
        let parsed = metrics::suite::parse_jsonl(file, filename).map_err(|e| ValidationError::unprocessable("file", e))?;
        if parsed.len() > MAX_EXAMPLES {
            return Err(ValidationError::unprocessable("file", format!("{} examples; at most {MAX_EXAMPLES}", parsed.len())).into());
        }
        let cases: Vec<examples::Case> = parsed
            .into_iter()
            .map(|e| examples::Case { references: e.references, prediction: Some(e.prediction), ..Default::default() })
            .collect();
        let config = EvaluationConfig {
            metrics,
            tokenize,
            rouge_stemmer: n.rouge_stemmer,
            bootstrap: n.bootstrap,
            generation: None,
            concurrency: 1,
            model: None,
            dataset_id: None,
            dataset_version: None,
            limit: None,
            prompt_rendering: None,
            metrics_version: metrics_version(),
            judge: None,
            resources,
        };
        let name = check_name(n.name.as_deref(), || filename.to_string())?;
        let row = self.new_evaluation_row(principal, n.project_id, name, "predictions", None, &config, cases.len());
        self.insert_evaluation(principal, row, cases, ctx).await
    }

    /// Runs an evaluation again with its stored configuration (the same model request, dataset
    /// version, generation, metrics and bootstrap seed; a predictions file's examples as they
    /// were): 202, a new evaluation whose `rerun_of` names this one.
    pub async fn rerun_evaluation(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<Evaluation> {
        let old = self.evaluation_with(principal, id, Permission::DeployModel).await?;
        let cases = match old.row.kind.as_str() {
            "predictions" => self.evaluation_cases(&old.row).await?,
            // The same answers judged again.
            "judge" => self.evaluation_cases(&old.row).await?.into_iter().map(|c| examples::Case { judgements: None, ..c }).collect(),
            _ => {
                let version_id = old
                    .row
                    .dataset_version_id
                    .as_deref()
                    .ok_or_else(|| Error::Internal(format!("evaluation {id} has no dataset version")))?;
                let version = database::datasets::version_by_id(&mut *self.db().read().await?, &principal.organization_id, version_id)
                    .await
                    .or_not_found("dataset version")?;
                self.visible_dataset(principal, &version.dataset_id).await?;
                self.test_cases(&version, old.config.limit.map(|l| l as usize)).await?
            }
        };
        let mut config = old.config.clone();
        if let Some(model) = &old.config.model {
            config.model = Some(self.resolve_evaluated_model(principal, &model.requested, ctx).await?);
        }
        config.metrics_version = metrics_version();
        let name = format!("{} (rerun)", old.row.name.trim_end_matches(" (rerun)"));
        let row = self.new_evaluation_row(
            principal,
            old.row.project_id.clone(),
            name,
            &old.row.kind,
            old.row.model.clone(),
            &config,
            cases.len(),
        );
        let row = EvaluationRow {
            deployment_id: config.model.as_ref().map(|m| m.deployment_id.clone()),
            dataset_version_id: old.row.dataset_version_id.clone(),
            rerun_of: Some(old.row.id.clone()),
            ..row
        };
        self.insert_evaluation(principal, row, cases, ctx).await
    }

    #[allow(clippy::too_many_arguments)]
    fn new_evaluation_row(
        &self,
        principal: &Principal,
        project_id: Option<String>,
        name: String,
        kind: &str,
        model: Option<String>,
        config: &EvaluationConfig,
        examples: usize,
    ) -> EvaluationRow {
        EvaluationRow {
            id: crate::crypto::new_id(IdKind::Evaluation),
            organization_id: principal.organization_id.clone(),
            project_id,
            name,
            kind: kind.to_string(),
            state: state::QUEUED.to_string(),
            model,
            deployment_id: None,
            dataset_version_id: None,
            config: serde_json::to_string(config).expect("a configuration serialises"),
            results: None,
            examples_total: examples as i64,
            examples_done: 0,
            error: None,
            rerun_of: None,
            runner_instance: None,
            lease_expires_at: None,
            created_by: principal.user_id.clone(),
            created_at: now_ms(),
            started_at: None,
            finished_at: None,
        }
    }

    /// Stores the evaluation with its examples and audit record in one transaction, then wakes
    /// the runner.
    async fn insert_evaluation(
        &self,
        principal: &Principal,
        row: EvaluationRow,
        cases: Vec<examples::Case>,
        ctx: &RequestContext,
    ) -> Result<Evaluation> {
        let answered = cases.iter().filter(|c| c.prediction.is_some()).count() as i64;
        let row = EvaluationRow { examples_done: answered, ..row };
        let sealed: Vec<ExampleRow> = cases
            .iter()
            .enumerate()
            .map(|(i, c)| ExampleRow {
                evaluation_id: row.id.clone(),
                idx: i as i64,
                sealed: self.seal_case(&row.id, i as i64, c),
                answered: i64::from(c.prediction.is_some()),
                scores: None,
            })
            .collect();
        let mut tx = self.db().begin_write().await?;
        self.check_evaluation_quotas(tx.conn(), principal, row.project_id.as_deref()).await?;
        database::evaluations::insert(tx.conn(), &row).await?;
        for x in &sealed {
            database::evaluations::insert_example(tx.conn(), x).await?;
        }
        let event = AuditEvent::by(principal, "evaluation.create").target("evaluation", &row.id).details(serde_json::json!({
            "kind": row.kind, "model": row.model, "dataset_version_id": row.dataset_version_id, "examples": row.examples_total, "rerun_of": row.rerun_of,
        }));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        self.wake_evaluations();
        Evaluation::of(row)
    }

    /// The deployment an evaluation's answers come through: a model id is deployed on demand
    /// (as the playground does), a name must be a deployment the caller may call.
    async fn resolve_evaluated_model(&self, principal: &Principal, requested: &str, ctx: &RequestContext) -> Result<ResolvedModel> {
        let name = self.deployment_for(principal, requested, ctx).await.map_err(|e| match e {
            Error::NotFound(_) => {
                ValidationError::unprocessable("model", format!("'{requested}' is neither a model nor a deployment you may call")).into()
            }
            e => e,
        })?;
        let row = match database::deployments::by_name(&mut *self.db().read().await?, &principal.organization_id, &name).await {
            Ok(row) => row,
            Err(database::Error::NotFound) => {
                let split = database::traffic::by_name(&mut *self.db().read().await?, &principal.organization_id, &name).await?;
                let why = if split.is_some() {
                    format!("'{requested}' is a traffic split: evaluate each of its deployments by name")
                } else {
                    format!("'{requested}' is neither a model nor a deployment you may call")
                };
                return Err(ValidationError::unprocessable("model", why).into());
            }
            Err(e) => return Err(e.into()),
        };
        match self.check_deployment_access(principal, &row, Permission::DeployModel).await {
            Err(Error::NotFound(_)) => {
                return Err(ValidationError::unprocessable(
                    "model",
                    format!("'{requested}' is neither a model nor a deployment you may call"),
                )
                .into())
            }
            other => other?,
        }
        let chat_template_sha256 = match &row.base_model_id {
            Some(bm) => database::base_models::get(&mut *self.db().read().await?, &principal.organization_id, bm)
                .await
                .ok()
                .and_then(|m| m.chat_template)
                .map(|t| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(t.as_bytes()))),
            None => None,
        };
        Ok(ResolvedModel {
            requested: requested.to_string(),
            deployment_id: row.id,
            deployment_name: row.name,
            backend: row.backend,
            base_model_id: row.base_model_id,
            model_id: row.model_id,
            checkpoint_id: row.checkpoint_id,
            chat_template_sha256,
        })
    }

    /// An evaluation the caller may see (`view_metrics` where it lives; 404 otherwise) and
    /// holds `permission` on.
    async fn evaluation_with(&self, principal: &Principal, id: &str, permission: Permission) -> Result<Evaluation> {
        let row =
            database::evaluations::get(&mut *self.db().read().await?, &principal.organization_id, id).await.or_not_found("evaluation")?;
        self.require_on_resource(principal, row.project_id.as_deref(), "evaluation", permission).await?;
        Evaluation::of(row)
    }

    pub async fn get_evaluation(&self, principal: &Principal, id: &str) -> Result<Evaluation> {
        let e = self.evaluation_with(principal, id, Permission::ViewMetrics).await?;
        let wait = self.evaluation_wait(&e.row).await?;
        Ok(Evaluation { wait, ..self.with_cost(e).await? })
    }

    async fn with_cost(&self, e: Evaluation) -> Result<Evaluation> {
        Ok(Evaluation { cost: Some(self.evaluation_cost(&e.row.id).await?), ..e })
    }

    /// Evaluations the caller may see, newest first; `model` keeps those of one model request.
    pub async fn list_evaluations(
        &self,
        principal: &Principal,
        model: Option<&str>,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Page<Evaluation>> {
        principal.require(Permission::ViewMetrics)?;
        let limit = validate::page_limit(limit)?;
        let mut out = Vec::new();
        let mut cursor = after.map(str::to_string);
        loop {
            let rows =
                database::evaluations::list(&mut *self.db().read().await?, &principal.organization_id, model, cursor.as_deref(), limit + 1)
                    .await?;
            let exhausted = rows.len() as i64 <= limit;
            for row in rows {
                cursor = Some(row.id.clone());
                if let Ok(e) = self.evaluation_with(principal, &row.id, Permission::ViewMetrics).await {
                    out.push(self.with_cost(e).await?);
                    if out.len() as i64 > limit {
                        return Ok(Page::from_rows(out, limit));
                    }
                }
            }
            if exhausted {
                return Ok(Page::from_rows(out, limit));
            }
        }
    }

    /// Cancels a queued or running evaluation (its runner stops at its next lease renewal).
    pub async fn cancel_evaluation(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<Evaluation> {
        self.evaluation_with(principal, id, Permission::DeployModel).await?;
        let mut tx = self.db().begin_write().await?;
        database::evaluations::lock(tx.conn(), id).await?;
        if !database::evaluations::finish(tx.conn(), id, None, state::CANCELLED, None, Some("cancelled"), now_ms()).await? {
            let row = database::evaluations::get_any(tx.conn(), id).await?;
            return Err(Error::Conflict(format!("evaluation {id} is {} already", row.state)));
        }
        append(tx.conn(), self.derived_keys(), AuditEvent::by(principal, "evaluation.cancel").target("evaluation", id), ctx).await?;
        tx.commit().await?;
        self.get_evaluation(principal, id).await
    }

    /// Deletes a finished evaluation and its examples.
    pub async fn delete_evaluation(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<()> {
        let e = self.evaluation_with(principal, id, Permission::DeployModel).await?;
        if [state::QUEUED, state::RUNNING].contains(&e.row.state.as_str()) {
            return Err(Error::Conflict(format!("evaluation {id} is {}; cancel it first", e.row.state)));
        }
        let mut tx = self.db().begin_write().await?;
        database::evaluations::lock(tx.conn(), id).await?;
        let tests = database::evaluations::ab_tests_of(tx.conn(), id).await?;
        if !tests.is_empty() {
            return Err(Error::Conflict(format!("A/B test {} compares evaluation {id}; delete it first", tests.join(", "))));
        }
        let human = database::human_evals::of_evaluation(tx.conn(), id).await?;
        if !human.is_empty() {
            return Err(Error::Conflict(format!("human evaluation {} rates evaluation {id}; delete it first", human.join(", "))));
        }
        database::evaluations::delete(tx.conn(), id).await?;
        append(tx.conn(), self.derived_keys(), AuditEvent::by(principal, "evaluation.delete").target("evaluation", id), ctx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// An evaluation's examples from index `from` on: prompt, references, prediction and scores.
    pub async fn evaluation_examples(
        &self,
        principal: &Principal,
        id: &str,
        from: i64,
        limit: Option<i64>,
    ) -> Result<Page<EvaluationExample>> {
        self.evaluation_with(principal, id, Permission::ViewMetrics).await?;
        let limit = validate::page_limit(limit)?;
        let rows = database::evaluations::examples(&mut *self.db().read().await?, id, from.max(0), limit + 1).await?;
        let items = rows.into_iter().map(|r| self.open_example(r)).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, limit))
    }
}

/// The metrics crate's version, stored with each evaluation.
fn metrics_version() -> String {
    format!("tunery-metrics {}", env!("CARGO_PKG_VERSION"))
}
