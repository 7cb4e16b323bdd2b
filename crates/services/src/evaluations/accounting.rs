//! Evaluations scheduled like training jobs: a queued evaluation is taken only within the
//! jobs-at-once quotas of its creator, project and organization (running evaluations count as
//! jobs there, and the training scheduler counts them too) and while none of their month's
//! GPU-hours or budget is used up; a submission is refused once it is. Each time a runner holds
//! an evaluation is a run on one slot of the device its answers come from — this server's, for
//! a deployment served here; none for an external URL (its provider bills it) or a predictions
//! file — priced like a job run, in the month's usage and the usage report.

use super::{state, Evaluation};
use crate::training::cost::JobCost;
use crate::training::quotas::{groups, QuotaState};
use crate::{now_ms, Error, Principal, Refusal, Result, Services};
use database::evaluation_runs::EvaluationRunRow;
use database::evaluations::EvaluationRow;
use serde::Serialize;
use utoipa::ToSchema;

/// Why a queued evaluation waits.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct EvaluationWait {
    /// `quota` (a jobs-at-once limit, or a month's GPU-hours or budget used up) or `runners`
    /// (every runner is busy).
    pub code: String,
    pub message: String,
}

/// The groups (quota subjects) of an evaluation.
fn groups_of(row: &EvaluationRow) -> Vec<String> {
    groups(&row.created_by, &row.organization_id, row.project_id.as_deref())
}

impl Services {
    /// The device slots a run of `e` holds: one of this server's first device type for a
    /// deployment served by this platform, none otherwise.
    fn evaluation_slots(&self, e: &Evaluation) -> (String, i64) {
        let served_here = e.config.model.as_ref().is_some_and(|m| m.backend != "external");
        let nodes = self.settings().scheduling.local_nodes(&self.settings().training);
        let gpu_type = nodes.first().map_or_else(|| "cpu".to_string(), |n| n.gpu_type.clone());
        (gpu_type, i64::from(served_here))
    }

    /// Opens the run of `instance` taking `e`, in the claiming transaction.
    pub(super) async fn open_evaluation_run(&self, conn: &mut database::Conn, e: &Evaluation, instance: &str, now: i64) -> Result<()> {
        let (gpu_type, gpus) = self.evaluation_slots(e);
        let price = self.price_table(conn).await?.price(&gpu_type, false);
        let run = EvaluationRunRow {
            id: crate::crypto::new_id(domain::ids::IdKind::EvaluationRun),
            evaluation_id: e.row.id.clone(),
            organization_id: e.row.organization_id.clone(),
            project_id: e.row.project_id.clone(),
            user_id: e.row.created_by.clone(),
            runner_instance: instance.to_string(),
            gpu_type,
            gpus,
            price_per_gpu_hour: price,
            started_at: now,
            seen_at: now,
            ended_at: None,
            ended_because: None,
        };
        database::evaluation_runs::open(conn, &run).await?;
        Ok(())
    }

    /// Closes the run `instance` held, naming how the evaluation stands (`stopped` when it is
    /// still unfinished: the runner let go).
    pub(super) async fn close_evaluation_run(&self, id: &str, instance: &str) -> Result<()> {
        let mut tx = self.db().begin_write().await?;
        let row = database::evaluations::get_any(tx.conn(), id).await?;
        let because = match row.state.as_str() {
            state::QUEUED | state::RUNNING => "stopped",
            s => s,
        };
        database::evaluation_runs::close(tx.conn(), id, instance, now_ms(), because).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Why `row` may not start now by its groups' quotas (None: it may).
    pub(super) fn evaluation_quota_wait(&self, quotas: &QuotaState, row: &EvaluationRow) -> Option<String> {
        quotas.refuses_another(&groups_of(row))
    }

    /// Why a queued evaluation waits, as of now.
    pub(super) async fn evaluation_wait(&self, row: &EvaluationRow) -> Result<Option<EvaluationWait>> {
        if row.state != state::QUEUED {
            return Ok(None);
        }
        let quotas = self.quota_state().await?;
        if let Some(message) = self.evaluation_quota_wait(&quotas, row) {
            return Ok(Some(EvaluationWait { code: "quota".into(), message }));
        }
        let running = self.evaluation_runner().running();
        Ok((running >= super::run::RUNNING_AT_ONCE).then(|| EvaluationWait {
            code: "runners".into(),
            message: format!(
                "this server runs {} evaluations at once and all are busy; it starts when one ends",
                super::run::RUNNING_AT_ONCE
            ),
        }))
    }

    /// What an evaluation's runs have used.
    pub(super) async fn evaluation_cost(&self, id: &str) -> Result<JobCost> {
        let runs = database::evaluation_runs::of_evaluation(&mut *self.db().read().await?, id).await?;
        let now = now_ms();
        Ok(JobCost::of(runs.iter().map(|r| (r.gpu_hours_within(r.started_at, now), r.price_per_gpu_hour))))
    }

    /// Refuses a new evaluation (inside its inserting transaction, under the organization's
    /// row lock) once a month's GPU-hours or budget of one of its groups is used up.
    pub(super) async fn check_evaluation_quotas(
        &self,
        conn: &mut database::Conn,
        principal: &Principal,
        project_id: Option<&str>,
    ) -> Result<()> {
        database::quotas::lock_organization(conn, &principal.organization_id).await?;
        let rows = database::quotas::of_organization(conn, &principal.organization_id).await?;
        if rows.is_empty() {
            return Ok(());
        }
        let quotas = QuotaState::of(rows, self.month_usage(Some(&principal.organization_id), &[]).await?)?;
        match quotas.exhausted_in(&groups(&principal.user_id, &principal.organization_id, project_id)) {
            Some(message) => Err(Error::Refused { reason: Refusal::QuotaExceeded, message }),
            None => Ok(()),
        }
    }
}
