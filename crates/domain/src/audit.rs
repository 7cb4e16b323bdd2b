//! The audit hash chain: each record carries the hash of the previous one, so altering,
//! removing or reordering any stored record breaks every hash after it.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash that precedes the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Outcome of an audited action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Success, Outcome::Failure, Outcome::Denied];

    pub fn parse(value: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == value)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// The fields of one audit record that the chain protects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: i64,
    pub id: String,
    pub occurred_at_ms: i64,
    pub organization_id: Option<String>,
    pub actor_id: Option<String>,
    pub actor_kind: String,
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub outcome: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: String,
    /// The id of the master key whose derived audit key keyed this record's hash; `None` for
    /// records written before the chain was keyed (plain SHA-256).
    pub key_id: Option<String>,
}

/// The action of the record that seals an unkeyed prefix: the first keyed record after records
/// written before the chain was keyed, naming how many there are.
pub const SEAL_ACTION: &str = "audit.chain_keyed";

/// The hash of `record` chained after `prev_hash`: HMAC-SHA-256 with `key` (the audit key
/// derived from the master key named by `record.key_id`) over the previous hash and a
/// canonical, length-prefixed encoding of every field (so no two records encode alike). Without
/// the key nobody can compute it, so write access to the database alone cannot rewrite records
/// and recompute the chain. `key` is `None` only for legacy records (`key_id` `None`): plain
/// SHA-256 over the same encoding.
pub fn chain_hash(key: Option<&[u8]>, prev_hash: &str, record: &AuditRecord) -> String {
    let mut bytes = Vec::with_capacity(256 + record.details.len());
    let mut field = |value: Option<&[u8]>| match value {
        Some(b) => {
            bytes.extend_from_slice(&(b.len() as u64).to_be_bytes());
            bytes.extend_from_slice(b);
        }
        None => bytes.extend_from_slice(&u64::MAX.to_be_bytes()),
    };
    field(Some(prev_hash.as_bytes()));
    field(Some(&record.seq.to_be_bytes()));
    field(Some(record.id.as_bytes()));
    field(Some(&record.occurred_at_ms.to_be_bytes()));
    field(record.organization_id.as_deref().map(str::as_bytes));
    field(record.actor_id.as_deref().map(str::as_bytes));
    field(Some(record.actor_kind.as_bytes()));
    field(Some(record.action.as_bytes()));
    field(record.target_kind.as_deref().map(str::as_bytes));
    field(record.target_id.as_deref().map(str::as_bytes));
    field(Some(record.outcome.as_bytes()));
    field(record.ip.as_deref().map(str::as_bytes));
    field(record.user_agent.as_deref().map(str::as_bytes));
    field(Some(record.details.as_bytes()));
    match key {
        Some(key) => {
            field(record.key_id.as_deref().map(str::as_bytes));
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(&bytes);
            hex::encode(mac.finalize().into_bytes())
        }
        None => hex::encode(Sha256::digest(&bytes)),
    }
}

/// Where a chain first fails to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub seq: i64,
    pub reason: String,
}

/// Checks records given in sequence order, each with its stored previous hash and hash.
///
/// Records written before the chain was keyed (`key_id` `None`) are accepted only as a prefix
/// sealed by a keyed [`SEAL_ACTION`] record that counts them; anything unkeyed after a keyed
/// record, or an unsealed unkeyed prefix, is a break.
pub struct ChainVerifier {
    expected_seq: i64,
    prev_hash: String,
    unkeyed: i64,
    keyed_seen: bool,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier { expected_seq: 1, prev_hash: GENESIS_HASH.to_string(), unkeyed: 0, keyed_seen: false }
    }
}

impl ChainVerifier {
    /// `key` is the audit key for `record.key_id` if the verifier holds it.
    pub fn check(&mut self, record: &AuditRecord, stored_prev: &str, stored_hash: &str, key: Option<&[u8]>) -> Result<(), ChainBreak> {
        let fail = |reason: String| Err(ChainBreak { seq: record.seq, reason });
        if record.seq != self.expected_seq {
            return fail(format!("expected record {} but found {} (a record was removed or inserted)", self.expected_seq, record.seq));
        }
        if stored_prev != self.prev_hash {
            return fail("its previous-hash does not match the record before it".to_string());
        }
        let computed = match (&record.key_id, key) {
            (None, _) if self.keyed_seen => return fail("an unkeyed record after keyed ones (the record was rewritten)".to_string()),
            (None, _) => {
                self.unkeyed += 1;
                chain_hash(None, stored_prev, record)
            }
            (Some(id), None) => {
                return fail(format!("it is keyed by master key {id}, which is not held here (pass it with --previous-master-key-file)"))
            }
            (Some(_), Some(key)) => {
                if !self.keyed_seen && self.unkeyed > 0 && !seals(record, self.unkeyed) {
                    return fail(format!("{} unkeyed records are not sealed by an {SEAL_ACTION} record", self.unkeyed));
                }
                self.keyed_seen = true;
                chain_hash(Some(key), stored_prev, record)
            }
        };
        if computed != stored_hash {
            return fail("its content does not match its hash (the record was altered)".to_string());
        }
        self.expected_seq += 1;
        self.prev_hash = computed;
        Ok(())
    }

    /// The last verified (seq, hash): must equal the stored chain head.
    pub fn head(&self) -> (i64, &str) {
        (self.expected_seq - 1, &self.prev_hash)
    }

    /// Records written before the chain was keyed (verified without a key).
    pub fn unkeyed(&self) -> i64 {
        self.unkeyed
    }

    /// After the last record: an unkeyed prefix that no keyed record sealed is a break (a
    /// server seals it at its first start with a keyed chain).
    pub fn finish(&self) -> Result<(), ChainBreak> {
        if self.unkeyed > 0 && !self.keyed_seen {
            return Err(ChainBreak {
                seq: self.expected_seq - 1,
                reason: format!("{} unkeyed records and no keyed record seals them (start the server once to seal them)", self.unkeyed),
            });
        }
        Ok(())
    }
}

/// Whether `record` is the seal of exactly `unkeyed` legacy records.
fn seals(record: &AuditRecord, unkeyed: i64) -> bool {
    record.action == SEAL_ACTION
        && serde_json::from_str::<serde_json::Value>(&record.details).ok().and_then(|d| d["unkeyed_records"].as_i64()) == Some(unkeyed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: i64, action: &str) -> AuditRecord {
        AuditRecord {
            seq,
            id: format!("aud_{seq}"),
            occurred_at_ms: 1_700_000_000_000 + seq,
            organization_id: Some("org_a".into()),
            actor_id: None,
            actor_kind: "user".into(),
            action: action.into(),
            target_kind: None,
            target_id: None,
            outcome: "success".into(),
            ip: Some("127.0.0.1".into()),
            user_agent: None,
            details: "{}".into(),
            key_id: Some("k1".into()),
        }
    }

    const KEY: &[u8] = b"the audit key of k1";

    fn chain(n: i64) -> Vec<(AuditRecord, String, String)> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let r = record(seq, "project.create");
                let h = chain_hash(Some(KEY), &prev, &r);
                let out = (r, prev.clone(), h.clone());
                prev = h;
                out
            })
            .collect()
    }

    fn verify(records: &[(AuditRecord, String, String)]) -> Result<(), ChainBreak> {
        let mut v = ChainVerifier::default();
        records.iter().try_for_each(|(r, p, h)| v.check(r, p, h, r.key_id.as_ref().map(|_| KEY)))?;
        v.finish()
    }

    /// Records with their hashes recomputed from `from` on (with `key`, or unkeyed), as someone
    /// with write access to the database would.
    fn rechain(records: &mut [(AuditRecord, String, String)], key: Option<&[u8]>) {
        let mut prev = GENESIS_HASH.to_string();
        for (r, p, h) in records.iter_mut() {
            *p = prev.clone();
            *h = chain_hash(if r.key_id.is_some() { key } else { None }, &prev, r);
            prev = h.clone();
        }
    }

    #[test]
    fn rewriting_and_rechaining_without_the_key_is_detected() {
        let mut c = chain(3);
        c[1].0.action = "project.delete".into();
        rechain(&mut c, Some(b"a guessed key"));
        assert_eq!(verify(&c).unwrap_err().seq, 1);
        // Nor does turning every record into an unkeyed (legacy) one pass.
        let mut c = chain(3);
        for r in c.iter_mut() {
            r.0.key_id = None;
        }
        rechain(&mut c, None);
        assert!(verify(&c).unwrap_err().reason.contains("no keyed record seals them"));
    }

    #[test]
    fn an_unkeyed_prefix_verifies_only_when_sealed() {
        let mut c = chain(4);
        c[0].0.key_id = None;
        c[1].0.key_id = None;
        rechain(&mut c, Some(KEY));
        assert!(verify(&c).unwrap_err().reason.contains("not sealed"), "{:?}", verify(&c));
        c[2].0.action = SEAL_ACTION.into();
        c[2].0.details = r#"{"unkeyed_records":2}"#.into();
        rechain(&mut c, Some(KEY));
        assert_eq!(verify(&c), Ok(()));
        // An unkeyed record after keyed ones is refused even with a correct plain hash.
        c[3].0.key_id = None;
        rechain(&mut c, Some(KEY));
        assert!(verify(&c).unwrap_err().reason.contains("unkeyed record after keyed ones"));
    }

    #[test]
    fn a_record_under_a_key_not_held_names_the_key() {
        let c = chain(2);
        let mut v = ChainVerifier::default();
        let err = v.check(&c[0].0, &c[0].1, &c[0].2, None).unwrap_err();
        assert!(err.reason.contains("master key k1"), "{err:?}");
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(()));
    }

    #[test]
    fn any_altered_field_is_detected() {
        let mut c = chain(3);
        c[1].0.action = "project.delete".into();
        assert_eq!(verify(&c).unwrap_err().seq, 2);
        let mut c = chain(3);
        c[2].0.ip = None;
        assert_eq!(verify(&c).unwrap_err().seq, 3);
    }

    #[test]
    fn removed_record_is_detected() {
        let mut c = chain(3);
        c.remove(1);
        assert_eq!(verify(&c).unwrap_err().seq, 3);
    }

    #[test]
    fn none_and_empty_differ() {
        let mut a = record(1, "x");
        let mut b = a.clone();
        a.target_id = None;
        b.target_id = Some(String::new());
        assert_ne!(chain_hash(Some(KEY), GENESIS_HASH, &a), chain_hash(Some(KEY), GENESIS_HASH, &b));
    }
}
