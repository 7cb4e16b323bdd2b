//! The catalog of popular open base models: their real figures, copied from each model's
//! `config.json` on the Hugging Face Hub, and their licenses. The catalog describes models;
//! the platform trains only models that were imported (their weights are in the blob store).

use crate::model_spec::ModelSpec;

/// One catalog entry.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogModel {
    /// The Hugging Face repository id, which is also the entry's key.
    pub repo_id: &'static str,
    pub family: &'static str,
    pub license: &'static str,
    /// Parameters as the publisher states them, for checking the computed count.
    pub published_parameters: u64,
    /// Name of the built-in chat template the model uses (`chat-template` crate), if any.
    pub chat_template: Option<&'static str>,
    pub spec: ModelSpec,
}

#[allow(clippy::too_many_arguments)]
fn llama_like(
    architecture: &str,
    layers: u32,
    hidden_size: u32,
    intermediate_size: u32,
    attention_heads: u32,
    kv_heads: u32,
    vocab_size: u32,
    context_length: u32,
    tied_embeddings: bool,
) -> ModelSpec {
    ModelSpec {
        architecture: architecture.to_string(),
        layers,
        hidden_size,
        intermediate_size,
        attention_heads,
        kv_heads,
        head_dim: hidden_size / attention_heads,
        vocab_size,
        context_length,
        tied_embeddings,
        qkv_bias: false,
    }
}

fn with_head_dim(mut spec: ModelSpec, head_dim: u32) -> ModelSpec {
    spec.head_dim = head_dim;
    spec
}

fn with_qkv_bias(mut spec: ModelSpec) -> ModelSpec {
    spec.qkv_bias = true;
    spec
}

fn entry(
    repo_id: &'static str,
    family: &'static str,
    license: &'static str,
    published_parameters: u64,
    chat_template: Option<&'static str>,
    spec: ModelSpec,
) -> CatalogModel {
    CatalogModel { repo_id, family, license, published_parameters, chat_template, spec }
}

const M: u64 = 1_000_000;

/// Every catalog entry, smallest families first.
pub fn catalog() -> Vec<CatalogModel> {
    let llama = "LlamaForCausalLM";
    let qwen2 = "Qwen2ForCausalLM";
    let qwen3 = "Qwen3ForCausalLM";
    vec![
        entry(
            "HuggingFaceTB/SmolLM2-135M-Instruct",
            "SmolLM2",
            "apache-2.0",
            135 * M,
            Some("chatml"),
            llama_like(llama, 30, 576, 1536, 9, 3, 49152, 8192, true),
        ),
        entry(
            "HuggingFaceTB/SmolLM2-360M-Instruct",
            "SmolLM2",
            "apache-2.0",
            362 * M,
            Some("chatml"),
            llama_like(llama, 32, 960, 2560, 15, 5, 49152, 8192, true),
        ),
        entry(
            "HuggingFaceTB/SmolLM2-1.7B-Instruct",
            "SmolLM2",
            "apache-2.0",
            1_711 * M,
            Some("chatml"),
            llama_like(llama, 24, 2048, 8192, 32, 32, 49152, 8192, true),
        ),
        entry(
            "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
            "TinyLlama",
            "apache-2.0",
            1_100 * M,
            None,
            llama_like(llama, 22, 2048, 5632, 32, 4, 32000, 2048, false),
        ),
        entry(
            "meta-llama/Llama-2-7b-hf",
            "Llama 2",
            "llama2",
            6_738 * M,
            None,
            llama_like(llama, 32, 4096, 11008, 32, 32, 32000, 4096, false),
        ),
        entry(
            "meta-llama/Llama-3.2-1B-Instruct",
            "Llama 3",
            "llama3.2",
            1_236 * M,
            Some("llama3"),
            with_head_dim(llama_like(llama, 16, 2048, 8192, 32, 8, 128256, 131072, true), 64),
        ),
        entry(
            "meta-llama/Llama-3.2-3B-Instruct",
            "Llama 3",
            "llama3.2",
            3_213 * M,
            Some("llama3"),
            llama_like(llama, 28, 3072, 8192, 24, 8, 128256, 131072, true),
        ),
        entry(
            "meta-llama/Llama-3.1-8B-Instruct",
            "Llama 3",
            "llama3.1",
            8_030 * M,
            Some("llama3"),
            llama_like(llama, 32, 4096, 14336, 32, 8, 128256, 131072, false),
        ),
        entry(
            "meta-llama/Llama-3.1-70B-Instruct",
            "Llama 3",
            "llama3.1",
            70_554 * M,
            Some("llama3"),
            llama_like(llama, 80, 8192, 28672, 64, 8, 128256, 131072, false),
        ),
        entry(
            "Qwen/Qwen2.5-0.5B-Instruct",
            "Qwen 2.5",
            "apache-2.0",
            494 * M,
            Some("qwen2"),
            with_qkv_bias(llama_like(qwen2, 24, 896, 4864, 14, 2, 151936, 32768, true)),
        ),
        entry(
            "Qwen/Qwen2.5-1.5B-Instruct",
            "Qwen 2.5",
            "apache-2.0",
            1_544 * M,
            Some("qwen2"),
            with_qkv_bias(llama_like(qwen2, 28, 1536, 8960, 12, 2, 151936, 32768, true)),
        ),
        entry(
            "Qwen/Qwen2.5-7B-Instruct",
            "Qwen 2.5",
            "apache-2.0",
            7_616 * M,
            Some("qwen2"),
            with_qkv_bias(llama_like(qwen2, 28, 3584, 18944, 28, 4, 152064, 32768, false)),
        ),
        entry(
            "Qwen/Qwen2.5-14B-Instruct",
            "Qwen 2.5",
            "apache-2.0",
            14_770 * M,
            Some("qwen2"),
            with_qkv_bias(llama_like(qwen2, 48, 5120, 13824, 40, 8, 152064, 32768, false)),
        ),
        entry(
            "Qwen/Qwen3-0.6B",
            "Qwen 3",
            "apache-2.0",
            596 * M,
            Some("qwen2"),
            with_head_dim(llama_like(qwen3, 28, 1024, 3072, 16, 8, 151936, 40960, true), 128),
        ),
        entry(
            "Qwen/Qwen3-8B",
            "Qwen 3",
            "apache-2.0",
            8_191 * M,
            Some("qwen2"),
            with_head_dim(llama_like(qwen3, 36, 4096, 12288, 32, 8, 151936, 40960, false), 128),
        ),
        entry(
            "THUDM/chatglm3-6b",
            "ChatGLM",
            "chatglm3 model license",
            6_244 * M,
            None,
            with_qkv_bias(llama_like("ChatGLMModel", 28, 4096, 13696, 32, 2, 65024, 8192, false)),
        ),
        entry(
            "THUDM/glm-4-9b-chat",
            "GLM-4",
            "glm-4",
            9_400 * M,
            None,
            with_qkv_bias(llama_like("ChatGLMModel", 40, 4096, 13696, 32, 2, 151552, 131072, false)),
        ),
        entry(
            "mistralai/Mistral-7B-Instruct-v0.3",
            "Mistral",
            "apache-2.0",
            7_248 * M,
            Some("mistral"),
            llama_like("MistralForCausalLM", 32, 4096, 14336, 32, 8, 32768, 32768, false),
        ),
        entry(
            "google/gemma-2-2b-it",
            "Gemma 2",
            "gemma",
            2_614 * M,
            Some("gemma"),
            with_head_dim(llama_like("Gemma2ForCausalLM", 26, 2304, 9216, 8, 4, 256000, 8192, true), 256),
        ),
        entry(
            "google/gemma-2-9b-it",
            "Gemma 2",
            "gemma",
            9_242 * M,
            Some("gemma"),
            with_head_dim(llama_like("Gemma2ForCausalLM", 42, 3584, 14336, 16, 8, 256000, 8192, true), 256),
        ),
        entry(
            "google/gemma-3-1b-it",
            "Gemma 3",
            "gemma",
            1_000 * M,
            Some("gemma"),
            with_head_dim(llama_like("Gemma3ForCausalLM", 26, 1152, 6912, 4, 1, 262144, 32768, true), 256),
        ),
        entry(
            "microsoft/Phi-3-mini-4k-instruct",
            "Phi-3",
            "mit",
            3_821 * M,
            Some("phi3"),
            llama_like("Phi3ForCausalLM", 32, 3072, 8192, 32, 32, 32064, 4096, false),
        ),
        entry(
            "microsoft/Phi-4-mini-instruct",
            "Phi-4",
            "mit",
            3_836 * M,
            Some("phi3"),
            llama_like("Phi3ForCausalLM", 32, 3072, 8192, 24, 8, 200064, 131072, true),
        ),
        entry(
            "microsoft/phi-4",
            "Phi-4",
            "mit",
            14_660 * M,
            None,
            llama_like("Phi3ForCausalLM", 40, 5120, 17920, 40, 10, 100352, 16384, false),
        ),
    ]
}

/// The catalog entry for a repository id (case-insensitive).
pub fn find(repo_id: &str) -> Option<CatalogModel> {
    catalog().into_iter().find(|m| m.repo_id.eq_ignore_ascii_case(repo_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parameter count computed from the architecture figures matches what each publisher
    /// states, within 3% (publishers round, and a few architectures add small extra tensors).
    #[test]
    fn computed_parameters_match_the_published_counts() {
        for m in catalog() {
            let computed = m.spec.parameter_counts().total() as f64;
            let published = m.published_parameters as f64;
            let off = (computed - published).abs() / published;
            assert!(off < 0.03, "{}: computed {computed:.0}, published {published:.0} ({:.1}% off)", m.repo_id, off * 100.0);
        }
    }

    #[test]
    fn repo_ids_are_unique_and_found_case_insensitively() {
        let all = catalog();
        let mut ids: Vec<_> = all.iter().map(|m| m.repo_id.to_lowercase()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all.len());
        assert_eq!(find("huggingfacetb/smollm2-135m-instruct").unwrap().spec.layers, 30);
        assert!(find("nobody/nothing").is_none());
    }
}
