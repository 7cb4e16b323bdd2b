//! AES-256-GCM, the one cipher of the store (data chunks and wrapped data keys), through `ring`:
//! its assembly uses AES-NI/VAES and carry-less multiplication where the CPU has them, several
//! times the speed of a portable implementation, so sealing keeps up with hashing on ingest.

use crate::format::TAG_LEN;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

/// Length of an AES-256-GCM nonce.
pub(crate) const NONCE_LEN: usize = 12;

/// An AES-256-GCM key ready to seal and open.
pub(crate) struct Cipher(LessSafeKey);

impl Cipher {
    pub fn new(key: &[u8; 32]) -> Self {
        Cipher(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("AES-256-GCM takes a 32-byte key")))
    }

    /// Encrypts `in_out` in place and returns its tag. Callers never reuse a nonce under a key:
    /// chunk nonces carry the chunk index under a per-blob key, wrap nonces are random.
    pub fn seal(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], in_out: &mut [u8]) -> [u8; TAG_LEN] {
        let tag = self
            .0
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), in_out)
            .expect("AES-GCM seals any message under 64 GiB");
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Authenticates and decrypts `body_and_tag` (ciphertext followed by its tag) in place;
    /// on success the first `len - TAG_LEN` bytes are the plaintext. `Err(())` when it does not
    /// authenticate: the caller says what and where.
    pub fn open(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], body_and_tag: &mut [u8]) -> Result<(), ()> {
        self.0.open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), body_and_tag).map(|_| ()).map_err(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NIST GCM test vector (gcmEncryptExtIV256, Count 0 with a 16-byte plaintext): the
    /// on-disk format depends on standard AES-256-GCM, whichever implementation computes it.
    #[test]
    fn matches_a_published_test_vector() {
        let key: [u8; 32] = hex::decode("31bdadd96698c204aa9ce1448ea94ae1fb4a9a0b3c9d773b51bb1822666b8f22").unwrap().try_into().unwrap();
        let nonce: [u8; 12] = hex::decode("0d18e06c7c725ac9e362e1ce").unwrap().try_into().unwrap();
        let mut data = hex::decode("2db5168e932556f8089a0622981d017d").unwrap();
        let cipher = Cipher::new(&key);
        let tag = cipher.seal(&nonce, &[], &mut data);
        assert_eq!(hex::encode(&data), "fa4362189661d163fcd6a56d8bf0405a");
        assert_eq!(hex::encode(tag), "d636ac1bbedd5cc3ee727dc2ab4a9489");
        data.extend_from_slice(&tag);
        cipher.open(&nonce, &[], &mut data).unwrap();
        assert_eq!(hex::encode(&data[..16]), "2db5168e932556f8089a0622981d017d");
        data[3] ^= 1;
        assert!(cipher.open(&nonce, &[], &mut data).is_err());
    }
}
