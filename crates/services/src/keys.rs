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

struct Pair {
    master_key_id: String,
    token: Zeroizing<[u8; 32]>,
    audit: Zeroizing<[u8; 32]>,
}

/// The derived keys of every master key held, current first.
pub(crate) struct DerivedKeys {
    pairs: Vec<Pair>,
}

impl DerivedKeys {
    pub fn from_keyring(keyring: &blob_store::Keyring) -> DerivedKeys {
        let pairs = std::iter::once(&keyring.current)
            .chain(&keyring.previous)
            .map(|k| Pair { master_key_id: k.id().to_string(), token: k.derive(TOKEN_LABEL), audit: k.derive(AUDIT_LABEL) })
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
}
