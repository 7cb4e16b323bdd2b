//! Streaming reads: decrypt and authenticate chunk by chunk, check the content hash at the end.

use crate::cipher::Cipher;
use crate::error::{Error, Result};
use crate::format::{chunk_count, chunk_nonce, data_file_len, DataHeader, KeyFile, HEADER_LEN, TAG_LEN};
use crate::fsio::io_err;
use crate::keys::DataKey;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Where a reader's sealed bytes come from: a local data file or (feature `s3`) an object's body.
pub(crate) enum Source {
    File(File),
    #[cfg(feature = "s3")]
    S3(crate::s3::S3Body),
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::File(file) => file.read(buf),
            #[cfg(feature = "s3")]
            Source::S3(body) => body.read(buf),
        }
    }
}

/// Reads one blob's plaintext through `std::io::Read`. Every chunk is authenticated before its
/// bytes are returned, and the final chunk's bytes are returned only once the whole content
/// hashed to the blob id. Any tampering (altered bytes, truncated, extended, dropped or
/// reordered chunks, a key file of another blob) fails the read with [`Error::Corrupt`], carried
/// in the `io::Error` (see [`Error::from_io`]). Memory is one chunk.
pub struct BlobReader {
    id: String,
    path: PathBuf,
    file: Source,
    cipher: Cipher,
    header: [u8; HEADER_LEN],
    parsed: DataHeader,
    size: u64,
    chunks: u64,
    next_chunk: u64,
    /// Decrypted plaintext of the current chunk; `buf[pos..]` is not yet returned.
    buf: Vec<u8>,
    pos: usize,
    hasher: Sha256,
    /// The message of the failure that ended this reader; later reads fail the same way.
    failed: Option<String>,
}

impl BlobReader {
    /// A reader over the open data file `file` (`len` bytes long) of blob `id`, whose key file
    /// has been unwrapped.
    pub(crate) fn new(id: &str, path: PathBuf, mut file: Source, len: u64, key_file: &KeyFile, data_key: &DataKey) -> Result<Self> {
        let mut header = [0u8; HEADER_LEN];
        file.read_exact(&mut header).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => Error::corrupt("data file shorter than its header", path.display().to_string()),
            _ => io_err("read", &path)(e),
        })?;
        let parsed = check_header(&header, len, key_file, data_key, &path)?;
        Ok(BlobReader {
            id: id.to_string(),
            path,
            file,
            cipher: data_key.cipher(),
            header,
            size: key_file.size,
            chunks: chunk_count(key_file.size, parsed.chunk_size),
            parsed,
            next_chunk: 0,
            buf: Vec::new(),
            pos: 0,
            hasher: Sha256::new(),
            failed: None,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Plaintext size of the blob.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn corrupt(&self, what: String, index: u64) -> Error {
        let chunk_size = u64::from(self.parsed.chunk_size);
        let offset = HEADER_LEN as u64 + index * (chunk_size + TAG_LEN as u64);
        Error::corrupt(what, format!("{}, chunk {index} at byte {offset}", self.path.display()))
    }

    /// Reads, authenticates and decrypts the next chunk into `buf`.
    fn load_next(&mut self) -> Result<()> {
        let index = self.next_chunk;
        let last = index + 1 == self.chunks;
        let chunk_size = u64::from(self.parsed.chunk_size);
        let plain_len = if last { self.size - index * chunk_size } else { chunk_size } as usize;
        self.buf.resize(plain_len + TAG_LEN, 0);
        if let Err(e) = self.file.read_exact(&mut self.buf) {
            return Err(match e.kind() {
                io::ErrorKind::UnexpectedEof => self.corrupt("data file ends inside this chunk (truncated)".into(), index),
                _ => io_err("read", &self.path)(e),
            });
        }
        let nonce = chunk_nonce(&self.parsed.stream_prefix, index as u32, last);
        if self.cipher.open(&nonce, &self.header, &mut self.buf).is_err() {
            return Err(self.corrupt(
                format!(
                    "chunk {index} of {} failed authentication (altered bytes, reordered or dropped chunks, or data of another blob)",
                    self.chunks
                ),
                index,
            ));
        }
        self.buf.truncate(plain_len);
        self.hasher.update(&self.buf);
        self.pos = 0;
        self.next_chunk += 1;
        if last {
            let mut extra = [0u8; 1];
            if self.file.read(&mut extra).map_err(io_err("read", &self.path))? != 0 {
                return Err(self.corrupt("bytes after the last chunk".into(), index + 1));
            }
            let digest = hex::encode(std::mem::take(&mut self.hasher).finalize());
            if digest != self.id {
                self.buf.clear();
                return Err(self.corrupt(format!("content hashes to {digest}, not to the blob id"), index));
            }
        }
        Ok(())
    }
}

/// Checks a data file's header against its key file: the header parses, belongs to this key
/// file, and the file has the length its plaintext size implies (not truncated or extended).
pub(crate) fn check_header(header: &[u8; HEADER_LEN], len: u64, key_file: &KeyFile, data_key: &DataKey, path: &Path) -> Result<DataHeader> {
    let location = path.display().to_string();
    let parsed = DataHeader::decode(header).map_err(|what| Error::corrupt(what, location.clone()))?;
    if parsed.blob_nonce != data_key.blob_nonce {
        return Err(Error::corrupt("data file does not belong to this key file (blob nonce differs)", location));
    }
    let expected = data_file_len(key_file.size, parsed.chunk_size);
    if len != expected {
        return Err(Error::corrupt(
            format!("data file is {len} bytes, expected {expected} for {} plaintext bytes (truncated or extended)", key_file.size),
            location,
        ));
    }
    Ok(parsed)
}

impl Read for BlobReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(err) = &self.failed {
            return Err(Error::corrupt(format!("an earlier read failed: {err}"), self.path.display().to_string()).into());
        }
        while self.pos == self.buf.len() {
            if self.next_chunk == self.chunks || out.is_empty() {
                return Ok(0);
            }
            if let Err(err) = self.load_next() {
                self.buf.clear();
                self.pos = 0;
                self.failed = Some(err.to_string());
                return Err(err.into());
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
