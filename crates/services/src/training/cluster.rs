//! What `/api/v1/cluster` and a queued job show: the nodes with their free GPUs, the queue in
//! the order the scheduler would start it with why each job waits, and the running jobs.
//! Jobs the caller may not see (another organization's, or a project they are not in) appear
//! without id or name.

use super::scheduling::{placement_of, resources_of, Plan};
use crate::{Principal, Result, Services};
use database::jobs::JobRow;
use domain::resources::PriorityClass;
use domain::Permission;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NodeView {
    pub id: String,
    /// `cpu` for a CPU-only machine's training slots.
    pub gpu_type: String,
    pub gpus: u32,
    pub gpu_memory_gib: f64,
    pub free_gpus: u32,
}

/// Why a job waits.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WaitView {
    /// `no_room`, `preempting`, `reserved_for_head`, `behind_head` or `impossible`.
    pub code: String,
    pub message: String,
    /// When the scheduler expects it could start (Unix seconds), from the running jobs'
    /// expected ends; the head of the queue only.
    pub expected_start: Option<i64>,
}

/// A queued job's place.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueSlot {
    /// 1 starts next.
    pub position: usize,
    /// Jobs in the queue.
    pub of: usize,
    /// None: it starts at the next tick.
    pub wait: Option<WaitView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueEntry {
    pub position: usize,
    /// None for a job the caller may not see.
    pub job_id: Option<String>,
    pub name: Option<String>,
    pub priority: String,
    pub gpus: u32,
    pub gpu_type: Option<String>,
    pub preemptible: bool,
    /// Unix seconds.
    pub queued_at: i64,
    pub wait: Option<WaitView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunningEntry {
    pub job_id: Option<String>,
    pub name: Option<String>,
    pub priority: String,
    pub preemptible: bool,
    pub node: String,
    pub gpus: u32,
    /// Unix seconds.
    pub started_at: i64,
    /// A stop the scheduler decided: `preempted` or `max_duration`.
    pub stopping: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClusterView {
    /// `fifo`, `backfill` or `tunery`.
    pub policy: String,
    pub nodes: Vec<NodeView>,
    pub gpus: u64,
    pub free_gpus: u64,
    pub priority_classes: Vec<PriorityClass>,
    pub queue: Vec<QueueEntry>,
    pub running: Vec<RunningEntry>,
}

fn wait_view(w: scheduler::Wait) -> WaitView {
    WaitView { code: w.code.into(), message: w.message, expected_start: w.expected_start.map(|t| t / 1000) }
}

impl Plan {
    /// A queued job's place in the start order.
    pub(crate) fn slot(&self, id: &str) -> Option<QueueSlot> {
        let order = self.order();
        let position = order.iter().position(|j| j.id == id)? + 1;
        Some(QueueSlot { position, of: order.len(), wait: self.wait(id).map(wait_view) })
    }
}

/// Figures for autoscalers (Ray's, KEDA): the queue and the waiting GPU demand per GPU type
/// (`any` for jobs that take any), each node's GPUs and free GPUs, running jobs.
#[derive(Debug, Clone, Default)]
pub struct ClusterMetrics {
    pub queued_jobs: BTreeMap<String, u64>,
    pub waiting_gpus: BTreeMap<String, u64>,
    /// (node, GPU type, GPUs, free GPUs).
    pub nodes: Vec<(String, String, u32, u32)>,
    pub running_jobs: u64,
}

impl Services {
    /// The queue and the nodes as numbers, without ids (for `/metrics`).
    pub async fn cluster_metrics(&self) -> Result<ClusterMetrics> {
        let plan = self.plan_now(crate::now_ms()).await?;
        let mut m = ClusterMetrics { running_jobs: plan.running.len() as u64, ..ClusterMetrics::default() };
        for row in &plan.queued {
            let r = resources_of(row)?;
            let kind = r.gpu_type.unwrap_or_else(|| "any".into());
            *m.queued_jobs.entry(kind.clone()).or_default() += 1;
            *m.waiting_gpus.entry(kind).or_default() += u64::from(r.gpus);
        }
        // Free before this tick's starts: what an autoscaler sees as idle capacity now.
        let taken: HashMap<String, u32> = plan.running.iter().try_fold(HashMap::new(), |mut acc, (_, run)| {
            for p in placement_of(run)? {
                *acc.entry(p.node).or_default() += p.gpus;
            }
            Ok::<_, crate::Error>(acc)
        })?;
        for n in self.nodes() {
            let used = taken.get(&n.id).copied().unwrap_or(0);
            m.nodes.push((n.id.clone(), n.gpu_type.clone(), n.gpus, n.gpus.saturating_sub(used)));
        }
        Ok(m)
    }

    /// The cluster as the scheduler sees it now (any member of an organization may look).
    pub async fn cluster(&self, principal: &Principal) -> Result<ClusterView> {
        let (perms, _) = self.permissions_in(principal, None).await?;
        if !perms.contains(Permission::ViewMetrics) {
            return Err(crate::Error::PermissionDenied(Permission::ViewMetrics));
        }
        let plan = self.plan_now(crate::now_ms()).await?;
        let mut visible: HashMap<(String, Option<String>), bool> = HashMap::new();
        let mut sees = async |row: &JobRow| -> Result<bool> {
            if row.organization_id != principal.organization_id {
                return Ok(false);
            }
            let key = (row.organization_id.clone(), row.project_id.clone());
            if let Some(v) = visible.get(&key) {
                return Ok(*v);
            }
            let v = match self.permissions_in(principal, row.project_id.as_deref()).await {
                Ok((perms, _)) => perms.contains(Permission::ViewMetrics),
                Err(crate::Error::NotFound(_)) => false,
                Err(e) => return Err(e),
            };
            visible.insert(key, v);
            Ok(v)
        };
        let mut queue = Vec::new();
        for (i, row) in plan.order().into_iter().enumerate() {
            let r = resources_of(row)?;
            let shown = sees(row).await?;
            queue.push(QueueEntry {
                position: i + 1,
                job_id: shown.then(|| row.id.clone()),
                name: shown.then(|| row.name.clone()),
                priority: r.priority,
                gpus: r.gpus,
                gpu_type: r.gpu_type,
                preemptible: r.preemptible,
                queued_at: row.updated_at / 1000,
                wait: plan.wait(&row.id).map(wait_view),
            });
        }
        let mut running = Vec::new();
        for (row, run) in &plan.running {
            let r = resources_of(row)?;
            let shown = sees(row).await?;
            for p in placement_of(run)? {
                running.push(RunningEntry {
                    job_id: shown.then(|| row.id.clone()),
                    name: shown.then(|| row.name.clone()),
                    priority: r.priority.clone(),
                    preemptible: r.preemptible,
                    node: p.node,
                    gpus: p.gpus,
                    started_at: run.started_at / 1000,
                    stopping: row.stopping.as_deref().map(|s| s.split(':').next().unwrap_or(s).to_string()),
                });
            }
        }
        // Free GPUs after this tick's starts are taken (the dispatcher acts on the same plan).
        let cluster = plan.scheduler.cluster();
        let nodes: Vec<NodeView> = cluster
            .free_by_node()
            .map(|(n, free)| NodeView {
                id: n.id.clone(),
                gpu_type: n.gpu_type.clone(),
                gpus: n.gpus,
                gpu_memory_gib: n.gpu_memory_gib,
                free_gpus: free,
            })
            .collect();
        let scheduling = &self.settings().scheduling;
        Ok(ClusterView {
            policy: format!("{:?}", scheduling.policy).to_lowercase(),
            gpus: cluster.total_gpus(),
            free_gpus: cluster.free_gpus(),
            nodes,
            priority_classes: scheduling.priority_classes.clone(),
            queue,
            running,
        })
    }

    /// A queued job's place in the queue (None when it is not queued).
    pub(crate) async fn queue_slot(&self, row: &JobRow) -> Result<Option<QueueSlot>> {
        if row.state != domain::training::JobState::Queued.as_str() {
            return Ok(None);
        }
        Ok(self.plan_now(crate::now_ms()).await?.slot(&row.id))
    }
}
