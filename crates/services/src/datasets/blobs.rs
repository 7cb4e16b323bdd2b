//! Streaming bytes into the blob store from async code, with the organization's storage quota
//! reserved as the bytes arrive.

use crate::blob_holds::BlobHold;
use crate::{Error, Result, Services};
use blob_store::BlobInfo;
use std::io::Write;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Bytes reserved from the quota at a time while a stream of unknown length arrives.
const RESERVE_STEP: i64 = 16 * 1024 * 1024;

/// An upload in progress into the blob store. Write chunks, then `finish`; dropping it (or an
/// error) discards what was written and releases the reservation with `release`.
pub struct BlobUpload {
    services: Services,
    organization_id: String,
    tx: Option<mpsc::Sender<Vec<u8>>>,
    task: Option<JoinHandle<std::result::Result<(BlobInfo, BlobHold), String>>>,
    /// Bytes written so far.
    pub written: i64,
    /// Bytes of quota this upload holds.
    pub reserved: i64,
    /// Whether writing reserves quota (false when the bytes were reserved up front).
    charge_quota: bool,
    /// The most this upload may write.
    pub limit: i64,
}

impl Services {
    /// Starts writing a blob for `organization_id`, at most `limit` bytes; with `charge_quota`
    /// the organization's storage is reserved as bytes arrive.
    pub(crate) fn blob_upload(&self, organization_id: &str, charge_quota: bool, limit: i64) -> Result<BlobUpload> {
        // Every blob-store call runs on a blocking thread: the store does file (or S3) I/O.
        let (blobs, holds) = (self.blobs_handle(), self.blob_holds());
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(8);
        let task = tokio::task::spawn_blocking(move || {
            let mut writer = blobs.writer().map_err(|e| e.to_string())?;
            while let Some(chunk) = rx.blocking_recv() {
                writer.write_all(&chunk).map_err(|e| e.to_string())?;
            }
            let sealed = writer.seal().map_err(|e| e.to_string())?;
            crate::blob_holds::commit_held(&holds, sealed).map_err(|e| e.to_string())
        });
        Ok(BlobUpload {
            services: self.clone(),
            organization_id: organization_id.to_string(),
            tx: Some(tx),
            task: Some(task),
            written: 0,
            reserved: 0,
            charge_quota,
            limit,
        })
    }
}

pub(crate) fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

impl BlobUpload {
    /// Writes a chunk, reserving more quota as needed.
    pub async fn write(&mut self, chunk: Vec<u8>) -> Result<()> {
        let len = chunk.len() as i64;
        if self.written + len > self.limit {
            return Err(Error::TooLarge(format!("the file is larger than the limit of {} bytes", self.limit)));
        }
        while self.charge_quota && self.written + len > self.reserved {
            let step = RESERVE_STEP.max(len);
            if !self.services.reserve_storage(&self.organization_id, step).await? {
                return Err(self.services.quota_error(&self.organization_id, step).await);
            }
            self.reserved += step;
        }
        let tx = self.tx.as_ref().ok_or_else(|| Error::Internal("upload already finished".into()))?;
        if tx.send(chunk).await.is_err() {
            // The writer stopped: its error is reported by `finish`.
            return Err(self.fail().await);
        }
        self.written += len;
        Ok(())
    }

    async fn fail(&mut self) -> Error {
        self.tx = None;
        match self.task.take() {
            Some(t) => match t.await {
                Ok(Err(e)) => Error::Internal(e),
                Err(e) => internal(e),
                Ok(Ok(_)) => Error::Internal("blob writer ended early".into()),
            },
            None => Error::Internal("blob writer missing".into()),
        }
    }

    /// Completes the blob: its id (plaintext SHA-256) and size, and a hold on it to keep until
    /// the rows that reference it are committed.
    pub async fn finish(mut self) -> Result<(BlobInfo, BlobHold)> {
        self.tx = None;
        let task = self.task.take().ok_or_else(|| Error::Internal("blob writer missing".into()))?;
        task.await.map_err(internal)?.map_err(Error::Internal)
    }

    /// Gives back the quota this upload holds (after a failure).
    pub async fn release(self) -> Result<()> {
        let (services, org, reserved) = (self.services.clone(), self.organization_id.clone(), self.reserved);
        drop(self);
        services.release_storage(&org, reserved).await
    }
}

impl Services {
    pub(crate) async fn reserve_storage(&self, org: &str, bytes: i64) -> Result<bool> {
        let mut tx = self.db().begin_write().await?;
        let ok = database::uploads::reserve(tx.conn(), org, bytes, self.settings().storage_quota_bytes).await?;
        tx.commit().await?;
        Ok(ok)
    }

    pub(crate) async fn release_storage(&self, org: &str, bytes: i64) -> Result<()> {
        if bytes == 0 {
            return Ok(());
        }
        let mut tx = self.db().begin_write().await?;
        database::uploads::account(tx.conn(), org, -bytes, 0).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn quota_error(&self, org: &str, wanted: i64) -> Error {
        match database::uploads::storage(&mut *match self.db().read().await {
            Ok(c) => c,
            Err(e) => return e.into(),
        }, org)
        .await
        {
            Ok((used, reserved, quota)) => Error::QuotaExceeded(format!(
                "the organization's storage quota of {} bytes is full: {used} used, {reserved} held by uploads in progress, {wanted} more needed",
                quota.unwrap_or(self.settings().storage_quota_bytes)
            )),
            Err(e) => e.into(),
        }
    }

    /// Deletes blobs that nothing references any more (after the transaction that dropped
    /// their last reference committed): each id is marked first (skipped while a writer holds
    /// it, see `blob_holds`), then its references are checked in the database, then the file
    /// goes. Failures are logged: an orphan blob wastes space but loses nothing.
    pub(crate) async fn collect_blobs(&self, ids: Vec<String>) {
        for id in ids {
            let Some(mark) = self.blob_holds().mark_for_delete(&id) else { continue };
            let in_use = match self.db().read().await {
                Ok(mut c) => database::datasets::blob_in_use(&mut c, &id).await.unwrap_or(true),
                Err(_) => true,
            };
            if !in_use {
                let blobs = self.blobs_handle();
                let deleted = tokio::task::spawn_blocking(move || blobs.delete(&id).map_err(|e| (id, e.to_string()))).await;
                if let Ok(Err((id, e))) = deleted {
                    tracing::warn!(blob = %id, error = %e, "could not delete an unused blob");
                }
            }
            drop(mark);
        }
    }
}

/// A blob's plaintext at any offset, for the dataset readers that must seek: Parquet of any
/// size is read in place, its chunks decrypted as they are read. Opened only when the blob is
/// Parquet, or its format is not known yet (`container` None); other formats stream. Blocking.
pub(crate) fn random_access(
    blobs: &blob_store::BlobStore,
    id: &str,
    container: Option<::datasets::Container>,
) -> Result<Option<std::sync::Arc<dyn ::datasets::RandomAccess>>> {
    if container.is_some_and(|c| c != ::datasets::Container::Parquet) {
        return Ok(None);
    }
    Ok(Some(std::sync::Arc::new(RandomBlob(blobs.random_access(id).map_err(internal)?))))
}

struct RandomBlob(blob_store::BlobRandomAccess);

impl ::datasets::RandomAccess for RandomBlob {
    fn size(&self) -> u64 {
        self.0.size()
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.0.read_exact_at(offset, buf)
    }
}
