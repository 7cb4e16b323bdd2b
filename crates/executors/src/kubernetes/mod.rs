//! The Kubernetes executor: a run's workload (a Job, or a Kubeflow PyTorchJob across nodes)
//! generated from the placement ([`manifests`]), created through the Kubernetes API
//! ([`client`]), and followed through its main pod's log and state ([`follow`]).
//!
//! What these machines can test: manifest generation (golden files, `tests/kubernetes_manifests.rs`)
//! and the client and the whole server journey against an HTTP server that answers as the
//! Kubernetes API documents, whose fake kubelet runs the pods' commands on this machine
//! (`http-api/tests/kubernetes_executor.rs`, `test_support::kube`). No test here runs a real
//! cluster: none can be had without the network.

mod client;
mod follow;
mod manifests;

pub use client::{
    ContainerState, KubeCluster, KubeConnection, KubeError, PodState, WorkloadState, IN_CLUSTER_API, IN_CLUSTER_CA, IN_CLUSTER_TOKEN,
};
pub use follow::{KubeRun, LOST_AFTER};
pub use manifests::{manifest, object_name, KubeSettings, RunManifest, WorkloadKind, CONTAINER, ROLE_LABEL, RUN_LABEL};
