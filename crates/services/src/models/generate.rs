//! Trying a model: greedy answers to a few chat prompts from a base model or a fine-tuned one
//! (its adapter on its base model), through the runtime's `generate` mode. This is how the
//! quickstart shows what fine-tuning changed until deployments serve models; it runs one
//! runtime per request, in a private work directory removed afterwards.

use super::files::StoredFile;
use super::BaseModel;
use crate::audit::AuditEvent;
use crate::datasets::internal;
use crate::{Error, Principal, RequestContext, Result, Services};
use domain::validate::ValidationError;
use domain::Permission;
use executors::{EventKind, Message};

/// At most this many prompts in one request.
pub const MAX_PROMPTS: usize = 20;
/// At most this many new tokens per answer.
pub const MAX_NEW_TOKENS: u32 = 512;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    /// Each prompt is a list of chat messages (`role`, `content`); the answer continues it.
    pub prompts: Vec<Vec<serde_json::Value>>,
    pub max_new_tokens: u32,
}

/// The answers, in prompt order.
#[derive(Debug, Clone)]
pub struct Generation {
    pub model_id: String,
    pub outputs: Vec<String>,
    pub tokens: u64,
    pub seconds: f64,
}

fn check(req: &GenerateRequest) -> Result<()> {
    if req.prompts.is_empty() || req.prompts.len() > MAX_PROMPTS {
        return Err(ValidationError::new("prompts", format!("give 1 to {MAX_PROMPTS} prompts (got {})", req.prompts.len())).into());
    }
    if !(1..=MAX_NEW_TOKENS).contains(&req.max_new_tokens) {
        return Err(ValidationError::new("max_new_tokens", format!("must be 1 to {MAX_NEW_TOKENS} (got {})", req.max_new_tokens)).into());
    }
    for (i, messages) in req.prompts.iter().enumerate() {
        if messages.is_empty() {
            return Err(ValidationError::new(&format!("prompts[{i}]"), "needs at least one message").into());
        }
        for (j, m) in messages.iter().enumerate() {
            let role = m.get("role").and_then(|r| r.as_str());
            if !matches!(role, Some("system" | "user" | "assistant")) || !m.get("content").is_some_and(|c| c.is_string()) {
                return Err(ValidationError::new(
                    &format!("prompts[{i}][{j}]"),
                    "each message needs a role (system, user or assistant) and a string content",
                )
                .into());
            }
        }
    }
    Ok(())
}

impl Services {
    /// Answers `req.prompts` with model `id`: a base model (`bm_…`) or a fine-tuned model
    /// (`mdl_…`). Needs `deploy_model` (it runs the weights) and is audited.
    pub async fn generate(&self, principal: &Principal, id: &str, req: GenerateRequest, ctx: &RequestContext) -> Result<Generation> {
        let training = &self.settings().training;
        let (base_files, base_id, adapter) = if id.starts_with("mdl_") {
            let model = self.get_model(principal, id).await?;
            let base = BaseModel::of(database::base_models::get_any(&mut *self.db().read().await?, &model.row.base_model_id).await?)?;
            (base.files, base.row.id, Some(model.files))
        } else {
            let base = self.get_base_model(principal, id).await?;
            if base.row.status != "ready" {
                return Err(Error::Conflict(format!("base model {id} is {}, not ready", base.row.status)));
            }
            (base.files, base.row.id, None)
        };
        principal.require(Permission::DeployModel)?;
        check(&req)?;
        let runtime = training.runtime.clone().ok_or_else(|| Error::Unavailable(super::RUNTIME_MISSING.into()))?;
        let model_dir = training.model_cache_dir.join(&base_id);
        self.materialize(&base_files, &model_dir).await?;
        let workdir = training.work_dir.join(format!("generate-{}", crate::crypto::random_token(8)));
        std::fs::create_dir_all(&workdir).map_err(internal)?;
        let outcome = self.generate_in(&runtime, &workdir, model_dir, adapter, &req).await;
        let _ = std::fs::remove_dir_all(&workdir);
        let (outputs, tokens, seconds) = outcome?;
        let event = AuditEvent::by(principal, "model.generate")
            .target(if id.starts_with("mdl_") { "model" } else { "base_model" }, id)
            .details(serde_json::json!({"prompts": req.prompts.len(), "tokens": tokens}));
        self.record_event(event, ctx).await?;
        Ok(Generation { model_id: id.to_string(), outputs, tokens, seconds })
    }

    async fn generate_in(
        &self,
        runtime: &executors::RuntimeCommand,
        workdir: &std::path::Path,
        model_dir: std::path::PathBuf,
        adapter: Option<Vec<StoredFile>>,
        req: &GenerateRequest,
    ) -> Result<(Vec<String>, u64, f64)> {
        let training = &self.settings().training;
        // A fine-tuned model is an adapter over its base (LoRA family) or whole weights (full).
        let (model_path, adapter_path) = match adapter {
            Some(files) if files.iter().any(|f| f.path == "adapter_config.json") => {
                let dir = workdir.join("adapter");
                self.materialize(&files, &dir).await?;
                (model_dir, Some(dir))
            }
            Some(files) => {
                let dir = workdir.join("model");
                self.materialize(&files, &dir).await?;
                (dir, None)
            }
            None => (model_dir, None),
        };
        let prompts: String = req.prompts.iter().map(|m| serde_json::json!({"messages": m}).to_string() + "\n").collect();
        let prompts_path = workdir.join("prompts.jsonl");
        std::fs::write(&prompts_path, prompts).map_err(internal)?;
        let output_path = workdir.join("answers.jsonl");
        let spec = executors::GenerateSpec {
            spec_version: executors::protocol::SPEC_VERSION,
            model_path,
            adapter_path,
            prompts_path,
            output_path: output_path.clone(),
            max_new_tokens: req.max_new_tokens,
            device: training.device.clone(),
            threads: training.threads,
        };
        let spec_path = workdir.join("spec.json");
        std::fs::write(&spec_path, serde_json::to_vec_pretty(&spec).map_err(internal)?).map_err(internal)?;
        let mut running = runtime.start("generate", &spec_path, workdir).map_err(|e| Error::Unavailable(e.to_string()))?;
        let (mut failure, mut summary) = (None, serde_json::Value::Null);
        while let Some(m) = running.messages.recv().await {
            if let Message::Event(e) = m {
                match e.kind {
                    EventKind::Failed { code, message, hint } => {
                        failure = Some(format!("{code}: {message}{}", hint.map(|h| format!(" ({h})")).unwrap_or_default()))
                    }
                    EventKind::Finished { summary: s, .. } => summary = serde_json::Value::Object(s),
                    _ => {}
                }
            }
        }
        let exit = running.wait().await;
        if exit.code != Some(0) {
            let reason = failure.unwrap_or_else(|| format!("the runtime exited with {:?}: {}", exit.code, exit.stderr_tail));
            return Err(Error::Internal(format!("generation failed: {reason}")));
        }
        let text = std::fs::read_to_string(&output_path).map_err(internal)?;
        let mut outputs = vec![None; req.prompts.len()];
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).map_err(|e| internal(format!("answers.jsonl: {e}")))?;
            let index = v["index"].as_u64().and_then(|i| usize::try_from(i).ok()).filter(|i| *i < outputs.len());
            let (Some(index), Some(output)) = (index, v["output"].as_str()) else {
                return Err(internal(format!("answers.jsonl: unexpected line {line}")));
            };
            outputs[index] = Some(output.to_string());
        }
        let outputs = outputs.into_iter().collect::<Option<Vec<_>>>().ok_or_else(|| internal("answers.jsonl misses an answer"))?;
        let (Some(tokens), Some(seconds)) = (summary["tokens"].as_u64(), summary["seconds"].as_f64()) else {
            return Err(internal(format!("the runtime's finished event lacks tokens or seconds: {summary}")));
        };
        Ok((outputs, tokens, seconds))
    }
}
