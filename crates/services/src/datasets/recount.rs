//! Statistics counted anew: a version's token figures with another tokenizer (a base model's
//! own `tokenizer.json`) or another truncation limit. One streaming pass over the version; the
//! result is kept for the next request (versions are immutable, so it never goes stale).

use crate::datasets::internal;
use crate::{Principal, Result, Services};
use database::datasets::VersionRow;
use datasets::{FormatSpec, ScanOptions};
use domain::ValidationError;
use std::io::BufReader;

/// Recounted statistics kept in memory (each a few KB).
pub(crate) const RECOUNTS_KEPT: usize = 64;

/// Largest truncation limit a recount takes.
const MAX_TOKENS_LIMIT: usize = 1 << 20;

/// How to count: the stored report when both are absent.
#[derive(Debug, Clone, Default)]
pub struct StatsOptions {
    /// Count tokens with this base model's tokenizer (`bm_…`) instead of the server's.
    pub tokenizer: Option<String>,
    /// Report the share of records over this many tokens instead of the server's default.
    pub max_tokens: Option<usize>,
}

/// A version's statistics and whose tokenizer counted its tokens.
#[derive(Debug, Clone)]
pub struct VersionStats {
    pub version: VersionRow,
    pub summary: datasets::Summary,
    pub stats: datasets::Stats,
    /// The base model whose tokenizer counted (`None`: the server's tokenizer, if any).
    pub tokenizer: Option<String>,
}

impl Services {
    /// A version's statistics: as stored at upload, or recounted per `options`.
    pub async fn version_stats(&self, principal: &Principal, id: &str, version: i64, options: StatsOptions) -> Result<VersionStats> {
        if let Some(max) = options.max_tokens.filter(|&m| m == 0 || m > MAX_TOKENS_LIMIT) {
            return Err(ValidationError::new("max_tokens", format!("must be between 1 and {MAX_TOKENS_LIMIT}, found {max}")).into());
        }
        if options.tokenizer.is_none() && options.max_tokens.is_none() {
            let (v, report) = self.version_report(principal, id, version).await?;
            let (summary, stats) = parse_stats(&v, &report)?;
            return Ok(VersionStats { version: v, summary, stats, tokenizer: None });
        }
        let v = self.get_version(principal, id, version).await?;
        let Some(choice) = self.token_counter_for(&principal.organization_id, options.tokenizer.as_deref(), "tokenizer").await? else {
            return Err(ValidationError::unprocessable(
                "tokenizer",
                "this server counts no tokens by default (no --tokenizer-file): name a base model in `tokenizer`",
            )
            .into());
        };
        let max_tokens = options.max_tokens.unwrap_or(self.settings().max_tokens_per_record);
        let key = format!("{}|{}|{max_tokens}", v.id, choice.base_model_id.as_deref().unwrap_or("-"));
        let report = match self.inner_recounts().get(&key) {
            Some(report) => report,
            None => {
                let (blobs, blob_id) = (self.blobs_handle(), v.blob_id.clone());
                let spec: FormatSpec = serde_json::from_str(&v.format).map_err(internal)?;
                let counter = choice.counter.clone();
                let report = tokio::task::spawn_blocking(move || -> Result<serde_json::Value> {
                    let reader = BufReader::with_capacity(1 << 20, blobs.reader(&blob_id).map_err(internal)?);
                    let random_access = crate::datasets::blobs::random_access(&blobs, &blob_id, Some(spec.container))?;
                    let options = ScanOptions {
                        format: Some(spec),
                        token_counter: Some(counter.as_ref()),
                        max_tokens: Some(max_tokens),
                        random_access,
                        ..ScanOptions::default()
                    };
                    let report = datasets::scan(reader, &options, |_, _, _| {}).map_err(internal)?;
                    Ok(serde_json::json!({"summary": report.summary, "stats": report.stats}))
                })
                .await
                .map_err(internal)??;
                self.inner_recounts().put(key, report.clone());
                report
            }
        };
        let (summary, stats) = parse_stats(&v, &report)?;
        Ok(VersionStats { version: v, summary, stats, tokenizer: choice.base_model_id })
    }
}

/// A report's summary and statistics, typed; a part that does not parse is an error naming the
/// version and the part.
fn parse_stats(v: &VersionRow, report: &serde_json::Value) -> Result<(datasets::Summary, datasets::Stats)> {
    let part = |name: &str| {
        let at = format!("the stored report of dataset {} version {}: {name}", v.dataset_id, v.version);
        (report[name].clone(), at)
    };
    let (summary, at) = part("summary");
    let summary = serde_json::from_value(summary).map_err(|e| crate::Error::Internal(format!("{at}: {e}")))?;
    let (stats, at) = part("stats");
    let stats = serde_json::from_value(stats).map_err(|e| crate::Error::Internal(format!("{at}: {e}")))?;
    Ok((summary, stats))
}
