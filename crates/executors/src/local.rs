//! The local executor: the runtime as a child process in its own process group, its stdout
//! parsed into events, its stderr kept as log lines (and the last lines for a crash report).

use crate::protocol::{parse_event, Event};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// How to start the runtime.
#[derive(Debug, Clone)]
pub struct RuntimeCommand {
    /// The Python interpreter of the runtime's environment.
    pub python: PathBuf,
    /// The folder that holds the `tunery_runtime` package (put on `PYTHONPATH`).
    pub runtime_dir: PathBuf,
    /// Extra environment for the child (threads, offline flags).
    pub env: Vec<(String, String)>,
}

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the runtime's Python environment is missing: {0} does not exist (run scripts/runtime-env.sh, or set --runtime-python)")]
    MissingPython(PathBuf),
    #[error("the runtime package is missing: {0} has no tunery_runtime folder (set --runtime-dir)")]
    MissingRuntime(PathBuf),
    /// The runtime runs in its work directory, so a relative path would name another file.
    #[error("the runtime needs absolute paths, got {0}")]
    RelativePath(PathBuf),
    #[error("could not start {0}: {1}")]
    Spawn(PathBuf, std::io::Error),
    #[error("{0} does not exist (or is not a file)")]
    MissingProgram(PathBuf),
}

/// What a running runtime reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Event(Event),
    /// A stdout line that is not a valid event (kept as a warning log line).
    BadLine {
        line: String,
        error: String,
    },
    /// A stderr line.
    Stderr(String),
    /// A line (stdout or stderr) of a program that is not the runtime ([`start_program`]).
    Output(String),
}

/// How the process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// The exit code, or None when a signal ended it.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// The last stderr lines, for a crash report.
    pub stderr_tail: String,
}

/// A running runtime process.
#[derive(Debug)]
pub struct Running {
    pub pid: u32,
    pub messages: mpsc::Receiver<Message>,
    child: Child,
    stderr_tail: std::sync::Arc<std::sync::Mutex<crate::tail::Tail>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl RuntimeCommand {
    pub fn check(&self) -> Result<(), StartError> {
        if !self.python.exists() {
            return Err(StartError::MissingPython(self.python.clone()));
        }
        if !self.runtime_dir.join("tunery_runtime").is_dir() {
            return Err(StartError::MissingRuntime(self.runtime_dir.clone()));
        }
        Ok(())
    }

    /// Starts `python -m tunery_runtime <command> --spec SPEC --workdir DIR`.
    pub fn start(&self, command: &str, spec: &Path, workdir: &Path) -> Result<Running, StartError> {
        self.start_with(command, spec, workdir, &[])
    }

    /// Like [`RuntimeCommand::start`] with extra arguments (`--nproc-per-node N` for a
    /// data-parallel run: the runtime's launcher starts the ranks and relays rank 0's events).
    pub fn start_with(&self, command: &str, spec: &Path, workdir: &Path, extra: &[String]) -> Result<Running, StartError> {
        self.check()?;
        let mut cmd = Command::new(&self.python);
        cmd.args(self.arguments(command, spec, workdir, extra)?)
            .current_dir(workdir)
            .envs(self.environment())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(false);
        let child = cmd.spawn().map_err(|e| StartError::Spawn(self.python.clone(), e))?;
        Ok(follow(child, true))
    }

    /// The same run as a shell command line and its environment, for an executor that starts it
    /// elsewhere (a Ray job's entrypoint). The paths must be valid where it runs; nothing here is
    /// checked on this machine but that they are absolute.
    pub fn entrypoint(
        &self,
        command: &str,
        spec: &Path,
        workdir: &Path,
        extra: &[String],
    ) -> Result<(String, Vec<(String, String)>), StartError> {
        let words: Vec<String> = std::iter::once(self.python.to_string_lossy().into_owned())
            .chain(self.arguments(command, spec, workdir, extra)?)
            .map(|w| shell_quote(&w))
            .collect();
        let line = format!("cd {} && exec {}", shell_quote(&workdir.to_string_lossy()), words.join(" "));
        Ok((line, self.environment()))
    }

    /// `-m tunery_runtime <command> [extra] --spec SPEC --workdir DIR`, every path absolute (the
    /// runtime runs in its work directory, so a relative path would name another file).
    fn arguments(&self, command: &str, spec: &Path, workdir: &Path, extra: &[String]) -> Result<Vec<String>, StartError> {
        for path in [spec, workdir, &self.python, &self.runtime_dir] {
            if !path.is_absolute() {
                return Err(StartError::RelativePath(path.to_path_buf()));
            }
        }
        let mut args: Vec<String> = vec!["-m".into(), "tunery_runtime".into(), command.into()];
        args.extend(extra.iter().cloned());
        args.extend(["--spec".into(), spec.to_string_lossy().into_owned(), "--workdir".into(), workdir.to_string_lossy().into_owned()]);
        Ok(args)
    }

    /// The runtime's environment: its package on `PYTHONPATH`, unbuffered output, offline hub,
    /// then the configured extras (which may override those).
    fn environment(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("PYTHONPATH".to_string(), self.runtime_dir.to_string_lossy().into_owned()),
            ("PYTHONUNBUFFERED".into(), "1".into()),
            ("HF_HUB_OFFLINE".into(), "1".into()),
            ("TOKENIZERS_PARALLELISM".into(), "false".into()),
        ];
        env.extend(self.env.iter().cloned());
        env
    }
}

/// A word for `sh`: single-quoted unless it is plainly safe.
fn shell_quote(word: &str) -> String {
    if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@".contains(c)) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// Starts another program (a model server such as vLLM) in `workdir`, in its own process
/// group, with `env` added: every line it prints, on stdout or stderr, is a
/// [`Message::Output`], and the last ones make the crash report.
pub fn start_program(program: &Path, args: &[String], env: &[(String, String)], workdir: &Path) -> Result<Running, StartError> {
    for path in [program, workdir] {
        if !path.is_absolute() {
            return Err(StartError::RelativePath(path.to_path_buf()));
        }
    }
    if !program.is_file() {
        return Err(StartError::MissingProgram(program.to_path_buf()));
    }
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(workdir)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().map_err(|e| StartError::Spawn(program.to_path_buf(), e))?;
    Ok(follow(child, false))
}

/// Reads a child's output: stdout lines as events (`runtime`) or output lines, stderr lines
/// kept for the crash report.
fn follow(mut child: Child, runtime: bool) -> Running {
    let pid = child.id().unwrap_or(0);
    let (tx, rx) = mpsc::channel(1024);
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let tail = std::sync::Arc::new(std::sync::Mutex::new(crate::tail::Tail::default()));
    let out_tx = tx.clone();
    let out_tail = tail.clone();
    let out = tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.trim().is_empty() {
                continue;
            }
            let message = if runtime {
                match parse_event(&line) {
                    Ok(event) => Message::Event(event),
                    Err(e) => Message::BadLine { line, error: e.to_string() },
                }
            } else {
                keep_tail(&out_tail, &line);
                Message::Output(line)
            };
            if out_tx.send(message).await.is_err() {
                break;
            }
        }
    });
    let err_tail = tail.clone();
    let err = tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            keep_tail(&err_tail, &line);
            let message = if runtime { Message::Stderr(line) } else { Message::Output(line) };
            if tx.send(message).await.is_err() {
                break;
            }
        }
    });
    Running { pid, messages: rx, child, stderr_tail: tail, readers: vec![out, err] }
}

fn keep_tail(tail: &std::sync::Mutex<crate::tail::Tail>, line: &str) {
    tail.lock().expect("stderr tail lock").push(line);
}

/// Sends a signal to a process group; false when it no longer exists.
pub fn signal_group(pid: u32, signal: Signal) -> bool {
    i32::try_from(pid).ok().filter(|p| *p > 0).is_some_and(|p| killpg(Pid::from_raw(p), signal).is_ok())
}

/// Whether a process (left by an earlier server) is still alive and runs the given job: its
/// command line names the job's work directory.
pub fn orphan_alive(pid: u32, workdir: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let needle = workdir.to_string_lossy();
    String::from_utf8_lossy(&cmdline).split('\0').any(|arg| arg == needle)
}

/// Processes (left by an earlier server) whose command line names `workdir`: the runtime of a
/// job or import that used that work directory, found when no pid was recorded.
pub fn processes_in(workdir: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()).filter(|&pid| orphan_alive(pid, workdir)).collect()
}

/// Stops an orphaned runtime: SIGTERM (it checkpoints and exits), then SIGKILL after `grace`.
pub async fn stop_orphan(pid: u32, workdir: &Path, grace: Duration) {
    if !orphan_alive(pid, workdir) {
        return;
    }
    signal_group(pid, Signal::SIGTERM);
    let deadline = tokio::time::Instant::now() + grace;
    while orphan_alive(pid, workdir) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if orphan_alive(pid, workdir) {
        signal_group(pid, Signal::SIGKILL);
        while orphan_alive(pid, workdir) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Running {
    /// Asks the runtime to stop at the next step boundary (it saves a checkpoint first).
    pub fn terminate(&self) {
        signal_group(self.pid, Signal::SIGTERM);
    }

    /// Ends the process group at once.
    pub fn kill(&self) {
        signal_group(self.pid, Signal::SIGKILL);
    }

    /// Waits for the process to end and its output to be read.
    pub async fn wait(mut self) -> Exit {
        use std::os::unix::process::ExitStatusExt;
        let status = self.child.wait().await;
        for r in self.readers.drain(..) {
            let _ = r.await;
        }
        let stderr_tail = self.stderr_tail.lock().expect("stderr tail lock").joined();
        match status {
            Ok(s) => Exit { code: s.code(), signal: s.signal(), stderr_tail },
            Err(e) => Exit { code: None, signal: None, stderr_tail: format!("{stderr_tail}\nwaiting for the runtime failed: {e}") },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn relative_paths_are_refused_before_anything_starts() {
        let runtime_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../runtime");
        let command =
            RuntimeCommand { python: PathBuf::from("/bin/sh"), runtime_dir: std::path::absolute(runtime_dir).unwrap(), env: vec![] };
        let workdir = std::env::temp_dir();
        // The runtime runs in its work directory: a relative spec would name another file there.
        match command.start("train", Path::new(".tunery/work/job/spec.json"), &workdir) {
            Err(StartError::RelativePath(p)) => assert_eq!(p, Path::new(".tunery/work/job/spec.json")),
            other => panic!("expected a refusal, got {:?}", other.map(|r| r.pid)),
        }
        assert!(matches!(command.start("train", &workdir.join("spec.json"), Path::new("work")), Err(StartError::RelativePath(_))));
    }
}
