//! Random access to a blob's plaintext: any byte range, decrypting only the chunks it covers
//! (for formats that keep their index at the end, such as Parquet, read in place instead of
//! whole). Every chunk read is authenticated with its index and last-chunk flag, so bytes are
//! never returned from an altered, moved or truncated file; what a random reader cannot check
//! is the hash of the whole content, which the streaming [`crate::BlobReader`] does.

use crate::cipher::Cipher;
use crate::error::{Error, Result};
use crate::format::{chunk_count, chunk_nonce, DataHeader, HEADER_LEN, TAG_LEN};
use crate::fsio::io_err;
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::Mutex;

/// Where the sealed bytes are read from, at any offset.
pub(crate) enum RangeSource {
    File(File),
    /// The store (whose S3 backend serves ranged GETs) and the blob id.
    #[cfg(feature = "s3")]
    S3 {
        store: std::sync::Arc<crate::store::Inner>,
        id: String,
    },
}

impl RangeSource {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        match self {
            RangeSource::File(file) => read_exact_at(file, buf, offset),
            #[cfg(feature = "s3")]
            RangeSource::S3 { store, id } => {
                let backend = store.s3_backend().ok_or_else(|| io::Error::other("the store has no S3 backend"))?;
                let bytes = backend.read_data_range(id, offset..offset + buf.len() as u64).map_err(io::Error::from)?;
                if bytes.len() != buf.len() {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                buf.copy_from_slice(&bytes);
                Ok(())
            }
        }
    }
}

/// Reads any range of one blob's plaintext; safe to share between threads. Holds the most
/// recently decrypted chunk, so small reads in order cost one decryption per chunk.
pub struct BlobRandomAccess {
    id: String,
    path: PathBuf,
    source: RangeSource,
    cipher: Cipher,
    header: [u8; HEADER_LEN],
    parsed: DataHeader,
    size: u64,
    chunks: u64,
    /// (chunk index, plaintext) of the last chunk decrypted.
    last: Mutex<Option<(u64, Vec<u8>)>>,
}

impl std::fmt::Debug for BlobRandomAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobRandomAccess").field("id", &self.id).field("size", &self.size).finish()
    }
}

impl BlobRandomAccess {
    pub(crate) fn new(
        id: &str,
        path: PathBuf,
        source: RangeSource,
        cipher: Cipher,
        header: [u8; HEADER_LEN],
        parsed: DataHeader,
        size: u64,
    ) -> Self {
        let chunks = chunk_count(size, parsed.chunk_size);
        BlobRandomAccess { id: id.to_string(), path, source, cipher, header, parsed, size, chunks, last: Mutex::new(None) }
    }

    /// Reads the header of a data file at offset 0.
    pub(crate) fn read_header(source: &RangeSource, path: &std::path::Path) -> Result<[u8; HEADER_LEN]> {
        let mut header = [0u8; HEADER_LEN];
        source.read_exact_at(0, &mut header).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => Error::corrupt("data file shorter than its header", path.display().to_string()),
            _ => io_err("read", path)(e),
        })?;
        Ok(header)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Plaintext size of the blob.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Fills `buf` with the plaintext at `offset`; `UnexpectedEof` past the end, and an
    /// [`Error::Corrupt`] (inside the `io::Error`) for a chunk that fails authentication.
    pub fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = offset.checked_add(buf.len() as u64).filter(|&end| end <= self.size).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} bytes at {offset} reach past the end of a {}-byte blob", buf.len(), self.size),
            )
        })?;
        let chunk_size = u64::from(self.parsed.chunk_size);
        let mut at = offset;
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        while at < end {
            let index = at / chunk_size;
            if last.as_ref().is_none_or(|(i, _)| *i != index) {
                *last = Some((index, self.open_chunk(index)?));
            }
            let plain = &last.as_ref().expect("just loaded").1;
            let from = (at - index * chunk_size) as usize;
            let n = (plain.len() - from).min((end - at) as usize);
            let to = (at - offset) as usize;
            buf[to..to + n].copy_from_slice(&plain[from..from + n]);
            at += n as u64;
        }
        Ok(())
    }

    /// Reads and authenticates chunk `index`; its plaintext.
    fn open_chunk(&self, index: u64) -> Result<Vec<u8>> {
        let chunk_size = u64::from(self.parsed.chunk_size);
        let is_last = index + 1 == self.chunks;
        let plain_len = if is_last { self.size - index * chunk_size } else { chunk_size } as usize;
        let offset = HEADER_LEN as u64 + index * (chunk_size + TAG_LEN as u64);
        let mut sealed = vec![0u8; plain_len + TAG_LEN];
        let location = || format!("{}, chunk {index} at byte {offset}", self.path.display());
        self.source.read_exact_at(offset, &mut sealed).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => Error::corrupt("data file ends inside this chunk (truncated)", location()),
            _ => io_err("read", &self.path)(e),
        })?;
        let nonce = chunk_nonce(&self.parsed.stream_prefix, index as u32, is_last);
        if self.cipher.open(&nonce, &self.header, &mut sealed).is_err() {
            return Err(Error::corrupt(
                format!("chunk {index} of {} failed authentication (altered bytes, moved chunks, or data of another blob)", self.chunks),
                location(),
            ));
        }
        sealed.truncate(plain_len);
        Ok(sealed)
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(file, buf, offset)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}
