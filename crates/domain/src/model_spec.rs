//! The shape of a decoder-only transformer, as its `config.json` states it, and what follows
//! from it: parameter counts per part, which the memory and compute estimates build on.

use serde::{Deserialize, Serialize};

/// A model's architecture figures, read from its `config.json` (or a GGUF file's metadata).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// The `architectures[0]` of the config, e.g. `LlamaForCausalLM`.
    pub architecture: String,
    pub layers: u32,
    pub hidden_size: u32,
    pub intermediate_size: u32,
    pub attention_heads: u32,
    pub kv_heads: u32,
    /// Per-head dimension; `hidden_size / attention_heads` unless the config says otherwise.
    pub head_dim: u32,
    pub vocab_size: u32,
    pub context_length: u32,
    /// Input and output embeddings share one matrix.
    pub tied_embeddings: bool,
    /// q, k and v projections carry a bias (Qwen 2).
    pub qkv_bias: bool,
}

/// Parameter counts by part; the sum is the model's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterCounts {
    /// Input embeddings plus the output head when it is not tied.
    pub embeddings: u64,
    /// Weights of the linear layers inside the decoder blocks (the ones LoRA adapts and QLoRA quantizes).
    pub block_linear: u64,
    /// Norms and biases.
    pub other: u64,
}

impl ParameterCounts {
    pub fn total(&self) -> u64 {
        self.embeddings + self.block_linear + self.other
    }
}

/// The linear projections of one decoder block, as (name, input features, output features).
pub fn block_linears(spec: &ModelSpec) -> [(&'static str, u64, u64); 7] {
    let h = u64::from(spec.hidden_size);
    let q = u64::from(spec.attention_heads) * u64::from(spec.head_dim);
    let kv = u64::from(spec.kv_heads) * u64::from(spec.head_dim);
    let i = u64::from(spec.intermediate_size);
    [("q_proj", h, q), ("k_proj", h, kv), ("v_proj", h, kv), ("o_proj", q, h), ("gate_proj", h, i), ("up_proj", h, i), ("down_proj", i, h)]
}

impl ModelSpec {
    pub fn parameter_counts(&self) -> ParameterCounts {
        let h = u64::from(self.hidden_size);
        let layers = u64::from(self.layers);
        let vocab = u64::from(self.vocab_size);
        let per_block: u64 = block_linears(self).iter().map(|(_, i, o)| i * o).sum();
        let heads_dim = u64::from(self.head_dim);
        let bias = if self.qkv_bias { (u64::from(self.attention_heads) + 2 * u64::from(self.kv_heads)) * heads_dim } else { 0 };
        let embeddings = vocab * h * if self.tied_embeddings { 1 } else { 2 };
        ParameterCounts { embeddings, block_linear: per_block * layers, other: layers * (2 * h + bias) + h }
    }

    /// Parameters of one decoder block (its linears, norms and biases).
    pub fn block_parameters(&self) -> u64 {
        let counts = self.parameter_counts();
        let layers = u64::from(self.layers.max(1));
        (counts.block_linear + counts.other.saturating_sub(u64::from(self.hidden_size))) / layers
    }

    /// Width of the query projection output (`attention_heads × head_dim`).
    pub fn query_width(&self) -> u64 {
        u64::from(self.attention_heads) * u64::from(self.head_dim)
    }

    /// Width of the key (or value) projection output (`kv_heads × head_dim`).
    pub fn kv_width(&self) -> u64 {
        u64::from(self.kv_heads) * u64::from(self.head_dim)
    }
}

/// Reads the figures from a Hugging Face `config.json` (decoder-only models). Returns an error
/// naming the missing field.
pub fn from_config(config: &serde_json::Value) -> Result<ModelSpec, String> {
    let int =
        |names: &[&str]| -> Option<u32> { names.iter().find_map(|n| config.get(*n).and_then(serde_json::Value::as_u64)).map(|v| v as u32) };
    let need = |names: &[&str]| int(names).ok_or_else(|| format!("config.json has no {}", names.join(" or ")));
    let architecture = config
        .get("architectures")
        .and_then(|a| a.get(0))
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| "config.json has no architectures".to_string())?
        .to_string();
    let hidden_size = need(&["hidden_size", "n_embd", "d_model"])?;
    let attention_heads = need(&["num_attention_heads", "n_head"])?;
    if attention_heads == 0 {
        return Err("config.json: num_attention_heads is 0".into());
    }
    let kv_heads = int(&["num_key_value_heads", "multi_query_group_num"]).unwrap_or(attention_heads);
    Ok(ModelSpec {
        architecture,
        layers: need(&["num_hidden_layers", "n_layer", "num_layers"])?,
        hidden_size,
        intermediate_size: need(&["intermediate_size", "ffn_hidden_size", "n_inner"])?,
        attention_heads,
        kv_heads,
        head_dim: int(&["head_dim"]).unwrap_or(hidden_size / attention_heads),
        vocab_size: need(&["vocab_size", "padded_vocab_size"])?,
        context_length: int(&["max_position_embeddings", "seq_length", "n_positions"]).unwrap_or(2048),
        tied_embeddings: config.get("tie_word_embeddings").and_then(serde_json::Value::as_bool).unwrap_or(true),
        qkv_bias: config.get("attention_bias").and_then(serde_json::Value::as_bool).unwrap_or(architecture_has_qkv_bias(config)),
    })
}

fn architecture_has_qkv_bias(config: &serde_json::Value) -> bool {
    config.get("model_type").and_then(serde_json::Value::as_str) == Some("qwen2")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smollm2_config_gives_its_figures_and_parameter_count() {
        let config = serde_json::json!({
            "architectures": ["LlamaForCausalLM"], "hidden_size": 576, "intermediate_size": 1536,
            "num_attention_heads": 9, "num_key_value_heads": 3, "num_hidden_layers": 30, "vocab_size": 49152,
            "max_position_embeddings": 8192, "tie_word_embeddings": true, "model_type": "llama"
        });
        let spec = from_config(&config).unwrap();
        assert_eq!(spec.head_dim, 64);
        // transformers reports 134,515,008 parameters for SmolLM2-135M.
        assert_eq!(spec.parameter_counts().total(), 134_515_008);
        let missing = from_config(&serde_json::json!({"architectures": ["X"], "hidden_size": 8})).unwrap_err();
        assert!(missing.contains("num_attention_heads"), "{missing}");
    }
}
