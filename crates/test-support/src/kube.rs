//! An HTTP server that answers as the Kubernetes API documents, for the Kubernetes executor's
//! tests (no real cluster can run on these machines): Jobs created, read and deleted in one
//! namespace (`ml`), pods listed by label, pod logs with `timestamps=true` and `sinceTime`,
//! refusals as `Status` objects, a bearer token checked on every call, no PyTorchJob API (no
//! training operator installed). Its log streams end at once, as a broken stream would, so
//! the executor must open them again.
//!
//! With a [`Kubelet`], a created Job's pod runs its container's command on this machine (the
//! image's `python` is the runtime's Python; its log is the process's output, timestamped), and
//! a deleted Job's pod gets SIGTERM, then SIGKILL after its grace period, before the Job and
//! its pod are gone (foreground deletion). Without one, the test sets the pods' states and logs.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The bearer token the server accepts.
pub const TOKEN: &str = "sa-token-1";

/// Runs pods' containers as processes on this machine.
#[derive(Debug, Clone)]
pub struct Kubelet {
    pub python: PathBuf,
    pub runtime_dir: PathBuf,
}

/// The cluster's objects.
#[derive(Default)]
pub struct Cluster {
    pub workloads: BTreeMap<String, Value>,
    pub pods: Vec<Pod>,
    /// The name and body of every DELETE of a Job, whether it existed or not.
    pub deletes: Vec<(String, Value)>,
    /// `POST <name>` and `DELETE <name>` of Jobs, in order.
    pub history: Vec<String>,
    pub log_reads: usize,
    kubelet: Option<Kubelet>,
}

/// A pod of a Job.
pub struct Pod {
    pub name: String,
    pub run: String,
    pub role: String,
    pub container: Container,
    /// (RFC 3339 time with nanoseconds, line).
    pub log: Vec<(String, String)>,
    pub deleting: bool,
    pid: Option<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Container {
    NotCreated,
    Running,
    Terminated(i32),
}

impl Pod {
    /// Appends a line to the log, stamped now.
    pub fn print(&mut self, line: &str) {
        self.log.push((now_rfc3339(), line.to_string()));
    }
}

impl Cluster {
    pub fn pod(&mut self, run: &str) -> &mut Pod {
        self.pods.iter_mut().find(|p| p.run == run).unwrap_or_else(|| panic!("no pod of {run}"))
    }
}

type Shared = Arc<Mutex<Cluster>>;

/// The server, at `url`.
pub struct KubeApi {
    pub url: String,
    cluster: Shared,
    dir: tempfile::TempDir,
}

impl KubeApi {
    pub async fn start(kubelet: Option<Kubelet>) -> KubeApi {
        let cluster: Shared = Arc::new(Mutex::new(Cluster { kubelet, ..Cluster::default() }));
        let app = axum::Router::new().fallback(api).with_state(cluster.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port for the Kubernetes API");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        tokio::spawn(async move { axum::serve(listener, app).await.expect("the Kubernetes API serves") });
        let dir = tempfile::tempdir().expect("a folder for the token");
        std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).expect("the token file");
        KubeApi { url, cluster, dir }
    }

    /// The service account's token file (rewrite it to rotate the token).
    pub fn token_file(&self) -> PathBuf {
        self.dir.path().join("token")
    }

    pub fn cluster(&self) -> MutexGuard<'_, Cluster> {
        self.cluster.lock().expect("the fake cluster")
    }
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body =
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": message, "code": code.as_u16()});
    (code, axum::Json(body)).into_response()
}

fn query(uri: &Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%2F", "/").replace("%3D", "=")))
        .collect()
}

async fn api(State(shared): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if headers.get("authorization").and_then(|h| h.to_str().ok()) != Some(&format!("Bearer {TOKEN}")) {
        return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    }
    let path: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    let mut c = shared.lock().expect("the fake cluster");
    match (method.as_str(), path.as_slice()) {
        ("GET", ["apis", "batch", "v1", "namespaces", "ml", "jobs"]) => axum::Json(json!({"kind": "JobList", "items": []})).into_response(),
        ("POST", ["apis", "batch", "v1", "namespaces", "ml", "jobs"]) => {
            let job: Value = match serde_json::from_slice(&body) {
                Ok(job) => job,
                Err(e) => return status(StatusCode::BAD_REQUEST, "BadRequest", &e.to_string()),
            };
            let name = job["metadata"]["name"].as_str().unwrap_or_default().to_string();
            c.history.push(format!("POST {name}"));
            if c.workloads.contains_key(&name) {
                return status(StatusCode::CONFLICT, "AlreadyExists", &format!("jobs.batch \"{name}\" already exists"));
            }
            let role = job["spec"]["template"]["metadata"]["labels"]["tunery.io/role"].as_str().unwrap_or("single").to_string();
            let pod = Pod {
                name: format!("{name}-x7k2p"),
                run: name.clone(),
                role,
                container: Container::NotCreated,
                log: vec![],
                deleting: false,
                pid: None,
            };
            c.pods.push(pod);
            c.workloads.insert(name.clone(), job.clone());
            if let Some(kubelet) = c.kubelet.clone() {
                drop(c);
                run_pod(shared.clone(), kubelet, name, &job["spec"]["template"]["spec"]);
            }
            (StatusCode::CREATED, axum::Json(job)).into_response()
        }
        ("GET", ["apis", "batch", "v1", "namespaces", "ml", "jobs", name]) => match c.workloads.get(*name) {
            Some(job) => axum::Json(job.clone()).into_response(),
            None => status(StatusCode::NOT_FOUND, "NotFound", &format!("jobs.batch \"{name}\" not found")),
        },
        ("DELETE", ["apis", "batch", "v1", "namespaces", "ml", "jobs", name]) => {
            let name = name.to_string();
            c.deletes.push((name.clone(), serde_json::from_slice(&body).unwrap_or(Value::Null)));
            c.history.push(format!("DELETE {name}"));
            let Some(job) = c.workloads.get(&name).cloned() else { return status(StatusCode::NOT_FOUND, "NotFound", "not found") };
            let grace = job["spec"]["template"]["spec"]["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
            let pids: Vec<i32> = c
                .pods
                .iter_mut()
                .filter(|p| p.run == name)
                .filter_map(|p| {
                    p.deleting = true;
                    p.pid.filter(|_| p.container == Container::Running)
                })
                .collect();
            if pids.is_empty() {
                c.pods.retain(|p| p.run != name);
                c.workloads.remove(&name);
            } else {
                tokio::spawn(stop_pods(shared.clone(), name, pids, Duration::from_secs(grace)));
            }
            axum::Json(json!({"kind": "Status", "status": "Success"})).into_response()
        }
        ("DELETE", ["api", "v1", "namespaces", "ml", "pods"]) => {
            // Force deletion of a run's pods (gracePeriodSeconds 0): SIGKILL, and gone.
            let selector = query(&uri).get("labelSelector").cloned().unwrap_or_default();
            let Some(run) = selector.strip_prefix("tunery.io/run=").map(str::to_string) else {
                return status(StatusCode::BAD_REQUEST, "BadRequest", "pods are deleted by tunery.io/run");
            };
            for pid in c.pods.iter().filter(|p| p.run == run).filter_map(|p| p.pid) {
                let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            c.pods.retain(|p| p.run != run);
            axum::Json(json!({"kind": "PodList", "items": []})).into_response()
        }
        (_, ["apis", "kubeflow.org", ..]) => status(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource"),
        ("GET", ["api", "v1", "namespaces", "ml", "pods"]) => {
            // Every pod, or a run's by its label.
            let selector = query(&uri).get("labelSelector").cloned();
            let run = match selector.as_deref().map(|s| s.strip_prefix("tunery.io/run=")) {
                None => None,
                Some(Some(run)) => Some(run.to_string()),
                Some(None) => return status(StatusCode::BAD_REQUEST, "BadRequest", "pods are selected by tunery.io/run"),
            };
            let items: Vec<Value> = c.pods.iter().filter(|p| run.as_ref().is_none_or(|r| &p.run == r)).map(pod_json).collect();
            axum::Json(json!({"kind": "PodList", "items": items})).into_response()
        }
        ("GET", ["api", "v1", "namespaces", "ml", "pods", name, "log"]) => {
            let q = query(&uri);
            if q.get("container").map(String::as_str) != Some("pytorch") || q.get("timestamps").map(String::as_str) != Some("true") {
                return status(StatusCode::BAD_REQUEST, "BadRequest", "the executor reads container pytorch with timestamps");
            }
            c.log_reads += 1;
            let Some(pod) = c.pods.iter().find(|p| p.name == *name) else { return status(StatusCode::NOT_FOUND, "NotFound", "no pod") };
            // sinceTime has whole seconds: every line of that second or later is sent.
            let since = q.get("sinceTime").map(|s| s[..s.len().min(19)].to_string()).unwrap_or_default();
            let text: String = pod.log.iter().filter(|(ts, _)| ts[..19] >= *since).map(|(ts, l)| format!("{ts} {l}\n")).collect();
            text.into_response()
        }
        _ => status(StatusCode::NOT_FOUND, "NotFound", &format!("{method} {uri}")),
    }
}

fn pod_json(p: &Pod) -> Value {
    let container = match p.container {
        Container::NotCreated => json!([]),
        Container::Running => json!([{"name": "pytorch", "state": {"running": {"startedAt": "2026-12-06T10:00:00Z"}}}]),
        Container::Terminated(code) => {
            json!([{"name": "pytorch", "state": {"terminated": {"exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" }}}}])
        }
    };
    let mut metadata = json!({"name": p.name, "labels": {"tunery.io/run": p.run, "tunery.io/role": p.role}});
    if p.deleting {
        metadata["deletionTimestamp"] = json!("2026-12-06T10:00:00Z");
    }
    json!({"metadata": metadata, "status": {"containerStatuses": container}})
}

/// Starts a Job's pod: its container's command as a process (`python` is the runtime's), in
/// its working directory, with its environment; output lines become its log.
fn run_pod(shared: Shared, kubelet: Kubelet, run: String, spec: &Value) {
    let container = &spec["containers"][0];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let command = text(&container["command"][0]);
    let args: Vec<String> = container["args"].as_array().map(|a| a.iter().map(text).collect()).unwrap_or_default();
    let mut cmd = tokio::process::Command::new(if command == "python" { kubelet.python.clone() } else { PathBuf::from(&command) });
    cmd.args(&args).current_dir(Path::new(&text(&container["workingDir"]))).env("PYTHONPATH", &kubelet.runtime_dir);
    for e in container["env"].as_array().into_iter().flatten() {
        cmd.env(text(&e["name"]), text(&e["value"]));
    }
    cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).process_group(0);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            let mut c = shared.lock().expect("the fake cluster");
            let pod = c.pod(&run);
            pod.print(&format!("exec {command}: {e}"));
            pod.container = Container::Terminated(127);
            return;
        }
    };
    {
        let mut c = shared.lock().expect("the fake cluster");
        let pod = c.pod(&run);
        pod.pid = child.id().map(|p| p as i32);
        pod.container = Container::Running;
    }
    let readers: Vec<_> = [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child.stderr.take().map(|s| Box::new(s) as _),
    ]
    .into_iter()
    .flatten()
    .map(|stream| {
        let (shared, run) = (shared.clone(), run.clone());
        tokio::spawn(async move {
            use tokio::io::AsyncBufReadExt;
            let mut lines = tokio::io::BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut c = shared.lock().expect("the fake cluster");
                if let Some(pod) = c.pods.iter_mut().find(|p| p.run == run) {
                    pod.print(&line);
                }
            }
        })
    })
    .collect();
    tokio::spawn(async move {
        let status = child.wait().await;
        for r in readers {
            let _ = r.await;
        }
        let code = match status {
            Ok(s) => s.code().unwrap_or_else(|| 128 + std::os::unix::process::ExitStatusExt::signal(&s).unwrap_or(0)),
            Err(_) => 255,
        };
        let mut c = shared.lock().expect("the fake cluster");
        if let Some(pod) = c.pods.iter_mut().find(|p| p.run == run) {
            pod.container = Container::Terminated(code);
        }
    });
}

/// Foreground deletion: SIGTERM to each pod's processes, SIGKILL after the grace period; then
/// the pods and the Job are gone.
async fn stop_pods(shared: Shared, run: String, pids: Vec<i32>, grace: Duration) {
    use nix::sys::signal::{killpg, Signal};
    use nix::unistd::Pid;
    for pid in &pids {
        let _ = killpg(Pid::from_raw(*pid), Signal::SIGTERM);
    }
    let deadline = tokio::time::Instant::now() + grace;
    loop {
        let running = shared.lock().expect("the fake cluster").pods.iter().any(|p| p.run == run && p.container == Container::Running);
        if !running {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            for pid in &pids {
                let _ = killpg(Pid::from_raw(*pid), Signal::SIGKILL);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut c = shared.lock().expect("the fake cluster");
    c.pods.retain(|p| p.run != run);
    c.workloads.remove(&run);
}

/// Now as Kubernetes stamps log lines: RFC 3339 in UTC with nine fractional digits.
fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970");
    let (days, secs) = ((now.as_secs() / 86_400) as i64, now.as_secs() % 86_400);
    let (y, m, d) = domain::calendar::civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z", secs / 3600, secs / 60 % 60, secs % 60, now.subsec_nanos())
}
