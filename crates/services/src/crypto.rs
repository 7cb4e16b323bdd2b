//! Randomness, hashing and ids.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A URL-safe random token with `bytes` bytes of entropy.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// A new id: 6 bytes of milliseconds, a 2-byte per-process sequence, then 4 random bytes, so
/// ids sort by creation time (strictly within one process, to the millisecond across several).
pub fn new_id(kind: domain::ids::IdKind) -> String {
    use std::sync::atomic::{AtomicU16, Ordering};
    static SEQUENCE: AtomicU16 = AtomicU16::new(0);
    let mut bytes = [0u8; 12];
    bytes[..6].copy_from_slice(&crate::now_ms().to_be_bytes()[2..]);
    bytes[6..8].copy_from_slice(&SEQUENCE.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    rand::thread_rng().fill_bytes(&mut bytes[8..]);
    domain::ids::format_id(kind, bytes)
}

/// Constant-time equality of two strings.
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Argon2id hash (PHC string) with the crate's recommended parameters.
pub async fn hash_password(password: String) -> crate::Result<String> {
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
        let salt = SaltString::generate(&mut OsRng);
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| crate::Error::Internal(format!("password hashing failed: {e}")))
    })
    .await
    .map_err(|e| crate::Error::Internal(e.to_string()))?
}

/// A hash that matches no password: verified against when the email is unknown, so that the
/// answer takes as long as for a real account.
pub const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$0m5D5k2sQd1+v0O4d6oYc2Vb9Vz8yHcGmXr3kR8y2tM";

pub async fn verify_password(password: String, hash: String) -> crate::Result<bool> {
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        let parsed = match PasswordHash::new(&hash) {
            Ok(p) => p,
            Err(_) => return false,
        };
        argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
    })
    .await
    .map_err(|e| crate::Error::Internal(e.to_string()))
}
