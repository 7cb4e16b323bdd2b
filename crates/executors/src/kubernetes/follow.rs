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
/// Why a container cannot start, for good unless someone fixes the workload.
const STUCK_REASONS: &[&str] =
    &["ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError"];
/// How long a pod may be stuck so before the run ends.
const STUCK_AFTER: Duration = Duration::from_secs(300);
/// How long the log stream of an ended container may take to deliver its last lines.
const DRAIN: Duration = Duration::from_secs(10);

/// Where the log was read up to: the instant of the last line (UTC seconds and nanoseconds),
/// and the lines read at that very instant (a stream opened again starts at its whole second).
#[derive(Debug, Default)]
struct LogCursor {
    last: Option<((i64, u32), Vec<String>)>,
    tail: Tail,
}

impl LogCursor {
    /// A line as Kubernetes sends it with `timestamps=true` (`<RFC 3339 time> <text>`, the line
    /// end removed): its message, unless it was read before or is empty.
    fn accept(&mut self, raw: &str) -> Option<Message> {
        let (stamp, text) = raw.split_once(' ').unwrap_or((raw, ""));
        let Some(instant) = instant_of(stamp) else { return remote_line(raw, &mut self.tail) };
        match &mut self.last {
            Some((last, _)) if instant < *last => return None,
            Some((last, seen)) if instant == *last => {
                if seen.iter().any(|s| s == text) {
                    return None;
                }
                seen.push(text.to_string());
            }
            _ => self.last = Some((instant, vec![text.to_string()])),
        }
        remote_line(text, &mut self.tail)
    }

    /// `sinceTime` for a stream opened again: the whole second of the last line, in UTC.
    fn since(&self) -> Option<String> {
        self.last.as_ref().map(|((secs, _), _)| {
            let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
            let (y, m, d) = domain::calendar::civil_from_days(days);
            format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", day_secs / 3600, day_secs / 60 % 60, day_secs % 60)
        })
    }
}

/// An RFC 3339 time (`2026-12-06T10:00:00.5Z`, `…+01:00`) as UTC seconds and nanoseconds; None
/// when the text is not one.
fn instant_of(stamp: &str) -> Option<(i64, u32)> {
    let b = stamp.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| stamp.get(r)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let rest = &stamp[19..];
    let (fraction, zone) = match rest.strip_prefix('.') {
        Some(f) => f.split_at(f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len())),
        None => ("", rest),
    };
    let nanos = format!("{:0<9}", fraction.get(..fraction.len().min(9))?).parse::<u32>().ok()?;
    let offset = match zone {
        "Z" | "z" => 0,
        z if z.len() == 6 && (z.starts_with('+') || z.starts_with('-')) && &z[3..4] == ":" => {
            let minutes = z[1..3].parse::<i64>().ok()? * 60 + z[4..6].parse::<i64>().ok()?;
            if z.starts_with('-') {
                -minutes * 60
            } else {
                minutes * 60
            }
        }
        _ => return None,
    };
    let days = domain::calendar::days_from_civil(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?);
    Some((days * 86_400 + hour * 3600 + minute * 60 + second - offset, nanos))
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

    /// The stop's grace is over (or the pods sit on a node that no longer answers): the run's
    /// pods are removed at once.
    pub fn kill(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let (cluster, kind, name) = (self.cluster.clone(), self.kind, self.name.clone());
        tokio::spawn(async move {
            let killed = async {
                cluster.delete(kind, &name).await?;
                cluster.force_delete_pods(&name).await
            };
            if let Err(e) = killed.await {
                tracing::warn!(workload = %name, error = %e, "could not remove a run's pods on Kubernetes");
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
                    return Err(KubeError::Unreachable {
                        service: super::client::SERVICE,
                        address: self.address().into(),
                        what,
                        error: e.to_string(),
                    });
                }
            };
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let message = cursor.lock().expect("log cursor").accept(String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']));
                if let Some(m) = message {
                    if tx.send(m).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
        if !pending.is_empty() {
            let message = cursor.lock().expect("log cursor").accept(String::from_utf8_lossy(&pending).trim_end_matches(['\r', '\n']));
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
    /// Follows the run to its end. Unless it succeeded, its workload is then deleted, so that
    /// nothing of it runs on unwatched (a Kueue preemption suspends it, and Kueue would admit
    /// it again; a failed PyTorchJob's other pods; a run whose contact was lost).
    async fn run(mut self, poll: Duration) -> Exit {
        let mut exit = self.follow(poll).await;
        if exit.code != Some(0) {
            if let Err(e) = self.cluster.delete(self.kind, &self.name).await {
                tracing::warn!(workload = %self.name, error = %e, "could not delete an ended run's workload on Kubernetes");
                exit.stderr_tail = format!(
                    "{}
the workload {} could not be deleted: {e}",
                    exit.stderr_tail, self.name
                );
            }
        }
        exit
    }

    async fn follow(&mut self, poll: Duration) -> Exit {
        let started = tokio::time::Instant::now();
        let (mut failing_since, mut waiting_said, mut suspended_said) = (None::<tokio::time::Instant>, false, false);
        let mut stuck_since: Option<tokio::time::Instant> = None;
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
                            ContainerState::Waiting { reason, message } => {
                                // A pod that cannot start (a bad image, a missing secret) ends
                                // the run once it has been so for STUCK_AFTER.
                                if STUCK_REASONS.contains(&reason.as_str()) {
                                    let since = *stuck_since.get_or_insert_with(tokio::time::Instant::now);
                                    if since.elapsed() > STUCK_AFTER {
                                        let mut exit = self.exit(None, None);
                                        exit.stderr_tail = format!(
                                            "{}\nKubernetes: the pod {} could not start for {} s: {reason} {message}",
                                            exit.stderr_tail,
                                            pod.name,
                                            STUCK_AFTER.as_secs()
                                        );
                                        return exit;
                                    }
                                } else {
                                    stuck_since = None;
                                }
                                if !waiting_said && started.elapsed() > WAITING_SAID_AFTER {
                                    waiting_said = true;
                                    self.say(format!("the pod {} is waiting to start: {reason} {message}", pod.name)).await;
                                }
                            }
                            ContainerState::NotCreated if !waiting_said && started.elapsed() > WAITING_SAID_AFTER => {
                                if let Some(why) = &pod.unschedulable {
                                    waiting_said = true;
                                    self.say(format!("Kubernetes has not placed the pod {} yet: {why}", pod.name)).await;
                                }
                            }
                            ContainerState::NotCreated => {}
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
                        // Failed (a worker died, its deadline passed): whatever the main pod
                        // still does, the run has ended.
                        (Some(WorkloadState::Failed { reason, message }), _) => {
                            if let Some(pod) = &main {
                                self.drain(&pod.name).await;
                            }
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
        // A stream of another pod (the run's pod was replaced) must not hold the messages open.
        if let Some((_, task)) = self.reader.take() {
            task.abort();
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
    fn times_with_offsets_compare_in_utc_and_a_line_of_only_a_time_is_nothing() {
        assert_eq!(instant_of("2026-12-06T11:00:00.25+01:00"), instant_of("2026-12-06T10:00:00.250000000Z"));
        assert_eq!(instant_of("2026-12-06T10:00:00Z"), Some((1_796_551_200, 0)));
        assert_eq!(instant_of("2026-12-06 10:00:00Z"), None);
        let mut cursor = LogCursor::default();
        assert!(cursor.accept("2026-12-06T11:00:01+01:00 first").is_some());
        assert_eq!(cursor.since().as_deref(), Some("2026-12-06T10:00:01Z"));
        assert!(cursor.accept("2026-12-06T10:00:02Z").is_none(), "an empty line");
        assert!(cursor.accept("2026-12-06T10:00:02Z ").is_none(), "an empty line");
    }

    #[test]
    fn event_lines_in_a_pod_log_become_events() {
        let mut cursor = LogCursor::default();
        let m = cursor.accept(r#"2026-12-06T10:00:00.000000000Z {"event":"log","time":1,"level":"info","message":"hi"}"#);
        assert!(matches!(m, Some(Message::Event(_))), "{m:?}");
        assert!(matches!(cursor.accept("no timestamp here"), Some(Message::Stderr(l)) if l == "no timestamp here"));
    }
}
