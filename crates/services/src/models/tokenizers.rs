//! Token counters by name: a base model's own `tokenizer.json` (read from the blob store and
//! kept loaded for later requests), or, with no name, the server's `--tokenizer-file`.

use crate::datasets::internal;
use crate::error::OrNotFound;
use crate::{Error, Result, Services};
use ::datasets::TokenCounter;
use domain::ValidationError;
use std::sync::Arc;

/// Loaded tokenizers kept (each a few MB in memory).
pub(crate) const KEPT_TOKENIZERS: usize = 4;

/// A token counter and whose tokenizer it is.
#[derive(Clone)]
pub struct CounterChoice {
    pub counter: Arc<dyn TokenCounter>,
    /// The base model whose `tokenizer.json` counts; `None` for the server's tokenizer.
    pub base_model_id: Option<String>,
}

impl Services {
    /// The counter for `base_model_id`'s tokenizer (a model of the caller's organization, ready,
    /// with a `tokenizer.json`), or the server's when `None`; `Ok(None)` when no id is given
    /// and the server has no tokenizer. `field` names the request field in errors.
    pub(crate) async fn token_counter_for(&self, org: &str, base_model_id: Option<&str>, field: &str) -> Result<Option<CounterChoice>> {
        let Some(id) = base_model_id else {
            return Ok(self.token_counter().map(|counter| CounterChoice { counter, base_model_id: None }));
        };
        let row = database::base_models::get(&mut *self.db().read().await?, org, id).await.or_not_found("base model")?;
        if row.status != "ready" {
            return Err(ValidationError::unprocessable(field, format!("base model {id} is not ready (it is {})", row.status)).into());
        }
        let model = super::BaseModel::of(row)?;
        let file = model.files.iter().find(|f| f.path == "tokenizer.json").ok_or_else(|| {
            Error::from(ValidationError::unprocessable(field, format!("base model {id} has no tokenizer.json to count tokens with")))
        })?;
        // Keyed by the file's content: models with the same tokenizer share one.
        if let Some(counter) = self.inner_tokenizers().get(&file.blob_id) {
            return Ok(Some(CounterChoice { counter, base_model_id: Some(id.to_string()) }));
        }
        let (blobs, blob_id) = (self.blobs_handle(), file.blob_id.clone());
        let loaded = tokio::task::spawn_blocking(move || -> Result<Arc<dyn TokenCounter>> {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut blobs.reader(&blob_id).map_err(internal)?, &mut bytes).map_err(internal)?;
            Ok(Arc::new(tokenizer::ModelTokenizer::from_bytes(&bytes).map_err(|e| internal(format!("tokenizer.json: {e}")))?))
        })
        .await
        .map_err(internal)??;
        self.inner_tokenizers().put(file.blob_id.clone(), loaded.clone());
        Ok(Some(CounterChoice { counter: loaded, base_model_id: Some(id.to_string()) }))
    }
}
