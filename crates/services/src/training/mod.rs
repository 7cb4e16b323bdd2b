//! Training jobs: submission (validated against the dataset version, the base model and the
//! estimate), the FIFO queue with a concurrency limit, the local executor's runs, and what a
//! job reports (events, metrics, logs, checkpoints).

mod cluster;
pub(crate) mod cost;
mod data;
mod estimates;
mod kubernetes;
mod lengths;
mod measured;
mod prices;
mod queue;
pub(crate) mod quotas;
mod ray;
mod run;
mod scheduling;
mod series;
mod suggestions;
mod templates;
mod transition;

pub use cluster::{ClusterMetrics, ClusterView, NodeView, QueueEntry, QueueSlot, RunningEntry, WaitView};
pub use cost::{ComputeLine, ComputeUsage, JobCost};
pub use estimates::{EstimateRequest, EstimateResult};
pub(crate) use kubernetes::KubeExecutor;
pub use measured::Measured;
pub use prices::{NewPrice, PriceSource, PriceTable, PriceView};
pub use queue::Queue;
pub use quotas::{QuotaLimits, QuotaUsage, QuotaView, Scope as QuotaScope};
pub(crate) use ray::RayExecutor;
pub use series::{DEFAULT_SERIES, JOB_SERIES};
pub use templates::{JobTemplate, NewJobTemplate, MAX_TEMPLATES_PER_PROJECT};

use crate::audit::{append, AuditEvent};
use crate::error::OrNotFound;
use crate::{now_ms, Error, Page, Principal, Refusal, RequestContext, Result, Services};
use database::jobs::{EventRow, JobRow};
use domain::ids::IdKind;
use domain::training::{JobState, Objective, TrainingConfig};
use domain::{validate, Permission, ValidationError};
use serde::Deserialize;

/// A job submission. Beyond its schema, the dataset versions must hold records the objective
/// trains on that the chat template can label, and the run must fit this installation's device
/// (else 422).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewJob {
    /// Default: the method and the submission time.
    #[schema(schema_with = domain::schema::optional_name)]
    pub name: Option<String>,
    /// Train inside this project (its members see the job).
    pub project_id: Option<String>,
    /// A ready base model (`bm_…`).
    pub base_model_id: String,
    pub dataset_id: String,
    /// Default: the dataset's latest version.
    pub dataset_version: Option<i64>,
    /// Evaluation data; needed for `eval_every_steps` (else 422).
    pub validation_dataset_id: Option<String>,
    pub validation_dataset_version: Option<i64>,
    #[serde(default)]
    pub config: TrainingConfig,
    /// Crashed runs restarted from the last checkpoint, 0 to 20 (default: the installation's).
    #[schema(minimum = 0, maximum = 20)]
    pub max_restarts: Option<u32>,
    /// Also store the LoRA merged into the base weights (LoRA, QLoRA or DoRA only, else 422).
    #[serde(default)]
    pub merge_lora: bool,
    /// Train through this built-in chat template instead of the base model's own.
    #[schema(schema_with = optional_chat_template_schema)]
    pub chat_template: Option<String>,
    /// GPUs (or CPU slots), maximum duration, spot and priority. A GPU type or count no node
    /// has is 422; a priority above the caller's allowance is 403.
    #[serde(default)]
    pub resources: domain::resources::ResourceRequest,
}

/// A chat template by name: a built-in one, or a base model's own by its id (`bm_…`).
pub fn optional_template_or_model_schema() -> utoipa::openapi::schema::ObjectBuilder {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    let names: Vec<String> = chat_template::BUILTINS.iter().map(|b| b.name.replace('.', "\\.")).collect();
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .pattern(Some(format!("^(?:bm_[\\s\\S]*|{})$", names.join("|"))))
}

fn optional_chat_template_schema() -> utoipa::openapi::schema::ObjectBuilder {
    domain::schema::one_of(true, chat_template::BUILTINS.iter().map(|b| b.name))
}

/// Kinds of events that are metrics (charts) rather than logs.
pub const METRIC_KINDS: [&str; 3] = ["progress", "eval", "system"];

/// A job with its configuration parsed.
#[derive(Debug, Clone)]
pub struct Job {
    pub row: JobRow,
    pub config: TrainingConfig,
    pub merge_lora: bool,
    /// A built-in chat template chosen by name (None: the base model's own).
    pub chat_template: Option<String>,
    pub estimate: serde_json::Value,
    /// What the job asked of the cluster.
    pub resources: domain::resources::JobResources,
    /// A queued job's place in the queue and why it waits (read for a single job only).
    pub queue: Option<QueueSlot>,
    /// GPU-hours and cost of its runs so far (read for a single job only).
    pub cost: Option<JobCost>,
    /// Advice from what it asked for and measured (read for a single job only).
    pub suggestions: Vec<domain::suggestions::Suggestion>,
    /// What its runs measured beside its estimate (read for a single job only).
    pub measured: Option<Measured>,
}

impl Job {
    /// The job of a stored row. A stored configuration, estimate or state that does not parse
    /// is an error naming the job and the column, never a default.
    pub fn of(row: JobRow) -> Result<Job> {
        let corrupt = |column: &str, e: String| Error::Internal(format!("job {}: the stored {column} does not parse: {e}", row.id));
        let StoredConfig { config, merge_lora, chat_template } = stored_config(&row.config).map_err(|e| corrupt("configuration", e))?;
        let estimate = serde_json::from_str(&row.estimate).map_err(|e| corrupt("estimate", e.to_string()))?;
        JobState::parse(&row.state).ok_or_else(|| corrupt("state", format!("unknown state '{}'", row.state)))?;
        let resources = domain::resources::JobResources::parse(&row.resources).map_err(|e| corrupt("resources", e))?;
        Ok(Job {
            row,
            config,
            merge_lora,
            chat_template,
            estimate,
            resources,
            queue: None,
            cost: None,
            suggestions: Vec::new(),
            measured: None,
        })
    }

    pub fn state(&self) -> JobState {
        JobState::parse(&self.row.state).expect("checked when the job was read")
    }
}

/// A point of a metric series, downsampled for charts.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MetricPoint {
    pub step: i64,
    pub time: i64,
    pub value: f64,
}

fn refused(reason: Refusal, message: String) -> Error {
    Error::Refused { reason, message }
}

/// Whether the records of a version can train an objective, from the version's report.
fn check_dataset_kinds(objective: Objective, report: &serde_json::Value, what: &str) -> Result<()> {
    let kinds = &report["stats"]["kinds"];
    let (field, need) = match objective {
        Objective::Sft => ("chat", "conversations (messages)"),
        Objective::Cpt => ("text", "plain text records"),
        Objective::Dpo => ("preference", "preference pairs (chosen/rejected)"),
    };
    if kinds[field].as_u64().unwrap_or(0) == 0 {
        return Err(refused(
            Refusal::DatasetNotUsable,
            format!(
                "{what} has no {need}, which objective '{}' trains on (it holds {} chat, {} preference and {} text records)",
                objective.as_str(),
                kinds["chat"].as_u64().unwrap_or(0),
                kinds["preference"].as_u64().unwrap_or(0),
                kinds["text"].as_u64().unwrap_or(0)
            ),
        ));
    }
    Ok(())
}

impl Services {
    /// The permissions for a job's place (project or organization), with 404 for what the caller cannot see.
    async fn job_with(&self, principal: &Principal, id: &str, permission: Permission) -> Result<Job> {
        let row = database::jobs::get(&mut *self.db().read().await?, &principal.organization_id, id).await.or_not_found("job")?;
        let (perms, _) = self.permissions_in(principal, row.project_id.as_deref()).await.or_not_found("job")?;
        if !perms.contains(Permission::ViewMetrics) {
            return Err(Error::NotFound("job"));
        }
        if !perms.contains(permission) {
            return Err(Error::PermissionDenied(permission));
        }
        Job::of(row)
    }

    /// Checks a submission and queues the job (the caller answers 202).
    pub async fn create_job(&self, principal: &Principal, new: NewJob, ctx: &RequestContext) -> Result<Job> {
        let plan = self.plan_job(principal, &new, true).await?;
        if let Some(refusal) = plan.fit_refusal() {
            return Err(refusal);
        }
        let (config, lengths) = (&plan.config, &plan.lengths);
        let estimate_json = serde_json::json!({
            "memory_per_device_bytes": plan.estimate.estimate.memory_per_device_bytes,
            "training_tokens": plan.estimate.training_tokens,
            "trainable_parameters": plan.estimate.estimate.trainable_parameters,
            "total_parameters": plan.estimate.estimate.total_parameters,
            "training_flops": plan.estimate.estimate.training_flops,
            "device": plan.estimate.selected.device,
            "seconds": plan.estimate.selected.seconds,
            "cost": plan.estimate.selected.cost,
        });
        let now = now_ms();
        let row = JobRow {
            id: crate::crypto::new_id(IdKind::Job),
            organization_id: principal.organization_id.clone(),
            project_id: new.project_id.clone(),
            name: plan.name.clone(),
            created_by: principal.user_id.clone(),
            base_model_id: plan.base_model_id.clone(),
            dataset_version_id: plan.version_id.clone(),
            validation_version_id: plan.validation_version_id.clone(),
            config: store_config(config, new.merge_lora, new.chat_template.clone())?,
            device: self.settings().training.device.clone(),
            estimate: estimate_json.to_string(),
            state: JobState::Queued.as_str().into(),
            attempt: 0,
            max_restarts: i64::from(plan.max_restarts),
            resume_checkpoint_id: None,
            cancel_requested: 0,
            current_step: 0,
            total_steps: None,
            latest_loss: None,
            error_code: None,
            error_message: None,
            error_hint: None,
            model_id: None,
            runner_pid: None,
            runner_instance: None,
            created_at: now,
            started_at: None,
            finished_at: None,
            updated_at: now,
            resources: serde_json::to_string(&plan.resources).map_err(crate::datasets::internal)?,
            preemptions: 0,
            preempted_by: "[]".into(),
            stopping: None,
        };
        let mut tx = self.db().begin_write().await?;
        self.check_quotas(tx.conn(), principal, new.project_id.as_deref(), &plan.resources, plan.estimate.selected.seconds).await?;
        database::jobs::insert(tx.conn(), &row).await?;
        database::jobs::append_event(tx.conn(), &row.id, "state", None, now, &serde_json::json!({"state": "queued"}).to_string()).await?;
        if let (domain::training::MaxSeqLength::Auto, Some(l), Some(n)) =
            (new.config.data.max_seq_length, lengths, config.data.max_seq_length.tokens())
        {
            let message = format!(
                "max_seq_length auto: {n} tokens (99th percentile {} of {} records, longest {}, counted with the base model's tokenizer through the chat template)",
                l.p99, l.records, l.max
            );
            let data = serde_json::json!({"event": "log", "level": "info", "message": message, "source": "executor"});
            database::jobs::append_event(tx.conn(), &row.id, "log", None, now, &data.to_string()).await?;
        }
        if let Some(message) = auto_batch_note(&new.config.hyperparameters, &plan.estimate) {
            let data = serde_json::json!({"event": "log", "level": "info", "message": message, "source": "executor"});
            database::jobs::append_event(tx.conn(), &row.id, "log", None, now, &data.to_string()).await?;
        }
        let event = AuditEvent::by(principal, "job.create").target("job", &row.id).details(serde_json::json!({
            "base_model_id": row.base_model_id, "dataset_version_id": row.dataset_version_id, "method": new.config.method.kind.as_str(),
        }));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        self.signal_job(&row.id);
        self.queue().wake();
        Job::of(row)
    }

    /// Everything a submission checks, resolves and estimates, without queueing anything: what
    /// [`Services::create_job`] stores (after refusing a run that does not fit the device), and
    /// what an estimate before submitting shows.
    /// `to_run`: the installation must be able to run it (a runtime configured; else 503).
    pub(crate) async fn plan_job(&self, principal: &Principal, new: &NewJob, to_run: bool) -> Result<JobPlan> {
        let (perms, _) = self.permissions_in(principal, new.project_id.as_deref()).await?;
        if !perms.contains(Permission::TrainModel) {
            return Err(Error::PermissionDenied(Permission::TrainModel));
        }
        if to_run && self.settings().training.runtime.is_none() {
            return Err(Error::Unavailable(crate::models::RUNTIME_MISSING.into()));
        }
        let name = match &new.name {
            Some(n) => validate::name("name", n)?,
            None => format!("{}-{}", new.config.method.kind.as_str(), now_ms()),
        };
        let base = self.get_base_model(principal, &new.base_model_id).await?;
        if base.row.status != "ready" {
            return Err(refused(
                Refusal::BaseModelNotReady,
                format!(
                    "base model {} is {}{}",
                    base.row.id,
                    base.row.status,
                    base.row.error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
                ),
            ));
        }
        let spec = base.spec.clone().ok_or_else(|| Error::Internal("a ready base model has no figures".into()))?;
        let choices = SubmissionChoices {
            config: &new.config,
            merge_lora: new.merge_lora,
            chat_template: new.chat_template.as_deref(),
            max_restarts: new.max_restarts,
        };
        choices.validate(spec.layers, spec.context_length)?;
        let resources = self.resolve_resources(principal, &new.resources)?;
        let max_restarts = new.max_restarts.unwrap_or(self.settings().training.default_max_restarts);
        let (version, report) =
            self.usable_version(principal, &new.dataset_id, new.dataset_version, new.config.objective, "the dataset").await?;
        let validation = match &new.validation_dataset_id {
            Some(id) => Some(
                self.usable_version(principal, id, new.validation_dataset_version, new.config.objective, "the validation dataset").await?.0,
            ),
            None => None,
        };
        if new.config.hyperparameters.eval_every_steps.is_some() && validation.is_none() {
            return Err(ValidationError::unprocessable(
                "config.hyperparameters.eval_every_steps",
                "needs validation_dataset_id (evaluation runs on a validation set)",
            )
            .into());
        }
        let mut versions = vec![(&version, "dataset_id")];
        if let Some(v) = &validation {
            versions.push((v, "validation_dataset_id"));
        }
        let context_length = spec.context_length;
        let (mut config, lengths) =
            self.measured_config(principal, &base, &new.config, new.chat_template.as_deref(), context_length, &versions).await?;
        let training = &self.settings().training;
        config.hyperparameters.optimizer = config.hyperparameters.optimizer.resolve(&training.device_type, &training.device);
        // The tokens an epoch trains on: measured through the template, each sequence cut at the
        // sequence length; the report's count when nothing was measured (text without `auto`).
        let tokens = match (&lengths, config.data.max_seq_length.tokens()) {
            (Some(l), Some(seq_len)) => l.epoch_tokens(seq_len),
            _ => estimates::tokens_of_report(&report),
        };
        let request = EstimateRequest::default();
        let est = self.estimate_for(&base.row.name, spec, Some(&base.row.id), &config, tokens, &request).await?;
        config.hyperparameters.micro_batch_size = domain::training::MicroBatchSize::Rows(est.micro_batch_size);
        config.hyperparameters.gradient_checkpointing = est.gradient_checkpointing.into();
        Ok(JobPlan {
            name,
            base_model_id: base.row.id.clone(),
            version_id: version.id.clone(),
            validation_version_id: validation.map(|v| v.id),
            config,
            lengths,
            max_restarts,
            estimate: est,
            resources,
        })
    }

    async fn usable_version(
        &self,
        principal: &Principal,
        dataset_id: &str,
        version: Option<i64>,
        objective: Objective,
        what: &str,
    ) -> Result<(database::datasets::VersionRow, serde_json::Value)> {
        let version = match version {
            Some(v) => v,
            None => self.visible_dataset(principal, dataset_id).await?.dataset.latest_version,
        };
        let (row, report) = self.version_report(principal, dataset_id, version).await?;
        if row.valid_records == 0 {
            return Err(refused(
                Refusal::DatasetNotUsable,
                format!(
                    "{what} (version {version}) has no valid records: {} of {} failed validation (see …/validation)",
                    row.invalid_records, row.records
                ),
            ));
        }
        check_dataset_kinds(objective, &report, what)?;
        Ok((row, report))
    }

    pub async fn get_job(&self, principal: &Principal, id: &str) -> Result<Job> {
        let mut job = self.job_with(principal, id, Permission::ViewMetrics).await?;
        job.queue = self.queue_slot(&job.row).await?;
        job.cost = Some(self.job_cost(&job.row.id).await?);
        // The runtime's reports, read once for the suggestions and the measurements.
        let reports = self.all_job_events(&job.row.id, &["system", "progress"]).await?;
        let system: Vec<&serde_json::Value> = reports.iter().filter(|(r, _)| r.kind == "system").map(|(_, e)| e).collect();
        job.suggestions = self.job_suggestions(&job, &system).await?;
        job.measured = measured::job_measured(&job, &reports, self.settings().training.device_memory_bytes);
        Ok(job)
    }

    pub async fn list_jobs(
        &self,
        principal: &Principal,
        state: Option<&str>,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Page<Job>> {
        principal.require(Permission::ViewMetrics)?;
        if let Some(s) = state {
            if JobState::parse(s).is_none() {
                return Err(ValidationError::new("state", format!("unknown state '{s}'")).into());
            }
        }
        let limit = validate::page_limit(limit)?;
        let mut jobs = Vec::new();
        let mut cursor = after.map(str::to_string);
        // Jobs in projects the caller cannot see are skipped, so fetch until the page is full.
        loop {
            let rows = database::jobs::list(&mut *self.db().read().await?, &principal.organization_id, state, cursor.as_deref(), limit + 1)
                .await?;
            let exhausted = rows.len() as i64 <= limit;
            for row in rows {
                cursor = Some(row.id.clone());
                let visible = match self.permissions_in(principal, row.project_id.as_deref()).await {
                    Ok((perms, _)) => perms.contains(Permission::ViewMetrics),
                    Err(Error::NotFound(_)) => false,
                    Err(e) => return Err(e),
                };
                if visible {
                    jobs.push(Job::of(row)?);
                }
            }
            if exhausted || jobs.len() as i64 > limit {
                break;
            }
        }
        Ok(Page::from_rows(jobs, limit))
    }

    /// Asks a job to stop: a queued job is cancelled at once; a running one gets SIGTERM, saves
    /// a checkpoint and ends `cancelled`.
    pub async fn cancel_job(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<Job> {
        self.job_with(principal, id, Permission::TrainModel).await?;
        let mut tx = self.db().begin_write().await?;
        let (row, next) = self.request_cancel(tx.conn(), principal, id, "job.cancel", ctx).await?;
        tx.commit().await?;
        self.after_cancel(id, next);
        Job::of(row)
    }

    /// The state change of a cancel in `conn`'s transaction, recorded as `action`: a queued job
    /// is cancelled, a running one goes `cancelling` (None when it already was). After commit,
    /// [`Services::after_cancel`]. The caller has checked `train_model` on the job.
    pub(crate) async fn request_cancel(
        &self,
        conn: &mut database::Conn,
        principal: &Principal,
        id: &str,
        action: &'static str,
        ctx: &RequestContext,
    ) -> Result<(JobRow, Option<JobState>)> {
        database::jobs::lock(conn, id).await?;
        let mut row = database::jobs::get(conn, &principal.organization_id, id).await.or_not_found("job")?;
        let next = match transition::current_state(&row)? {
            JobState::Queued => JobState::Cancelled,
            JobState::Running => JobState::Cancelling,
            JobState::Cancelling => return Ok((row, None)),
            other => return Err(Error::Conflict(format!("job {id} is {} and cannot be cancelled", other.as_str()))),
        };
        row.cancel_requested = 1;
        let audit = AuditEvent::by(principal, action);
        transition::change_state(conn, self.derived_keys(), &mut row, next, serde_json::json!({}), audit, ctx).await?;
        Ok((row, Some(next)))
    }

    /// Tells the job's run (and the queue) about a committed cancel.
    pub(crate) fn after_cancel(&self, id: &str, next: Option<JobState>) {
        let Some(next) = next else { return };
        self.signal_job(id);
        if next == JobState::Cancelling {
            self.queue().stop(id);
        }
    }

    /// Queues a failed or cancelled job again, continuing from a checkpoint (the latest one
    /// unless `checkpoint_id` names another).
    pub async fn resume_job(&self, principal: &Principal, id: &str, checkpoint_id: Option<&str>, ctx: &RequestContext) -> Result<Job> {
        self.job_with(principal, id, Permission::TrainModel).await?;
        let mut tx = self.db().begin_write().await?;
        let row = self.requeue_job(tx.conn(), principal, id, checkpoint_id, "job.resume", ctx).await?;
        tx.commit().await?;
        self.after_requeue(id);
        Job::of(row)
    }

    /// The state change of a resume in `conn`'s transaction, recorded as `action`; after
    /// commit, [`Services::after_requeue`]. The caller has checked `train_model` on the job.
    pub(crate) async fn requeue_job(
        &self,
        conn: &mut database::Conn,
        principal: &Principal,
        id: &str,
        checkpoint_id: Option<&str>,
        action: &'static str,
        ctx: &RequestContext,
    ) -> Result<JobRow> {
        database::jobs::lock(conn, id).await?;
        let checkpoints = database::jobs::checkpoints(conn, &principal.organization_id, id).await?;
        let chosen = match checkpoint_id {
            Some(c) => Some(checkpoints.iter().find(|k| k.id == c).ok_or(Error::NotFound("checkpoint"))?.id.clone()),
            None => checkpoints.last().map(|k| k.id.clone()),
        };
        let mut row = database::jobs::get(conn, &principal.organization_id, id).await.or_not_found("job")?;
        let state = transition::current_state(&row)?;
        if !matches!(state, JobState::Failed | JobState::Cancelled) {
            return Err(Error::Conflict(format!("job {id} is {}; only a failed or cancelled job can be resumed", state.as_str())));
        }
        row.resume_checkpoint_id = chosen.clone();
        row.cancel_requested = 0;
        row.attempt = 0;
        row.error_code = None;
        row.error_message = None;
        row.error_hint = None;
        let details = serde_json::json!({"resume_checkpoint_id": chosen});
        let audit = AuditEvent::by(principal, action);
        transition::change_state(conn, self.derived_keys(), &mut row, JobState::Queued, details, audit, ctx).await?;
        // A fine-tuning job paused through the OpenAI facade is no longer paused once it runs again.
        database::openai::clear_paused_of_training_job(conn, id).await?;
        Ok(row)
    }

    /// Tells the queue about a committed resume.
    pub(crate) fn after_requeue(&self, id: &str) {
        self.signal_job(id);
        self.queue().wake();
    }

    /// A job's events after a sequence number (for SSE and polling).
    pub async fn job_events(&self, principal: &Principal, id: &str, kinds: &[&str], after_seq: i64, limit: i64) -> Result<Vec<EventRow>> {
        self.get_job(principal, id).await?;
        Ok(database::jobs::events(&mut *self.db().read().await?, id, kinds, after_seq, limit.clamp(1, 1000)).await?)
    }

    /// Every stored event of a job of these kinds (all kinds when empty), in order, each with
    /// its fields parsed (read 5000 at a time; one that does not parse is an error naming it).
    pub(crate) async fn all_job_events(&self, id: &str, kinds: &[&str]) -> Result<Vec<(EventRow, serde_json::Value)>> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let rows = database::jobs::events(&mut *self.db().read().await?, id, kinds, after, 5000).await?;
            let n = rows.len();
            for r in rows {
                after = r.seq;
                let data = serde_json::from_str(&r.data)
                    .map_err(|e| Error::Internal(format!("job {id}: stored event {} does not parse: {e}", r.seq)))?;
                out.push((r, data));
            }
            if n < 5000 {
                return Ok(out);
            }
        }
    }

    /// A page of a job's stored checkpoints, oldest first: `limit` (1 to 100, default 20) after
    /// the checkpoint `after` names.
    pub async fn job_checkpoints(
        &self,
        principal: &Principal,
        id: &str,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Page<crate::models::Checkpoint>> {
        self.get_job(principal, id).await?;
        let limit = validate::page_limit(limit)? as usize;
        let all = database::jobs::checkpoints(&mut *self.db().read().await?, &principal.organization_id, id).await?;
        let start = match after {
            None => 0,
            Some(cursor) => {
                1 + all.iter().position(|c| c.id == cursor).ok_or_else(|| {
                    ValidationError::new("after", format!("'{cursor}' is not a stored checkpoint of job {id} (it may have been pruned)"))
                })?
            }
        };
        let items = all.iter().skip(start).take(limit).cloned().map(crate::models::Checkpoint::of).collect::<Result<Vec<_>>>()?;
        Ok(Page { has_more: start + items.len() < all.len(), items })
    }

    /// Fine-tuned models the organization has.
    pub async fn list_models(
        &self,
        principal: &Principal,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Page<crate::models::FineTunedModel>> {
        principal.require(Permission::ViewMetrics)?;
        let limit = validate::page_limit(limit)?;
        let rows = database::models::list(&mut *self.db().read().await?, &principal.organization_id, after, limit + 1).await?;
        let page = Page::from_rows(rows, limit);
        let items = page.items.into_iter().map(crate::models::FineTunedModel::of).collect::<Result<_>>()?;
        Ok(Page { items, has_more: page.has_more })
    }

    /// Opens one file of a fine-tuned model (decrypted as it is read); downloading weights needs
    /// `deploy_model` and is audited.
    pub async fn open_model_file(
        &self,
        principal: &Principal,
        id: &str,
        path: &str,
        ctx: &RequestContext,
    ) -> Result<(crate::models::StoredFile, blob_store::BlobReader)> {
        let model = self.get_model(principal, id).await?;
        principal.require(Permission::DeployModel)?;
        let file =
            model.files.into_iter().find(|f| f.path == path).ok_or_else(|| {
                ValidationError::new("path", format!("model {id} has no file '{path}' (GET …/models/{id}/files lists them)"))
            })?;
        let (blobs, blob_id) = (self.blobs_handle(), file.blob_id.clone());
        let reader = tokio::task::spawn_blocking(move || blobs.reader(&blob_id))
            .await
            .map_err(crate::datasets::internal)?
            .map_err(crate::datasets::internal)?;
        self.record_event(AuditEvent::by(principal, "model.download").target("model", id).details(serde_json::json!({"path": path})), ctx)
            .await?;
        Ok((file, reader))
    }

    pub async fn get_model(&self, principal: &Principal, id: &str) -> Result<crate::models::FineTunedModel> {
        principal.require(Permission::ViewMetrics)?;
        let row = database::models::get(&mut *self.db().read().await?, &principal.organization_id, id).await.or_not_found("model")?;
        crate::models::FineTunedModel::of(row)
    }
}

/// What `auto` chose for the micro-batch and gradient checkpointing, in words (None when
/// neither was `auto`).
fn auto_batch_note(given: &domain::training::Hyperparameters, est: &EstimateResult) -> Option<String> {
    let mut chose = Vec::new();
    if given.micro_batch_size == domain::training::MicroBatchSize::Auto {
        chose.push(format!("micro_batch_size auto: {}", est.micro_batch_size));
    }
    if given.gradient_checkpointing == domain::training::Checkpointing::Auto {
        chose.push(format!("gradient_checkpointing auto: {}", if est.gradient_checkpointing { "on" } else { "off" }));
    }
    if chose.is_empty() {
        return None;
    }
    let gib = (1u64 << 30) as f64;
    Some(format!(
        "{} (estimated {:.2} GiB per device of the {} device's {:.1} GiB; at most {:.0}% is used)",
        chose.join(", "),
        est.estimate.memory_per_device_bytes / gib,
        est.selected.device,
        est.selected.memory_gib,
        estimates::AUTO_MEMORY_SHARE * 100.0
    ))
}

/// A submission checked and resolved ([`Services::plan_job`]).
pub(crate) struct JobPlan {
    pub name: String,
    pub base_model_id: String,
    pub version_id: String,
    pub validation_version_id: Option<String>,
    /// The configuration as it will run (`auto` values measured, the optimizer resolved).
    pub config: TrainingConfig,
    lengths: Option<crate::training::lengths::Lengths>,
    pub max_restarts: u32,
    pub estimate: EstimateResult,
    /// The resource request resolved (priority class, GPUs some node can hold).
    pub resources: domain::resources::JobResources,
}

impl JobPlan {
    /// The refusal the plan would get from its subjects' quotas now (checked in a transaction
    /// that is rolled back).
    pub(crate) async fn quota_refusal(
        &self,
        services: &Services,
        principal: &Principal,
        project_id: Option<&str>,
    ) -> Result<Option<String>> {
        let mut tx = services.db().begin_write().await?;
        let checked = services.check_quotas(tx.conn(), principal, project_id, &self.resources, self.estimate.selected.seconds).await;
        drop(tx);
        match checked {
            Ok(()) => Ok(None),
            Err(Error::Refused { message, .. }) => Ok(Some(message)),
            Err(e) => Err(e),
        }
    }

    /// The refusal of a run that does not fit the installation's device, naming what to change.
    pub(crate) fn fit_refusal(&self) -> Option<Error> {
        let est = &self.estimate;
        (!est.selected.fits).then(|| {
            refused(
                Refusal::ModelDoesNotFit,
                format!(
                    "this run needs about {:.1} GiB per device, more than the {:.1} GiB of this installation's {} device; try QLoRA, a smaller micro_batch_size, gradient_checkpointing or a shorter max_seq_length",
                    est.estimate.memory_per_device_bytes / (1u64 << 30) as f64,
                    est.selected.memory_gib,
                    est.selected.device
                ),
            )
        })
    }
}

/// The version of the stored configuration's shape. 1: the shape before versions (no
/// `schema_version` key); 2: the same keys plus `schema_version`. A new shape adds a version
/// here and an upgrade step in [`stored_config`].
const CONFIG_SCHEMA_VERSION: u64 = 2;

/// The configuration as stored: the user's `TrainingConfig` plus the job's other choices.
#[derive(serde::Serialize)]
struct ConfigWithOutput<'a> {
    schema_version: u64,
    #[serde(flatten)]
    config: &'a TrainingConfig,
    merge_lora: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    chat_template: Option<String>,
}

/// The choices of a job submission that a template also holds, checked alike for both.
pub(crate) struct SubmissionChoices<'a> {
    pub config: &'a TrainingConfig,
    pub merge_lora: bool,
    pub chat_template: Option<&'a str>,
    pub max_restarts: Option<u32>,
}

impl SubmissionChoices<'_> {
    /// Checks every range against the base model's `layers` and `context_length`.
    pub fn validate(&self, layers: u32, context_length: u32) -> Result<()> {
        self.config.validate(layers, context_length)?;
        if self.merge_lora && !self.config.method.kind.is_adapter() {
            return Err(ValidationError::unprocessable(
                "merge_lora",
                format!("only for LoRA, QLoRA or DoRA (the method is {})", self.config.method.kind.as_str()),
            )
            .into());
        }
        if let Some(name) = self.chat_template {
            chat_template::ChatTemplate::builtin(name).map_err(|e| {
                let known: Vec<&str> = chat_template::BUILTINS.iter().map(|b| b.name).collect();
                ValidationError::new("chat_template", format!("{e} (known: {})", known.join(", ")))
            })?;
        }
        if let Some(n) = self.max_restarts.filter(|n| *n > 20) {
            return Err(ValidationError::new("max_restarts", format!("must be at most 20 (got {n})")).into());
        }
        Ok(())
    }
}

/// A stored configuration, read back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredConfig {
    pub config: TrainingConfig,
    pub merge_lora: bool,
    pub chat_template: Option<String>,
}

/// Reads a stored configuration of any known schema version (upgrading older shapes); an
/// unknown version, a missing or mistyped field or an unknown key is an error that names it.
pub(crate) fn stored_config(json: &str) -> std::result::Result<StoredConfig, String> {
    let mut value: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    let object = value.as_object_mut().ok_or("not a JSON object")?;
    let version = match object.remove("schema_version") {
        None => 1,
        Some(v) => v.as_u64().ok_or_else(|| format!("schema_version: expected a number, got {v}"))?,
    };
    match version {
        // Version 1 is version 2 without the version key: nothing else to upgrade.
        1 | CONFIG_SCHEMA_VERSION => {}
        other => return Err(format!("schema_version {other} is unknown to this server (it knows 1 to {CONFIG_SCHEMA_VERSION})")),
    }
    let merge_lora = match object.remove("merge_lora") {
        None => false,
        Some(v) => v.as_bool().ok_or_else(|| format!("merge_lora: expected true or false, got {v}"))?,
    };
    let chat_template = match object.remove("chat_template") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(t)) => Some(t),
        Some(v) => return Err(format!("chat_template: expected a name, got {v}")),
    };
    let config = serde_path_to_error::deserialize(value).map_err(|e| format!("{}: {}", e.path(), e.inner()))?;
    Ok(StoredConfig { config, merge_lora, chat_template })
}

/// The stored form of a job's configuration (current schema version).
pub(crate) fn store_config(config: &TrainingConfig, merge_lora: bool, chat_template: Option<String>) -> Result<String> {
    serde_json::to_string(&ConfigWithOutput { schema_version: CONFIG_SCHEMA_VERSION, config, merge_lora, chat_template })
        .map_err(crate::datasets::internal)
}

/// Averages a series into at most `points` buckets of equal step width; keeps the last point.
fn downsample(series: Vec<MetricPoint>, points: usize) -> Vec<MetricPoint> {
    if series.len() <= points {
        return series;
    }
    let first = series[0].step;
    let last = series[series.len() - 1].step;
    let width = ((last - first) as f64 / (points - 1) as f64).max(1.0);
    let mut out: Vec<MetricPoint> = Vec::with_capacity(points);
    let mut bucket: Option<(i64, f64, i64, i64, usize)> = None; // (index, sum, step, time, n)
    for p in &series[..series.len() - 1] {
        let index = ((p.step - first) as f64 / width) as i64;
        match &mut bucket {
            Some((i, sum, step, time, n)) if *i == index => {
                *sum += p.value;
                *step = p.step;
                *time = p.time;
                *n += 1;
            }
            _ => {
                if let Some((_, sum, step, time, n)) = bucket.take() {
                    out.push(MetricPoint { step, time, value: sum / n as f64 });
                }
                bucket = Some((index, p.value, p.step, p.time, 1));
            }
        }
    }
    if let Some((_, sum, step, time, n)) = bucket {
        out.push(MetricPoint { step, time, value: sum / n as f64 });
    }
    out.push(series[series.len() - 1].clone());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsampling_keeps_the_shape_and_the_last_point() {
        let series: Vec<MetricPoint> = (1..=1000).map(|s| MetricPoint { step: s, time: s * 10, value: s as f64 }).collect();
        let d = downsample(series, 100);
        assert!(d.len() <= 101, "{}", d.len());
        assert_eq!(d.last().unwrap().step, 1000);
        assert!(d.windows(2).all(|w| w[0].step < w[1].step));
        assert!((d[0].value - 5.5).abs() < 1.0, "first bucket averages steps 1..10: {}", d[0].value);
        let short: Vec<MetricPoint> = (1..=5).map(|s| MetricPoint { step: s, time: s, value: 1.0 }).collect();
        assert_eq!(downsample(short, 100).len(), 5);
    }

    #[test]
    fn stored_config_round_trips_with_the_merge_flag() {
        let c = TrainingConfig::default();
        let json = store_config(&c, true, Some("llama3".into())).unwrap();
        assert!(json.contains(r#""schema_version":2"#), "{json}");
        assert_eq!(stored_config(&json), Ok(StoredConfig { config: c, merge_lora: true, chat_template: Some("llama3".into()) }));
    }

    #[test]
    fn a_version_1_configuration_upgrades() {
        // The shape stored before schema versions, as written by earlier servers.
        let v1 = r#"{"objective":"sft","method":{"kind":"lora","lora":{"rank":16,"alpha":32.0,"dropout":0.05,"target_modules":"all-linear"},"freeze":{"trainable_layers":2}},"data":{"max_seq_length":512,"packing":true},"hyperparameters":{"epochs":2.0,"max_steps":null,"micro_batch_size":4,"gradient_accumulation_steps":1,"learning_rate":0.0002,"lr_scheduler":"cosine","warmup_steps":0,"weight_decay":0.0,"max_grad_norm":1.0,"seed":42,"precision":"auto","gradient_checkpointing":false,"eval_every_steps":null,"early_stopping_patience":null,"checkpoint_every_steps":50,"keep_checkpoints":2,"log_every_steps":1,"dpo_beta":0.1,"zero_stage":0,"keep_best":false},"merge_lora":false}"#;
        let read = stored_config(v1).unwrap();
        assert_eq!(
            (read.config.method.lora.rank, read.config.data.max_seq_length, read.merge_lora),
            (16, domain::training::MaxSeqLength::Tokens(512), false)
        );
        // Stored again, it is version 2 and reads back the same.
        assert_eq!(stored_config(&store_config(&read.config, false, None).unwrap()).unwrap(), read);
    }

    #[test]
    fn a_configuration_that_does_not_parse_is_an_error_naming_what() {
        for (json, expect) in [
            ("", "not JSON"),
            ("[]", "not a JSON object"),
            (r#"{"schema_version": 9}"#, "schema_version 9 is unknown"),
            (r#"{"schema_version": 2, "merge_lora": "yes"}"#, "merge_lora"),
            (r#"{"schema_version": 2, "data": {"max_seq_len": 5}}"#, "max_seq_len"),
            (r#"{"schema_version": 2, "hyperparameters": {"epochs": "two"}}"#, "epochs"),
        ] {
            let err = stored_config(json).unwrap_err();
            assert!(err.contains(expect), "{json}: {err}");
        }
    }
}
