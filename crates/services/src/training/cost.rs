//! Compute usage and cost: GPU-hours of job runs and evaluation runs (each priced when it
//! started, on demand or spot) per user, project and GPU type over a period, for
//! `/api/v1/usage`, and what one job has cost.

use crate::{now_ms, Error, Principal, Result, Services};
use domain::Permission;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct ComputeLine {
    /// The user, project (null: no project) or GPU type.
    pub key: Option<String>,
    pub gpu_hours: f64,
    pub cost: f64,
    /// Jobs that ran in the period.
    pub jobs: u32,
    /// Evaluations that ran in the period.
    pub evaluations: u32,
}

/// GPU-hours and spend of training and evaluation runs in a period (running ones up to now).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct ComputeUsage {
    pub gpu_hours: f64,
    pub cost: f64,
    pub jobs: u32,
    pub evaluations: u32,
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

impl JobCost {
    /// What runs cost, each given as its GPU-hours and its price per GPU-hour.
    pub(crate) fn of(runs: impl ExactSizeIterator<Item = (f64, f64)>) -> JobCost {
        let mut c = JobCost { runs: runs.len() as u32, ..JobCost::default() };
        for (hours, price) in runs {
            c.gpu_hours += hours;
            c.cost += hours * price;
        }
        c
    }
}

/// One run's share of a line: its hours, its cost, and the job or evaluation it belongs to.
struct RunShare<'a> {
    hours: f64,
    cost: f64,
    job: Option<&'a str>,
    evaluation: Option<&'a str>,
}

#[derive(Default)]
struct Line {
    hours: f64,
    cost: f64,
    jobs: BTreeSet<String>,
    evaluations: BTreeSet<String>,
}

impl Line {
    fn add(&mut self, r: &RunShare) {
        self.hours += r.hours;
        self.cost += r.cost;
        self.jobs.extend(r.job.map(str::to_string));
        self.evaluations.extend(r.evaluation.map(str::to_string));
    }
}

fn lines(m: BTreeMap<Option<String>, Line>) -> Vec<ComputeLine> {
    m.into_iter()
        .map(|(key, l)| ComputeLine {
            key,
            gpu_hours: l.hours,
            cost: l.cost,
            jobs: l.jobs.len() as u32,
            evaluations: l.evaluations.len() as u32,
        })
        .collect()
}

impl Services {
    /// The organization's training and evaluation GPU-hours and spend in `[from, to)`.
    pub async fn compute_usage(&self, principal: &Principal, from: i64, to: i64) -> Result<ComputeUsage> {
        let (perms, _) = self.permissions_in(principal, None).await?;
        if !perms.contains(Permission::ViewMetrics) {
            return Err(Error::PermissionDenied(Permission::ViewMetrics));
        }
        let to = to.min(now_ms());
        let org = &principal.organization_id;
        let runs = database::job_runs::of_organization_within(&mut *self.db().read().await?, org, from, to).await?;
        let evaluation_runs = database::evaluation_runs::of_organization_within(&mut *self.db().read().await?, org, from, to).await?;
        let (mut users, mut projects, mut types) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        let mut all = Line::default();
        let shares = runs
            .iter()
            .map(|r| (r.gpu_hours_within(from, to), r.price_per_gpu_hour, &r.user_id, &r.project_id, &r.gpu_type, Some(&r.job_id), None))
            .chain(evaluation_runs.iter().map(|r| {
                (r.gpu_hours_within(from, to), r.price_per_gpu_hour, &r.user_id, &r.project_id, &r.gpu_type, None, Some(&r.evaluation_id))
            }));
        for (hours, price, user, project, gpu_type, job, evaluation) in shares {
            let share = RunShare { hours, cost: hours * price, job: job.map(String::as_str), evaluation: evaluation.map(String::as_str) };
            all.add(&share);
            users.entry(Some(user.clone())).or_insert_with(Line::default).add(&share);
            projects.entry(project.clone()).or_insert_with(Line::default).add(&share);
            types.entry(Some(gpu_type.clone())).or_insert_with(Line::default).add(&share);
        }
        let mut total = ComputeUsage {
            gpu_hours: all.hours,
            cost: all.cost,
            jobs: all.jobs.len() as u32,
            evaluations: all.evaluations.len() as u32,
            ..ComputeUsage::default()
        };
        total.by_user = lines(users);
        total.by_project = lines(projects);
        total.by_gpu_type = lines(types);
        Ok(total)
    }

    /// GPU-hours and cost of a job's runs (the caller checked it may see the job).
    pub(crate) async fn job_cost(&self, job_id: &str) -> Result<JobCost> {
        let runs = database::job_runs::of_job(&mut *self.db().read().await?, job_id).await?;
        let now = now_ms();
        Ok(JobCost::of(runs.iter().map(|r| (r.gpu_hours_within(r.started_at, now), r.price_per_gpu_hour))))
    }
}
