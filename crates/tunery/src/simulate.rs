//! `tunery simulate`: replays a job trace through a scheduling policy on a virtual clock (the
//! `scheduler` crate's own code) and prints what it measured; `--generate` writes a synthetic
//! trace and cluster shaped like the public Philly and Alibaba traces. No server is needed.

use anyhow::{bail, Context, Result};
use scheduler::files::{parse_cluster, parse_trace, write_cluster, write_trace};
use scheduler::sim::{mixed_cluster, simulate, synthetic_trace, SimOptions};
use scheduler::{Config, PolicyKind};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The job trace (JSON Lines: id, arrival_s, user, gpus, duration_s, gpu_type, priority,
    /// preemptible).
    #[arg(long, value_name = "FILE")]
    pub trace: PathBuf,
    /// The cluster (JSON: {"nodes": [{id, gpu_type, gpus, gpu_memory_gib}]}).
    #[arg(long, value_name = "FILE")]
    pub cluster: PathBuf,
    #[arg(long, default_value = "tunery", value_parser = ["fifo", "backfill", "tunery"])]
    pub policy: String,
    /// Write a synthetic trace to --trace and a mixed cluster to --cluster instead.
    #[arg(long)]
    pub generate: bool,
    /// With --generate: jobs, users, GPUs (8 per node, four types), offered load, seed.
    #[arg(long, default_value_t = 10_000)]
    pub jobs: usize,
    #[arg(long, default_value_t = 50)]
    pub users: usize,
    #[arg(long, default_value_t = 256)]
    pub gpus: u32,
    #[arg(long, default_value_t = 0.95)]
    pub load: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

const TYPES: [&str; 4] = ["A100-80GB", "H100-80GB", "A100-40GB", "L4"];

pub fn run(a: SimulateArgs, json: bool) -> Result<u8> {
    if a.generate {
        if a.jobs == 0 || a.users == 0 || a.gpus < 8 || a.load.is_nan() || a.load <= 0.0 {
            bail!("--generate needs --jobs and --users of at least 1, --gpus of at least 8 and a --load above 0");
        }
        let nodes = mixed_cluster(a.gpus, &TYPES);
        let trace = synthetic_trace(a.jobs, a.users, &TYPES, nodes.iter().map(|n| u64::from(n.gpus)).sum(), a.load, a.seed);
        std::fs::write(&a.trace, write_trace(&trace)).with_context(|| format!("cannot write {}", a.trace.display()))?;
        std::fs::write(&a.cluster, write_cluster(&nodes)).with_context(|| format!("cannot write {}", a.cluster.display()))?;
        if !json {
            println!("wrote {} jobs to {} and {} nodes to {}", trace.len(), a.trace.display(), nodes.len(), a.cluster.display());
        }
        return Ok(0);
    }
    let read = |p: &PathBuf| std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()));
    let trace = parse_trace(&read(&a.trace)?).map_err(|e| anyhow::anyhow!("{}: {e}", a.trace.display()))?;
    let nodes = parse_cluster(&read(&a.cluster)?).map_err(|e| anyhow::anyhow!("{}: {e}", a.cluster.display()))?;
    let kind = PolicyKind::parse(&a.policy).expect("clap checked the policy");
    let started = std::time::Instant::now();
    let r = simulate(nodes, &trace, Config::new(kind), SimOptions::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    if json {
        let out = serde_json::json!({
            "policy": a.policy, "jobs": r.jobs, "utilization": r.utilization, "mean_completion_s": r.mean_completion_s,
            "p95_completion_s": r.p95_completion_s, "mean_wait_s": r.mean_wait_s, "jain_fairness": r.jain_fairness,
            "preemptions": r.preemptions, "lost_gpu_hours": r.lost_gpu_hours, "makespan_s": r.makespan_s, "simulation_s": seconds,
        });
        println!("{out}");
    } else {
        println!("policy {}: {} jobs in {:.1} h of virtual time ({seconds:.2} s to simulate)", a.policy, r.jobs, r.makespan_s / 3600.0);
        println!("  utilization        {:.3}", r.utilization);
        println!("  completion time    mean {:.2} h, p95 {:.2} h", r.mean_completion_s / 3600.0, r.p95_completion_s / 3600.0);
        println!("  queueing delay     mean {:.2} h", r.mean_wait_s / 3600.0);
        println!("  fairness (Jain)    {:.3}", r.jain_fairness);
        println!("  preemptions        {} ({:.1} GPU-hours lost)", r.preemptions, r.lost_gpu_hours);
    }
    Ok(0)
}
