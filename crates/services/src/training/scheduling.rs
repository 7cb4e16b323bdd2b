//! The scheduler in the server. The policy (`scheduler` crate) is pure; here it is rebuilt
//! from the database at each tick — the queued jobs of every organization, the runs this
//! server holds (their GPUs, checkpoints and pending stops), each user's decayed GPU-time —
//! so what it decides follows only from stored state, and `/api/v1/cluster` shows the same
//! order and reasons the dispatcher acts on.

use crate::{Error, Principal, Result, Services};
use database::job_runs::JobRunRow;
use database::jobs::JobRow;
use domain::resources::{JobResources, PriorityClass, ResourceRequest};
use domain::training::JobState;
use domain::{Role, ValidationError};
use scheduler::{Allocation, Cluster, Decision, History, JobRequest, Node, RunningJob, Scheduler, Wait};
use std::collections::HashMap;

/// Where a run's GPUs are: the policy's allocation plus the device indices on the node (what
/// `CUDA_VISIBLE_DEVICES` gets on a GPU node).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Placed {
    pub node: String,
    pub gpus: u32,
    pub devices: Vec<u32>,
}

/// A tick's outcome, before anything acts on it.
pub(crate) struct Plan {
    pub scheduler: Scheduler,
    pub decisions: Vec<Decision>,
    /// The queued jobs, as read.
    pub queued: Vec<JobRow>,
    /// Queued jobs the policy was not given, with why they wait: no node of this server can
    /// hold them (`impossible`: the nodes changed since they were submitted), or a month's
    /// GPU-hours or budget of their user, project or organization is used up (`quota`).
    pub held: HashMap<String, Wait>,
    /// Quotas with this month's usage.
    pub quotas: super::quotas::QuotaState,
    /// The jobs this server runs, with their runs.
    pub running: Vec<(JobRow, JobRunRow)>,
}

impl Plan {
    /// The queue in start order (jobs that start now first), then the impossible ones.
    pub fn order(&self) -> Vec<&JobRow> {
        let by_id: HashMap<&str, &JobRow> = self.queued.iter().map(|j| (j.id.as_str(), j)).collect();
        let starting = self.decisions.iter().filter_map(|d| match d {
            Decision::Start { job, .. } => Some(job.clone()),
            Decision::Preempt { .. } => None,
        });
        let mut ids: Vec<String> = starting.collect();
        ids.extend(self.scheduler.queue_order());
        ids.extend(self.queued.iter().filter(|j| self.held.contains_key(&j.id)).map(|j| j.id.clone()));
        ids.iter().filter_map(|id| by_id.get(id.as_str()).copied()).collect()
    }

    /// Why a queued job waits (None: it starts now).
    pub fn wait(&self, id: &str) -> Option<Wait> {
        if let Some(why) = self.held.get(id) {
            return Some(why.clone());
        }
        self.scheduler.wait_reason(id)
    }
}

/// The stored resources of a job; a value that does not parse is an error naming the job.
pub(crate) fn resources_of(row: &JobRow) -> Result<JobResources> {
    JobResources::parse(&row.resources).map_err(|e| Error::Internal(format!("job {}: the stored resources do not parse: {e}", row.id)))
}

/// The stored placement of a run; one that does not parse is an error naming the run.
pub(crate) fn placement_of(run: &JobRunRow) -> Result<Vec<Placed>> {
    serde_json::from_str(&run.placement)
        .map_err(|e| Error::Internal(format!("run {} of job {}: the stored placement does not parse: {e}", run.id, run.job_id)))
}

impl Services {
    /// A submission's resource request resolved: the priority class (the caller's default when
    /// none is named) within the caller's allowance (else 403), and GPUs some node can hold
    /// (else 422 naming what the cluster has).
    pub(crate) fn resolve_resources(&self, principal: &Principal, req: &ResourceRequest) -> Result<JobResources> {
        req.validate("resources")?;
        let scheduling = &self.settings().scheduling;
        let own = scheduling.user_priorities.get(&principal.email).cloned().unwrap_or_default();
        let name = req.priority.clone().or(own.default.clone()).unwrap_or_else(|| scheduling.default_priority.clone());
        let class = scheduling.requested_class(&name)?;
        let admin = principal.org_role == Role::Admin || principal.is_instance_admin;
        if !admin {
            let allowed = self.priority_allowance(&own);
            if class.value > allowed.value {
                return Err(Error::Forbidden(format!(
                    "priority '{}' is above your allowance (at most '{}'); an organization admin may submit it",
                    class.name, allowed.name
                )));
            }
        }
        let resources = JobResources {
            gpu_type: req.gpu_type.clone(),
            gpus: req.gpus,
            gpu_memory_gib: req.gpu_memory_gib.unwrap_or(0.0),
            max_duration_s: req.max_duration_s,
            preemptible: req.preemptible,
            priority: class.name.clone(),
            priority_value: class.value,
        };
        let cluster = self.placement_cluster();
        if let Some(why) = cluster.impossible(&need(&resources)) {
            return Err(ValidationError::unprocessable("resources", format!("{why} (GET /api/v1/cluster lists the nodes)")).into());
        }
        Ok(resources)
    }

    /// The highest class a member may ask for: their own maximum, else the members' one, and
    /// never below their own default.
    fn priority_allowance(&self, own: &crate::settings::UserPriority) -> PriorityClass {
        let scheduling = &self.settings().scheduling;
        let lowest = PriorityClass { name: scheduling.default_priority.clone(), value: 0 };
        let of = |name: Option<&String>| name.and_then(|n| scheduling.class(n)).cloned();
        let max = of(own.max.as_ref()).or_else(|| of(Some(&scheduling.member_max_priority))).unwrap_or(lowest);
        match of(own.default.as_ref()) {
            Some(d) if d.value > max.value => d,
            _ => max,
        }
    }

    pub(crate) fn nodes(&self) -> Vec<Node> {
        match self.ray() {
            Some(ray) => ray.scheduler_nodes(),
            None => self.settings().scheduling.local_nodes(&self.settings().training),
        }
    }

    /// The nodes as the policy places on them: on Ray a run stays on one node (a Ray job starts
    /// one entrypoint; multi-node training there is not built).
    fn placement_cluster(&self) -> Cluster {
        let cluster = Cluster::new(self.nodes());
        match self.ray() {
            Some(_) => cluster.one_node_only(),
            None => cluster,
        }
    }

    /// Rebuilds the policy from stored state and ticks it at `now`; nothing is acted on.
    pub(crate) async fn plan_now(&self, now: i64) -> Result<Plan> {
        let scheduling = &self.settings().scheduling;
        let mut s = Scheduler::new(scheduling.policy_config(), self.placement_cluster());
        let quotas = self.quota_state().await?;
        for (group, limit) in quotas.limits() {
            s.set_limit(&group, limit);
        }
        let half_life = scheduling.usage_half_life_s.max(1) as f64 * 1000.0;
        let mut conn = self.db().read().await?;
        // Decayed GPU-time per user: each run's GPU-ms, halved per half-life since it ended.
        let horizon = now - (half_life * 8.0) as i64;
        let (mut users, mut projects): (HashMap<String, f64>, HashMap<String, f64>) = Default::default();
        let runs = database::job_runs::since(&mut conn, horizon).await?;
        for run in &runs {
            let end = run.ended_at.unwrap_or(now).min(now);
            let ran = (end - run.started_at).max(0) as f64 * run.gpus as f64 * 0.5f64.powf((now - end) as f64 / half_life);
            *users.entry(run.user_id.clone()).or_default() += ran;
            *projects.entry(run.project_id.clone().unwrap_or_default()).or_default() += ran;
        }
        s.restore_usage(users, projects, now);
        let mut running = Vec::new();
        // The runs of the server that schedules (this one, or the lease holder a view asks about).
        let scheduler = database::scheduler_lease::holder(&mut conn, now).await?.unwrap_or_else(|| self.queue().instance().to_string());
        // The open runs are among those read above (an open run overlaps any horizon).
        for run in runs.into_iter().filter(|r| r.ended_at.is_none() && r.runner_instance == scheduler) {
            let row = database::jobs::get_any(&mut conn, &run.job_id).await?;
            let resources = resources_of(&row)?;
            let checkpoints = database::jobs::checkpoints(&mut conn, &row.organization_id, &row.id).await?;
            let last_checkpoint_at = checkpoints.iter().map(|c| c.created_at).max().unwrap_or(run.started_at);
            let job = RunningJob {
                req: request_of(&row, &resources),
                history: history_of(&row, &resources)?,
                placement: placement_of(&run)?.into_iter().map(|p| Allocation { node: p.node, gpus: p.gpus }).collect(),
                started_at: run.started_at,
                last_checkpoint_at,
                stopping_for: row.stopping.as_deref().and_then(|s| s.strip_prefix("preempted:")).map(str::to_string),
            };
            if let Err(why) = s.restore_running(job) {
                // The nodes changed under a running job: it keeps running; its GPUs are not counted.
                tracing::error!(job = %row.id, "the scheduler cannot place a running job on this server's nodes: {why}");
            }
            running.push((row, run));
        }
        let queued = database::jobs::in_state(&mut conn, JobState::Queued.as_str(), 100_000).await?;
        drop(conn);
        let mut held = HashMap::new();
        for row in &queued {
            if let Some(message) = quotas.exhausted_for(row) {
                let message = format!("{message}; it waits for next month or a higher limit");
                held.insert(row.id.clone(), Wait { code: "quota", message, expected_start: None });
                continue;
            }
            let resources = resources_of(row)?;
            if let Err(message) = s.restore_waiting(request_of(row, &resources), history_of(row, &resources)?) {
                held.insert(row.id.clone(), Wait { code: "impossible", message, expected_start: None });
            }
        }
        let decisions = s.tick(now);
        Ok(Plan { scheduler: s, decisions, queued, held, running, quotas })
    }
}

/// What the policy needs of a job's resources.
fn need(r: &JobResources) -> scheduler::cluster::Need<'_> {
    scheduler::cluster::Need { gpu_type: r.gpu_type.as_deref(), gpus: r.gpus, gpu_memory_gib: r.gpu_memory_gib }
}

/// Expected running time: the maximum duration, else the estimate, else an hour.
fn expected_ms(row: &JobRow, r: &JobResources) -> i64 {
    if let Some(d) = r.max_duration_s {
        return d as i64 * 1000;
    }
    let estimate: Option<f64> = serde_json::from_str::<serde_json::Value>(&row.estimate).ok().and_then(|e| e["seconds"].as_f64());
    estimate.map_or(3_600_000, |s| (s * 1000.0) as i64)
}

fn request_of(row: &JobRow, r: &JobResources) -> JobRequest {
    JobRequest {
        id: row.id.clone(),
        user: row.created_by.clone(),
        project: row.project_id.clone(),
        gpu_type: r.gpu_type.clone(),
        gpus: r.gpus,
        gpu_memory_gib: r.gpu_memory_gib,
        priority: r.priority_value,
        preemptible: r.preemptible,
        expected_ms: expected_ms(row, r),
        submitted_at: row.created_at,
        groups: super::quotas::groups_of(row),
    }
}

fn history_of(row: &JobRow, r: &JobResources) -> Result<History> {
    let preempted_by: Vec<String> = serde_json::from_str(&row.preempted_by)
        .map_err(|e| Error::Internal(format!("job {}: the stored preempted_by does not parse: {e}", row.id)))?;
    let done_ms = match row.total_steps {
        Some(total) if total > 0 => (expected_ms(row, r) as f64 * row.current_step as f64 / total as f64) as i64,
        _ => 0,
    };
    // A queued job waits since it was (re)queued: its last state change.
    let waiting_since = (row.state == JobState::Queued.as_str()).then_some(row.updated_at);
    Ok(History { done_ms, preemptions: row.preemptions.max(0) as u32, preempted_by, waiting_since })
}

/// Device indices for a new run on `node`: the lowest not held by this server's other runs.
pub(crate) fn free_devices(node: &str, count: u32, held: &[Placed]) -> Vec<u32> {
    let taken: std::collections::HashSet<u32> = held.iter().filter(|p| p.node == node).flat_map(|p| p.devices.iter().copied()).collect();
    (0..).filter(|d| !taken.contains(d)).take(count as usize).collect()
}
