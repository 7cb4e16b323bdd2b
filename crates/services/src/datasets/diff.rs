//! Comparing two versions of a dataset record by record: which canonical records one has that
//! the other lacks (as multisets), with a few examples of each.

use crate::datasets::blobs::internal;
use crate::{Principal, Result, Services};
use database::datasets::VersionRow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

const EXAMPLES: usize = 5;
const EXCERPT_CHARS: usize = 300;

/// One record named in a diff.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct DiffExample {
    /// Index of the record in its version.
    pub index: usize,
    pub line: u64,
    /// The canonical record, shortened.
    pub excerpt: String,
}

/// What changed between two versions of a dataset, record by record.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct VersionDiff {
    pub object: &'static str,
    pub from_version: i64,
    pub to_version: i64,
    /// Records in `to` and not in `from` (as multisets of canonical records).
    pub added: u64,
    /// Records in `from` and not in `to`.
    pub removed: u64,
    pub unchanged: u64,
    /// Up to five of each, in order.
    pub added_examples: Vec<DiffExample>,
    pub removed_examples: Vec<DiffExample>,
}

fn record_hash(canonical: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    canonical.hash(&mut h);
    h.finish()
}

fn excerpt(s: &str) -> String {
    let mut e: String = s.chars().take(EXCERPT_CHARS).collect();
    if s.chars().count() > EXCERPT_CHARS {
        e.push('…');
    }
    e
}

/// Calls `f(index, line, canonical JSON)` for every valid record of a version.
fn each_record(blobs: &blob_store::BlobStore, v: &VersionRow, mut f: impl FnMut(usize, u64, String)) -> Result<()> {
    super::scan_version(blobs, v, |index, line, record| f(index, line, record.to_openai_json()))
}

fn diff(blobs: &blob_store::BlobStore, from: &VersionRow, to: &VersionRow) -> Result<VersionDiff> {
    let mut counts: HashMap<u64, u32> = HashMap::new();
    each_record(blobs, from, |_, _, c| *counts.entry(record_hash(&c)).or_default() += 1)?;
    let (mut added, mut unchanged, mut added_examples) = (0u64, 0u64, Vec::new());
    each_record(blobs, to, |index, line, c| match counts.get_mut(&record_hash(&c)) {
        Some(n) if *n > 0 => {
            *n -= 1;
            unchanged += 1;
        }
        _ => {
            added += 1;
            if added_examples.len() < EXAMPLES {
                added_examples.push(DiffExample { index, line, excerpt: excerpt(&c) });
            }
        }
    })?;
    let removed: u64 = counts.values().map(|n| u64::from(*n)).sum();
    let mut removed_examples = Vec::new();
    if removed > 0 {
        each_record(blobs, from, |index, line, c| {
            if removed_examples.len() < EXAMPLES {
                if let Some(n) = counts.get_mut(&record_hash(&c)).filter(|n| **n > 0) {
                    *n -= 1;
                    removed_examples.push(DiffExample { index, line, excerpt: excerpt(&c) });
                }
            }
        })?;
    }
    Ok(VersionDiff {
        object: "dataset.diff",
        from_version: from.version,
        to_version: to.version,
        added,
        removed,
        unchanged,
        added_examples,
        removed_examples,
    })
}

impl Services {
    /// What changed from version `from` to version `to` of a dataset.
    pub async fn diff_versions(&self, principal: &Principal, id: &str, from: i64, to: i64) -> Result<VersionDiff> {
        let a = self.get_version(principal, id, from).await?;
        let b = self.get_version(principal, id, to).await?;
        let blobs: Arc<blob_store::BlobStore> = self.blobs_handle();
        tokio::task::spawn_blocking(move || diff(&blobs, &a, &b)).await.map_err(internal)?
    }
}
