//! The Kubernetes executor's whole path — access check, create, follow the main pod's log to
//! its exit, stop — against an HTTP server that answers as the Kubernetes API documents
//! (`Status` refusals, `AlreadyExists`, conditions, container states, `timestamps=true` logs
//! and `sinceTime`). Its log streams end early, so every stream is opened again and each line
//! must still arrive once. No real cluster can run on these machines (see the module's docs).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use executors::kubernetes::{KubeCluster, KubeConnection, WorkloadKind};
use executors::Message;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "sa-token-1";

#[derive(Default)]
struct Api {
    workloads: BTreeMap<String, Value>,
    pods: Vec<Pod>,
    deletes: Vec<Value>,
    log_reads: usize,
}

struct Pod {
    name: String,
    run: String,
    role: String,
    /// None: not created; Some(None): running; Some(Some(code)): terminated.
    state: Option<Option<i32>>,
    log: Vec<(String, String)>,
}

type Shared = Arc<Mutex<Api>>;

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    (
        code,
        axum::Json(
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": message, "code": code.as_u16()}),
        ),
    )
        .into_response()
}

fn query(uri: &Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%2F", "/").replace("%3D", "=")))
        .collect()
}

async fn api(State(api): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if headers.get("authorization").and_then(|h| h.to_str().ok()) != Some(&format!("Bearer {TOKEN}")) {
        return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    }
    let path: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    let mut api = api.lock().unwrap();
    match (method.as_str(), path.as_slice()) {
        ("GET", ["apis", "batch", "v1", "namespaces", "ml", "jobs"]) => axum::Json(json!({"kind": "JobList", "items": []})).into_response(),
        ("POST", ["apis", "batch", "v1", "namespaces", "ml", "jobs"]) => {
            let job: Value = serde_json::from_slice(&body).unwrap();
            let name = job["metadata"]["name"].as_str().unwrap().to_string();
            if api.workloads.contains_key(&name) {
                return status(StatusCode::CONFLICT, "AlreadyExists", &format!("jobs.batch \"{name}\" already exists"));
            }
            let role = job["spec"]["template"]["metadata"]["labels"]["tunery.io/role"].as_str().unwrap().to_string();
            api.pods.push(Pod { name: format!("{name}-x7k2p"), run: name.clone(), role, state: None, log: vec![] });
            api.workloads.insert(name, job.clone());
            (StatusCode::CREATED, axum::Json(job)).into_response()
        }
        ("GET", ["apis", "batch", "v1", "namespaces", "ml", "jobs", name]) => match api.workloads.get(*name) {
            Some(job) => axum::Json(job.clone()).into_response(),
            None => status(StatusCode::NOT_FOUND, "NotFound", &format!("jobs.batch \"{name}\" not found")),
        },
        ("DELETE", ["apis", "batch", "v1", "namespaces", "ml", "jobs", name]) => {
            api.deletes.push(serde_json::from_slice(&body).unwrap_or(Value::Null));
            // The pods end without a final status being seen (deleted with the workload).
            let name = name.to_string();
            api.pods.retain(|p| p.run != name);
            match api.workloads.remove(&name) {
                Some(_) => axum::Json(json!({"kind": "Status", "status": "Success"})).into_response(),
                None => status(StatusCode::NOT_FOUND, "NotFound", "not found"),
            }
        }
        (_, ["apis", "kubeflow.org", ..]) => status(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource"),
        ("GET", ["api", "v1", "namespaces", "ml", "pods"]) => {
            let selector = query(&uri).get("labelSelector").cloned().unwrap_or_default();
            let run = selector.strip_prefix("tunery.io/run=").expect("pods are selected by run");
            let items: Vec<Value> = api.pods.iter().filter(|p| p.run == run).map(pod_json).collect();
            axum::Json(json!({"kind": "PodList", "items": items})).into_response()
        }
        ("GET", ["api", "v1", "namespaces", "ml", "pods", name, "log"]) => {
            let q = query(&uri);
            assert_eq!(q.get("container").map(String::as_str), Some("train"));
            assert_eq!(q.get("timestamps").map(String::as_str), Some("true"));
            api.log_reads += 1;
            let Some(pod) = api.pods.iter().find(|p| p.name == *name) else { return status(StatusCode::NOT_FOUND, "NotFound", "no pod") };
            let since = q.get("sinceTime").cloned().unwrap_or_default();
            // sinceTime has whole seconds: a line of that second or later is sent again.
            let text: String =
                pod.log.iter().filter(|(ts, _)| ts[..19] >= since[..since.len().min(19)]).map(|(ts, l)| format!("{ts} {l}\n")).collect();
            text.into_response()
        }
        _ => status(StatusCode::NOT_FOUND, "NotFound", &format!("{method} {uri}")),
    }
}

fn pod_json(p: &Pod) -> Value {
    let container = match p.state {
        None => json!([]),
        Some(None) => json!([{"name": "train", "state": {"running": {"startedAt": "2026-12-06T10:00:00Z"}}}]),
        Some(Some(code)) => {
            json!([{"name": "train", "state": {"terminated": {"exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" }}}}])
        }
    };
    json!({"metadata": {"name": p.name, "labels": {"tunery.io/run": p.run, "tunery.io/role": p.role}}, "status": {"containerStatuses": container}})
}

async fn serve() -> (Shared, String, tempfile::TempDir) {
    let shared: Shared = Arc::default();
    let app = axum::Router::new().fallback(api).with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
    (shared, url, dir)
}

fn cluster(url: &str, dir: &tempfile::TempDir) -> KubeCluster {
    KubeCluster::new(&KubeConnection {
        api_server: url.into(),
        token_file: Some(dir.path().join("token")),
        ca_file: None,
        namespace: "ml".into(),
    })
    .unwrap()
}

fn job(name: &str) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "ml"},
           "spec": {"template": {"metadata": {"labels": {"tunery.io/run": name, "tunery.io/role": "single"}}}}})
}

fn pod<'a>(api: &'a mut Api, run: &str) -> &'a mut Pod {
    api.pods.iter_mut().find(|p| p.run == run).unwrap()
}

async fn next_lines(messages: &mut tokio::sync::mpsc::Receiver<Message>, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.recv()).await.expect("a message in time").expect("open");
        got.push(match m {
            Message::Event(e) => format!("event:{}", e.raw["message"].as_str().unwrap_or_default()),
            Message::Stderr(l) => l,
            other => panic!("unexpected {other:?}"),
        });
    }
    got
}

#[tokio::test]
async fn a_run_is_created_followed_line_by_line_through_broken_streams_and_ends_with_its_exit_code() {
    let (api, url, dir) = serve().await;
    let k = cluster(&url, &dir);
    k.check_access().await.unwrap();
    std::fs::write(dir.path().join("token"), "rotated-wrong").unwrap();
    let refused = k.check_access().await.unwrap_err().to_string();
    assert!(refused.contains("refused GET /apis/batch/v1/namespaces/ml/jobs (401): Unauthorized"), "{refused}");
    // The token is read again at every call (Kubernetes rotates it).
    std::fs::write(dir.path().join("token"), TOKEN).unwrap();

    k.create(WorkloadKind::Job, &job("tunery-run-1")).await.unwrap();
    k.create(WorkloadKind::Job, &job("tunery-run-1")).await.expect("an existing workload (a lost answer) is taken as created");
    let mut run = k.follow(WorkloadKind::Job, "tunery-run-1".into(), Duration::from_millis(50));
    {
        let mut a = api.lock().unwrap();
        let p = pod(&mut a, "tunery-run-1");
        p.state = Some(None);
        p.log.push(("2026-12-06T10:00:00.100000000Z".into(), r#"{"event":"log","time":1,"level":"info","message":"loading"}"#.into()));
        p.log.push(("2026-12-06T10:00:00.2Z".into(), "warming up".into()));
    }
    assert_eq!(next_lines(&mut run.messages, 2).await, ["event:loading", "warming up"]);
    {
        let mut a = api.lock().unwrap();
        let p = pod(&mut a, "tunery-run-1");
        p.log.push(("2026-12-06T10:00:00.2Z".into(), "same instant".into()));
        p.log.push(("2026-12-06T10:00:01.000000001Z".into(), "step 1".into()));
    }
    assert_eq!(next_lines(&mut run.messages, 2).await, ["same instant", "step 1"]);
    {
        let mut a = api.lock().unwrap();
        let p = pod(&mut a, "tunery-run-1");
        p.log.push(("2026-12-06T10:00:02Z".into(), "done".into()));
        p.state = Some(Some(0));
    }
    assert_eq!(next_lines(&mut run.messages, 1).await, ["done"]);
    let exit = tokio::time::timeout(Duration::from_secs(10), run.wait()).await.unwrap();
    assert_eq!(exit.code, Some(0), "{exit:?}");
    assert!(exit.stderr_tail.ends_with("warming up\nsame instant\nstep 1\ndone"), "each line once: {}", exit.stderr_tail);
    assert!(api.lock().unwrap().log_reads >= 3, "the streams that ended were opened again");
}

#[tokio::test]
async fn a_stopped_run_is_deleted_in_the_foreground_and_reads_as_stopped() {
    let (api, url, dir) = serve().await;
    let k = cluster(&url, &dir);
    k.create(WorkloadKind::Job, &job("tunery-run-2")).await.unwrap();
    let mut run = k.follow(WorkloadKind::Job, "tunery-run-2".into(), Duration::from_millis(50));
    {
        let mut a = api.lock().unwrap();
        let p = pod(&mut a, "tunery-run-2");
        p.state = Some(None);
        p.log.push(("2026-12-06T10:00:00Z".into(), "training".into()));
    }
    assert_eq!(next_lines(&mut run.messages, 1).await, ["training"]);
    run.terminate();
    let exit = tokio::time::timeout(Duration::from_secs(10), run.wait()).await.unwrap();
    assert_eq!(exit.code, Some(executors::protocol::EXIT_STOPPED), "{exit:?}");
    let deletes = api.lock().unwrap().deletes.clone();
    assert_eq!(deletes, [json!({"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Foreground"})]);
    // Nothing is left to stop again.
    k.stop_and_wait(WorkloadKind::Job, "tunery-run-2", Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn a_cluster_without_the_training_operator_refuses_a_pytorchjob_naming_it() {
    let (_api, url, dir) = serve().await;
    let k = cluster(&url, &dir);
    let e = k.create(WorkloadKind::PyTorchJob, &json!({"kind": "PyTorchJob"})).await.unwrap_err().to_string();
    assert!(e.contains("no PyTorchJob API (for a PyTorchJob, install the Kubeflow training operator)"), "{e}");
    let gone = k.follow(WorkloadKind::Job, "tunery-run-missing".into(), Duration::from_millis(50)).wait().await;
    assert!(gone.code.is_none() && gone.stderr_tail.ends_with("the workload tunery-run-missing is gone from Kubernetes"), "{gone:?}");
}
