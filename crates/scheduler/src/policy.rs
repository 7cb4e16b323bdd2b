//! The queue policy. Three kinds share one tick:
//! - `Fifo`: arrival order; the first job that does not fit blocks the rest.
//! - `Backfill`: arrival order with EASY backfill — the first job that does not fit gets a
//!   reservation at the earliest time enough GPUs free up (from the running jobs' expected
//!   ends), and later jobs start now only if they cannot delay it.
//! - `Tunery`: priority class first, then weighted fair share (each project's, then each
//!   user's GPU-time with exponential decay, divided by its weight), then arrival; the first job that does
//!   not fit may preempt lower-priority preemptible jobs (those losing the least work since
//!   their last checkpoint first, each after a minimum run time, at most `max_preemptions`
//!   times, never the job that preempted it), and gets the backfill reservation.

use crate::cluster::{Allocation, Cluster, Need};
use crate::Millis;
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Fifo,
    Backfill,
    Tunery,
}

impl PolicyKind {
    pub fn parse(name: &str) -> Option<PolicyKind> {
        match name {
            "fifo" => Some(PolicyKind::Fifo),
            "backfill" => Some(PolicyKind::Backfill),
            "tunery" => Some(PolicyKind::Tunery),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub kind: PolicyKind,
    /// Half-life of past GPU-time in the fair-share factor.
    pub usage_half_life_ms: Millis,
    /// A job runs at least this long before it may be preempted.
    pub min_run_ms: Millis,
    /// A job is preempted at most this many times.
    pub max_preemptions: u32,
    /// A blocked job preempts others only when the running jobs would keep it waiting longer
    /// than this (by their expected ends): short waits are cheaper than lost work.
    pub preempt_after_wait_ms: Millis,
    /// Fair-share weights per user (1 when absent): a user with weight 2 may use twice the share.
    pub user_weights: HashMap<String, f64>,
    /// Fair-share weights per project (1 when absent; jobs without a project form one group):
    /// projects are balanced first, then users within the same priority.
    pub project_weights: HashMap<String, f64>,
    /// Time-slicing (`tunery` only): a job that has waited this long, of a user under their
    /// fair share of the GPUs, makes jobs of users over theirs yield — at a checkpoint
    /// boundary — whatever their priority class below its own. None: off.
    pub time_slice_ms: Option<Millis>,
    /// A yielding job loses at most this much work since its last checkpoint (ignored with
    /// `checkpoint_on_stop`).
    pub checkpoint_slack_ms: Millis,
    /// Stopped jobs save a checkpoint as they stop (Tunery's runtime does on SIGTERM), so a
    /// stop loses nothing.
    pub checkpoint_on_stop: bool,
}

impl Config {
    /// The defaults: the server's (`SchedulingSettings::default` takes them from here) and the
    /// simulator's, so a replay runs the policy the server runs.
    pub fn new(kind: PolicyKind) -> Config {
        Config {
            kind,
            usage_half_life_ms: 6 * 3_600_000,
            min_run_ms: 10 * 60_000,
            max_preemptions: 3,
            preempt_after_wait_ms: 30 * 60_000,
            user_weights: HashMap::new(),
            project_weights: HashMap::new(),
            time_slice_ms: Some(4 * 3_600_000),
            checkpoint_slack_ms: 2 * 60_000,
            checkpoint_on_stop: false,
        }
    }
}

/// A job as the policy sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRequest {
    pub id: String,
    pub user: String,
    pub project: Option<String>,
    /// A GPU type, or None for any.
    pub gpu_type: Option<String>,
    pub gpus: u32,
    pub gpu_memory_gib: f64,
    /// Higher first (for example low 0, normal 1, high 2, urgent 3).
    pub priority: u32,
    /// May be preempted (spot).
    pub preemptible: bool,
    /// Expected running time (its estimate or maximum duration), for backfill.
    pub expected_ms: Millis,
    pub submitted_at: Millis,
    /// The groups whose admission limits apply (for example `user usr_1`, `project prj_1`,
    /// `organization org_1`); see [`Scheduler::set_limit`].
    pub groups: Vec<String>,
}

/// Admission limits of a group of jobs: running at once, GPUs at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limit {
    pub max_jobs: Option<u32>,
    pub max_gpus: Option<u32>,
    /// Work of the group running outside this scheduler (evaluations) that takes places of
    /// `max_jobs`.
    pub also_running: u32,
}

impl JobRequest {
    fn need(&self) -> Need<'_> {
        Need { gpu_type: self.gpu_type.as_deref(), gpus: self.gpus, gpu_memory_gib: self.gpu_memory_gib }
    }
}

/// What a job kept from earlier runs: restored when a scheduler is rebuilt from stored state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Work kept from earlier runs (up to their last checkpoints).
    pub done_ms: Millis,
    pub preemptions: u32,
    /// Jobs that preempted this one (it never preempts them back).
    pub preempted_by: Vec<String>,
    /// Since when it waits (default: its submission).
    pub waiting_since: Option<Millis>,
}

/// A running job as stored: restored with [`Scheduler::restore_running`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunningJob {
    pub req: JobRequest,
    pub history: History,
    pub placement: Vec<Allocation>,
    pub started_at: Millis,
    pub last_checkpoint_at: Millis,
    /// Being stopped to make room for this job (a preemption already decided).
    pub stopping_for: Option<String>,
}

/// Why a job still waits after a tick: a stable `code` and a sentence for people.
#[derive(Debug, Clone, PartialEq)]
pub struct Wait {
    /// `quota` (a limit of its user, project or organization), `no_room` (not enough free GPUs
    /// of its kind), `preempting` (lower-priority spot jobs are
    /// being stopped for it), `reserved_for_head` (it would fit, but would delay the job at the
    /// head of the queue), `behind_head` (FIFO: the head blocks everything behind it).
    pub code: &'static str,
    pub message: String,
    /// When the policy expects it could start, from the running jobs' expected ends (the head
    /// of the queue only).
    pub expected_start: Option<Millis>,
}

/// What a tick decides.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Start `job` on these GPUs (the policy has taken them).
    Start { job: String, placement: Vec<Allocation> },
    /// Stop `job` (SIGTERM: it checkpoints) to make room for `for_job`; report it with
    /// [`Scheduler::stopped`] and it waits in the queue again with its progress.
    /// `time_slice`: it yields to a user under their fair share who waited a time slice,
    /// rather than to a higher priority.
    Preempt { job: String, for_job: String, time_slice: bool },
}

#[derive(Debug, Clone)]
struct Waiting {
    req: JobRequest,
    /// Work kept from earlier runs (up to their last checkpoints).
    done_ms: Millis,
    preemptions: u32,
    /// Jobs that preempted this one (it never preempts them back).
    preempted_by: HashSet<String>,
    /// Since when it waits.
    since: Millis,
}

impl Waiting {
    fn of(req: JobRequest, h: History) -> Waiting {
        let since = h.waiting_since.unwrap_or(req.submitted_at);
        Waiting { req, done_ms: h.done_ms.max(0), preemptions: h.preemptions, preempted_by: h.preempted_by.into_iter().collect(), since }
    }
}

#[derive(Debug, Clone)]
struct Running {
    w: Waiting,
    placement: Vec<Allocation>,
    started_at: Millis,
    last_checkpoint_at: Millis,
    /// Set when a preemption was decided: the job it makes room for.
    stopping_for: Option<String>,
}

impl Running {
    /// When it should end. A job already past that (its estimate was low) is expected to run
    /// as long again as it has run so far, rather than to end at once.
    fn expected_end(&self, now: Millis) -> Millis {
        let end = self.started_at + (self.w.req.expected_ms - self.w.done_ms).max(0);
        if end > now {
            end
        } else {
            now + (now - self.started_at).max(1)
        }
    }
}

/// The policy's state: the cluster, the queue, the running jobs and the decayed usage.
#[derive(Debug)]
pub struct Scheduler {
    config: Config,
    cluster: Cluster,
    queue: Vec<Waiting>,
    running: BTreeMap<String, Running>,
    usage: HashMap<String, f64>,
    /// Decayed GPU-ms per project ("" for jobs without one).
    project_usage: HashMap<String, f64>,
    usage_at: Millis,
    /// Why each job still waits, as of the last tick (those the tick did not reach: see
    /// `wait_reason`).
    waits: HashMap<String, Wait>,
    /// FIFO: the head that blocked the rest at the last tick.
    fifo_head: Option<String>,
    limits: HashMap<String, Limit>,
}

impl Scheduler {
    pub fn new(config: Config, cluster: Cluster) -> Scheduler {
        Scheduler {
            config,
            cluster,
            queue: Vec::new(),
            running: BTreeMap::new(),
            usage: HashMap::new(),
            project_usage: HashMap::new(),
            usage_at: 0,
            waits: HashMap::new(),
            fifo_head: None,
            limits: HashMap::new(),
        }
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Queues a job; refused (with why) when no placement could ever hold it, its numbers make
    /// no sense, or its id is taken.
    pub fn submit(&mut self, req: JobRequest) -> Result<(), String> {
        self.restore_waiting(req, History::default())
    }

    /// Queues a job that waited before (a scheduler rebuilt from stored state), with what it
    /// kept from earlier runs.
    pub fn restore_waiting(&mut self, req: JobRequest, history: History) -> Result<(), String> {
        self.check(&req)?;
        self.queue.push(Waiting::of(req, history));
        Ok(())
    }

    /// Places a job that already runs on the GPUs it holds (a scheduler rebuilt from stored
    /// state); refused when those GPUs are not free or do not exist.
    pub fn restore_running(&mut self, job: RunningJob) -> Result<(), String> {
        self.check(&job.req)?;
        let mut free = self.cluster.free_vector();
        if !self.cluster.apply_checked(&mut free, &job.placement) {
            return Err(format!("job {}: its placement {:?} is not free on this cluster", job.req.id, job.placement));
        }
        self.cluster.take(&job.placement);
        let id = job.req.id.clone();
        let running = Running {
            w: Waiting::of(job.req, job.history),
            placement: job.placement,
            started_at: job.started_at,
            last_checkpoint_at: job.last_checkpoint_at.max(job.started_at),
            stopping_for: job.stopping_for,
        };
        self.running.insert(id, running);
        Ok(())
    }

    /// Sets each user's and each project's ("" for none) decayed GPU-ms as of `at` (a
    /// scheduler rebuilt from stored usage).
    pub fn restore_usage(&mut self, users: HashMap<String, f64>, projects: HashMap<String, f64>, at: Millis) {
        self.usage = users;
        self.project_usage = projects;
        self.usage_at = at;
    }

    /// Limits a group's running jobs and GPUs: a job that would exceed a limit of one of its
    /// groups waits (`quota`) without holding up the jobs behind it.
    pub fn set_limit(&mut self, group: &str, limit: Limit) {
        self.limits.insert(group.to_string(), limit);
    }

    /// Why starting `req` now would exceed a limit of one of its groups.
    fn over_limit(&self, req: &JobRequest) -> Option<String> {
        for g in &req.groups {
            let Some(limit) = self.limits.get(g) else { continue };
            let members = self.running.values().filter(|r| r.w.req.groups.contains(g));
            let (jobs, gpus) = members.fold((0u32, 0u32), |(j, n), r| (j + 1, n + r.w.req.gpus));
            if let Some(max) = limit.max_jobs.filter(|&m| jobs + limit.also_running + 1 > m) {
                let others = match limit.also_running {
                    0 => String::new(),
                    n => format!(" and {n} evaluation(s)"),
                };
                return Some(format!("the quota of {g}: at most {max} job(s) running at once; {jobs} running{others}"));
            }
            if let Some(max) = limit.max_gpus.filter(|&m| gpus + req.gpus > m) {
                return Some(format!("the quota of {g}: at most {max} GPU(s) at once; {gpus} in use and this job needs {}", req.gpus));
            }
        }
        None
    }

    /// Why a waiting job still waits, as of the last tick (None: it is not waiting).
    pub fn wait_reason(&self, id: &str) -> Option<Wait> {
        if let Some(w) = self.waits.get(id) {
            return Some(w.clone());
        }
        let i = self.queue.iter().position(|w| w.req.id == id)?;
        Some(match &self.fifo_head {
            Some(head) => Wait { code: "behind_head", message: format!("first in, first out: behind job {head}"), expected_start: None },
            None => Wait { code: "no_room", message: self.no_room(i), expected_start: None },
        })
    }

    fn check(&self, req: &JobRequest) -> Result<(), String> {
        if req.expected_ms < 0 {
            return Err(format!("job {}: a negative expected duration ({} ms)", req.id, req.expected_ms));
        }
        if req.gpu_memory_gib.is_nan() || req.gpu_memory_gib < 0.0 {
            return Err(format!("job {}: GPU memory must be 0 or more", req.id));
        }
        if let Some(why) = self.cluster.impossible(&req.need()) {
            return Err(format!("job {}: {why}", req.id));
        }
        if self.queue.iter().any(|w| w.req.id == req.id) || self.running.contains_key(&req.id) {
            return Err(format!("job {} is already queued or running", req.id));
        }
        Ok(())
    }

    /// Removes a job wherever it is (cancelled, or ended outside the policy): its GPUs come back.
    pub fn remove(&mut self, id: &str) {
        self.queue.retain(|w| w.req.id != id);
        if let Some(r) = self.running.remove(id) {
            self.cluster.give_back(&r.placement);
        }
    }

    /// A running job finished.
    pub fn finished(&mut self, id: &str, now: Millis) {
        self.account(now);
        self.remove(id);
    }

    /// A running job saved a checkpoint: what a preemption would lose starts again from here.
    pub fn checkpointed(&mut self, id: &str, at: Millis) {
        if let Some(r) = self.running.get_mut(id) {
            r.last_checkpoint_at = r.last_checkpoint_at.max(at);
        }
    }

    /// A job stopped (preempted, or for any reason): its GPUs come back and it waits again,
    /// keeping the work up to its last checkpoint and its place in the arrival order.
    pub fn stopped(&mut self, id: &str, now: Millis) {
        self.account(now);
        let Some(r) = self.running.remove(id) else { return };
        self.cluster.give_back(&r.placement);
        let mut w = r.w;
        w.done_ms += (r.last_checkpoint_at - r.started_at).max(0);
        if let Some(by) = r.stopping_for {
            w.preemptions += 1;
            w.preempted_by.insert(by);
        }
        w.since = now;
        self.queue.push(w);
    }

    /// Work a job has kept from earlier runs (ms), while it waits.
    pub fn progress(&self, id: &str) -> Option<Millis> {
        self.queue.iter().find(|w| w.req.id == id).map(|w| w.done_ms).or_else(|| self.running.get(id).map(|r| r.w.done_ms))
    }

    /// The waiting jobs in the order the policy would start them.
    pub fn queue_order(&self) -> Vec<String> {
        self.ordered().into_iter().map(|i| self.queue[i].req.id.clone()).collect()
    }

    /// The running jobs and their GPUs.
    pub fn running(&self) -> impl Iterator<Item = (&str, &[Allocation])> {
        self.running.iter().map(|(id, r)| (id.as_str(), r.placement.as_slice()))
    }

    /// Decays past usage to `now` and adds the GPU-time of what ran since the last account.
    fn account(&mut self, now: Millis) {
        let dt = now - self.usage_at;
        if dt <= 0 {
            return;
        }
        let decay = 0.5f64.powf(dt as f64 / self.config.usage_half_life_ms.max(1) as f64);
        for v in self.usage.values_mut().chain(self.project_usage.values_mut()) {
            *v *= decay;
        }
        for r in self.running.values() {
            // What ran since the last account, decayed by half the interval.
            let from = r.started_at.max(self.usage_at);
            let ran = (now - from).max(0) as f64 * f64::from(r.w.req.gpus) * decay.sqrt();
            *self.usage.entry(r.w.req.user.clone()).or_default() += ran;
            *self.project_usage.entry(r.w.req.project.clone().unwrap_or_default()).or_default() += ran;
        }
        self.usage_at = now;
    }

    fn share(&self, user: &str) -> f64 {
        let weight = self.config.user_weights.get(user).copied().unwrap_or(1.0).max(1e-9);
        self.usage.get(user).copied().unwrap_or(0.0) / weight
    }

    fn project_share(&self, project: Option<&str>) -> f64 {
        let key = project.unwrap_or("");
        let weight = self.config.project_weights.get(key).copied().unwrap_or(1.0).max(1e-9);
        self.project_usage.get(key).copied().unwrap_or(0.0) / weight
    }

    /// Indices of the queue in start order.
    fn ordered(&self) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.queue.len()).collect();
        match self.config.kind {
            PolicyKind::Fifo | PolicyKind::Backfill => {
                idx.sort_by(|&a, &b| {
                    let (x, y) = (&self.queue[a].req, &self.queue[b].req);
                    (x.submitted_at, &x.id).cmp(&(y.submitted_at, &y.id))
                });
            }
            PolicyKind::Tunery => {
                let shares: Vec<(f64, f64)> =
                    self.queue.iter().map(|w| (self.project_share(w.req.project.as_deref()), self.share(&w.req.user))).collect();
                idx.sort_by(|&a, &b| {
                    let (x, y) = (&self.queue[a].req, &self.queue[b].req);
                    y.priority
                        .cmp(&x.priority)
                        .then(shares[a].0.total_cmp(&shares[b].0))
                        .then(shares[a].1.total_cmp(&shares[b].1))
                        .then((x.submitted_at, &x.id).cmp(&(y.submitted_at, &y.id)))
                });
            }
        }
        idx
    }

    /// Decides what starts now and what is preempted.
    pub fn tick(&mut self, now: Millis) -> Vec<Decision> {
        self.account(now);
        self.waits.clear();
        let order = self.ordered();
        let mut decisions = Vec::new();
        let mut started: Vec<usize> = Vec::new();
        // The blocked head's reservation: when it starts and the GPUs free then.
        let mut reservation: Option<(Millis, Vec<u32>, usize)> = None;
        let mut head_of_fifo: Option<String> = None;
        for i in order {
            let free_now = self.cluster.free_gpus();
            if free_now == 0 && reservation.is_some() {
                break; // nothing more can start
            }
            if let Some(message) = self.over_limit(&self.queue[i].req) {
                self.waits.insert(self.queue[i].req.id.clone(), Wait { code: "quota", message, expected_start: None });
                continue;
            }
            let need = self.queue[i].req.need();
            let remaining = (self.queue[i].req.expected_ms - self.queue[i].done_ms).max(0);
            let placement = self.cluster.place(&need);
            if let Some((shadow, at_shadow, head)) = &mut reservation {
                let Some(p) = placement else { continue };
                // Backfill: ends before the head starts, or leaves it room when it does.
                if now + remaining > *shadow {
                    let mut after = at_shadow.clone();
                    self.cluster.apply(&mut after, &p, -1);
                    let head_need = self.queue[*head].req.need();
                    if self.cluster.place_with(&head_need, &after).is_none() {
                        let head_id = self.queue[*head].req.id.clone();
                        let message = format!("it would fit now, but would delay job {head_id} at the head of the queue");
                        self.waits.insert(self.queue[i].req.id.clone(), Wait { code: "reserved_for_head", message, expected_start: None });
                        continue;
                    }
                    *at_shadow = after;
                }
                self.start(i, p, now, &mut decisions);
                started.push(i);
                continue;
            }
            match placement {
                Some(p) => {
                    self.start(i, p, now, &mut decisions);
                    started.push(i);
                }
                None => {
                    let (mut shadow, mut at_shadow) = self.reserve(i, now);
                    let id = self.queue[i].req.id.clone();
                    let expected_start = (shadow != Millis::MAX).then_some(shadow);
                    self.waits.insert(id.clone(), Wait { code: "no_room", message: self.no_room(i), expected_start });
                    if self.config.kind == PolicyKind::Fifo {
                        head_of_fifo = Some(id);
                        break;
                    }
                    // Preempt only when the head would otherwise wait longer than the patience.
                    if self.config.kind == PolicyKind::Tunery && shadow.saturating_sub(now) > self.config.preempt_after_wait_ms {
                        let before = decisions.len();
                        self.preempt_for(i, now, &mut decisions, None);
                        if decisions.len() > before {
                            // Its room frees as the victims stop: backfill must not take it.
                            (shadow, at_shadow) = self.reserve(i, now);
                        }
                    }
                    let victims: Vec<&str> = self
                        .running
                        .values()
                        .filter(|r| r.stopping_for.as_deref() == Some(id.as_str()))
                        .map(|r| r.w.req.id.as_str())
                        .collect();
                    if !victims.is_empty() {
                        let message =
                            format!("lower-priority spot job(s) {} are saving a checkpoint and stopping to make room", victims.join(", "));
                        self.waits.insert(id, Wait { code: "preempting", message, expected_start: Some(now) });
                    }
                    reservation = Some((shadow, at_shadow, i));
                }
            }
        }
        // Jobs the loop did not reach get their reason when asked (`wait_reason`): formatting
        // one for every waiting job at every tick would cost more than the tick.
        self.fifo_head = head_of_fifo;
        // The started jobs leave the queue (from the back, so the indices stay valid).
        started.sort_unstable_by(|a, b| b.cmp(a));
        for i in started {
            self.queue.swap_remove(i);
        }
        if self.config.kind == PolicyKind::Tunery {
            self.time_slice(now, &mut decisions);
        }
        decisions
    }

    /// Time-slicing: the first waiting job (in start order) that waited a slice, of a user
    /// who would stay within their fair share by starting it, makes jobs of users over theirs
    /// yield (one such job per tick).
    fn time_slice(&mut self, now: Millis, decisions: &mut Vec<Decision>) {
        let Some(slice) = self.config.time_slice_ms else { return };
        let mut users: HashSet<&str> = self.queue.iter().map(|w| w.req.user.as_str()).collect();
        users.extend(self.running.values().map(|r| r.w.req.user.as_str()));
        let weight = |u: &str| self.config.user_weights.get(u).copied().unwrap_or(1.0).max(1e-9);
        let total_weight: f64 = users.iter().map(|u| weight(u)).sum();
        let total = self.cluster.total_gpus() as f64;
        let mut held: HashMap<&str, f64> = HashMap::new();
        for r in self.running.values().filter(|r| r.stopping_for.is_none()) {
            *held.entry(r.w.req.user.as_str()).or_default() += f64::from(r.w.req.gpus);
        }
        let share = |u: &str| total * weight(u) / total_weight;
        let over: HashSet<String> =
            users.iter().filter(|u| held.get(*u).copied().unwrap_or(0.0) > share(u) + 1e-9).map(|u| u.to_string()).collect();
        if over.is_empty() {
            return;
        }
        let candidate = self.ordered().into_iter().find(|&i| {
            let w = &self.queue[i];
            now - w.since >= slice
                && !over.contains(&w.req.user)
                && held.get(w.req.user.as_str()).copied().unwrap_or(0.0) + f64::from(w.req.gpus) <= share(&w.req.user) + 1e-9
                && self.over_limit(&w.req).is_none()
        });
        if let Some(i) = candidate {
            let id = self.queue[i].req.id.clone();
            let before = decisions.len();
            self.preempt_for(i, now, decisions, Some(&over));
            if decisions.len() > before {
                let victims: Vec<String> = decisions[before..]
                    .iter()
                    .filter_map(|d| match d {
                        Decision::Preempt { job, .. } => Some(job.clone()),
                        Decision::Start { .. } => None,
                    })
                    .collect();
                let message = format!(
                    "it waited a time slice under its user's fair share: job(s) {} of users over theirs are yielding their GPUs at a checkpoint",
                    victims.join(", ")
                );
                self.waits.insert(id, Wait { code: "preempting", message, expected_start: Some(now) });
            }
        }
    }

    /// "Needs 2 GPUs of type a100 with 40 GiB each; 1 of 8 free" for the job at `i`.
    fn no_room(&self, i: usize) -> String {
        let req = &self.queue[i].req;
        let kind = req.gpu_type.as_deref().map(|t| format!(" of type {t}")).unwrap_or_default();
        let memory = if req.gpu_memory_gib > 0.0 { format!(" with at least {} GiB each", req.gpu_memory_gib) } else { String::new() };
        let need = req.need();
        let free: u32 = self.cluster.free_by_node().filter(|(n, _)| self.cluster.suits_need(n, &need)).map(|(_, f)| f).sum();
        let total: u32 = self.cluster.nodes().iter().filter(|n| self.cluster.suits_need(n, &need)).map(|n| n.gpus).sum();
        format!("needs {} GPU(s){kind}{memory}; {free} of {total} such free now", req.gpus)
    }

    fn start(&mut self, i: usize, placement: Vec<Allocation>, now: Millis, decisions: &mut Vec<Decision>) {
        self.cluster.take(&placement);
        let w = self.queue[i].clone();
        let id = w.req.id.clone();
        self.running
            .insert(id.clone(), Running { w, placement: placement.clone(), started_at: now, last_checkpoint_at: now, stopping_for: None });
        decisions.push(Decision::Start { job: id, placement });
    }

    /// The earliest time the job at `i` fits as the running jobs end (by their expected ends;
    /// jobs being stopped count as ending now), and the free GPUs then.
    fn reserve(&self, i: usize, now: Millis) -> (Millis, Vec<u32>) {
        let need = self.queue[i].req.need();
        let mut free = self.cluster.free_vector();
        let mut ends: Vec<(Millis, &Running)> =
            self.running.values().map(|r| (if r.stopping_for.is_some() { now } else { r.expected_end(now) }, r)).collect();
        ends.sort_by_key(|(t, r)| (*t, r.w.req.id.clone()));
        for (t, r) in ends {
            self.cluster.apply(&mut free, &r.placement, 1);
            if self.cluster.place_with(&need, &free).is_some() {
                return (t, free);
            }
        }
        (Millis::MAX, free)
    }

    /// Preempts lower-priority preemptible jobs so that the job at `i` fits, when that is
    /// possible within the guards; the fewest GPU-ms lost since their checkpoints first.
    /// `over_share`: time-slicing — the victims are jobs of these users (over their fair
    /// share), of a priority not above the head's, each having lost little since its last
    /// checkpoint; else preemption — lower-priority preemptible jobs.
    fn preempt_for(&mut self, i: usize, now: Millis, decisions: &mut Vec<Decision>, over_share: Option<&HashSet<String>>) {
        let head = &self.queue[i];
        let need = head.req.need();
        let stopping: Vec<Allocation> =
            self.running.values().filter(|r| r.stopping_for.is_some()).flat_map(|r| r.placement.clone()).collect();
        if self.cluster.would_fit(&need, &stopping) {
            return; // room is on its way
        }
        let mut candidates: Vec<&Running> = self
            .running
            .values()
            .filter(|r| {
                let eligible = match over_share {
                    None => r.w.req.preemptible && r.w.req.priority < head.req.priority,
                    Some(users) => {
                        users.contains(&r.w.req.user)
                            && r.w.req.user != head.req.user
                            && r.w.req.priority <= head.req.priority
                            && (self.config.checkpoint_on_stop || now - r.last_checkpoint_at <= self.config.checkpoint_slack_ms)
                    }
                };
                r.stopping_for.is_none()
                    && eligible
                    && now - r.started_at >= self.config.min_run_ms
                    && r.w.preemptions < self.config.max_preemptions
                    && !head.preempted_by.contains(&r.w.req.id)
            })
            .collect();
        let lost = |r: &Running| (now - r.last_checkpoint_at).max(0) * i64::from(r.w.req.gpus);
        candidates.sort_by_key(|r| (lost(r), r.w.req.priority, r.w.req.id.clone()));
        let mut chosen: Vec<&Running> = Vec::new();
        let mut freed = stopping.clone();
        for r in candidates {
            chosen.push(r);
            freed.extend(r.placement.iter().cloned());
            if self.cluster.would_fit(&need, &freed) {
                break;
            }
        }
        if !self.cluster.would_fit(&need, &freed) {
            return; // even all of them would not make room
        }
        // Drop victims that turned out not to be needed (latest chosen first).
        let mut k = chosen.len();
        while k > 0 {
            k -= 1;
            let without: Vec<Allocation> = stopping
                .iter()
                .cloned()
                .chain(chosen.iter().enumerate().filter(|(j, _)| *j != k).flat_map(|(_, r)| r.placement.clone()))
                .collect();
            if self.cluster.would_fit(&need, &without) {
                chosen.remove(k);
            }
        }
        let victims: Vec<String> = chosen.iter().map(|r| r.w.req.id.clone()).collect();
        let for_job = head.req.id.clone();
        for v in victims {
            if let Some(r) = self.running.get_mut(&v) {
                r.stopping_for = Some(for_job.clone());
            }
            decisions.push(Decision::Preempt { job: v, for_job: for_job.clone(), time_slice: over_share.is_some() });
        }
    }
}
