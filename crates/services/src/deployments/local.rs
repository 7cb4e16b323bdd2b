//! The local backend: the runtime's `serve` mode as a child process, one per base model (or per
//! fully fine-tuned model) and replica, holding every LoRA adapter deployed over it. Replica `r`
//! of a base model serves every deployment over that base that wants more than `r` replicas.
//! Adapters are loaded and unloaded over the process's `/adapters` without a restart; a process
//! is stopped when its last deployment lets go of it. A supervisor task per process follows its
//! events, and restarts it (with every adapter it held) when it crashes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Restarts allowed within [`RESTART_WINDOW_MS`] before a backend is declared failed.
pub(crate) const MAX_RESTARTS: usize = 5;
pub(crate) const RESTART_WINDOW_MS: i64 = 10 * 60 * 1000;
/// The most replicas a local or vLLM deployment may ask for.
pub const MAX_REPLICAS: u32 = 8;

/// Where a backend process is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendState {
    Starting,
    Ready {
        port: u16,
    },
    /// It could not start, or crashed more often than allowed; the message says why.
    Failed(String),
    /// Stopped on purpose (its last deployment let go).
    Stopped,
}

/// One serving process and what it holds.
pub(crate) struct Backend {
    /// The runtime's `serve` mode (local) or `vllm serve` (vllm).
    pub kind: super::BackendKind,
    /// The base model's id (or a fully fine-tuned model's): the name that selects the base.
    pub key: String,
    /// Which replica of the base model's processes it is (0 first).
    pub replica: u32,
    /// The bearer token the process requires (random per backend, never stored or logged).
    pub token: String,
    /// The process's work directory (its spec and the adapters' decrypted files).
    pub workdir: PathBuf,
    /// The base weights' directory.
    pub model_dir: PathBuf,
    /// A full or freeze fine-tune's checkpoint weights, copied over the base at start.
    pub weights: Option<PathBuf>,
    /// The chat template the process renders with (None: the tokenizer's).
    pub chat_template: Option<String>,
    pub state: watch::Sender<BackendState>,
    /// Adapters the process holds (or will load at its next start), by name.
    pub adapters: Mutex<BTreeMap<String, PathBuf>>,
    /// Deployments using it, with the adapter each uses (None: the base itself).
    pub users: Mutex<HashMap<String, Option<String>>>,
    /// The running process's group id (0 when none).
    pub pid: std::sync::atomic::AtomicU32,
    pub stopping: std::sync::atomic::AtomicBool,
    /// Serializes adapter loads and unloads.
    pub ops: tokio::sync::Mutex<()>,
    /// Requests sent to it and not yet answered in full (the gateway picks the least loaded).
    pub in_flight: Arc<AtomicUsize>,
}

/// One request in flight on a backend, counted until dropped (when its answer ended).
#[derive(Debug)]
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    pub(crate) fn on(backend: &Backend) -> InFlight {
        backend.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(backend.in_flight.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Backend {
    pub fn new(kind: super::BackendKind, key: String, replica: u32, token: String, workdir: PathBuf, model_dir: PathBuf) -> Backend {
        Backend {
            kind,
            key,
            replica,
            token,
            workdir,
            model_dir,
            weights: None,
            chat_template: None,
            state: watch::channel(BackendState::Starting).0,
            adapters: Mutex::default(),
            users: Mutex::default(),
            pid: 0.into(),
            stopping: false.into(),
            ops: tokio::sync::Mutex::new(()),
            in_flight: Arc::default(),
        }
    }

    /// Where it is kept among the backends: one process per base model, kind and replica.
    pub fn slot(&self) -> String {
        slot(self.kind, &self.key, self.replica)
    }

    /// Whether it is starting or serving (not failed, not stopped).
    pub fn live(&self) -> bool {
        matches!(*self.state.borrow(), BackendState::Starting | BackendState::Ready { .. })
    }

    /// Where `deployment`'s requests may go now: its port, and the name of its adapter (None:
    /// the base), when the process is ready and holds the adapter.
    pub fn serving(&self, deployment: &str) -> Option<(u16, Option<String>)> {
        let adapter = self.users.lock().expect("backend users lock").get(deployment).cloned()?;
        let port = self.port()?;
        let loaded = adapter.as_ref().is_none_or(|a| self.adapters.lock().expect("adapters lock").contains_key(a));
        loaded.then_some((port, adapter))
    }

    pub fn port(&self) -> Option<u16> {
        match *self.state.borrow() {
            BackendState::Ready { port } => Some(port),
            _ => None,
        }
    }

    pub fn user_ids(&self) -> Vec<String> {
        self.users.lock().expect("backend users lock").keys().cloned().collect()
    }

    /// Whether another deployment than `except` uses `adapter`.
    pub fn adapter_used_by_others(&self, adapter: &str, except: &str) -> bool {
        self.users.lock().expect("backend users lock").iter().any(|(d, a)| d != except && a.as_deref() == Some(adapter))
    }

    /// Waits until it is ready (its port) or failed/stopped (the reason), at most `timeout`.
    pub async fn ready(&self, timeout: std::time::Duration) -> Result<u16, String> {
        let mut rx = self.state.subscribe();
        let wait = async {
            loop {
                match rx.borrow_and_update().clone() {
                    BackendState::Ready { port } => return Ok(port),
                    BackendState::Failed(why) => return Err(why),
                    BackendState::Stopped => return Err("the backend was stopped".to_string()),
                    BackendState::Starting => {}
                }
                if rx.changed().await.is_err() {
                    return Err("the backend went away".to_string());
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .unwrap_or_else(|_| Err(format!("the backend did not become ready within {} s", timeout.as_secs())))
    }
}

/// The key of a backend among the backends of this server.
pub(crate) fn slot(kind: super::BackendKind, key: &str, replica: u32) -> String {
    let process = match replica {
        0 => key.to_string(),
        r => format!("{key}-r{r}"),
    };
    match kind {
        super::BackendKind::Vllm => format!("vllm:{process}"),
        _ => process,
    }
}

/// A replica's work directory name under the work directory (`serve-` first, so that a later
/// server finds what an earlier one left running).
pub(crate) fn workdir_name(kind: super::BackendKind, key: &str, replica: u32) -> String {
    format!("serve-{}", slot(kind, key, replica).replace(':', "-"))
}

/// The serving processes of this server (the runtime's, and vLLM's), by slot.
#[derive(Default)]
pub struct LocalBackends {
    pub(crate) map: Mutex<HashMap<String, Arc<Backend>>>,
}

impl LocalBackends {
    pub(crate) fn get(&self, key: &str) -> Option<Arc<Backend>> {
        self.map.lock().expect("backends lock").get(key).cloned()
    }

    /// The existing backend for `key`, or the one `make` builds (and whether it is new).
    pub(crate) fn get_or_insert(&self, key: &str, make: impl FnOnce() -> Backend) -> (Arc<Backend>, bool) {
        let mut map = self.map.lock().expect("backends lock");
        if let Some(b) = map.get(key) {
            if !matches!(*b.state.borrow(), BackendState::Stopped | BackendState::Failed(_)) {
                return (b.clone(), false);
            }
        }
        let b = Arc::new(make());
        map.insert(key.to_string(), b.clone());
        (b, true)
    }

    pub(crate) fn remove_if_same(&self, backend: &Arc<Backend>) {
        let mut map = self.map.lock().expect("backends lock");
        let slot = backend.slot();
        if map.get(&slot).is_some_and(|b| Arc::ptr_eq(b, backend)) {
            map.remove(&slot);
        }
    }

    pub(crate) fn backends(&self) -> Vec<Arc<Backend>> {
        self.map.lock().expect("backends lock").values().cloned().collect()
    }

    /// The processes a deployment uses (every replica it joined), replica 0 first.
    pub(crate) fn of_deployment(&self, deployment: &str) -> Vec<Arc<Backend>> {
        let mut found: Vec<Arc<Backend>> =
            self.backends().into_iter().filter(|b| b.users.lock().expect("backend users lock").contains_key(deployment)).collect();
        found.sort_by_key(|b| b.replica);
        found
    }
}

/// Adapters a backend holds, as the serve spec lists them.
pub(crate) fn spec_adapters(backend: &Backend) -> Vec<executors::ServeAdapter> {
    backend
        .adapters
        .lock()
        .expect("adapters lock")
        .iter()
        .map(|(name, path)| executors::ServeAdapter { name: name.clone(), path: path.clone() })
        .collect()
}

/// The deployments a backend serves, for the events of a crash or restart.
pub(crate) fn users_of(backend: &Backend) -> HashSet<String> {
    backend.user_ids().into_iter().collect()
}
