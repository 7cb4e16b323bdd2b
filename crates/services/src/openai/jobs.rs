//! `/v1/fine_tuning/jobs`: a request is accepted as `validating_files` once its shape (400),
//! model and files (422 for what does not exist) check out, its `auto` hyperparameters resolved
//! from the training file's size; a task then validates the files (any invalid line fails the job, as
//! OpenAI does, with `error.param` naming the file and the message the line) and submits a
//! training job with the hyperparameters resolved (`auto` from the data size). From then on the
//! training job is the truth: status, events, checkpoints and the fine-tuned model are its.

use crate::error::OrNotFound;
use crate::training::NewJob;
use crate::{now_ms, Error, Page, Principal, RequestContext, Result, Services};
use database::openai::FineTuningJobRow;
use domain::ids::IdKind;
use domain::training::{JobState, Objective, TrainingConfig};
use domain::{validate, Permission, ValidationError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A hyperparameter OpenAI lets the caller leave to the platform: `"auto"` or a value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum AutoOr<T> {
    #[schema(value_type = String)]
    Auto(Auto),
    Value(T),
}

/// The word `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Auto {
    Auto,
}

impl<T: Copy> AutoOr<T> {
    fn value(self) -> Option<T> {
        match self {
            AutoOr::Auto(_) => None,
            AutoOr::Value(v) => Some(v),
        }
    }
}

/// Hyperparameters as a request gives them (each `"auto"` when absent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FineTuningHyperparametersRequest {
    /// Examples per optimizer step, 1–256, or `auto`.
    #[schema(schema_with = batch_size_schema)]
    pub batch_size: Option<AutoOr<u32>>,
    /// Scales Tunery's learning rate for the method (LoRA 2e-4), 0.01–10, or `auto` (1).
    #[schema(schema_with = multiplier_schema)]
    pub learning_rate_multiplier: Option<AutoOr<f64>>,
    /// Passes over the training file, 1–50, or `auto`.
    #[schema(schema_with = epochs_schema)]
    pub n_epochs: Option<AutoOr<u32>>,
    /// DPO only: the strength of the preference term, 0.01–2, or `auto` (0.1).
    #[schema(schema_with = beta_schema)]
    pub beta: Option<AutoOr<f64>>,
}

/// `"auto"`, a number from `min` to `max` (an integer when `integer`), or null.
fn auto_or(integer: bool, min: f64, max: f64) -> utoipa::openapi::schema::OneOfBuilder {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    let number = ObjectBuilder::new().schema_type(if integer { Type::Integer } else { Type::Number }).minimum(Some(min)).maximum(Some(max));
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["auto"])))
        .item(number)
        .item(ObjectBuilder::new().schema_type(Type::Null))
}

fn batch_size_schema() -> utoipa::openapi::schema::OneOfBuilder {
    auto_or(true, 1.0, 256.0)
}
fn multiplier_schema() -> utoipa::openapi::schema::OneOfBuilder {
    auto_or(false, 0.01, 10.0)
}
fn epochs_schema() -> utoipa::openapi::schema::OneOfBuilder {
    auto_or(true, 1.0, 50.0)
}
fn beta_schema() -> utoipa::openapi::schema::OneOfBuilder {
    auto_or(false, 0.01, 2.0)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FineTuningMethodSettings {
    #[serde(default)]
    pub hyperparameters: Option<FineTuningHyperparametersRequest>,
}

/// How to fine-tune: `supervised` (the default) or `dpo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FineTuningMethod {
    #[serde(rename = "type")]
    #[schema(pattern = "^(supervised|dpo)$")]
    pub kind: String,
    pub supervised: Option<FineTuningMethodSettings>,
    pub dpo: Option<FineTuningMethodSettings>,
}

/// A fine-tuning job request (OpenAI's shape).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFineTuningJob {
    /// A base model: its id (`bm_…`), name or Hub repository id.
    #[schema(min_length = 1, max_length = 300)]
    pub model: String,
    /// A file of purpose fine-tune.
    #[schema(min_length = 1, max_length = 100)]
    pub training_file: String,
    #[schema(min_length = 1, max_length = 100)]
    pub validation_file: Option<String>,
    /// Up to 64 characters, part of the fine-tuned model's name.
    #[schema(min_length = 1, max_length = 64)]
    pub suffix: Option<String>,
    /// The training seed (default: 42).
    pub seed: Option<u64>,
    /// Up to 16 pairs; keys up to 64 characters, values up to 512.
    pub metadata: Option<BTreeMap<String, String>>,
    pub method: Option<FineTuningMethod>,
    /// The older place for the supervised method's hyperparameters.
    pub hyperparameters: Option<FineTuningHyperparametersRequest>,
    /// Accepted and ignored (a warning event says so).
    #[schema(value_type = Option<Vec<Object>>)]
    pub integrations: Option<Vec<Value>>,
}

/// The hyperparameters a job trains with, `auto` resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FineTuningHyperparameters {
    pub batch_size: u32,
    pub learning_rate_multiplier: f64,
    pub n_epochs: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beta: Option<f64>,
}

/// What the facade stores of a request: the request as given and what it resolved to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct StoredRequest {
    pub(super) request: NewFineTuningJob,
    pub(super) base_model_id: String,
    pub(super) method: String,
    pub(super) hyperparameters: Option<FineTuningHyperparameters>,
}

/// A message the facade reports itself (file validation, ignored integrations).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Message {
    created_at: i64,
    level: String,
    message: String,
}

/// An error of a job (OpenAI's shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FineTuningJobError {
    pub code: String,
    pub message: String,
    pub param: Option<String>,
}

/// A fine-tuning job as the API shows it (OpenAI's `fine_tuning.job`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FineTuningJob {
    pub id: String,
    /// Always `fine_tuning.job`.
    pub object: &'static str,
    /// Unix seconds.
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub error: Option<FineTuningJobError>,
    /// The name the trained model is called by in `/v1/chat/completions`, once it exists.
    pub fine_tuned_model: Option<String>,
    pub hyperparameters: Option<FineTuningHyperparameters>,
    /// The model as requested.
    pub model: String,
    pub organization_id: String,
    /// A results file (purpose fine-tune-results) once the job succeeded.
    pub result_files: Vec<String>,
    pub seed: u64,
    /// validating_files, queued, running, succeeded, failed or cancelled.
    pub status: String,
    pub trained_tokens: Option<i64>,
    pub training_file: String,
    pub validation_file: Option<String>,
    pub suffix: Option<String>,
    /// Unix seconds the estimate expects the job to finish, while it is queued or running.
    pub estimated_finish: Option<i64>,
    #[schema(value_type = Vec<Object>)]
    pub integrations: Vec<Value>,
    pub metadata: Option<BTreeMap<String, String>>,
    #[schema(value_type = Object)]
    pub method: Value,
    /// The training job (Tunery's own field).
    pub job_id: Option<String>,
}

/// An event (OpenAI's `fine_tuning.job.event`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FineTuningEvent {
    pub id: String,
    /// Always `fine_tuning.job.event`.
    pub object: &'static str,
    pub created_at: i64,
    /// info, warn or error.
    pub level: String,
    pub message: String,
    /// `message` or `metrics`.
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(value_type = Object)]
    pub data: Value,
}

/// A checkpoint (OpenAI's `fine_tuning.job.checkpoint`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FineTuningCheckpoint {
    pub id: String,
    /// Always `fine_tuning.job.checkpoint`.
    pub object: &'static str,
    pub created_at: i64,
    /// The name the checkpoint is called by in `/v1/chat/completions`.
    pub fine_tuned_model_checkpoint: String,
    pub fine_tuning_job_id: String,
    pub step_number: i64,
    #[schema(value_type = Object)]
    pub metrics: Value,
}

const VALIDATING: &str = "validating_files";

/// Tunery's learning rate for LoRA, which `learning_rate_multiplier` scales.
pub const BASE_LEARNING_RATE: f64 = 2e-4;

/// `auto` epochs as OpenAI's guide describes them: 3, more for a small file (so that about 100
/// examples are seen), fewer for a large one (at most about 25,000), 1 to 25.
pub fn auto_epochs(examples: u64) -> u32 {
    let n = examples.max(1);
    if n * 3 < 100 {
        (100u64.div_ceil(n)).min(25) as u32
    } else if n * 3 > 25_000 {
        (25_000 / n).max(1) as u32
    } else {
        3
    }
}

/// `auto` batch size: about 0.2% of the examples, 1 to 256.
pub fn auto_batch_size(examples: u64) -> u32 {
    ((examples as f64 * 0.002).round() as u32).clamp(1, 256)
}

pub(super) fn check_request(n: &NewFineTuningJob) -> Result<(String, Option<FineTuningHyperparametersRequest>)> {
    if let Some(s) = &n.suffix {
        if s.is_empty() || s.chars().count() > 64 {
            return Err(ValidationError::new("suffix", "must be 1 to 64 characters").into());
        }
    }
    if let Some(m) = &n.metadata {
        if m.len() > 16 {
            return Err(ValidationError::unprocessable("metadata", format!("at most 16 pairs (got {})", m.len())).into());
        }
        if let Some((k, _)) = m.iter().find(|(k, v)| k.chars().count() > 64 || v.chars().count() > 512) {
            return Err(ValidationError::unprocessable(&format!("metadata.{k}"), "keys up to 64 characters, values up to 512").into());
        }
    }
    let (kind, from_method) = match &n.method {
        None => ("supervised".to_string(), None),
        Some(m) => {
            let settings = match m.kind.as_str() {
                "supervised" => m.supervised.as_ref(),
                "dpo" => m.dpo.as_ref(),
                other => {
                    return Err(ValidationError::new("method.type", format!("'{other}' is not a method (use supervised or dpo)")).into())
                }
            };
            (m.kind.clone(), settings.and_then(|s| s.hyperparameters.clone()))
        }
    };
    if n.hyperparameters.is_some() && from_method.is_some() {
        return Err(ValidationError::unprocessable("hyperparameters", "give hyperparameters in method, or at the top, not both").into());
    }
    let prefix = if from_method.is_some() { format!("method.{kind}.hyperparameters") } else { "hyperparameters".to_string() };
    let h = from_method.or_else(|| n.hyperparameters.clone());
    if let Some(h) = &h {
        let range = |field: &str, v: Option<f64>, lo: f64, hi: f64| -> Result<()> {
            match v {
                Some(x) if !(lo..=hi).contains(&x) || !x.is_finite() => {
                    Err(ValidationError::new(&format!("{prefix}.{field}"), format!("must be {lo} to {hi} (got {x})")).into())
                }
                _ => Ok(()),
            }
        };
        range("batch_size", h.batch_size.and_then(AutoOr::value).map(f64::from), 1.0, 256.0)?;
        range("learning_rate_multiplier", h.learning_rate_multiplier.and_then(AutoOr::value), 0.01, 10.0)?;
        range("n_epochs", h.n_epochs.and_then(AutoOr::value).map(f64::from), 1.0, 50.0)?;
        range("beta", h.beta.and_then(AutoOr::value), 0.01, 2.0)?;
        if kind != "dpo" && h.beta.is_some() {
            return Err(ValidationError::unprocessable(&format!("{prefix}.beta"), "only the dpo method has beta").into());
        }
    }
    Ok((kind, h))
}

impl Services {
    /// Accepts a fine-tuning job (`validating_files`): 400 for a request its schema rules out,
    /// 422 for an unknown model or file; the files are validated after, and a job that does not
    /// validate fails with the line named.
    pub async fn create_fine_tuning_job(&self, principal: &Principal, n: NewFineTuningJob, ctx: &RequestContext) -> Result<FineTuningJob> {
        let (perms, _) = self.permissions_in(principal, None).await?;
        if !perms.contains(Permission::TrainModel) {
            return Err(Error::PermissionDenied(Permission::TrainModel));
        }
        let (method, requested) = check_request(&n)?;
        let base = self.base_model_named(principal, &n.model).await?;
        let training = self.file_version(principal, &n.training_file, "training_file").await?;
        let hyperparameters = resolve(&method, requested.unwrap_or_default(), training.valid_records.max(1) as u64);
        if let Some(v) = &n.validation_file {
            self.file_version(principal, v, "validation_file").await?;
        }
        let mut messages = vec![Message { created_at: now_ms(), level: "info".into(), message: "Validating training file".into() }];
        if n.integrations.as_ref().is_some_and(|i| !i.is_empty()) {
            messages.push(Message {
                created_at: now_ms(),
                level: "warn".into(),
                message: "integrations are accepted and ignored: the job's metrics are in its events and in Tunery's job view".into(),
            });
        }
        let stored = StoredRequest { request: n, base_model_id: base, method, hyperparameters: Some(hyperparameters) };
        let row = FineTuningJobRow {
            id: crate::crypto::new_id(IdKind::FineTuningJob),
            organization_id: principal.organization_id.clone(),
            project_id: None,
            created_by: principal.user_id.clone(),
            request: serde_json::to_string(&stored).map_err(crate::datasets::internal)?,
            status: VALIDATING.into(),
            job_id: None,
            error: None,
            messages: serde_json::to_string(&messages).map_err(crate::datasets::internal)?,
            created_at: now_ms(),
            finished_at: None,
            paused_at: None,
        };
        let mut tx = self.db().begin_write().await?;
        database::openai::insert_job(tx.conn(), &row).await?;
        let event = crate::audit::AuditEvent::by(principal, "fine_tuning_job.create").target("fine_tuning_job", &row.id);
        crate::audit::append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        let (services, principal_copy, id, ctx_copy) = (self.clone(), principal.clone(), row.id.clone(), ctx.clone());
        tokio::spawn(async move {
            if let Err(e) = services.validate_fine_tuning_job(&principal_copy, &id, &ctx_copy).await {
                tracing::error!(fine_tuning_job = id, error = %e, "validating a fine-tuning job failed");
                // Not left validating: the job fails, saying so (the detail is in the log).
                let error = FineTuningJobError {
                    code: "internal_error".into(),
                    message: "the files could not be validated because of a server error; create the job again".into(),
                    param: None,
                };
                let failed = async {
                    let mut tx = services.db().begin_write().await?;
                    let error = serde_json::to_string(&error).map_err(crate::datasets::internal)?;
                    let row = database::openai::get_job(tx.conn(), &principal_copy.organization_id, &id).await?;
                    database::openai::settle_validation(
                        tx.conn(),
                        &principal_copy.organization_id,
                        &id,
                        "failed",
                        None,
                        Some(&error),
                        &row.messages,
                        Some(now_ms()),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok::<(), Error>(())
                };
                if let Err(e) = failed.await {
                    tracing::error!(fine_tuning_job = id, error = %e, "recording that a fine-tuning job failed to validate failed too");
                }
            }
        });
        self.fine_tuning_job_of(principal, row).await
    }

    /// At start: jobs a previous process was still validating fail, saying so (their
    /// validation ran as the caller who created them, whose credentials are not kept), so that
    /// none is left `validating_files` for ever. Returns how many.
    pub async fn recover_fine_tuning_jobs(&self) -> Result<usize> {
        let mut failed = 0;
        loop {
            let rows = database::openai::validating_jobs(&mut *self.db().read().await?, 200).await?;
            if rows.is_empty() {
                return Ok(failed);
            }
            let now = now_ms();
            let error = FineTuningJobError {
                code: "server_restarted".into(),
                message: "the server stopped while the files were being validated; create the job again".into(),
                param: None,
            };
            let error_json = serde_json::to_string(&error).map_err(crate::datasets::internal)?;
            let mut tx = self.db().begin_write().await?;
            for row in &rows {
                let mut messages: Vec<Message> = serde_json::from_str(&row.messages)
                    .map_err(|e| Error::Internal(format!("fine-tuning job {}: the stored messages do not parse: {e}", row.id)))?;
                messages.push(Message { created_at: now, level: "error".into(), message: error.message.clone() });
                let messages = serde_json::to_string(&messages).map_err(crate::datasets::internal)?;
                let org = &row.organization_id;
                database::openai::settle_validation(tx.conn(), org, &row.id, "failed", None, Some(&error_json), &messages, Some(now))
                    .await?;
            }
            tx.commit().await?;
            failed += rows.len();
        }
    }

    /// A base model by id, name or Hub repository id (400 naming `model` when none).
    pub(super) async fn base_model_named(&self, principal: &Principal, model: &str) -> Result<String> {
        let mut after: Option<String> = None;
        loop {
            let rows =
                database::base_models::list(&mut *self.db().read().await?, &principal.organization_id, after.as_deref(), 200).await?;
            if let Some(b) = rows.iter().find(|b| {
                b.id == model
                    || b.name.eq_ignore_ascii_case(model)
                    || b.catalog_repo_id.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(model))
            }) {
                return Ok(b.id.clone());
            }
            if rows.len() < 200 {
                let why = format!("model '{model}' does not exist or cannot be fine-tuned here (GET /v1/models lists the base models)");
                return Err(ValidationError::unprocessable("model", why).into());
            }
            after = rows.last().map(|b| b.id.clone());
        }
    }

    /// Validates the files and submits the training job, or fails the fine-tuning job saying why.
    async fn validate_fine_tuning_job(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<()> {
        let row = database::openai::get_job(&mut *self.db().read().await?, &principal.organization_id, id).await?;
        let mut stored: StoredRequest = serde_json::from_str(&row.request)
            .map_err(|e| Error::Internal(format!("fine-tuning job {id}: the stored request does not parse: {e}")))?;
        let mut messages: Vec<Message> = serde_json::from_str(&row.messages)
            .map_err(|e| Error::Internal(format!("fine-tuning job {id}: the stored messages do not parse: {e}")))?;
        let outcome = self.submit_fine_tuning_job(principal, id, &mut stored, ctx).await;
        if matches!(outcome, Err(Error::Conflict(_))) {
            return Ok(()); // cancelled meanwhile: nothing to settle
        }
        let now = now_ms();
        let (status, job_id, error) = match outcome {
            Ok(job_id) => {
                messages.push(Message {
                    created_at: now,
                    level: "info".into(),
                    message: format!("Files validated; training job {job_id} queued"),
                });
                ("queued", Some(job_id), None)
            }
            Err(e) => {
                let error = job_error(&e);
                messages.push(Message { created_at: now, level: "error".into(), message: error.message.clone() });
                ("failed", None, Some(serde_json::to_string(&error).map_err(crate::datasets::internal)?))
            }
        };
        let mut tx = self.db().begin_write().await?;
        let request = serde_json::to_string(&stored).map_err(crate::datasets::internal)?;
        let settled = database::openai::settle_validation(
            tx.conn(),
            &principal.organization_id,
            id,
            status,
            job_id.as_deref(),
            error.as_deref(),
            &serde_json::to_string(&messages).map_err(crate::datasets::internal)?,
            (status == "failed").then_some(now),
        )
        .await?;
        if settled {
            database::openai::set_request(tx.conn(), &principal.organization_id, id, &request).await?;
        }
        tx.commit().await?;
        if !settled {
            // Cancelled while it validated: the training job it became is cancelled too.
            if let Some(job_id) = job_id {
                self.cancel_job(principal, &job_id, ctx).await?;
            }
        }
        Ok(())
    }

    /// Checks the files line by line and submits the training job; its id.
    async fn submit_fine_tuning_job(
        &self,
        principal: &Principal,
        id: &str,
        stored: &mut StoredRequest,
        ctx: &RequestContext,
    ) -> Result<String> {
        let n = &stored.request;
        let training = self.file_version(principal, &n.training_file, "training_file").await?;
        self.check_file_lines(principal, &n.training_file, &training, "training_file").await?;
        let validation = match &n.validation_file {
            Some(v) => {
                let version = self.file_version(principal, v, "validation_file").await?;
                self.check_file_lines(principal, v, &version, "validation_file").await?;
                Some(version)
            }
            None => None,
        };
        let name = n.suffix.clone().unwrap_or_else(|| id.to_string());
        let (job, resolved) = training_job_of(stored, name, &training, validation.as_ref())?;
        stored.hyperparameters = Some(resolved);
        // Cancelled while the files were checked: no training job.
        let now = database::openai::get_job(&mut *self.db().read().await?, &principal.organization_id, id).await?;
        if now.status != VALIDATING {
            return Err(Error::Conflict(format!("fine-tuning job {id} is {}", now.status)));
        }
        Ok(self.create_job(principal, job, ctx).await?.row.id)
    }

    /// A file with an invalid line fails the job: the error names the file and the first line.
    pub(super) async fn check_file_lines(
        &self,
        principal: &Principal,
        file_id: &str,
        v: &database::datasets::VersionRow,
        field: &str,
    ) -> Result<()> {
        if v.invalid_records == 0 {
            return Ok(());
        }
        let (_, report) = self.version_report(principal, &v.dataset_id, v.version).await?;
        let first = &report["errors"][0];
        let at = match (first["line"].as_u64(), first["field"].as_str()) {
            (Some(line), Some(f)) => format!("line {line}, {f}: {}", first["message"].as_str().unwrap_or_default()),
            (Some(line), None) => format!("line {line}: {}", first["message"].as_str().unwrap_or_default()),
            _ => "see the dataset's validation report".to_string(),
        };
        let message = format!(
            "The {} {file_id} has {} invalid line(s) of {}; the first: {at}",
            field.replace('_', " "),
            v.invalid_records,
            v.records
        );
        Err(ValidationError::unprocessable(field, message).into())
    }

    /// Fine-tuning jobs newest first, after the job `after`; with `metadata`, only jobs whose
    /// metadata holds every pair.
    pub async fn list_fine_tuning_jobs(
        &self,
        principal: &Principal,
        after: Option<&str>,
        limit: Option<i64>,
        metadata: &BTreeMap<String, String>,
    ) -> Result<Page<FineTuningJob>> {
        match self.require_in(principal, None, Permission::ViewMetrics).await {
            Err(Error::NotFound(_)) => return Ok(Page { items: Vec::new(), has_more: false }),
            other => other?,
        }
        let limit = validate::page_limit(limit)? as usize;
        let mut items = Vec::new();
        let mut cursor = after.map(str::to_string);
        let mut has_more = false;
        'pages: loop {
            let rows =
                database::openai::list_jobs(&mut *self.db().read().await?, &principal.organization_id, cursor.as_deref(), 200).await?;
            let n = rows.len();
            for row in rows {
                cursor = Some(row.id.clone());
                let stored: StoredRequest = stored_request(&row)?;
                let meta = stored.request.metadata.clone().unwrap_or_default();
                if !metadata.iter().all(|(k, v)| meta.get(k) == Some(v)) {
                    continue;
                }
                if items.len() == limit {
                    has_more = true;
                    break 'pages;
                }
                items.push(self.fine_tuning_job_of(principal, row).await?);
            }
            if n < 200 {
                break;
            }
        }
        Ok(Page { items, has_more })
    }

    pub async fn get_fine_tuning_job(&self, principal: &Principal, id: &str) -> Result<FineTuningJob> {
        let row = self.fine_tuning_row(principal, id, Permission::ViewMetrics).await?;
        self.fine_tuning_job_of(principal, row).await
    }

    /// The job's row, after the caller's `permission` (checked first: a refusal is 403 whether or
    /// not the id exists).
    async fn fine_tuning_row(&self, principal: &Principal, id: &str, permission: Permission) -> Result<FineTuningJobRow> {
        // Jobs of this API live in the organization, outside projects: a project-restricted key
        // sees none.
        self.require_in(principal, None, permission).await.or_not_found("fine-tuning job")?;
        database::openai::get_job(&mut *self.db().read().await?, &principal.organization_id, id).await.or_not_found("fine-tuning job")
    }

    /// Cancels a job: one still validating ends at once; a training job is cancelled (it saves
    /// a checkpoint on the way out); a paused one stays stopped, no longer to be resumed. 409 for
    /// a job that already ended.
    pub async fn cancel_fine_tuning_job(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<FineTuningJob> {
        let row = self.fine_tuning_row(principal, id, Permission::TrainModel).await?;
        let org = &principal.organization_id;
        match &row.job_id {
            Some(job_id) => {
                self.get_job(principal, job_id).await?;
                let mut tx = self.db().begin_write().await?;
                // Decided under the training job's lock, on what the facade row says now.
                let state = self.locked_training_state(tx.conn(), org, job_id).await?;
                let paused = database::openai::get_job(tx.conn(), org, id).await?.paused_at.is_some();
                if paused {
                    database::openai::set_paused(tx.conn(), org, id, None).await?;
                }
                if paused && matches!(state, JobState::Cancelling | JobState::Cancelled) {
                    // Already stopped by the pause: it stays stopped, no longer to be resumed.
                    let event = crate::audit::AuditEvent::by(principal, "fine_tuning_job.cancel").target("fine_tuning_job", id);
                    crate::audit::append(tx.conn(), self.derived_keys(), event, ctx).await?;
                    tx.commit().await?;
                } else {
                    let (_, next) = self.request_cancel(tx.conn(), principal, job_id, "job.cancel", ctx).await?;
                    tx.commit().await?;
                    self.after_cancel(job_id, next);
                }
            }
            None if row.status == VALIDATING => {
                let mut tx = self.db().begin_write().await?;
                let settled =
                    database::openai::settle_validation(tx.conn(), org, id, "cancelled", None, None, &row.messages, Some(now_ms())).await?;
                if settled {
                    let event = crate::audit::AuditEvent::by(principal, "fine_tuning_job.cancel").target("fine_tuning_job", id);
                    crate::audit::append(tx.conn(), self.derived_keys(), event, ctx).await?;
                    tx.commit().await?;
                } else {
                    // Validation ended meanwhile: cancel what it became.
                    drop(tx);
                    return Box::pin(self.cancel_fine_tuning_job(principal, id, ctx)).await;
                }
            }
            None => {
                return Err(Error::Conflict(format!(
                    "fine-tuning job {id} is {}; only a job that has not ended can be cancelled",
                    row.status
                )))
            }
        }
        self.get_fine_tuning_job(principal, id).await
    }

    /// The training job's state, its row locked in `conn`'s transaction.
    async fn locked_training_state(&self, conn: &mut database::Conn, org: &str, job_id: &str) -> Result<JobState> {
        database::jobs::lock(conn, job_id).await?;
        let row = database::jobs::get(conn, org, job_id).await.or_not_found("job")?;
        Ok(crate::training::Job::of(row)?.state())
    }

    /// Pauses a queued or running job: its training job stops, saving a checkpoint (a queued one
    /// simply leaves the queue), and the job shows `paused` until resumed. 409 otherwise.
    pub async fn pause_fine_tuning_job(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<FineTuningJob> {
        let row = self.fine_tuning_row(principal, id, Permission::TrainModel).await?;
        let org = &principal.organization_id;
        let conflict =
            |status: &str| Error::Conflict(format!("fine-tuning job {id} is {status}; only a queued or running job can be paused"));
        let Some(job_id) = row.job_id.as_deref() else { return Err(conflict(&row.status)) };
        self.get_job(principal, job_id).await?;
        let mut tx = self.db().begin_write().await?;
        let state = self.locked_training_state(tx.conn(), org, job_id).await?;
        let paused = database::openai::get_job(tx.conn(), org, id).await?.paused_at.is_some();
        if paused && matches!(state, JobState::Cancelling | JobState::Cancelled) {
            return Err(conflict("paused"));
        }
        if !matches!(state, JobState::Queued | JobState::Running) {
            return Err(conflict(if state == JobState::Cancelling { "cancelled" } else { state.as_str() }));
        }
        database::openai::set_paused(tx.conn(), org, id, Some(now_ms())).await?;
        let (_, next) = self.request_cancel(tx.conn(), principal, job_id, "fine_tuning_job.pause", ctx).await?;
        tx.commit().await?;
        self.after_cancel(job_id, next);
        self.get_fine_tuning_job(principal, id).await
    }

    /// Resumes a paused job: its training job is queued again, continuing from its newest
    /// checkpoint (one still being saved is waited for). 409 for a job that is not paused.
    pub async fn resume_fine_tuning_job(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<FineTuningJob> {
        let row = self.fine_tuning_row(principal, id, Permission::TrainModel).await?;
        let org = &principal.organization_id;
        let not_paused = |status: String| Error::Conflict(format!("fine-tuning job {id} is {status}; only a paused job can be resumed"));
        let (Some(job_id), Some(_)) = (row.job_id.as_deref(), row.paused_at) else {
            return Err(not_paused(self.fine_tuning_job_of(principal, row.clone()).await?.status));
        };
        // Still saving its checkpoint: wait for the run to stop (at most its grace period, after
        // which it is killed), so that it resumes from that checkpoint.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(self.settings().training.stop_grace_s + 30);
        while self.get_job(principal, job_id).await?.state() == JobState::Cancelling {
            if tokio::time::Instant::now() > deadline {
                return Err(Error::Conflict(format!(
                    "fine-tuning job {id} is still pausing (saving its checkpoint); resume it in a moment"
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let mut tx = self.db().begin_write().await?;
        database::jobs::lock(tx.conn(), job_id).await?;
        // Decided under the lock: a cancel meanwhile cleared the mark.
        if database::openai::get_job(tx.conn(), org, id).await?.paused_at.is_none() {
            drop(tx);
            return Err(not_paused(self.get_fine_tuning_job(principal, id).await?.status));
        }
        // Requeueing clears the mark (whoever requeues the training job).
        self.requeue_job(tx.conn(), principal, job_id, None, "fine_tuning_job.resume", ctx).await?;
        tx.commit().await?;
        self.after_requeue(job_id);
        self.get_fine_tuning_job(principal, id).await
    }

    /// The job as OpenAI shows it, from the facade's row and the training job.
    async fn fine_tuning_job_of(&self, principal: &Principal, row: FineTuningJobRow) -> Result<FineTuningJob> {
        let stored = stored_request(&row)?;
        let n = &stored.request;
        let error: Option<FineTuningJobError> = match &row.error {
            Some(e) => {
                Some(serde_json::from_str(e).map_err(|e| Error::Internal(format!("fine-tuning job {}: stored error: {e}", row.id)))?)
            }
            None => None,
        };
        let mut job = FineTuningJob {
            id: row.id.clone(),
            object: "fine_tuning.job",
            created_at: row.created_at / 1000,
            finished_at: row.finished_at.map(|t| t / 1000),
            error,
            fine_tuned_model: None,
            hyperparameters: stored.hyperparameters.clone(),
            model: n.model.clone(),
            organization_id: row.organization_id.clone(),
            result_files: Vec::new(),
            seed: n.seed.unwrap_or(42),
            status: row.status.clone(),
            trained_tokens: None,
            training_file: n.training_file.clone(),
            validation_file: n.validation_file.clone(),
            suffix: n.suffix.clone(),
            estimated_finish: None,
            integrations: n.integrations.clone().unwrap_or_default(),
            metadata: n.metadata.clone(),
            method: json!({"type": stored.method, stored.method.clone(): {"hyperparameters": stored.hyperparameters}}),
            job_id: row.job_id.clone(),
        };
        let Some(job_id) = &row.job_id else { return Ok(job) };
        let training = self.get_job(principal, job_id).await?;
        let state = training.state();
        job.status = match state {
            JobState::Queued => "queued",
            JobState::Running => "running",
            // Stopped by a pause (saving its checkpoint, or saved): paused until resumed.
            JobState::Cancelling | JobState::Cancelled if row.paused_at.is_some() => "paused",
            JobState::Cancelling | JobState::Cancelled => "cancelled",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
        }
        .into();
        job.finished_at = training.row.finished_at.filter(|_| job.status != "paused").map(|t| t / 1000);
        if state == JobState::Failed {
            job.error = Some(FineTuningJobError {
                code: training.row.error_code.clone().unwrap_or_else(|| "training_failed".into()),
                message: training.row.error_message.clone().unwrap_or_else(|| "the training run failed".into()),
                param: None,
            });
        }
        if matches!(state, JobState::Queued | JobState::Running) {
            let seconds = training.estimate["seconds"].as_f64().unwrap_or(0.0);
            let from = training.row.started_at.unwrap_or(training.row.created_at) / 1000;
            job.estimated_finish = Some(from + seconds.ceil() as i64);
        }
        if let Some(model_id) = &training.row.model_id {
            // A deleted model keeps its name on the job (as the job named it); its figures go.
            let name = match self.get_model(principal, model_id).await {
                Ok(model) => {
                    job.trained_tokens = model.metrics.tokens.and_then(|t| i64::try_from(t).ok());
                    model.row.name
                }
                Err(Error::NotFound(_)) => training.row.name.clone(),
                Err(e) => return Err(e),
            };
            job.fine_tuned_model = Some(self.fine_tuned_model_name(principal, &training.row.base_model_id, &name, model_id).await?);
        }
        if state == JobState::Succeeded {
            job.result_files = vec![self.results_file(principal, job_id, &training.row.name).await?];
        }
        Ok(job)
    }

    /// Deletes the fine-tuned model an `ft:` name calls ([`Services::delete_model`]); 404 for a
    /// name that calls none (a checkpoint's name included: checkpoints go with their job).
    pub async fn delete_fine_tuned_model(&self, principal: &Principal, name: &str, ctx: &RequestContext) -> Result<()> {
        principal.require(Permission::DeleteModel)?;
        match self.fine_tuned_named(principal, name).await? {
            Some(id) if id.starts_with("mdl_") => self.delete_model(principal, &id, ctx).await,
            _ => Err(Error::NotFound("fine-tuned model")),
        }
    }

    async fn fine_tuned_model_name(&self, principal: &Principal, base_model_id: &str, name: &str, id: &str) -> Result<String> {
        let mut conn = self.db().read().await?;
        let base = database::base_models::get_any(&mut conn, base_model_id).await?;
        let org = database::organizations::get(&mut conn, &principal.organization_id).await?;
        Ok(crate::deployments::fine_tuned_name(&base.name, &org.name, name, id))
    }

    /// Events newest first: the facade's messages and the training job's (state changes, steps
    /// as `metrics` events, evaluations, checkpoints, logs, the end), after the event `after`.
    pub async fn fine_tuning_events(
        &self,
        principal: &Principal,
        id: &str,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Page<FineTuningEvent>> {
        let row = self.fine_tuning_row(principal, id, Permission::ViewMetrics).await?;
        let limit = validate::page_limit(limit)? as usize;
        let messages: Vec<Message> = serde_json::from_str(&row.messages)
            .map_err(|e| Error::Internal(format!("fine-tuning job {id}: the stored messages do not parse: {e}")))?;
        let mut all: Vec<FineTuningEvent> = messages
            .into_iter()
            .enumerate()
            .map(|(i, m)| FineTuningEvent {
                id: format!("ftevent-{id}-m{i}"),
                object: "fine_tuning.job.event",
                created_at: m.created_at / 1000,
                level: m.level,
                message: m.message,
                kind: "message".into(),
                data: json!({}),
            })
            .collect();
        if let Some(job_id) = &row.job_id {
            all.extend(self.all_job_events(job_id, &[]).await?.iter().filter_map(|(r, data)| event_of(r, data)));
        }
        // Newest first: by time, then by the order they were recorded.
        let order: Vec<usize> = {
            let mut idx: Vec<usize> = (0..all.len()).collect();
            idx.sort_by(|a, b| (all[*b].created_at, *b).cmp(&(all[*a].created_at, *a)));
            idx
        };
        let start = match after {
            None => 0,
            Some(cursor) => {
                1 + order
                    .iter()
                    .position(|i| all[*i].id == cursor)
                    .ok_or_else(|| ValidationError::new("after", format!("'{cursor}' is not an event of fine-tuning job {id}")))?
            }
        };
        let items: Vec<FineTuningEvent> = order.iter().skip(start).take(limit).map(|i| all[*i].clone()).collect();
        Ok(Page { has_more: start + items.len() < all.len(), items })
    }

    /// Checkpoints newest first, each with the name it is called by.
    pub async fn fine_tuning_checkpoints(
        &self,
        principal: &Principal,
        id: &str,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Page<FineTuningCheckpoint>> {
        let row = self.fine_tuning_row(principal, id, Permission::ViewMetrics).await?;
        let limit = validate::page_limit(limit)? as usize;
        let Some(job_id) = &row.job_id else { return Ok(Page { items: Vec::new(), has_more: false }) };
        let training = self.get_job(principal, job_id).await?;
        let mut rows = database::jobs::checkpoints(&mut *self.db().read().await?, &principal.organization_id, job_id).await?;
        rows.reverse();
        let losses = self.step_losses(job_id).await?;
        let base = self.fine_tuned_model_name(principal, &training.row.base_model_id, &training.row.name, &training.row.id).await?;
        let start = match after {
            None => 0,
            Some(cursor) => {
                1 + rows.iter().position(|c| c.id == cursor).ok_or_else(|| {
                    ValidationError::new("after", format!("'{cursor}' is not a stored checkpoint of fine-tuning job {id}"))
                })?
            }
        };
        let items: Vec<FineTuningCheckpoint> = rows
            .iter()
            .skip(start)
            .take(limit)
            .map(|c| FineTuningCheckpoint {
                id: c.id.clone(),
                object: "fine_tuning.job.checkpoint",
                created_at: c.created_at / 1000,
                fine_tuned_model_checkpoint: format!("{base}:ckpt-step-{}", c.step),
                fine_tuning_job_id: id.to_string(),
                step_number: c.step,
                metrics: json!({"step": c.step, "train_loss": losses.get(&c.step)}),
            })
            .collect();
        Ok(Page { has_more: start + items.len() < rows.len(), items })
    }

    /// Each logged step's training loss.
    async fn step_losses(&self, job_id: &str) -> Result<BTreeMap<i64, f64>> {
        let events = self.all_job_events(job_id, &["progress"]).await?;
        Ok(events.iter().filter_map(|(r, data)| Some((r.step?, data["loss"].as_f64()?))).collect())
    }
}

/// The hyperparameters a job trains with: each `auto` resolved from the number of examples.
/// The training job a request becomes (named `name`), with its hyperparameters resolved for
/// the training file's size.
pub(super) fn training_job_of(
    stored: &StoredRequest,
    name: String,
    training: &database::datasets::VersionRow,
    validation: Option<&database::datasets::VersionRow>,
) -> Result<(NewJob, FineTuningHyperparameters)> {
    let n = &stored.request;
    let (_, requested) = check_request(n)?;
    let examples = training.valid_records.max(1) as u64;
    let resolved = resolve(&stored.method, requested.unwrap_or_default(), examples);
    let objective = if stored.method == "dpo" { Objective::Dpo } else { Objective::Sft };
    let mut config = TrainingConfig { objective, ..TrainingConfig::default() };
    // A batch is `batch_size` examples, as OpenAI counts it: no packing of several into a row.
    config.data.packing = false;
    let h = &mut config.hyperparameters;
    h.epochs = f64::from(resolved.n_epochs);
    // The batch exactly: micro-batches of its largest divisor up to 8, accumulated.
    let rows = (1..=resolved.batch_size.min(8)).rev().find(|d| resolved.batch_size.is_multiple_of(*d)).unwrap_or(1);
    h.micro_batch_size = domain::training::MicroBatchSize::Rows(rows);
    h.gradient_accumulation_steps = resolved.batch_size / rows;
    h.learning_rate = BASE_LEARNING_RATE * resolved.learning_rate_multiplier;
    h.seed = n.seed.unwrap_or(42);
    // A checkpoint at the end of each epoch, the last three kept (as OpenAI keeps them).
    h.checkpoint_every_steps = examples.div_ceil(u64::from(resolved.batch_size)).max(1);
    h.keep_checkpoints = 3;
    if let Some(beta) = resolved.beta {
        h.dpo_beta = beta;
    }
    let job = NewJob {
        name: Some(name),
        project_id: None,
        base_model_id: stored.base_model_id.clone(),
        dataset_id: training.dataset_id.clone(),
        dataset_version: Some(training.version),
        validation_dataset_id: validation.map(|v| v.dataset_id.clone()),
        validation_dataset_version: validation.map(|v| v.version),
        config,
        max_restarts: None,
        merge_lora: false,
        chat_template: None,
        resources: Default::default(),
    };
    Ok((job, resolved))
}

fn resolve(method: &str, requested: FineTuningHyperparametersRequest, examples: u64) -> FineTuningHyperparameters {
    FineTuningHyperparameters {
        batch_size: requested.batch_size.and_then(AutoOr::value).unwrap_or_else(|| auto_batch_size(examples)),
        learning_rate_multiplier: requested.learning_rate_multiplier.and_then(AutoOr::value).unwrap_or(1.0),
        n_epochs: requested.n_epochs.and_then(AutoOr::value).unwrap_or_else(|| auto_epochs(examples)),
        beta: (method == "dpo").then(|| requested.beta.and_then(AutoOr::value).unwrap_or(0.1)),
    }
}

fn stored_request(row: &FineTuningJobRow) -> Result<StoredRequest> {
    serde_json::from_str(&row.request)
        .map_err(|e| Error::Internal(format!("fine-tuning job {}: the stored request does not parse: {e}", row.id)))
}

/// The error a failed validation or submission reports (OpenAI's codes where they exist).
fn job_error(e: &Error) -> FineTuningJobError {
    match e {
        Error::Validation(v) => {
            let param = v.field.clone();
            let code = match param.as_str() {
                "training_file" => "invalid_training_file",
                "validation_file" => "invalid_validation_file",
                _ => "invalid_request",
            };
            FineTuningJobError { code: code.into(), message: v.message.clone(), param: Some(param) }
        }
        Error::Refused { reason, message } => {
            let (code, param) = match reason {
                crate::Refusal::DatasetNotUsable => ("invalid_training_file", Some("training_file".to_string())),
                crate::Refusal::ModelDoesNotFit => ("model_does_not_fit", None),
                crate::Refusal::BaseModelNotReady => ("model_not_ready", Some("model".to_string())),
                crate::Refusal::GateFailed => ("gate_failed", None),
                crate::Refusal::QuotaExceeded => ("quota_exceeded", None),
            };
            FineTuningJobError { code: code.into(), message: message.clone(), param }
        }
        other => {
            tracing::error!(error = %other, "a fine-tuning job could not be submitted");
            FineTuningJobError {
                code: "internal_error".into(),
                message: "the training job could not be submitted because of a server error; create the job again".into(),
                param: None,
            }
        }
    }
}

/// A training job's event as an OpenAI event (None for what it does not show: system samples,
/// artifacts).
fn event_of(r: &database::jobs::EventRow, data: &Value) -> Option<FineTuningEvent> {
    let step = r.step.unwrap_or(0);
    let (level, message, kind, payload) = match r.kind.as_str() {
        "state" => ("info", format!("Job {}", data["state"].as_str().unwrap_or("changed state")), "message", json!({})),
        "started" => ("info", format!("Training started on {}", data["device"].as_str().unwrap_or("the device")), "message", json!({})),
        "progress" => {
            let total = data["total_steps"].as_i64().map(|t| format!("/{t}")).unwrap_or_default();
            let loss = data["loss"].as_f64().unwrap_or(f64::NAN);
            (
                "info",
                format!("Step {step}{total}: training loss={loss:.4}"),
                "metrics",
                json!({"step": step, "total_steps": data["total_steps"], "train_loss": data["loss"], "learning_rate": data["learning_rate"],
                    "tokens_per_second": data["tokens_per_second"]}),
            )
        }
        "eval" => (
            "info",
            format!("Step {step}: validation loss={:.4}", data["eval_loss"].as_f64().unwrap_or(f64::NAN)),
            "metrics",
            json!({"step": step, "valid_loss": data["eval_loss"]}),
        ),
        "checkpoint" => ("info", format!("Checkpoint saved at step {step}"), "message", json!({"step": step})),
        "log" => {
            let level = match data["level"].as_str() {
                Some("warning") => "warn",
                Some("error") => "error",
                _ => "info",
            };
            (level, data["message"].as_str().unwrap_or_default().to_string(), "message", json!({}))
        }
        "finished" => ("info", "The job has successfully completed".to_string(), "message", json!({})),
        "stopped" => ("info", format!("Training stopped at step {step}"), "message", json!({})),
        "failed" => ("error", format!("The job failed: {}", data["message"].as_str().unwrap_or("no reason given")), "message", json!({})),
        _ => return None,
    };
    Some(FineTuningEvent {
        id: format!("ftevent-{}-{}", r.job_id, r.seq),
        object: "fine_tuning.job.event",
        created_at: r.time / 1000,
        level: level.into(),
        message,
        kind: kind.into(),
        data: payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_hyperparameters_follow_the_data_size() {
        // OpenAI's guide: 3 epochs; enough for ~100 examples seen; at most ~25,000.
        assert_eq!((auto_epochs(10), auto_epochs(24), auto_epochs(1_000), auto_epochs(20_000)), (10, 5, 3, 1));
        assert_eq!(auto_epochs(1), 25);
        assert_eq!((auto_batch_size(24), auto_batch_size(10_000), auto_batch_size(1_000_000)), (1, 20, 256));
        let h = resolve("supervised", FineTuningHyperparametersRequest::default(), 1_000);
        assert_eq!((h.n_epochs, h.batch_size, h.learning_rate_multiplier, h.beta), (3, 2, 1.0, None));
        let given = FineTuningHyperparametersRequest {
            n_epochs: Some(AutoOr::Value(7)),
            beta: Some(AutoOr::Auto(Auto::Auto)),
            ..Default::default()
        };
        let h = resolve("dpo", given, 1_000);
        assert_eq!((h.n_epochs, h.beta), (7, Some(0.1)));
    }

    #[test]
    fn requests_are_checked_naming_the_field() {
        let request = |method: Value| -> NewFineTuningJob {
            serde_json::from_value(json!({"model": "m", "training_file": "f", "method": method})).unwrap()
        };
        let e = check_request(&request(json!({"type": "supervised", "supervised": {"hyperparameters": {"batch_size": 300}}}))).unwrap_err();
        assert!(e.to_string().contains("method.supervised.hyperparameters.batch_size"), "{e}");
        let e = check_request(&request(json!({"type": "supervised", "supervised": {"hyperparameters": {"beta": 0.2}}}))).unwrap_err();
        assert!(e.to_string().contains("only the dpo method"), "{e}");
        let e = check_request(&request(json!({"type": "rlhf"}))).unwrap_err();
        assert!(e.to_string().contains("method.type"), "{e}");
        assert!(serde_json::from_value::<NewFineTuningJob>(json!({"model": "m", "training_file": "f", "epochs": 3})).is_err());
        let (kind, h) = check_request(&request(json!({"type": "dpo", "dpo": {"hyperparameters": {"beta": "auto"}}}))).unwrap();
        assert_eq!((kind.as_str(), h.unwrap().beta), ("dpo", Some(AutoOr::Auto(Auto::Auto))));
    }
}
