//! Replays one synthetic trace (shaped like the Philly and Alibaba traces) through FIFO, FIFO
//! with EASY backfill and Tunery's policy on the same cluster, and prints each one's figures and
//! Tunery's against the baselines. Goals: mean completion time ≤ 0.6× FIFO's, utilization ≥
//! FIFO+backfill's, Jain fairness ≥ 0.9, the whole simulation under 30 s.
//!
//!     cargo run --release -p tunery-bench-scheduler -- [--jobs 10000] [--users 50] [--gpus 256] [--load 0.95] [--seed 1]

use scheduler::sim::{mixed_cluster, simulate, synthetic_trace, Report, SimOptions};
use scheduler::{Config, PolicyKind};
use std::time::Instant;

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let (jobs, users, gpus, load, seed) =
        (arg("--jobs", 10_000usize), arg("--users", 50usize), arg("--gpus", 256u32), arg("--load", 0.95f64), arg("--seed", 1u64));
    let types = ["A100-80GB", "H100-80GB", "A100-40GB", "L4"];
    let nodes = mixed_cluster(gpus, &types);
    let trace = synthetic_trace(jobs, users, &types, u64::from(gpus), load, seed);
    println!("trace: {jobs} jobs, {users} users, {gpus} GPUs of {} types, offered load {load}, seed {seed}", types.len());
    let started = Instant::now();
    let mut reports: Vec<(PolicyKind, Report, f64)> = Vec::new();
    for kind in [PolicyKind::Fifo, PolicyKind::Backfill, PolicyKind::Tunery] {
        let t = Instant::now();
        let r = simulate(nodes.clone(), &trace, Config::new(kind), SimOptions::default()).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        reports.push((kind, r, t.elapsed().as_secs_f64()));
    }
    let total = started.elapsed().as_secs_f64();
    println!(
        "{:<10} {:>12} {:>12} {:>10} {:>8} {:>6} {:>11} {:>10} {:>8}",
        "policy", "mean JCT h", "p95 JCT h", "wait h", "util", "Jain", "preempted", "lost GPU-h", "sim s"
    );
    for (kind, r, s) in &reports {
        println!(
            "{:<10} {:>12.2} {:>12.2} {:>10.2} {:>8.3} {:>6.3} {:>11} {:>10.1} {:>8.2}",
            format!("{kind:?}").to_lowercase(),
            r.mean_completion_s / 3600.0,
            r.p95_completion_s / 3600.0,
            r.mean_wait_s / 3600.0,
            r.utilization,
            r.jain_fairness,
            r.preemptions,
            r.lost_gpu_hours,
            s
        );
    }
    let (fifo, backfill, tunery) = (&reports[0].1, &reports[1].1, &reports[2].1);
    let jct_ratio = tunery.mean_completion_s / fifo.mean_completion_s;
    let util_ratio = tunery.utilization / backfill.utilization;
    println!("tunery/fifo mean completion time: {jct_ratio:.3} (goal ≤ 0.6: {})", if jct_ratio <= 0.6 { "met" } else { "NOT met" });
    println!("tunery/backfill utilization: {util_ratio:.3} (goal ≥ 1: {})", if util_ratio >= 1.0 - 1e-9 { "met" } else { "NOT met" });
    println!(
        "tunery Jain fairness: {:.3} (goal ≥ 0.9: {})",
        tunery.jain_fairness,
        if tunery.jain_fairness >= 0.9 { "met" } else { "NOT met" }
    );
    println!("all three simulations: {total:.1} s (goal < 30 s: {})", if total < 30.0 { "met" } else { "NOT met" });
}
