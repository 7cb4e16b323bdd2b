//! Base models: the catalog of popular open models (figures only), the models imported into
//! this installation (weights in the blob store), and the built-in model imported at start.

pub mod files;
mod hub;
mod import;
pub mod tokenizers;

pub use files::StoredFile;
pub(crate) use import::RUNTIME_MISSING;
pub use import::{ImportRequest, ImportSourceRequest, BUILTIN_NAME};

use crate::error::OrNotFound;
use crate::{Page, Principal, Result, Services};
use database::base_models::BaseModelRow;
use domain::catalog::CatalogModel;
use domain::model_spec::ModelSpec;
use domain::Permission;
use serde::{Deserialize, Serialize};

/// Filters of the catalog.
#[derive(Debug, Clone, Default)]
pub struct CatalogQuery {
    /// Matches repo id or family, case-insensitively.
    pub search: Option<String>,
    pub family: Option<String>,
    pub license: Option<String>,
    pub max_parameters: Option<u64>,
    pub min_context_length: Option<u32>,
}

/// A base model the caller can train, with its figures parsed.
#[derive(Debug, Clone)]
pub struct BaseModel {
    pub row: BaseModelRow,
    pub spec: Option<ModelSpec>,
    pub files: Vec<StoredFile>,
}

impl BaseModel {
    /// A stored row with its figures and manifest parsed; either not parsing is an error
    /// naming the model.
    pub(crate) fn of(row: BaseModelRow) -> crate::Result<BaseModel> {
        let spec = match row.spec.as_deref() {
            None => None,
            Some(s) => Some(
                serde_json::from_str(s)
                    .map_err(|e| crate::Error::Internal(format!("base model {}: the stored figures do not parse: {e}", row.id)))?,
            ),
        };
        let files = files::parse_manifest(&format!("base model {}", row.id), &row.files)?;
        Ok(BaseModel { row, spec, files })
    }
}

/// What the runtime reported when a training finished (its `finished` event's summary), kept
/// with the fine-tuned model. Each figure is absent where the run had none (no evaluation, no
/// step, or a runtime older than the figure).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrainingSummary {
    /// The last training step's loss.
    pub final_loss: Option<f64>,
    /// The last evaluation's loss on the validation set.
    pub eval_loss: Option<f64>,
    /// Optimizer steps taken.
    pub steps: Option<u64>,
    /// Real (non-padding) tokens trained on.
    pub tokens: Option<u64>,
    /// Wall-clock seconds of the run.
    pub seconds: Option<f64>,
    /// Real tokens per second over the run.
    pub tokens_per_second: Option<f64>,
    /// The precision trained in: `fp32`, `bf16` or `fp16`.
    pub precision: Option<String>,
    /// With `keep_best`: the step whose weights were kept, and its evaluation loss.
    pub best_step: Option<u64>,
    pub best_eval_loss: Option<f64>,
}

/// A fine-tuned model with its stored manifest, configuration and metrics parsed.
#[derive(Debug, Clone)]
pub struct FineTunedModel {
    pub row: database::models::ModelRow,
    pub files: Vec<StoredFile>,
    /// The training configuration of the job that made it.
    pub config: domain::training::TrainingConfig,
    /// Whether the LoRA was also stored merged into the base weights.
    pub merge_lora: bool,
    /// The built-in chat template it was trained through (none: the base model's own).
    pub chat_template: Option<String>,
    pub metrics: TrainingSummary,
}

impl FineTunedModel {
    /// A stored row with its configuration, metrics and manifest parsed; any of them not parsing
    /// is an error naming the model and the column.
    pub(crate) fn of(row: database::models::ModelRow) -> crate::Result<FineTunedModel> {
        let owner = format!("model {}", row.id);
        let corrupt = |column: &str, e: String| crate::Error::Internal(format!("{owner}: the stored {column} does not parse: {e}"));
        let stored = crate::training::stored_config(&row.config).map_err(|e| corrupt("configuration", e))?;
        let metrics = serde_json::from_str(&row.metrics).map_err(|e| corrupt("metrics", e.to_string()))?;
        let files = files::parse_manifest(&owner, &row.files)?;
        Ok(FineTunedModel {
            row,
            files,
            config: stored.config,
            merge_lora: stored.merge_lora,
            chat_template: stored.chat_template,
            metrics,
        })
    }
}

/// A stored checkpoint with its manifest parsed.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub row: database::jobs::CheckpointRow,
    pub files: Vec<StoredFile>,
}

impl Checkpoint {
    pub(crate) fn of(row: database::jobs::CheckpointRow) -> crate::Result<Checkpoint> {
        let files = files::parse_manifest(&format!("checkpoint {}", row.id), &row.files)?;
        Ok(Checkpoint { row, files })
    }
}

/// The catalog entries that match a query, smallest first within each family.
pub fn search_catalog(q: &CatalogQuery) -> Vec<CatalogModel> {
    let lower = |s: &str| s.to_lowercase();
    domain::catalog::catalog()
        .into_iter()
        .filter(|m| {
            q.search.as_deref().is_none_or(|s| lower(m.repo_id).contains(&lower(s)) || lower(m.family).contains(&lower(s)))
                && q.family.as_deref().is_none_or(|f| lower(m.family) == lower(f))
                && q.license.as_deref().is_none_or(|l| lower(m.license) == lower(l))
                && q.max_parameters.is_none_or(|p| m.spec.parameter_counts().total() <= p)
                && q.min_context_length.is_none_or(|c| m.spec.context_length >= c)
        })
        .collect()
}

impl Services {
    /// Base models the caller's organization can use (its own and the instance-wide ones).
    pub async fn list_base_models(&self, principal: &Principal, after: Option<&str>, limit: Option<i64>) -> Result<Page<BaseModel>> {
        principal.require(Permission::ViewMetrics)?;
        let limit = domain::validate::page_limit(limit)?;
        let rows = database::base_models::list(&mut *self.db().read().await?, &principal.organization_id, after, limit + 1).await?;
        let page = Page::from_rows(rows, limit);
        Ok(Page { items: page.items.into_iter().map(BaseModel::of).collect::<crate::Result<_>>()?, has_more: page.has_more })
    }

    pub async fn get_base_model(&self, principal: &Principal, id: &str) -> Result<BaseModel> {
        principal.require(Permission::ViewMetrics)?;
        let row =
            database::base_models::get(&mut *self.db().read().await?, &principal.organization_id, id).await.or_not_found("base model")?;
        BaseModel::of(row)
    }
}

impl Services {
    /// A base model's own chat template with its special tokens (from its stored
    /// `tokenizer_config.json`), as the runtime's tokenizer applies it.
    pub async fn base_model_chat_template(&self, principal: &Principal, id: &str) -> Result<chat_template::ChatTemplate> {
        let model = self.get_base_model(principal, id).await?;
        let source = model.row.chat_template.clone().ok_or_else(|| {
            crate::Error::from(domain::ValidationError::unprocessable("template", format!("base model {id} has no chat template")))
        })?;
        let mut config = serde_json::json!({});
        if let Some(file) = model.files.iter().find(|f| f.path == "tokenizer_config.json") {
            let (blobs, blob_id) = (self.blobs_handle(), file.blob_id.clone());
            let text = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut blobs.reader(&blob_id).map_err(std::io::Error::other)?, &mut text)?;
                Ok(text)
            })
            .await
            .map_err(crate::datasets::internal)?
            .map_err(crate::datasets::internal)?;
            config = serde_json::from_str(&text).unwrap_or(config);
        }
        config["chat_template"] = serde_json::Value::String(source);
        chat_template::ChatTemplate::from_tokenizer_config(&config.to_string())
            .map_err(|e| domain::ValidationError::unprocessable("template", format!("the chat template of base model {id}: {e}")).into())
    }
}

impl Services {
    /// Deletes a fine-tuned model (`delete_model` in its project): its files, and the deployments
    /// serving it, stopped and deleted with it (409 while a traffic split sends requests to one
    /// of them, or one is in a project where the caller may not deploy). The job that made it
    /// keeps the record of it; its checkpoints stay.
    pub async fn delete_model(&self, principal: &Principal, id: &str, ctx: &crate::RequestContext) -> Result<()> {
        use crate::audit::{append, AuditEvent};
        use crate::Error;
        principal.require(Permission::DeleteModel)?;
        let model = self.get_model(principal, id).await?;
        self.require_in(principal, model.row.project_id.as_deref(), Permission::DeleteModel).await.or_not_found("model")?;
        let released: Vec<String> = model.files.iter().map(|f| f.blob_id.clone()).collect();
        let org = &principal.organization_id;
        let mut tx = self.db().begin_write().await?;
        let deployments = database::deployments::serving_model(tx.conn(), id).await?;
        for d in &deployments {
            database::deployments::lock(tx.conn(), &d.id).await?;
            if self.check_deployment_access(principal, d, Permission::DeployModel).await.is_err() {
                return Err(Error::Conflict(format!("deployment {} serves this model and these credentials may not delete it", d.name)));
            }
            if let Some(s) = database::traffic::using_deployment(tx.conn(), org, &d.id).await?.first() {
                return Err(Error::Conflict(format!(
                    "traffic split {} sends requests to deployment {} of this model: change or delete it first",
                    s.name, d.name
                )));
            }
            database::deployments::delete(tx.conn(), &d.id).await?;
            let event = AuditEvent::by(principal, "deployment.delete")
                .target("deployment", &d.id)
                .details(serde_json::json!({"name": d.name, "with_model": id}));
            append(tx.conn(), self.derived_keys(), event, ctx).await?;
        }
        database::models::delete(tx.conn(), org, id).await.or_not_found("model")?;
        let event = AuditEvent::by(principal, "model.delete")
            .target("model", id)
            .details(serde_json::json!({"name": model.row.name, "bytes": model.row.size_bytes, "deployments": deployments.len()}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        for d in &deployments {
            self.release_backend(d, 0).await;
        }
        self.collect_blobs(released).await;
        Ok(())
    }
}
