//! The on-disk format: the data file header, chunk nonces and lengths, and the key file.
//!
//! ```text
//! data file  = header ‖ chunk_0 ‖ … ‖ chunk_{n-1}
//! header     = "TNRYBLOB" ‖ version u8 (1) ‖ chunk size u32 BE ‖ stream prefix [7] ‖ blob nonce [16]
//! chunk_i    = AES-256-GCM(data key, nonce_i, aad = header, plaintext_i) ‖ tag [16]
//! nonce_i    = stream prefix ‖ i as u32 BE ‖ (1 if i = n-1 else 0)
//! n          = max(1, ceil(size / chunk size)); every chunk but the last is full, the last may be empty
//! key file   = "TNRYBKEY" ‖ version u8 (1) ‖ master key id [16 ascii hex] ‖ size u64 BE
//!              ‖ wrap nonce [12] ‖ AES-256-GCM(master key, wrap nonce, aad, data key ‖ blob nonce) ‖ tag [16]
//! aad        = "tunery-blob-key-v1" ‖ blob id [64 ascii hex] ‖ key file bytes 0..33
//! ```

/// Plaintext bytes per chunk (the last chunk of a blob may be shorter).
pub const CHUNK_SIZE: usize = 64 * 1024;
/// AES-GCM tag length, after every chunk.
pub const TAG_LEN: usize = 16;
/// Length of the data file header.
pub const HEADER_LEN: usize = 8 + 1 + 4 + PREFIX_LEN + BLOB_NONCE_LEN;
/// Length of a key file.
pub const KEY_FILE_LEN: usize = KEY_AAD_PREFIX_LEN + 12 + DATA_KEY_LEN + BLOB_NONCE_LEN + TAG_LEN;

pub(crate) const PREFIX_LEN: usize = 7;
pub(crate) const BLOB_NONCE_LEN: usize = 16;
pub(crate) const DATA_KEY_LEN: usize = 32;
pub(crate) const MASTER_KEY_ID_LEN: usize = 16;
pub(crate) const WRAP_NONCE_LEN: usize = 12;
/// At most 2^32 chunks per blob (the chunk counter is 32 bits).
pub(crate) const MAX_CHUNKS: u64 = 1 << 32;

const DATA_MAGIC: &[u8; 8] = b"TNRYBLOB";
const KEY_MAGIC: &[u8; 8] = b"TNRYBKEY";
const VERSION: u8 = 1;
const KEY_AAD_PREFIX_LEN: usize = 8 + 1 + MASTER_KEY_ID_LEN + 8;
const KEY_AAD_DOMAIN: &[u8] = b"tunery-blob-key-v1";
/// Chunk sizes a reader accepts: bounds the buffer a forged header could make it allocate.
const CHUNK_SIZE_RANGE: std::ops::RangeInclusive<u32> = 1024..=(16 << 20);

/// The data file header: everything the chunks are bound to.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct DataHeader {
    pub chunk_size: u32,
    pub stream_prefix: [u8; PREFIX_LEN],
    pub blob_nonce: [u8; BLOB_NONCE_LEN],
}

impl DataHeader {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..8].copy_from_slice(DATA_MAGIC);
        out[8] = VERSION;
        out[9..13].copy_from_slice(&self.chunk_size.to_be_bytes());
        out[13..13 + PREFIX_LEN].copy_from_slice(&self.stream_prefix);
        out[13 + PREFIX_LEN..].copy_from_slice(&self.blob_nonce);
        out
    }

    /// Parses a header; the error says what is wrong with it.
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Self, String> {
        if &bytes[..8] != DATA_MAGIC {
            return Err("data file does not start with the blob magic".into());
        }
        if bytes[8] != VERSION {
            return Err(format!("data file format version {} is not supported (expected {VERSION})", bytes[8]));
        }
        let chunk_size = u32::from_be_bytes(take(&bytes[9..13]));
        if !CHUNK_SIZE_RANGE.contains(&chunk_size) {
            return Err(format!("chunk size {chunk_size} outside {CHUNK_SIZE_RANGE:?}"));
        }
        Ok(DataHeader { chunk_size, stream_prefix: take(&bytes[13..13 + PREFIX_LEN]), blob_nonce: take(&bytes[13 + PREFIX_LEN..]) })
    }
}

/// The STREAM nonce of chunk `index`.
pub(crate) fn chunk_nonce(prefix: &[u8; PREFIX_LEN], index: u32, last: bool) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[..PREFIX_LEN].copy_from_slice(prefix);
    nonce[PREFIX_LEN..PREFIX_LEN + 4].copy_from_slice(&index.to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

/// Number of chunks of a blob of `size` plaintext bytes (an empty blob has one, empty, chunk).
pub(crate) fn chunk_count(size: u64, chunk_size: u32) -> u64 {
    size.div_ceil(u64::from(chunk_size)).max(1)
}

/// Exact length of the data file of a blob of `size` plaintext bytes.
pub(crate) fn data_file_len(size: u64, chunk_size: u32) -> u64 {
    HEADER_LEN as u64 + size + TAG_LEN as u64 * chunk_count(size, chunk_size)
}

/// The `.key` file: which master key wrapped the data key, the plaintext size, and the wrapped
/// data key and blob nonce.
#[derive(Clone)]
pub(crate) struct KeyFile {
    pub master_key_id: String,
    pub size: u64,
    pub wrap_nonce: [u8; WRAP_NONCE_LEN],
    /// Ciphertext of data key ‖ blob nonce, then the tag.
    pub wrapped: [u8; DATA_KEY_LEN + BLOB_NONCE_LEN + TAG_LEN],
}

impl KeyFile {
    pub fn encode(&self) -> [u8; KEY_FILE_LEN] {
        let mut out = [0u8; KEY_FILE_LEN];
        out[..KEY_AAD_PREFIX_LEN].copy_from_slice(&Self::prefix(&self.master_key_id, self.size));
        out[KEY_AAD_PREFIX_LEN..KEY_AAD_PREFIX_LEN + WRAP_NONCE_LEN].copy_from_slice(&self.wrap_nonce);
        out[KEY_AAD_PREFIX_LEN + WRAP_NONCE_LEN..].copy_from_slice(&self.wrapped);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() != KEY_FILE_LEN {
            return Err(format!("key file is {} bytes, expected {KEY_FILE_LEN}", bytes.len()));
        }
        if &bytes[..8] != KEY_MAGIC {
            return Err("key file does not start with the key magic".into());
        }
        if bytes[8] != VERSION {
            return Err(format!("key file format version {} is not supported (expected {VERSION})", bytes[8]));
        }
        let id = &bytes[9..9 + MASTER_KEY_ID_LEN];
        if !id.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err("key file's master key id is not lowercase hex".into());
        }
        Ok(KeyFile {
            master_key_id: String::from_utf8_lossy(id).into_owned(),
            size: u64::from_be_bytes(take(&bytes[9 + MASTER_KEY_ID_LEN..KEY_AAD_PREFIX_LEN])),
            wrap_nonce: take(&bytes[KEY_AAD_PREFIX_LEN..KEY_AAD_PREFIX_LEN + WRAP_NONCE_LEN]),
            wrapped: take(&bytes[KEY_AAD_PREFIX_LEN + WRAP_NONCE_LEN..]),
        })
    }

    /// Associated data of the wrapping: binds the data key to the blob id, the master key id and
    /// the plaintext size.
    pub fn aad(master_key_id: &str, size: u64, blob_id: &str) -> Vec<u8> {
        let mut aad = Vec::with_capacity(KEY_AAD_DOMAIN.len() + blob_id.len() + KEY_AAD_PREFIX_LEN);
        aad.extend_from_slice(KEY_AAD_DOMAIN);
        aad.extend_from_slice(blob_id.as_bytes());
        aad.extend_from_slice(&Self::prefix(master_key_id, size));
        aad
    }

    fn prefix(master_key_id: &str, size: u64) -> [u8; KEY_AAD_PREFIX_LEN] {
        let mut out = [0u8; KEY_AAD_PREFIX_LEN];
        out[..8].copy_from_slice(KEY_MAGIC);
        out[8] = VERSION;
        // Master key ids are derived (16 hex characters, see `keys`); pad or cut defensively.
        let id = master_key_id.as_bytes();
        let n = id.len().min(MASTER_KEY_ID_LEN);
        out[9..9 + n].copy_from_slice(&id[..n]);
        out[9 + MASTER_KEY_ID_LEN..].copy_from_slice(&size.to_be_bytes());
        out
    }
}

/// Copies a slice of known length into an array (lengths are fixed by the format).
fn take<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_counts_and_lengths() {
        let c = CHUNK_SIZE as u32;
        assert_eq!(chunk_count(0, c), 1);
        assert_eq!(chunk_count(1, c), 1);
        assert_eq!(chunk_count(CHUNK_SIZE as u64, c), 1);
        assert_eq!(chunk_count(CHUNK_SIZE as u64 + 1, c), 2);
        assert_eq!(data_file_len(0, c), (HEADER_LEN + TAG_LEN) as u64);
        assert_eq!(data_file_len(CHUNK_SIZE as u64 + 1, c), (HEADER_LEN + CHUNK_SIZE + 1 + 2 * TAG_LEN) as u64);
    }

    #[test]
    fn header_and_key_file_round_trip() {
        let h = DataHeader { chunk_size: CHUNK_SIZE as u32, stream_prefix: [7; PREFIX_LEN], blob_nonce: [9; BLOB_NONCE_LEN] };
        assert!(DataHeader::decode(&h.encode()).is_ok_and(|d| d == h));
        let k = KeyFile { master_key_id: "0123456789abcdef".into(), size: 42, wrap_nonce: [1; 12], wrapped: [2; 64] };
        let d = KeyFile::decode(&k.encode()).unwrap();
        assert_eq!((d.master_key_id.as_str(), d.size, d.wrap_nonce, d.wrapped), ("0123456789abcdef", 42, [1; 12], [2; 64]));
    }
}
