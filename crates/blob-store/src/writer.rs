//! Streaming writes: hash the plaintext as it arrives, seal it chunk by chunk into a temp file,
//! then commit it under the content's id.

use crate::error::{Error, Result};
use crate::format::{DataHeader, CHUNK_SIZE, PREFIX_LEN};
use crate::fsio::TempFile;
use crate::keys::DataKey;
use crate::seal::ChunkSealer;
use crate::store::{BlobInfo, Inner};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

/// A written and sealed blob whose id is known, not yet stored under it: [`SealedBlob::commit`]
/// stores it (or finds it stored already, and discards this copy); dropping it discards it.
pub struct SealedBlob {
    store: Arc<Inner>,
    temp: TempFile,
    data_key: DataKey,
    id: String,
    size: u64,
}

impl SealedBlob {
    /// The plaintext's SHA-256: the id the blob is stored under.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Moves the sealed file into place under its id; a blob stored already keeps its copy. A
    /// blob deleted since another writer stored the same content is stored again.
    pub fn commit(self) -> Result<BlobInfo> {
        let SealedBlob { store, temp, data_key, id, size } = self;
        store.commit(temp, &id, size, &data_key)?;
        Ok(BlobInfo { id, size })
    }
}

/// Writes one blob: `std::io::Write` the plaintext, then [`BlobWriter::finish`] to store it
/// under its SHA-256. Memory is a few chunks (see the crate header); nothing but ciphertext
/// reaches the disk. Dropping the writer without finishing (or calling [`BlobWriter::abort`])
/// stops its workers and removes its temp file.
pub struct BlobWriter {
    store: Arc<Inner>,
    // Declared before `temp`: dropped (workers joined) before the temp file is removed.
    sealer: ChunkSealer,
    temp: TempFile,
    data_key: DataKey,
    /// Plaintext of the chunk being filled (capacity for its tag reserved).
    chunk: Vec<u8>,
    hasher: Sha256,
    size: u64,
    failed: Option<String>,
}

impl BlobWriter {
    pub(crate) fn create(store: Arc<Inner>) -> Result<Self> {
        let (temp, file) = store.create_temp("data")?;
        let data_key = DataKey::generate();
        let mut stream_prefix = [0u8; PREFIX_LEN];
        OsRng.fill_bytes(&mut stream_prefix);
        let header = DataHeader { chunk_size: CHUNK_SIZE as u32, stream_prefix, blob_nonce: data_key.blob_nonce }.encode();
        let sealer = ChunkSealer::new(file, temp.path().to_path_buf(), data_key.cipher(), header, stream_prefix)?;
        let chunk = sealer.buffer();
        Ok(BlobWriter { store, sealer, temp, data_key, chunk, hasher: Sha256::new(), size: 0, failed: None })
    }

    /// Plaintext bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.size
    }

    /// Seals the last chunk, fsyncs, and moves the blob into place under its id. If the blob is
    /// already stored, the new copy is discarded.
    pub fn finish(self) -> Result<BlobInfo> {
        self.seal()?.commit()
    }

    /// Seals the last chunk and fsyncs: the id is known, the blob not yet stored under it. The
    /// caller can then hold the id (so that a concurrent delete of an identical blob cannot
    /// remove what it is about to reference) before [`SealedBlob::commit`].
    pub fn seal(mut self) -> Result<SealedBlob> {
        if let Some(reason) = self.failed.take() {
            return Err(Error::WriterFailed { reason });
        }
        let last = std::mem::take(&mut self.chunk);
        self.sealer.seal(last, true)?;
        let id = hex::encode(std::mem::take(&mut self.hasher).finalize());
        let BlobWriter { store, sealer, temp, data_key, size, .. } = self;
        sealer.finish()?;
        Ok(SealedBlob { store, temp, data_key, id, size })
    }

    /// Abandons the blob and removes its temp file (the same as dropping the writer).
    pub fn abort(self) {}

    pub(crate) fn temp_path(&self) -> &Path {
        self.temp.path()
    }

    pub(crate) fn write_inner(&mut self, mut buf: &[u8]) -> Result<()> {
        while !buf.is_empty() {
            // A full chunk is sealed only when more bytes arrive: the last chunk is sealed by
            // `finish` with the last-chunk flag, even when it is full.
            if self.chunk.len() == CHUNK_SIZE {
                let full = std::mem::replace(&mut self.chunk, self.sealer.buffer());
                self.sealer.seal(full, false)?;
            }
            let take = (CHUNK_SIZE - self.chunk.len()).min(buf.len());
            let (head, rest) = buf.split_at(take);
            self.hasher.update(head);
            self.chunk.extend_from_slice(head);
            self.size += take as u64;
            buf = rest;
        }
        Ok(())
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(reason) = &self.failed {
            return Err(Error::WriterFailed { reason: reason.clone() }.into());
        }
        match self.write_inner(buf) {
            Ok(()) => Ok(buf.len()),
            Err(e) => {
                self.failed = Some(e.to_string());
                Err(e.into())
            }
        }
    }

    /// Chunks are written when sealed; there is nothing to flush early (durability comes with
    /// `finish`).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
