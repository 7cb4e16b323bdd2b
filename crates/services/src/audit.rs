//! The audit log: appending (inside the caller's transaction), reading, and verifying the chain.

use crate::crypto::new_id;
use crate::keys::DerivedKeys;
use crate::{now_ms, Error, Page, Principal, RequestContext, Result, Services};
use database::audit::{AuditFilter, AuditRow};
use database::Conn;
use domain::audit::{chain_hash, AuditRecord, ChainBreak, ChainVerifier, Outcome, SEAL_ACTION};
use domain::ids::IdKind;
use domain::Permission;

/// One thing worth recording.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub organization_id: Option<String>,
    pub actor_id: Option<String>,
    pub actor_kind: &'static str,
    pub action: String,
    pub target_kind: Option<&'static str>,
    pub target_id: Option<String>,
    pub outcome: Outcome,
    pub details: serde_json::Value,
}

impl AuditEvent {
    /// An event done by an authenticated caller.
    pub fn by(principal: &Principal, action: &str) -> AuditEvent {
        AuditEvent {
            organization_id: Some(principal.organization_id.clone()),
            actor_id: Some(principal.user_id.clone()),
            actor_kind: principal.actor_kind(),
            action: action.to_string(),
            target_kind: None,
            target_id: None,
            outcome: Outcome::Success,
            details: serde_json::json!({}),
        }
    }

    /// An event with no authenticated actor (a login attempt, a registration).
    pub fn anonymous(organization_id: Option<&str>, action: &str) -> AuditEvent {
        AuditEvent {
            organization_id: organization_id.map(str::to_string),
            actor_id: None,
            actor_kind: "anonymous",
            action: action.to_string(),
            target_kind: None,
            target_id: None,
            outcome: Outcome::Success,
            details: serde_json::json!({}),
        }
    }

    /// An event done by the platform itself (the executor finishing a job, a start-up import).
    pub fn system(organization_id: Option<&str>, action: &str) -> AuditEvent {
        AuditEvent { actor_kind: "system", ..AuditEvent::anonymous(organization_id, action) }
    }

    pub fn target(mut self, kind: &'static str, id: &str) -> Self {
        self.target_kind = Some(kind);
        self.target_id = Some(id.to_string());
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// Appends `event` inside the transaction that `conn` belongs to, its hash keyed with the
/// current audit key.
pub(crate) async fn append(conn: &mut Conn, keys: &DerivedKeys, event: AuditEvent, ctx: &RequestContext) -> Result<()> {
    let (key_id, key) = keys.audit_current();
    let (seq, prev_hash) = database::audit::lock_head(conn).await?;
    let record = AuditRecord {
        seq,
        id: new_id(IdKind::AuditEvent),
        occurred_at_ms: now_ms(),
        organization_id: event.organization_id,
        actor_id: event.actor_id,
        actor_kind: event.actor_kind.to_string(),
        action: event.action,
        target_kind: event.target_kind.map(str::to_string),
        target_id: event.target_id,
        outcome: event.outcome.as_str().to_string(),
        ip: ctx.ip.clone(),
        user_agent: ctx.user_agent.as_deref().map(|ua| ua.chars().take(300).collect()),
        details: event.details.to_string(),
        key_id: Some(key_id.to_string()),
    };
    let hash = chain_hash(Some(key), &prev_hash, &record);
    database::audit::append(conn, &record, &prev_hash, &hash).await?;
    Ok(())
}

/// Query parameters for reading the log.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub organization_id: Option<String>,
    pub actor_id: Option<String>,
    pub action: Option<String>,
    pub target_id: Option<String>,
    pub outcome: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub before_seq: Option<i64>,
    pub limit: Option<i64>,
}

/// What `verify_audit_chain` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub records: i64,
    pub broken: Option<ChainBreak>,
}

impl Services {
    /// Records an event in a transaction of its own (security events outside any mutation).
    pub async fn record_event(&self, event: AuditEvent, ctx: &RequestContext) -> Result<()> {
        let mut tx = self.db().begin_write().await?;
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Admins read their organization's log; instance admins may name another organization.
    pub async fn list_audit_events(&self, principal: &Principal, q: AuditQuery) -> Result<Page<AuditRow>> {
        principal.require(Permission::ManageUsers)?;
        let limit = domain::validate::page_limit(q.limit)?;
        if let Some(o) = q.outcome.as_deref() {
            if domain::audit::Outcome::parse(o).is_none() {
                return Err(domain::ValidationError::new("outcome", format!("must be success, failure or denied (got '{o}')")).into());
            }
        }
        let organization_id = match q.organization_id {
            // Every organization, and instance-wide events such as anonymous requests.
            Some(org) if org == "*" && principal.is_instance_admin => None,
            Some(org) if principal.is_instance_admin => Some(org),
            Some(org) if org != principal.organization_id => return Err(Error::NotFound("organization")),
            _ => Some(principal.organization_id.clone()),
        };
        let filter = AuditFilter {
            organization_id,
            actor_id: q.actor_id,
            action: q.action,
            target_id: q.target_id,
            outcome: q.outcome,
            since_ms: q.since_ms,
            until_ms: q.until_ms,
        };
        let rows = database::audit::list(&mut *self.db().read().await?, &filter, q.before_seq, limit + 1).await?;
        Ok(Page::from_rows(rows, limit))
    }

    /// Walks the whole chain in order and checks every link and the stored head. Read-only, in
    /// one consistent snapshot (a repeatable-read transaction): a record appended meanwhile is
    /// simply not seen, never mistaken for a truncation.
    pub async fn verify_audit_chain(&self) -> Result<ChainReport> {
        verify_chain(self.db(), self.derived_keys()).await
    }

    /// At start: records written before the chain was keyed are sealed by one keyed record that
    /// counts them (once; nothing happens on a keyed or empty chain).
    pub(crate) async fn seal_unkeyed_audit_records(&self) -> Result<()> {
        // The usual start: the newest record is keyed (or there is none), so there is nothing to
        // seal — one indexed read, no scan of the log and no write.
        if !database::audit::newest_is_unkeyed(&mut *self.db().read().await?).await? {
            return Ok(());
        }
        let mut tx = self.db().begin_write().await?;
        let unkeyed = database::audit::unkeyed_records(tx.conn()).await?;
        if unkeyed > 0 && !database::audit::any_keyed(tx.conn()).await? {
            let event = AuditEvent::system(None, SEAL_ACTION).details(serde_json::json!({"unkeyed_records": unkeyed}));
            append(tx.conn(), self.derived_keys(), event, &RequestContext::default()).await?;
            tracing::warn!(records = unkeyed, "audit records written before the chain was keyed are sealed by a keyed record");
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Verifies the chain of a database opened read-only, with the audit keys of `keyring`'s
/// master keys (`tunery audit verify`: no server, nothing written, no key created).
pub async fn verify_read_only(db: &database::Db, keyring: &blob_store::Keyring) -> Result<ChainReport> {
    verify_chain(db, &DerivedKeys::from_keyring(keyring)).await
}

/// Verifies the chain of `db` with the audit keys of `keys`.
async fn verify_chain(db: &database::Db, keys: &DerivedKeys) -> Result<ChainReport> {
    let mut snapshot = db.snapshot().await?;
    let conn = snapshot.conn();
    let mut verifier = ChainVerifier::default();
    let mut after = 0;
    let mut records = 0;
    loop {
        let batch = database::audit::chain_batch(conn, after, 1000).await?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        for row in &batch {
            let key = row.key_id.as_deref().and_then(|id| keys.audit_key(id));
            if let Err(broken) = verifier.check(&row.record(), &row.prev_hash, &row.hash, key) {
                return Ok(ChainReport { records, broken: Some(broken) });
            }
            records += 1;
        }
    }
    let (head_seq, head_hash) = database::audit::head(conn).await?;
    snapshot.finish().await?;
    let (seq, hash) = verifier.head();
    if head_seq != seq || head_hash != hash {
        let reason = format!("the chain head says record {head_seq} but the log ends at record {seq} (records were removed from the end)");
        return Ok(ChainReport { records, broken: Some(ChainBreak { seq: head_seq, reason }) });
    }
    if let Err(broken) = verifier.finish() {
        return Ok(ChainReport { records, broken: Some(broken) });
    }
    Ok(ChainReport { records, broken: None })
}
