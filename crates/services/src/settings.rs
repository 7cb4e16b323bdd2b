//! Typed settings of the services (the binary fills them from flags, environment and TOML).

use domain::rate_limit::BucketLimit;
use domain::Role;
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct Settings {
    pub access_token_ttl_s: i64,
    pub refresh_token_ttl_s: i64,
    /// How long after its first use a refresh token may be presented again and still be
    /// exchanged (for a fresh pair; the one issued at its first use stays valid). The answer to
    /// the first use can be lost — a page reloaded while it refreshes — and without this the
    /// retry would be taken for a stolen copy and end the session. 0 turns it off.
    pub refresh_reuse_grace_s: i64,
    /// Failed logins in a row that lock an account.
    pub lockout_threshold: i64,
    pub lockout_duration_s: i64,
    /// Failed logins allowed per client address: a burst, refilled over `ip_failure_window_s`.
    pub ip_failure_burst: f64,
    pub ip_failure_window_s: f64,
    /// Request rate limit per caller (user or API key), by organization role.
    pub rate_limits: HashMap<Role, BucketLimit>,
    pub invitation_ttl_s: i64,
    /// Storage per organization unless set on the organization, in bytes.
    pub storage_quota_bytes: i64,
    /// The largest file one upload may hold, in bytes.
    pub max_upload_bytes: i64,
    /// Training sequence length assumed by dataset statistics: records longer than this many
    /// tokens are reported as truncated.
    pub max_tokens_per_record: usize,
    /// OpenAI-compatible endpoints a recipe's `augment` step may call: URL prefixes
    /// (`http://127.0.0.1:8000/v1`). Empty: augmentation is refused (the server would otherwise
    /// make requests wherever a recipe says).
    pub augment_endpoints: Vec<String>,
    /// Training: the runtime, the device, the queue.
    pub training: TrainingSettings,
    /// Serving: the local backend's batching and timeouts.
    pub serving: ServingSettings,
    /// Evaluation: the resources metrics use beyond the metrics crate.
    pub evaluation: EvaluationSettings,
    /// Scheduling: the nodes, the policy, priority classes and preemption's guards.
    pub scheduling: SchedulingSettings,
}

/// How the queue decides (see the `scheduler` crate).
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulingSettings {
    pub policy: scheduler::PolicyKind,
    /// This server's nodes: declared in the configuration or detected GPUs. Empty: one node of
    /// type `cpu` whose slots are `training.max_concurrent_jobs`.
    pub nodes: Vec<scheduler::Node>,
    /// Priority classes, by name; a higher value runs first and may preempt spot jobs below it.
    pub priority_classes: Vec<domain::resources::PriorityClass>,
    /// The class of a job that names none.
    pub default_priority: String,
    /// The highest class members may ask for; organization admins may ask for any.
    pub member_max_priority: String,
    /// Per user (by email): a different default class, and the highest class allowed (VIPs).
    pub user_priorities: HashMap<String, UserPriority>,
    /// A job runs at least this long before it may be preempted.
    pub min_run_s: u64,
    /// A job is preempted at most this many times.
    pub max_preemptions: u32,
    /// A blocked job preempts spot jobs only when it would otherwise wait longer than this.
    pub preempt_after_wait_s: u64,
    /// Half-life of past GPU-time in the fair-share factor.
    pub usage_half_life_s: u64,
    /// Fair-share weights by user id and by project id (1 when absent).
    pub user_weights: HashMap<String, f64>,
    pub project_weights: HashMap<String, f64>,
    /// Time-slicing: a job of a user under their fair share that waited this long makes jobs of
    /// users over theirs yield (checkpoint, then wait). None: off.
    pub time_slice_s: Option<u64>,
    /// Prices per GPU-hour by GPU type; a price set through the API overrides them, and a type
    /// without one is priced at `training.price_per_device_hour`, else the device type's list
    /// price (`training::PriceTable`).
    pub prices: HashMap<String, GpuPrice>,
    /// The Ray executor: runs go to this cluster, whose nodes replace `nodes`. None: child
    /// processes on this machine.
    pub ray: Option<RaySettings>,
    /// The Kubernetes executor: each run is a workload in this cluster, placed on the declared
    /// `nodes` (its node pools). None: child processes on this machine (or Ray).
    pub kubernetes: Option<KubernetesSettings>,
}

/// A Kubernetes cluster that runs training jobs (`[scheduling.kubernetes]`).
#[derive(Debug, Clone, PartialEq)]
pub struct KubernetesSettings {
    pub connection: executors::kubernetes::KubeConnection,
    /// The runtime's image.
    pub image: String,
    /// Kueue's LocalQueue (None: no Kueue labels).
    pub queue: Option<String>,
    /// Node labels per GPU type: a run on that type is placed on its pool.
    pub node_selectors: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    /// The taint of spot nodes (key, value, effect), which spot runs tolerate.
    pub spot_taint: Option<(String, String, String)>,
    /// The ReadWriteMany claim that holds the server's data directory.
    pub data_claim: String,
    pub cpus_per_gpu: u32,
    pub memory_gib_per_gpu: u32,
}

/// A Ray cluster that runs training jobs (`[scheduling.ray]`).
#[derive(Debug, Clone, PartialEq)]
pub struct RaySettings {
    /// The dashboard's URL (the Jobs REST API), e.g. `http://127.0.0.1:8265`.
    pub address: String,
    /// The runtime's Python and package folder on the Ray nodes; None: the server's own paths
    /// (the same image, or a shared filesystem).
    pub runtime_python: Option<std::path::PathBuf>,
    pub runtime_dir: Option<std::path::PathBuf>,
    /// CPUs each run asks for; on a node without GPUs, the size of one training slot.
    pub cpus_per_job: f64,
}

/// The price of one GPU per hour.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuPrice {
    pub on_demand: f64,
    /// For preemptible (spot) jobs; default: the on-demand price.
    pub spot: Option<f64>,
}

/// A user's own priority default and allowance.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPriority {
    pub default: Option<String>,
    pub max: Option<String>,
}

impl Default for SchedulingSettings {
    fn default() -> Self {
        let class = |name: &str, value| domain::resources::PriorityClass { name: name.into(), value };
        // The policy's own defaults, which the simulator also replays with.
        let policy = scheduler::Config::new(scheduler::PolicyKind::Tunery);
        let seconds = |ms: i64| (ms / 1000).max(0) as u64;
        SchedulingSettings {
            policy: policy.kind,
            nodes: Vec::new(),
            priority_classes: vec![class("low", 0), class("normal", 1), class("high", 2), class("urgent", 3)],
            default_priority: "normal".into(),
            member_max_priority: "high".into(),
            user_priorities: HashMap::new(),
            min_run_s: seconds(policy.min_run_ms),
            max_preemptions: policy.max_preemptions,
            preempt_after_wait_s: seconds(policy.preempt_after_wait_ms),
            usage_half_life_s: seconds(policy.usage_half_life_ms),
            user_weights: HashMap::new(),
            project_weights: HashMap::new(),
            time_slice_s: policy.time_slice_ms.map(seconds),
            prices: HashMap::new(),
            ray: None,
            kubernetes: None,
        }
    }
}

impl SchedulingSettings {
    /// The nodes jobs are placed on by the local executor: the declared or detected ones, else
    /// this machine's CPU slots (one node of type `cpu`, `max_concurrent_jobs` slots, the device
    /// memory each). The Ray executor's come from its cluster (`Services::nodes`).
    pub fn local_nodes(&self, training: &TrainingSettings) -> Vec<scheduler::Node> {
        if !self.nodes.is_empty() {
            return self.nodes.clone();
        }
        vec![scheduler::Node {
            id: "local".into(),
            gpu_type: "cpu".into(),
            gpus: training.max_concurrent_jobs.max(1) as u32,
            gpu_memory_gib: training.device_memory_bytes as f64 / f64::from(1u32 << 30),
        }]
    }

    pub fn class(&self, name: &str) -> Option<&domain::resources::PriorityClass> {
        self.priority_classes.iter().find(|c| c.name == name)
    }

    /// The class a request's `resources.priority` names; an unknown one is a 422 listing them.
    pub fn requested_class(&self, name: &str) -> Result<&domain::resources::PriorityClass, domain::ValidationError> {
        self.class(name).ok_or_else(|| {
            let known: Vec<&str> = self.priority_classes.iter().map(|c| c.name.as_str()).collect();
            domain::ValidationError::unprocessable(
                "resources.priority",
                format!("unknown priority class '{name}' (classes: {})", known.join(", ")),
            )
        })
    }

    /// The policy's configuration.
    pub fn policy_config(&self) -> scheduler::Config {
        let mut c = scheduler::Config::new(self.policy);
        c.min_run_ms = self.min_run_s as i64 * 1000;
        c.max_preemptions = self.max_preemptions;
        c.preempt_after_wait_ms = self.preempt_after_wait_s as i64 * 1000;
        c.usage_half_life_ms = self.usage_half_life_s.max(1) as i64 * 1000;
        c.time_slice_ms = self.time_slice_s.map(|s| s as i64 * 1000);
        c.user_weights = self.user_weights.clone();
        c.project_weights = self.project_weights.clone();
        // The runtime saves a checkpoint on SIGTERM: a stop loses nothing.
        c.checkpoint_on_stop = true;
        c
    }
}

/// What the administrator configured for metrics: WordNet for METEOR's synonym stage, the
/// encoder BERTScore embeds with, a BLEURT checkpoint. The neural ones run in the training
/// runtime (`TrainingSettings::runtime`).
#[derive(Debug, Clone, Default)]
pub struct EvaluationSettings {
    /// WordNet 3.0 (`--wordnet-dir`), loaded at start; None: METEOR has no synonym stage.
    pub wordnet: Option<&'static metrics::wordnet::WordNet>,
    /// BERTScore's encoder (`--bertscore-model`); None: `bertscore` is refused.
    pub bertscore_model: Option<MetricModel>,
    /// BERTScore's layer (`--bertscore-layer`; None: the encoder's last).
    pub bertscore_layer: Option<u32>,
    /// A BLEURT checkpoint ported to PyTorch (`--bleurt-checkpoint`); None: `bleurt` is refused.
    pub bleurt_checkpoint: Option<MetricModel>,
}

/// A model folder a metric runs (BERTScore's encoder, a BLEURT checkpoint) and the SHA-256 of
/// its configuration and weights, taken once when the server starts: evaluations record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricModel {
    pub path: std::path::PathBuf,
    pub sha256: String,
}

impl MetricModel {
    /// Reads `path`: a transformers folder with `config.json` and weights (`*.safetensors` or
    /// `*.bin`), hashed in name order; an error names what is missing.
    pub fn open(path: &std::path::Path) -> Result<MetricModel, String> {
        use sha2::{Digest, Sha256};
        use std::io::Read;
        let entries = std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut files: Vec<std::path::PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                name == "config.json" || name.ends_with(".safetensors") || name.ends_with(".bin")
            })
            .collect();
        files.sort();
        if !files.iter().any(|f| f.ends_with("config.json")) {
            return Err(format!("{} has no config.json: not a transformers model folder", path.display()));
        }
        if files.len() < 2 {
            return Err(format!("{} has no weights (*.safetensors or *.bin)", path.display()));
        }
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        for f in &files {
            hash.update(f.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
            let mut file = std::fs::File::open(f).map_err(|e| format!("{}: {e}", f.display()))?;
            loop {
                let n = file.read(&mut buf).map_err(|e| format!("{}: {e}", f.display()))?;
                if n == 0 {
                    break;
                }
                hash.update(&buf[..n]);
            }
        }
        let sha256 = hex::encode(hash.finalize());
        Ok(MetricModel { path: path.to_path_buf(), sha256 })
    }

    /// The folder's name, as results show it.
    pub fn name(&self) -> String {
        self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| self.path.display().to_string())
    }
}

/// How deployments are served.
#[derive(Debug, Clone)]
pub struct ServingSettings {
    /// Seconds a backend may take to load its model before a start counts as failed.
    pub start_timeout_s: u64,
    /// Seconds one request through the gateway may take.
    pub request_timeout_s: u64,
    /// Rows (requests × n) the local backend decodes together.
    pub max_batch_size: u32,
    /// Milliseconds a lone request waits for others to batch with.
    pub batch_wait_ms: u32,
    /// OpenAI-compatible URL prefixes external deployments may point at (empty: none).
    pub external_endpoints: Vec<String>,
    /// The `vllm` executable (in vLLM's own environment) for the vLLM backend; None: vLLM
    /// deployments are refused.
    pub vllm_command: Option<std::path::PathBuf>,
    /// Arguments added to every `vllm serve` (e.g. `--gpu-memory-utilization=0.85`); they come
    /// last, so they override Tunery's own.
    pub vllm_args: Vec<String>,
}

impl Default for ServingSettings {
    fn default() -> Self {
        ServingSettings {
            start_timeout_s: 300,
            request_timeout_s: 600,
            max_batch_size: 8,
            batch_wait_ms: 5,
            external_endpoints: Vec::new(),
            vllm_command: None,
            vllm_args: Vec::new(),
        }
    }
}

/// How training jobs run on this installation.
#[derive(Debug, Clone)]
pub struct TrainingSettings {
    /// The runtime's Python interpreter and package folder; None: jobs are refused with a hint.
    pub runtime: Option<executors::RuntimeCommand>,
    /// Job work directories (`<id>/`): the runtime's spec, data, checkpoints and output while a
    /// job runs. They hold plaintext (the runtime reads files) and are removed when a job ends.
    pub work_dir: std::path::PathBuf,
    /// Decrypted base models, materialized once per model for the runtime to load.
    pub model_cache_dir: std::path::PathBuf,
    /// Jobs running at once (FIFO beyond that).
    pub max_concurrent_jobs: usize,
    /// The runtime's device: `auto`, `cpu`, `cuda` or `mps`.
    pub device: String,
    /// The device type estimates and fit checks assume (a name of `domain::estimate::DEVICE_TYPES`).
    pub device_type: String,
    /// Memory of one device in bytes (for `cpu`: the machine's memory), for the fit check at submit.
    pub device_memory_bytes: u64,
    /// Whether this machine's CPU multiplies bfloat16 in hardware (AVX512-BF16; AMX CPUs have it
    /// too), where the runtime trains in bf16 by default: CPU estimates assume what it will use.
    pub cpu_native_bf16: bool,
    /// Devices a job uses: more than one runs data-parallel ranks (DDP) on this machine.
    pub devices: u32,
    /// CPU threads for the runtime (None: torch's default).
    pub threads: Option<u32>,
    /// Model FLOPs utilization assumed by time estimates when nothing was measured.
    pub assumed_mfu: f64,
    /// Price per device-hour for cost estimates (None: the device type's list price).
    pub price_per_device_hour: Option<f64>,
    /// Crashed runs restarted from the last checkpoint before a job fails (per job default).
    pub default_max_restarts: u32,
    /// Seconds a stopping runtime gets to save its checkpoint before SIGKILL.
    pub stop_grace_s: u64,
    /// Seconds a server's lease on a job it runs lasts; it renews it every third of that. On a
    /// shared PostgreSQL another server takes a job over only after its lease expired.
    pub job_lease_s: u64,
    /// The Hugging Face Hub (or a mirror with the same layout) that `hub` imports download from.
    pub hub_base_url: String,
    /// A Hub access token for gated or private repositories (never logged).
    pub hub_token: Option<String>,
}

impl Default for TrainingSettings {
    fn default() -> Self {
        let tmp = std::env::temp_dir().join("tunery");
        TrainingSettings {
            runtime: None,
            work_dir: tmp.join("work"),
            model_cache_dir: tmp.join("model-cache"),
            max_concurrent_jobs: 1,
            device: "cpu".into(),
            device_type: "cpu".into(),
            device_memory_bytes: 16 << 30,
            cpu_native_bf16: false,
            devices: 1,
            threads: None,
            assumed_mfu: domain::estimate::DEFAULT_ASSUMED_MFU,
            price_per_device_hour: None,
            default_max_restarts: 2,
            stop_grace_s: 120,
            job_lease_s: 30,
            hub_base_url: "https://huggingface.co".into(),
            hub_token: None,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        let limit = |per_second, burst| BucketLimit { per_second, burst };
        Settings {
            access_token_ttl_s: 15 * 60,
            refresh_token_ttl_s: 30 * 24 * 3600,
            refresh_reuse_grace_s: 10,
            lockout_threshold: 5,
            lockout_duration_s: 15 * 60,
            ip_failure_burst: 20.0,
            ip_failure_window_s: 600.0,
            rate_limits: HashMap::from([
                (Role::Admin, limit(50.0, 200.0)),
                (Role::Researcher, limit(50.0, 200.0)),
                (Role::Developer, limit(50.0, 200.0)),
                (Role::Viewer, limit(20.0, 100.0)),
            ]),
            invitation_ttl_s: 7 * 24 * 3600,
            storage_quota_bytes: 100 * (1 << 30),
            max_upload_bytes: 20 * (1 << 30),
            max_tokens_per_record: 2048,
            augment_endpoints: Vec::new(),
            training: TrainingSettings::default(),
            serving: ServingSettings::default(),
            evaluation: EvaluationSettings::default(),
            scheduling: SchedulingSettings::default(),
        }
    }
}

impl Settings {
    pub fn rate_limit(&self, role: Role) -> BucketLimit {
        self.rate_limits.get(&role).copied().unwrap_or(BucketLimit { per_second: 20.0, burst: 100.0 })
    }
}
