//! Kubernetes manifests for one run of a training job: a ConfigMap holding the runtime's spec,
//! and a `batch/v1` Job when the run's GPUs fit on one node, else a Kubeflow `PyTorchJob`
//! (one master and workers, `torchrun` on each, `nprocPerNode` GPUs per pod). GPUs are
//! requested as `nvidia.com/gpu`, the GPU type becomes the node pool's selector, spot jobs
//! tolerate the spot taint, and Kueue's queue and priority-class labels let Kueue admit and
//! preempt the workload. The pods stop on SIGTERM with a checkpoint within the grace period.
//!
//! Only generation is built and tested (golden files, `tests/kubernetes_manifests.rs`):
//! submitting through the Kubernetes API, reading the pods' logs back as events and the node
//! pools as scheduler nodes need a cluster, which these machines do not have.

use serde_json::{json, Value};
use std::collections::BTreeMap;

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
    /// A ReadWriteMany claim mounted at `/work` in every pod: the job's work directory (data,
    /// checkpoints, output), shared with the server.
    pub work_claim: String,
    /// GPUs per node of the pools: a run with more spans nodes (a PyTorchJob).
    pub gpus_per_node: u32,
    pub cpus_per_gpu: u32,
    pub memory_gib_per_gpu: u32,
    /// Seconds a stopping pod gets to save its checkpoint.
    pub grace_period_s: u64,
}

/// One run of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct KubeRun<'a> {
    pub job_id: &'a str,
    /// Runs started so far minus one: each run's objects have their own names.
    pub attempt: i64,
    pub gpus: u32,
    pub gpu_type: Option<&'a str>,
    pub preemptible: bool,
    /// The Kueue WorkloadPriorityClass (Tunery's priority class name).
    pub priority_class: &'a str,
    pub max_duration_s: Option<u64>,
    /// The runtime's spec (`TrainSpec`), its paths under `/work/<job id>`.
    pub spec_json: &'a str,
}

/// Lower-case DNS-1123 name of a run's objects: `tunery-<job id>-<attempt>`.
pub fn object_name(job_id: &str, attempt: i64) -> String {
    let id: String = job_id.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    format!("tunery-{id}-{attempt}")
}

/// The manifests of a run, in the order to create them.
pub fn manifests(s: &KubeSettings, r: &KubeRun) -> Vec<Value> {
    let name = object_name(r.job_id, r.attempt);
    let mut labels =
        json!({"app.kubernetes.io/managed-by": "tunery", "tunery.io/job-id": r.job_id, "tunery.io/attempt": r.attempt.to_string()});
    if let Some(q) = &s.queue {
        labels["kueue.x-k8s.io/queue-name"] = json!(q);
        labels["kueue.x-k8s.io/priority-class"] = json!(r.priority_class);
    }
    let config_map = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": format!("{name}-spec"), "namespace": s.namespace, "labels": labels},
        "data": {"spec.json": r.spec_json},
    });
    let per_pod = r.gpus.min(s.gpus_per_node.max(1));
    let pods = r.gpus.div_ceil(s.gpus_per_node.max(1));
    let workdir = format!("/work/{}", r.job_id);
    let workload = if pods <= 1 {
        let mut args = vec!["-m".to_string(), "tunery_runtime".into(), "train".into()];
        if per_pod > 1 {
            args.extend(["--nproc-per-node".into(), per_pod.to_string()]);
        }
        args.extend(["--spec".into(), "/etc/tunery/spec.json".into(), "--workdir".into(), workdir]);
        let pod = pod_spec(s, r, &name, "python", &args, per_pod);
        let mut spec =
            json!({"backoffLimit": 0, "suspend": s.queue.is_some(), "template": {"metadata": {"labels": labels.clone()}, "spec": pod}});
        if let Some(d) = r.max_duration_s {
            spec["activeDeadlineSeconds"] = json!(d);
        }
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": s.namespace, "labels": labels}, "spec": spec})
    } else {
        // torchrun reads the nodes, its rank and the master from the operator's PET_* variables.
        let args: Vec<String> = ["-m", "tunery_runtime", "train", "--spec", "/etc/tunery/spec.json", "--workdir"]
            .iter()
            .map(|a| a.to_string())
            .chain([workdir])
            .collect();
        let replica = |count: u32| {
            json!({
                "replicas": count,
                "restartPolicy": "Never",
                "template": {"metadata": {"labels": labels.clone()}, "spec": pod_spec(s, r, &name, "torchrun", &args, per_pod)},
            })
        };
        let mut run_policy = json!({"backoffLimit": 0, "suspend": s.queue.is_some()});
        if let Some(d) = r.max_duration_s {
            run_policy["activeDeadlineSeconds"] = json!(d);
        }
        json!({
            "apiVersion": "kubeflow.org/v1",
            "kind": "PyTorchJob",
            "metadata": {"name": name, "namespace": s.namespace, "labels": labels},
            "spec": {
                "nprocPerNode": per_pod.to_string(),
                "runPolicy": run_policy,
                "pytorchReplicaSpecs": {"Master": replica(1), "Worker": replica(pods - 1)},
            },
        })
    };
    vec![config_map, workload]
}

fn pod_spec(s: &KubeSettings, r: &KubeRun, name: &str, command: &str, args: &[String], gpus: u32) -> Value {
    let gpu = gpus.to_string();
    let cpu = (gpus * s.cpus_per_gpu).max(1).to_string();
    let memory = format!("{}Gi", (gpus * s.memory_gib_per_gpu).max(1));
    let mut pod = json!({
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": s.grace_period_s,
        "containers": [{
            "name": "train",
            "image": s.image,
            "command": [command],
            "args": args,
            "env": [
                {"name": "PYTHONUNBUFFERED", "value": "1"},
                {"name": "HF_HUB_OFFLINE", "value": "1"},
                {"name": "TOKENIZERS_PARALLELISM", "value": "false"},
            ],
            "resources": {
                "requests": {"cpu": cpu, "memory": memory, "nvidia.com/gpu": gpu},
                "limits": {"memory": memory, "nvidia.com/gpu": gpu},
            },
            "volumeMounts": [
                {"name": "spec", "mountPath": "/etc/tunery", "readOnly": true},
                {"name": "work", "mountPath": "/work"},
                {"name": "shm", "mountPath": "/dev/shm"},
            ],
        }],
        "volumes": [
            {"name": "spec", "configMap": {"name": format!("{name}-spec")}},
            {"name": "work", "persistentVolumeClaim": {"claimName": s.work_claim}},
            {"name": "shm", "emptyDir": {"medium": "Memory"}},
        ],
    });
    if let Some(selector) = r.gpu_type.and_then(|t| s.node_selectors.get(t)) {
        pod["nodeSelector"] = json!(selector);
    }
    let mut tolerations = vec![json!({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"})];
    if let (true, Some((key, value, effect))) = (r.preemptible, &s.spot_taint) {
        tolerations.push(json!({"key": key, "operator": "Equal", "value": value, "effect": effect}));
    }
    pod["tolerations"] = json!(tolerations);
    pod
}
