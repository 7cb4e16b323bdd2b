//! The training configuration as command-line flags, shared by `tunery estimate` and
//! `tunery jobs create`: a JSON file (or inline JSON) as the base, flags on top.

use anyhow::{Context as _, Result};
use serde_json::{json, Value};

const METHODS: [&str; 5] = ["lora", "qlora", "dora", "full", "freeze"];
const OBJECTIVES: [&str; 3] = ["sft", "cpt", "dpo"];

#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Training configuration")]
pub struct TrainingArgs {
    /// The whole configuration as JSON ({objective, method, data, hyperparameters}): a file path
    /// or the JSON itself; the flags below override it.
    #[arg(long)]
    pub config: Option<String>,
    #[arg(long, value_parser = OBJECTIVES)]
    pub objective: Option<String>,
    #[arg(long, value_parser = METHODS)]
    pub method: Option<String>,
    /// LoRA rank.
    #[arg(long)]
    pub rank: Option<u32>,
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Decoder layers trained by --method freeze.
    #[arg(long)]
    pub trainable_layers: Option<u32>,
    /// Tokens per training sequence, or `auto` (the default: the smallest multiple of 64 that
    /// covers 99% of the dataset's records, capped by the model's context).
    #[arg(long, value_parser = parse_seq_len)]
    pub seq_len: Option<Value>,
    /// Pad batches instead of packing examples.
    #[arg(long)]
    pub no_packing: bool,
    #[arg(long)]
    pub epochs: Option<f64>,
    #[arg(long)]
    pub max_steps: Option<u64>,
    /// Sequences per forward pass, or `auto` (the largest that fits the device by the estimate,
    /// with a tenth spare).
    #[arg(long, value_parser = parse_batch)]
    pub batch: Option<Value>,
    #[arg(long)]
    pub grad_accum: Option<u32>,
    #[arg(long)]
    pub lr: Option<f64>,
    /// Recompute activations in the backward pass: `true` (the flag alone), `false`, or `auto`
    /// (on only when no micro-batch fits the device without it).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = parse_checkpointing)]
    pub gradient_checkpointing: Option<Value>,
    #[arg(long, value_parser = ["auto", "fp32", "bf16", "fp16"])]
    pub precision: Option<String>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Save a checkpoint every N steps.
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    /// Evaluate on the validation set every N steps.
    #[arg(long)]
    pub eval_every: Option<u64>,
    /// With several devices per job: 0 replicas (DDP), 2 shards gradients and optimizer
    /// states, 3 also the weights (FSDP, ZeRO-3 style).
    #[arg(long, visible_alias = "zero", value_parser = clap::value_parser!(u8).range(0..=3))]
    pub zero_stage: Option<u8>,
    /// Save the weights of the best evaluation, not the last step's (with --eval-every).
    #[arg(long, requires = "eval_every")]
    pub keep_best: bool,
}

fn set(config: &mut Value, path: &[&str], value: Value) {
    let mut at = config;
    for key in &path[..path.len() - 1] {
        if !at[*key].is_object() {
            at[*key] = json!({});
        }
        at = &mut at[*key];
    }
    at[path[path.len() - 1]] = value;
}

impl TrainingArgs {
    /// The configuration JSON the API takes.
    pub fn to_config(&self) -> Result<Value> {
        let mut config = match &self.config {
            Some(c) if c.trim_start().starts_with('{') => serde_json::from_str(c).context("--config is not valid JSON")?,
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("cannot read --config {path}"))?;
                serde_json::from_str(&text).with_context(|| format!("--config {path} is not valid JSON"))?
            }
            None => json!({}),
        };
        let flags: [(&[&str], Option<Value>); 16] = [
            (&["objective"], self.objective.clone().map(Value::from)),
            (&["method", "kind"], self.method.clone().map(Value::from)),
            (&["method", "lora", "rank"], self.rank.map(Value::from)),
            (&["method", "lora", "alpha"], self.alpha.map(Value::from)),
            (&["method", "freeze", "trainable_layers"], self.trainable_layers.map(Value::from)),
            (&["data", "max_seq_length"], self.seq_len.clone()),
            (&["data", "packing"], self.no_packing.then_some(Value::from(false))),
            (&["hyperparameters", "epochs"], self.epochs.map(Value::from)),
            (&["hyperparameters", "max_steps"], self.max_steps.map(Value::from)),
            (&["hyperparameters", "micro_batch_size"], self.batch.clone()),
            (&["hyperparameters", "gradient_accumulation_steps"], self.grad_accum.map(Value::from)),
            (&["hyperparameters", "learning_rate"], self.lr.map(Value::from)),
            (&["hyperparameters", "gradient_checkpointing"], self.gradient_checkpointing.clone()),
            (&["hyperparameters", "precision"], self.precision.clone().map(Value::from)),
            (&["hyperparameters", "seed"], self.seed.map(Value::from)),
            (&["hyperparameters", "checkpoint_every_steps"], self.checkpoint_every.map(Value::from)),
        ];
        for (path, value) in flags {
            if let Some(v) = value {
                set(&mut config, path, v);
            }
        }
        if let Some(v) = self.eval_every {
            set(&mut config, &["hyperparameters", "eval_every_steps"], Value::from(v));
        }
        if self.keep_best {
            set(&mut config, &["hyperparameters", "keep_best"], Value::from(true));
        }
        if let Some(v) = self.zero_stage {
            set(&mut config, &["hyperparameters", "zero_stage"], Value::from(v));
        }
        Ok(config)
    }
}

/// `--seq-len`: a number of tokens or `auto`.
/// A value of type `T`, or the word `auto`.
fn value_or_auto<T: std::str::FromStr + Into<Value>>(value: &str, expected: &str) -> Result<Value, String> {
    if value == "auto" {
        return Ok(Value::from("auto"));
    }
    value.parse::<T>().map(Into::into).map_err(|_| format!("expected {expected} or `auto`, got '{value}'"))
}

fn parse_seq_len(value: &str) -> Result<Value, String> {
    value_or_auto::<u32>(value, "a number of tokens")
}

fn parse_batch(value: &str) -> Result<Value, String> {
    value_or_auto::<u32>(value, "a number of sequences")
}

fn parse_checkpointing(value: &str) -> Result<Value, String> {
    value_or_auto::<bool>(value, "true, false")
}
