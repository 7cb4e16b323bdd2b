//! The audit hash chain: each record carries the hash of the previous one, so altering,
//! removing or reordering any stored record breaks every hash after it.

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
}

/// The hash of `record` chained after `prev_hash`: SHA-256 over the previous hash and a
/// canonical, length-prefixed encoding of every field (so no two records encode alike).
pub fn chain_hash(prev_hash: &str, record: &AuditRecord) -> String {
    let mut h = Sha256::new();
    let mut field = |bytes: Option<&[u8]>| match bytes {
        Some(b) => {
            h.update((b.len() as u64).to_be_bytes());
            h.update(b);
        }
        None => h.update(u64::MAX.to_be_bytes()),
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
    hex::encode(h.finalize())
}

/// Where a chain first fails to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub seq: i64,
    pub reason: String,
}

/// Checks records given in sequence order, each with its stored previous hash and hash.
/// `start` is the (seq, hash) the chain continues from.
pub struct ChainVerifier {
    expected_seq: i64,
    prev_hash: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier { expected_seq: 1, prev_hash: GENESIS_HASH.to_string() }
    }
}

impl ChainVerifier {
    pub fn check(&mut self, record: &AuditRecord, stored_prev: &str, stored_hash: &str) -> Result<(), ChainBreak> {
        let fail = |reason: String| Err(ChainBreak { seq: record.seq, reason });
        if record.seq != self.expected_seq {
            return fail(format!("expected record {} but found {} (a record was removed or inserted)", self.expected_seq, record.seq));
        }
        if stored_prev != self.prev_hash {
            return fail("its previous-hash does not match the record before it".to_string());
        }
        let computed = chain_hash(stored_prev, record);
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
        }
    }

    fn chain(n: i64) -> Vec<(AuditRecord, String, String)> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let r = record(seq, "project.create");
                let h = chain_hash(&prev, &r);
                let out = (r, prev.clone(), h.clone());
                prev = h;
                out
            })
            .collect()
    }

    fn verify(records: &[(AuditRecord, String, String)]) -> Result<(), ChainBreak> {
        let mut v = ChainVerifier::default();
        records.iter().try_for_each(|(r, p, h)| v.check(r, p, h))
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
        assert_ne!(chain_hash(GENESIS_HASH, &a), chain_hash(GENESIS_HASH, &b));
    }
}
