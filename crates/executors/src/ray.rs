//! The Ray executor: the runtime submitted as a Ray job through the Ray Jobs REST API of a
//! cluster's dashboard (`POST /api/jobs/`), with its resource request (CPUs, GPUs, pinned to the
//! node the scheduler chose); its output read back from the job's logs and parsed by the same
//! [`parse_event`] as the local executor's; stopped with `POST /api/jobs/{id}/stop` (Ray sends
//! SIGTERM, waits `RAY_JOB_STOP_WAIT_TIME_S`, set per job to the grace period, then SIGKILL).
//! Nodes come from the state API (`GET /api/v0/nodes`).
//!
//! The runtime's spec, data and work directory are paths: Ray nodes must see the server's data
//! directory at the same path (a shared filesystem), and have the runtime's environment.

use crate::local::{Exit, Message};
use crate::protocol::EXIT_STOPPED;
use crate::tail::{remote_line, Tail};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A Ray cluster's dashboard (the Jobs and state APIs), e.g. `http://127.0.0.1:8265`.
#[derive(Debug, Clone)]
pub struct RayCluster {
    base: String,
    http: reqwest::Client,
}

/// What went wrong talking to Ray.
pub type RayError = crate::remote::RemoteError;

/// How Ray is named in errors.
const SERVICE: &str = "the Ray cluster";

/// A live node of the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct RayNode {
    /// Ray's node id (hex).
    pub node_id: String,
    /// The node's name (its IP address unless `ray start --node-name` set one).
    pub name: String,
    pub ip: String,
    pub cpus: f64,
    pub gpus: u32,
    /// From the node's `accelerator_type:<T>` resource; None without GPUs or a known type.
    pub accelerator_type: Option<String>,
}

/// One run to submit.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Unique within the cluster: Ray refuses a second job with the same id.
    pub submission_id: String,
    /// A shell command line (the runtime's, from [`crate::RuntimeCommand::ray_entrypoint`]).
    pub entrypoint: String,
    pub env: Vec<(String, String)>,
    pub num_cpus: f64,
    pub num_gpus: u32,
    /// Pins the run to this node (its `node:<ip>` resource).
    pub node_ip: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// How long Ray waits after SIGTERM before SIGKILL.
    pub stop_grace: Duration,
}

/// A job's status as Ray reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct RayJobStatus {
    /// PENDING, RUNNING, STOPPED, SUCCEEDED or FAILED.
    pub status: String,
    pub message: String,
    pub driver_exit_code: Option<i32>,
}

impl RayJobStatus {
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "STOPPED" | "SUCCEEDED" | "FAILED")
    }
}

impl RayCluster {
    pub fn new(address: &str) -> Result<RayCluster, RayError> {
        let base = crate::remote::base_url(SERVICE, address)?;
        let http =
            reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).timeout(Duration::from_secs(30)).build().map_err(|e| {
                RayError::Unreachable { service: SERVICE, address: base.clone(), what: "(client setup)".into(), error: e.to_string() }
            })?;
        Ok(RayCluster { base, http })
    }

    pub fn address(&self) -> &str {
        &self.base
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Option<serde_json::Value>, RayError> {
        let what = format!("{method} {path}");
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        crate::remote::read_json(SERVICE, &self.base, what, request).await
    }

    fn bad(&self, what: &str, error: impl std::fmt::Display) -> RayError {
        RayError::BadAnswer { service: SERVICE, address: self.base.clone(), what: what.into(), error: error.to_string() }
    }

    /// The cluster's live nodes.
    pub async fn nodes(&self) -> Result<Vec<RayNode>, RayError> {
        let what = "GET /api/v0/nodes";
        let answer = self
            .call(reqwest::Method::GET, "/api/v0/nodes?limit=10000&detail=false", None)
            .await?
            .ok_or_else(|| self.bad(what, "404: the dashboard has no state API (Ray 2.0 or later is needed)"))?;
        let list = answer["data"]["result"]["result"].as_array().ok_or_else(|| self.bad(what, "no data.result.result list"))?;
        let mut nodes = Vec::new();
        for n in list {
            if n["state"].as_str() != Some("ALIVE") {
                continue;
            }
            let text = |key: &str| n[key].as_str().map(str::to_string).ok_or_else(|| self.bad(what, format!("a node without '{key}'")));
            let resources = n["resources_total"].as_object().ok_or_else(|| self.bad(what, "a node without resources_total"))?;
            let amount = |key: &str| resources.get(key).and_then(serde_json::Value::as_f64).unwrap_or(0.0);
            let accelerator_type = resources.keys().find_map(|k| k.strip_prefix("accelerator_type:")).map(str::to_string);
            let ip = text("node_ip")?;
            nodes.push(RayNode {
                node_id: text("node_id")?,
                name: n["node_name"].as_str().map_or_else(|| ip.clone(), str::to_string),
                ip,
                cpus: amount("CPU"),
                gpus: amount("GPU").floor() as u32,
                accelerator_type,
            });
        }
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(nodes)
    }

    /// Submits a run; Ray starts it when its resources are free.
    pub async fn submit(&self, s: &Submission) -> Result<(), RayError> {
        let mut env: serde_json::Map<String, serde_json::Value> = s.env.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect();
        env.insert("RAY_JOB_STOP_WAIT_TIME_S".into(), s.stop_grace.as_secs().max(1).to_string().into());
        let mut resources = serde_json::Map::new();
        if let Some(ip) = &s.node_ip {
            resources.insert(format!("node:{ip}"), serde_json::json!(0.001));
        }
        let body = serde_json::json!({
            "entrypoint": s.entrypoint,
            "submission_id": s.submission_id,
            "runtime_env": {"env_vars": env},
            "metadata": s.metadata,
            "entrypoint_num_cpus": s.num_cpus,
            "entrypoint_num_gpus": s.num_gpus,
            "entrypoint_resources": resources,
        });
        let answer = self.call(reqwest::Method::POST, "/api/jobs/", Some(body)).await?;
        answer.ok_or_else(|| self.bad("POST /api/jobs/", "404: the dashboard has no Jobs API"))?;
        Ok(())
    }

    /// A job's status; None when the cluster does not know it.
    pub async fn status(&self, submission_id: &str) -> Result<Option<RayJobStatus>, RayError> {
        let what = format!("GET /api/jobs/{submission_id}");
        let Some(answer) = self.call(reqwest::Method::GET, &format!("/api/jobs/{submission_id}"), None).await? else { return Ok(None) };
        let status = answer["status"].as_str().ok_or_else(|| self.bad(&what, "no status"))?.to_string();
        Ok(Some(RayJobStatus {
            status,
            message: answer["message"].as_str().unwrap_or_default().to_string(),
            driver_exit_code: answer["driver_exit_code"].as_i64().and_then(|c| i32::try_from(c).ok()),
        }))
    }

    /// Everything the job printed so far (stdout and stderr together, with Ray's own lines).
    pub async fn logs(&self, submission_id: &str) -> Result<String, RayError> {
        let what = format!("GET /api/jobs/{submission_id}/logs");
        let answer = self.call(reqwest::Method::GET, &format!("/api/jobs/{submission_id}/logs"), None).await?;
        let answer = answer.ok_or_else(|| self.bad(&what, "the cluster does not know the job"))?;
        answer["logs"].as_str().map(str::to_string).ok_or_else(|| self.bad(&what, "no logs"))
    }

    /// Asks Ray to stop a job (SIGTERM, then SIGKILL after its grace); false when it had ended
    /// or the cluster does not know it.
    pub async fn stop(&self, submission_id: &str) -> Result<bool, RayError> {
        let answer = self.call(reqwest::Method::POST, &format!("/api/jobs/{submission_id}/stop"), None).await?;
        Ok(answer.is_some_and(|a| a["stopped"].as_bool() == Some(true)))
    }

    /// Stops a job left by an earlier server and waits until it has ended, up to `grace` plus a
    /// margin; a job the cluster does not know is nothing to stop.
    pub async fn stop_and_wait(&self, submission_id: &str, grace: Duration) -> Result<(), RayError> {
        if self.status(submission_id).await?.is_none_or(|s| s.is_terminal()) {
            return Ok(());
        }
        self.stop(submission_id).await?;
        let deadline = tokio::time::Instant::now() + grace + Duration::from_secs(10);
        while tokio::time::Instant::now() < deadline {
            if self.status(submission_id).await?.is_none_or(|s| s.is_terminal()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(self.bad(&format!("POST /api/jobs/{submission_id}/stop"), "the job did not end after its stop"))
    }

    /// Follows a submitted run: its log lines become messages, its end an [`Exit`].
    pub fn follow(&self, submission_id: String, poll: Duration) -> RayRun {
        let (tx, messages) = mpsc::channel(1024);
        let (exit_tx, exit) = oneshot::channel();
        let cluster = self.clone();
        let id = submission_id.clone();
        tokio::spawn(async move {
            let exit = cluster.watch(&id, poll, &tx).await;
            drop(tx);
            let _ = exit_tx.send(exit);
        });
        RayRun { cluster: self.clone(), submission_id, messages, exit }
    }

    /// Polls the job's logs and status until it ends. Ray being unreachable for longer than
    /// [`LOST_AFTER`] ends the run as a crash, after a last attempt to stop the job (so that it
    /// cannot run twice when the job is started again).
    async fn watch(&self, id: &str, poll: Duration, tx: &mpsc::Sender<Message>) -> Exit {
        let mut lines = LogLines::default();
        let mut failing_since: Option<tokio::time::Instant> = None;
        let (submitted, mut pending_said) = (tokio::time::Instant::now(), false);
        loop {
            let step = async {
                // Status first: when it says the job ended, the logs read after it are whole.
                let Some(status) = self.status(id).await? else { return Ok((None, String::new())) };
                let logs = self.logs(id).await?;
                Ok::<_, RayError>((Some(status), logs))
            };
            match step.await {
                Ok((status, logs)) => {
                    failing_since = None;
                    let terminal = status.as_ref().is_none_or(RayJobStatus::is_terminal);
                    // Ray holds a run while its resources are taken (by work outside Tunery):
                    // the job's log says so once.
                    if let Some(s) = status.as_ref().filter(|s| s.status == "PENDING" && !pending_said) {
                        if submitted.elapsed() > PENDING_SAID_AFTER {
                            pending_said = true;
                            let _ = tx.send(Message::Stderr(format!("the Ray cluster has not started the run yet: {}", s.message))).await;
                        }
                    }
                    for message in lines.take(&logs, terminal) {
                        if tx.send(message).await.is_err() {
                            break;
                        }
                    }
                    if terminal {
                        return lines.exit(status, id);
                    }
                }
                Err(e) => {
                    let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() > LOST_AFTER {
                        let _ = self.stop(id).await;
                        let mut exit = lines.exit(None, id);
                        exit.stderr_tail =
                            format!("{}\nlost contact with the Ray cluster for {} s: {e}", exit.stderr_tail, LOST_AFTER.as_secs());
                        return exit;
                    }
                }
            }
            tokio::time::sleep(poll).await;
        }
    }
}

/// How long Ray may be unreachable before a run it holds counts as lost.
pub const LOST_AFTER: Duration = Duration::from_secs(60);

/// How long a run may wait for Ray to start it before the job's log says so.
const PENDING_SAID_AFTER: Duration = Duration::from_secs(30);

/// The log read so far: complete lines become messages once; the last non-event lines are kept
/// for a crash report.
#[derive(Default)]
struct LogLines {
    consumed: usize,
    tail: Tail,
}

impl LogLines {
    /// Messages for the lines of `logs` past what was consumed; the last, unfinished line only
    /// when the job has ended (`last`).
    fn take(&mut self, logs: &str, last: bool) -> Vec<Message> {
        let Some(new) = logs.get(self.consumed..) else {
            // The log is shorter than what was read (rewritten): read it from the start again
            // rather than miss what follows.
            self.consumed = 0;
            return vec![Message::Stderr("the Ray job's log became shorter than what was read; reading it again from the start".into())];
        };
        let complete = if last { new.len() } else { new.rfind('\n').map_or(0, |i| i + 1) };
        self.consumed += complete;
        new[..complete].lines().filter_map(|line| remote_line(line, &mut self.tail)).collect()
    }

    /// How the run ended: Ray's status mapped onto a process exit. A stopped job reads as the
    /// runtime's own stopped code (Ray does not report the code of a job it stopped).
    fn exit(&self, status: Option<RayJobStatus>, id: &str) -> Exit {
        let mut stderr_tail = self.tail.joined();
        let code = match &status {
            Some(s) if s.status == "SUCCEEDED" => Some(0),
            Some(s) if s.status == "STOPPED" => Some(EXIT_STOPPED),
            Some(s) => {
                let first = s.message.lines().next().unwrap_or_default();
                stderr_tail = format!("{stderr_tail}\nRay: {} ({first})", s.status);
                s.driver_exit_code
            }
            None => {
                stderr_tail = format!("{stderr_tail}\nthe Ray cluster no longer knows job {id}");
                None
            }
        };
        Exit { code, signal: None, stderr_tail }
    }
}

/// A run on Ray, followed.
#[derive(Debug)]
pub struct RayRun {
    cluster: RayCluster,
    pub submission_id: String,
    pub messages: mpsc::Receiver<Message>,
    exit: oneshot::Receiver<Exit>,
}

impl RayRun {
    /// Asks Ray to stop the run (the runtime gets SIGTERM and checkpoints; Ray kills it after
    /// the grace period given at submission).
    pub fn terminate(&self) {
        let (cluster, id) = (self.cluster.clone(), self.submission_id.clone());
        tokio::spawn(async move {
            if let Err(e) = cluster.stop(&id).await {
                tracing::warn!(submission = %id, error = %e, "could not ask Ray to stop a run");
            }
        });
    }

    pub async fn wait(self) -> Exit {
        // Nothing reads the messages any more: the watcher must not block on a full channel.
        drop(self.messages);
        self.exit.await.unwrap_or_else(|_| Exit { code: None, signal: None, stderr_tail: "the Ray run's watcher ended early".into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_become_events_once_and_the_last_partial_line_waits_for_the_end() {
        let mut lines = LogLines::default();
        let first = "Running entrypoint for job x: python -m tunery_runtime\n{\"event\":\"log\",\"time\":1,\"level\":\"info\",\"message\":\"hi\"}\n{\"ev";
        let m = lines.take(first, false);
        assert_eq!(m.len(), 2);
        assert!(matches!(&m[0], Message::Stderr(l) if l.starts_with("Running entrypoint")));
        assert!(matches!(&m[1], Message::Event(_)), "{m:?}");
        let more = format!("{first}ent\": 1}}\nTraceback\n");
        let m = lines.take(&more, false);
        assert!(matches!(&m[0], Message::BadLine { line, .. } if line == "{\"event\": 1}"), "{m:?}");
        assert!(matches!(&m[1], Message::Stderr(l) if l == "Traceback"));
        assert!(lines.take(&more, true).is_empty(), "nothing is read twice");
        let exit =
            lines.exit(Some(RayJobStatus { status: "FAILED".into(), message: "exit code 3\nlogs".into(), driver_exit_code: Some(3) }), "x");
        assert_eq!(exit.code, Some(3));
        assert!(exit.stderr_tail.contains("Traceback") && exit.stderr_tail.ends_with("Ray: FAILED (exit code 3)"), "{}", exit.stderr_tail);
        let stopped = lines.exit(Some(RayJobStatus { status: "STOPPED".into(), message: String::new(), driver_exit_code: None }), "x");
        assert_eq!(stopped.code, Some(EXIT_STOPPED));
    }

    #[test]
    fn an_address_must_be_an_http_url() {
        assert!(matches!(RayCluster::new("127.0.0.1:8265"), Err(RayError::BadAddress { .. })));
        assert_eq!(RayCluster::new("http://127.0.0.1:8265/").unwrap().address(), "http://127.0.0.1:8265");
    }
}
