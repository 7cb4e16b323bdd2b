//! Chat templates for common model families, for base models whose tokenizer has none.
//!
//! Each source in `templates/<name>.jinja` is the `chat_template` string of the named model's
//! public `tokenizer_config.json`, byte for byte (no trailing newline unless the original has
//! one); the special tokens are that file's too. The golden fixtures in
//! `tests/fixtures/<name>.json` carry a copy of the source, and a test fails if the two differ.
//!
//! | name | model (`tokenizer_config.json` on the Hugging Face Hub) | licence of the model files |
//! |---|---|---|
//! | `chatml` | HuggingFaceTB/SmolLM2-135M-Instruct (same template in the 360M and 1.7B) | Apache-2.0 |
//! | `llama3` | meta-llama/Meta-Llama-3-8B-Instruct | Llama 3 Community Licence |
//! | `qwen2` | Qwen/Qwen2-7B-Instruct (and Qwen2-0.5B/1.5B-Instruct, Qwen1.5-*-Chat) | Apache-2.0 |
//! | `mistral` | mistralai/Mistral-7B-Instruct-v0.2 (its revised template, with a system message) | Apache-2.0 |
//! | `mistral-v0.1` | mistralai/Mistral-7B-Instruct-v0.1, Mixtral-8x7B-Instruct-v0.1 (user/assistant only) | Apache-2.0 |
//! | `gemma` | google/gemma-7b-it, gemma-2-2b-it/9b-it/27b-it (no system role) | Gemma Terms of Use |
//! | `phi3` | microsoft/Phi-3-mini-4k-instruct | MIT |

use crate::{ChatTemplate, SpecialTokens, TemplateError};

/// A built-in chat template and the special tokens of the model it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtin {
    /// The key: `chatml`, `llama3`, …
    pub name: &'static str,
    /// Where the source was copied from.
    pub origin: &'static str,
    /// The Jinja source, exactly as in `origin`.
    pub source: &'static str,
    pub bos_token: Option<&'static str>,
    pub eos_token: Option<&'static str>,
    pub pad_token: Option<&'static str>,
    pub unk_token: Option<&'static str>,
    /// The token the template writes after each assistant message; trained spans end with it.
    pub end_of_turn: &'static str,
}

impl Builtin {
    pub fn special_tokens(&self) -> SpecialTokens {
        SpecialTokens {
            bos_token: self.bos_token.map(str::to_string),
            eos_token: self.eos_token.map(str::to_string),
            pad_token: self.pad_token.map(str::to_string),
            unk_token: self.unk_token.map(str::to_string),
        }
    }

    /// The compiled template with this model's special tokens and end-of-turn token.
    pub fn template(&self) -> Result<ChatTemplate, TemplateError> {
        Ok(ChatTemplate::new(self.source, self.special_tokens())?.with_end_of_turn([self.end_of_turn]))
    }
}

/// Every built-in template, in a stable order.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "chatml",
        origin: "HuggingFaceTB/SmolLM2-135M-Instruct tokenizer_config.json",
        source: include_str!("../templates/chatml.jinja"),
        bos_token: Some("<|im_start|>"),
        eos_token: Some("<|im_end|>"),
        pad_token: Some("<|im_end|>"),
        unk_token: Some("<|endoftext|>"),
        end_of_turn: "<|im_end|>",
    },
    Builtin {
        name: "llama3",
        origin: "meta-llama/Meta-Llama-3-8B-Instruct tokenizer_config.json",
        source: include_str!("../templates/llama3.jinja"),
        bos_token: Some("<|begin_of_text|>"),
        eos_token: Some("<|eot_id|>"),
        pad_token: None,
        unk_token: None,
        end_of_turn: "<|eot_id|>",
    },
    Builtin {
        name: "qwen2",
        origin: "Qwen/Qwen2-7B-Instruct tokenizer_config.json",
        source: include_str!("../templates/qwen2.jinja"),
        bos_token: None,
        eos_token: Some("<|im_end|>"),
        pad_token: Some("<|endoftext|>"),
        unk_token: None,
        end_of_turn: "<|im_end|>",
    },
    Builtin {
        name: "mistral",
        origin: "mistralai/Mistral-7B-Instruct-v0.2 tokenizer_config.json (revised template with system message)",
        source: include_str!("../templates/mistral.jinja"),
        bos_token: Some("<s>"),
        eos_token: Some("</s>"),
        pad_token: None,
        unk_token: Some("<unk>"),
        end_of_turn: "</s>",
    },
    Builtin {
        name: "mistral-v0.1",
        origin: "mistralai/Mistral-7B-Instruct-v0.1 and Mixtral-8x7B-Instruct-v0.1 tokenizer_config.json",
        source: include_str!("../templates/mistral-v0.1.jinja"),
        bos_token: Some("<s>"),
        eos_token: Some("</s>"),
        pad_token: None,
        unk_token: Some("<unk>"),
        end_of_turn: "</s>",
    },
    Builtin {
        name: "gemma",
        origin: "google/gemma-7b-it and gemma-2-*-it tokenizer_config.json",
        source: include_str!("../templates/gemma.jinja"),
        bos_token: Some("<bos>"),
        eos_token: Some("<eos>"),
        pad_token: Some("<pad>"),
        unk_token: Some("<unk>"),
        end_of_turn: "<end_of_turn>",
    },
    Builtin {
        name: "phi3",
        origin: "microsoft/Phi-3-mini-4k-instruct tokenizer_config.json",
        source: include_str!("../templates/phi3.jinja"),
        bos_token: Some("<s>"),
        eos_token: Some("<|endoftext|>"),
        pad_token: Some("<|endoftext|>"),
        unk_token: Some("<unk>"),
        end_of_turn: "<|end|>",
    },
];

/// The built-in template named `name`, if there is one.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}
