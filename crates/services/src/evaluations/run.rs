//! Running evaluations: a runner task per server takes queued ones (one conditional change
//! each, so two servers never run the same one) under a lease it renews; it sends the
//! unanswered examples to the evaluated deployment through the gateway's path (prepare, send
//! upstream, read the stream; each request metered as usage of the evaluation's creator),
//! `concurrency` at a time so the serving engine batches them, stores each answer as it comes
//! (a taken-over or restarted evaluation continues with the examples still unanswered), then
//! scores everything with the metrics crate and stores the results and per-example scores in
//! one transaction with the state change.

use super::examples::Case;
use super::{state, Evaluation, EvaluationConfig, GenerationSettings};
use crate::deployments::stream::{Meter, SseData, SseLines};
use crate::deployments::{CompletionEndpoint, Deployment, InferenceRecord, Route};
use crate::{now_ms, Error, Result, Services};
use database::evaluations::EvaluationRow;
use futures_util::StreamExt;
use metrics::suite::MetricScore;
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long a runner holds an evaluation without renewing.
const LEASE_MS: i64 = 60_000;
/// Evaluations one server runs at once.
pub(super) const RUNNING_AT_ONCE: usize = 2;
/// Queued evaluations a runner looks at per claim (those held back by a quota are passed over).
const CANDIDATES: i64 = 200;
/// Tries per example before the evaluation fails.
const TRIES: u32 = 3;

/// The runner's shared state.
#[derive(Default)]
pub struct Runner {
    wake: Notify,
    running: AtomicUsize,
    stopping: AtomicBool,
    instance: std::sync::OnceLock<String>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("running", &self.running.load(Ordering::SeqCst)).finish()
    }
}

impl Runner {
    /// Evaluations this server runs now.
    pub(super) fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    fn instance(&self) -> &str {
        self.instance.get_or_init(|| crate::crypto::random_token(9))
    }
}

impl Services {
    pub(crate) fn wake_evaluations(&self) {
        self.evaluation_runner().wake.notify_one();
    }

    /// Starts the runner: it takes queued evaluations (and ones whose runner's lease expired)
    /// until the server stops. A SQLite server is the only one of its database: what it finds
    /// running, it left, and continues at once.
    pub async fn start_evaluations(&self) -> Result<()> {
        if self.db().backend() == database::Backend::Sqlite {
            let mut tx = self.db().begin_write().await?;
            let released = database::evaluations::release(tx.conn(), None).await?;
            tx.commit().await?;
            if released > 0 {
                tracing::info!(evaluations = released, "evaluations interrupted by the last stop continue");
            }
        }
        let services = self.clone();
        tokio::spawn(async move {
            loop {
                let runner = services.evaluation_runner();
                if runner.stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Err(e) = services.dispatch_evaluations().await {
                    tracing::error!(error = %e, "the evaluation runner failed; retrying");
                }
                let _ = tokio::time::timeout(Duration::from_secs(5), services.evaluation_runner().wake.notified()).await;
            }
        });
        Ok(())
    }

    /// Stops taking evaluations; those running stop where they are (their answers so far are
    /// kept) and are released, so another server, or the next start, continues them at once.
    pub async fn stop_evaluations(&self) {
        let runner = self.evaluation_runner();
        runner.stopping.store(true, Ordering::SeqCst);
        runner.wake.notify_waiters();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while runner.running.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let released = async {
            let mut tx = self.db().begin_write().await?;
            database::evaluations::release(tx.conn(), Some(runner.instance())).await?;
            tx.commit().await?;
            Ok::<(), Error>(())
        };
        if let Err(e) = released.await {
            tracing::warn!(error = %e, "could not release this server's evaluations; they continue once their lease expires");
        }
    }

    async fn dispatch_evaluations(&self) -> Result<()> {
        let runner = self.evaluation_runner();
        while runner.running.load(Ordering::SeqCst) < RUNNING_AT_ONCE && !runner.stopping.load(Ordering::SeqCst) {
            let now = now_ms();
            let candidates = database::evaluations::claimable(&mut *self.db().read().await?, now, CANDIDATES).await?;
            // Usage includes the evaluation taken last round: read again for each claim.
            let quotas = self.quota_state().await?;
            let mut taken = None;
            for id in candidates {
                let evaluation = Evaluation::of(database::evaluations::get_any(&mut *self.db().read().await?, &id).await?)?;
                if self.evaluation_quota_wait(&quotas, &evaluation.row).is_some() {
                    continue;
                }
                let mut tx = self.db().begin_write().await?;
                if database::evaluations::claim(tx.conn(), &id, runner.instance(), now, now + LEASE_MS).await? {
                    self.open_evaluation_run(tx.conn(), &evaluation, runner.instance(), now).await?;
                    tx.commit().await?;
                    taken = Some(id);
                    break;
                }
            }
            let Some(id) = taken else { return Ok(()) };
            runner.running.fetch_add(1, Ordering::SeqCst);
            let services = self.clone();
            tokio::spawn(async move {
                services.run_evaluation(&id).await;
                services.evaluation_runner().running.fetch_sub(1, Ordering::SeqCst);
                services.wake_evaluations();
            });
        }
        Ok(())
    }

    /// Runs one evaluation to its end (or until it is cancelled or taken over).
    async fn run_evaluation(&self, id: &str) {
        let held = Arc::new(AtomicBool::new(true));
        let keeper = self.spawn_evaluation_lease(id, held.clone());
        let outcome = self.evaluate(id, &held).await;
        keeper.abort();
        let instance = self.evaluation_runner().instance().to_string();
        let finished = match outcome {
            Ok(Some(results)) => self.finish_evaluation(id, &instance, results).await,
            Ok(None) => {
                // Cancelled, taken over or stopping: nothing to record but the run's end.
                self.end_evaluation_run(id, &instance).await;
                return;
            }
            Err(e) => {
                tracing::warn!(evaluation = id, error = %e, "evaluation failed");
                self.fail_evaluation(id, &instance, &e.to_string()).await
            }
        };
        if let Err(e) = finished {
            tracing::error!(evaluation = id, error = %e, "the evaluation's end could not be recorded; another start continues it");
        }
        self.end_evaluation_run(id, &instance).await;
    }

    async fn end_evaluation_run(&self, id: &str, instance: &str) {
        if let Err(e) = self.close_evaluation_run(id, instance).await {
            tracing::error!(evaluation = id, error = %e, "the evaluation's run could not be closed; the next runner to take it closes it");
        }
    }

    /// Renews the lease every fifth of it; clears `held` when the evaluation is no longer this
    /// runner's (cancelled, or taken over after a stall).
    fn spawn_evaluation_lease(&self, id: &str, held: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
        let (services, id) = (self.clone(), id.to_string());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis((LEASE_MS / 5) as u64)).await;
                let instance = services.evaluation_runner().instance().to_string();
                let renewed = async {
                    let mut tx = services.db().begin_write().await?;
                    let now = now_ms();
                    let ok = database::evaluations::renew(tx.conn(), &id, &instance, now + LEASE_MS).await?;
                    if ok {
                        database::evaluation_runs::seen(tx.conn(), &id, &instance, now).await?;
                    }
                    tx.commit().await?;
                    Ok::<bool, Error>(ok)
                }
                .await;
                match renewed {
                    Ok(true) => {}
                    Ok(false) => {
                        held.store(false, Ordering::SeqCst);
                        return;
                    }
                    Err(e) => tracing::warn!(evaluation = id, error = %e, "renewing the evaluation's lease failed; retrying"),
                }
            }
        })
    }

    /// Answers what is unanswered, then scores: the results, or None when the evaluation
    /// stopped being this runner's.
    async fn evaluate(&self, id: &str, held: &AtomicBool) -> Result<Option<Value>> {
        let row = database::evaluations::get_any(&mut *self.db().read().await?, id).await?;
        let evaluation = Evaluation::of(row)?;
        if let (Some(generation), Some(model)) = (&evaluation.config.generation, &evaluation.config.model) {
            let pending = database::evaluations::unanswered(&mut *self.db().read().await?, id).await?;
            let deployment_id = model.deployment_id.clone();
            let concurrency = evaluation.config.concurrency.max(1) as usize;
            let judge = evaluation.config.judge.as_ref();
            let perplexity = evaluation.config.metrics.iter().any(|m| m == "perplexity");
            let mut answers = futures_util::stream::iter(pending.into_iter().map(|idx| {
                let (row, deployment_id) = (&evaluation.row, deployment_id.clone());
                async move {
                    if !self.still_running(&row.id, held).await? {
                        return Ok(false);
                    }
                    self.answer_example(row, &deployment_id, generation, judge, perplexity, idx).await?;
                    Ok::<bool, Error>(true)
                }
            }))
            .buffer_unordered(concurrency);
            while let Some(answered) = answers.next().await {
                if !answered? {
                    return Ok(None);
                }
            }
        }
        if !held.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let cases = self.evaluation_cases(&evaluation.row).await?;
        let config = evaluation.config.clone();
        let text = self.text_options(&config)?;
        let neural = self.neural_scores(&evaluation.row.id, &config, &cases).await?;
        let scored = tokio::task::spawn_blocking(move || match &config.judge {
            Some(judge) => super::judge::score(judge, &config.bootstrap, &cases),
            None => score_cases(&config, text, neural, &cases),
        })
        .await
        .map_err(crate::datasets::internal)??;
        Ok(Some(scored))
    }

    /// BERTScore and BLEURT of the predictions, by the runtime (`score-text`), with the models
    /// the evaluation recorded.
    async fn neural_scores(&self, id: &str, config: &EvaluationConfig, cases: &[Case]) -> Result<Vec<metrics::suite::MetricScore>> {
        let wanted = self.runtime_metrics(config)?;
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let training = &self.settings().training;
        let runtime = training.runtime.as_ref().ok_or_else(|| {
            Error::Conflict("BERTScore and BLEURT run in the training runtime, which this server has not got (--runtime-python)".into())
        })?;
        let examples = cases
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let prediction = c.prediction.as_deref().ok_or_else(|| Error::Internal(format!("example {i} has no prediction")))?;
                Ok(executors::TextExample { prediction, references: &c.references })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut out = Vec::new();
        for m in wanted {
            let workdir = training.work_dir.join(format!("{id}-{}", m.name));
            let metric = executors::TextMetric { metric: m.name, model_path: &m.path, layer: m.layer, device: &training.device };
            let scores = executors::score_text(runtime, &metric, &examples, &workdir).await.map_err(Error::Unavailable)?;
            let score = metrics::suite::from_runtime(m.name, &scores.rows, &scores.summary, bootstrap_of(config))
                .map_err(|e| Error::Internal(format!("{}: {e}", m.name)))?;
            out.push(score);
        }
        Ok(out)
    }

    /// Whether this runner should go on: it holds the lease, the server is not stopping, and
    /// nobody cancelled the evaluation (read before each example, so a cancel stops it at once).
    async fn still_running(&self, id: &str, held: &AtomicBool) -> Result<bool> {
        if !held.load(Ordering::SeqCst) || self.evaluation_runner().stopping.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let row = database::evaluations::get_any(&mut *self.db().read().await?, id).await?;
        Ok(row.state == state::RUNNING && row.runner_instance.as_deref() == Some(self.evaluation_runner().instance()))
    }

    /// One example: its prompt sent to the deployment (a judge evaluation: the judge's prompts,
    /// one or both orders), the answers sealed with it; with `perplexity`, also the model's
    /// log-probability of the first reference as its answer.
    async fn answer_example(
        &self,
        row: &EvaluationRow,
        deployment_id: &str,
        generation: &GenerationSettings,
        judge: Option<&super::judge::JudgeConfig>,
        perplexity: bool,
        idx: i64,
    ) -> Result<()> {
        let x = database::evaluations::examples(&mut *self.db().read().await?, &row.id, idx, 1).await?;
        let x =
            x.into_iter().next().filter(|x| x.idx == idx).ok_or_else(|| Error::Internal(format!("example {idx} of {} is gone", row.id)))?;
        let case = self.open_case(&x)?;
        let prompts = match judge {
            Some(j) => super::judge::prompts(j, &case)?,
            None => vec![case.prompt.clone().ok_or_else(|| Error::Internal(format!("example {idx} of {} has no prompt", row.id)))?],
        };
        let mut outputs = Vec::with_capacity(prompts.len());
        for messages in &prompts {
            outputs.push(self.generate_with_retries(row, deployment_id, generation, messages, idx).await?);
        }
        let reference_logprob = match (perplexity, case.references.first()) {
            (true, Some(reference)) => Some(self.reference_logprob(row, deployment_id, &prompts[0], reference, idx).await?),
            _ => None,
        };
        let answered = match judge {
            Some(_) => Case { judgements: Some(outputs), ..case },
            None => Case { prediction: outputs.pop(), reference_logprob, ..case },
        };
        let mut tx = self.db().begin_write().await?;
        database::evaluations::answer(tx.conn(), &row.id, idx, &self.seal_case(&row.id, idx, &answered)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Where an evaluation's requests go: its deployment (409 once deleted) and its upstream.
    async fn evaluated_route(&self, row: &EvaluationRow, deployment_id: &str) -> Result<Route> {
        let deployment = match database::deployments::get(&mut *self.db().read().await?, &row.organization_id, deployment_id).await {
            Ok(d) => Deployment::of(d)?,
            Err(database::Error::NotFound) => return Err(Error::Conflict(format!("deployment {deployment_id} was deleted"))),
            Err(e) => return Err(e.into()),
        };
        let upstream = self.upstream_for(&deployment).await?;
        Ok(Route { deployment, upstream, split_id: None })
    }

    /// The model's log-probability of `reference` as the answer to `messages`, from the serving
    /// runtime (`/v1/tunery/score`: one forward pass, its own tokenizer and chat template).
    async fn reference_logprob(
        &self,
        row: &EvaluationRow,
        deployment_id: &str,
        messages: &[datasets::Message],
        reference: &str,
        idx: i64,
    ) -> Result<super::examples::ReferenceLogprob> {
        let Route { deployment, upstream, .. } = self.evaluated_route(row, deployment_id).await?;
        let body = json!({"model": upstream.model, "messages": messages, "answer": reference});
        let mut request = self
            .http()
            .post(format!("{}/tunery/score", upstream.base_url))
            .json(&body)
            .timeout(Duration::from_secs(self.settings().serving.request_timeout_s));
        if let Some(key) = &upstream.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| {
            Error::Unavailable(format!(
                "example {idx}: the backend of deployment {} does not answer: {}",
                deployment.row.name,
                e.without_url()
            ))
        })?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| Error::Unavailable(format!("example {idx}: {}", e.without_url())))?;
        if !(200..300).contains(&status) {
            return Err(Error::Conflict(format!("example {idx}: the runtime could not score the reference ({status}): {text}")));
        }
        let v: Value =
            serde_json::from_str(&text).map_err(|e| Error::Internal(format!("example {idx}: the runtime's score does not parse: {e}")))?;
        match (v["tokens"].as_u64(), v["logprob"].as_f64()) {
            (Some(tokens), Some(logprob)) => Ok(super::examples::ReferenceLogprob { tokens, logprob }),
            _ => Err(Error::Internal(format!("example {idx}: the runtime's score lacks tokens or logprob: {text}"))),
        }
    }

    /// [`Services::generate`], tried again after a failure that may pass (not after a refusal).
    async fn generate_with_retries(
        &self,
        row: &EvaluationRow,
        deployment_id: &str,
        generation: &GenerationSettings,
        messages: &[datasets::Message],
        idx: i64,
    ) -> Result<String> {
        let mut last_error = None;
        for attempt in 0..TRIES {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
            }
            match self.generate(row, deployment_id, generation, messages).await {
                Ok(text) => return Ok(text),
                // A refusal will not change on a retry.
                Err(e @ (Error::Validation(_) | Error::NotFound(_) | Error::PermissionDenied(_) | Error::Conflict(_))) => {
                    return Err(Error::Conflict(format!("example {idx}: {e}")))
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(Error::Unavailable(format!("example {idx}: {}", last_error.map(|e| e.to_string()).unwrap_or_default())))
    }

    /// Sends one chat completion through the deployment's upstream, as the gateway would, and
    /// reads the streamed answer; the request is recorded as usage of the evaluation's creator.
    async fn generate(
        &self,
        row: &EvaluationRow,
        deployment_id: &str,
        g: &GenerationSettings,
        messages: &[datasets::Message],
    ) -> Result<String> {
        let route = self.evaluated_route(row, deployment_id).await?;
        let mut body = Map::new();
        body.insert("model".into(), route.deployment.row.name.clone().into());
        body.insert("messages".into(), serde_json::to_value(messages).map_err(crate::datasets::internal)?);
        body.insert("max_tokens".into(), g.max_tokens.into());
        body.insert("temperature".into(), g.temperature.into());
        body.insert("seed".into(), g.seed.into());
        if let Some(p) = g.top_p {
            body.insert("top_p".into(), p.into());
        }
        if let Some(stop) = &g.stop {
            body.insert("stop".into(), json!(stop));
        }
        let prepared = crate::deployments::prepare(CompletionEndpoint::Chat, body, &route)?;
        let started = Instant::now();
        let reply = self.send_upstream(&route, CompletionEndpoint::Chat, &prepared.body, 0).await?;
        let mut usage = crate::deployments::InferenceRow {
            id: format!("evalcmpl-{}", crate::crypto::random_token(12)),
            organization_id: row.organization_id.clone(),
            deployment_id: Some(route.deployment.row.id.clone()),
            api_key_id: None,
            user_id: Some(row.created_by.clone()),
            model: route.deployment.row.name.clone(),
            endpoint: CompletionEndpoint::Chat.as_str().to_string(),
            prompt_tokens: 0,
            completion_tokens: 0,
            time_to_first_token_ms: None,
            latency_ms: 0,
            status: i64::from(reply.status),
            error_code: None,
            created_at: now_ms(),
            split_id: None,
        };
        if let Some(error) = reply.error {
            usage.error_code = Some("upstream_error".into());
            usage.latency_ms = started.elapsed().as_millis() as i64;
            self.record_inference(InferenceRecord::of(usage));
            let message = crate::deployments::upstream_error_message(&error);
            return Err(Error::Unavailable(format!("deployment {} answered {}: {message}", route.deployment.row.name, reply.status)));
        }
        let (mut lines, mut meter, mut text, mut finished) = (SseLines::default(), Meter::default(), String::new(), false);
        let mut stream = reply.body;
        while let Some(bytes) = stream.next().await {
            let bytes =
                bytes.map_err(|e| Error::Unavailable(format!("deployment {} broke off its answer: {e}", route.deployment.row.name)))?;
            for data in lines.push(&bytes) {
                match data {
                    SseData::Chunk(chunk) => {
                        meter.observe(&chunk, started.elapsed().as_millis() as i64);
                        if let Some(choice) = chunk.get("choices").and_then(Value::as_array).and_then(|c| c.first()) {
                            if let Some(t) = choice["delta"].get("content").and_then(Value::as_str) {
                                text.push_str(t);
                            }
                        }
                    }
                    SseData::Done => finished = true,
                    SseData::Malformed(m) => {
                        return Err(Error::Unavailable(format!("deployment {} sent a malformed chunk: {m}", route.deployment.row.name)))
                    }
                }
            }
        }
        let (prompt, completion) = meter.tokens();
        usage.prompt_tokens = prompt;
        usage.completion_tokens = completion;
        usage.time_to_first_token_ms = meter.first_token_ms;
        usage.latency_ms = started.elapsed().as_millis() as i64;
        if !finished {
            usage.status = 502;
            usage.error_code = Some("upstream_incomplete".into());
        }
        self.record_inference(InferenceRecord::of(usage));
        if !finished {
            return Err(Error::Unavailable(format!("deployment {} ended its answer without [DONE]", route.deployment.row.name)));
        }
        Ok(text)
    }

    /// Records `failed` with its reason (if this runner still holds the evaluation).
    async fn fail_evaluation(&self, id: &str, instance: &str, message: &str) -> Result<()> {
        let mut tx = self.db().begin_write().await?;
        database::evaluations::finish(tx.conn(), id, Some(instance), state::FAILED, None, Some(message), now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores the results, the per-example scores and `succeeded` in one transaction (if this
    /// runner still holds the evaluation).
    async fn finish_evaluation(&self, id: &str, instance: &str, scored: Value) -> Result<()> {
        let mut tx = self.db().begin_write().await?;
        database::evaluations::lock(tx.conn(), id).await?;
        if let Some(per) = scored["per_example"].as_array() {
            for (idx, scores) in per.iter().enumerate() {
                database::evaluations::set_scores(tx.conn(), id, idx as i64, &scores.to_string()).await?;
            }
        }
        let results = json!({"metrics": scored["metrics"], "examples": scored["examples"]}).to_string();
        if database::evaluations::finish(tx.conn(), id, Some(instance), state::SUCCEEDED, Some(&results), None, now_ms()).await? {
            tx.commit().await?;
        }
        Ok(())
    }
}

/// The bootstrap an evaluation's scores are given intervals by (None: no intervals).
fn bootstrap_of(config: &EvaluationConfig) -> Option<metrics::suite::Bootstrap> {
    (config.bootstrap.resamples > 0).then_some(metrics::suite::Bootstrap {
        resamples: config.bootstrap.resamples,
        confidence: config.bootstrap.confidence,
        seed: config.bootstrap.seed,
    })
}

/// The scores of every metric (the neural ones computed before, in the order of `config.metrics`): `{"metrics": {name: {score, interval?, …}}, "examples": n,
/// "per_example": [{name: score}, …]}`.
fn score_cases(config: &EvaluationConfig, text: metrics::suite::TextOptions, neural: Vec<MetricScore>, cases: &[Case]) -> Result<Value> {
    let examples: Vec<metrics::suite::Example> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let prediction = c.prediction.clone().ok_or_else(|| Error::Internal(format!("example {i} has no prediction")))?;
            Ok(metrics::suite::Example { prediction, references: c.references.clone() })
        })
        .collect::<Result<_>>()?;
    let bootstrap = bootstrap_of(config);
    let mut neural = neural.into_iter();
    let mut results = Map::new();
    let mut per_example: Vec<Map<String, Value>> = vec![Map::new(); examples.len()];
    for metric in &config.metrics {
        let scores = if metric == "perplexity" {
            let rows = cases
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let r = c.reference_logprob.ok_or_else(|| Error::Internal(format!("example {i} has no reference log-probability")))?;
                    Ok((r.logprob, r.tokens))
                })
                .collect::<Result<Vec<_>>>()?;
            vec![metrics::suite::perplexity(&rows, bootstrap).map_err(|e| Error::Internal(format!("perplexity: {e}")))?]
        } else if metrics::suite::RUNTIME_METRICS.contains(&metric.as_str()) {
            vec![neural.next().ok_or_else(|| Error::Internal(format!("{metric} was not computed")))?]
        } else {
            metrics::suite::score(&examples, metric, text, bootstrap)
                .map_err(|e| Error::Validation(domain::ValidationError::unprocessable("metrics", format!("{metric}: {e}"))))?
        };
        for m in scores {
            let mut v = Map::new();
            v.insert("score".into(), json!(m.score));
            if let Some([lo, hi]) = m.interval {
                v.insert("interval".into(), json!([lo, hi]));
                v.insert("confidence".into(), json!(config.bootstrap.confidence));
            }
            v.extend(m.details);
            if let Some(per) = &m.per_example {
                for (slot, s) in per_example.iter_mut().zip(per) {
                    slot.insert(m.name.clone(), json!(s));
                }
            }
            results.insert(m.name, Value::Object(v));
        }
    }
    Ok(json!({"metrics": results, "examples": examples.len(), "per_example": per_example}))
}
