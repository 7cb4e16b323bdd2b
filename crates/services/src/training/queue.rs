//! The job queue: FIFO with a concurrency limit, in the database (a claim is one conditional
//! state change, so two dispatchers can never start the same job). Scheduling policies
//! (priority, fair share, quotas, preemption) will replace `next_job` behind the same interface.

use super::transition::{change_state, current_state};
use crate::audit::AuditEvent;
use crate::{RequestContext, Result, Services};
use domain::training::JobState;
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
    /// checkpoint), then queued jobs start in FIFO order up to the concurrency limit.
    pub async fn start_training(&self) -> Result<()> {
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
    }

    /// Starts queued jobs while slots are free.
    async fn dispatch(&self) -> Result<()> {
        let limit = self.settings().training.max_concurrent_jobs.max(1);
        while self.queue().running_ids().len() < limit && !self.queue().is_shutting_down() {
            let Some(job) = self.claim_next().await? else { break };
            let services = self.clone();
            let stop = self.queue().register(&job.id);
            tokio::spawn(async move {
                let id = job.id.clone();
                services.run_job(job, stop).await;
                services.queue().unregister(&id);
            });
        }
        Ok(())
    }

    /// Takes the oldest queued job: queued → running, in one transaction.
    async fn claim_next(&self) -> Result<Option<database::jobs::JobRow>> {
        let candidates = database::jobs::in_state(&mut *self.db().read().await?, JobState::Queued.as_str(), 8).await?;
        for candidate in candidates {
            let mut tx = self.db().begin_write().await?;
            database::jobs::lock(tx.conn(), &candidate.id).await?;
            let mut row = database::jobs::get_any(tx.conn(), &candidate.id).await?;
            if row.state != JobState::Queued.as_str() {
                continue;
            }
            row.runner_instance = Some(self.queue().instance().to_string());
            row.runner_pid = None;
            let details = serde_json::json!({"attempt": row.attempt});
            let audit = AuditEvent::system(Some(&row.organization_id), "job.running");
            change_state(tx.conn(), self.derived_keys(), &mut row, JobState::Running, details, audit, &RequestContext::default()).await?;
            database::jobs::set_lease(tx.conn(), &row.id, self.queue().instance(), lease_until(self)).await?;
            tx.commit().await?;
            self.signal_job(&row.id);
            return Ok(Some(row));
        }
        Ok(None)
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

    /// Reconciles jobs whose server is gone: the orphaned runtime, if it runs here, is stopped
    /// first (so nothing runs twice); then a cancelling job ends cancelled and a running one is
    /// queued again to continue from its last checkpoint.
    async fn take_over(&self, stuck: Vec<database::jobs::JobRow>, reason: &str) -> Result<usize> {
        let grace = std::time::Duration::from_secs(self.settings().training.stop_grace_s);
        for job in &stuck {
            if let Some(pid) = job.runner_pid {
                let workdir = self.settings().training.work_dir.join(&job.id);
                executors::local::stop_orphan(pid as u32, &workdir, grace).await;
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
        Ok(stuck.len())
    }
}

/// When a lease taken or renewed now expires.
fn lease_until(services: &Services) -> i64 {
    crate::now_ms() + services.settings().training.job_lease_s as i64 * 1000
}
