//! Quotas and budgets per organization, project and user: GPU-hours and spend per calendar
//! month (UTC), jobs and GPUs at once, and an alert threshold. A submission is checked against
//! what its subjects used this month plus what their waiting and running jobs are still
//! expected to use, under the organization's row lock, so concurrent submissions cannot
//! overshoot together; the dispatcher admits jobs within the jobs and GPUs at once (the policy's
//! group limits) and pauses running jobs — checkpoint, then wait — once a month's GPU-hours or
//! budget is used up.

use super::scheduling::resources_of;
use crate::audit::{append, AuditEvent};
use crate::deployments::limits::month_bounds;
use crate::error::OrNotFound;
use crate::{now_ms, Error, Principal, Refusal, RequestContext, Result, Services};
use database::jobs::JobRow;
use database::quotas::QuotaRow;
use domain::resources::JobResources;
use domain::training::JobState;
use domain::{Permission, ValidationError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;

/// What a quota limits; an absent limit does not apply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaLimits {
    /// GPU-hours (CPU-slot hours on a CPU-only machine) per calendar month, UTC.
    #[schema(minimum = 0, maximum = 10_000_000)]
    pub gpu_hours_per_month: Option<f64>,
    /// Compute spend per calendar month (GPU-hours × the GPU type's price). Once reached,
    /// running jobs pause (checkpoint, then wait) until the next month or a higher budget.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub budget_per_month: Option<f64>,
    /// Jobs running at once; more wait in the queue.
    #[schema(minimum = 0, maximum = 100_000)]
    pub max_concurrent_jobs: Option<u32>,
    /// GPUs (or CPU slots) at once.
    #[schema(minimum = 0, maximum = 100_000)]
    pub max_gpus: Option<u32>,
    /// Share of the month's GPU-hours or budget at which an alert is recorded (default 0.8).
    #[schema(minimum = 0.01, maximum = 1)]
    pub alert_at: Option<f64>,
}

impl QuotaLimits {
    fn validate(&self) -> Result<()> {
        let range = |field: &str, v: Option<f64>, min: f64, max: f64| -> Result<()> {
            match v {
                Some(x) if !x.is_finite() || x < min || x > max => {
                    Err(ValidationError::new(field, format!("must be {min} to {max} (got {x})")).into())
                }
                _ => Ok(()),
            }
        };
        range("gpu_hours_per_month", self.gpu_hours_per_month, 0.0, 10_000_000.0)?;
        range("budget_per_month", self.budget_per_month, 0.0, 1_000_000_000.0)?;
        range("alert_at", self.alert_at, 0.01, 1.0)?;
        for (field, v) in [("max_concurrent_jobs", self.max_concurrent_jobs), ("max_gpus", self.max_gpus)] {
            if v.is_some_and(|n| n > 100_000) {
                return Err(ValidationError::new(field, "must be 0 to 100000").into());
            }
        }
        Ok(())
    }

    fn parse(row: &QuotaRow) -> Result<QuotaLimits> {
        let value: serde_json::Value = serde_json::from_str(&row.limits)
            .map_err(|e| Error::Internal(format!("quota {} {}: the stored limits are not JSON: {e}", row.scope, row.subject_id)))?;
        serde_path_to_error::deserialize(value).map_err(|e| {
            Error::Internal(format!("quota {} {}: the stored limits do not parse: {}: {}", row.scope, row.subject_id, e.path(), e.inner()))
        })
    }
}

/// Who a quota applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Organization,
    Project,
    User,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "organization" => Some(Scope::Organization),
            "project" => Some(Scope::Project),
            "user" => Some(Scope::User),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Organization => "organization",
            Scope::Project => "project",
            Scope::User => "user",
        }
    }
}

/// The scheduler group of a subject (`user usr_…`): what the policy's limits and the messages name.
pub(crate) fn group(scope: &str, subject_id: &str) -> String {
    format!("{scope} {subject_id}")
}

/// The groups of work by `user` in `organization` (and `project`).
pub(crate) fn groups(user: &str, organization: &str, project: Option<&str>) -> Vec<String> {
    let mut g = vec![group("user", user), group("organization", organization)];
    if let Some(p) = project {
        g.push(group("project", p));
    }
    g
}

/// The groups a job belongs to.
pub(crate) fn groups_of(row: &JobRow) -> Vec<String> {
    groups(&row.created_by, &row.organization_id, row.project_id.as_deref())
}

/// The organization's queued, running and cancelling jobs.
async fn active_jobs(conn: &mut database::Conn, org: &str) -> Result<Vec<JobRow>> {
    let mut active = Vec::new();
    for state in [JobState::Queued, JobState::Running, JobState::Cancelling] {
        active.extend(database::jobs::in_state(conn, state.as_str(), 100_000).await?.into_iter().filter(|j| j.organization_id == org));
    }
    Ok(active)
}

/// A month's use of one subject.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct QuotaUsage {
    /// GPU-hours run this month (running jobs up to now).
    pub gpu_hours: f64,
    /// Spend this month.
    pub cost: f64,
    pub running_jobs: u32,
    /// Evaluations running now: they count as jobs against `max_concurrent_jobs`.
    pub running_evaluations: u32,
    pub gpus_in_use: u32,
    /// GPU-hours the subject's waiting and running jobs are still expected to use (estimates).
    pub committed_gpu_hours: f64,
    pub committed_cost: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QuotaView {
    /// `organization`, `project` or `user`.
    pub scope: String,
    pub subject_id: String,
    pub limits: QuotaLimits,
    /// The calendar month the usage covers (`2026-12`).
    pub period: String,
    pub usage: QuotaUsage,
    /// The month's GPU-hours or budget reached: running jobs pause, waiting ones wait.
    pub exhausted: bool,
    /// The alert for this month was recorded.
    pub alerted: bool,
    pub updated_by: String,
    /// Unix seconds.
    pub updated_at: i64,
}

/// Usage this month per group, from the runs and the active jobs.
#[derive(Debug, Default)]
pub(crate) struct MonthUsage {
    pub period: String,
    pub by_group: HashMap<String, QuotaUsage>,
}

fn period_of(now: i64) -> String {
    let (y, m, _) = domain::calendar::civil_from_days(now.div_euclid(86_400_000));
    format!("{y:04}-{m:02}")
}

/// The running time a quota counts for a job: its maximum duration (the most it may use), else
/// its estimate.
fn counted_seconds(r: &JobResources, estimate_seconds: Option<f64>) -> f64 {
    match r.max_duration_s {
        Some(d) => d as f64,
        None => estimate_seconds.unwrap_or(3600.0),
    }
}

/// Expected GPU-hours still to run for an active job: its counted duration × GPUs × what is left.
fn remaining_gpu_hours(row: &JobRow, r: &JobResources) -> f64 {
    let estimate = serde_json::from_str::<serde_json::Value>(&row.estimate).ok().and_then(|e| e["seconds"].as_f64());
    let seconds = counted_seconds(r, estimate);
    let left = match row.total_steps {
        Some(t) if t > 0 => 1.0 - (row.current_step as f64 / t as f64).clamp(0.0, 1.0),
        _ => 1.0,
    };
    seconds / 3600.0 * f64::from(r.gpus) * left
}

impl MonthUsage {
    /// `exhausted`: the month's GPU-hours or budget reached.
    fn exhausted(&self, g: &str, limits: &QuotaLimits) -> Option<String> {
        let u = self.by_group.get(g).cloned().unwrap_or_default();
        if let Some(max) = limits.gpu_hours_per_month.filter(|&m| u.gpu_hours >= m) {
            return Some(format!("the quota of {g}: {:.2} of {max} GPU-hours used in {}", u.gpu_hours, self.period));
        }
        if let Some(max) = limits.budget_per_month.filter(|&m| u.cost >= m) {
            return Some(format!("the budget of {g}: {:.2} of {max:.2} spent in {}", u.cost, self.period));
        }
        None
    }
}

/// The quotas of every organization with this month's usage: what the dispatcher admits by.
pub(crate) struct QuotaState {
    pub quotas: Vec<(QuotaRow, QuotaLimits)>,
    pub usage: MonthUsage,
}

impl QuotaState {
    pub fn of(rows: Vec<QuotaRow>, usage: MonthUsage) -> Result<QuotaState> {
        let quotas = rows.into_iter().map(|q| QuotaLimits::parse(&q).map(|l| (q, l))).collect::<Result<Vec<_>>>()?;
        Ok(QuotaState { quotas, usage })
    }

    /// Group limits for the policy (jobs and GPUs at once), with the group's running
    /// evaluations, which take jobs-at-once places outside the policy.
    pub fn limits(&self) -> impl Iterator<Item = (String, scheduler::Limit)> + '_ {
        self.quotas.iter().filter(|(_, l)| l.max_concurrent_jobs.is_some() || l.max_gpus.is_some()).map(|(q, l)| {
            let g = group(&q.scope, &q.subject_id);
            let also_running = self.usage.by_group.get(&g).map_or(0, |u| u.running_evaluations);
            (g, scheduler::Limit { max_jobs: l.max_concurrent_jobs, max_gpus: l.max_gpus, also_running })
        })
    }

    /// The quotas of `groups`, with each one's group name.
    fn of_groups<'a>(&'a self, groups: &'a [String]) -> impl Iterator<Item = (String, &'a QuotaLimits)> + 'a {
        self.quotas.iter().map(|(q, l)| (group(&q.scope, &q.subject_id), l)).filter(|(g, _)| groups.contains(g))
    }

    /// Why work of `groups` may not run this month (a used-up GPU-hour quota or budget of one of them).
    pub fn exhausted_in(&self, groups: &[String]) -> Option<String> {
        self.of_groups(groups).find_map(|(g, l)| self.usage.exhausted(&g, l))
    }

    /// Why a job may not run this month.
    pub fn exhausted_for(&self, row: &JobRow) -> Option<String> {
        self.exhausted_in(&groups_of(row))
    }

    /// Why one more piece of work of `groups` outside the policy (an evaluation) may not start
    /// now: a month used up, or a jobs-at-once limit reached by running jobs and evaluations.
    pub fn refuses_another(&self, groups: &[String]) -> Option<String> {
        self.exhausted_in(groups).or_else(|| {
            self.of_groups(groups).find_map(|(g, l)| {
                let u = self.usage.by_group.get(&g).cloned().unwrap_or_default();
                let running = u.running_jobs + u.running_evaluations;
                l.max_concurrent_jobs.filter(|&max| running + 1 > max).map(|max| {
                    format!(
                        "the quota of {g}: at most {max} job(s) running at once; {} job(s) and {} evaluation(s) running",
                        u.running_jobs, u.running_evaluations
                    )
                })
            })
        })
    }
}

impl Services {
    /// This month's usage per group from the runs (every organization, or one) and, with
    /// `active`, the expected remainder of active jobs.
    pub(crate) async fn month_usage(&self, org: Option<&str>, active: &[JobRow]) -> Result<MonthUsage> {
        let now = now_ms();
        let (from, _) = month_bounds(now);
        let runs = database::job_runs::since(&mut *self.db().read().await?, from).await?;
        let mut usage = MonthUsage { period: period_of(now), by_group: HashMap::new() };
        for run in runs.iter().filter(|r| org.is_none_or(|o| r.organization_id == o)) {
            let hours = run.gpu_hours_within(from, now);
            for g in groups(&run.user_id, &run.organization_id, run.project_id.as_deref()) {
                let u = usage.by_group.entry(g).or_default();
                u.gpu_hours += hours;
                u.cost += hours * run.price_per_gpu_hour;
                if run.ended_at.is_none() {
                    u.running_jobs += 1;
                    u.gpus_in_use += run.gpus as u32;
                }
            }
        }
        let evaluation_runs = database::evaluation_runs::since(&mut *self.db().read().await?, from).await?;
        for run in evaluation_runs.iter().filter(|r| org.is_none_or(|o| r.organization_id == o)) {
            let hours = run.gpu_hours_within(from, now);
            for g in groups(&run.user_id, &run.organization_id, run.project_id.as_deref()) {
                let u = usage.by_group.entry(g).or_default();
                u.gpu_hours += hours;
                u.cost += hours * run.price_per_gpu_hour;
                u.running_evaluations += u32::from(run.ended_at.is_none());
            }
        }
        let (prices, nodes) = (self.price_table(&mut *self.db().read().await?).await?, self.nodes());
        for row in active {
            let r = resources_of(row)?;
            let hours = remaining_gpu_hours(row, &r);
            let price = prices.price_for_request(r.gpu_type.as_deref(), r.preemptible, &nodes);
            for g in groups_of(row) {
                let u = usage.by_group.entry(g).or_default();
                u.committed_gpu_hours += hours;
                u.committed_cost += hours * price;
            }
        }
        Ok(usage)
    }

    pub(crate) async fn quota_state(&self) -> Result<QuotaState> {
        let rows = database::quotas::all(&mut *self.db().read().await?).await?;
        let usage = if rows.is_empty() { MonthUsage::default() } else { self.month_usage(None, &[]).await? };
        QuotaState::of(rows, usage)
    }

    /// Checks a submission against its subjects' quotas inside the submitting transaction
    /// (which holds the organization's row lock): GPUs at once, and this month's GPU-hours and
    /// budget counting what waiting and running jobs are still expected to use.
    pub(crate) async fn check_quotas(
        &self,
        conn: &mut database::Conn,
        principal: &Principal,
        project_id: Option<&str>,
        resources: &JobResources,
        estimate_seconds: f64,
    ) -> Result<()> {
        database::quotas::lock_organization(conn, &principal.organization_id).await?;
        let rows = database::quotas::of_organization(conn, &principal.organization_id).await?;
        if rows.is_empty() {
            return Ok(());
        }
        let active = active_jobs(conn, &principal.organization_id).await?;
        let usage = self.month_usage(Some(&principal.organization_id), &active).await?;
        let mine = groups(&principal.user_id, &principal.organization_id, project_id);
        let hours = counted_seconds(resources, Some(estimate_seconds)) / 3600.0 * f64::from(resources.gpus);
        let cost =
            hours * self.price_table(conn).await?.price_for_request(resources.gpu_type.as_deref(), resources.preemptible, &self.nodes());
        for row in rows {
            let g = group(&row.scope, &row.subject_id);
            if !mine.contains(&g) {
                continue;
            }
            let l = QuotaLimits::parse(&row)?;
            let u = usage.by_group.get(&g).cloned().unwrap_or_default();
            let refuse = |message: String| Err(Error::Refused { reason: Refusal::QuotaExceeded, message });
            if let Some(max) = l.max_gpus.filter(|&m| resources.gpus > m) {
                return refuse(format!("the quota of {g} allows {max} GPU(s) at once; this job asks for {}", resources.gpus));
            }
            if let Some(max) = l.gpu_hours_per_month.filter(|&m| u.gpu_hours + u.committed_gpu_hours + hours > m) {
                return refuse(format!(
                    "the quota of {g}: {max} GPU-hours in {}; {:.3} used and {:.3} expected by its waiting and running jobs, and this job needs about {hours:.3}",
                    usage.period, u.gpu_hours, u.committed_gpu_hours
                ));
            }
            if let Some(max) = l.budget_per_month.filter(|&m| u.cost + u.committed_cost + cost > m) {
                return refuse(format!(
                    "the budget of {g}: {max:.2} in {}; {:.2} spent and {:.2} expected by its waiting and running jobs, and this job costs about {cost:.2}",
                    usage.period, u.cost, u.committed_cost
                ));
            }
        }
        Ok(())
    }

    /// The organization's quotas with this month's usage.
    pub async fn list_quotas(&self, principal: &Principal) -> Result<Vec<QuotaView>> {
        let (perms, _) = self.permissions_in(principal, None).await?;
        if !perms.contains(Permission::ViewMetrics) {
            return Err(Error::PermissionDenied(Permission::ViewMetrics));
        }
        let org = &principal.organization_id;
        let mut conn = self.db().read().await?;
        let rows = database::quotas::of_organization(&mut conn, org).await?;
        let active = active_jobs(&mut conn, org).await?;
        drop(conn);
        let usage = self.month_usage(Some(org), &active).await?;
        rows.into_iter()
            .map(|row| {
                let limits = QuotaLimits::parse(&row)?;
                let g = group(&row.scope, &row.subject_id);
                Ok(QuotaView {
                    exhausted: usage.exhausted(&g, &limits).is_some(),
                    alerted: row.alerted_period.as_deref() == Some(usage.period.as_str()),
                    usage: usage.by_group.get(&g).cloned().unwrap_or_default(),
                    period: usage.period.clone(),
                    scope: row.scope,
                    subject_id: row.subject_id,
                    limits,
                    updated_by: row.updated_by,
                    updated_at: row.updated_at / 1000,
                })
            })
            .collect()
    }

    /// Sets a quota (administrators: `manage_resources`). The subject must belong to the
    /// caller's organization (else 404).
    pub async fn set_quota(
        &self,
        principal: &Principal,
        scope: Scope,
        subject_id: &str,
        limits: QuotaLimits,
        ctx: &RequestContext,
    ) -> Result<QuotaView> {
        let scope = self.quota_subject(principal, scope, subject_id).await?;
        limits.validate()?;
        let row = QuotaRow {
            organization_id: principal.organization_id.clone(),
            scope: scope.as_str().into(),
            subject_id: subject_id.into(),
            limits: serde_json::to_string(&limits).map_err(crate::datasets::internal)?,
            alerted_period: None,
            updated_by: principal.user_id.clone(),
            updated_at: now_ms(),
        };
        let mut tx = self.db().begin_write().await?;
        database::quotas::upsert(tx.conn(), &row).await?;
        let event = AuditEvent::by(principal, "quota.set")
            .target(scope.as_str(), subject_id)
            .details(serde_json::to_value(&limits).map_err(crate::datasets::internal)?);
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        self.queue().wake();
        let views = self.list_quotas(principal).await?;
        views.into_iter().find(|q| q.scope == scope.as_str() && q.subject_id == subject_id).ok_or(Error::NotFound("quota"))
    }

    pub async fn delete_quota(&self, principal: &Principal, scope: Scope, subject_id: &str, ctx: &RequestContext) -> Result<()> {
        let scope = self.quota_subject(principal, scope, subject_id).await?;
        let mut tx = self.db().begin_write().await?;
        if !database::quotas::delete(tx.conn(), &principal.organization_id, scope.as_str(), subject_id).await? {
            return Err(Error::NotFound("quota"));
        }
        append(tx.conn(), self.derived_keys(), AuditEvent::by(principal, "quota.delete").target(scope.as_str(), subject_id), ctx).await?;
        tx.commit().await?;
        self.queue().wake();
        Ok(())
    }

    /// Checks the caller may manage quotas and the subject is of their organization.
    async fn quota_subject(&self, principal: &Principal, scope: Scope, subject_id: &str) -> Result<Scope> {
        let (perms, _) = self.permissions_in(principal, None).await?;
        if !perms.contains(Permission::ManageResources) {
            return Err(Error::PermissionDenied(Permission::ManageResources));
        }
        let org = &principal.organization_id;
        let mut conn = self.db().read().await?;
        match scope {
            Scope::Organization if subject_id == org => {}
            Scope::Organization => return Err(Error::NotFound("organization")),
            Scope::Project => {
                database::projects::get(&mut conn, org, subject_id).await.or_not_found("project")?;
            }
            Scope::User => {
                database::users::get(&mut conn, org, subject_id).await.or_not_found("user")?;
            }
        }
        Ok(scope)
    }

    /// Records each quota's alert once a month when its usage reaches the alert share.
    pub(crate) async fn alert_quotas(&self, state: &QuotaState) -> Result<()> {
        for (row, limits) in &state.quotas {
            let g = group(&row.scope, &row.subject_id);
            let u = state.usage.by_group.get(&g).cloned().unwrap_or_default();
            let at = limits.alert_at.unwrap_or(0.8);
            let hours =
                limits.gpu_hours_per_month.filter(|&m| u.gpu_hours >= at * m).map(|m| format!("{:.2} of {m} GPU-hours", u.gpu_hours));
            let spend = limits.budget_per_month.filter(|&m| u.cost >= at * m).map(|m| format!("{:.2} of {m:.2} budget", u.cost));
            let Some(what) = hours.or(spend) else { continue };
            let mut tx = self.db().begin_write().await?;
            if database::quotas::mark_alerted(tx.conn(), row, &state.usage.period).await? {
                tracing::warn!(quota = %g, "quota alert: {what} used in {}", state.usage.period);
                let scope = Scope::parse(&row.scope).map_or("quota", Scope::as_str);
                let event = AuditEvent::system(Some(&row.organization_id), "quota.alert")
                    .target(scope, &row.subject_id)
                    .details(serde_json::json!({"period": state.usage.period, "used": what, "gpu_hours": u.gpu_hours, "cost": u.cost}));
                append(tx.conn(), self.derived_keys(), event, &RequestContext::default()).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }
}
