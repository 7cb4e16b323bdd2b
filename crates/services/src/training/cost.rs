//! Compute usage and cost: GPU-hours of job runs (each priced when it started, on demand or
//! spot) per user, project and GPU type over a period, for `/api/v1/usage`, and what one job
//! has cost.

use crate::{now_ms, Error, Principal, Result, Services};
use domain::Permission;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct ComputeLine {
    /// The user, project (null: no project) or GPU type.
    pub key: Option<String>,
    pub gpu_hours: f64,
    pub cost: f64,
    /// Jobs that ran in the period.
    pub jobs: u32,
}

/// GPU-hours and spend of training runs in a period (running ones up to now).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct ComputeUsage {
    pub gpu_hours: f64,
    pub cost: f64,
    pub jobs: u32,
    pub by_user: Vec<ComputeLine>,
    pub by_project: Vec<ComputeLine>,
    pub by_gpu_type: Vec<ComputeLine>,
}

/// What a job has used: GPU-hours and cost over all its runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct JobCost {
    pub gpu_hours: f64,
    pub cost: f64,
    pub runs: u32,
}

fn add(
    lines: &mut BTreeMap<Option<String>, (f64, f64, std::collections::BTreeSet<String>)>,
    key: Option<String>,
    h: f64,
    c: f64,
    job: &str,
) {
    let e = lines.entry(key).or_default();
    e.0 += h;
    e.1 += c;
    e.2.insert(job.to_string());
}

fn lines(m: BTreeMap<Option<String>, (f64, f64, std::collections::BTreeSet<String>)>) -> Vec<ComputeLine> {
    m.into_iter().map(|(key, (gpu_hours, cost, jobs))| ComputeLine { key, gpu_hours, cost, jobs: jobs.len() as u32 }).collect()
}

impl Services {
    /// The organization's training GPU-hours and spend in `[from, to)`.
    pub async fn compute_usage(&self, principal: &Principal, from: i64, to: i64) -> Result<ComputeUsage> {
        let (perms, _) = self.permissions_in(principal, None).await?;
        if !perms.contains(Permission::ViewMetrics) {
            return Err(Error::PermissionDenied(Permission::ViewMetrics));
        }
        let to = to.min(now_ms());
        let runs = database::job_runs::of_organization_within(&mut *self.db().read().await?, &principal.organization_id, from, to).await?;
        let (mut users, mut projects, mut types) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        let mut all = std::collections::BTreeSet::new();
        let mut total = ComputeUsage::default();
        for run in &runs {
            let hours = run.gpu_hours_within(from, to);
            let cost = hours * run.price_per_gpu_hour;
            total.gpu_hours += hours;
            total.cost += cost;
            all.insert(run.job_id.clone());
            add(&mut users, Some(run.user_id.clone()), hours, cost, &run.job_id);
            add(&mut projects, run.project_id.clone(), hours, cost, &run.job_id);
            add(&mut types, Some(run.gpu_type.clone()), hours, cost, &run.job_id);
        }
        total.jobs = all.len() as u32;
        total.by_user = lines(users);
        total.by_project = lines(projects);
        total.by_gpu_type = lines(types);
        Ok(total)
    }

    /// GPU-hours and cost of a job's runs (the caller checked it may see the job).
    pub(crate) async fn job_cost(&self, job_id: &str) -> Result<JobCost> {
        let runs = database::job_runs::of_job(&mut *self.db().read().await?, job_id).await?;
        let now = now_ms();
        let mut c = JobCost { runs: runs.len() as u32, ..JobCost::default() };
        for run in &runs {
            let hours = run.gpu_hours_within(run.started_at, now);
            c.gpu_hours += hours;
            c.cost += hours * run.price_per_gpu_hour;
        }
        Ok(c)
    }
}
