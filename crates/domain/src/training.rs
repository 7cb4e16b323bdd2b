//! A training job's configuration (what the user chooses) and its state machine.
//!
//! The configuration has the shape of the runtime's spec sections (`protocol/README.md`):
//! the executor copies it into the spec file with the paths filled in. Unknown keys are an
//! error at every level, and `validate` names the field, the rule and the value.

pub use crate::auto::{Checkpointing, MicroBatchSize};
use crate::estimate::{Method, Precision};
use crate::validate::ValidationError;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Supervised fine-tuning on chat data, loss on assistant turns.
    #[default]
    Sft,
    /// Continued pre-training on raw text.
    Cpt,
    /// Direct preference optimization on chosen/rejected pairs.
    Dpo,
}

impl Objective {
    pub fn as_str(self) -> &'static str {
        match self {
            Objective::Sft => "sft",
            Objective::Cpt => "cpt",
            Objective::Dpo => "dpo",
        }
    }
}

/// Which linears LoRA adapts: `"all-linear"` or a list of module names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetModules {
    Named(Vec<String>),
    Preset(String),
}

impl PartialSchema for TargetModules {
    fn schema() -> RefOr<Schema> {
        let preset = ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["all-linear"]));
        let named =
            ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"^[A-Za-z0-9_.]+$"))).min_items(Some(1));
        OneOfBuilder::new()
            .item(preset)
            .item(named)
            .description(Some("\"all-linear\" (the default) or a list of module names (letters, digits, '_' and '.')."))
            .into()
    }
}

impl ToSchema for TargetModules {}

impl Default for TargetModules {
    fn default() -> Self {
        TargetModules::Preset("all-linear".to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LoraConfig {
    /// Default 8.
    #[schema(minimum = 1, maximum = 1024)]
    pub rank: u32,
    /// Default 16.
    #[schema(exclusive_minimum = 0)]
    pub alpha: f64,
    /// Default 0.05.
    #[schema(minimum = 0, exclusive_maximum = 1)]
    pub dropout: f64,
    pub target_modules: TargetModules,
}

impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig { rank: 8, alpha: 16.0, dropout: 0.05, target_modules: TargetModules::default() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FreezeConfig {
    /// The last layers trained with `freeze` (default 2); at most the model's layers (else 422).
    #[schema(minimum = 1)]
    pub trainable_layers: u32,
}

impl Default for FreezeConfig {
    fn default() -> Self {
        FreezeConfig { trainable_layers: 2 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MethodConfig {
    pub kind: Method,
    #[serde(default)]
    pub lora: LoraConfig,
    #[serde(default)]
    pub freeze: FreezeConfig,
}

impl Default for MethodConfig {
    fn default() -> Self {
        MethodConfig { kind: Method::Lora, lora: LoraConfig::default(), freeze: FreezeConfig::default() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    pub max_seq_length: MaxSeqLength,
    /// Pack several examples into each row, attention kept within each (default true).
    pub packing: bool,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig { max_seq_length: MaxSeqLength::Auto, packing: true }
    }
}

/// The longest sequence a training row holds: a number of tokens, or `"auto"` (the default) —
/// the smallest multiple of 64 that covers the 99th percentile of the dataset's token lengths
/// (rendered through the job's chat template), capped by the model's context. A submission
/// resolves `auto` to its number, so a stored job always holds a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaxSeqLength {
    #[default]
    Auto,
    Tokens(u32),
}

impl PartialSchema for MaxSeqLength {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(16)).maximum(Some(u32::MAX)))
            .item(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["auto"])))
            .description(Some(
                "Tokens per row, from 16 to the model's context length (else 422), or \"auto\" (the default): the smallest multiple of 64 covering the dataset's 99th-percentile length.",
            ))
            .into()
    }
}

impl ToSchema for MaxSeqLength {}

impl MaxSeqLength {
    /// The number of tokens, once resolved.
    pub fn tokens(self) -> Option<u32> {
        match self {
            MaxSeqLength::Auto => None,
            MaxSeqLength::Tokens(n) => Some(n),
        }
    }

    /// `auto` for a dataset whose 99th-percentile length is `p99` tokens, on a model with
    /// `context_length` tokens of context: the smallest multiple of 64 covering it (at least 64),
    /// capped by the context.
    pub fn auto_for(p99: u64, context_length: u32) -> u32 {
        let rounded = p99.max(1).div_ceil(64).saturating_mul(64);
        u32::try_from(rounded).unwrap_or(u32::MAX).min(context_length.max(16))
    }
}

impl Serialize for MaxSeqLength {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MaxSeqLength::Auto => s.serialize_str("auto"),
            MaxSeqLength::Tokens(n) => s.serialize_u32(*n),
        }
    }
}

impl<'de> Deserialize<'de> for MaxSeqLength {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(crate::auto::value_or_auto::<D, u32>(d, "a number of tokens")?.map_or(MaxSeqLength::Auto, MaxSeqLength::Tokens))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LrScheduler {
    Constant,
    Linear,
    #[default]
    Cosine,
}

/// The optimizer. `auto` (the default) means AdamW on the CPU and on Apple GPUs, and 8-bit AdamW
/// (bitsandbytes) on CUDA GPUs; a submission resolves it for the installation's device, so a
/// stored job and the runtime's spec always name one, and the estimate follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
pub enum OptimizerChoice {
    #[default]
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "adamw")]
    AdamW,
    #[serde(rename = "adamw_8bit")]
    AdamW8bit,
}

impl OptimizerChoice {
    /// `auto` resolved for a device type (`cpu` or a GPU type name) and runtime device
    /// (`auto`, `cpu`, `cuda`, `mps`): 8-bit AdamW only where the job runs on CUDA.
    pub fn resolve(self, device_type: &str, device: &str) -> OptimizerChoice {
        match self {
            OptimizerChoice::Auto if device == "cuda" || (device == "auto" && device_type != "cpu") => OptimizerChoice::AdamW8bit,
            OptimizerChoice::Auto => OptimizerChoice::AdamW,
            chosen => chosen,
        }
    }

    /// Whether the optimizer keeps its two moments in 8 bits (2 bytes per parameter, not 8).
    pub fn is_8bit(self) -> bool {
        self == OptimizerChoice::AdamW8bit
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrecisionChoice {
    #[default]
    Auto,
    Fp32,
    Bf16,
    Fp16,
}

impl PrecisionChoice {
    /// The precision an estimate assumes: `auto` means bf16 where the device multiplies
    /// bfloat16 in hardware (a GPU with bf16, a CPU with AVX512-BF16 or AMX), else fp32 — as the
    /// runtime picks it (`pick_precision` in `runtime/tunery_runtime/model.py`).
    pub fn resolve(self, bf16_in_hardware: bool) -> Precision {
        match self {
            PrecisionChoice::Fp32 => Precision::Fp32,
            PrecisionChoice::Bf16 => Precision::Bf16,
            PrecisionChoice::Fp16 => Precision::Fp16,
            PrecisionChoice::Auto if bf16_in_hardware => Precision::Bf16,
            PrecisionChoice::Auto => Precision::Fp32,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Hyperparameters {
    /// Default 1.
    #[schema(exclusive_minimum = 0, maximum = 1000)]
    pub epochs: f64,
    /// Stop after this many optimizer steps (default: the epochs decide).
    #[schema(minimum = 1)]
    pub max_steps: Option<u64>,
    pub micro_batch_size: MicroBatchSize,
    /// Default 1.
    #[schema(minimum = 1, maximum = 4096)]
    pub gradient_accumulation_steps: u32,
    /// Default 0.0002.
    #[schema(exclusive_minimum = 0, exclusive_maximum = 1)]
    pub learning_rate: f64,
    pub optimizer: OptimizerChoice,
    pub lr_scheduler: LrScheduler,
    pub warmup_steps: u64,
    /// Default 0.
    #[schema(minimum = 0, exclusive_maximum = 1)]
    pub weight_decay: f64,
    /// Gradient clipping; 0 turns it off (default 1).
    #[schema(minimum = 0)]
    pub max_grad_norm: f64,
    pub seed: u64,
    pub precision: PrecisionChoice,
    pub gradient_checkpointing: Checkpointing,
    /// Evaluate on the validation set every this many steps (default: never).
    #[schema(minimum = 1)]
    pub eval_every_steps: Option<u64>,
    /// Stop after this many evaluations without improvement; needs `eval_every_steps` (else 422).
    #[schema(minimum = 1)]
    pub early_stopping_patience: Option<u32>,
    /// Default 50.
    #[schema(minimum = 1)]
    pub checkpoint_every_steps: u64,
    /// Default 2.
    #[schema(minimum = 1)]
    pub keep_checkpoints: u32,
    /// Default 1.
    #[schema(minimum = 1)]
    pub log_every_steps: u64,
    /// DPO's β (default 0.1).
    #[schema(exclusive_minimum = 0)]
    pub dpo_beta: f64,
    /// With more than one device per job: 0 keeps a replica of the model on each (DDP); 2
    /// shards gradients and optimizer states across them, 3 also the weights (FSDP). The
    /// estimate's memory per device follows it. QLoRA takes 0 only (else 422).
    #[schema(schema_with = crate::schema::zero_stage)]
    pub zero_stage: u8,
    /// Save the weights of the best evaluation rather than the last step's (needs
    /// `eval_every_steps`, else 422); the model's metrics name the step.
    pub keep_best: bool,
}

impl Default for Hyperparameters {
    fn default() -> Self {
        Hyperparameters {
            epochs: 1.0,
            max_steps: None,
            micro_batch_size: MicroBatchSize::default(),
            gradient_accumulation_steps: 1,
            learning_rate: 2e-4,
            optimizer: OptimizerChoice::Auto,
            lr_scheduler: LrScheduler::Cosine,
            warmup_steps: 0,
            weight_decay: 0.0,
            max_grad_norm: 1.0,
            seed: 42,
            precision: PrecisionChoice::Auto,
            gradient_checkpointing: Checkpointing::Off,
            eval_every_steps: None,
            early_stopping_patience: None,
            checkpoint_every_steps: 50,
            keep_checkpoints: 2,
            log_every_steps: 1,
            dpo_beta: 0.1,
            zero_stage: 0,
            keep_best: false,
        }
    }
}

/// Everything a user chooses about how a model is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingConfig {
    pub objective: Objective,
    pub method: MethodConfig,
    pub data: DataConfig,
    pub hyperparameters: Hyperparameters,
}

fn check(ok: bool, field: &str, message: impl FnOnce() -> String) -> Result<(), ValidationError> {
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(field, message()))
    }
}

/// A rule across fields or against the model: the request is well formed, the rule refuses it.
fn rule(ok: bool, field: &str, message: impl FnOnce() -> String) -> Result<(), ValidationError> {
    if ok {
        Ok(())
    } else {
        Err(ValidationError::unprocessable(field, message()))
    }
}

impl TrainingConfig {
    /// Checks every range; `model_layers` and `context_length` come from the base model.
    pub fn validate(&self, model_layers: u32, context_length: u32) -> Result<(), ValidationError> {
        let h = &self.hyperparameters;
        // The LoRA and freeze settings are checked whatever the method: the document states
        // their ranges unconditionally.
        let lora = &self.method.lora;
        check(lora.rank >= 1 && lora.rank <= 1024, "method.lora.rank", || format!("must be between 1 and 1024 (got {})", lora.rank))?;
        check(lora.alpha > 0.0 && lora.alpha.is_finite(), "method.lora.alpha", || format!("must be greater than 0 (got {})", lora.alpha))?;
        check((0.0..1.0).contains(&lora.dropout), "method.lora.dropout", || format!("must be in [0, 1) (got {})", lora.dropout))?;
        match &lora.target_modules {
            TargetModules::Preset(p) => check(p == "all-linear", "method.lora.target_modules", || {
                format!("must be \"all-linear\" or a list of module names (got \"{p}\")")
            })?,
            TargetModules::Named(names) => check(
                !names.is_empty()
                    && names.iter().all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')),
                "method.lora.target_modules",
                || "must list at least one module name made of letters, digits, '_' and '.'".to_string(),
            )?,
        }
        let k = self.method.freeze.trainable_layers;
        check(k >= 1, "method.freeze.trainable_layers", || "must be at least 1 (got 0)".to_string())?;
        if self.method.kind == Method::Freeze {
            rule(k <= model_layers, "method.freeze.trainable_layers", || {
                format!("must be at most the model's {model_layers} layers (got {k})")
            })?;
        }
        if let MaxSeqLength::Tokens(len) = self.data.max_seq_length {
            check(len >= 16, "data.max_seq_length", || format!("must be at least 16 (got {len})"))?;
            rule(len <= context_length.max(16), "data.max_seq_length", || {
                format!("must be at most the model's context length {context_length} (got {len})")
            })?;
        }
        check(h.epochs > 0.0 && h.epochs <= 1000.0, "hyperparameters.epochs", || {
            format!("must be greater than 0 and at most 1000 (got {})", h.epochs)
        })?;
        if let Some(steps) = h.max_steps {
            check(steps >= 1, "hyperparameters.max_steps", || "must be at least 1 (got 0)".to_string())?;
        }
        if let MicroBatchSize::Rows(rows) = h.micro_batch_size {
            check((1..=4096).contains(&rows), "hyperparameters.micro_batch_size", || format!("must be between 1 and 4096 (got {rows})"))?;
        }
        check((1..=4096).contains(&h.gradient_accumulation_steps), "hyperparameters.gradient_accumulation_steps", || {
            format!("must be between 1 and 4096 (got {})", h.gradient_accumulation_steps)
        })?;
        check(h.learning_rate > 0.0 && h.learning_rate < 1.0, "hyperparameters.learning_rate", || {
            format!("must be greater than 0 and less than 1 (got {})", h.learning_rate)
        })?;
        check(h.weight_decay >= 0.0 && h.weight_decay < 1.0, "hyperparameters.weight_decay", || {
            format!("must be in [0, 1) (got {})", h.weight_decay)
        })?;
        check(h.max_grad_norm >= 0.0 && h.max_grad_norm.is_finite(), "hyperparameters.max_grad_norm", || {
            format!("must be 0 (no clipping) or positive (got {})", h.max_grad_norm)
        })?;
        check(h.checkpoint_every_steps >= 1, "hyperparameters.checkpoint_every_steps", || "must be at least 1 (got 0)".to_string())?;
        check(h.keep_checkpoints >= 1, "hyperparameters.keep_checkpoints", || "must be at least 1 (got 0)".to_string())?;
        check(h.log_every_steps >= 1, "hyperparameters.log_every_steps", || "must be at least 1 (got 0)".to_string())?;
        if let Some(every) = h.eval_every_steps {
            check(every >= 1, "hyperparameters.eval_every_steps", || "must be at least 1 (got 0)".to_string())?;
        }
        if let Some(p) = h.early_stopping_patience {
            check(p >= 1, "hyperparameters.early_stopping_patience", || "must be at least 1 (got 0)".to_string())?;
            rule(h.eval_every_steps.is_some(), "hyperparameters.early_stopping_patience", || {
                "needs hyperparameters.eval_every_steps (early stopping watches the evaluation loss)".to_string()
            })?;
        }
        check(h.dpo_beta > 0.0 && h.dpo_beta.is_finite(), "hyperparameters.dpo_beta", || {
            format!("must be greater than 0 (got {})", h.dpo_beta)
        })?;
        rule(!h.keep_best || h.eval_every_steps.is_some(), "hyperparameters.keep_best", || {
            "needs hyperparameters.eval_every_steps (the best weights are chosen by the evaluation loss)".to_string()
        })?;
        check([0, 2, 3].contains(&h.zero_stage), "hyperparameters.zero_stage", || {
            format!("must be 0 (replicas), 2 (shard gradients and optimizer states) or 3 (also weights) (got {})", h.zero_stage)
        })?;
        rule(h.zero_stage == 0 || self.method.kind != Method::Qlora, "hyperparameters.zero_stage", || {
            "sharding (2 or 3) does not support QLoRA's 4-bit weights; use 0".to_string()
        })?;
        Ok(())
    }
}

/// A job's state. Changes go through [`JobState::can_become`], one transaction each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a slot.
    Queued,
    /// A runtime process is working on it.
    Running,
    /// Cancel was asked; the runtime is saving a checkpoint and stopping.
    Cancelling,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 6] =
        [JobState::Queued, JobState::Running, JobState::Cancelling, JobState::Succeeded, JobState::Failed, JobState::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Cancelling => "cancelling",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(value: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|s| s.as_str() == value)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Succeeded | JobState::Failed | JobState::Cancelled)
    }

    /// The allowed transitions:
    /// queued → running | cancelled; running → succeeded | failed | cancelling | queued (a crash
    /// with restarts left); cancelling → cancelled | succeeded | failed; failed | cancelled →
    /// queued (resume from a checkpoint).
    pub fn can_become(self, next: JobState) -> bool {
        use JobState::*;
        matches!(
            (self, next),
            (Queued, Running)
                | (Queued, Cancelled)
                | (Running, Succeeded)
                | (Running, Failed)
                | (Running, Cancelling)
                | (Running, Queued)
                | (Cancelling, Cancelled)
                | (Cancelling, Succeeded)
                | (Cancelling, Failed)
                | (Failed, Queued)
                | (Cancelled, Queued)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<TrainingConfig, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    /// A range the schema states is a malformed request (400); a rule across fields or against
    /// the model is unprocessable (422).
    #[test]
    fn stated_ranges_are_malformed_and_cross_field_rules_unprocessable() {
        let malformed = parse(r#"{"method": {"kind": "full", "lora": {"rank": 0}}}"#).unwrap().validate(30, 2048).unwrap_err();
        assert_eq!((malformed.field.as_str(), malformed.unprocessable), ("method.lora.rank", false));
        let cases = [
            (r#"{"hyperparameters": {"keep_best": true}}"#, "hyperparameters.keep_best"),
            (r#"{"hyperparameters": {"early_stopping_patience": 2}}"#, "hyperparameters.early_stopping_patience"),
            (r#"{"method": {"kind": "qlora"}, "hyperparameters": {"zero_stage": 3}}"#, "hyperparameters.zero_stage"),
            (r#"{"data": {"max_seq_length": 4096}}"#, "data.max_seq_length"),
            (r#"{"method": {"kind": "freeze", "freeze": {"trainable_layers": 31}}}"#, "method.freeze.trainable_layers"),
        ];
        for (json, field) in cases {
            let e = parse(json).unwrap().validate(30, 2048).unwrap_err();
            assert_eq!((e.field.as_str(), e.unprocessable), (field, true), "{json}");
        }
    }

    #[test]
    fn defaults_are_a_lora_sft_run_and_valid() {
        let c = parse("{}").unwrap();
        assert_eq!(c.objective, Objective::Sft);
        assert_eq!(c.method.kind, Method::Lora);
        c.validate(30, 8192).unwrap();
    }

    #[test]
    fn unknown_keys_are_refused_at_every_level() {
        assert!(parse(r#"{"hyperparameters": {"learnin_rate": 0.1}}"#).unwrap_err().contains("learnin_rate"));
        assert!(parse(r#"{"method": {"kind": "lora", "lora": {"rnk": 4}}}"#).unwrap_err().contains("rnk"));
        assert!(parse(r#"{"extra": 1}"#).unwrap_err().contains("extra"));
        assert!(parse(r#"{"method": {"kind": "lorax"}}"#).unwrap_err().contains("lorax"));
    }

    #[test]
    fn bad_hyperparameters_name_field_rule_and_value() {
        let neg = parse(r#"{"hyperparameters": {"learning_rate": -0.001}}"#).unwrap();
        let e = neg.validate(30, 8192).unwrap_err();
        assert_eq!(e.field, "hyperparameters.learning_rate");
        assert!(e.message.contains("-0.001"), "{}", e.message);
        let rank0 = parse(r#"{"method": {"kind": "lora", "lora": {"rank": 0}}}"#).unwrap();
        assert_eq!(rank0.validate(30, 8192).unwrap_err().field, "method.lora.rank");
        let long = parse(r#"{"data": {"max_seq_length": 100000}}"#).unwrap();
        let e = long.validate(30, 8192).unwrap_err();
        assert!(e.message.contains("8192") && e.message.contains("100000"), "{}", e.message);
        let freeze = parse(r#"{"method": {"kind": "freeze", "freeze": {"trainable_layers": 31}}}"#).unwrap();
        assert_eq!(freeze.validate(30, 8192).unwrap_err().field, "method.freeze.trainable_layers");
        let early = parse(r#"{"hyperparameters": {"early_stopping_patience": 2}}"#).unwrap();
        assert!(early.validate(30, 8192).unwrap_err().message.contains("eval_every_steps"));
        let preset = parse(r#"{"method": {"kind": "dora", "lora": {"target_modules": "all"}}}"#).unwrap();
        assert_eq!(preset.validate(30, 8192).unwrap_err().field, "method.lora.target_modules");
        let best = parse(r#"{"hyperparameters": {"keep_best": true}}"#).unwrap();
        assert_eq!(best.validate(30, 8192).unwrap_err().field, "hyperparameters.keep_best");
        for (config, ok) in [
            (r#"{"hyperparameters": {"zero_stage": 1}}"#, false),
            (r#"{"method": {"kind": "qlora"}, "hyperparameters": {"zero_stage": 3}}"#, false),
            (r#"{"method": {"kind": "full"}, "hyperparameters": {"zero_stage": 3}}"#, true),
            (r#"{"method": {"kind": "qlora"}, "hyperparameters": {"zero_stage": 0}}"#, true),
        ] {
            let result = parse(config).unwrap().validate(30, 8192);
            assert_eq!(result.is_ok(), ok, "{config}: {result:?}");
            if let Err(e) = result {
                assert_eq!(e.field, "hyperparameters.zero_stage");
            }
        }
    }

    #[test]
    fn the_optimizer_is_explicit_once_resolved() {
        assert_eq!(TrainingConfig::default().hyperparameters.optimizer, OptimizerChoice::Auto);
        let named = parse(r#"{"hyperparameters": {"optimizer": "adamw_8bit"}}"#).unwrap();
        assert_eq!(named.hyperparameters.optimizer, OptimizerChoice::AdamW8bit);
        assert!(parse(r#"{"hyperparameters": {"optimizer": "sgd"}}"#).is_err());
        assert_eq!(OptimizerChoice::Auto.resolve("cpu", "auto"), OptimizerChoice::AdamW);
        assert_eq!(OptimizerChoice::Auto.resolve("A100-80GB", "auto"), OptimizerChoice::AdamW8bit);
        assert_eq!(OptimizerChoice::Auto.resolve("A100-80GB", "cpu"), OptimizerChoice::AdamW);
        assert_eq!(OptimizerChoice::Auto.resolve("cpu", "cuda"), OptimizerChoice::AdamW8bit);
        assert_eq!(OptimizerChoice::AdamW.resolve("H100-80GB", "cuda"), OptimizerChoice::AdamW);
        assert_eq!(serde_json::to_value(OptimizerChoice::AdamW8bit).unwrap(), serde_json::json!("adamw_8bit"));
    }

    #[test]
    fn max_seq_length_is_auto_by_default_or_a_number() {
        assert_eq!(TrainingConfig::default().data.max_seq_length, MaxSeqLength::Auto);
        assert_eq!(parse(r#"{"data": {"max_seq_length": "auto"}}"#).unwrap().data.max_seq_length, MaxSeqLength::Auto);
        assert_eq!(parse(r#"{"data": {"max_seq_length": 256}}"#).unwrap().data.max_seq_length, MaxSeqLength::Tokens(256));
        let err = parse(r#"{"data": {"max_seq_length": "long"}}"#).unwrap_err();
        assert!(err.contains("\"auto\""), "{err}");
        assert_eq!(serde_json::to_value(MaxSeqLength::Auto).unwrap(), serde_json::json!("auto"));
        // The smallest multiple of 64 covering the 99th percentile, capped by the context.
        assert_eq!(MaxSeqLength::auto_for(61, 8192), 64);
        assert_eq!(MaxSeqLength::auto_for(64, 8192), 64);
        assert_eq!(MaxSeqLength::auto_for(65, 8192), 128);
        assert_eq!(MaxSeqLength::auto_for(0, 8192), 64);
        assert_eq!(MaxSeqLength::auto_for(5000, 2048), 2048);
    }

    #[test]
    fn state_machine_allows_only_the_documented_transitions() {
        use JobState::*;
        assert!(Queued.can_become(Running));
        assert!(Running.can_become(Queued), "a crash with restarts left requeues");
        assert!(Failed.can_become(Queued), "resume");
        assert!(!Succeeded.can_become(Queued));
        assert!(!Queued.can_become(Succeeded));
        assert!(!Cancelled.can_become(Running));
        for s in JobState::ALL {
            assert_eq!(JobState::parse(s.as_str()), Some(s));
            assert!(!s.can_become(s), "{s:?} → itself");
        }
    }

    #[test]
    fn auto_precision_is_bf16_only_where_the_hardware_multiplies_bfloat16() {
        use crate::estimate::Precision;
        assert_eq!(PrecisionChoice::Auto.resolve(true), Precision::Bf16);
        assert_eq!(PrecisionChoice::Auto.resolve(false), Precision::Fp32);
        assert_eq!(PrecisionChoice::Fp32.resolve(true), Precision::Fp32);
        assert_eq!(PrecisionChoice::Bf16.resolve(false), Precision::Bf16);
    }
}
