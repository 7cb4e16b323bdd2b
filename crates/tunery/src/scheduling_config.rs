//! The `[scheduling]` table of the configuration file: the policy, the nodes (declared, else
//! the GPUs `nvidia-smi` reports, else this machine's CPU slots), priority classes with their
//! default and the members' allowance, VIP users, and preemption's guards.

use anyhow::Context;
use serde::Deserialize;
use services::settings::{SchedulingSettings, UserPriority};
use std::collections::{HashMap, HashSet};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SchedulingFile {
    policy: Option<String>,
    nodes: Option<Vec<NodeFile>>,
    priority_classes: Option<Vec<domain::resources::PriorityClass>>,
    default_priority: Option<String>,
    member_max_priority: Option<String>,
    /// By email: `{ default = "high", max = "urgent" }`.
    #[serde(default)]
    users: HashMap<String, UserPriority>,
    min_run_s: Option<u64>,
    max_preemptions: Option<u32>,
    preempt_after_wait_s: Option<u64>,
    usage_half_life_s: Option<u64>,
    /// Fair-share weights by user id and by project id (1 when absent).
    #[serde(default)]
    user_weights: HashMap<String, f64>,
    #[serde(default)]
    project_weights: HashMap<String, f64>,
    /// Time-slicing: seconds a job under its user's fair share waits before jobs of users over
    /// theirs yield; 0 turns it off.
    time_slice_s: Option<u64>,
    /// Per GPU type: `{ on_demand = 3.5, spot = 1.4 }` per GPU-hour.
    #[serde(default)]
    prices: HashMap<String, services::settings::GpuPrice>,
    /// The Ray executor: `{ address = "http://head:8265" }`.
    ray: Option<RayFile>,
    /// The Kubernetes executor: runs become workloads in the cluster, on the declared nodes.
    kubernetes: Option<KubernetesFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KubernetesFile {
    /// Default: the in-cluster API server with the pod's service account.
    api_server: Option<String>,
    token_file: Option<std::path::PathBuf>,
    ca_file: Option<std::path::PathBuf>,
    namespace: String,
    image: String,
    data_claim: String,
    queue: Option<String>,
    #[serde(default)]
    node_selectors: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    spot_taint: Option<TaintFile>,
    cpus_per_gpu: Option<u32>,
    memory_gib_per_gpu: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaintFile {
    key: String,
    value: String,
    effect: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RayFile {
    address: String,
    runtime_python: Option<std::path::PathBuf>,
    runtime_dir: Option<std::path::PathBuf>,
    cpus_per_job: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeFile {
    id: String,
    gpu_type: String,
    gpus: u32,
    gpu_memory_gib: f64,
}

/// Applies the table (and `--scheduling-policy`) to the settings; `device` is the training
/// device, which decides whether GPUs are looked for.
pub(crate) fn apply(file: SchedulingFile, policy: Option<String>, device: &str, settings: &mut SchedulingSettings) -> anyhow::Result<()> {
    // Checked whole before anything changes.
    let mut s = settings.clone();
    fill(file, policy, device, &mut s)?;
    *settings = s;
    Ok(())
}

fn fill(file: SchedulingFile, policy: Option<String>, device: &str, s: &mut SchedulingSettings) -> anyhow::Result<()> {
    if let Some(name) = policy.or(file.policy) {
        s.policy = scheduler::PolicyKind::parse(&name)
            .with_context(|| format!("scheduling policy '{name}' is unknown (fifo, backfill or tunery)"))?;
    }
    if let Some(classes) = file.priority_classes {
        anyhow::ensure!(!classes.is_empty(), "[scheduling] priority_classes: at least one class");
        let mut names = HashSet::new();
        for c in &classes {
            anyhow::ensure!(names.insert(c.name.clone()), "[scheduling] priority_classes: '{}' is named twice", c.name);
        }
        s.priority_classes = classes;
    }
    if let Some(d) = file.default_priority {
        s.default_priority = d;
    }
    if let Some(m) = file.member_max_priority {
        s.member_max_priority = m;
    }
    let class = |name: &str, what: &str| -> anyhow::Result<()> {
        anyhow::ensure!(s.class(name).is_some(), "[scheduling] {what}: '{name}' is not a priority class");
        Ok(())
    };
    class(&s.default_priority, "default_priority")?;
    class(&s.member_max_priority, "member_max_priority")?;
    for (email, p) in &file.users {
        for name in p.default.iter().chain(p.max.iter()) {
            class(name, &format!("users.\"{email}\""))?;
        }
    }
    s.user_priorities = file.users;
    s.min_run_s = file.min_run_s.unwrap_or(s.min_run_s);
    s.max_preemptions = file.max_preemptions.unwrap_or(s.max_preemptions);
    s.preempt_after_wait_s = file.preempt_after_wait_s.unwrap_or(s.preempt_after_wait_s);
    if let Some(h) = file.usage_half_life_s {
        anyhow::ensure!(h >= 1, "[scheduling] usage_half_life_s must be at least 1");
        s.usage_half_life_s = h;
    }
    for (what, weights) in [("user_weights", &file.user_weights), ("project_weights", &file.project_weights)] {
        for (id, w) in weights {
            anyhow::ensure!(w.is_finite() && *w > 0.0, "[scheduling] {what}.\"{id}\": a weight must be more than 0 (got {w})");
        }
    }
    s.user_weights = file.user_weights;
    s.project_weights = file.project_weights;
    if let Some(t) = file.time_slice_s {
        s.time_slice_s = (t > 0).then_some(t);
    }
    for (gpu_type, p) in &file.prices {
        let ok = |v: f64| v.is_finite() && v >= 0.0;
        anyhow::ensure!(ok(p.on_demand) && p.spot.is_none_or(ok), "[scheduling] prices.\"{gpu_type}\": prices must be 0 or more");
    }
    s.prices = file.prices;
    anyhow::ensure!(
        file.ray.is_none() || file.kubernetes.is_none(),
        "[scheduling] ray and kubernetes: runs go to one executor; keep one of the two tables"
    );
    if let Some(k) = file.kubernetes {
        let nodes = declared(file.nodes.unwrap_or_default())?;
        anyhow::ensure!(
            !nodes.is_empty(),
            "[scheduling] nodes: with [scheduling.kubernetes] declare the node pools' nodes (id, gpu_type, gpus, gpu_memory_gib)"
        );
        s.kubernetes = Some(kubernetes_settings(k, &nodes)?);
        s.ray = None;
        s.nodes = nodes;
        return Ok(());
    }
    s.kubernetes = None;
    if let Some(ray) = file.ray {
        anyhow::ensure!(
            file.nodes.is_none(),
            "[scheduling] nodes: with [scheduling.ray] the nodes come from the Ray cluster; remove the nodes list"
        );
        s.ray = Some(ray_settings(ray)?);
        s.nodes = Vec::new();
        return Ok(());
    }
    s.ray = None;
    s.nodes = match file.nodes {
        Some(nodes) => declared(nodes)?,
        None if device == "cuda" || device == "auto" => detected_gpus(),
        None => Vec::new(),
    };
    Ok(())
}

fn ray_settings(ray: RayFile) -> anyhow::Result<services::settings::RaySettings> {
    executors::ray::RayCluster::new(&ray.address).context("[scheduling.ray] address")?;
    for (what, path) in [("runtime_python", &ray.runtime_python), ("runtime_dir", &ray.runtime_dir)] {
        if let Some(p) = path {
            anyhow::ensure!(p.is_absolute(), "[scheduling.ray] {what}: a path on the Ray nodes must be absolute, got {}", p.display());
        }
    }
    let cpus_per_job = ray.cpus_per_job.unwrap_or(1.0);
    anyhow::ensure!(
        cpus_per_job.is_finite() && cpus_per_job > 0.0,
        "[scheduling.ray] cpus_per_job must be more than 0 (got {cpus_per_job})"
    );
    Ok(services::settings::RaySettings {
        address: ray.address,
        runtime_python: ray.runtime_python,
        runtime_dir: ray.runtime_dir,
        cpus_per_job,
    })
}

fn kubernetes_settings(k: KubernetesFile, nodes: &[scheduler::Node]) -> anyhow::Result<services::settings::KubernetesSettings> {
    use executors::kubernetes::{KubeConnection, IN_CLUSTER_API, IN_CLUSTER_CA, IN_CLUSTER_TOKEN};
    let in_cluster = k.api_server.is_none();
    let connection = KubeConnection {
        api_server: k.api_server.unwrap_or_else(|| IN_CLUSTER_API.into()),
        token_file: k.token_file.or_else(|| in_cluster.then(|| IN_CLUSTER_TOKEN.into())),
        ca_file: k.ca_file.or_else(|| in_cluster.then(|| IN_CLUSTER_CA.into())),
        namespace: k.namespace,
    };
    connection.base_url().context("[scheduling.kubernetes] api_server")?;
    for (what, value) in [("namespace", &connection.namespace), ("image", &k.image), ("data_claim", &k.data_claim)] {
        anyhow::ensure!(!value.trim().is_empty(), "[scheduling.kubernetes] {what} must not be empty");
    }
    if let Some(t) = &k.spot_taint {
        anyhow::ensure!(
            ["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&t.effect.as_str()),
            "[scheduling.kubernetes] spot_taint.effect must be NoSchedule, PreferNoSchedule or NoExecute (got '{}')",
            t.effect
        );
    }
    for gpu_type in k.node_selectors.keys() {
        anyhow::ensure!(
            nodes.iter().any(|n| &n.gpu_type == gpu_type),
            "[scheduling.kubernetes] node_selectors: '{gpu_type}' is not the gpu_type of any declared node"
        );
    }
    let per_gpu = |v: Option<u32>, default: u32, what: &str| -> anyhow::Result<u32> {
        let v = v.unwrap_or(default);
        anyhow::ensure!(v >= 1, "[scheduling.kubernetes] {what} must be at least 1");
        Ok(v)
    };
    Ok(services::settings::KubernetesSettings {
        connection,
        image: k.image,
        queue: k.queue,
        node_selectors: k.node_selectors,
        spot_taint: k.spot_taint.map(|t| (t.key, t.value, t.effect)),
        data_claim: k.data_claim,
        cpus_per_gpu: per_gpu(k.cpus_per_gpu, 8, "cpus_per_gpu")?,
        memory_gib_per_gpu: per_gpu(k.memory_gib_per_gpu, 32, "memory_gib_per_gpu")?,
    })
}

fn declared(nodes: Vec<NodeFile>) -> anyhow::Result<Vec<scheduler::Node>> {
    let mut ids = HashSet::new();
    nodes
        .into_iter()
        .map(|n| {
            anyhow::ensure!(ids.insert(n.id.clone()), "[scheduling] nodes: '{}' is declared twice", n.id);
            anyhow::ensure!(n.gpus >= 1, "[scheduling] nodes.{}: gpus must be at least 1", n.id);
            anyhow::ensure!(
                n.gpu_memory_gib.is_finite() && n.gpu_memory_gib >= 0.0,
                "[scheduling] nodes.{}: gpu_memory_gib must be 0 or more",
                n.id
            );
            Ok(scheduler::Node { id: n.id, gpu_type: n.gpu_type, gpus: n.gpus, gpu_memory_gib: n.gpu_memory_gib })
        })
        .collect()
}

/// This machine's GPUs as `nvidia-smi` (NVML) reports them: one node of their type. None (and
/// so CPU slots) when there is no NVIDIA driver; mixed types must be declared.
fn detected_gpus() -> Vec<scheduler::Node> {
    let out = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=name,memory.total", "--format=csv,noheader,nounits"])
        .stderr(std::process::Stdio::null())
        .output();
    let Ok(out) = out else { return Vec::new() };
    if !out.status.success() {
        return Vec::new();
    }
    parse_gpus(&String::from_utf8_lossy(&out.stdout))
}

/// `NVIDIA H100 80GB HBM3, 81559` lines → one node; mixed types → none (with a warning).
pub(crate) fn parse_gpus(csv: &str) -> Vec<scheduler::Node> {
    let gpus: Vec<(String, f64)> = csv
        .lines()
        .filter_map(|l| {
            let (name, mib) = l.rsplit_once(',')?;
            Some((name.trim().to_string(), mib.trim().parse::<f64>().ok()? / 1024.0))
        })
        .collect();
    let Some((name, memory)) = gpus.first().cloned() else { return Vec::new() };
    if gpus.iter().any(|(n, _)| *n != name) {
        tracing::warn!("this machine has GPUs of several types; declare them as nodes in [scheduling]");
        return Vec::new();
    }
    let min_memory = gpus.iter().map(|(_, m)| *m).fold(memory, f64::min);
    vec![scheduler::Node {
        id: "local".into(),
        gpu_type: name,
        gpus: gpus.len() as u32,
        gpu_memory_gib: (min_memory * 10.0).floor() / 10.0,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvidia_smi_lines_become_one_node_and_mixed_types_none() {
        let nodes = parse_gpus("NVIDIA H100 80GB HBM3, 81559\nNVIDIA H100 80GB HBM3, 81559\n");
        assert_eq!(nodes.len(), 1);
        assert_eq!((nodes[0].gpu_type.as_str(), nodes[0].gpus), ("NVIDIA H100 80GB HBM3", 2));
        assert!((nodes[0].gpu_memory_gib - 79.6).abs() < 0.05, "{}", nodes[0].gpu_memory_gib);
        assert!(parse_gpus("A, 100\nB, 100\n").is_empty());
        assert!(parse_gpus("").is_empty());
    }

    #[test]
    fn unknown_classes_and_policies_are_refused_naming_them() {
        let mut s = SchedulingSettings::default();
        let file: SchedulingFile = toml::from_str("member_max_priority = \"vip\"").unwrap();
        let e = apply(file, None, "cpu", &mut s).unwrap_err().to_string();
        assert!(e.contains("member_max_priority") && e.contains("vip"), "{e}");
        assert_eq!(s, SchedulingSettings::default(), "nothing of a refused table applies");
        let e = apply(SchedulingFile::default(), Some("lifo".into()), "cpu", &mut s).unwrap_err().to_string();
        assert!(e.contains("lifo"), "{e}");
        let file: SchedulingFile =
            toml::from_str("nodes = [{ id = \"a\", gpu_type = \"A100\", gpus = 8, gpu_memory_gib = 80.0 }]\nmin_run_s = 0").unwrap();
        apply(file, Some("backfill".into()), "cpu", &mut s).unwrap();
        assert_eq!((s.nodes.len(), s.min_run_s, s.policy), (1, 0, scheduler::PolicyKind::Backfill));
    }

    #[test]
    fn a_ray_table_replaces_the_nodes_and_bad_ones_are_refused_naming_the_field() {
        let mut s = SchedulingSettings::default();
        let file: SchedulingFile = toml::from_str("ray = { address = \"http://127.0.0.1:8265\", cpus_per_job = 2.0 }").unwrap();
        apply(file, None, "cpu", &mut s).unwrap();
        let ray = s.ray.clone().unwrap();
        assert_eq!((ray.address.as_str(), ray.cpus_per_job), ("http://127.0.0.1:8265", 2.0));
        for (table, field) in [
            ("ray = { address = \"127.0.0.1:8265\" }", "address"),
            ("ray = { address = \"http://h:8265\", cpus_per_job = 0.0 }", "cpus_per_job"),
            ("ray = { address = \"http://h:8265\", runtime_python = \"venv/bin/python\" }", "runtime_python"),
            (
                "ray = { address = \"http://h:8265\" }\nnodes = [{ id = \"a\", gpu_type = \"A100\", gpus = 8, gpu_memory_gib = 80.0 }]",
                "nodes",
            ),
        ] {
            let mut t = SchedulingSettings::default();
            let e = format!("{:#}", apply(toml::from_str(table).unwrap(), None, "cpu", &mut t).unwrap_err());
            assert!(e.contains(field), "{table}: {e}");
            assert_eq!(t, SchedulingSettings::default(), "nothing of a refused table applies");
        }
    }

    #[test]
    fn the_readme_scheduling_tables_are_valid_configurations() {
        #[derive(Deserialize)]
        struct File {
            scheduling: SchedulingFile,
        }
        let readme = include_str!("../../../README.md");
        let table = |heading: &str| -> SchedulingSettings {
            let start =
                readme.find(&format!("```toml\n{heading}\n")).unwrap_or_else(|| panic!("the README shows {heading}")) + "```toml\n".len();
            let file: File = toml::from_str(&readme[start..start + readme[start..].find("```").unwrap()]).unwrap();
            let mut s = SchedulingSettings::default();
            apply(file.scheduling, None, "cpu", &mut s).unwrap();
            s
        };
        let s = table("[scheduling]");
        assert_eq!(s.nodes[0].gpus, 8);
        assert_eq!(s.user_priorities["lead@example.com"].max.as_deref(), Some("urgent"));
        let s = table("[scheduling.ray]");
        assert_eq!(s.ray.map(|r| r.cpus_per_job), Some(4.0));
        let s = table("[scheduling.kubernetes]");
        let k = s.kubernetes.expect("the kubernetes table");
        assert_eq!(k.connection.api_server, executors::kubernetes::IN_CLUSTER_API);
        assert_eq!(k.connection.token_file.as_deref(), Some(std::path::Path::new(executors::kubernetes::IN_CLUSTER_TOKEN)));
        assert_eq!(s.nodes.len(), 3);
    }

    #[test]
    fn a_kubernetes_table_needs_declared_nodes_and_bad_ones_are_refused_naming_the_field() {
        let base = "kubernetes = { namespace = \"ml\", image = \"rt:1\", data_claim = \"data\", api_server = \"http://127.0.0.1:8001\" }";
        let nodes = "\nnodes = [{ id = \"a\", gpu_type = \"A100\", gpus = 8, gpu_memory_gib = 80.0 }]";
        let mut s = SchedulingSettings::default();
        apply(toml::from_str(&format!("{base}{nodes}")).unwrap(), None, "cpu", &mut s).unwrap();
        let k = s.kubernetes.clone().unwrap();
        assert_eq!((k.connection.token_file, k.cpus_per_gpu, s.nodes.len()), (None, 8, 1), "a proxy needs no token");
        let ray = "\nray = { address = \"http://h:8265\" }";
        let selector = base.replace(" }", ", node_selectors = { H100 = { pool = \"h100\" } } }");
        let zero = base.replace(" }", ", cpus_per_gpu = 0 }");
        let empty = base.replace("rt:1", " ");
        let address = base.replace("http://127.0.0.1:8001", "kubernetes.default.svc");
        let taint = base.replace(" }", ", spot_taint = { key = \"spot\", value = \"true\", effect = \"NoScheduel\" } }");
        for (table, field) in [
            (base.to_string(), "nodes"),
            (format!("{base}{nodes}{ray}"), "ray and kubernetes"),
            (format!("{selector}{nodes}"), "node_selectors: 'H100'"),
            (format!("{zero}{nodes}"), "cpus_per_gpu"),
            (format!("{empty}{nodes}"), "image"),
            (format!("{address}{nodes}"), "api_server"),
            (format!("{taint}{nodes}"), "spot_taint.effect must be NoSchedule, PreferNoSchedule or NoExecute (got 'NoScheduel')"),
        ] {
            let mut t = SchedulingSettings::default();
            let e = format!("{:#}", apply(toml::from_str(&table).unwrap(), None, "cpu", &mut t).unwrap_err());
            assert!(e.contains(field), "{table}: {e}");
            assert_eq!(t, SchedulingSettings::default(), "nothing of a refused table applies");
        }
    }
}
