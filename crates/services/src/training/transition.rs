//! The one way a job changes state. Queue claims, recovery at start, cancel, resume and
//! settlement all call [`change_state`]: inside the caller's write transaction, on the job row
//! it has locked and re-read, it checks `JobState::can_become`, applies the change and writes the
//! job's `state` event and the audit record, so the three commit or vanish together. Any
//! transition the state machine does not allow is refused.

use crate::audit::{append, AuditEvent};
use crate::keys::DerivedKeys;
use crate::{now_ms, Error, RequestContext, Result};
use database::jobs::JobRow;
use database::Conn;
use domain::training::JobState;

/// The state a stored row is in; a value the server does not know is an error naming the job.
pub(crate) fn current_state(row: &JobRow) -> Result<JobState> {
    JobState::parse(&row.state).ok_or_else(|| Error::Internal(format!("job {}: unknown stored state '{}'", row.id, row.state)))
}

/// Moves `row` (locked in this transaction) to `to`, with `details` in its state event and in
/// `audit`'s details. Other fields of `row` the caller changed are written with it.
pub(crate) async fn change_state(
    conn: &mut Conn,
    keys: &DerivedKeys,
    row: &mut JobRow,
    to: JobState,
    details: serde_json::Value,
    audit: AuditEvent,
    ctx: &RequestContext,
) -> Result<()> {
    let from = current_state(row)?;
    if !from.can_become(to) {
        return Err(Error::Conflict(format!("job {} is {} and cannot become {}", row.id, from.as_str(), to.as_str())));
    }
    let now = now_ms();
    row.state = to.as_str().into();
    row.updated_at = now;
    match to {
        JobState::Running => row.started_at = row.started_at.or(Some(now)),
        s if s.is_terminal() => row.finished_at = Some(now),
        _ => row.finished_at = None,
    }
    if to != JobState::Running && to != JobState::Cancelling {
        row.runner_pid = None;
        row.runner_instance = None;
        row.stopping = None;
        // A job holds GPUs (an open run) exactly while it is running or cancelling.
        database::job_runs::close(conn, &row.id, now, to.as_str()).await?;
    }
    database::jobs::update(conn, row).await?;
    let mut data = details.clone();
    if let Some(o) = data.as_object_mut() {
        o.insert("state".into(), serde_json::json!(to.as_str()));
    }
    database::jobs::append_event(conn, &row.id, "state", None, now, &data.to_string()).await?;
    let mut audit_details = details;
    if let Some(o) = audit_details.as_object_mut() {
        o.insert("from".into(), serde_json::json!(from.as_str()));
        o.insert("to".into(), serde_json::json!(to.as_str()));
    }
    append(conn, keys, audit.target("job", &row.id.clone()).details(audit_details), ctx).await
}
