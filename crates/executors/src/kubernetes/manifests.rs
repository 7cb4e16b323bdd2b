//! The Kubernetes manifest of one run of a training job: a `batch/v1` Job when the run's GPUs
//! are on one node, else a Kubeflow `PyTorchJob` (a master and workers, `torchrun` on each,
//! `nprocPerNode` GPUs per pod). GPUs are requested as `nvidia.com/gpu`, the GPU type becomes
//! its node pool's selector, spot runs tolerate the spot taint, and Kueue's queue and
//! priority-class labels let Kueue admit and preempt the workload. The pods mount the data
//! directory's claim at the server's own paths, so the spec's paths hold in the pod; they stop
//! on SIGTERM with a checkpoint within the grace period.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How this installation runs on Kubernetes.
#[derive(Debug, Clone, PartialEq)]
pub struct KubeSettings {
    pub namespace: String,
    /// The image with the Python runtime (`tunery_runtime` importable, torch and the model stack).
    pub image: String,
    /// Kueue's LocalQueue in the namespace (None: no Kueue labels; the cluster schedules).
    pub queue: Option<String>,
    /// Node labels per GPU type (`A100-80GB` → `{"cloud.google.com/gke-accelerator": "nvidia-a100-80gb"}`).
    pub node_selectors: BTreeMap<String, BTreeMap<String, String>>,
    /// The taint spot nodes carry: key, value, effect.
    pub spot_taint: Option<(String, String, String)>,
    /// A ReadWriteMany claim holding the server's data directory.
    pub data_claim: String,
    /// The server's job work directories and model cache, inside the data directory: mounted
    /// from the claim (its folders of the same names) at these same paths in every pod.
    pub work_dir: PathBuf,
    pub model_cache_dir: PathBuf,
    /// CPUs and memory requested per GPU (a CPU run gets one GPU's share).
    pub cpus_per_gpu: u32,
    pub memory_gib_per_gpu: u32,
    /// Seconds a stopping pod gets to save its checkpoint.
    pub grace_period_s: u64,
}

/// One run of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct RunManifest<'a> {
    pub job_id: &'a str,
    /// The run's id (`job_runs`): its workload's name.
    pub run_id: &'a str,
    /// Nodes the run spans, and GPUs on each (0: a CPU run).
    pub nodes: u32,
    pub gpus_per_node: u32,
    pub gpu_type: Option<&'a str>,
    pub preemptible: bool,
    /// The Kueue WorkloadPriorityClass (Tunery's priority class name).
    pub priority_class: &'a str,
    pub max_duration_s: Option<u64>,
    /// The job's work directory (under `work_dir`): its spec is `spec.json` there.
    pub workdir: &'a Path,
    /// Environment for the runtime beyond the image's own.
    pub env: &'a [(String, String)],
}

/// The kind of a run's workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    Job,
    PyTorchJob,
}

impl WorkloadKind {
    /// The API group path and resource of the kind.
    pub(crate) fn resource(self) -> (&'static str, &'static str) {
        match self {
            WorkloadKind::Job => ("/apis/batch/v1", "jobs"),
            WorkloadKind::PyTorchJob => ("/apis/kubeflow.org/v1", "pytorchjobs"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Job => "Job",
            WorkloadKind::PyTorchJob => "PyTorchJob",
        }
    }
}

/// Lower-case DNS-1123 name of a run's workload: `tunery-<run id>`.
pub fn object_name(run_id: &str) -> String {
    let id: String = run_id.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    format!("tunery-{id}")
}

/// The label every pod of a run carries with its workload's name.
pub const RUN_LABEL: &str = "tunery.io/run";
/// The pod's role: `single` (a Job's pod), `master` or `worker` (a PyTorchJob's).
pub const ROLE_LABEL: &str = "tunery.io/role";

/// The workload of a run and its kind.
pub fn manifest(s: &KubeSettings, r: &RunManifest) -> (WorkloadKind, Value) {
    let name = object_name(r.run_id);
    let mut labels = json!({"app.kubernetes.io/managed-by": "tunery", "tunery.io/job-id": r.job_id, RUN_LABEL: name});
    if let Some(q) = &s.queue {
        labels["kueue.x-k8s.io/queue-name"] = json!(q);
        labels["kueue.x-k8s.io/priority-class"] = json!(r.priority_class);
    }
    let workdir = r.workdir.to_string_lossy().into_owned();
    let spec = r.workdir.join("spec.json").to_string_lossy().into_owned();
    let metadata = json!({"name": name, "namespace": s.namespace, "labels": labels});
    let pod_labels = |role: &str| {
        let mut l = labels.clone();
        l[ROLE_LABEL] = json!(role);
        l
    };
    if r.nodes <= 1 {
        let mut args = vec!["-m".to_string(), "tunery_runtime".into(), "train".into()];
        if r.gpus_per_node > 1 {
            args.extend(["--nproc-per-node".into(), r.gpus_per_node.to_string()]);
        }
        args.extend(["--spec".into(), spec, "--workdir".into(), workdir]);
        let pod = pod_spec(s, r, "python", &args);
        let mut job_spec = json!({
            "backoffLimit": 0,
            "suspend": s.queue.is_some(),
            "ttlSecondsAfterFinished": FINISHED_KEPT_S,
            "template": {"metadata": {"labels": pod_labels("single")}, "spec": pod},
        });
        if let Some(d) = r.max_duration_s {
            job_spec["activeDeadlineSeconds"] = json!(d);
        }
        return (WorkloadKind::Job, json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": job_spec}));
    }
    // torchrun reads the nodes, its rank and the master from the operator's PET_* variables.
    let args: Vec<String> =
        ["-m", "tunery_runtime", "train", "--spec", &spec, "--workdir", &workdir].iter().map(|a| a.to_string()).collect();
    let replica = |count: u32, role: &str| {
        json!({
            "replicas": count,
            "restartPolicy": "Never",
            "template": {"metadata": {"labels": pod_labels(role)}, "spec": pod_spec(s, r, "torchrun", &args)},
        })
    };
    let mut run_policy = json!({"backoffLimit": 0, "suspend": s.queue.is_some(), "ttlSecondsAfterFinished": FINISHED_KEPT_S});
    if let Some(d) = r.max_duration_s {
        run_policy["activeDeadlineSeconds"] = json!(d);
    }
    let workload = json!({
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": metadata,
        "spec": {
            "nprocPerNode": r.gpus_per_node.max(1).to_string(),
            "runPolicy": run_policy,
            "pytorchReplicaSpecs": {"Master": replica(1, "master"), "Worker": replica(r.nodes - 1, "worker")},
        },
    });
    (WorkloadKind::PyTorchJob, workload)
}

fn pod_spec(s: &KubeSettings, r: &RunManifest, command: &str, args: &[String]) -> Value {
    // A CPU run gets one GPU's share of CPUs and memory.
    let gpus = r.gpus_per_node;
    let cpu = (gpus.max(1) * s.cpus_per_gpu).max(1).to_string();
    let memory = format!("{}Gi", (gpus.max(1) * s.memory_gib_per_gpu).max(1));
    let (mut requests, mut limits) = (json!({"cpu": cpu, "memory": memory}), json!({"memory": memory}));
    if gpus > 0 {
        requests["nvidia.com/gpu"] = json!(gpus.to_string());
        limits["nvidia.com/gpu"] = json!(gpus.to_string());
    }
    let mut env: Vec<Value> = [("PYTHONUNBUFFERED", "1"), ("HF_HUB_OFFLINE", "1"), ("TOKENIZERS_PARALLELISM", "false")]
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    env.extend(r.env.iter().map(|(k, v)| json!({"name": k, "value": v})));
    let sub_path = |dir: &Path| dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut pod = json!({
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": s.grace_period_s,
        "containers": [{
            "name": CONTAINER,
            "image": s.image,
            "command": [command],
            "args": args,
            "workingDir": r.workdir.to_string_lossy(),
            "env": env,
            "resources": {"requests": requests, "limits": limits},
            "volumeMounts": [
                {"name": "data", "mountPath": s.work_dir.to_string_lossy(), "subPath": sub_path(&s.work_dir)},
                {"name": "data", "mountPath": s.model_cache_dir.to_string_lossy(), "subPath": sub_path(&s.model_cache_dir), "readOnly": true},
                {"name": "shm", "mountPath": "/dev/shm"},
            ],
        }],
        "volumes": [
            {"name": "data", "persistentVolumeClaim": {"claimName": s.data_claim}},
            {"name": "shm", "emptyDir": {"medium": "Memory"}},
        ],
    });
    if let Some(selector) = r.gpu_type.and_then(|t| s.node_selectors.get(t)) {
        pod["nodeSelector"] = json!(selector);
    }
    let mut tolerations = Vec::new();
    if gpus > 0 {
        tolerations.push(json!({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}));
    }
    if let (true, Some((key, value, effect))) = (r.preemptible, &s.spot_taint) {
        tolerations.push(json!({"key": key, "operator": "Equal", "value": value, "effect": effect}));
    }
    pod["tolerations"] = json!(tolerations);
    pod
}

/// How long Kubernetes keeps a finished workload (and its pods' logs, already copied into the
/// job's events) before removing it.
const FINISHED_KEPT_S: u64 = 3600;

/// The runtime's container in every pod of a run (the Kubeflow training operator requires this
/// name in a PyTorchJob, and gives that container the rendezvous variables).
pub const CONTAINER: &str = "pytorch";
