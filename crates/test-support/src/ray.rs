//! A real Ray head on loopback for the Ray executor's tests: `ray start --head --block` from
//! the environment `scripts/ray/requirements.txt` makes (`TUNERY_RAY_PYTHON`), in its own
//! process group and temporary folder, stopped with everything it started when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Python of the Ray environment (`scripts/cached-venv.sh ray scripts/ray/requirements.txt`,
/// exported by `scripts/test.sh` as `TUNERY_RAY_PYTHON`): required under `CI=true`, else `None`
/// with a note.
pub fn ray_python() -> Option<PathBuf> {
    crate::environment_python("TUNERY_RAY_PYTHON", "Ray", "scripts/cached-venv.sh ray scripts/ray/requirements.txt")
}

/// A running Ray head; its dashboard (the Jobs REST API) at `address`.
pub struct RayHead {
    child: Child,
    pub address: String,
    dir: tempfile::TempDir,
}

impl RayHead {
    /// Starts a head offering `cpus` CPUs and no GPUs, and waits (up to 3 minutes) until its Jobs
    /// API answers.
    pub fn start(python: &Path, cpus: u32) -> RayHead {
        // Ray's socket paths must stay short: a folder directly under /tmp.
        let dir = tempfile::Builder::new().prefix("ray-").tempdir_in("/tmp").expect("a temporary folder for Ray");
        let port = free_port();
        let ray = python.parent().expect("the environment's bin folder").join("ray");
        let log = std::fs::File::create(dir.path().join("head.log")).expect("Ray's log file");
        let mut command = Command::new(&ray);
        command
            .args(["start", "--head", "--block", "--disable-usage-stats", "--include-dashboard", "true"])
            .args(["--port", "0", "--dashboard-host", "127.0.0.1", "--dashboard-port", &port.to_string()])
            .args(["--num-cpus", &cpus.to_string(), "--num-gpus", "0", "--object-store-memory", "100000000"])
            .args(["--dashboard-agent-listen-port", "0", "--dashboard-agent-grpc-port", "0", "--metrics-export-port", "0"])
            .args(["--runtime-env-agent-port", "0", "--min-worker-port", "0", "--max-worker-port", "0"])
            .arg("--temp-dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("Ray's log file"))
            .stderr(log);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().unwrap_or_else(|e| panic!("could not start {}: {e}", ray.display()));
        let mut head = RayHead { child, address: format!("http://127.0.0.1:{port}"), dir };
        let deadline = Instant::now() + Duration::from_secs(180);
        while !head.answers() {
            if let Ok(Some(status)) = head.child.try_wait() {
                panic!("the Ray head exited ({status}):\n{}", head.log());
            }
            assert!(Instant::now() < deadline, "the Ray head did not answer within 3 minutes:\n{}", head.log());
            std::thread::sleep(Duration::from_millis(500));
        }
        head
    }

    /// The Jobs API answers and the head node is registered.
    fn answers(&self) -> bool {
        let port = self.address.rsplit(':').next().expect("a port");
        http_get(port, "/api/v0/nodes").is_some_and(|body| body.contains("\"ALIVE\""))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("head.log")).unwrap_or_default()
    }
}

impl Drop for RayHead {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
        // Ray's processes that left the group (workers in their own sessions) name the head's
        // folder on their command lines.
        let _ = Command::new("pkill").arg("-KILL").arg("-f").arg(self.dir.path()).status();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// The body of `GET path` on 127.0.0.1:`port` when it answers 200.
fn http_get(port: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    (answer.split(' ').nth(1) == Some("200")).then(|| answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}
