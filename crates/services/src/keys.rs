//! Keys derived from the master keys, never stored: the access-token signing key and the
//! audit-chain key (HKDF-SHA-256 of each master key with distinct labels). Whoever holds the
//! database, or the whole data directory without the master key, can neither sign a token the
//! server accepts nor extend the audit chain.
//!
//! Every master key the server holds (the current one and those passed as previous keys during
//! a rotation) yields its pair, named by the master key's id: tokens carry it as `kid` and audit
//! records as `key_id`, so a token or record made under the previous key still verifies while
//! that key is held, and is refused once it is not.

use zeroize::Zeroizing;

const TOKEN_LABEL: &str = "tunery access-token signing key v1";
const AUDIT_LABEL: &str = "tunery audit chain key v1";
const SECRETS_LABEL: &str = "tunery stored secrets key v1";

struct Pair {
    master_key_id: String,
    token: Zeroizing<[u8; 32]>,
    audit: Zeroizing<[u8; 32]>,
    secrets: Zeroizing<[u8; 32]>,
}

/// The derived keys of every master key held, current first.
pub(crate) struct DerivedKeys {
    pairs: Vec<Pair>,
}

impl DerivedKeys {
    pub fn from_keyring(keyring: &blob_store::Keyring) -> DerivedKeys {
        let pairs = std::iter::once(&keyring.current)
            .chain(&keyring.previous)
            .map(|k| Pair {
                master_key_id: k.id().to_string(),
                token: k.derive(TOKEN_LABEL),
                audit: k.derive(AUDIT_LABEL),
                secrets: k.derive(SECRETS_LABEL),
            })
            .collect();
        DerivedKeys { pairs }
    }

    fn current(&self) -> &Pair {
        &self.pairs[0]
    }

    fn by_id(&self, id: &str) -> Option<&Pair> {
        self.pairs.iter().find(|p| p.master_key_id == id)
    }

    /// (key id, key) that signs new access tokens.
    pub fn signing(&self) -> (&str, &[u8]) {
        (&self.current().master_key_id, self.current().token.as_slice())
    }

    /// The key that verifies a token signed under master key `id`, if it is held.
    pub fn token_key(&self, id: &str) -> Option<&[u8]> {
        self.by_id(id).map(|p| p.token.as_slice())
    }

    /// (key id, key) that chains new audit records.
    pub fn audit_current(&self) -> (&str, &[u8]) {
        (&self.current().master_key_id, self.current().audit.as_slice())
    }

    /// The audit key of master key `id`, if it is held.
    pub fn audit_key(&self, id: &str) -> Option<&[u8]> {
        self.by_id(id).map(|p| p.audit.as_slice())
    }

    /// Seals a secret the server must keep (an external endpoint's API key, a logged exchange):
    /// `v2:<master key id>:<nonce>:<AES-256-GCM ciphertext>` (base64), under a key derived from
    /// the current master key, so a copy of the database alone reveals nothing. `bound_to` names
    /// the row that holds it (authenticated with the ciphertext, not stored in it): a sealed
    /// value copied into another row does not open there.
    pub fn seal_secret(&self, plaintext: &str, bound_to: &str) -> String {
        use base64::Engine;
        use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
        let pair = self.current();
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, pair.secrets.as_slice()).expect("a 32-byte key"));
        let mut nonce = [0u8; 12];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut nonce);
        let mut data = plaintext.as_bytes().to_vec();
        let aad = sealed_aad(&pair.master_key_id, Some(bound_to));
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad.as_bytes()), &mut data)
            .expect("sealing a short secret");
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
        format!("v2:{}:{}:{}", pair.master_key_id, b64.encode(nonce), b64.encode(data))
    }

    /// Opens a value sealed for the row `bound_to`; one that does not open (another master key,
    /// another row, tampered) is an error naming why, never an empty value. Values sealed before
    /// seals named their row (`v1`) still open.
    pub fn open_secret(&self, sealed: &str, bound_to: &str) -> Result<String, String> {
        use base64::Engine;
        use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
        let parts: Vec<&str> = sealed.split(':').collect();
        let [version, key_id, nonce, data] = parts[..] else { return Err("a sealed secret has four parts".into()) };
        let aad = match version {
            "v1" => sealed_aad(key_id, None),
            "v2" => sealed_aad(key_id, Some(bound_to)),
            _ => return Err(format!("a sealed secret of version '{version}' is not one this build opens")),
        };
        let pair =
            self.by_id(key_id).ok_or_else(|| format!("the secret is sealed under master key {key_id}, which this server does not hold"))?;
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
        let nonce: [u8; 12] = b64.decode(nonce).ok().and_then(|n| n.try_into().ok()).ok_or("the sealed secret's nonce is malformed")?;
        let mut data = b64.decode(data).map_err(|_| "the sealed secret is not base64")?;
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, pair.secrets.as_slice()).expect("a 32-byte key"));
        let plain = key.open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad.as_bytes()), &mut data).map_err(|_| {
            format!("the sealed secret of {bound_to} does not open (tampered, moved from another row, or sealed by another key)")
        })?;
        String::from_utf8(plain.to_vec()).map_err(|_| "the sealed secret is not text".to_string())
    }
}

/// What a seal authenticates beside its ciphertext: the master key's id and (from `v2`) the
/// row holding it.
fn sealed_aad(key_id: &str, bound_to: Option<&str>) -> String {
    match bound_to {
        Some(row) => format!("{key_id}\n{row}"),
        None => key_id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_of(hex_byte: &str) -> DerivedKeys {
        DerivedKeys::from_keyring(&blob_store::Keyring::new(blob_store::MasterKey::parse(&hex_byte.repeat(32)).unwrap()))
    }

    fn keys() -> DerivedKeys {
        keys_of("11")
    }

    #[test]
    fn a_sealed_value_opens_only_in_the_row_it_was_sealed_for() {
        let keys = keys();
        let sealed = keys.seal_secret("the exchange", "inference_log:req_1");
        assert!(sealed.starts_with("v2:"), "{sealed}");
        assert_eq!(keys.open_secret(&sealed, "inference_log:req_1").unwrap(), "the exchange");
        let moved = keys.open_secret(&sealed, "inference_log:req_2").unwrap_err();
        assert!(moved.contains("inference_log:req_2") && moved.contains("moved from another row"), "{moved}");
        let other = keys_of("22");
        assert!(other.open_secret(&sealed, "inference_log:req_1").unwrap_err().contains("does not hold"));
    }

    #[test]
    fn values_sealed_before_seals_named_their_row_still_open() {
        use base64::Engine;
        use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
        let keys = keys();
        let pair = keys.current();
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, pair.secrets.as_slice()).unwrap());
        let mut data = b"an endpoint key".to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key([7; 12]), Aad::from(pair.master_key_id.as_bytes()), &mut data).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
        let v1 = format!("v1:{}:{}:{}", pair.master_key_id, b64.encode([7u8; 12]), b64.encode(data));
        assert_eq!(keys.open_secret(&v1, "deployment:dep_1:endpoint_key").unwrap(), "an endpoint key");
        assert!(keys.open_secret(&v1.replacen("v1", "v3", 1), "x").unwrap_err().contains("version 'v3'"));
    }
}
