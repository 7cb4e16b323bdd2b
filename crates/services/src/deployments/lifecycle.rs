//! Bringing deployments up and down: the local backend's processes (start, adapters, crash
//! restarts, stop), external endpoints' health checks, scale to zero, and reconciliation at
//! server start.

use super::local::{spec_adapters, users_of, Backend, BackendState, MAX_RESTARTS, RESTART_WINDOW_MS};
use super::{state, BackendKind, Deployment, Upstream};
use crate::{now_ms, Error, Result, Services};
use database::deployments::DeploymentRow;
use executors::{EventKind, Message};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

impl Services {
    pub(crate) fn bring_up_in_background(&self, id: String) {
        let services = self.clone();
        tokio::spawn(async move {
            if let Err(e) = services.bring_up(&id).await {
                tracing::warn!(deployment = %id, "deployment did not start: {e}");
            }
        });
    }

    /// Makes a wanted deployment ready (starting its backend, loading its adapter) and returns
    /// where to send its requests; on failure the deployment reads `failed` with the reason.
    pub(crate) async fn bring_up(&self, id: &str) -> Result<Upstream> {
        let row = database::deployments::get_any(&mut *self.db().read().await?, id).await?;
        let d = Deployment::of(row)?;
        if d.row.replicas == 0 {
            return Err(Error::Unavailable(format!("deployment {} is stopped; start it first", d.row.name)));
        }
        let outcome = match d.backend {
            BackendKind::Local | BackendKind::Vllm => self.ensure_local(&d.row).await,
            BackendKind::External => self.check_external(&d.row).await,
        };
        match &outcome {
            Ok(_) => self.set_deployment_state(id, &[state::STARTING, state::IDLE, state::READY], state::READY, None, "ready").await?,
            Err(e) => {
                let message = e.to_string();
                self.set_deployment_state(id, &[state::STARTING, state::IDLE, state::READY], state::FAILED, Some(&message), "failed")
                    .await?;
            }
        }
        outcome
    }

    /// Changes a deployment's state (only from one of `from`: a stop that raced wins) and
    /// records the event.
    pub(crate) async fn set_deployment_state(&self, id: &str, from: &[&str], to: &str, error: Option<&str>, event: &str) -> Result<()> {
        let mut tx = self.db().begin_write().await?;
        if database::deployments::lock(tx.conn(), id).await.is_err() {
            return Ok(()); // deleted meanwhile
        }
        let mut row = database::deployments::get_any(tx.conn(), id).await?;
        if !from.contains(&row.state.as_str()) || (row.state == to && error.is_none()) {
            return Ok(());
        }
        row.state = to.to_string();
        row.error = error.map(str::to_string);
        row.updated_at = now_ms();
        database::deployments::update(tx.conn(), &row).await?;
        let data = serde_json::json!({"state": to, "error": error});
        database::deployments::append_event(tx.conn(), id, event, row.updated_at, &data.to_string()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records an event on a deployment (a log line, a crash), if it still exists.
    pub(crate) async fn deployment_event(&self, id: &str, kind: &str, data: serde_json::Value) {
        let result = async {
            let mut tx = self.db().begin_write().await?;
            database::deployments::append_event(tx.conn(), id, kind, now_ms(), &data.to_string()).await?;
            tx.commit().await?;
            Ok::<_, Error>(())
        }
        .await;
        if let Err(e) = result {
            if !matches!(e, Error::NotFound(_)) {
                tracing::warn!(deployment = %id, "could not record a deployment event: {e}");
            }
        }
    }

    /// What serves a deployment: the process's key (its base model, a fully fine-tuned model's
    /// own weights, or a full or freeze fine-tune's checkpoint over its base) and the adapter
    /// it takes there. An adapter's chat template travels with it (the tokenizer files saved
    /// beside it); a full checkpoint's is the job's.
    async fn serving_plan(&self, row: &DeploymentRow) -> Result<ServingPlan> {
        let mut conn = self.db().read().await?;
        let base_id = row
            .base_model_id
            .as_deref()
            .ok_or_else(|| Error::Internal(format!("deployment {}: a local deployment without a model", row.id)))?;
        let base = crate::models::BaseModel::of(database::base_models::get_any(&mut conn, base_id).await?)?;
        let over_base = |key: &str, adapter: Option<&str>| ServingPlan {
            key: key.to_string(),
            adapter: adapter.map(str::to_string),
            base_files: base.files.clone(),
            shared_weights: Some(base.row.id.clone()),
            chat_template: None,
        };
        if let Some(checkpoint) = &row.checkpoint_id {
            let (checkpoint_row, files) = self.checkpoint_files(&mut conn, &row.organization_id, checkpoint).await?;
            if files.iter().any(|f| f.path == "adapter/adapter_config.json") {
                return Ok(over_base(&base.row.id, Some(checkpoint)));
            }
            // A full or freeze fine-tune's checkpoint: its own process, its weights over the base.
            let job = crate::training::Job::of(database::jobs::get_any(&mut conn, &checkpoint_row.job_id).await?)?;
            let chat_template = match &job.chat_template {
                Some(name) => Some(chat_template::ChatTemplate::builtin(name).map_err(crate::datasets::internal)?.source().to_string()),
                None => None,
            };
            return Ok(ServingPlan { chat_template, ..over_base(checkpoint, None) });
        }
        let Some(model_id) = &row.model_id else {
            return Ok(over_base(&base.row.id, None));
        };
        let model = crate::models::FineTunedModel::of(database::models::get(&mut conn, &row.organization_id, model_id).await?)?;
        if model.row.kind == "adapter" {
            return Ok(over_base(&base.row.id, Some(&model.row.id)));
        }
        Ok(ServingPlan { key: model.row.id, adapter: None, base_files: model.files, shared_weights: None, chat_template: None })
    }

    /// A checkpoint's row and files (a checkpoint removed since, as training keeps only the
    /// newest, is 503).
    async fn checkpoint_files(
        &self,
        conn: &mut database::Conn,
        org: &str,
        id: &str,
    ) -> Result<(database::jobs::CheckpointRow, Vec<crate::models::StoredFile>)> {
        let checkpoint = database::jobs::checkpoint_by_id(conn, org, id).await.map_err(|e| match e {
            database::Error::NotFound => {
                Error::Unavailable(format!("checkpoint {id} is gone (training keeps only its newest checkpoints)"))
            }
            e => e.into(),
        })?;
        let files = crate::models::files::parse_manifest(&format!("checkpoint {id}"), &checkpoint.files)?;
        Ok((checkpoint, files))
    }

    /// Starts (or joins) the processes serving `row`, one per wanted replica, and loads its
    /// adapter in each; waits until they are ready. Ready when one replica is: a replica that
    /// could not start is a `replica_failed` event (the others serve); an error when none could.
    pub(crate) async fn ensure_local(&self, row: &DeploymentRow) -> Result<Upstream> {
        let plan = self.serving_plan(row).await?;
        let wanted = u32::try_from(row.replicas.max(1)).unwrap_or(1);
        let started = futures_util::future::join_all((0..wanted).map(|r| self.ensure_replica(row, &plan, r))).await;
        let mut first_error = None;
        for (replica, outcome) in (0..wanted).zip(started) {
            let Err(e) = outcome else { continue };
            // A replica whose process failed said so itself (backend_failed); one that runs but
            // could not take this deployment (its adapter, a start past the timeout) is said here.
            let slot = super::local::slot(BackendKind::parse(&row.id, &row.backend)?, &plan.key, replica);
            if wanted > 1 && self.local_backends().get(&slot).is_some_and(|b| b.live()) {
                self.deployment_event(&row.id, "replica_failed", serde_json::json!({"replica": replica, "message": e.to_string()})).await;
            }
            first_error.get_or_insert(e);
        }
        match self.least_loaded(&row.id) {
            Some(upstream) => Ok(upstream),
            None => Err(first_error.unwrap_or_else(|| Error::Unavailable(format!("no replica of deployment {} is ready", row.name)))),
        }
    }

    /// Where a deployment's next request goes: the ready replica with the fewest requests in
    /// flight (None when none is ready).
    pub(crate) fn least_loaded(&self, deployment: &str) -> Option<Upstream> {
        self.local_backends()
            .of_deployment(deployment)
            .into_iter()
            .filter_map(|b| b.serving(deployment).map(|(port, adapter)| (b, port, adapter)))
            .min_by_key(|(b, _, _)| b.in_flight.load(Ordering::SeqCst))
            .map(|(b, port, adapter)| Upstream::local(&b, port, adapter.as_deref().unwrap_or(&b.key)))
    }

    /// How many of a deployment's processes on this server are ready to answer it.
    pub fn ready_replicas(&self, deployment: &str) -> u32 {
        let ready = self.local_backends().of_deployment(deployment).iter().filter(|b| b.serving(deployment).is_some()).count();
        u32::try_from(ready).unwrap_or(u32::MAX)
    }

    /// Starts (or joins) replica `replica` of the process serving `row` and loads its adapter.
    async fn ensure_replica(&self, row: &DeploymentRow, plan: &ServingPlan, replica: u32) -> Result<()> {
        let key = &plan.key;
        let serving = self.settings().serving.clone();
        let kind = BackendKind::parse(&row.id, &row.backend)?;
        let training = &self.settings().training;
        let runtime = training.runtime.clone();
        if kind == BackendKind::Local && runtime.is_none() {
            return Err(Error::Unavailable(crate::models::RUNTIME_MISSING.into()));
        }
        let workdir = training.work_dir.join(super::local::workdir_name(kind, key, replica));
        let model_dir = match &plan.shared_weights {
            Some(base) => training.model_cache_dir.join(base),
            None => workdir.join("model"),
        };
        let checkpoint_dir = workdir.join("checkpoint");
        let (backend, fresh) = self.local_backends().get_or_insert(&super::local::slot(kind, key, replica), || Backend {
            weights: plan.overlays_checkpoint().then(|| checkpoint_dir.join(CHECKPOINT_WEIGHTS)),
            chat_template: plan.chat_template.clone(),
            ..Backend::new(kind, key.clone(), replica, crate::crypto::random_token(24), workdir.clone(), model_dir.clone())
        });
        backend.users.lock().expect("backend users lock").insert(row.id.clone(), plan.adapter.clone());
        if fresh {
            let materialized = async {
                self.materialize(&plan.base_files, &model_dir).await?;
                if plan.overlays_checkpoint() {
                    let (_, files) = self.checkpoint_files(&mut *self.db().read().await?, &row.organization_id, key).await?;
                    let weights: Vec<_> = files.into_iter().filter(|f| f.path == CHECKPOINT_WEIGHTS).collect();
                    if weights.is_empty() {
                        return Err(Error::Unavailable(format!("checkpoint {key} holds no {CHECKPOINT_WEIGHTS}")));
                    }
                    self.materialize(&weights, &checkpoint_dir).await?;
                }
                Ok(())
            };
            if let Err(e) = materialized.await {
                self.backend_failed(&backend, &e.to_string()).await;
                return Err(e);
            }
            let services = self.clone();
            let supervised = backend.clone();
            tokio::spawn(async move { services.supervise_backend(supervised, runtime).await });
        }
        let timeout = Duration::from_secs(serving.start_timeout_s);
        let port = backend
            .ready(timeout)
            .await
            .map_err(|why| Error::Unavailable(format!("the model server for {key} is not available: {why}")))?;
        if let Some(name) = &plan.adapter {
            self.load_adapter(&backend, port, name, row).await?;
        }
        Ok(())
    }

    async fn load_adapter(&self, backend: &Arc<Backend>, port: u16, name: &str, row: &DeploymentRow) -> Result<()> {
        let _op = backend.ops.lock().await;
        if backend.adapters.lock().expect("adapters lock").contains_key(name) {
            return Ok(());
        }
        let dir = backend.workdir.join("adapters").join(name);
        self.materialize(&self.adapter_files(&row.organization_id, name).await?, &dir).await?;
        let (url, body) = match backend.kind {
            // vLLM's runtime LoRA loading (VLLM_ALLOW_RUNTIME_LORA_UPDATING).
            BackendKind::Vllm => {
                (format!("http://127.0.0.1:{port}/v1/load_lora_adapter"), serde_json::json!({"lora_name": name, "lora_path": dir}))
            }
            _ => (format!("http://127.0.0.1:{port}/adapters"), serde_json::json!({"name": name, "path": dir})),
        };
        let response = self
            .http()
            .post(&url)
            .bearer_auth(&backend.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| Error::Unavailable(format!("the model server for {} did not answer the adapter load: {e}", backend.key)))?;
        if !response.status().is_success() {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            return Err(domain::ValidationError::unprocessable(
                "model",
                format!("adapter {name} does not load ({status}): {}", super::gateway::upstream_error_message(&text)),
            )
            .into());
        }
        backend.adapters.lock().expect("adapters lock").insert(name.to_string(), dir);
        Ok(())
    }

    /// The files of an adapter a backend loads: a fine-tuned model's, or a checkpoint's
    /// `adapter/`.
    async fn adapter_files(&self, org: &str, name: &str) -> Result<Vec<crate::models::StoredFile>> {
        let mut conn = self.db().read().await?;
        if name.starts_with("ckpt_") {
            return Ok(within(self.checkpoint_files(&mut conn, org, name).await?.1, "adapter/"));
        }
        Ok(crate::models::FineTunedModel::of(database::models::get(&mut conn, org, name).await?)?.files)
    }

    /// Follows a backend process: records its log, restarts it after a crash (with the
    /// adapters it held), and marks its deployments failed when restarts run out.
    async fn supervise_backend(&self, backend: Arc<Backend>, runtime: Option<executors::RuntimeCommand>) {
        let mut crashes: Vec<i64> = Vec::new();
        loop {
            let run = match backend.kind {
                BackendKind::Vllm => self.run_vllm_once(&backend).await,
                _ => match &runtime {
                    Some(runtime) => self.run_backend_once(&backend, runtime).await,
                    None => Err(crate::models::RUNTIME_MISSING.to_string()),
                },
            };
            let exit = match run {
                Ok(exit) => exit,
                Err(why) => {
                    self.backend_failed(&backend, &why).await;
                    return;
                }
            };
            backend.pid.store(0, Ordering::SeqCst);
            if backend.stopping.load(Ordering::SeqCst) {
                backend.state.send_replace(BackendState::Stopped);
                let _ = std::fs::remove_dir_all(&backend.workdir);
                return;
            }
            let now = now_ms();
            crashes.retain(|t| now - t < RESTART_WINDOW_MS);
            crashes.push(now);
            let why = format!(
                "the model server exited unexpectedly (code {:?}, signal {:?}): {}",
                exit.code,
                exit.signal,
                exit.stderr_tail.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join(" | ")
            );
            backend.state.send_replace(BackendState::Starting);
            for id in users_of(&backend) {
                let restart = crashes.len() <= MAX_RESTARTS;
                self.deployment_event(&id, "crashed", serde_json::json!({"message": why, "replica": backend.replica, "restart": restart}))
                    .await;
                // Another ready replica keeps answering meanwhile.
                if !self.another_replica(&id, &backend, |b| b.serving(&id).is_some()) {
                    let _ = self.set_deployment_state(&id, &[state::READY], state::STARTING, None, "restarting").await;
                }
            }
            if crashes.len() > MAX_RESTARTS {
                self.backend_failed(
                    &backend,
                    &format!("{why}; it crashed {} times in 10 minutes, so it is not restarted again", crashes.len()),
                )
                .await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(500 * (1 << crashes.len().min(6)))).await;
            if backend.stopping.load(Ordering::SeqCst) {
                backend.state.send_replace(BackendState::Stopped);
                return;
            }
        }
    }

    /// A process that will not run again: its deployments fail, unless another replica of one
    /// still starts or serves (then it is a `replica_failed` event and the others answer).
    async fn backend_failed(&self, backend: &Arc<Backend>, why: &str) {
        backend.state.send_replace(BackendState::Failed(why.to_string()));
        self.local_backends().remove_if_same(backend);
        for id in users_of(backend) {
            if self.another_replica(&id, backend, |b| b.live()) {
                self.deployment_event(&id, "replica_failed", serde_json::json!({"replica": backend.replica, "message": why})).await;
                continue;
            }
            let _ = self.set_deployment_state(&id, &[state::READY, state::STARTING, state::IDLE], state::FAILED, Some(why), "failed").await;
        }
        let _ = std::fs::remove_dir_all(&backend.workdir);
    }

    /// Whether a process other than `except` that `deployment` uses is `so`.
    fn another_replica(&self, deployment: &str, except: &Arc<Backend>, so: impl Fn(&Backend) -> bool) -> bool {
        self.local_backends().of_deployment(deployment).iter().any(|b| !Arc::ptr_eq(b, except) && so(b))
    }

    /// Starts the process once and follows it until it exits.
    async fn run_backend_once(
        &self,
        backend: &Arc<Backend>,
        runtime: &executors::RuntimeCommand,
    ) -> std::result::Result<executors::Exit, String> {
        let serving = &self.settings().serving;
        let training = &self.settings().training;
        std::fs::create_dir_all(&backend.workdir).map_err(|e| format!("cannot create {}: {e}", backend.workdir.display()))?;
        let spec = executors::ServeSpec {
            spec_version: executors::protocol::SPEC_VERSION,
            model_path: backend.model_dir.clone(),
            model_name: backend.key.clone(),
            chat_template: backend.chat_template.clone(),
            weights: backend.weights.clone(),
            adapters: spec_adapters(backend),
            host: "127.0.0.1".into(),
            port: 0,
            device: training.device.clone(),
            threads: training.threads,
            max_batch_size: serving.max_batch_size,
            batch_wait_ms: serving.batch_wait_ms,
            max_model_len: None,
        };
        let spec_path = backend.workdir.join("spec.json");
        std::fs::write(&spec_path, serde_json::to_vec_pretty(&spec).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        let mut command = runtime.clone();
        command.env.push(("TUNERY_SERVE_TOKEN".into(), backend.token.clone()));
        let mut running = command.start("serve", &spec_path, &backend.workdir).map_err(|e| e.to_string())?;
        backend.pid.store(running.pid, Ordering::SeqCst);
        if backend.stopping.load(Ordering::SeqCst) {
            running.terminate();
        }
        while let Some(message) = running.messages.recv().await {
            match message {
                Message::Event(e) => match e.kind {
                    EventKind::Ready { port, .. } => {
                        backend.state.send_replace(BackendState::Ready { port });
                        for id in users_of(backend) {
                            let _ = self.set_deployment_state(&id, &[state::STARTING], state::READY, None, "ready").await;
                        }
                    }
                    EventKind::Log { level, message } if level != "debug" => {
                        for id in users_of(backend) {
                            self.deployment_event(&id, "log", serde_json::json!({"level": level, "message": message})).await;
                        }
                    }
                    EventKind::Failed { code, message, hint } => {
                        tracing::warn!(backend = %backend.key, "model server failed: {code}: {message} {}", hint.unwrap_or_default());
                    }
                    _ => {}
                },
                Message::BadLine { line, error } => {
                    tracing::warn!(backend = %backend.key, "model server printed a line that is not an event ({error}): {line}")
                }
                Message::Stderr(_) | Message::Output(_) => {}
            }
        }
        Ok(running.wait().await)
    }

    /// Lets go of a deployment's processes from replica `keep` on (0: all of them; scaling
    /// down keeps the first `keep`): its adapter is unloaded where no other deployment uses it,
    /// and a process stops when it serves nobody. Needs only what the processes hold, so it
    /// works after the deployment's model or checkpoint is gone.
    pub(crate) async fn release_backend(&self, row: &DeploymentRow, keep: u32) {
        for backend in self.local_backends().of_deployment(&row.id) {
            if backend.replica >= keep {
                let adapter = backend.users.lock().expect("backend users lock").get(&row.id).cloned().flatten();
                self.leave_backend(&backend, &row.id, adapter.as_deref()).await;
            }
        }
    }

    /// Takes deployment `id` off one process: stops the process when it serves nobody else,
    /// else unloads the adapter when no other deployment uses it.
    async fn leave_backend(&self, backend: &Arc<Backend>, id: &str, adapter: Option<&str>) {
        let nobody = {
            let mut users = backend.users.lock().expect("backend users lock");
            users.remove(id);
            users.is_empty()
        };
        if nobody {
            backend.stopping.store(true, Ordering::SeqCst);
            self.local_backends().remove_if_same(backend);
            let pid = backend.pid.load(Ordering::SeqCst);
            if pid != 0 {
                let grace = Duration::from_secs(10);
                let workdir = backend.workdir.clone();
                tokio::spawn(async move { executors::local::stop_orphan(pid, &workdir, grace).await });
            }
            return;
        }
        let Some(name) = adapter else { return };
        if backend.adapter_used_by_others(name, id) {
            return;
        }
        let _op = backend.ops.lock().await;
        let removed = backend.adapters.lock().expect("adapters lock").remove(name);
        if let (Some(dir), Some(port)) = (removed, backend.port()) {
            let request = match backend.kind {
                BackendKind::Vllm => self
                    .http()
                    .post(format!("http://127.0.0.1:{port}/v1/unload_lora_adapter"))
                    .json(&serde_json::json!({"lora_name": name})),
                _ => self.http().delete(format!("http://127.0.0.1:{port}/adapters/{name}")),
            };
            if let Err(e) = request.bearer_auth(&backend.token).send().await {
                tracing::warn!(backend = %backend.key, "unloading adapter {name} failed: {e}");
            }
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    /// A deployment's wanted replicas changed while it serves: more start in the background,
    /// fewer let go of the replicas past the new count.
    pub(crate) async fn rescale(&self, row: &DeploymentRow, before: i64) {
        if !matches!(row.state.as_str(), state::READY | state::STARTING) {
            return; // idle or failed: the next start brings up as many as wanted
        }
        if row.replicas > before {
            self.bring_up_in_background(row.id.clone());
        } else {
            self.release_backend(row, u32::try_from(row.replicas).unwrap_or(0)).await;
        }
    }

    /// An external deployment is ready when its URL answers `GET {url}/models`.
    async fn check_external(&self, row: &DeploymentRow) -> Result<Upstream> {
        let upstream = self.external_upstream(row).await?;
        let mut request = self.http().get(format!("{}/models", upstream.base_url)).timeout(Duration::from_secs(10));
        if let Some(key) = &upstream.api_key {
            request = request.bearer_auth(key);
        }
        match request.send().await {
            Ok(r) if r.status().is_success() => Ok(upstream),
            Ok(r) => Err(Error::Unavailable(format!("{} answered {} to GET /models", upstream.base_url, r.status()))),
            Err(e) => Err(Error::Unavailable(format!("{} does not answer: {e}", upstream.base_url))),
        }
    }

    /// Scales idle deployments to zero: a ready local deployment with an idle timeout whose last
    /// request (or start) is older than it. Runs every second in `serve`.
    pub async fn scale_idle_deployments(&self) -> Result<()> {
        let now = now_ms();
        let wanted = database::deployments::wanted(&mut *self.db().read().await?).await?;
        for row in wanted {
            let Some(timeout) = row.idle_timeout_s else { continue };
            if row.state != state::READY || row.backend == BackendKind::External.as_str() {
                continue;
            }
            let last = self.last_used(&row.id).max(row.updated_at).max(row.last_request_at.unwrap_or(0));
            if now - last < timeout * 1000 {
                continue;
            }
            self.set_deployment_state(&row.id, &[state::READY], state::IDLE, None, "scaled_to_zero").await?;
            self.release_backend(&row, 0).await;
        }
        Ok(())
    }

    /// At server start: serving processes a dead server left behind are stopped (they stop by
    /// themselves once they notice, within a second; this makes sure) and their work
    /// directories removed; then deployments that were serving start again, and idle ones wait
    /// for a request.
    pub async fn restore_deployments(&self) -> Result<()> {
        let work = &self.settings().training.work_dir;
        for entry in std::fs::read_dir(work).into_iter().flatten().flatten() {
            if !entry.file_name().to_string_lossy().starts_with("serve-") {
                continue;
            }
            let dir = entry.path();
            for pid in executors::local::processes_in(&dir) {
                tracing::warn!(pid, dir = %dir.display(), "stopping a serving process an earlier server left running");
                executors::local::stop_orphan(pid, &dir, Duration::from_secs(10)).await;
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
        let wanted = database::deployments::wanted(&mut *self.db().read().await?).await?;
        for row in wanted {
            if matches!(row.state.as_str(), state::READY | state::STARTING) {
                self.set_deployment_state(&row.id, &[state::READY], state::STARTING, None, "restarting").await?;
                self.bring_up_in_background(row.id.clone());
            }
        }
        Ok(())
    }

    /// Stops every serving process (server shutdown); deployments keep their state, so the
    /// next start brings them back.
    pub async fn stop_serving(&self) {
        let backends = self.local_backends().backends();
        let mut stops = Vec::new();
        for b in backends {
            b.stopping.store(true, Ordering::SeqCst);
            let pid = b.pid.load(Ordering::SeqCst);
            if pid != 0 {
                let workdir = b.workdir.clone();
                stops.push(tokio::spawn(async move { executors::local::stop_orphan(pid, &workdir, Duration::from_secs(10)).await }));
            }
        }
        for s in stops {
            let _ = s.await;
        }
    }
}

/// What serves a deployment ([`Services::serving_plan`]).
pub(crate) struct ServingPlan {
    /// The process's key: a base model, a fully fine-tuned model, or a full or freeze
    /// fine-tune's checkpoint.
    key: String,
    /// The adapter the deployment takes in that process (None: the process's model itself).
    adapter: Option<String>,
    /// The files of the weights the process loads first.
    base_files: Vec<crate::models::StoredFile>,
    /// The base model whose cached directory holds them (None: a copy in each process's own
    /// work directory).
    shared_weights: Option<String>,
    /// The chat template the process renders with (None: the tokenizer's).
    chat_template: Option<String>,
}

impl ServingPlan {
    /// Whether a checkpoint's weights go over the base (a full or freeze fine-tune's).
    fn overlays_checkpoint(&self) -> bool {
        self.key.starts_with("ckpt_")
    }
}

/// The weights file of a full or freeze fine-tune's checkpoint.
const CHECKPOINT_WEIGHTS: &str = "trainable.safetensors";

/// The files under `prefix`, with paths relative to it.
fn within(files: Vec<crate::models::StoredFile>, prefix: &str) -> Vec<crate::models::StoredFile> {
    files
        .into_iter()
        .filter_map(|f| {
            let path = f.path.strip_prefix(prefix)?.to_string();
            Some(crate::models::StoredFile { path, ..f })
        })
        .collect()
}
