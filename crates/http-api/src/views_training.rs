//! API views of base models, estimates, jobs, their events and checkpoints, and fine-tuned models.

use crate::views::secs;
use database::jobs::EventRow;
use domain::catalog::CatalogModel;
use domain::estimate::{DeviceFit, ThroughputSource};
use domain::model_spec::ModelSpec;
use serde::Serialize;
use services::models::BaseModel;
use services::training::{EstimateResult, Job, MetricPoint};
use utoipa::ToSchema;

/// A model's architecture figures, from its `config.json`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelSpecView {
    pub architecture: String,
    pub parameters: u64,
    pub layers: u32,
    pub hidden_size: u32,
    pub intermediate_size: u32,
    pub attention_heads: u32,
    pub kv_heads: u32,
    pub head_dim: u32,
    pub vocab_size: u32,
    pub context_length: u32,
    pub tied_embeddings: bool,
}

impl From<ModelSpec> for ModelSpecView {
    fn from(s: ModelSpec) -> Self {
        ModelSpecView {
            parameters: s.parameter_counts().total(),
            architecture: s.architecture,
            layers: s.layers,
            hidden_size: s.hidden_size,
            intermediate_size: s.intermediate_size,
            attention_heads: s.attention_heads,
            kv_heads: s.kv_heads,
            head_dim: s.head_dim,
            vocab_size: s.vocab_size,
            context_length: s.context_length,
            tied_embeddings: s.tied_embeddings,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogModelView {
    pub object: &'static str,
    /// The Hugging Face repository id.
    pub repo_id: String,
    pub family: String,
    pub license: String,
    pub spec: ModelSpecView,
}

impl From<CatalogModel> for CatalogModelView {
    fn from(m: CatalogModel) -> Self {
        CatalogModelView {
            object: "catalog.model",
            repo_id: m.repo_id.into(),
            family: m.family.into(),
            license: m.license.into(),
            spec: m.spec.into(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BaseModelView {
    pub id: String,
    pub object: &'static str,
    /// Null for an instance-wide model (the built-in one).
    pub organization_id: Option<String>,
    pub name: String,
    /// builtin, gguf, directory, archive (on the server), upload (an uploaded archive) or hub.
    pub source_kind: String,
    /// Where it came from: a path on the server, `repo@commit` for the Hub (the commit the
    /// revision pointed at), `sha256:<hash>/<file name>` for an uploaded archive; null for the
    /// built-in model.
    pub source_ref: Option<String>,
    /// importing, ready or failed.
    pub status: String,
    pub error: Option<String>,
    /// The catalog entry with the same architecture, if any.
    pub catalog_repo_id: Option<String>,
    pub license: Option<String>,
    pub spec: Option<ModelSpecView>,
    pub has_chat_template: bool,
    pub files: usize,
    pub size_bytes: i64,
    pub created_at: i64,
}

impl From<BaseModel> for BaseModelView {
    fn from(m: BaseModel) -> Self {
        let r = m.row;
        BaseModelView {
            object: "base_model",
            spec: m.spec.map(Into::into),
            files: m.files.len(),
            has_chat_template: r.chat_template.is_some(),
            created_at: secs(r.created_at),
            id: r.id,
            organization_id: r.organization_id,
            name: r.name,
            source_ref: Some(r.source_ref).filter(|_| r.source_kind != "builtin"),
            source_kind: r.source_kind,
            status: r.status,
            error: r.error,
            catalog_repo_id: r.catalog_repo_id,
            license: r.license,
            size_bytes: r.size_bytes,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemoryView {
    pub weights_bytes: f64,
    /// Gradients, optimizer states and master weights of what is trained.
    pub trainable_state_bytes: f64,
    pub activations_bytes: f64,
    pub logits_bytes: f64,
    /// CUDA context and allocator slack.
    pub overhead_bytes: f64,
    /// The peak while the model loads, before ZeRO-3 shards it (every device holds it whole).
    pub loading_bytes: f64,
    /// The peak per device: the parts above, or loading where that is higher.
    pub total_bytes: f64,
    pub total_gib: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceFitView {
    pub device: String,
    /// The device's memory (this machine's real memory for the CPU of a CPU installation).
    pub memory_gib: f64,
    /// Peak memory per device a run on this device type needs, in the precision and with the
    /// optimizer it would use there (`auto` resolved for it).
    pub memory_needed_gib: f64,
    pub fits: bool,
    /// The micro-batch (rows) and checkpointing a run there uses: with `auto`, chosen for this
    /// device type's memory (the selected device keeps the estimate's own choice).
    pub micro_batch_size: u64,
    pub gradient_checkpointing: bool,
    pub seconds: f64,
    pub gpu_hours: f64,
    pub price_per_hour: f64,
    pub cost: f64,
    /// assumed (peak FLOP/s × MFU) or measured (an earlier job's tokens per second).
    pub throughput_source: &'static str,
    pub assumed_mfu: Option<f64>,
    pub measured_tokens_per_second: Option<f64>,
}

impl From<DeviceFit> for DeviceFitView {
    fn from(f: DeviceFit) -> Self {
        let (source, mfu, tps) = match f.throughput {
            ThroughputSource::Assumed { mfu } => ("assumed", Some(mfu), None),
            ThroughputSource::Measured { tokens_per_second } => ("measured", None, Some(tokens_per_second)),
        };
        DeviceFitView {
            device: f.device.into(),
            memory_gib: f.memory_gib,
            memory_needed_gib: f.memory_needed_gib,
            fits: f.fits,
            micro_batch_size: f.micro_batch_size,
            gradient_checkpointing: f.gradient_checkpointing,
            seconds: f.seconds,
            gpu_hours: f.gpu_hours,
            price_per_hour: f.price_per_hour,
            cost: f.cost,
            throughput_source: source,
            assumed_mfu: mfu,
            measured_tokens_per_second: tps,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EstimateView {
    pub object: &'static str,
    pub model: String,
    pub spec: ModelSpecView,
    pub total_parameters: u64,
    pub trainable_parameters: u64,
    /// Tokens trained on: dataset tokens × epochs (or max_steps × tokens per step).
    pub training_tokens: u64,
    /// The sequence length estimated with: `auto` measured on the dataset (an imported model and
    /// a dataset), else 1024.
    pub max_seq_length: u32,
    /// The micro-batch size estimated with: `auto` chosen as the largest that fits the device
    /// with a tenth spare.
    pub micro_batch_size: u32,
    /// Whether gradient checkpointing was estimated on: `auto` only when nothing fits without.
    pub gradient_checkpointing: bool,
    /// The precision estimated with: `auto` is bf16 where the device multiplies bfloat16 in
    /// hardware (a GPU with bf16; for the CPU, this server's), else fp32 — as the run picks it.
    pub precision: domain::estimate::Precision,
    pub flops_per_token: f64,
    pub training_flops: f64,
    /// Peak memory per device.
    pub memory: MemoryView,
    /// The installation's (or the requested) device type.
    pub selected: DeviceFitView,
    /// Every known device type.
    pub devices: Vec<DeviceFitView>,
}

impl From<EstimateResult> for EstimateView {
    fn from(r: EstimateResult) -> Self {
        let m = r.estimate.memory;
        EstimateView {
            object: "estimate",
            model: r.model_name,
            spec: r.spec.into(),
            total_parameters: r.estimate.total_parameters,
            trainable_parameters: r.estimate.trainable_parameters,
            training_tokens: r.training_tokens,
            max_seq_length: r.max_seq_length,
            micro_batch_size: r.micro_batch_size,
            gradient_checkpointing: r.gradient_checkpointing,
            precision: r.precision,
            flops_per_token: r.estimate.flops_per_token,
            training_flops: r.estimate.training_flops,
            memory: MemoryView {
                weights_bytes: m.weights,
                trainable_state_bytes: m.trainable_state,
                activations_bytes: m.activations,
                logits_bytes: m.logits,
                overhead_bytes: m.overhead,
                loading_bytes: m.loading,
                total_bytes: m.total(),
                total_gib: m.total() / (1u64 << 30) as f64,
            },
            selected: r.selected.into(),
            devices: r.devices.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobErrorView {
    pub code: String,
    pub message: String,
    pub hint: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: String,
    pub object: &'static str,
    pub organization_id: String,
    pub project_id: Option<String>,
    pub name: String,
    pub created_by: String,
    pub base_model_id: String,
    pub dataset_version_id: String,
    pub validation_version_id: Option<String>,
    /// objective, method, data and hyperparameters, with defaults filled in.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    pub merge_lora: bool,
    /// A built-in chat template chosen by name (null: the base model's own).
    pub chat_template: Option<String>,
    /// The estimate made at submission (memory, tokens, time, cost).
    #[schema(value_type = Object)]
    pub estimate: serde_json::Value,
    /// queued, running, cancelling, succeeded, failed or cancelled.
    pub state: String,
    /// Restarts after crashes so far.
    pub restarts: i64,
    pub max_restarts: i64,
    pub current_step: i64,
    pub total_steps: Option<i64>,
    pub latest_loss: Option<f64>,
    pub error: Option<JobErrorView>,
    /// The fine-tuned model, once the job succeeded.
    pub model_id: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// What the job asked of the cluster (the priority resolved to a class).
    pub resources: domain::resources::JobResources,
    /// Times a higher-priority job preempted it (it resumed from its checkpoint).
    pub preemptions: i64,
    /// While queued (on a single job's read): its place and why it waits.
    pub queue: Option<services::training::QueueSlot>,
    /// GPU-hours and cost of its runs so far (on a single job's read).
    pub cost: Option<services::training::JobCost>,
    /// Advice from what it asked for and measured — a cheaper device with QLoRA, GPUs left
    /// idle, memory left unused (on a single job's read, once it has run).
    pub suggestions: Vec<domain::suggestions::Suggestion>,
    /// What its runs measured — peak memory, tokens per second, seconds per step — beside its
    /// estimate (on a single job's read, once it has reported).
    pub measured: Option<services::training::Measured>,
}

impl From<Job> for JobView {
    fn from(j: Job) -> Self {
        let r = j.row;
        JobView {
            object: "job",
            config: serde_json::to_value(&j.config).unwrap_or_default(),
            merge_lora: j.merge_lora,
            chat_template: j.chat_template,
            estimate: j.estimate,
            resources: j.resources,
            queue: j.queue,
            cost: j.cost,
            suggestions: j.suggestions,
            measured: j.measured,
            preemptions: r.preemptions,
            error: r.error_code.map(|code| JobErrorView { code, message: r.error_message.unwrap_or_default(), hint: r.error_hint }),
            created_at: secs(r.created_at),
            started_at: r.started_at.map(secs),
            finished_at: r.finished_at.map(secs),
            restarts: r.attempt,
            id: r.id,
            organization_id: r.organization_id,
            project_id: r.project_id,
            name: r.name,
            created_by: r.created_by,
            base_model_id: r.base_model_id,
            dataset_version_id: r.dataset_version_id,
            validation_version_id: r.validation_version_id,
            state: r.state,
            max_restarts: r.max_restarts,
            current_step: r.current_step,
            total_steps: r.total_steps,
            latest_loss: r.latest_loss,
            model_id: r.model_id,
        }
    }
}

/// One event of a job: its sequence number (the SSE id), kind, step, time (Unix ms) and fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobEventView {
    pub seq: i64,
    /// state, started, progress, eval, system, checkpoint, artifact, log, finished, stopped or failed.
    pub kind: String,
    pub step: Option<i64>,
    /// Unix milliseconds.
    pub time_ms: i64,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl TryFrom<EventRow> for JobEventView {
    type Error = crate::error::ApiError;

    fn try_from(e: EventRow) -> Result<Self, Self::Error> {
        let data = crate::views::stored_json("job_events.data", &format!("{} #{}", e.job_id, e.seq), &e.data)?;
        Ok(JobEventView { seq: e.seq, kind: e.kind, step: e.step, time_ms: e.time, data })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobEventList {
    pub object: &'static str,
    pub data: Vec<JobEventView>,
    pub has_more: bool,
    /// Pass as `after` for the next page (or to follow).
    pub last_seq: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MetricPointView {
    pub step: i64,
    pub time_ms: i64,
    pub value: f64,
}

impl From<MetricPoint> for MetricPointView {
    fn from(p: MetricPoint) -> Self {
        MetricPointView { step: p.step, time_ms: p.time, value: p.value }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MetricSeriesView {
    pub name: String,
    pub points: Vec<MetricPointView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobMetricsView {
    pub object: &'static str,
    pub job_id: String,
    pub series: Vec<MetricSeriesView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointView {
    pub id: String,
    pub object: &'static str,
    pub job_id: String,
    pub step: i64,
    pub files: usize,
    pub size_bytes: i64,
    pub created_at: i64,
}

impl From<services::models::Checkpoint> for CheckpointView {
    fn from(k: services::models::Checkpoint) -> Self {
        let c = k.row;
        CheckpointView {
            object: "job.checkpoint",
            files: k.files.len(),
            created_at: secs(c.created_at),
            id: c.id,
            job_id: c.job_id,
            step: c.step,
            size_bytes: c.size_bytes,
        }
    }
}

/// A fine-tuned model with its experiment record.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelView {
    pub id: String,
    pub object: &'static str,
    pub organization_id: String,
    pub project_id: Option<String>,
    pub name: String,
    pub base_model_id: String,
    pub job_id: String,
    pub dataset_version_id: String,
    /// adapter (LoRA family) or full.
    pub kind: String,
    pub files: usize,
    pub size_bytes: i64,
    /// The training configuration of the job that made it.
    pub config: domain::training::TrainingConfig,
    /// Whether the LoRA was also stored merged into the base weights (under `merged/`).
    pub merge_lora: bool,
    /// The built-in chat template it was trained through (none: the base model's own).
    pub chat_template: Option<String>,
    /// What the run reported when it finished.
    pub metrics: services::models::TrainingSummary,
    pub created_by: String,
    pub created_at: i64,
}

impl From<services::models::FineTunedModel> for ModelView {
    fn from(f: services::models::FineTunedModel) -> Self {
        let m = f.row;
        ModelView {
            object: "model",
            files: f.files.len(),
            config: f.config,
            merge_lora: f.merge_lora,
            chat_template: f.chat_template,
            metrics: f.metrics,
            created_at: secs(m.created_at),
            id: m.id,
            organization_id: m.organization_id,
            project_id: m.project_id,
            name: m.name,
            base_model_id: m.base_model_id,
            job_id: m.job_id,
            dataset_version_id: m.dataset_version_id,
            kind: m.kind,
            size_bytes: m.size_bytes,
            created_by: m.created_by,
        }
    }
}
