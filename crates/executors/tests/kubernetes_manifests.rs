//! The Kubernetes manifests of a run against golden files: a one-node Job with Kueue labels, a
//! GPU type's node selector and a spot toleration; a PyTorchJob for a run spanning nodes.
//! `UPDATE_GOLDEN=1 cargo test -p executors --test kubernetes_manifests` rewrites them (review
//! the diff).

use executors::kubernetes::{manifests, object_name, KubeRun, KubeSettings};
use std::collections::BTreeMap;
use std::path::PathBuf;

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
        work_claim: "tunery-work".into(),
        gpus_per_node: 8,
        cpus_per_gpu: 8,
        memory_gib_per_gpu: 64,
        grace_period_s: 120,
    }
}

fn check(name: &str, got: &[serde_json::Value]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    let text = serde_json::to_string_pretty(got).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(text, want, "{name} differs from its golden file");
}

#[test]
fn a_spot_run_on_one_node_is_a_suspended_job_with_kueue_labels_gpus_selector_and_toleration() {
    let run = KubeRun {
        job_id: "job_01ABC",
        attempt: 1,
        gpus: 2,
        gpu_type: Some("A100-80GB"),
        preemptible: true,
        priority_class: "low",
        max_duration_s: Some(7200),
        spec_json: r#"{"job_id":"job_01ABC"}"#,
    };
    let m = manifests(&settings(), &run);
    assert_eq!(m[1]["kind"], "Job");
    assert_eq!(m[1]["metadata"]["name"], object_name("job_01ABC", 1));
    check("k8s_one_node_spot.json", &m);
}

#[test]
fn a_run_spanning_nodes_is_a_pytorchjob_with_a_master_and_workers() {
    let run = KubeRun {
        job_id: "job_01XYZ",
        attempt: 0,
        gpus: 32,
        gpu_type: None,
        preemptible: false,
        priority_class: "urgent",
        max_duration_s: None,
        spec_json: r#"{"job_id":"job_01XYZ"}"#,
    };
    let mut s = settings();
    s.queue = None;
    let m = manifests(&s, &run);
    assert_eq!(m[1]["kind"], "PyTorchJob");
    assert_eq!(m[1]["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"], 3);
    check("k8s_multi_node.json", &m);
}
