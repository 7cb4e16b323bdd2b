//! The Kubernetes executor's side of the services (`[scheduling.kubernetes]`): the declared
//! nodes are its node pools' nodes; a placed run becomes a workload (a Job on one node, a
//! PyTorchJob across nodes) named after the run's id; a run left by a stopped server, or an
//! earlier run of the same job, is deleted and waited for before the job runs again.

use crate::settings::{KubernetesSettings, TrainingSettings};
use crate::{Error, Result, Services};
use executors::kubernetes::{object_name, KubeCluster, KubeSettings, WorkloadKind};

/// The configured cluster and how its workloads are written.
#[derive(Debug)]
pub(crate) struct KubeExecutor {
    pub(crate) cluster: KubeCluster,
    pub(crate) manifests: KubeSettings,
    connected: std::sync::atomic::AtomicBool,
}

impl KubeExecutor {
    pub(crate) fn new(k: &KubernetesSettings, training: &TrainingSettings) -> Result<KubeExecutor> {
        let cluster = KubeCluster::new(&k.connection).map_err(|e| Error::Internal(e.to_string()))?;
        let manifests = KubeSettings {
            namespace: k.connection.namespace.clone(),
            image: k.image.clone(),
            queue: k.queue.clone(),
            node_selectors: k.node_selectors.clone(),
            spot_taint: k.spot_taint.clone(),
            data_claim: k.data_claim.clone(),
            work_dir: training.work_dir.clone(),
            model_cache_dir: training.model_cache_dir.clone(),
            cpus_per_gpu: k.cpus_per_gpu,
            memory_gib_per_gpu: k.memory_gib_per_gpu,
            grace_period_s: training.stop_grace_s,
        };
        Ok(KubeExecutor { cluster, manifests, connected: Default::default() })
    }

    /// Deletes whatever workload run `run_id` left (of either kind) and waits for its pods.
    pub(crate) async fn stop_run(
        &self,
        run_id: &str,
        grace: std::time::Duration,
    ) -> std::result::Result<(), executors::kubernetes::KubeError> {
        for kind in [WorkloadKind::Job, WorkloadKind::PyTorchJob] {
            self.cluster.stop_and_wait(kind, &object_name(run_id), grace).await?;
        }
        Ok(())
    }
}

impl Services {
    /// At start (every role): the cluster must answer and let the server work with Jobs in its
    /// namespace, since a server that cannot submit would fail every job. Idempotent.
    pub async fn connect_kubernetes(&self) -> Result<()> {
        let Some(k) = self.kubernetes() else { return Ok(()) };
        if k.connected.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        k.cluster.check_access().await.map_err(|e| Error::Unavailable(format!("the Kubernetes executor cannot start: {e}")))?;
        k.connected.store(true, std::sync::atomic::Ordering::SeqCst);
        tracing::info!(api = %k.cluster.address(), namespace = %k.cluster.namespace(), "training runs go to the Kubernetes cluster");
        Ok(())
    }

    /// Deletes the workload of a job left by a stopped server (its open run's id names it), so
    /// that it cannot run twice.
    pub(crate) async fn stop_orphaned_kubernetes_run(&self, job: &database::jobs::JobRow, grace: std::time::Duration) -> Result<()> {
        let Some(k) = self.kubernetes() else { return Ok(()) };
        let Some(run) = self.orphaned_run(job).await? else { return Ok(()) };
        k.stop_run(&run.id, grace).await.map_err(|e| Error::Unavailable(format!("job {}: {e}", job.id)))
    }
}
