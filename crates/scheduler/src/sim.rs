//! The simulator: a job trace replayed through a policy on a virtual clock, and a generator of
//! synthetic traces shaped like the public Philly and Alibaba GPU traces (heavy-tailed
//! durations, mostly 1-GPU jobs with a tail up to 64, a few users submitting most jobs, in
//! bursts).
//!
//! The model: a job runs for its duration (its estimate is exact); it checkpoints every
//! `checkpoint_every_ms`; a preempted job takes `stop_ms` to stop and keeps its work up to its
//! last checkpoint (the GPU-time after it is lost).

use crate::cluster::{Cluster, Node};
use crate::policy::{Config, Decision, JobRequest, Scheduler};
use crate::Millis;
use std::collections::{BTreeMap, HashMap};

/// One job of a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceJob {
    pub id: String,
    pub arrival_ms: Millis,
    pub user: String,
    pub gpus: u32,
    pub gpu_type: Option<String>,
    pub duration_ms: Millis,
    pub priority: u32,
    pub preemptible: bool,
}

/// What a replay measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub jobs: usize,
    /// Busy GPU-time ÷ (GPUs × time from the first arrival to the last completion).
    pub utilization: f64,
    pub mean_completion_s: f64,
    pub p95_completion_s: f64,
    pub mean_wait_s: f64,
    /// Jain's index over users of each user's mean of duration ÷ completion time (1 when every
    /// user's jobs are slowed down alike).
    pub jain_fairness: f64,
    pub preemptions: u64,
    pub lost_gpu_hours: f64,
    pub makespan_s: f64,
}

/// How the replay models checkpoints and stops.
#[derive(Debug, Clone, Copy)]
pub struct SimOptions {
    pub checkpoint_every_ms: Millis,
    pub stop_ms: Millis,
}

impl Default for SimOptions {
    fn default() -> SimOptions {
        SimOptions { checkpoint_every_ms: 30 * 60_000, stop_ms: 60_000 }
    }
}

struct Live {
    started_at: Millis,
    /// Work still to do when it started.
    remaining_ms: Millis,
    gpus: u32,
}

/// Replays `trace` (any order) through the policy on `nodes`.
pub fn simulate(nodes: Vec<Node>, trace: &[TraceJob], config: Config, options: SimOptions) -> Result<Report, String> {
    let mut sched = Scheduler::new(config, Cluster::new(nodes));
    let total_gpus = sched.cluster().total_gpus() as f64;
    let mut arrivals: Vec<&TraceJob> = trace.iter().collect();
    arrivals.sort_by(|a, b| (a.arrival_ms, &a.id).cmp(&(b.arrival_ms, &b.id)));
    let mut remaining: HashMap<String, Millis> = trace.iter().map(|j| (j.id.clone(), j.duration_ms)).collect();
    let mut live: HashMap<String, Live> = HashMap::new();
    // Completions and stops, by time: (time, 0 stop / 1 finish, id).
    let mut events: BTreeMap<(Millis, u8, String), ()> = BTreeMap::new();
    let mut first_start: HashMap<String, Millis> = HashMap::new();
    let mut completed: HashMap<String, Millis> = HashMap::new();
    let (mut busy_gpu_ms, mut lost_gpu_ms, mut preemptions) = (0f64, 0f64, 0u64);
    let mut next = 0;
    let mut now = arrivals.first().map(|j| j.arrival_ms).unwrap_or(0);
    let start = now;
    loop {
        // Everything due at `now`: stops, completions, arrivals.
        while let Some(((t, kind, id), ())) = events.first_key_value().map(|(k, v)| (k.clone(), *v)) {
            if t > now {
                break;
            }
            events.pop_first();
            let Some(l) = live.remove(&id) else { continue };
            busy_gpu_ms += (t - l.started_at) as f64 * f64::from(l.gpus);
            if kind == 1 {
                sched.finished(&id, t);
                completed.insert(id, t);
            } else {
                // Work kept: up to the last checkpoint before the stop was asked.
                let ran = t - options.stop_ms - l.started_at;
                let kept = (ran / options.checkpoint_every_ms.max(1)) * options.checkpoint_every_ms;
                lost_gpu_ms += (t - l.started_at - kept) as f64 * f64::from(l.gpus);
                sched.checkpointed(&id, l.started_at + kept);
                sched.stopped(&id, t);
                remaining.insert(id, l.remaining_ms - kept);
            }
        }
        while next < arrivals.len() && arrivals[next].arrival_ms <= now {
            let j = arrivals[next];
            sched.submit(JobRequest {
                id: j.id.clone(),
                user: j.user.clone(),
                project: None,
                gpu_type: j.gpu_type.clone(),
                gpus: j.gpus,
                gpu_memory_gib: 0.0,
                priority: j.priority,
                preemptible: j.preemptible,
                expected_ms: j.duration_ms,
                submitted_at: j.arrival_ms,
                groups: Vec::new(),
            })?;
            next += 1;
        }
        // The policy knows each running job's last checkpoint.
        for (id, l) in &live {
            let ran = now - l.started_at;
            sched.checkpointed(id, l.started_at + (ran / options.checkpoint_every_ms.max(1)) * options.checkpoint_every_ms);
        }
        for d in sched.tick(now) {
            match d {
                Decision::Start { job, placement } => {
                    let gpus = placement.iter().map(|a| a.gpus).sum();
                    let left = remaining[&job];
                    first_start.entry(job.clone()).or_insert(now);
                    events.insert((now + left, 1, job.clone()), ());
                    live.insert(job, Live { started_at: now, remaining_ms: left, gpus });
                }
                Decision::Preempt { job, .. } => {
                    preemptions += 1;
                    if !live.contains_key(&job) {
                        continue;
                    }
                    events.retain(|(_, kind, id), ()| !(*kind == 1 && *id == job));
                    events.insert((now + options.stop_ms, 0, job), ());
                }
            }
        }
        let next_event = events.first_key_value().map(|((t, _, _), ())| *t);
        let next_arrival = arrivals.get(next).map(|j| j.arrival_ms);
        now = match (next_event, next_arrival) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => break,
        };
    }
    if completed.len() != trace.len() {
        let stuck: Vec<&str> = trace.iter().filter(|j| !completed.contains_key(&j.id)).map(|j| j.id.as_str()).take(5).collect();
        let running: Vec<&str> = sched.running().map(|(id, _)| id).collect();
        return Err(format!(
            "{} of {} jobs never finished (first: {stuck:?}; queue head {:?}, running {running:?}, {} GPUs free)",
            trace.len() - completed.len(),
            trace.len(),
            sched.queue_order().first(),
            sched.cluster().free_gpus()
        ));
    }
    let end = completed.values().copied().max().unwrap_or(start);
    let makespan = (end - start).max(1) as f64;
    let mut jct: Vec<f64> = trace.iter().map(|j| (completed[&j.id] - j.arrival_ms) as f64).collect();
    let waits: Vec<f64> = trace.iter().map(|j| (first_start[&j.id] - j.arrival_ms) as f64).collect();
    let mut per_user: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for j in trace {
        let speed = j.duration_ms.max(1) as f64 / (completed[&j.id] - j.arrival_ms).max(1) as f64;
        let e = per_user.entry(j.user.as_str()).or_default();
        e.0 += speed;
        e.1 += 1;
    }
    let xs: Vec<f64> = per_user.values().map(|(s, n)| s / *n as f64).collect();
    let jain = xs.iter().sum::<f64>().powi(2) / (xs.len().max(1) as f64 * xs.iter().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE));
    jct.sort_by(f64::total_cmp);
    let n = trace.len().max(1) as f64;
    Ok(Report {
        jobs: trace.len(),
        utilization: busy_gpu_ms / (total_gpus * makespan),
        mean_completion_s: jct.iter().sum::<f64>() / n / 1000.0,
        p95_completion_s: jct.get(((jct.len() as f64 * 0.95).ceil() as usize).saturating_sub(1)).copied().unwrap_or(0.0) / 1000.0,
        mean_wait_s: waits.iter().sum::<f64>() / n / 1000.0,
        jain_fairness: jain,
        preemptions,
        lost_gpu_hours: lost_gpu_ms / 3_600_000.0,
        makespan_s: makespan / 1000.0,
    })
}

/// A deterministic generator (SplitMix64): traces are the same for the same seed everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit().max(f64::MIN_POSITIVE), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    fn pick(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

/// A synthetic trace: `jobs` jobs from `users` users arriving so that the demanded GPU-time is
/// `load` × the cluster's capacity over the trace's span. GPUs per job: 1 (70%), 2, 4, 8, 16,
/// 32, 64 (0.5%); durations log-normal around 30 minutes (σ 1.6, 1 minute to 3 days); users by
/// a Zipf law (a few submit most jobs), in bursts; priorities mostly normal, some high, low and
/// urgent; low and most normal jobs preemptible; a third ask for a GPU type, the rest any.
pub fn synthetic_trace(jobs: usize, users: usize, gpu_types: &[&str], cluster_gpus: u64, load: f64, seed: u64) -> Vec<TraceJob> {
    let mut rng = Rng::new(seed);
    let sizes = [1u32, 2, 4, 8, 16, 32, 64];
    let size_weights = [70.0, 10.0, 9.0, 7.0, 2.5, 1.0, 0.5];
    let user_weights: Vec<f64> = (1..=users.max(1)).map(|r| 1.0 / (r as f64).powf(0.9)).collect();
    let mut out = Vec::with_capacity(jobs);
    let mut demand = 0f64;
    // A job's GPUs are all of one type: at most one type's share of the cluster.
    let per_type = (cluster_gpus / gpu_types.len().max(1) as u64).max(1);
    for i in 0..jobs {
        let gpus = sizes[rng.pick(&size_weights)].min(per_type as u32);
        let minutes = (30.0f64.ln() + 1.6 * rng.normal()).exp().clamp(1.0, 3.0 * 24.0 * 60.0);
        let duration_ms = (minutes * 60_000.0) as Millis;
        demand += duration_ms as f64 * f64::from(gpus);
        let priority = [0u32, 1, 2, 3][rng.pick(&[8.0, 80.0, 10.0, 2.0])];
        let preemptible = priority == 0 || (priority == 1 && rng.unit() < 0.6);
        let typed = rng.unit() < 0.33 && !gpu_types.is_empty();
        let gpu_type = typed.then(|| gpu_types[rng.pick(&vec![1.0; gpu_types.len()])].to_string());
        out.push(TraceJob {
            id: format!("j{i:06}"),
            arrival_ms: 0,
            user: format!("u{:03}", rng.pick(&user_weights)),
            gpus,
            gpu_type,
            duration_ms,
            priority,
            preemptible,
        });
    }
    // Arrivals over the span the load asks for: bursts of a user's jobs a minute apart, the
    // bursts themselves at exponential gaps.
    let span = demand / (cluster_gpus.max(1) as f64 * load.max(1e-6));
    let mut t = 0f64;
    let mean_gap = span / jobs.max(1) as f64;
    let mut i = 0;
    while i < out.len() {
        let burst = 1 + (rng.unit() * 6.0) as usize;
        let user = out[i].user.clone();
        for k in 0..burst.min(out.len() - i) {
            out[i + k].arrival_ms = (t + k as f64 * 60_000.0) as Millis;
            out[i + k].user = user.clone();
        }
        t += -(1.0 - rng.unit()).ln() * mean_gap * burst as f64;
        i += burst;
    }
    out
}

/// A mixed cluster of 8-GPU nodes: `gpus` GPUs split evenly over `types` (memory per type from
/// the usual cards).
pub fn mixed_cluster(gpus: u32, types: &[&str]) -> Vec<Node> {
    let memory = |t: &str| match t {
        "H100-80GB" | "A100-80GB" => 80.0,
        "A100-40GB" => 40.0,
        "L4" | "A10" => 24.0,
        _ => 16.0,
    };
    let nodes = (gpus / 8).max(1);
    (0..nodes)
        .map(|i| {
            let t = types[i as usize % types.len().max(1)];
            Node { id: format!("n{i:03}"), gpu_type: t.to_string(), gpus: 8.min(gpus.max(1)), gpu_memory_gib: memory(t) }
        })
        .collect()
}
