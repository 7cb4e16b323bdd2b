//! `POST /api/v1/estimates`: memory, time and cost of a run before it is submitted, from the
//! pure formulas in `domain::estimate` and, when a job of the same model, device type and
//! method has finished here before, its measured speed.

use crate::{Error, Principal, Result, Services};
use domain::estimate::{self, DeviceFit, Estimate, EstimateInput, Precision, DEVICE_TYPES};
use domain::model_spec::ModelSpec;
use domain::training::{Hyperparameters, MicroBatchSize, TargetModules, TrainingConfig};
use domain::{Permission, ValidationError};
use serde::Deserialize;

/// What to estimate: a model (imported, or a catalog entry), a configuration and the data size.
/// Exactly one of `base_model_id` and `catalog_repo_id`, and at most one of `dataset_tokens`
/// and `dataset_id` (else 422).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EstimateRequest {
    /// An imported base model (`bm_…`).
    pub base_model_id: Option<String>,
    /// Or a catalog entry by repository id, case-insensitive (404 when the catalog has none:
    /// `GET /api/v1/base-models/catalog`).
    pub catalog_repo_id: Option<String>,
    #[serde(default)]
    pub config: TrainingConfig,
    /// Tokens in the training data (one epoch); or give a dataset version.
    pub dataset_tokens: Option<u64>,
    pub dataset_id: Option<String>,
    pub dataset_version: Option<i64>,
    /// Devices the run uses, 1 to 4096 (default: the installation's).
    #[schema(minimum = 1, maximum = 4096)]
    pub gpus: Option<u32>,
    /// DeepSpeed ZeRO stage: 0, 2 or 3 (default: `config.hyperparameters.zero_stage`).
    #[schema(schema_with = domain::schema::optional_zero_stage)]
    pub zero_stage: Option<u8>,
    /// The device type to time and price the run on, case-insensitive (default: the
    /// installation's).
    #[schema(schema_with = optional_device_type_schema)]
    pub device_type: Option<String>,
    #[schema(minimum = 0)]
    pub price_per_gpu_hour: Option<f64>,
}

/// The known device types, each letter in either case.
fn optional_device_type_schema() -> utoipa::openapi::schema::ObjectBuilder {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    let any_case = |name: &str| -> String {
        name.chars()
            .map(|c| match c {
                c if c.is_ascii_alphabetic() => format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase()),
                c if r".^$*+?()[]{}|\/".contains(c) => format!("\\{c}"),
                c => c.to_string(),
            })
            .collect()
    };
    let names: Vec<String> = DEVICE_TYPES.iter().map(|d| any_case(d.name)).collect();
    ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null])).pattern(Some(format!("^(?:{})$", names.join("|"))))
}

/// An estimate with its fit on every known device type.
#[derive(Debug, Clone)]
pub struct EstimateResult {
    pub model_name: String,
    pub spec: ModelSpec,
    pub training_tokens: u64,
    /// The sequence length estimated with (`auto` resolved).
    pub max_seq_length: u32,
    /// The micro-batch size estimated with (`auto` resolved).
    pub micro_batch_size: u32,
    /// Whether gradient checkpointing was estimated on (`auto` resolved).
    pub gradient_checkpointing: bool,
    /// The precision estimated with (`auto` resolved for the device).
    pub precision: Precision,
    pub estimate: Estimate,
    /// The requested (or the installation's) device type.
    pub selected: DeviceFit,
    pub devices: Vec<DeviceFit>,
}

/// What `max_seq_length: "auto"` means in an estimate with no dataset to measure.
pub const AUTO_WITHOUT_DATASET: u32 = 1024;

/// The micro-batch sizes `auto` chooses among, largest first.
const AUTO_MICRO_BATCHES: [u32; 7] = [64, 32, 16, 8, 4, 2, 1];
/// The share of the device's memory an `auto` choice may fill by the estimate.
pub const AUTO_MEMORY_SHARE: f64 = 0.9;

/// The (checkpointing, micro-batch) pairs `auto` chooses among, in order of preference:
/// checkpointing off first, then on (when the configuration leaves it `auto`); within each, the
/// micro-batch sizes largest first. One pair when the configuration fixes both.
fn auto_candidates(h: &Hyperparameters, dataset_tokens: u64, seq_len: u32) -> Vec<(bool, u32)> {
    let sizes = micro_batch_candidates(h.micro_batch_size, dataset_tokens, seq_len);
    let checkpointing = match h.gradient_checkpointing.enabled() {
        Some(on) => vec![on],
        None => vec![false, true],
    };
    checkpointing.iter().flat_map(|&on| sizes.iter().map(move |&rows| (on, rows))).collect()
}

/// The `auto` rule, the one place it is written: the first candidate whose estimated memory per
/// device is at most [`AUTO_MEMORY_SHARE`] of `memory_bytes`; when none is, the last (smallest)
/// one, whose fit then says it does not fit.
fn choose_auto<T>(candidates: &[(bool, u32)], memory_bytes: f64, estimate: impl Fn(bool, u32) -> (T, Estimate)) -> (T, Estimate) {
    let room = memory_bytes * AUTO_MEMORY_SHARE;
    let mut last = None;
    for &(on, rows) in candidates {
        let tried = estimate(on, rows);
        if tried.1.memory_per_device_bytes <= room {
            return tried;
        }
        last = Some(tried);
    }
    last.expect("at least one candidate")
}

/// The micro-batch sizes to try: the one given, or the `auto` candidates no larger than the
/// rows an epoch has (the largest power of two at most that, at least 1).
fn micro_batch_candidates(given: MicroBatchSize, dataset_tokens: u64, seq_len: u32) -> Vec<u32> {
    match given {
        MicroBatchSize::Rows(n) => vec![n],
        MicroBatchSize::Auto => {
            let rows = if dataset_tokens == 0 { u64::MAX } else { dataset_tokens.div_ceil(u64::from(seq_len.max(1))).max(1) };
            AUTO_MICRO_BATCHES.iter().copied().filter(|&b| u64::from(b) <= rows || b == 1).collect()
        }
    }
}

/// Tokens of one epoch of a dataset version, from its report (counted tokens when the
/// statistics have them, else characters ÷ 4) — when they could not be measured through the
/// chat template the job trains with (`Lengths::epoch_tokens`).
pub(crate) fn tokens_of_report(report: &serde_json::Value) -> u64 {
    let stats = &report["stats"];
    stats["tokens"]["total"].as_u64().unwrap_or_else(|| stats["chars"]["sum"].as_u64().unwrap_or(0) / 4)
}

impl Services {
    /// Estimates a configuration; `max_seq_length: "auto"` is measured on the dataset when an
    /// imported model and a dataset are given, else taken as [`AUTO_WITHOUT_DATASET`].
    pub async fn estimate(&self, principal: &Principal, req: &EstimateRequest) -> Result<EstimateResult> {
        principal.require(Permission::ViewMetrics)?;
        // The imported model (kept to measure `auto` with), or the catalog entry.
        let (name, spec, base) = match (&req.base_model_id, &req.catalog_repo_id) {
            (Some(id), None) => {
                let m = self.get_base_model(principal, id).await?;
                let spec = m.spec.clone().ok_or_else(|| Error::Refused {
                    reason: crate::Refusal::BaseModelNotReady,
                    message: format!("base model {id} is {} and has no figures yet", m.row.status),
                })?;
                (m.row.name.clone(), spec, Some(m))
            }
            (None, Some(repo)) => {
                let c = domain::catalog::find(repo).ok_or(Error::NotFound("catalog model"))?;
                (c.repo_id.to_string(), c.spec, None)
            }
            _ => {
                return Err(ValidationError::unprocessable("base_model_id", "give exactly one of base_model_id and catalog_repo_id").into())
            }
        };
        let mut config = req.config.clone();
        let dataset_tokens = match (&req.dataset_id, req.dataset_tokens) {
            (Some(dataset), None) => {
                let version = match req.dataset_version {
                    Some(v) => v,
                    None => self.visible_dataset(principal, dataset).await?.dataset.latest_version,
                };
                let (row, report) = self.version_report(principal, dataset, version).await?;
                // Measured as a submission measures it when the model is imported: `auto`
                // resolved, and the tokens an epoch trains on through the chat template.
                // A failed measurement refuses `auto` (as a submission would); with an explicit
                // length the report's count stands in.
                let mut measured = None;
                if let Some(base) = &base {
                    let auto = config.data.max_seq_length == domain::training::MaxSeqLength::Auto;
                    match self.measured_config(principal, base, &config, None, spec.context_length, &[(&row, "dataset_id")]).await {
                        Ok((resolved, lengths)) => {
                            config = resolved;
                            measured = lengths.zip(config.data.max_seq_length.tokens()).map(|(l, seq_len)| l.epoch_tokens(seq_len));
                        }
                        Err(e) if auto => return Err(e),
                        Err(_) => {}
                    }
                }
                measured.unwrap_or_else(|| tokens_of_report(&report))
            }
            (None, Some(t)) => t,
            (None, None) => 0,
            (Some(_), Some(_)) => {
                return Err(ValidationError::unprocessable("dataset_tokens", "give either dataset_tokens or dataset_id, not both").into())
            }
        };
        if config.data.max_seq_length == domain::training::MaxSeqLength::Auto {
            // Nothing to measure (no dataset, or a catalog model): auto assumes the common 1024.
            config.data.max_seq_length = domain::training::MaxSeqLength::Tokens(AUTO_WITHOUT_DATASET.min(spec.context_length));
        }
        self.estimate_for(&name, spec, base.as_ref().map(|b| b.row.id.as_str()), &config, dataset_tokens, req).await
    }

    /// Estimates a configuration whose sequence length is resolved. `micro_batch_size: auto`
    /// and `gradient_checkpointing: auto` are chosen per device type by [`choose_auto`]: the
    /// selected device's choice is the estimate's; every other type shows what a run there
    /// would choose for its own memory.
    pub(crate) async fn estimate_for(
        &self,
        name: &str,
        spec: ModelSpec,
        base_model_id: Option<&str>,
        config: &TrainingConfig,
        dataset_tokens: u64,
        req: &EstimateRequest,
    ) -> Result<EstimateResult> {
        let training = &self.settings().training;
        config.validate(spec.layers, spec.context_length)?;
        let zero_stage = req.zero_stage.unwrap_or(config.hyperparameters.zero_stage);
        if ![0, 2, 3].contains(&zero_stage) {
            return Err(ValidationError::new("zero_stage", format!("must be 0, 2 or 3 (got {zero_stage})")).into());
        }
        if let Some(g) = req.gpus {
            if !(1..=4096).contains(&g) {
                return Err(ValidationError::new("gpus", format!("must be between 1 and 4096 (got {g})")).into());
            }
        }
        let gpus = req.gpus.unwrap_or(training.devices).max(1);
        let device_name = req.device_type.clone().unwrap_or_else(|| training.device_type.clone());
        let device = estimate::device_type(&device_name).ok_or_else(|| {
            let known: Vec<&str> = DEVICE_TYPES.iter().map(|d| d.name).collect();
            ValidationError::new("device_type", format!("unknown device type '{device_name}' (known: {})", known.join(", ")))
        })?;
        if let Some(p) = req.price_per_gpu_hour {
            if !(p >= 0.0 && p.is_finite()) {
                return Err(ValidationError::new("price_per_gpu_hour", format!("must be 0 or more (got {p})")).into());
            }
        }
        let seq_len = config
            .data
            .max_seq_length
            .tokens()
            .ok_or_else(|| Error::Internal("max_seq_length \"auto\" is resolved before an estimate".into()))?;
        let h = &config.hyperparameters;
        let candidates = auto_candidates(h, dataset_tokens, seq_len);
        let epochs = h.epochs;
        // With max_steps, the tokens trained depend on the micro-batch.
        let tokens_for = |rows: u32| {
            let tokens_per_step = u64::from(seq_len) * u64::from(rows) * u64::from(h.gradient_accumulation_steps);
            match h.max_steps {
                Some(steps) => (steps * tokens_per_step).min(if dataset_tokens > 0 {
                    (dataset_tokens as f64 * epochs.max(1.0)) as u64
                } else {
                    u64::MAX
                }),
                None => (dataset_tokens as f64 * epochs) as u64,
            }
        };
        let on_gpu = device.name != "cpu";
        // The parts every device type shares; each sets its precision, optimizer, micro-batch,
        // checkpointing and tokens below.
        let shared = EstimateInput {
            method: config.method.kind,
            precision: h.precision.resolve(if on_gpu { device.supports_bf16 } else { training.cpu_native_bf16 }),
            sequence_length: u64::from(seq_len),
            micro_batch_size: 1,
            gradient_checkpointing: false,
            gpus: u64::from(gpus),
            zero_stage,
            lora_rank: u64::from(config.method.lora.rank),
            lora_dropout: config.method.lora.dropout,
            lora_targets: match &config.method.lora.target_modules {
                TargetModules::Named(names) => names.clone(),
                TargetModules::Preset(_) => vec![],
            },
            freeze_trainable_layers: u64::from(config.method.freeze.trainable_layers),
            // `auto` is what the run would use on the device estimated for.
            optimizer_8bit: h.optimizer.resolve(device.name, if on_gpu { "cuda" } else { "cpu" }).is_8bit(),
            dpo: config.objective == domain::training::Objective::Dpo,
            training_tokens: 0,
            on_cpu: !on_gpu,
        };
        let mut conn = self.db().read().await?;
        let prices = self.price_table(&mut conn).await?;
        let measured = match base_model_id {
            Some(id) => database::base_models::measured_throughputs(&mut conn, id, config.method.kind.as_str()).await?,
            None => Vec::new(),
        };
        drop(conn);
        let mut devices = Vec::with_capacity(DEVICE_TYPES.len());
        let mut selected = None;
        for d in DEVICE_TYPES {
            // Each device type as a run there would train: its own `auto` precision and
            // optimizer, its own memory (QLoRA dequantizes on a CPU, not on a GPU), and its own
            // `auto` micro-batch and checkpointing.
            let on_d_gpu = d.name != "cpu";
            let this_machine = d.name == "cpu" && device.name == "cpu";
            let memory_bytes = if this_machine { training.device_memory_bytes as f64 } else { d.memory_gib * (1u64 << 30) as f64 };
            let base_d = EstimateInput {
                precision: h.precision.resolve(if on_d_gpu { d.supports_bf16 } else { training.cpu_native_bf16 }),
                optimizer_8bit: h.optimizer.resolve(d.name, if on_d_gpu { "cuda" } else { "cpu" }).is_8bit(),
                on_cpu: !on_d_gpu,
                ..shared.clone()
            };
            let (input_d, e_d) = choose_auto(&candidates, memory_bytes, |on, rows| {
                let input_d = EstimateInput {
                    micro_batch_size: u64::from(rows),
                    gradient_checkpointing: on,
                    training_tokens: tokens_for(rows),
                    ..base_d.clone()
                };
                let e_d = estimate::estimate(&spec, &input_d);
                (input_d, e_d)
            });
            let measured =
                measured.iter().find(|(device, p, _)| device == d.name && p == input_d.precision.as_str()).map(|(_, _, tps)| *tps);
            let mfu = d.mfu(config.method.kind, input_d.precision, training.assumed_mfu);
            // For the selected device the price asked for, else the one set or configured for
            // the type, else the installation's; for the others the type's set or configured
            // one; else the type's list price.
            let this_price = if d.name == device.name {
                req.price_per_gpu_hour.or_else(|| prices.explicit(d.name, false)).or(training.price_per_device_hour)
            } else {
                prices.explicit(d.name, false)
            };
            let mut fit = estimate::fit(&e_d, &input_d, d, measured, mfu, this_price);
            if this_machine {
                // This machine: its real memory, not the nominal figure.
                fit.memory_gib = training.device_memory_bytes as f64 / (1u64 << 30) as f64;
                fit.fits = e_d.memory_per_device_bytes <= training.device_memory_bytes as f64;
            }
            if d.name == device.name {
                selected = Some((fit.clone(), input_d, e_d));
            }
            devices.push(fit);
        }
        let (selected, input, estimate) = selected.expect("the device type is one of DEVICE_TYPES");
        Ok(EstimateResult {
            model_name: name.to_string(),
            spec,
            training_tokens: input.training_tokens,
            max_seq_length: seq_len,
            micro_batch_size: input.micro_batch_size as u32,
            gradient_checkpointing: input.gradient_checkpointing,
            precision: input.precision,
            estimate,
            selected,
            devices,
        })
    }
}
