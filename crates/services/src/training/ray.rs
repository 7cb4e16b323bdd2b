//! The Ray executor's side of the services (`[scheduling.ray]`): the cluster's nodes, kept
//! fresh at every dispatcher tick, become the scheduler's nodes; a placed run is submitted to the
//! node the scheduler chose, with its GPUs and CPUs; a run left by a stopped server is stopped
//! on Ray before its job is taken over.

use crate::settings::RaySettings;
use crate::{Error, Result, Services};
use executors::ray::{RayCluster, RayNode};
use std::sync::RwLock;

/// The configured cluster and its nodes as last read.
#[derive(Debug)]
pub(crate) struct RayExecutor {
    pub(crate) cluster: RayCluster,
    pub(crate) settings: RaySettings,
    nodes: RwLock<Vec<RayNode>>,
    /// The nodes are being read again every [`NODES_EVERY`].
    watching: std::sync::atomic::AtomicBool,
}

/// How often the cluster's nodes are read again.
const NODES_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

impl RayExecutor {
    pub(crate) fn new(settings: RaySettings) -> Result<RayExecutor> {
        let cluster = RayCluster::new(&settings.address).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(RayExecutor { cluster, settings, nodes: RwLock::default(), watching: Default::default() })
    }

    /// Reads the cluster's live nodes again.
    pub(crate) async fn refresh(&self) -> std::result::Result<(), executors::ray::RayError> {
        let nodes = self.cluster.nodes().await?;
        *self.nodes.write().expect("ray nodes lock") = nodes;
        Ok(())
    }

    /// The scheduler's nodes: a node with GPUs offers them (of its accelerator type, with the
    /// memory the device list knows for it); a node without offers CPU slots of
    /// `cpus_per_job` CPUs each.
    pub(crate) fn scheduler_nodes(&self) -> Vec<scheduler::Node> {
        let per_job = self.settings.cpus_per_job;
        self.nodes
            .read()
            .expect("ray nodes lock")
            .iter()
            .filter_map(|n| {
                if n.gpus > 0 {
                    let gpu_type = n.accelerator_type.clone().unwrap_or_else(|| "gpu".into());
                    return Some(scheduler::Node { id: n.name.clone(), gpu_memory_gib: gpu_memory_gib(&gpu_type), gpu_type, gpus: n.gpus });
                }
                let slots = (n.cpus / per_job).floor() as u32;
                (slots > 0).then(|| scheduler::Node { id: n.name.clone(), gpu_type: "cpu".into(), gpus: slots, gpu_memory_gib: 0.0 })
            })
            .collect()
    }

    /// The address a run placed on node `name` is pinned to.
    pub(crate) fn node_ip(&self, name: &str) -> Option<String> {
        self.nodes.read().expect("ray nodes lock").iter().find(|n| n.name == name).map(|n| n.ip.clone())
    }
}

/// Ray names accelerators by family (`A100`, `H100`, `L4`): the memory of the first device of
/// the list whose name is that family (the smaller variant when there are two), else 0.
fn gpu_memory_gib(accelerator_type: &str) -> f64 {
    domain::estimate::device_type(accelerator_type)
        .or_else(|| {
            let family = accelerator_type.to_ascii_uppercase();
            domain::estimate::DEVICE_TYPES.iter().find(|d| d.name.to_ascii_uppercase().starts_with(&family))
        })
        .map_or(0.0, |d| d.memory_gib)
}

impl Services {
    pub(crate) fn ray(&self) -> Option<&RayExecutor> {
        self.inner_ray()
    }

    /// At start (every role: submissions are checked against the nodes): the cluster must
    /// answer, since a server with no nodes would refuse every job; then its nodes are read
    /// again every few seconds, an unreachable cluster keeping the last ones (and saying so).
    /// Idempotent.
    pub async fn connect_ray(&self) -> Result<()> {
        let Some(ray) = self.ray() else { return Ok(()) };
        if ray.watching.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        if let Err(e) = ray.refresh().await {
            ray.watching.store(false, std::sync::atomic::Ordering::SeqCst);
            return Err(Error::Unavailable(format!("the Ray executor cannot start: {e}")));
        }
        tracing::info!(address = %ray.cluster.address(), nodes = ray.scheduler_nodes().len(), "training runs go to the Ray cluster");
        let services = self.clone();
        tokio::spawn(async move {
            while !services.queue().is_shutting_down() {
                tokio::time::sleep(NODES_EVERY).await;
                if let Some(ray) = services.ray() {
                    if let Err(e) = ray.refresh().await {
                        tracing::warn!(error = %e, "could not read the Ray cluster's nodes; keeping the last ones");
                    }
                }
            }
        });
        Ok(())
    }

    /// Stops the Ray run of a job left by a stopped server (its open run's id is the submission
    /// id), so that it cannot run twice.
    pub(crate) async fn stop_orphaned_ray_run(&self, job: &database::jobs::JobRow, grace: std::time::Duration) -> Result<()> {
        let Some(ray) = self.ray() else { return Ok(()) };
        let Some(run) = self.orphaned_run(job).await? else { return Ok(()) };
        ray.cluster.stop_and_wait(&run.id, grace).await.map_err(|e| Error::Unavailable(format!("job {}: {e}", job.id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ray_accelerator_families_find_their_memory() {
        assert_eq!(gpu_memory_gib("H100"), 80.0);
        assert_eq!(gpu_memory_gib("A100"), 40.0);
        assert_eq!(gpu_memory_gib("L4"), 24.0);
        assert_eq!(gpu_memory_gib("TPU-V4"), 0.0);
    }
}
