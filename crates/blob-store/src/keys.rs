//! Master keys (parsing, generation, derived ids), the keyring, and wrapping of per-blob data
//! keys.

use crate::cipher::Cipher;
use crate::error::{Error, Result};
use crate::format::{KeyFile, BLOB_NONCE_LEN, DATA_KEY_LEN, TAG_LEN, WRAP_NONCE_LEN};
use crate::fsio::{io_err, sync_dir};
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use zeroize::{Zeroize, Zeroizing};

const KEY_LEN: usize = 32;
const ID_DOMAIN: &[u8] = b"tunery-master-key";

/// A 256-bit master key and its id, derived from the key (first 16 hex characters of
/// SHA-256("tunery-master-key" ‖ key)): the id names the key in every `.key` file, so a store
/// opened with the wrong key reports which key its blobs need.
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    key: [u8; KEY_LEN],
}

impl MasterKey {
    pub fn from_bytes(key: [u8; KEY_LEN]) -> Self {
        let digest = Sha256::new().chain_update(ID_DOMAIN).chain_update(key).finalize();
        let mut id = hex::encode(digest);
        id.truncate(crate::format::MASTER_KEY_ID_LEN);
        MasterKey { id, key }
    }

    /// Reads a key file: exactly 32 raw bytes, or 64 hex characters, or the base64 of 32 bytes
    /// (surrounding whitespace ignored in the text forms).
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = Zeroizing::new(fs::read(path).map_err(io_err("read master key file", path))?);
        let from = || format!("file {}", path.display());
        if let Ok(raw) = <[u8; KEY_LEN]>::try_from(bytes.as_slice()) {
            return Ok(MasterKey::from_bytes(raw));
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| Error::InvalidMasterKey {
            from: from(),
            reason: format!("{} bytes that are neither 32 raw bytes nor text (64 hex characters or base64 of 32 bytes)", bytes.len()),
        })?;
        Self::parse_text(text, from)
    }

    /// Parses a key given as text, e.g. from an environment variable: 64 hex characters or the
    /// base64 (standard or URL-safe, padded or not) of 32 bytes; surrounding whitespace ignored.
    pub fn parse(value: &str) -> Result<Self> {
        Self::parse_text(value, || "value".to_string())
    }

    fn parse_text(text: &str, from: impl Fn() -> String) -> Result<Self> {
        let text = text.trim();
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        if text.len() == 2 * KEY_LEN && hex::decode_to_slice(text, key.as_mut_slice()).is_ok() {
            return Ok(MasterKey::from_bytes(*key));
        }
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
        for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
            let mut buf = Zeroizing::new([0u8; KEY_LEN + 3]);
            if let Ok(KEY_LEN) = engine.decode_slice(text, buf.as_mut_slice()) {
                key.copy_from_slice(&buf[..KEY_LEN]);
                return Ok(MasterKey::from_bytes(*key));
            }
        }
        Err(Error::InvalidMasterKey {
            from: from(),
            reason: format!("{} characters that are neither 64 hex characters nor the base64 of 32 bytes", text.chars().count()),
        })
    }

    /// Generates a random key and writes it to a new file (64 hex characters and a newline, mode
    /// 0600 on Unix). Refuses to overwrite an existing file.
    pub fn generate(path: &Path) -> Result<Self> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(key.as_mut_slice());
        let mut text = Zeroizing::new(hex::encode(key.as_slice()));
        text.push('\n');
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io_err("create master key file", path))?;
        file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(io_err("write master key file", path))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            sync_dir(dir)?;
        }
        Ok(MasterKey::from_bytes(*key))
    }

    /// The key's id: 16 lowercase hex characters derived from the key.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> Cipher {
        Cipher::new(&self.key)
    }

    /// A 256-bit key derived from this master key for one purpose (HKDF-SHA-256, RFC 5869,
    /// with `label` as the info string): distinct labels give independent keys, and nothing
    /// derived reveals the master key or another label's key.
    pub fn derive(&self, label: &str) -> Zeroizing<[u8; KEY_LEN]> {
        use ring::hkdf::{Salt, HKDF_SHA256};
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        Salt::new(HKDF_SHA256, b"tunery-derived-key")
            .extract(&self.key)
            .expand(&[label.as_bytes()], HKDF_SHA256)
            .and_then(|okm| okm.fill(out.as_mut_slice()))
            .expect("HKDF-SHA-256 yields 32 bytes");
        out
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).field("key", &"<redacted>").finish()
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

/// The master keys a store knows: `current` wraps new data keys (and rotation targets it);
/// `previous` keys still unwrap blobs wrapped before a rotation.
#[derive(Clone, Debug)]
pub struct Keyring {
    pub current: MasterKey,
    pub previous: Vec<MasterKey>,
}

impl Keyring {
    pub fn new(current: MasterKey) -> Self {
        Keyring { current, previous: Vec::new() }
    }

    /// The key with this id, current or previous.
    pub fn get(&self, id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.current).chain(&self.previous).find(|k| k.id == id)
    }

    /// The ids of all keys held, current first.
    pub fn ids(&self) -> Vec<&str> {
        std::iter::once(&self.current).chain(&self.previous).map(MasterKey::id).collect()
    }

    /// This keyring with `new` as current and every other key held kept as previous.
    pub(crate) fn rotated_to(&self, new: MasterKey) -> Keyring {
        let mut previous: Vec<MasterKey> = Vec::new();
        for key in std::iter::once(&self.current).chain(&self.previous) {
            if key.id != new.id && !previous.iter().any(|p| p.id == key.id) {
                previous.push(key.clone());
            }
        }
        Keyring { current: new, previous }
    }
}

/// A blob's data key and blob nonce (the nonce is wrapped with the key, binding the key file to
/// one data file).
pub(crate) struct DataKey {
    key: Zeroizing<[u8; DATA_KEY_LEN]>,
    pub blob_nonce: [u8; BLOB_NONCE_LEN],
}

impl DataKey {
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; DATA_KEY_LEN]);
        OsRng.fill_bytes(key.as_mut_slice());
        let mut blob_nonce = [0u8; BLOB_NONCE_LEN];
        OsRng.fill_bytes(&mut blob_nonce);
        DataKey { key, blob_nonce }
    }

    pub fn cipher(&self) -> Cipher {
        Cipher::new(&self.key)
    }
}

/// Wraps a data key under `master` for blob `blob_id` of `size` plaintext bytes.
pub(crate) fn wrap(master: &MasterKey, blob_id: &str, size: u64, data_key: &DataKey) -> KeyFile {
    let mut wrapped = [0u8; DATA_KEY_LEN + BLOB_NONCE_LEN + TAG_LEN];
    wrapped[..DATA_KEY_LEN].copy_from_slice(data_key.key.as_slice());
    wrapped[DATA_KEY_LEN..DATA_KEY_LEN + BLOB_NONCE_LEN].copy_from_slice(&data_key.blob_nonce);
    let mut wrap_nonce = [0u8; WRAP_NONCE_LEN];
    OsRng.fill_bytes(&mut wrap_nonce);
    let aad = KeyFile::aad(master.id(), size, blob_id);
    let (body, tag) = wrapped.split_at_mut(DATA_KEY_LEN + BLOB_NONCE_LEN);
    tag.copy_from_slice(&master.cipher().seal(&wrap_nonce, &aad, body));
    KeyFile { master_key_id: master.id().to_string(), size, wrap_nonce, wrapped }
}

/// Unwraps the data key of blob `blob_id` with the keyring's key named in the key file.
pub(crate) fn unwrap(keyring: &Keyring, blob_id: &str, key_file: &KeyFile, location: &Path) -> Result<DataKey> {
    let master = keyring.get(&key_file.master_key_id).ok_or_else(|| Error::UnknownMasterKey {
        held: keyring.ids().join(", "),
        wrapped_by: key_file.master_key_id.clone(),
        blob: blob_id.to_string(),
    })?;
    let mut buf = Zeroizing::new(key_file.wrapped);
    let aad = KeyFile::aad(&key_file.master_key_id, key_file.size, blob_id);
    master.cipher().open(&key_file.wrap_nonce, &aad, buf.as_mut_slice()).map_err(|_| {
        Error::corrupt("key file failed authentication (altered, or the key file of another blob)", location.display().to_string())
    })?;
    let mut key = Zeroizing::new([0u8; DATA_KEY_LEN]);
    key.copy_from_slice(&buf[..DATA_KEY_LEN]);
    let mut blob_nonce = [0u8; BLOB_NONCE_LEN];
    blob_nonce.copy_from_slice(&buf[DATA_KEY_LEN..DATA_KEY_LEN + BLOB_NONCE_LEN]);
    Ok(DataKey { key, blob_nonce })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_are_deterministic_per_label_and_independent() {
        let a = MasterKey::from_bytes([7u8; 32]);
        let b = MasterKey::from_bytes([8u8; 32]);
        assert_eq!(*a.derive("token"), *a.clone().derive("token"));
        assert_ne!(*a.derive("token"), *a.derive("audit"));
        assert_ne!(*a.derive("token"), *b.derive("token"));
        assert_ne!(a.derive("token").as_slice(), &[7u8; 32]);
        // RFC 5869 shape pinned: HKDF-SHA-256(salt "tunery-derived-key", ikm 0x07 × 32, info "token").
        let expected = {
            use hmac_sha256 as h;
            let prk = h(b"tunery-derived-key", &[7u8; 32]);
            let mut t1 = b"token".to_vec();
            t1.push(1);
            h(&prk, &t1)
        };
        assert_eq!(*a.derive("token"), expected);
    }

    /// HMAC-SHA-256 written out from SHA-256 (RFC 2104), so the HKDF check above does not lean
    /// on the library it checks.
    fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
        let mut block = [0u8; 64];
        block[..key.len()].copy_from_slice(key);
        let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
        let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
        Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
    }

    #[test]
    fn text_forms_parse_to_the_same_key() {
        let raw = [7u8; 32];
        let id = MasterKey::from_bytes(raw).id().to_string();
        let hex = hex::encode(raw);
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        for text in [hex.clone(), format!("{hex}\n"), b64.clone(), format!("{b64}  \r\n"), b64.trim_end_matches('=').into()] {
            assert_eq!(MasterKey::parse(&text).unwrap().id(), id, "{text:?}");
        }
        for bad in ["", "abc", &hex[..63], &format!("{hex}00")] {
            let err = MasterKey::parse(bad).unwrap_err().to_string();
            assert!(err.contains("neither 64 hex characters nor the base64"), "{err}");
        }
    }

    #[test]
    fn ids_are_16_hex_and_differ_per_key() {
        let a = MasterKey::from_bytes([1; 32]);
        let b = MasterKey::from_bytes([2; 32]);
        assert_eq!(a.id().len(), 16);
        assert!(a.id().bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a.id(), b.id());
        assert!(!format!("{a:?}").contains(&hex::encode([1u8; 32])));
    }

    #[test]
    fn rotated_keyring_keeps_old_keys_once() {
        let (a, b) = (MasterKey::from_bytes([1; 32]), MasterKey::from_bytes([2; 32]));
        let ring = Keyring::new(a.clone()).rotated_to(b.clone()).rotated_to(a.clone()).rotated_to(b.clone());
        assert_eq!(ring.ids(), vec![b.id(), a.id()]);
    }
}
