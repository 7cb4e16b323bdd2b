//! One run of a job on the local executor: prepare the work directory (base model, data,
//! checkpoint to resume from, spec), start the runtime, store what it reports, and settle the
//! job's state from how it ended.

use super::transition::{change_state, current_state};
use crate::audit::AuditEvent;
use crate::datasets::internal;
use crate::models::files::{parse_manifest, StoredFile};
use crate::models::{BaseModel, Checkpoint, TrainingSummary};
use crate::training::scheduling::Placed;
use crate::training::Job;
use crate::{now_ms, Error, RequestContext, Result, Services};
use database::job_runs::JobRunRow;
use database::jobs::{CheckpointRow, JobRow};
use domain::ids::IdKind;
use domain::training::JobState;
use executors::local::{Exit, Message};
use executors::protocol::{EventKind, SpecInputs, TrainSpec, EXIT_STOPPED};
use std::path::{Path, PathBuf};
use tokio::sync::watch;

/// What the runtime reported that decides the outcome.
#[derive(Default)]
struct Report {
    finished: Option<serde_json::Map<String, serde_json::Value>>,
    failed: Option<(String, String, Option<String>)>,
    output_path: Option<String>,
}

/// How a run ended, for the state change.
enum Outcome {
    /// The fine-tuned model's row, inserted with the job's success.
    Succeeded {
        model: Box<database::models::ModelRow>,
        /// The run's average tokens/s and the precision it trained in, from its summary.
        throughput: Option<(f64, domain::estimate::Precision)>,
        /// The model's blobs, held until `settle` commits the row that lists them.
        _holds: Vec<crate::blob_holds::BlobHold>,
    },
    Failed {
        code: String,
        message: String,
        hint: Option<String>,
    },
    Cancelled,
    /// Back to the queue: a crash with restarts left (`restart = true`), or a server shutdown.
    Requeued {
        restart: bool,
        reason: String,
    },
}

fn checkpoint_dirs(workdir: &Path) -> Vec<(i64, PathBuf)> {
    let mut found: Vec<(i64, PathBuf)> = std::fs::read_dir(workdir.join("checkpoints"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step = name.strip_prefix("step-")?.parse().ok()?;
            e.path().join("state.json").is_file().then(|| (step, e.path()))
        })
        .collect();
    found.sort();
    found
}

impl Services {
    /// Runs a claimed job once and records how it ended. Never panics the dispatcher: any
    /// error in preparing or storing becomes a failed job with the error's message.
    pub(crate) async fn run_job(&self, row: JobRow, placed: Vec<Placed>, stop: watch::Receiver<bool>) {
        let id = row.id.clone();
        let outcome = match self.run_attempt(&row, &placed, stop).await {
            Ok(o) => o,
            Err(e) => Outcome::Failed { code: "executor_error".into(), message: e.to_string(), hint: None },
        };
        if let Err(e) = self.settle(&id, outcome).await {
            // Recording the outcome failed (its transaction rolled back): the job must not stay
            // `running` with nothing behind it, so it fails, saying why.
            tracing::error!(job = %id, error = %e, "could not record how a job ended; failing it");
            let failed =
                Outcome::Failed { code: "internal_error".into(), message: format!("could not record how the run ended: {e}"), hint: None };
            if let Err(e) = self.settle(&id, failed).await {
                tracing::error!(job = %id, error = %e, "could not fail the job either");
            }
        }
    }

    async fn run_attempt(&self, row: &JobRow, placed: &[Placed], stop: watch::Receiver<bool>) -> Result<Outcome> {
        // A stored configuration that does not parse fails the job, naming it, before anything starts.
        let job = Job::of(row.clone())?;
        let training = self.settings().training.clone();
        let runtime = training.runtime.clone().ok_or_else(|| Error::Unavailable(crate::models::RUNTIME_MISSING.into()))?;
        let workdir = training.work_dir.join(&row.id);
        std::fs::create_dir_all(&workdir).map_err(internal)?;

        let base = BaseModel::of(database::base_models::get_any(&mut *self.db().read().await?, &row.base_model_id).await?)?;
        let model_dir = training.model_cache_dir.join(&base.row.id);
        self.materialize(&base.files, &model_dir).await?;

        let org = row.organization_id.clone();
        let train = database::datasets::version_by_id(&mut *self.db().read().await?, &org, &row.dataset_version_id).await?;
        let train_path = workdir.join("train.jsonl");
        let written = self.write_training_data(&train, job.config.objective, &train_path).await?;
        let validation_path = match &row.validation_version_id {
            Some(v) => {
                let version = database::datasets::version_by_id(&mut *self.db().read().await?, &org, v).await?;
                let path = workdir.join("validation.jsonl");
                self.write_training_data(&version, job.config.objective, &path).await?;
                Some(path)
            }
            None => None,
        };
        if written.skipped > 0 {
            let message = format!(
                "{} records of the dataset are not of the kind objective '{}' trains on; skipped",
                written.skipped,
                job.config.objective.as_str()
            );
            self.job_log(&row.id, "warning", &message).await?;
        }

        let resume_from = self.checkpoint_to_resume(row, &workdir).await?;
        let (mut config, merge_lora, chat_template) = (job.config.clone(), job.merge_lora, job.chat_template.clone());
        // Jobs stored before the optimizer was resolved at submission resolve it here, the same way.
        config.hyperparameters.optimizer = config.hyperparameters.optimizer.resolve(&training.device_type, &row.device);
        // A built-in template chosen by name goes to the runtime as its Jinja source.
        let chat_template = match chat_template {
            Some(name) => Some(chat_template::ChatTemplate::builtin(&name).map_err(internal)?.source().to_string()),
            None => None,
        };
        let max_seq_length = config.data.max_seq_length.tokens().ok_or_else(|| {
            Error::Internal(format!("job {}: the stored configuration has max_seq_length \"auto\", which a submission resolves", row.id))
        })?;
        let spec = TrainSpec::new(
            config.objective,
            config.method.clone(),
            &config.data,
            config.hyperparameters.clone(),
            SpecInputs {
                job_id: row.id.clone(),
                model_path: model_dir,
                chat_template,
                train_path,
                validation_path,
                resume_from: resume_from.clone(),
                device: row.device.clone(),
                threads: training.threads,
                merge_lora,
                max_seq_length,
            },
        );
        let spec_path = workdir.join("spec.json");
        std::fs::write(&spec_path, serde_json::to_vec_pretty(&spec).map_err(internal)?).map_err(internal)?;
        if let Some(path) = &resume_from {
            self.job_log(&row.id, "info", &format!("resuming from {}", path.strip_prefix(&workdir).unwrap_or(path).display())).await?;
        }

        // More than one device: data-parallel ranks on this machine (gloo on the CPU, NCCL on
        // CUDA). On a GPU node the job sees only the GPUs placed for it; a CPU slot runs the
        // installation's `devices` ranks.
        let nodes = self.nodes();
        let on_gpus = placed.iter().any(|p| nodes.iter().any(|n| n.id == p.node && n.gpu_type != "cpu"));
        let mut runtime = runtime;
        let devices = if on_gpus {
            let visible: Vec<String> = placed.iter().flat_map(|p| p.devices.iter().map(u32::to_string)).collect();
            runtime.env.push(("CUDA_VISIBLE_DEVICES".into(), visible.join(",")));
            visible.len() as u32
        } else {
            training.devices
        };
        let ranks = if devices > 1 { vec!["--nproc-per-node".to_string(), devices.to_string()] } else { vec![] };
        let grace = std::time::Duration::from_secs(training.stop_grace_s);
        let started = if let Some(ray) = self.ray() {
            self.submit_to_ray(ray, row, placed, &runtime, &spec_path, &workdir, grace).await.map(executors::Execution::Ray)
        } else if let Some(k) = self.kubernetes() {
            self.submit_to_kubernetes(k, row, placed, &runtime, &workdir, grace).await.map(executors::Execution::Kubernetes)
        } else {
            runtime.start_with("train", &spec_path, &workdir, &ranks).map(executors::Execution::Local).map_err(|e| Outcome::Failed {
                code: "runtime_unavailable".into(),
                message: e.to_string(),
                hint: None,
            })
        };
        let mut running = match started {
            Ok(running) => running,
            Err(outcome) => return Ok(outcome),
        };
        let report = match self.supervise(row, &workdir, &mut running, stop, grace).await {
            Ok(report) => report,
            Err(e) => {
                // Nothing outlives an error here: the runtime's whole process group is killed
                // (and reaped) before the job is marked failed.
                running.kill();
                let _ = running.wait().await;
                return Err(e);
            }
        };
        let exit = running.wait().await;
        self.outcome(row, &workdir, exit, report).await
    }

    /// Follows a started runtime until its output ends: records its events, and on a stop
    /// request sends SIGTERM, then SIGKILL after the grace period.
    async fn supervise(
        &self,
        row: &JobRow,
        workdir: &Path,
        running: &mut executors::Execution,
        mut stop: watch::Receiver<bool>,
        grace: std::time::Duration,
    ) -> Result<Report> {
        if let executors::Execution::Local(local) = running {
            self.set_runner_pid(&row.id, i64::from(local.pid)).await?;
        }
        let mut report = Report::default();
        let (mut stopping, mut killed) = (false, false);
        let kill_at = tokio::time::sleep(std::time::Duration::from_secs(u64::MAX / 4));
        tokio::pin!(kill_at);
        loop {
            tokio::select! {
                message = running.messages().recv() => {
                    let Some(message) = message else { break };
                    self.record_message(row, workdir, message, &mut report).await?;
                }
                changed = stop.changed(), if !stopping => {
                    if changed.is_ok() && *stop.borrow() {
                        stopping = true;
                        running.terminate();
                        kill_at.as_mut().reset(tokio::time::Instant::now() + grace);
                    }
                }
                // Once: a finished timer stays ready, and a Ray run takes a while to end.
                () = &mut kill_at, if stopping && !killed => {
                    killed = true;
                    self.job_log(&row.id, "warning", "the runtime did not stop within the grace period; killed").await?;
                    running.kill();
                }
            }
        }
        Ok(report)
    }

    /// Submits the run to the Ray cluster, pinned to the node the scheduler chose, with its GPUs
    /// (or one CPU slot) and the grace period for a stop. The submission id is the run's id;
    /// earlier runs of the job still on Ray are stopped first. A refusal is the run's outcome:
    /// requeued while restarts are left, else failed; a node gone since placement requeues.
    #[allow(clippy::too_many_arguments)]
    async fn submit_to_ray(
        &self,
        ray: &super::RayExecutor,
        row: &JobRow,
        placed: &[Placed],
        runtime: &executors::RuntimeCommand,
        spec_path: &Path,
        workdir: &Path,
        grace: std::time::Duration,
    ) -> std::result::Result<executors::ray::RayRun, Outcome> {
        let [place] = placed else {
            let message = format!(
                "the job was placed on {} nodes; a run on Ray uses one node (multi-node training on Ray is not built)",
                placed.len()
            );
            return Err(failed("placement_unsupported", message, "ask for at most as many GPUs as one node has"));
        };
        let mut on_ray = runtime.clone();
        if let Some(python) = &ray.settings.runtime_python {
            on_ray.python = python.clone();
        }
        if let Some(dir) = &ray.settings.runtime_dir {
            on_ray.runtime_dir = dir.clone();
        }
        // Ray gives the run its GPUs and sets their indices itself.
        on_ray.env.retain(|(k, _)| k != "CUDA_VISIBLE_DEVICES");
        // The node may have left the cluster since the scheduler placed the run: back to the
        // queue rather than a run pinned nowhere.
        let Some(node_ip) = ray.node_ip(&place.node) else {
            let reason = format!("node {} left the Ray cluster before the run started", place.node);
            return Err(Outcome::Requeued { restart: false, reason });
        };
        // Ray unreachable or refusing: requeued while restarts are left, else failed.
        let unavailable = |reason| unavailable(row, reason, "check the Ray cluster ([scheduling.ray] address) and resume the job");
        let (run, runs) = self.runs_to_submit(row).await?;
        // An earlier run of the job that Ray may still hold (contact lost, or a submission
        // whose answer was lost) is stopped first, so that the job never runs twice.
        for earlier in runs.iter().filter(|r| r.id != run.id) {
            if let Err(e) = ray.cluster.stop_and_wait(&earlier.id, grace).await {
                return Err(unavailable(format!("an earlier run ({}) could not be confirmed stopped on Ray: {e}", earlier.id)));
            }
        }
        // GPUs or a CPU slot, as the run was placed (its run records the GPU type).
        let on_gpus = run.gpu_type != "cpu";
        let ranks = if on_gpus && place.gpus > 1 { vec!["--nproc-per-node".to_string(), place.gpus.to_string()] } else { vec![] };
        let (entrypoint, env) = on_ray.entrypoint("train", spec_path, workdir, &ranks).map_err(|e| {
            failed("runtime_unavailable", e.to_string(), "set [scheduling.ray] runtime_python and runtime_dir to absolute paths")
        })?;
        let submission = executors::ray::Submission {
            submission_id: run.id.clone(),
            entrypoint,
            env,
            num_cpus: ray.settings.cpus_per_job,
            num_gpus: if on_gpus { place.gpus } else { 0 },
            node_ip: Some(node_ip),
            metadata: [("tunery_job".to_string(), row.id.clone()), ("organization".to_string(), row.organization_id.clone())].into(),
            stop_grace: grace,
        };
        if let Err(e) = ray.cluster.submit(&submission).await {
            // The answer may have been lost on its way back: a run Ray knows is followed.
            if !matches!(ray.cluster.status(&run.id).await, Ok(Some(_))) {
                return Err(unavailable(format!("the Ray cluster did not take the run: {e}")));
            }
        }
        let said = format!("submitted to the Ray cluster at {} as {} on node {}", ray.cluster.address(), run.id, place.node);
        if let Err(e) = self.job_log(&row.id, "info", &said).await {
            tracing::warn!(job = %row.id, error = %e, "{said}; could not record it in the job's log");
        }
        Ok(ray.cluster.follow(run.id, std::time::Duration::from_millis(500)))
    }

    /// Creates the run's workload in the Kubernetes cluster: a Job on one node, a PyTorchJob
    /// across the nodes it was placed on (as many GPUs on each), on the pool of its GPU type.
    /// Earlier runs of the job still there are deleted first. A refusal is the run's outcome:
    /// requeued while restarts are left, else failed.
    async fn submit_to_kubernetes(
        &self,
        k: &super::KubeExecutor,
        row: &JobRow,
        placed: &[Placed],
        runtime: &executors::RuntimeCommand,
        workdir: &Path,
        grace: std::time::Duration,
    ) -> std::result::Result<executors::kubernetes::KubeRun, Outcome> {
        let unavailable = |reason| unavailable(row, reason, "check the Kubernetes cluster ([scheduling.kubernetes]) and resume the job");
        let (run, runs) = self.runs_to_submit(row).await?;
        let resources = super::scheduling::resources_of(row).map_err(|e| failed("executor_error", e.to_string(), "retry"))?;
        let on_gpus = run.gpu_type != "cpu";
        let gpus_per_node = placed.first().map_or(0, |p| p.gpus);
        if on_gpus && placed.iter().any(|p| p.gpus != gpus_per_node) {
            let counts: Vec<String> = placed.iter().map(|p| format!("{} on {}", p.gpus, p.node)).collect();
            let message =
                format!("the job was placed with unequal GPUs per node ({}); a PyTorchJob runs as many on every node", counts.join(", "));
            return Err(failed("placement_unsupported", message, "ask for a multiple of the GPUs one node of the pool has"));
        }
        for earlier in runs.iter().filter(|r| r.id != run.id) {
            if let Err(e) = k.stop_run(&earlier.id, grace).await {
                return Err(unavailable(format!("an earlier run ({}) could not be confirmed gone from Kubernetes: {e}", earlier.id)));
            }
        }
        // The device plugin gives the pod its GPUs and sets their indices itself.
        let env: Vec<(String, String)> = runtime.env.iter().filter(|(k, _)| k != "CUDA_VISIBLE_DEVICES").cloned().collect();
        let shape = executors::kubernetes::RunManifest {
            job_id: &row.id,
            run_id: &run.id,
            nodes: placed.len().max(1) as u32,
            gpus_per_node: if on_gpus { gpus_per_node } else { 0 },
            gpu_type: Some(run.gpu_type.as_str()),
            preemptible: resources.preemptible,
            priority_class: &resources.priority,
            max_duration_s: resources.max_duration_s,
            workdir,
            env: &env,
        };
        let (kind, manifest) = executors::kubernetes::manifest(&k.manifests, &shape);
        let name = executors::kubernetes::object_name(&run.id);
        match k.cluster.create(kind, &manifest).await {
            Ok(()) => {}
            // Refused (an invalid workload, no permission): trying again cannot help.
            Err(e @ executors::kubernetes::KubeError::Refused { status: 400..=499, .. }) => {
                let message = format!("the Kubernetes cluster refused the run: {e}");
                return Err(failed(
                    "executor_refused",
                    message,
                    "check [scheduling.kubernetes] and the server's permissions in the namespace",
                ));
            }
            // The answer may have been lost on its way back: a workload that exists is followed.
            Err(e) => {
                if !matches!(k.cluster.workload(kind, &name).await, Ok(Some(_))) {
                    return Err(unavailable(format!("the Kubernetes cluster did not take the run: {e}")));
                }
            }
        }
        let said = format!("submitted to Kubernetes (namespace {}) as {} {name}", k.cluster.namespace(), kind.name());
        if let Err(e) = self.job_log(&row.id, "info", &said).await {
            tracing::warn!(job = %row.id, error = %e, "{said}; could not record it in the job's log");
        }
        Ok(k.cluster.follow(kind, name, std::time::Duration::from_secs(1)))
    }

    /// For a remote executor: the job's open run (the one to submit) and all its runs (earlier
    /// ones may still be held by the cluster).
    async fn runs_to_submit(&self, row: &JobRow) -> std::result::Result<(JobRunRow, Vec<JobRunRow>), Outcome> {
        let database_error = |e: database::Error| failed("executor_error", e.to_string(), "retry");
        let mut conn = self.db().read().await.map_err(|e| failed("executor_error", e.to_string(), "retry"))?;
        let runs = database::job_runs::of_job(&mut conn, &row.id).await.map_err(database_error)?;
        let Some(run) = runs.iter().find(|r| r.ended_at.is_none()).cloned() else {
            return Err(failed("executor_error", format!("job {}: running without an open run", row.id), "retry"));
        };
        Ok((run, runs))
    }

    /// The checkpoint a run continues from: the one the user chose on resume, else the newest
    /// complete checkpoint in the work directory (a restart after a crash), else the newest
    /// stored one (the work directory was lost).
    async fn checkpoint_to_resume(&self, row: &JobRow, workdir: &Path) -> Result<Option<PathBuf>> {
        let org = &row.organization_id;
        let stored = database::jobs::checkpoints(&mut *self.db().read().await?, org, &row.id).await?;
        let chosen = match &row.resume_checkpoint_id {
            Some(id) => stored.iter().find(|c| &c.id == id).cloned(),
            None => {
                if let Some((_, dir)) = checkpoint_dirs(workdir).pop() {
                    return Ok(Some(dir));
                }
                stored.last().cloned()
            }
        };
        let Some(c) = chosen else { return Ok(None) };
        let dir = workdir.join("checkpoints").join(format!("step-{:08}", c.step));
        if !dir.join("state.json").is_file() {
            self.materialize(&Checkpoint::of(c)?.files, &dir).await?;
        }
        Ok(Some(dir))
    }

    async fn set_runner_pid(&self, id: &str, pid: i64) -> Result<()> {
        let mut tx = self.db().begin_write().await?;
        database::jobs::lock(tx.conn(), id).await?;
        let mut row = database::jobs::get_any(tx.conn(), id).await?;
        row.runner_pid = Some(pid);
        row.updated_at = now_ms();
        database::jobs::update(tx.conn(), &row).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Appends a log line of the platform's own to the job's events.
    pub(crate) async fn job_log(&self, id: &str, level: &str, message: &str) -> Result<()> {
        let mut tx = self.db().begin_write().await?;
        let data = serde_json::json!({"event": "log", "level": level, "message": message, "source": "executor"});
        database::jobs::append_event(tx.conn(), id, "log", None, now_ms(), &data.to_string()).await?;
        tx.commit().await?;
        self.signal_job(id);
        Ok(())
    }

    async fn record_message(&self, row: &JobRow, workdir: &Path, message: Message, report: &mut Report) -> Result<()> {
        let event = match message {
            Message::Stderr(line) | Message::Output(line) => {
                tracing::debug!(target: "runtime", job = %row.id, "{line}");
                return self.job_log(&row.id, "stderr", &line).await;
            }
            Message::BadLine { line, error } => {
                return self.job_log(&row.id, "warning", &format!("unexpected runtime output ({error}): {line}")).await
            }
            Message::Event(e) => e,
        };
        match &event.kind {
            EventKind::Checkpoint { step, path } => self.store_checkpoint(row, workdir, *step, path).await?,
            EventKind::Artifact { kind, path } if kind == "model" || kind == "adapter" => report.output_path = Some(path.clone()),
            EventKind::Finished { summary, .. } => report.finished = Some(summary.clone()),
            EventKind::Failed { code, message, hint } => report.failed = Some((code.clone(), message.clone(), hint.clone())),
            _ => {}
        }
        let mut tx = self.db().begin_write().await?;
        let data = serde_json::Value::Object(event.raw.clone()).to_string();
        database::jobs::append_event(tx.conn(), &row.id, event.kind.name(), event.kind.step(), event.time, &data).await?;
        let progress = match &event.kind {
            EventKind::Progress { step, total_steps, loss, .. } => Some((*step, *total_steps, *loss)),
            EventKind::Started { total_steps, .. } => Some((0, *total_steps, None)),
            _ => None,
        };
        if let Some((step, total, loss)) = progress {
            // `append_event` above holds the job's row lock.
            let mut current = database::jobs::get_any(tx.conn(), &row.id).await?;
            current.current_step = step.max(current.current_step);
            current.total_steps = total.or(current.total_steps);
            current.latest_loss = loss.or(current.latest_loss);
            current.updated_at = now_ms();
            database::jobs::update(tx.conn(), &current).await?;
        }
        tx.commit().await?;
        self.signal_job(&row.id);
        Ok(())
    }

    /// Copies a finished checkpoint into the blob store and keeps only the newest ones. The
    /// runtime prunes its own older checkpoints as it goes, so a fast run may have replaced this
    /// one before it is copied: then it is skipped (a newer one follows).
    async fn store_checkpoint(&self, row: &JobRow, workdir: &Path, step: i64, path: &str) -> Result<()> {
        let dir = workdir.join(path);
        let crate::models::files::StoredDirectory { files, size, holds } = match self.store_directory(&dir).await {
            Ok(stored) if dir.is_dir() => stored,
            Ok(_) | Err(_) => {
                return self.job_log(&row.id, "debug", &format!("checkpoint of step {step} was superseded before it was stored")).await;
            }
        };
        let keep = Job::of(row.clone())?.config.hyperparameters.keep_checkpoints.max(1) as usize;
        let c = CheckpointRow {
            id: crate::crypto::new_id(IdKind::Checkpoint),
            job_id: row.id.clone(),
            organization_id: row.organization_id.clone(),
            step,
            attempt: row.attempt,
            files: serde_json::to_string(&files).map_err(internal)?,
            size_bytes: size as i64,
            created_at: now_ms(),
        };
        let mut tx = self.db().begin_write().await?;
        database::jobs::insert_checkpoint(tx.conn(), &c).await?;
        let all = database::jobs::checkpoints(tx.conn(), &row.organization_id, &row.id).await?;
        let mut released: Vec<String> = Vec::new();
        if all.len() > keep {
            for old in &all[..all.len() - keep] {
                if let Some(files) = database::jobs::delete_checkpoint(tx.conn(), &old.id).await? {
                    released.extend(parse_manifest(&format!("checkpoint {}", old.id), &files)?.into_iter().map(|f| f.blob_id));
                }
            }
        }
        tx.commit().await?;
        drop(holds);
        self.collect_blobs(released).await;
        Ok(())
    }

    async fn outcome(&self, row: &JobRow, workdir: &Path, exit: Exit, report: Report) -> Result<Outcome> {
        let current = database::jobs::get_any(&mut *self.db().read().await?, &row.id).await?;
        let cancel = current.cancel_requested == 1;
        if exit.code == Some(0) {
            if let Some(summary) = report.finished {
                // Read once, where it arrives: a summary that does not parse fails the job here
                // rather than being stored with a model that could then not be read.
                let parsed = parse_summary(summary).and_then(|s| summary_throughput(&s).map(|t| (s, t)));
                let (summary, throughput) = match parsed {
                    Ok(read) => read,
                    Err(message) => return Ok(Outcome::Failed { code: "protocol_error".into(), message, hint: None }),
                };
                let output = workdir.join(report.output_path.as_deref().unwrap_or("output"));
                let (model, holds) = self.store_model(&current, &output, &summary).await?;
                return Ok(Outcome::Succeeded { model: Box::new(model), throughput, _holds: holds });
            }
            return Ok(Outcome::Failed {
                code: "protocol_error".into(),
                message: "the runtime exited without a finished event".into(),
                hint: None,
            });
        }
        // A stop the scheduler decided, however the runtime ended (after its checkpoint, or
        // killed after the grace period).
        match current.stopping.as_deref() {
            _ if cancel => {}
            Some("max_duration") => {
                let limit = super::scheduling::resources_of(&current)?.max_duration_s.unwrap_or(0);
                return Ok(Outcome::Failed {
                    code: "max_duration_exceeded".into(),
                    message: format!("the job used up its maximum duration of {limit} s; its last checkpoint is kept"),
                    hint: Some("resume it from its last checkpoint, or submit it again with a longer resources.max_duration_s".into()),
                });
            }
            Some(s) if s.starts_with("preempted:") => {
                let by = s.trim_start_matches("preempted:");
                return Ok(Outcome::Requeued { restart: false, reason: format!("preempted by job {by}; continues from its checkpoint") });
            }
            Some(s) if s.starts_with("quota:") => {
                let why = s.trim_start_matches("quota:");
                let reason = format!("paused: {why}; continues from its checkpoint when the quota allows");
                return Ok(Outcome::Requeued { restart: false, reason });
            }
            _ => {}
        }
        if exit.code == Some(EXIT_STOPPED) {
            if cancel {
                return Ok(Outcome::Cancelled);
            }
            return Ok(Outcome::Requeued { restart: false, reason: "stopped for a server shutdown; continues from its checkpoint".into() });
        }
        if cancel {
            return Ok(Outcome::Cancelled);
        }
        if let Some((code, message, hint)) = report.failed {
            return Ok(Outcome::Failed { code, message, hint });
        }
        let how = match (exit.code, exit.signal) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(s)) => format!("signal {s}"),
            _ => "an unknown status".into(),
        };
        let reason = format!("the runtime crashed ({how}); last output:\n{}", exit.stderr_tail);
        if current.attempt < current.max_restarts {
            return Ok(Outcome::Requeued { restart: true, reason });
        }
        Ok(Outcome::Failed {
            code: "runtime_crashed".into(),
            message: reason,
            hint: Some(format!("it crashed {} time(s); see the job's logs", current.attempt + 1)),
        })
    }

    /// Stores the job's output (and, when asked for, the LoRA merged into the base weights,
    /// under `merged/`) and returns the fine-tuned model's row, which `settle` inserts with the
    /// job's success.
    async fn store_model(
        &self,
        job: &JobRow,
        output: &Path,
        summary: &TrainingSummary,
    ) -> Result<(database::models::ModelRow, Vec<crate::blob_holds::BlobHold>)> {
        let crate::models::files::StoredDirectory { mut files, mut size, mut holds } = self.store_directory(output).await?;
        let merged = output.with_file_name("output-merged");
        if merged.is_dir() {
            let more = self.store_directory(&merged).await?;
            files.extend(more.files.into_iter().map(|f| StoredFile { path: format!("merged/{}", f.path), ..f }));
            size += more.size;
            holds.extend(more.holds);
        }
        let config = Job::of(job.clone())?.config;
        let row = database::models::ModelRow {
            id: crate::crypto::new_id(IdKind::Model),
            organization_id: job.organization_id.clone(),
            project_id: job.project_id.clone(),
            name: job.name.clone(),
            base_model_id: job.base_model_id.clone(),
            job_id: job.id.clone(),
            dataset_version_id: job.dataset_version_id.clone(),
            kind: if config.method.kind.is_adapter() { "adapter".into() } else { "full".into() },
            files: serde_json::to_string(&files).map_err(internal)?,
            size_bytes: size as i64,
            config: job.config.clone(),
            metrics: serde_json::to_string(summary).map_err(internal)?,
            created_by: job.created_by.clone(),
            created_at: now_ms(),
        };
        Ok((row, holds))
    }

    /// Records how a run ended: one transaction with the state change, its event and audit, and
    /// for a success the fine-tuned model's row.
    async fn settle(&self, id: &str, outcome: Outcome) -> Result<()> {
        let training = &self.settings().training;
        let mut tx = self.db().begin_write().await?;
        database::jobs::lock(tx.conn(), id).await?;
        let mut row = database::jobs::get_any(tx.conn(), id).await?;
        let from = current_state(&row)?;
        let (next, details) = match &outcome {
            Outcome::Succeeded { model, throughput, .. } => {
                database::models::insert(tx.conn(), model).await?;
                row.model_id = Some(model.id.clone());
                if let Some((tokens_per_second, precision)) = *throughput {
                    let method = Job::of(row.clone())?.config.method.kind.as_str();
                    let measured = database::base_models::Throughput {
                        base_model_id: &row.base_model_id,
                        device_type: &training.device_type,
                        method,
                        precision: precision.as_str(),
                        tokens_per_second,
                    };
                    database::base_models::record_throughput(tx.conn(), &measured, id, now_ms()).await?;
                }
                (JobState::Succeeded, serde_json::json!({"model_id": model.id}))
            }
            Outcome::Failed { code, message, hint } => {
                row.error_code = Some(code.clone());
                row.error_message = Some(message.clone());
                row.error_hint = hint.clone();
                (JobState::Failed, serde_json::json!({"code": code, "message": message, "hint": hint}))
            }
            Outcome::Cancelled => (JobState::Cancelled, serde_json::json!({})),
            Outcome::Requeued { restart, reason } => {
                if *restart {
                    row.attempt += 1;
                }
                if let Some(by) = row.stopping.as_deref().and_then(|s| s.strip_prefix("preempted:")) {
                    let mut by_list: Vec<String> = serde_json::from_str(&row.preempted_by)
                        .map_err(|e| Error::Internal(format!("job {id}: the stored preempted_by does not parse: {e}")))?;
                    by_list.push(by.to_string());
                    row.preempted_by = serde_json::to_string(&by_list).map_err(internal)?;
                    row.preemptions += 1;
                    database::job_runs::close(tx.conn(), id, now_ms(), "preempted").await?;
                }
                if row.stopping.as_deref().is_some_and(|s| s.starts_with("quota:")) {
                    database::job_runs::close(tx.conn(), id, now_ms(), "paused").await?;
                }
                (JobState::Queued, serde_json::json!({"reason": reason, "attempt": row.attempt}))
            }
        };
        // A job cancelled while its run ended stops cancelled rather than going back to the queue.
        let next = if from == JobState::Cancelling && next == JobState::Queued { JobState::Cancelled } else { next };
        let audit = AuditEvent::system(Some(&row.organization_id), &format!("job.{}", next.as_str()));
        change_state(tx.conn(), self.derived_keys(), &mut row, next, details, audit, &RequestContext::default()).await?;
        tx.commit().await?;
        self.signal_job(id);
        if next.is_terminal() {
            let _ = std::fs::remove_dir_all(training.work_dir.join(id));
        }
        if next == JobState::Queued {
            self.queue().wake();
        }
        Ok(())
    }
}

/// A run its executor could not start: `code`, what happened, and what to do.
fn failed(code: &str, message: String, hint: &str) -> Outcome {
    Outcome::Failed { code: code.into(), message, hint: Some(hint.into()) }
}

/// A remote cluster unreachable or refusing: the run is requeued while restarts are left, else
/// it fails saying `hint`.
fn unavailable(row: &JobRow, reason: String, hint: &str) -> Outcome {
    if row.attempt < row.max_restarts {
        return Outcome::Requeued { restart: true, reason };
    }
    failed("executor_unavailable", reason, hint)
}

/// A finished event's summary as the model keeps it; a field of the wrong type is an error
/// saying what was found and what was expected.
fn parse_summary(summary: serde_json::Map<String, serde_json::Value>) -> std::result::Result<TrainingSummary, String> {
    serde_json::from_value(serde_json::Value::Object(summary)).map_err(|e| format!("the finished event's summary does not parse: {e}"))
}

/// A finished event's speed and the precision it was measured in: none when the summary has no
/// `tokens_per_second`; an error naming the field when the precision is missing or unknown, since
/// a speed without its precision would be filed under the wrong key.
fn summary_throughput(summary: &TrainingSummary) -> std::result::Result<Option<(f64, domain::estimate::Precision)>, String> {
    let Some(tps) = summary.tokens_per_second else { return Ok(None) };
    match summary.precision.as_deref().and_then(domain::estimate::Precision::parse) {
        Some(precision) => Ok(Some((tps, precision))),
        None => Err(format!("the finished event's summary.precision is {:?}, not fp32, bf16 or fp16", summary.precision)),
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_summary, summary_throughput};
    use crate::models::TrainingSummary;
    use domain::estimate::Precision;

    fn summary(v: serde_json::Value) -> TrainingSummary {
        parse_summary(v.as_object().unwrap().clone()).unwrap()
    }

    #[test]
    fn a_summarys_speed_is_filed_under_the_precision_it_names() {
        let s = summary(serde_json::json!({"tokens_per_second": 120.5, "precision": "bf16"}));
        assert_eq!(summary_throughput(&s), Ok(Some((120.5, Precision::Bf16))));
        assert_eq!(summary_throughput(&summary(serde_json::json!({"steps": 3}))), Ok(None));
    }

    #[test]
    fn a_speed_without_a_known_precision_is_an_error_naming_the_field() {
        for bad in [serde_json::json!({"tokens_per_second": 1.0}), serde_json::json!({"tokens_per_second": 1.0, "precision": "int4"})] {
            let err = summary_throughput(&summary(bad)).unwrap_err();
            assert!(err.contains("summary.precision"), "{err}");
        }
    }

    #[test]
    fn a_summary_field_of_the_wrong_type_is_an_error_naming_it() {
        let bad = serde_json::json!({"steps": "three", "tokens_per_second": 1.0, "precision": "fp32"});
        let err = parse_summary(bad.as_object().unwrap().clone()).unwrap_err();
        assert!(err.contains("summary does not parse") && err.contains("invalid type"), "{err}");
    }
}
