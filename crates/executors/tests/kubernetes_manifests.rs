//! The Kubernetes manifests of a run against golden files: a one-node Job with Kueue labels, a
//! GPU type's node selector and a spot toleration; a PyTorchJob for a run spanning nodes; a CPU
//! run without GPUs.
//! `UPDATE_GOLDEN=1 cargo test -p executors --test kubernetes_manifests` rewrites them (review
//! the diff).

use executors::kubernetes::{manifest, object_name, KubeSettings, RunManifest, WorkloadKind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn settings() -> KubeSettings {
    KubeSettings {
        namespace: "ml".into(),
        image: "registry.example.com/tunery-runtime:1.0".into(),
        queue: Some("team-a".into()),
        node_selectors: BTreeMap::from([(
            "A100-80GB".to_string(),
            BTreeMap::from([("cloud.google.com/gke-accelerator".to_string(), "nvidia-a100-80gb".to_string())]),
        )]),
        spot_taint: Some(("cloud.google.com/gke-spot".into(), "true".into(), "NoSchedule".into())),
        data_claim: "tunery-data".into(),
        work_dir: "/srv/tunery/work".into(),
        model_cache_dir: "/srv/tunery/model-cache".into(),
        cpus_per_gpu: 8,
        memory_gib_per_gpu: 64,
        grace_period_s: 120,
    }
}

fn check(name: &str, got: &serde_json::Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    let text = serde_json::to_string_pretty(got).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(text, want, "{name} differs from its golden file");
}

const ENV: &[(String, String)] = &[];

fn run<'a>(job_id: &'a str, run_id: &'a str, workdir: &'a Path) -> RunManifest<'a> {
    RunManifest {
        job_id,
        run_id,
        nodes: 1,
        gpus_per_node: 2,
        gpu_type: Some("A100-80GB"),
        preemptible: true,
        priority_class: "low",
        max_duration_s: Some(7200),
        workdir,
        env: ENV,
    }
}

#[test]
fn a_spot_run_on_one_node_is_a_suspended_job_with_kueue_labels_gpus_selector_and_toleration() {
    let workdir = Path::new("/srv/tunery/work/job_01ABC");
    let (kind, m) = manifest(&settings(), &run("job_01ABC", "run_01DEF", workdir));
    assert_eq!(kind, WorkloadKind::Job);
    assert_eq!(m["kind"], "Job");
    assert_eq!(m["metadata"]["name"], object_name("run_01DEF"));
    assert_eq!(object_name("run_01DEF"), "tunery-run-01def");
    check("k8s_one_node_spot.json", &m);
}

#[test]
fn a_run_spanning_nodes_is_a_pytorchjob_with_a_master_and_workers() {
    let workdir = Path::new("/srv/tunery/work/job_01XYZ");
    let env = [("OMP_NUM_THREADS".to_string(), "8".to_string())];
    let r = RunManifest {
        nodes: 4,
        gpus_per_node: 8,
        gpu_type: None,
        preemptible: false,
        priority_class: "urgent",
        max_duration_s: None,
        env: &env,
        ..run("job_01XYZ", "run_01UVW", workdir)
    };
    let mut s = settings();
    s.queue = None;
    let (kind, m) = manifest(&s, &r);
    assert_eq!(kind, WorkloadKind::PyTorchJob);
    assert_eq!(m["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"], 3);
    check("k8s_multi_node.json", &m);
}

#[test]
fn a_cpu_run_asks_for_no_gpus_and_tolerates_no_gpu_taint() {
    let workdir = Path::new("/srv/tunery/work/job_01CPU");
    let r = RunManifest {
        gpus_per_node: 0,
        gpu_type: Some("cpu"),
        preemptible: false,
        max_duration_s: None,
        ..run("job_01CPU", "run_01CPU", workdir)
    };
    let (kind, m) = manifest(&settings(), &r);
    assert_eq!(kind, WorkloadKind::Job);
    check("k8s_cpu.json", &m);
}
