//! Following a run on Kubernetes: its main pod's log (the single pod of a Job, the master of a
//! PyTorchJob) streamed and parsed by the same event parser as every executor, its state polled,
//! and its end read from the container's exit code. A stream that breaks is opened again from
//! the last line read (Kubernetes' timestamps say where that was), so no line arrives twice.

use super::client::{ContainerState, KubeCluster, KubeError, PodState, WorkloadState};
use super::manifests::WorkloadKind;
use crate::local::{Exit, Message};
use crate::protocol::EXIT_STOPPED;
use crate::tail::{remote_line, Tail};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// How long the Kubernetes API may be unreachable before a run counts as lost.
pub const LOST_AFTER: Duration = Duration::from_secs(60);
/// How long a pod may wait (unscheduled, pulling its image) before the job's log says why.
const WAITING_SAID_AFTER: Duration = Duration::from_secs(30);
/// How long the log stream of an ended container may take to deliver its last lines.
const DRAIN: Duration = Duration::from_secs(10);

/// Where the log was read up to: the timestamp of the last line, and the lines read at that
/// very timestamp (a stream opened again starts at its whole second).
#[derive(Debug, Default)]
struct LogCursor {
    last: Option<(String, Vec<String>)>,
    tail: Tail,
}

impl LogCursor {
    /// A line as Kubernetes sends it with `timestamps=true` (`<RFC 3339 time> <text>`): its
    /// message, unless it was read before.
    fn accept(&mut self, raw: &str) -> Option<Message> {
        let (stamp, text) = match raw.split_once(' ') {
            Some((s, t)) if s.len() >= 20 && s.as_bytes()[4] == b'-' && s.as_bytes()[10] == b'T' => (fixed_width(s), t),
            _ => return remote_line(raw, &mut self.tail),
        };
        match &mut self.last {
            Some((last, _)) if stamp < *last => return None,
            Some((last, seen)) if stamp == *last => {
                if seen.iter().any(|s| s == text) {
                    return None;
                }
                seen.push(text.to_string());
            }
            _ => self.last = Some((stamp, vec![text.to_string()])),
        }
        remote_line(text, &mut self.tail)
    }

    /// `sinceTime` for a stream opened again: the whole second of the last line.
    fn since(&self) -> Option<String> {
        self.last.as_ref().map(|(stamp, _)| format!("{}Z", &stamp[..19]))
    }
}

/// Kubernetes writes RFC 3339 times with up to nine fractional digits in UTC: padded to nine,
/// they compare as text.
fn fixed_width(stamp: &str) -> String {
    let Some(body) = stamp.strip_suffix('Z') else { return stamp.to_string() };
    let (seconds, fraction) = body.split_once('.').unwrap_or((body, ""));
    format!("{seconds}.{fraction:0<9}Z")
}

/// A run on Kubernetes, followed.
#[derive(Debug)]
pub struct KubeRun {
    cluster: KubeCluster,
    pub kind: WorkloadKind,
    pub name: String,
    pub messages: mpsc::Receiver<Message>,
    stopping: Arc<AtomicBool>,
    exit: oneshot::Receiver<Exit>,
}

impl KubeRun {
    /// Deletes the workload: its pods get SIGTERM (the runtime checkpoints), then are killed
    /// after their grace period.
    pub fn terminate(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let (cluster, kind, name) = (self.cluster.clone(), self.kind, self.name.clone());
        tokio::spawn(async move {
            if let Err(e) = cluster.delete(kind, &name).await {
                tracing::warn!(workload = %name, error = %e, "could not delete a run's workload on Kubernetes");
            }
        });
    }

    pub async fn wait(self) -> Exit {
        drop(self.messages);
        self.exit.await.unwrap_or_else(|_| Exit {
            code: None,
            signal: None,
            stderr_tail: "the Kubernetes run's watcher ended early".into(),
        })
    }
}

impl KubeCluster {
    /// Follows a created workload: its main pod's log lines become messages, its end an [`Exit`].
    pub fn follow(&self, kind: WorkloadKind, name: String, poll: Duration) -> KubeRun {
        let (tx, messages) = mpsc::channel(1024);
        let (exit_tx, exit) = oneshot::channel();
        let stopping = Arc::new(AtomicBool::new(false));
        let (cluster, workload, stop) = (self.clone(), name.clone(), stopping.clone());
        tokio::spawn(async move {
            let exit =
                Watch { cluster, kind, name: workload, tx, stopping: stop, cursor: Default::default(), reader: None }.run(poll).await;
            let _ = exit_tx.send(exit);
        });
        KubeRun { cluster: self.clone(), kind, name, messages, stopping, exit }
    }

    /// Streams a pod's log from where `cursor` is; returns when the stream ends.
    async fn read_log(&self, pod: &str, follow: bool, cursor: &Mutex<LogCursor>, tx: &mpsc::Sender<Message>) -> Result<(), KubeError> {
        let since = cursor.lock().expect("log cursor").since();
        let mut response = self.log(pod, since.as_deref(), follow).await?;
        let mut pending = Vec::new();
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    let what = format!("the log of pod {pod}");
                    return Err(KubeError::Unreachable { address: self.address().into(), what, error: e.to_string() });
                }
            };
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let message = cursor.lock().expect("log cursor").accept(String::from_utf8_lossy(&line).trim_end());
                if let Some(m) = message {
                    if tx.send(m).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
        if !pending.is_empty() {
            let message = cursor.lock().expect("log cursor").accept(String::from_utf8_lossy(&pending).trim_end());
            if let Some(m) = message {
                let _ = tx.send(m).await;
            }
        }
        Ok(())
    }
}

/// The watcher of one run.
struct Watch {
    cluster: KubeCluster,
    kind: WorkloadKind,
    name: String,
    tx: mpsc::Sender<Message>,
    stopping: Arc<AtomicBool>,
    cursor: Arc<Mutex<LogCursor>>,
    /// The stream being read: its pod, and the task.
    reader: Option<(String, JoinHandle<()>)>,
}

impl Watch {
    async fn run(mut self, poll: Duration) -> Exit {
        let started = tokio::time::Instant::now();
        let (mut failing_since, mut waiting_said, mut suspended_said) = (None::<tokio::time::Instant>, false, false);
        loop {
            let step = async {
                let workload = self.cluster.workload(self.kind, &self.name).await?;
                let pods = self.cluster.pods(&self.name).await?;
                Ok::<_, KubeError>((workload, pods))
            };
            match step.await {
                Ok((workload, pods)) => {
                    failing_since = None;
                    let main = pods.into_iter().find(|p| p.role != "worker");
                    if let Some(pod) = &main {
                        match &pod.container {
                            ContainerState::Running => self.stream(pod),
                            ContainerState::Terminated { exit_code, signal, reason } => {
                                let (code, signal, reason) = (*exit_code, *signal, reason.clone());
                                self.drain(&pod.name).await;
                                let mut exit = self.exit(Some(code), signal);
                                if code != 0 {
                                    exit.stderr_tail = format!("{}\nKubernetes: container {} ({reason})", exit.stderr_tail, pod.name);
                                }
                                return exit;
                            }
                            ContainerState::Waiting { reason, message } if !waiting_said && started.elapsed() > WAITING_SAID_AFTER => {
                                waiting_said = true;
                                self.say(format!("the pod {} is waiting to start: {reason} {message}", pod.name)).await;
                            }
                            ContainerState::NotCreated if !waiting_said && started.elapsed() > WAITING_SAID_AFTER => {
                                if let Some(why) = &pod.unschedulable {
                                    waiting_said = true;
                                    self.say(format!("Kubernetes has not placed the pod {} yet: {why}", pod.name)).await;
                                }
                            }
                            _ => {}
                        }
                    }
                    match (workload, &main) {
                        // Deleted (a stop) and its pods gone: the runtime was asked to stop.
                        (None, None) if self.stopping.load(Ordering::SeqCst) => return self.exit(Some(EXIT_STOPPED), None),
                        (None, _) if !self.stopping.load(Ordering::SeqCst) => {
                            let mut exit = self.exit(None, None);
                            exit.stderr_tail = format!("{}\nthe workload {} is gone from Kubernetes", exit.stderr_tail, self.name);
                            return exit;
                        }
                        (Some(WorkloadState::Failed { reason, message }), None) => {
                            let mut exit = self.exit(None, None);
                            exit.stderr_tail = format!("{}\nKubernetes: {} failed ({reason}: {message})", exit.stderr_tail, self.name);
                            return exit;
                        }
                        (Some(WorkloadState::Succeeded), None) => return self.exit(Some(0), None),
                        (Some(WorkloadState::Suspended), _) if !suspended_said && started.elapsed() > WAITING_SAID_AFTER => {
                            suspended_said = true;
                            self.say(format!("the workload {} waits for Kueue to admit it", self.name)).await;
                        }
                        _ => {}
                    }
                }
                Err(e) => {
                    let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() > LOST_AFTER {
                        let _ = self.cluster.delete(self.kind, &self.name).await;
                        let mut exit = self.exit(None, None);
                        exit.stderr_tail =
                            format!("{}\nlost contact with the Kubernetes API for {} s: {e}", exit.stderr_tail, LOST_AFTER.as_secs());
                        return exit;
                    }
                }
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// Keeps the running pod's log streamed: opened, or opened again where it broke.
    fn stream(&mut self, pod: &PodState) {
        if self.reader.as_ref().is_some_and(|(name, task)| name == &pod.name && !task.is_finished()) {
            return;
        }
        let (cluster, name, cursor, tx) = (self.cluster.clone(), pod.name.clone(), self.cursor.clone(), self.tx.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = cluster.read_log(&name, true, &cursor, &tx).await {
                tracing::warn!(pod = %name, error = %e, "a Kubernetes log stream broke; it is opened again");
            }
        });
        self.reader = Some((pod.name.clone(), task));
    }

    /// The container has ended: the stream delivers its last lines and ends; if it does not
    /// (or none was open), the rest of the log is read once.
    async fn drain(&mut self, pod: &str) {
        if let Some((_, task)) = self.reader.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(DRAIN, task).await.is_err() {
                abort.abort();
            }
        }
        if let Err(e) = self.cluster.read_log(pod, false, &self.cursor, &self.tx).await {
            self.say(format!("the last lines of the pod's log could not be read: {e}")).await;
        }
    }

    async fn say(&self, line: String) {
        let _ = self.tx.send(Message::Stderr(line)).await;
    }

    fn exit(&mut self, code: Option<i32>, signal: Option<i32>) -> Exit {
        // Nothing may outlive the run's end: a stream still open would keep its messages open.
        if let Some((_, task)) = self.reader.take() {
            task.abort();
        }
        Exit { code, signal, stderr_tail: self.cursor.lock().expect("log cursor").tail.joined() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_read_again_from_its_last_second_delivers_each_line_once() {
        fn read(cursor: &mut LogCursor, lines: &[&str]) -> usize {
            lines.iter().filter_map(|l| cursor.accept(l)).count()
        }
        let mut cursor = LogCursor::default();
        assert_eq!(
            read(&mut cursor, &["2026-12-06T10:00:00.5Z first", "2026-12-06T10:00:01.000000001Z second", "2026-12-06T10:00:01.1Z third"]),
            3
        );
        // Opened again from 10:00:01: only what follows "third" is new.
        assert_eq!(
            read(
                &mut cursor,
                &["2026-12-06T10:00:01.000000001Z second", "2026-12-06T10:00:01.100000000Z third", "2026-12-06T10:00:02Z fourth"]
            ),
            1
        );
        assert_eq!(cursor.since().as_deref(), Some("2026-12-06T10:00:02Z"));
        // Two different lines at one instant are both lines.
        assert_eq!(read(&mut cursor, &["2026-12-06T10:00:02Z fourth", "2026-12-06T10:00:02Z fifth"]), 1);
        assert!(cursor.tail.joined().ends_with("fourth\nfifth"), "{}", cursor.tail.joined());
    }

    #[test]
    fn event_lines_in_a_pod_log_become_events() {
        let mut cursor = LogCursor::default();
        let m = cursor.accept(r#"2026-12-06T10:00:00.000000000Z {"event":"log","time":1,"level":"info","message":"hi"}"#);
        assert!(matches!(m, Some(Message::Event(_))), "{m:?}");
        assert!(matches!(cursor.accept("no timestamp here"), Some(Message::Stderr(l)) if l == "no timestamp here"));
    }
}
