//! Estimates checked against measured training runs: a file of runs (configuration, peak memory,
//! step time) as `bench/training/estimate_matrix.py` and `bench/gpu/measure.py` write them, each
//! set beside the estimate the product shows for the same configuration.
//!
//! The CPU matrix (`crates/domain/tests/fixtures/estimate_matrix.json`) must hold within
//! [`MEMORY_TOLERANCE`] and [`TIME_TOLERANCE`] on every row (`tests/estimate_matrix.rs`); a GPU
//! run's time is at an assumed utilization, so only its memory is held to the tolerance there.

use crate::estimate::{self, EstimateInput, Method, Precision};
use crate::model_spec::{self, ModelSpec};
use serde::Deserialize;

/// Estimated peak memory within ±20% of the measured.
pub const MEMORY_TOLERANCE: f64 = 0.20;
/// Estimated step time within ±30% of the measured.
pub const TIME_TOLERANCE: f64 = 0.30;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// A set of measured runs of one model on one device type.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasuredRuns {
    pub about: String,
    pub date: String,
    pub machine: String,
    /// A device type of [`estimate::DEVICE_TYPES`].
    pub device: String,
    pub torch: String,
    pub threads: Option<u32>,
    /// A catalog repository id, or a name for `model_config`'s model.
    pub model: String,
    /// The model's `config.json`, for a model the catalog does not list.
    #[serde(default)]
    pub model_config: Option<serde_json::Value>,
    pub precision: Precision,
    pub lora: LoraShape,
    pub freeze_trainable_layers: u64,
    /// How `peak_memory_bytes` was taken (the process's peak RSS, or PyTorch's peak reserved).
    pub memory_measure: String,
    pub rows: Vec<MeasuredRun>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraShape {
    pub rank: u64,
    /// Recorded with the runs; the scale changes neither memory nor time, so no estimate reads it.
    pub alpha: f64,
    pub dropout: f64,
    pub target_modules: String,
}

/// One run: its configuration and what it measured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasuredRun {
    pub method: Method,
    /// `sft` or `dpo`.
    pub objective: String,
    pub sequence_length: u64,
    pub micro_batch_size: u64,
    pub packing: bool,
    pub gradient_checkpointing: bool,
    pub peak_memory_bytes: f64,
    /// The median optimizer step after the first (one micro-batch per step); of a row run
    /// several times, the median of its runs' figures.
    pub step_seconds: f64,
    /// Each run's figure, when the row was run more than once.
    #[serde(default)]
    pub step_seconds_runs: Vec<f64>,
    pub real_tokens_per_step: f64,
}

/// A run beside its estimate.
#[derive(Debug, Clone)]
pub struct Checked<'a> {
    pub run: &'a MeasuredRun,
    pub estimated_bytes: f64,
    pub estimated_seconds: f64,
    /// The model FLOPs utilization the run reached: the estimate's FLOPs per token × the
    /// measured real tokens per second ÷ the device's peak at the precision.
    pub mfu: f64,
}

impl Checked<'_> {
    pub fn memory_ratio(&self) -> f64 {
        self.estimated_bytes / self.run.peak_memory_bytes
    }

    pub fn time_ratio(&self) -> f64 {
        self.estimated_seconds / self.run.step_seconds
    }
}

impl MeasuredRuns {
    pub fn parse(text: &str, source: &str) -> Result<MeasuredRuns, String> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| format!("{source}: {}: {}", e.path(), e.inner()))
    }

    fn spec(&self) -> Result<ModelSpec, String> {
        match &self.model_config {
            Some(config) => model_spec::from_config(config).map_err(|e| format!("model_config: {e}")),
            None => crate::catalog::find(&self.model).map(|c| c.spec).ok_or_else(|| format!("model: {} is not in the catalog", self.model)),
        }
    }

    /// Whether the device's time estimate is calibrated (so step times are held to the tolerance).
    pub fn checks_time(&self) -> Result<bool, String> {
        Ok(self.device_type()?.calibrated(self.precision).is_some())
    }

    fn device_type(&self) -> Result<&'static estimate::DeviceType, String> {
        estimate::device_type(&self.device).ok_or_else(|| format!("device: unknown device type {}", self.device))
    }

    /// Every run with the estimate of its configuration: the product's formulas, the device's
    /// utilization as estimates use it, one optimizer step of `sequence_length × micro_batch_size`
    /// tokens.
    pub fn check(&self, assumed_mfu: f64) -> Result<Vec<Checked<'_>>, String> {
        let spec = self.spec()?;
        let device = self.device_type()?;
        if self.lora.target_modules != "all-linear" {
            return Err(format!("lora.target_modules: only all-linear is checked, got {}", self.lora.target_modules));
        }
        self.rows
            .iter()
            .enumerate()
            .map(|(i, run)| {
                let dpo = match run.objective.as_str() {
                    "sft" => false,
                    "dpo" => true,
                    other => return Err(format!("rows[{i}].objective: sft or dpo, got {other}")),
                };
                let input = EstimateInput {
                    method: run.method,
                    precision: self.precision,
                    sequence_length: run.sequence_length,
                    micro_batch_size: run.micro_batch_size,
                    gradient_checkpointing: run.gradient_checkpointing,
                    gpus: 1,
                    zero_stage: 0,
                    lora_rank: self.lora.rank,
                    lora_dropout: self.lora.dropout,
                    lora_targets: vec![],
                    freeze_trainable_layers: self.freeze_trainable_layers,
                    optimizer_8bit: false,
                    dpo,
                    training_tokens: run.sequence_length * run.micro_batch_size,
                    on_cpu: device.name == "cpu",
                };
                let e = estimate::estimate(&spec, &input);
                let fit = estimate::fit(&e, &input, device, None, device.mfu(run.method, self.precision, assumed_mfu), None);
                // A DPO estimate's FLOPs per token count both sequences of a pair: per prompt-and-reply token.
                let tokens = run.real_tokens_per_step / if dpo { 2.0 } else { 1.0 };
                let mfu = e.flops_per_token * tokens / run.step_seconds / device.peak_flops(self.precision);
                Ok(Checked { run, estimated_bytes: e.memory_per_device_bytes, estimated_seconds: fit.seconds, mfu })
            })
            .collect()
    }

    /// The matrix as a table: configuration, then estimate, measurement and ratio of memory and
    /// of step time.
    pub fn table(&self, checked: &[Checked<'_>]) -> String {
        let mut out = format!(
            "{} on {} ({}, torch {}{}), {:?}, peak memory as {}\n",
            self.model,
            self.device,
            self.machine,
            self.torch,
            self.threads.map(|t| format!(", {t} threads")).unwrap_or_default(),
            self.precision,
            self.memory_measure
        );
        out.push_str(&format!(
            "{:>3} {:<6} {:<3} {:>5} {:>3} {:<4} {:<3} | {:>8} {:>8} {:>6} | {:>8} {:>8} {:>6} | {:>5}\n",
            "#", "method", "obj", "seq", "mb", "pack", "gc", "est GiB", "meas GiB", "ratio", "est s", "meas s", "ratio", "MFU"
        ));
        for (n, c) in checked.iter().enumerate() {
            let r = c.run;
            out.push_str(&format!(
                "{:>3} {:<6} {:<3} {:>5} {:>3} {:<4} {:<3} | {:>8.2} {:>8.2} {:>6.2} | {:>8.3} {:>8.3} {:>6.2} | {:>4.0}%\n",
                n + 1,
                r.method.as_str(),
                r.objective,
                r.sequence_length,
                r.micro_batch_size,
                if r.packing { "on" } else { "off" },
                if r.gradient_checkpointing { "on" } else { "off" },
                c.estimated_bytes / GIB,
                r.peak_memory_bytes / GIB,
                c.memory_ratio(),
                c.estimated_seconds,
                r.step_seconds,
                c.time_ratio(),
                100.0 * c.mfu
            ));
        }
        out
    }

    /// The rows (1-based) outside the tolerances; time only where [`Self::checks_time`].
    pub fn outside(&self, checked: &[Checked<'_>]) -> Result<Vec<usize>, String> {
        let time = self.checks_time()?;
        Ok(checked
            .iter()
            .enumerate()
            .filter(|(_, c)| (c.memory_ratio() - 1.0).abs() > MEMORY_TOLERANCE || time && (c.time_ratio() - 1.0).abs() > TIME_TOLERANCE)
            .map(|(n, _)| n + 1)
            .collect())
    }
}
