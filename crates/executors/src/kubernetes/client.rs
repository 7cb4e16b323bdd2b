//! The Kubernetes API, as the executor uses it: create a run's workload, read its state and its
//! pods, stream a pod's log, delete the workload (its pods get SIGTERM and their grace period).
//! Plain REST over HTTPS with the service account's bearer token (read again at every call, as
//! Kubernetes rotates it), trusting the system's roots and the cluster's CA; `http://` for a
//! `kubectl proxy` beside the server.

use super::manifests::{WorkloadKind, RUN_LABEL};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Where the Kubernetes API is and who the server is there.
#[derive(Debug, Clone, PartialEq)]
pub struct KubeConnection {
    /// `https://kubernetes.default.svc` inside a cluster.
    pub api_server: String,
    /// A bearer token's file (the service account's); None: no authentication (`kubectl proxy`).
    pub token_file: Option<PathBuf>,
    /// The PEM file of the CA that signed the API server's certificate, trusted beside the
    /// system's roots.
    pub ca_file: Option<PathBuf>,
    pub namespace: String,
}

/// The API server, and the service account's files, inside a pod.
pub const IN_CLUSTER_API: &str = "https://kubernetes.default.svc";
pub const IN_CLUSTER_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
pub const IN_CLUSTER_CA: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

/// What went wrong talking to Kubernetes.
pub type KubeError = crate::remote::RemoteError;

/// How the Kubernetes API is named in errors.
pub(super) const SERVICE: &str = "the Kubernetes API";

/// A workload's state, from its conditions.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkloadState {
    /// Held until Kueue admits it.
    Suspended,
    Active,
    Succeeded,
    Failed {
        reason: String,
        message: String,
    },
}

/// The runtime's container in a pod.
#[derive(Debug, Clone, PartialEq)]
pub enum ContainerState {
    /// Not created yet (the pod is being scheduled).
    NotCreated,
    Waiting {
        reason: String,
        message: String,
    },
    Running,
    Terminated {
        exit_code: i32,
        signal: Option<i32>,
        reason: String,
    },
}

/// A pod of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct PodState {
    pub name: String,
    /// `single`, `master` or `worker`.
    pub role: String,
    pub container: ContainerState,
    /// Why the scheduler has not placed it (`PodScheduled` false), if so.
    pub unschedulable: Option<String>,
    /// Deletion has begun (a stop).
    pub deleting: bool,
}

/// How long a log stream may stay silent before it is opened again.
const STREAM_SILENCE: Duration = Duration::from_secs(120);

/// A namespace of a Kubernetes cluster.
#[derive(Debug, Clone)]
pub struct KubeCluster {
    base: String,
    namespace: String,
    token_file: Option<PathBuf>,
    http: reqwest::Client,
    /// For log streams, which stay open as long as the container runs.
    streaming: reqwest::Client,
}

impl KubeConnection {
    /// The API server's URL without a trailing slash; one that is not http(s) is refused.
    pub fn base_url(&self) -> Result<String, KubeError> {
        crate::remote::base_url(SERVICE, &self.api_server)
    }
}

impl KubeCluster {
    pub fn new(c: &KubeConnection) -> Result<KubeCluster, KubeError> {
        let base = c.base_url()?;
        let file = |what, path: &PathBuf, error: String| KubeError::File { what, path: path.clone(), error };
        let mut ca = None;
        if let Some(path) = &c.ca_file {
            let pem = std::fs::read(path).map_err(|e| file("Kubernetes CA", path, e.to_string()))?;
            ca = Some(reqwest::Certificate::from_pem(&pem).map_err(|e| file("Kubernetes CA", path, e.to_string()))?);
        }
        if let Some(path) = &c.token_file {
            std::fs::metadata(path).map_err(|e| file("Kubernetes token", path, e.to_string()))?;
        }
        let client = |timeout: Option<Duration>| {
            let mut b = reqwest::Client::builder().connect_timeout(Duration::from_secs(5));
            b = match timeout {
                Some(t) => b.timeout(t),
                // A stream that has said nothing this long is opened again (a connection that
                // died silently would otherwise hold the run's events back).
                None => b.read_timeout(STREAM_SILENCE),
            };
            if let Some(ca) = &ca {
                b = b.add_root_certificate(ca.clone());
            }
            b.build().map_err(|e| KubeError::Unreachable {
                service: SERVICE,
                address: base.clone(),
                what: "(client setup)".into(),
                error: e.to_string(),
            })
        };
        Ok(KubeCluster {
            http: client(Some(Duration::from_secs(30)))?,
            streaming: client(None)?,
            base: base.clone(),
            namespace: c.namespace.clone(),
            token_file: c.token_file.clone(),
        })
    }

    pub fn address(&self) -> &str {
        &self.base
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn request(&self, client: &reqwest::Client, method: reqwest::Method, path: &str) -> Result<reqwest::RequestBuilder, KubeError> {
        let mut request = client.request(method, format!("{}{path}", self.base));
        if let Some(path) = &self.token_file {
            let token = std::fs::read_to_string(path).map_err(|e| KubeError::File {
                what: "Kubernetes token",
                path: path.clone(),
                error: e.to_string(),
            })?;
            request = request.bearer_auth(token.trim());
        }
        Ok(request)
    }

    /// One call; a 404 is None.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Option<Value>, KubeError> {
        let what = format!("{method} {}", path.split('?').next().unwrap_or(path));
        let mut request = self.request(&self.http, method, path)?;
        if let Some(body) = body {
            request = request.json(body);
        }
        crate::remote::read_json(SERVICE, &self.base, what, request).await
    }

    fn bad(&self, what: &str, error: impl std::fmt::Display) -> KubeError {
        KubeError::BadAnswer { service: SERVICE, address: self.base.clone(), what: what.into(), error: error.to_string() }
    }

    fn collection(&self, kind: WorkloadKind) -> String {
        let (group, resource) = kind.resource();
        format!("{group}/namespaces/{}/{resource}", self.namespace)
    }

    /// Checks that the server may list Jobs and pods in the namespace (at start: a cluster that
    /// does not answer, or refuses, stops the server from starting).
    pub async fn check_access(&self) -> Result<(), KubeError> {
        let pods = format!("/api/v1/namespaces/{}/pods?limit=1", self.namespace);
        for path in [format!("{}?limit=1", self.collection(WorkloadKind::Job)), pods] {
            self.call(reqwest::Method::GET, &path, None).await?.ok_or_else(|| {
                self.bad(&format!("GET {path}"), format!("404: namespace '{}' or its API does not exist", self.namespace))
            })?;
        }
        Ok(())
    }

    /// Creates a workload; one that already exists (an answer lost on its way back) is taken
    /// as created.
    pub async fn create(&self, kind: WorkloadKind, manifest: &Value) -> Result<(), KubeError> {
        match self.call(reqwest::Method::POST, &self.collection(kind), Some(manifest)).await {
            Err(KubeError::Refused { status: 409, .. }) => Ok(()),
            Err(e) => Err(e),
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(self.bad(
                &format!("POST {}", self.collection(kind)),
                format!("404: the cluster has no {} API (for a PyTorchJob, install the Kubeflow training operator)", kind.name()),
            )),
        }
    }

    /// A workload's state; None when it does not exist.
    pub async fn workload(&self, kind: WorkloadKind, name: &str) -> Result<Option<WorkloadState>, KubeError> {
        let Some(w) = self.call(reqwest::Method::GET, &format!("{}/{name}", self.collection(kind)), None).await? else { return Ok(None) };
        Ok(Some(workload_state(&w)))
    }

    /// Deletes a workload and, after it, its pods (each gets SIGTERM, then its grace period);
    /// false when it did not exist.
    pub async fn delete(&self, kind: WorkloadKind, name: &str) -> Result<bool, KubeError> {
        let options = serde_json::json!({"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Foreground"});
        let answer = self.call(reqwest::Method::DELETE, &format!("{}/{name}", self.collection(kind)), Some(&options)).await?;
        Ok(answer.is_some())
    }

    /// Removes a run's pods at once (no grace period): a stop whose grace is over, or whose
    /// pods sit on a node that no longer answers.
    pub async fn force_delete_pods(&self, workload: &str) -> Result<(), KubeError> {
        let options = serde_json::json!({"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0});
        self.call(reqwest::Method::DELETE, &self.pods_of(workload), Some(&options)).await.map(|_| ())
    }

    fn pods_of(&self, workload: &str) -> String {
        format!("/api/v1/namespaces/{}/pods?labelSelector={}%3D{workload}", self.namespace, RUN_LABEL.replace('/', "%2F"))
    }

    /// The pods of a run's workload.
    pub async fn pods(&self, workload: &str) -> Result<Vec<PodState>, KubeError> {
        let path = self.pods_of(workload);
        let what = format!("GET /api/v1/namespaces/{}/pods", self.namespace);
        let list = self.call(reqwest::Method::GET, &path, None).await?.ok_or_else(|| self.bad(&what, "404"))?;
        let items = list["items"].as_array().ok_or_else(|| self.bad(&what, "no items list"))?;
        items.iter().map(|p| pod_state(p).ok_or_else(|| self.bad(&what, "a pod without metadata.name"))).collect()
    }

    /// A pod's log: the runtime container's output with Kubernetes' timestamps, from `since`
    /// (RFC 3339, whole seconds) on; `follow` keeps it open until the container ends.
    pub(crate) async fn log(&self, pod: &str, since: Option<&str>, follow: bool) -> Result<reqwest::Response, KubeError> {
        let mut path = format!("/api/v1/namespaces/{}/pods/{pod}/log?container={}&timestamps=true", self.namespace, super::CONTAINER);
        if follow {
            path.push_str("&follow=true");
        }
        if let Some(since) = since {
            path.push_str(&format!("&sinceTime={since}"));
        }
        let what = format!("GET /api/v1/namespaces/{}/pods/{pod}/log", self.namespace);
        let client = if follow { &self.streaming } else { &self.http };
        let response = self.request(client, reqwest::Method::GET, &path)?.send().await.map_err(|e| KubeError::Unreachable {
            service: SERVICE,
            address: self.base.clone(),
            what: what.clone(),
            error: e.to_string(),
        })?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            return Err(crate::remote::refused(SERVICE, &self.base, what, status, &body));
        }
        Ok(response)
    }

    /// Deletes a workload left by an earlier run or server and waits until it and its pods are
    /// gone, up to `grace` plus a margin.
    pub async fn stop_and_wait(&self, kind: WorkloadKind, name: &str, grace: Duration) -> Result<(), KubeError> {
        if !self.delete(kind, name).await? && self.pods(name).await?.is_empty() {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + grace + Duration::from_secs(30);
        while tokio::time::Instant::now() < deadline {
            if self.workload(kind, name).await?.is_none() && self.pods(name).await?.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Err(self.bad(&format!("DELETE {}/{name}", self.collection(kind)), "the workload's pods were still there after the grace period"))
    }
}

/// A Job's or PyTorchJob's state from its conditions (`Complete` or `Succeeded`, `Failed`) and
/// whether it is suspended.
fn workload_state(w: &Value) -> WorkloadState {
    let conditions = w["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let holds = |kind: &str| conditions.iter().find(|c| c["type"] == kind && c["status"] == "True");
    if holds("Complete").or_else(|| holds("Succeeded")).is_some() {
        return WorkloadState::Succeeded;
    }
    if let Some(c) = holds("Failed") {
        let text = |k: &str| c[k].as_str().unwrap_or_default().to_string();
        return WorkloadState::Failed { reason: text("reason"), message: text("message") };
    }
    if w["spec"]["suspend"] == true || w["spec"]["runPolicy"]["suspend"] == true {
        return WorkloadState::Suspended;
    }
    WorkloadState::Active
}

fn pod_state(p: &Value) -> Option<PodState> {
    let name = p["metadata"]["name"].as_str()?.to_string();
    let role = p["metadata"]["labels"][super::ROLE_LABEL].as_str().unwrap_or("single").to_string();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let status = p["status"]["containerStatuses"].as_array().and_then(|s| s.iter().find(|c| c["name"] == super::CONTAINER));
    let container = match status.map(|s| &s["state"]) {
        Some(state) if state["terminated"].is_object() => {
            let t = &state["terminated"];
            ContainerState::Terminated {
                exit_code: t["exitCode"].as_i64().and_then(|c| i32::try_from(c).ok()).unwrap_or(-1),
                signal: t["signal"].as_i64().and_then(|c| i32::try_from(c).ok()),
                reason: text(&t["reason"]),
            }
        }
        Some(state) if state["running"].is_object() => ContainerState::Running,
        Some(state) if state["waiting"].is_object() => {
            ContainerState::Waiting { reason: text(&state["waiting"]["reason"]), message: text(&state["waiting"]["message"]) }
        }
        _ => ContainerState::NotCreated,
    };
    let unschedulable = p["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "PodScheduled" && c["status"] == "False"))
        .map(|c| format!("{}: {}", text(&c["reason"]), text(&c["message"])));
    Some(PodState { name, role, container, unschedulable, deleting: p["metadata"]["deletionTimestamp"].is_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn states_are_read_from_conditions_and_container_statuses() {
        let job = |conditions: Value, suspend: bool| json!({"spec": {"suspend": suspend}, "status": {"conditions": conditions}});
        assert_eq!(workload_state(&job(json!([]), true)), WorkloadState::Suspended);
        assert_eq!(workload_state(&job(json!([{"type": "Complete", "status": "True"}]), false)), WorkloadState::Succeeded);
        assert_eq!(
            workload_state(&job(json!([{"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "too long"}]), false)),
            WorkloadState::Failed { reason: "DeadlineExceeded".into(), message: "too long".into() }
        );
        assert_eq!(workload_state(&job(json!([{"type": "Failed", "status": "False"}]), false)), WorkloadState::Active);
        let pod = json!({
            "metadata": {"name": "p", "labels": {"tunery.io/role": "master"}},
            "status": {"containerStatuses": [{"name": "pytorch", "state": {"terminated": {"exitCode": 75, "reason": "Error"}}}]},
        });
        let state = pod_state(&pod).unwrap();
        assert_eq!(state.role, "master");
        assert_eq!(state.container, ContainerState::Terminated { exit_code: 75, signal: None, reason: "Error".into() });
        let pending = json!({"metadata": {"name": "q"}, "status": {"conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes have nvidia.com/gpu"}]}});
        let state = pod_state(&pending).unwrap();
        assert_eq!((state.role.as_str(), &state.container), ("single", &ContainerState::NotCreated));
        assert_eq!(state.unschedulable.as_deref(), Some("Unschedulable: 0/3 nodes have nvidia.com/gpu"));
    }

    #[test]
    fn a_connection_needs_an_http_url_and_readable_files() {
        let c = |api: &str, ca: Option<&str>| KubeConnection {
            api_server: api.into(),
            token_file: None,
            ca_file: ca.map(PathBuf::from),
            namespace: "ml".into(),
        };
        assert!(matches!(KubeCluster::new(&c("kubernetes.default.svc", None)), Err(KubeError::BadAddress { .. })));
        let e = KubeCluster::new(&c("https://k8s:6443", Some("/nonexistent/ca.crt"))).unwrap_err();
        assert!(e.to_string().contains("CA file /nonexistent/ca.crt"), "{e}");
        assert_eq!(KubeCluster::new(&c("http://127.0.0.1:8001/", None)).unwrap().address(), "http://127.0.0.1:8001");
    }
}
