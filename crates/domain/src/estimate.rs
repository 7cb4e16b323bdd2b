//! Estimates of a fine-tuning run: peak accelerator memory, training FLOPs, time and cost.
//!
//! The formulas (all pure; `docs/estimates.md` explains them with their sources):
//!
//! * **Weights.** 16-bit precision: 2 bytes per parameter; fp32: 4. QLoRA stores the decoder
//!   linears in 4-bit NF4 with one fp32 absmax per 64 weights, itself 8-bit quantized (double
//!   quantization): 4 + 8/64 + 32/(64·256) ≈ 4.127 bits per weight; embeddings, norms and the
//!   output head stay 16-bit. Full training in mixed precision keeps an fp32 master copy.
//! * **Trainable state** (weights, gradients, AdamW moments): full training in mixed precision
//!   costs 16 bytes per parameter (2 weight + 2 gradient + 4 master + 8 moments, the ZeRO
//!   paper's figure), fp32 training 16 as well (4 + 4 + 8); 8-bit AdamW moments take 2 bytes
//!   instead of 8. LoRA trains `r·(in + out)` parameters per adapted linear, in fp32 (16 bytes
//!   each with AdamW); DoRA adds one magnitude vector of `out` entries per adapted linear.
//!   ZeRO-2 divides gradients and optimizer states by the number of GPUs, ZeRO-3 also the weights.
//! * **Activations** per decoder layer and token: what the runtime's modules (transformers'
//!   eager layers, SDPA attention, PEFT adapters) keep for the backward pass —
//!   `6h + 3q + 2kv + 4i` elements, plus adapters' dropped-out inputs and DoRA's outputs (see
//!   [`layer_activation_bytes`]) — over the layers that train. With gradient checkpointing only
//!   each layer's input (`h`) is kept, plus one layer's full activations during recomputation.
//!   The logits add `t·V·16` bytes (fp32 logits, log-softmax and both gradients) for `t = s·b`
//!   tokens, at most [`HEAD_CHUNK_TOKENS`] on one device (the runtime's chunked head).
//! * **Overhead:** the CUDA context (or the runtime process) and allocator fragmentation, a fixed
//!   0.75 GiB plus 10%.
//! * The formulas are recalibrated against a measured matrix of real runs
//!   (`tests/fixtures/estimate_matrix.json`, checked by `tests/estimate_matrix.rs` and
//!   [`crate::estimate_check`]); terms fitted there rather than traced say so.
//! * **FLOPs** per trained token: `6N` for full training (forward 2N, backward 4N), `4N` for
//!   LoRA-family methods (no weight gradients for frozen matrices), plus the attention term
//!   `6·L·s·q` (`4·L·s·q` for LoRA), and one extra forward pass (`2N + 2·L·s·q`) with gradient
//!   checkpointing. Freeze training counts `2N` forward plus `4N_t` for the trained layers and
//!   `2N_t` more for their input gradients.
//! * **Time** = FLOPs ÷ (GPUs × peak dense FLOP/s at the precision × MFU — assumed on GPUs,
//!   measured per method on the CPU), or tokens ÷ the measured tokens/s of an earlier run of the
//!   same model and device when one is known.
//! * **Cost** = GPU-hours × price per GPU-hour.

use crate::model_spec::{block_linears, ModelSpec};
use serde::{Deserialize, Serialize};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Positions × rows whose logits the runtime's language-model head makes at once on one device
/// (`runtime/tunery_runtime/train.py` `HEAD_CHUNK_TOKENS`, which a runtime test keeps equal).
pub const HEAD_CHUNK_TOKENS: f64 = 1024.0;

/// How the model is trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Full,
    Freeze,
    Lora,
    Qlora,
    Dora,
}

impl Method {
    pub fn is_adapter(self) -> bool {
        matches!(self, Method::Lora | Method::Qlora | Method::Dora)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Full => "full",
            Method::Freeze => "freeze",
            Method::Lora => "lora",
            Method::Qlora => "qlora",
            Method::Dora => "dora",
        }
    }
}

/// Numeric precision of weights and activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    Fp32,
    Bf16,
    Fp16,
}

impl Precision {
    pub const ALL: [Precision; 3] = [Precision::Fp32, Precision::Bf16, Precision::Fp16];

    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
            Precision::Fp16 => "fp16",
        }
    }

    /// `fp32`, `bf16` or `fp16`, as the runtime names what it trained in.
    pub fn parse(name: &str) -> Option<Precision> {
        Precision::ALL.into_iter().find(|p| p.as_str() == name)
    }

    fn bytes(self) -> f64 {
        match self {
            Precision::Fp32 => 4.0,
            Precision::Bf16 | Precision::Fp16 => 2.0,
        }
    }
}

/// The inputs of an estimate, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct EstimateInput {
    pub method: Method,
    pub precision: Precision,
    pub sequence_length: u64,
    pub micro_batch_size: u64,
    pub gradient_checkpointing: bool,
    pub gpus: u64,
    /// 0 (plain data parallel), 2 or 3.
    pub zero_stage: u8,
    pub lora_rank: u64,
    /// LoRA's dropout probability: above 0, each adapted linear keeps a dropout mask (and, for
    /// DoRA, its dropped-out input).
    pub lora_dropout: f64,
    /// Linear names to adapt (`q_proj`, …); empty means all linears.
    pub lora_targets: Vec<String>,
    /// Decoder layers trained by `freeze`.
    pub freeze_trainable_layers: u64,
    pub optimizer_8bit: bool,
    /// DPO: every example is a chosen and a rejected sequence (twice the rows per batch), and
    /// a frozen reference scores both — a copy of the weights for full and freeze training, the
    /// base without its adapter for the LoRA family.
    pub dpo: bool,
    /// Tokens the run trains on (dataset tokens × epochs), for time and cost.
    pub training_tokens: u64,
    /// The run computes on the CPU, where terms measured on the CPU matrix apply (bitsandbytes'
    /// CPU kernels, the adapters' extra under checkpointing).
    pub on_cpu: bool,
}

/// One accelerator type: memory and peak dense throughput.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeviceType {
    pub name: &'static str,
    pub memory_gib: f64,
    /// Peak dense tensor TFLOP/s in 16-bit (bf16, or fp16 where bf16 is missing).
    pub tflops_16bit: f64,
    pub tflops_fp32: f64,
    pub supports_bf16: bool,
    /// A list price per device-hour in US dollars, used when the installation sets none.
    pub default_price_per_hour: f64,
    /// The utilization measured on this device type per method, when estimates are calibrated
    /// to it (`crates/domain/tests/fixtures/estimate_matrix.json`); else the installation's
    /// assumption.
    pub calibrated_mfu: Option<MethodMfu>,
    /// The same in 16-bit mixed precision (`tests/fixtures/estimate_matrix_bf16.json`).
    pub calibrated_mfu_16bit: Option<MethodMfu>,
}

/// Model FLOPs utilization per method, measured on one device type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MethodMfu {
    pub full: f64,
    pub freeze: f64,
    pub lora: f64,
    pub qlora: f64,
    pub dora: f64,
}

impl MethodMfu {
    pub fn of(&self, method: Method) -> f64 {
        match method {
            Method::Full => self.full,
            Method::Freeze => self.freeze,
            Method::Lora => self.lora,
            Method::Qlora => self.qlora,
            Method::Dora => self.dora,
        }
    }
}

/// The CPU's, of its nominal 0.1 TFLOP/s, from the measured matrix (2026-12-07, 2 threads):
/// the medians of each method's rows, except LoRA and QLoRA, whose rows spread from 47% (256
/// tokens a micro-batch) to 83% (2 × 1,024, packed: the FLOPs count attention over the whole
/// row, not each example) and take the value that keeps every row within ±30% (LoRA's median
/// is 64%, QLoRA's two rows 54% and 75%). Full training's large weight-gradient products use
/// the cores best; LoRA pays for its many small adapter products, QLoRA also for dequantizing,
/// DoRA for the weight norms it recomputes on every forward pass and PEFT's own dropout.
/// The same CPU's in bf16 mixed precision (AVX512-BF16), of its nominal 0.2 TFLOP/s, from the
/// measured bf16 matrix (2026-12-07, 2 threads): for each method the value that keeps every row
/// within ±30% (LoRA's rows spread from 45% to 77%, freeze's from 72% to 106%).
const CPU_MFU_BF16: MethodMfu = MethodMfu { full: 0.88, freeze: 0.88, lora: 0.62, qlora: 0.58, dora: 0.40 };

const CPU_MFU: MethodMfu = MethodMfu { full: 0.92, freeze: 0.70, lora: 0.66, qlora: 0.64, dora: 0.40 };

/// The model FLOPs utilization estimates assume on an uncalibrated device type, unless the
/// installation sets its own.
pub const DEFAULT_ASSUMED_MFU: f64 = 0.4;

impl DeviceType {
    /// The utilization measured on this device type at a precision, if it was.
    pub fn calibrated(&self, precision: Precision) -> Option<MethodMfu> {
        match precision {
            Precision::Fp32 => self.calibrated_mfu,
            Precision::Bf16 | Precision::Fp16 => self.calibrated_mfu_16bit,
        }
    }

    /// The model FLOPs utilization a time estimate of a method at a precision on this device
    /// type assumes.
    pub fn mfu(&self, method: Method, precision: Precision, assumed: f64) -> f64 {
        self.calibrated(precision).map_or(assumed, |m| m.of(method))
    }

    /// Peak dense FLOP/s at a precision.
    pub fn peak_flops(&self, precision: Precision) -> f64 {
        1e12 * match precision {
            Precision::Fp32 => self.tflops_fp32,
            Precision::Bf16 | Precision::Fp16 => self.tflops_16bit,
        }
    }
}

/// The accelerator types estimates know, from their vendors' data sheets. `cpu` stands for one
/// ordinary server CPU (measured rather than rated: about 0.1 TFLOP/s of fp32 matmul, twice that
/// in bf16 where the CPU multiplies bfloat16 in hardware — whether this machine's does is
/// `TrainingSettings::cpu_native_bf16`, not `supports_bf16`, which is false for the generic CPU).
pub const DEVICE_TYPES: &[DeviceType] = &[
    DeviceType {
        name: "cpu",
        memory_gib: 32.0,
        tflops_16bit: 0.2,
        tflops_fp32: 0.1,
        supports_bf16: false,
        default_price_per_hour: 0.10,
        calibrated_mfu: Some(CPU_MFU),
        calibrated_mfu_16bit: Some(CPU_MFU_BF16),
    },
    DeviceType {
        name: "T4",
        memory_gib: 16.0,
        tflops_16bit: 65.0,
        tflops_fp32: 8.1,
        supports_bf16: false,
        default_price_per_hour: 0.35,
        calibrated_mfu: None,
        calibrated_mfu_16bit: None,
    },
    DeviceType {
        name: "V100-32GB",
        memory_gib: 32.0,
        tflops_16bit: 125.0,
        tflops_fp32: 15.7,
        supports_bf16: false,
        default_price_per_hour: 2.48,
        calibrated_mfu: None,
        calibrated_mfu_16bit: None,
    },
    DeviceType {
        name: "RTX-3090",
        memory_gib: 24.0,
        tflops_16bit: 71.0,
        tflops_fp32: 35.6,
        supports_bf16: true,
        default_price_per_hour: 0.22,
        calibrated_mfu: None,
        calibrated_mfu_16bit: None,
    },
    DeviceType {
        name: "RTX-4090",
        memory_gib: 24.0,
        tflops_16bit: 165.0,
        tflops_fp32: 82.6,
        supports_bf16: true,
        default_price_per_hour: 0.35,
        calibrated_mfu: None,
        calibrated_mfu_16bit: None,
    },
    DeviceType {
        name: "A10",
        memory_gib: 24.0,
        tflops_16bit: 125.0,
        tflops_fp32: 31.2,
        supports_bf16: true,
        default_price_per_hour: 0.75,
        calibrated_mfu: None,
        calibrated_mfu_16bit: None,
    },
    DeviceType {
        name: "L4",
        memory_gib: 24.0,
        tflops_16bit: 121.0,
        tflops_fp32: 30.3,
        supports_bf16: true,
        default_price_per_hour: 0.70,
        calibrated_mfu: None,
        calibrated_mfu_16bit: None,
    },
    DeviceType {
        name: "A100-40GB",
        memory_gib: 40.0,
        tflops_16bit: 312.0,
        tflops_fp32: 19.5,
        supports_bf16: true,
        default_price_per_hour: 1.30,
        calibrated_mfu: None,
        calibrated_mfu_16bit: None,
    },
    DeviceType {
        name: "A100-80GB",
        memory_gib: 80.0,
        tflops_16bit: 312.0,
        tflops_fp32: 19.5,
        supports_bf16: true,
        default_price_per_hour: 1.80,
        calibrated_mfu: None,
        calibrated_mfu_16bit: None,
    },
    DeviceType {
        name: "L40S",
        memory_gib: 48.0,
        tflops_16bit: 362.0,
        tflops_fp32: 91.6,
        supports_bf16: true,
        default_price_per_hour: 1.00,
        calibrated_mfu: None,
        calibrated_mfu_16bit: None,
    },
    DeviceType {
        name: "H100-80GB",
        memory_gib: 80.0,
        tflops_16bit: 989.0,
        tflops_fp32: 67.0,
        supports_bf16: true,
        default_price_per_hour: 2.50,
        calibrated_mfu: None,
        calibrated_mfu_16bit: None,
    },
    DeviceType {
        name: "H200",
        memory_gib: 141.0,
        tflops_16bit: 989.0,
        tflops_fp32: 67.0,
        supports_bf16: true,
        default_price_per_hour: 3.50,
        calibrated_mfu: None,
        calibrated_mfu_16bit: None,
    },
];

/// Looks a device type up by name, case-insensitively.
pub fn device_type(name: &str) -> Option<&'static DeviceType> {
    DEVICE_TYPES.iter().find(|d| d.name.eq_ignore_ascii_case(name))
}

/// Peak memory per device, in bytes, by part.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MemoryBreakdown {
    pub weights: f64,
    pub trainable_state: f64,
    pub activations: f64,
    pub logits: f64,
    pub overhead: f64,
    /// The peak while the model loads: every device holds the whole model (and DPO's reference
    /// copy) before ZeRO-3 shards it, so sharding lowers the training peak, not this one.
    pub loading: f64,
}

impl MemoryBreakdown {
    /// The peak per device: training's, or loading's where that is higher.
    pub fn total(&self) -> f64 {
        (self.weights + self.trainable_state + self.activations + self.logits + self.overhead).max(self.loading)
    }
}

/// Memory and compute of a run, independent of the device it runs on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub total_parameters: u64,
    pub trainable_parameters: u64,
    pub memory: MemoryBreakdown,
    pub memory_per_device_bytes: f64,
    pub flops_per_token: f64,
    pub training_flops: f64,
}

/// Bytes per element of a fused LoRA dropout's mask (a bool tensor).
const DROPOUT_MASK_BYTES: f64 = 1.0;

/// Bytes per logit while the head's loss runs: the fp32 logits, their log-softmax and the
/// gradient of each.
const LOGIT_BYTES: f64 = 16.0;

/// Bytes one decoder layer keeps per token for the backward pass, as the runtime runs it
/// (transformers' eager modules, SDPA attention, PEFT adapters), `act_bytes` per element:
///
/// * the layer itself: both norms' normalized and scaled outputs (`2h` each), the rotated
///   queries and keys and the values (`q + 2kv`), the attention output and its re-laid-out copy
///   (`2q`), the residual between the halves (`h`), the MLP's gate, activation, up and product
///   (`4i`), and the layer's output (`h`);
/// * LoRA and QLoRA adapters with dropout: each adapted linear's one-byte dropout mask (the
///   runtime fuses the dropout into the adapter's A projection, which keeps the input the layer
///   already holds and recomputes the dropped-out copy: `runtime/tunery_runtime/lora_dropout.py`);
/// * DoRA adapters with dropout: PEFT's own dropout, each adapted linear's dropped-out input and
///   its mask (measured: 1.5 × the activation bytes per element);
/// * DoRA: each adapted linear's base and adapter outputs, for the magnitude's gradient.
fn layer_activation_bytes(spec: &ModelSpec, input: &EstimateInput, act_bytes: f64) -> f64 {
    let h = f64::from(spec.hidden_size);
    let i = f64::from(spec.intermediate_size);
    let q = spec.query_width() as f64;
    let kv = spec.kv_width() as f64;
    let layer = (6.0 * h + 3.0 * q + 2.0 * kv + 4.0 * i) * act_bytes;
    if !input.method.is_adapter() {
        return layer;
    }
    let adapted = adapted_linears(spec, input);
    let adapted_inputs: f64 = adapted.iter().map(|(i, _)| i).sum();
    let dropout = match (input.lora_dropout > 0.0, input.method) {
        (false, _) => 0.0,
        (true, Method::Dora) => adapted_inputs * 1.5 * act_bytes,
        (true, _) => adapted_inputs * DROPOUT_MASK_BYTES,
    };
    let dora = if input.method == Method::Dora { adapted.iter().map(|(_, o)| 2.0 * o).sum::<f64>() * act_bytes } else { 0.0 };
    layer + dropout + dora
}

/// Bytes per layer and token that adapter methods keep under gradient checkpointing beyond the
/// layer's input on the CPU: measured on the CPU matrix (`tests/fixtures/estimate_matrix.json`)
/// as about 1.5 × the adapted linears' inputs (the cause is not traced; full training shows
/// none, and it was not measured on a GPU).
fn checkpointed_adapter_bytes(spec: &ModelSpec, input: &EstimateInput, act_bytes: f64) -> f64 {
    if !input.method.is_adapter() || !input.on_cpu {
        return 0.0;
    }
    adapted_linears(spec, input).iter().map(|(i, _)| 1.5 * i * act_bytes).sum()
}

/// The (input, output) widths of the linears a LoRA-family method adapts in one block.
fn adapted_linears(spec: &ModelSpec, input: &EstimateInput) -> Vec<(f64, f64)> {
    block_linears(spec)
        .iter()
        .filter(|(name, _, _)| input.lora_targets.is_empty() || input.lora_targets.iter().any(|t| t == name))
        .map(|(_, i, o)| (*i as f64, *o as f64))
        .collect()
}

/// Parameters trained by a method.
pub fn trainable_parameters(spec: &ModelSpec, input: &EstimateInput) -> u64 {
    let counts = spec.parameter_counts();
    match input.method {
        Method::Full => counts.total(),
        Method::Freeze => spec.block_parameters() * input.freeze_trainable_layers.min(u64::from(spec.layers)),
        Method::Lora | Method::Qlora | Method::Dora => {
            let per_block: u64 = block_linears(spec)
                .iter()
                .filter(|(name, _, _)| input.lora_targets.is_empty() || input.lora_targets.iter().any(|t| t == name))
                .map(|(_, i, o)| input.lora_rank * (i + o) + if input.method == Method::Dora { *o } else { 0 })
                .sum();
            per_block * u64::from(spec.layers)
        }
    }
}

/// The estimate for a model and a run configuration.
pub fn estimate(spec: &ModelSpec, input: &EstimateInput) -> Estimate {
    let counts = spec.parameter_counts();
    let total = counts.total();
    let trainable = trainable_parameters(spec, input);
    let gpus = input.gpus.max(1) as f64;
    let act_bytes = input.precision.bytes();

    let weights = match input.method {
        // PEFT's `prepare_model_for_kbit_training` keeps what is not quantized in fp32. On the
        // CPU (bitsandbytes' CPU kernels), the measured peak also holds the block linears
        // dequantized (`tests/fixtures/estimate_matrix.json`).
        Method::Qlora => {
            let dequantized = if input.on_cpu { counts.block_linear as f64 * act_bytes } else { 0.0 };
            counts.block_linear as f64 * 4.127 / 8.0 + (counts.embeddings + counts.other) as f64 * 4.0 + dequantized
        }
        Method::Full => total as f64 * act_bytes.max(2.0),
        _ => total as f64 * act_bytes,
    };
    // DPO's frozen reference: its own copy of the weights unless an adapter can be switched off.
    let adapters = matches!(input.method, Method::Lora | Method::Qlora | Method::Dora);
    let reference = if input.dpo && !adapters { total as f64 * act_bytes } else { 0.0 };
    let moments = if input.optimizer_8bit { 2.0 } else { 8.0 };
    let per_trainable = match (input.method, input.precision) {
        // Mixed precision: the 16-bit weight is counted in `weights`; gradient, master and moments here.
        (Method::Full | Method::Freeze, Precision::Bf16 | Precision::Fp16) => 2.0 + 4.0 + moments,
        // fp32: gradient and moments (the weight is in `weights`).
        (Method::Full | Method::Freeze, Precision::Fp32) => 4.0 + moments,
        // Adapters are fp32 weights (their own copy) with fp32 gradients and moments.
        _ => 4.0 + 4.0 + moments,
    };
    let zero_state_div = if input.zero_stage >= 2 { gpus } else { 1.0 };
    let zero_weight_div = if input.zero_stage >= 3 { gpus } else { 1.0 };
    let trainable_state = trainable as f64 * per_trainable / zero_state_div;

    let h = f64::from(spec.hidden_size);
    let q = spec.query_width() as f64;
    let rows = input.micro_batch_size * if input.dpo { 2 } else { 1 };
    let tokens = (input.sequence_length * rows) as f64;
    let layer_full = layer_activation_bytes(spec, input, act_bytes);
    // Freeze training runs the frozen layers below the trained ones without a graph: only the
    // trained layers keep activations.
    let layers = f64::from(spec.layers);
    let trained_layers = match input.method {
        Method::Freeze => input.freeze_trainable_layers.clamp(1, u64::from(spec.layers)) as f64,
        _ => layers,
    };
    let mut activations = if input.gradient_checkpointing {
        tokens * (trained_layers * (h * act_bytes + checkpointed_adapter_bytes(spec, input, act_bytes)) + layer_full)
    } else {
        tokens * trained_layers * layer_full
    };
    if input.method == Method::Freeze && gpus <= 1.0 && tokens > HEAD_CHUNK_TOKENS {
        // The chunked head asks the model for every layer's hidden states, which freeze training
        // would otherwise drop below its trained layers.
        activations += tokens * (layers + 1.0) * h * act_bytes;
    }
    // On one device the runtime runs the head in chunks of HEAD_CHUNK_TOKENS positions × rows
    // (the logits of one chunk exist at a time); data-parallel wrappers get it whole.
    let logit_tokens = if gpus <= 1.0 { tokens.min(HEAD_CHUNK_TOKENS) } else { tokens };
    let logits = logit_tokens * f64::from(spec.vocab_size) * LOGIT_BYTES;
    // The runtime loads the whole model on each device, then shards it (no meta-device load).
    let loading = weights + reference + 0.75 * GIB;
    let weights = weights / zero_weight_div + reference;
    let subtotal = weights + trainable_state + activations + logits;
    let overhead = 0.75 * GIB + 0.1 * subtotal;
    let memory = MemoryBreakdown { weights, trainable_state, activations, logits, overhead, loading };

    let n = total as f64;
    let attention = layers * input.sequence_length as f64 * q;
    let mut flops_per_token = match input.method {
        Method::Full => 6.0 * n + 6.0 * attention,
        Method::Freeze => 2.0 * n + 6.0 * trainable as f64 + 2.0 * attention,
        _ => 4.0 * n + 4.0 * attention,
    };
    if input.gradient_checkpointing {
        flops_per_token += 2.0 * n + 2.0 * attention;
    }
    if input.dpo {
        // Both sequences of a pair train, and the reference runs a forward pass over both.
        flops_per_token = 2.0 * (flops_per_token + 2.0 * n + 2.0 * attention);
    }
    Estimate {
        total_parameters: total,
        trainable_parameters: trainable,
        memory_per_device_bytes: memory.total(),
        memory,
        flops_per_token,
        training_flops: flops_per_token * input.training_tokens as f64,
    }
}

/// Where the time figure of a device comes from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ThroughputSource {
    /// Peak FLOP/s × an assumed model FLOPs utilization.
    Assumed { mfu: f64 },
    /// Tokens per second measured on an earlier finished job of this model on this device type.
    Measured { tokens_per_second: f64 },
}

/// What a run would take on one device type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceFit {
    pub device: &'static str,
    /// The device's memory.
    pub memory_gib: f64,
    /// Peak memory per device a run there needs (its own precision and optimizer).
    pub memory_needed_gib: f64,
    pub fits: bool,
    /// The micro-batch (rows) and checkpointing a run there uses: with `auto`, chosen for this
    /// device's memory, so they may differ from the selected device's.
    pub micro_batch_size: u64,
    pub gradient_checkpointing: bool,
    pub seconds: f64,
    pub gpu_hours: f64,
    pub price_per_hour: f64,
    pub cost: f64,
    pub throughput: ThroughputSource,
}

/// Time and cost on one device type, `gpus` of them, at an assumed MFU or a measured speed.
pub fn fit(
    estimate: &Estimate,
    input: &EstimateInput,
    device: &'static DeviceType,
    measured_tokens_per_second: Option<f64>,
    mfu: f64,
    price_per_hour: Option<f64>,
) -> DeviceFit {
    let gpus = input.gpus.max(1) as f64;
    let (seconds, throughput) = match measured_tokens_per_second.filter(|t| *t > 0.0) {
        Some(tps) => (input.training_tokens as f64 / tps, ThroughputSource::Measured { tokens_per_second: tps }),
        None => (estimate.training_flops / (gpus * device.peak_flops(input.precision) * mfu), ThroughputSource::Assumed { mfu }),
    };
    let price = price_per_hour.unwrap_or(device.default_price_per_hour);
    let gpu_hours = seconds / 3600.0 * gpus;
    DeviceFit {
        device: device.name,
        memory_gib: device.memory_gib,
        memory_needed_gib: estimate.memory_per_device_bytes / GIB,
        fits: estimate.memory_per_device_bytes <= device.memory_gib * GIB,
        micro_batch_size: input.micro_batch_size,
        gradient_checkpointing: input.gradient_checkpointing,
        seconds,
        gpu_hours,
        price_per_hour: price,
        cost: gpu_hours * price,
        throughput,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    fn input(method: Method) -> EstimateInput {
        EstimateInput {
            method,
            precision: Precision::Bf16,
            sequence_length: 512,
            micro_batch_size: 1,
            gradient_checkpointing: true,
            gpus: 1,
            zero_stage: 0,
            lora_rank: 8,
            lora_dropout: 0.05,
            lora_targets: vec![],
            freeze_trainable_layers: 2,
            optimizer_8bit: false,
            dpo: false,
            training_tokens: 10_000_000,
            on_cpu: false,
        }
    }

    #[test]
    fn on_one_device_the_logits_are_one_head_chunk_and_data_parallel_ranks_hold_them_whole() {
        let spec = llama2_7b();
        let long = EstimateInput { sequence_length: 4096, micro_batch_size: 2, ..input(Method::Lora) };
        let vocab = f64::from(spec.vocab_size);
        assert_eq!(estimate(&spec, &long).memory.logits, HEAD_CHUNK_TOKENS * vocab * LOGIT_BYTES);
        let short = EstimateInput { sequence_length: 256, ..input(Method::Lora) };
        assert_eq!(estimate(&spec, &short).memory.logits, 256.0 * vocab * LOGIT_BYTES, "fewer tokens than a chunk");
        let ranks = EstimateInput { gpus: 4, ..long };
        assert_eq!(estimate(&spec, &ranks).memory.logits, 8192.0 * vocab * LOGIT_BYTES);
    }

    #[test]
    fn dpo_counts_its_reference_and_both_sequences() {
        let spec = llama2_7b();
        let total = spec.parameter_counts().total() as f64;
        let (sft, dpo) = (input(Method::Full), EstimateInput { dpo: true, ..input(Method::Full) });
        let (a, b) = (estimate(&spec, &sft), estimate(&spec, &dpo));
        assert_eq!(b.memory.weights - a.memory.weights, total * 2.0, "a 16-bit frozen copy");
        assert_eq!(b.memory.activations, 2.0 * a.memory.activations, "chosen and rejected rows");
        assert_eq!(b.memory.logits, 2.0 * a.memory.logits);
        assert!(b.flops_per_token > 2.0 * a.flops_per_token, "two sequences plus the reference's forward pass");
        // LoRA's reference is the base with the adapter switched off: no second copy.
        let (lora, lora_dpo) = (input(Method::Lora), EstimateInput { dpo: true, ..input(Method::Lora) });
        assert_eq!(estimate(&spec, &lora).memory.weights, estimate(&spec, &lora_dpo).memory.weights);
    }

    fn gib(bytes: f64) -> f64 {
        bytes / GIB
    }

    fn llama2_7b() -> ModelSpec {
        catalog::find("meta-llama/Llama-2-7b-hf").unwrap().spec
    }

    // Published figures: the LLaMA-Factory README's hardware table for 7B models (full
    // fine-tuning in mixed precision ≈ 120 GB, 16-bit LoRA ≈ 16 GB, 4-bit QLoRA ≈ 6 GB).
    #[test]
    fn seven_b_lora_needs_about_16_gb() {
        let e = estimate(&llama2_7b(), &input(Method::Lora));
        let g = gib(e.memory_per_device_bytes);
        assert!((14.0..=18.0).contains(&g), "7B LoRA: {g:.2} GiB");
    }

    #[test]
    fn seven_b_qlora_needs_about_6_gb() {
        let e = estimate(&llama2_7b(), &input(Method::Qlora));
        let g = gib(e.memory_per_device_bytes);
        assert!((4.5..=7.5).contains(&g), "7B QLoRA: {g:.2} GiB");
    }

    #[test]
    fn seven_b_full_mixed_precision_needs_about_120_gb() {
        let e = estimate(&llama2_7b(), &input(Method::Full));
        let g = gib(e.memory_per_device_bytes);
        assert!((100.0..=135.0).contains(&g), "7B full: {g:.2} GiB");
        // ZeRO-3 over 8 GPUs divides weights and states.
        let mut zero3 = input(Method::Full);
        zero3.gpus = 8;
        zero3.zero_stage = 3;
        let z = gib(estimate(&llama2_7b(), &zero3).memory_per_device_bytes);
        assert!(z < g / 5.0, "ZeRO-3 × 8: {z:.2} GiB vs {g:.2}");
    }

    /// The runtime loads the whole model on each device and shards it afterwards, so ZeRO-3's
    /// peak per device is never below the unsharded weights: for a LoRA of a 7B model over 8
    /// devices, loading (2 bytes × 6.7 B parameters + context) is the peak, not training.
    #[test]
    fn zero3_peak_is_never_below_the_whole_model_while_it_loads() {
        let mut lora = input(Method::Lora);
        lora.gpus = 8;
        lora.zero_stage = 3;
        let e = estimate(&llama2_7b(), &lora);
        let whole = 2.0 * e.total_parameters as f64;
        assert!(e.memory_per_device_bytes >= whole, "{:.2} GiB < the whole 16-bit model", gib(e.memory_per_device_bytes));
        assert_eq!(e.memory_per_device_bytes, e.memory.loading, "{:?}", e.memory);
        // Without sharding the weights, training holds them whole anyway: loading is not the peak.
        lora.zero_stage = 0;
        let replicated = estimate(&llama2_7b(), &lora);
        assert!(replicated.memory_per_device_bytes > replicated.memory.loading);
    }

    #[test]
    fn lora_trainable_parameters_match_peft_counts() {
        // PEFT reports 4,194,304 trainable parameters for LoRA r=8 on q_proj and v_proj of Llama-2-7B.
        let mut i = input(Method::Lora);
        i.lora_targets = vec!["q_proj".into(), "v_proj".into()];
        assert_eq!(trainable_parameters(&llama2_7b(), &i), 4_194_304);
    }

    #[test]
    fn flops_are_six_n_for_full_and_four_n_for_lora_per_token() {
        let spec = llama2_7b();
        let n = spec.parameter_counts().total() as f64;
        let mut full = input(Method::Full);
        full.gradient_checkpointing = false;
        let mut lora = input(Method::Lora);
        lora.gradient_checkpointing = false;
        let f = estimate(&spec, &full).flops_per_token / n;
        let l = estimate(&spec, &lora).flops_per_token / n;
        assert!((6.0..6.5).contains(&f), "full: {f}");
        assert!((4.0..4.4).contains(&l), "lora: {l}");
    }

    #[test]
    fn fit_uses_measured_throughput_when_known_and_prices_the_hours() {
        let spec = catalog::find("HuggingFaceTB/SmolLM2-135M-Instruct").unwrap().spec;
        let i = input(Method::Lora);
        let e = estimate(&spec, &i);
        let cpu = device_type("cpu").unwrap();
        let measured = fit(&e, &i, cpu, Some(100.0), 0.4, Some(1.0));
        assert_eq!(measured.seconds, 100_000.0);
        assert!((measured.cost - 100_000.0 / 3600.0).abs() < 1e-9);
        let assumed = fit(&e, &i, device_type("h100-80gb").unwrap(), None, 0.4, None);
        assert!(assumed.fits);
        assert!(matches!(assumed.throughput, ThroughputSource::Assumed { .. }));
        assert!(assumed.seconds > 0.0 && assumed.seconds < measured.seconds);
    }

    #[test]
    fn a_70b_full_fine_tune_fits_no_single_device() {
        let spec = catalog::find("meta-llama/Llama-3.1-70B-Instruct").unwrap().spec;
        let e = estimate(&spec, &input(Method::Full));
        assert!(DEVICE_TYPES.iter().all(|d| !fit(&e, &input(Method::Full), d, None, 0.4, None).fits));
    }
}
