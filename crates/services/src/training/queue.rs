//! The dispatcher: every tick (and at once when woken) it rebuilds the scheduling policy from
//! the database (`scheduling`), starts the jobs it places, stops the ones it preempts and the
//! runs past their maximum duration. A claim is one conditional state change, so two
//! dispatchers can never start the same job.

use super::scheduling::{free_devices, placement_of, resources_of, Placed};
use super::transition::{change_state, current_state};
use crate::audit::AuditEvent;
use crate::{RequestContext, Result, Services};
use domain::training::JobState;
use scheduler::Decision;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{watch, Notify};

/// The dispatcher's shared state.
#[derive(Clone, Default)]
pub struct Queue {
    inner: Arc<QueueInner>,
}

#[derive(Default)]
struct QueueInner {
    wake: Notify,
    /// Runs in this process: job id → stop signal.
    running: Mutex<HashMap<String, watch::Sender<bool>>>,
    shutting_down: AtomicBool,
    /// This server holds the scheduler's lease (as of its last tick).
    scheduling: AtomicBool,
    /// Identifies this server process in `jobs.runner_instance`.
    instance: std::sync::OnceLock<String>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("running", &self.running_ids()).finish()
    }
}

impl Queue {
    /// Looks at the queue now rather than at the next tick.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Asks a run of this process to stop (SIGTERM → checkpoint → exit).
    pub fn stop(&self, job_id: &str) {
        if let Some(tx) = self.inner.running.lock().expect("queue lock").get(job_id) {
            let _ = tx.send(true);
        }
    }

    pub fn running_ids(&self) -> Vec<String> {
        self.inner.running.lock().expect("queue lock").keys().cloned().collect()
    }

    pub(crate) fn instance(&self) -> &str {
        self.inner.instance.get_or_init(|| crate::crypto::random_token(9))
    }

    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }

    pub(crate) fn register(&self, job_id: &str) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        self.inner.running.lock().expect("queue lock").insert(job_id.to_string(), tx);
        rx
    }

    pub(crate) fn unregister(&self, job_id: &str) {
        self.inner.running.lock().expect("queue lock").remove(job_id);
        self.wake();
    }
}

impl Services {
    pub fn queue(&self) -> &Queue {
        self.inner_queue()
    }

    /// Starts the dispatcher: jobs a stopped server left running are reconciled first (their
    /// orphaned runtime is stopped, and they go back to the queue to continue from their last
    /// checkpoint), then queued jobs start as the scheduling policy places them.
    pub async fn start_training(&self) -> Result<()> {
        self.connect_ray().await?;
        self.connect_kubernetes().await?;
        self.recover_jobs().await?;
        self.spawn_lease_keeper();
        let services = self.clone();
        tokio::spawn(async move {
            loop {
                if services.queue().is_shutting_down() {
                    break;
                }
                if let Err(e) = services.dispatch().await {
                    tracing::error!(error = %e, "the job dispatcher failed; retrying");
                }
                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), services.queue().inner.wake.notified()).await;
            }
        });
        Ok(())
    }

    /// Stops every run of this process (each saves a checkpoint and goes back to the queue) and
    /// waits for them, up to the grace period.
    pub async fn stop_training(&self) {
        self.queue().inner.shutting_down.store(true, Ordering::SeqCst);
        for id in self.queue().running_ids() {
            self.queue().stop(&id);
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(self.settings().training.stop_grace_s + 5);
        while !self.queue().running_ids().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        // A standby need not wait for the lease to expire.
        if let Err(e) = self.release_scheduler_lease().await {
            tracing::warn!(error = %e, "could not give the scheduler's lease up; a standby takes it when it expires");
        }
    }

    /// One tick of the scheduler: starts what the policy places, stops what it preempts, and
    /// stops runs past their maximum duration.
    async fn dispatch(&self) -> Result<()> {
        if self.queue().is_shutting_down() || !self.hold_scheduler_lease().await? {
            return Ok(());
        }
        let now = crate::now_ms();
        let plan = self.plan_now(now).await?;
        let mut held: Vec<Placed> = Vec::new();
        for (_, run) in &plan.running {
            held.extend(placement_of(run)?);
        }
        for (row, _) in &plan.running {
            self.stop_if_over_time(row, now).await?;
            if let Some(why) = plan.quotas.exhausted_for(row) {
                self.stop_for(&row.id, &format!("quota:{why}"), &format!("paused: {why}; it saves a checkpoint and waits"), None).await?;
            }
        }
        self.alert_quotas(&plan.quotas).await?;
        for decision in plan.decisions {
            match decision {
                Decision::Start { job, placement } => {
                    let placed: Vec<Placed> = placement
                        .into_iter()
                        .map(|a| {
                            let devices = free_devices(&a.node, a.gpus, &held);
                            Placed { node: a.node, gpus: a.gpus, devices }
                        })
                        .collect();
                    let Some(row) = self.claim(&job, &placed).await? else { continue };
                    held.extend(placed.iter().cloned());
                    let services = self.clone();
                    let stop = self.queue().register(&row.id);
                    tokio::spawn(async move {
                        let id = row.id.clone();
                        services.run_job(row, placed, stop).await;
                        services.queue().unregister(&id);
                    });
                }
                Decision::Preempt { job, for_job, time_slice } => self.preempt(&job, &for_job, time_slice).await?,
            }
        }
        Ok(())
    }

    /// Takes or renews the scheduler's lease: among servers on one database, only its holder
    /// dispatches; a standby takes over once it expired (`--job-lease-s`).
    async fn hold_scheduler_lease(&self) -> Result<bool> {
        let now = crate::now_ms();
        let mut tx = self.db().begin_write().await?;
        let held = database::scheduler_lease::try_hold(tx.conn(), self.queue().instance(), now, lease_until(self)).await?;
        tx.commit().await?;
        let was = self.queue().inner.scheduling.swap(held, Ordering::SeqCst);
        if held != was {
            tracing::info!(instance = %self.queue().instance(), "{}", if held { "this server schedules training jobs now" } else { "another server schedules training jobs" });
        }
        Ok(held)
    }

    async fn release_scheduler_lease(&self) -> Result<()> {
        let mut tx = self.db().begin_write().await?;
        database::scheduler_lease::release(tx.conn(), self.queue().instance()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Starts a queued job on the GPUs placed for it: queued → running with its open run, in
    /// one transaction. None when it is no longer queued.
    async fn claim(&self, id: &str, placed: &[Placed]) -> Result<Option<database::jobs::JobRow>> {
        let mut tx = self.db().begin_write().await?;
        database::jobs::lock(tx.conn(), id).await?;
        let mut row = database::jobs::get_any(tx.conn(), id).await?;
        if row.state != JobState::Queued.as_str() {
            return Ok(None);
        }
        let resources = resources_of(&row)?;
        let nodes = self.nodes();
        let gpu_type = placed
            .first()
            .and_then(|p| nodes.iter().find(|n| n.id == p.node))
            .map(|n| n.gpu_type.clone())
            .ok_or_else(|| crate::Error::Internal(format!("job {id}: placed on a node this server does not have")))?;
        row.runner_instance = Some(self.queue().instance().to_string());
        row.runner_pid = None;
        let details = serde_json::json!({"attempt": row.attempt, "placement": placed});
        let audit = AuditEvent::system(Some(&row.organization_id), "job.running");
        change_state(tx.conn(), self.derived_keys(), &mut row, JobState::Running, details, audit, &RequestContext::default()).await?;
        database::jobs::set_lease(tx.conn(), &row.id, self.queue().instance(), lease_until(self)).await?;
        let prices = self.price_table(tx.conn()).await?;
        let run = database::job_runs::JobRunRow {
            id: crate::crypto::new_id(domain::ids::IdKind::JobRun),
            job_id: row.id.clone(),
            organization_id: row.organization_id.clone(),
            project_id: row.project_id.clone(),
            user_id: row.created_by.clone(),
            runner_instance: self.queue().instance().to_string(),
            gpus: i64::from(resources.gpus),
            placement: serde_json::to_string(placed).map_err(crate::datasets::internal)?,
            preemptible: i64::from(resources.preemptible),
            price_per_gpu_hour: prices.price(&gpu_type, resources.preemptible),
            gpu_type,
            priority_value: i64::from(resources.priority_value),
            started_at: crate::now_ms(),
            ended_at: None,
            ended_because: None,
        };
        database::job_runs::insert(tx.conn(), &run).await?;
        tx.commit().await?;
        self.signal_job(&row.id);
        Ok(Some(row))
    }

    /// Stops a running job to make room for `for_job` (a higher priority, or time-slicing):
    /// the stop is recorded first (so the run's
    /// end requeues it keeping its progress), then the runtime gets SIGTERM and checkpoints.
    async fn preempt(&self, id: &str, for_job: &str, time_slice: bool) -> Result<()> {
        let message = if time_slice {
            format!("yielding its GPUs to job {for_job}, whose user is under their fair share and waited a time slice: saving a checkpoint; the job waits and resumes from it")
        } else {
            format!("preempted by job {for_job} of a higher priority: saving a checkpoint; the job waits and resumes from it")
        };
        let audit = |row: &database::jobs::JobRow| {
            AuditEvent::system(Some(&row.organization_id), "job.preempt")
                .target("job", &row.id)
                .details(serde_json::json!({"for_job": for_job, "preemptions": row.preemptions, "time_slice": time_slice}))
        };
        self.stop_for(id, &format!("preempted:{for_job}"), &message, Some(&audit)).await
    }

    /// Stops a run whose job has used up its maximum duration (over all its runs); it saves a
    /// checkpoint and fails with `max_duration_exceeded`.
    async fn stop_if_over_time(&self, row: &database::jobs::JobRow, now: i64) -> Result<()> {
        let Some(limit_s) = resources_of(row)?.max_duration_s else { return Ok(()) };
        if row.stopping.is_some() || row.state != JobState::Running.as_str() {
            return Ok(());
        }
        let runs = database::job_runs::of_job(&mut *self.db().read().await?, &row.id).await?;
        let used: i64 = runs.iter().map(|r| r.ended_at.unwrap_or(now) - r.started_at).sum();
        if used < limit_s as i64 * 1000 {
            return Ok(());
        }
        let message = format!("the job ran {:.0} s, its maximum duration is {limit_s} s: stopping", used as f64 / 1000.0);
        self.stop_for(&row.id, "max_duration", &message, None).await
    }

    /// Records a stop the scheduler decided for a running job (`stopping`), with a log line
    /// and, when given, an audit record of the locked row, in one transaction; then sends
    /// SIGTERM: the runtime saves a checkpoint and the run's end settles the job by that stop.
    async fn stop_for(
        &self,
        id: &str,
        stopping: &str,
        message: &str,
        audit: Option<&(dyn Fn(&database::jobs::JobRow) -> AuditEvent + Sync)>,
    ) -> Result<()> {
        let mut tx = self.db().begin_write().await?;
        database::jobs::lock(tx.conn(), id).await?;
        let mut current = database::jobs::get_any(tx.conn(), id).await?;
        if current.state != JobState::Running.as_str() || current.stopping.is_some() {
            return Ok(());
        }
        let now = crate::now_ms();
        current.stopping = Some(stopping.to_string());
        current.updated_at = now;
        database::jobs::update(tx.conn(), &current).await?;
        let data = serde_json::json!({"event": "log", "level": "warning", "message": message, "source": "scheduler"});
        database::jobs::append_event(tx.conn(), id, "log", None, now, &data.to_string()).await?;
        if let Some(audit) = audit {
            crate::audit::append(tx.conn(), self.derived_keys(), audit(&current), &RequestContext::default()).await?;
        }
        tx.commit().await?;
        self.signal_job(id);
        self.queue().stop(id);
        Ok(())
    }

    /// At start: jobs left `running` or `cancelling` by a stopped server. Their runtime, if
    /// still alive, is stopped first (so nothing runs twice); then a cancelling job ends
    /// cancelled and a running one is queued again to continue from its last checkpoint.
    async fn recover_jobs(&self) -> Result<usize> {
        let stuck = match self.db().backend() {
            // One server owns a SQLite database: whatever it finds running at start, it left.
            database::Backend::Sqlite => {
                let mut all = database::jobs::in_state(&mut *self.db().read().await?, JobState::Running.as_str(), 10_000).await?;
                all.extend(database::jobs::in_state(&mut *self.db().read().await?, JobState::Cancelling.as_str(), 10_000).await?);
                all
            }
            // Several servers may share PostgreSQL: only jobs whose owner stopped renewing.
            database::Backend::Postgres => database::jobs::expired_leases(&mut *self.db().read().await?, crate::now_ms()).await?,
        };
        self.take_over(stuck, "the server restarted while the job ran").await
    }

    /// Every third of the lease: renews the leases of the jobs this server runs, stops those a
    /// cancel on another server moved to `cancelling`, and (on PostgreSQL) takes over jobs whose
    /// server stopped renewing.
    fn spawn_lease_keeper(&self) {
        let services = self.clone();
        let every = std::time::Duration::from_millis(self.settings().training.job_lease_s * 1000 / 3);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if services.queue().is_shutting_down() {
                    break;
                }
                if let Err(e) = services.keep_leases().await {
                    tracing::warn!(error = %e, "could not renew job leases");
                }
            }
        });
    }

    async fn keep_leases(&self) -> Result<()> {
        let mut tx = self.db().begin_write().await?;
        let cancelling = database::jobs::renew_leases(tx.conn(), self.queue().instance(), lease_until(self)).await?;
        tx.commit().await?;
        for id in cancelling {
            self.queue().stop(&id);
        }
        if self.db().backend() == database::Backend::Postgres {
            let me = self.queue().instance();
            let expired = database::jobs::expired_leases(&mut *self.db().read().await?, crate::now_ms()).await?;
            let others: Vec<_> = expired.into_iter().filter(|j| j.runner_instance.as_deref() != Some(me)).collect();
            if !others.is_empty() {
                self.take_over(others, "its server stopped renewing the job's lease; taken over").await?;
                self.queue().wake();
            }
        }
        Ok(())
    }

    /// The open run a stopped server left of `job`: only one that server started (by the time
    /// this server looks, another may have taken the job over and started a run of its own,
    /// which is not to be stopped).
    pub(crate) async fn orphaned_run(&self, job: &database::jobs::JobRow) -> Result<Option<database::job_runs::JobRunRow>> {
        let run = database::job_runs::open_of(&mut *self.db().read().await?, &job.id).await?;
        Ok(run.filter(|r| job.runner_instance.as_deref() == Some(r.runner_instance.as_str())))
    }

    /// Reconciles jobs whose server is gone: the orphaned runtime, if it runs here, is stopped
    /// first (so nothing runs twice); then a cancelling job ends cancelled and a running one is
    /// queued again to continue from its last checkpoint.
    async fn take_over(&self, stuck: Vec<database::jobs::JobRow>, reason: &str) -> Result<usize> {
        let grace = std::time::Duration::from_secs(self.settings().training.stop_grace_s);
        // A job whose remote run cannot be confirmed stopped stays as it is (it must not run
        // twice); the others are taken over, and the first such error is returned after them.
        let mut first_error = None;
        for job in &stuck {
            if let Some(pid) = job.runner_pid {
                let workdir = self.settings().training.work_dir.join(&job.id);
                executors::local::stop_orphan(pid as u32, &workdir, grace).await;
            }
            let remote = async {
                self.stop_orphaned_ray_run(job, grace).await?;
                self.stop_orphaned_kubernetes_run(job, grace).await
            };
            if let Err(e) = remote.await {
                tracing::warn!(job = %job.id, error = %e, "could not stop the run a stopped server left; the job is not taken over yet");
                first_error.get_or_insert(e);
                continue;
            }
            let mut tx = self.db().begin_write().await?;
            database::jobs::lock(tx.conn(), &job.id).await?;
            let mut row = database::jobs::get_any(tx.conn(), &job.id).await?;
            // Re-checked under the row lock: settled, claimed again or renewed meanwhile → not ours.
            let same_owner = row.runner_instance == job.runner_instance;
            if !same_owner
                || (self.db().backend() == database::Backend::Postgres
                    && !database::jobs::lease_expired(tx.conn(), &job.id, crate::now_ms()).await?)
            {
                continue;
            }
            let next = match current_state(&row)? {
                JobState::Cancelling => JobState::Cancelled,
                JobState::Running => JobState::Queued,
                _ => continue, // settled meanwhile
            };
            let details = serde_json::json!({"reason": reason, "previous_runner": job.runner_instance});
            let audit = AuditEvent::system(Some(&row.organization_id), &format!("job.{}", next.as_str()));
            change_state(tx.conn(), self.derived_keys(), &mut row, next, details, audit, &RequestContext::default()).await?;
            tx.commit().await?;
            self.signal_job(&row.id);
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(stuck.len()),
        }
    }
}

/// When a lease taken or renewed now expires.
fn lease_until(services: &Services) -> i64 {
    crate::now_ms() + services.settings().training.job_lease_s as i64 * 1000
}
