//! Helpers shared by the blob-store tests: real stores in temp directories, seeded random data.
#![allow(dead_code)]

use blob_store::{BlobInfo, BlobStore, Error, Keyring, MasterKey};
use rand::{rngs::StdRng, RngCore, SeedableRng};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub fn key(seed: u8) -> MasterKey {
    MasterKey::from_bytes([seed; 32])
}

/// A fresh store in a temp directory, current master key `key(1)`.
pub fn new_store() -> (tempfile::TempDir, BlobStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path(), Keyring::new(key(1))).unwrap();
    (dir, store)
}

pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut data);
    data
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Writes `data` through a `BlobWriter` in uneven pieces (so writes straddle chunk edges).
pub fn write_blob(store: &BlobStore, data: &[u8]) -> BlobInfo {
    let mut writer = store.writer().unwrap();
    for piece in data.chunks(40_000 + 1) {
        writer.write_all(piece).unwrap();
    }
    writer.finish().unwrap()
}

/// Reads a whole blob, returning the blob-store error from opening or from any read.
pub fn read_blob(store: &BlobStore, id: &str) -> Result<Vec<u8>, Error> {
    let mut reader = store.reader(id)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 10_000];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => {
                assert!(Error::from_io(&e).is_some(), "read error without a blob-store error: {e}");
                return Err(*e.into_inner().unwrap().downcast::<Error>().unwrap());
            }
        }
    }
}

pub fn data_path(root: &Path, id: &str) -> PathBuf {
    root.join("blobs").join(&id[..2]).join(&id[2..4]).join(id)
}

pub fn key_path(root: &Path, id: &str) -> PathBuf {
    root.join("blobs").join(&id[..2]).join(&id[2..4]).join(format!("{id}.key"))
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}
