//! The vLLM backend: `vllm serve` (vLLM in its own environment, on a machine with a GPU) as a
//! child process, one per base model, with multi-LoRA: the adapters deployed over the base are
//! given at start (`--lora-modules`) and loaded or unloaded later through vLLM's runtime LoRA
//! endpoints (`/v1/load_lora_adapter`, `/v1/unload_lora_adapter`, enabled by
//! `VLLM_ALLOW_RUNTIME_LORA_UPDATING`). Requests name an adapter by its name and the base by the
//! base model's id (`--served-model-name`), as for the local backend. The bearer token goes in
//! the environment (`VLLM_API_KEY`), never on the command line. vLLM prints no events: it is
//! ready when `GET /health` answers 200, and its output lines become the deployments' `log`
//! events. Supervision (crash restarts, stop) is the local backend's (`lifecycle.rs`).

use super::local::{users_of, Backend, BackendState};
use super::state;
use crate::Services;
use executors::Message;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// LoRA slots per batch and the largest rank vLLM reserves for (vLLM's defaults are 1 and 16;
/// `--vllm-arg` overrides them).
const MAX_LORAS: u32 = 8;
const MAX_LORA_RANK: u32 = 64;

/// The arguments of `vllm serve` for a backend: the base weights, the name that selects them,
/// loopback and its port, multi-LoRA with the adapters held, the work directory (as
/// `--download-dir`, where nothing is downloaded: it marks the process as this backend's, so
/// that a later server finds it if this one dies), then the administrator's arguments.
pub(crate) fn vllm_arguments(
    model_dir: &Path,
    served_name: &str,
    port: u16,
    workdir: &Path,
    adapters: &[(String, std::path::PathBuf)],
    extra: &[String],
) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "serve".into(),
        model_dir.display().to_string(),
        "--served-model-name".into(),
        served_name.into(),
        "--host".into(),
        "127.0.0.1".into(),
        "--port".into(),
        port.to_string(),
        "--download-dir".into(),
        workdir.display().to_string(),
        "--enable-lora".into(),
        "--max-loras".into(),
        MAX_LORAS.to_string(),
        "--max-lora-rank".into(),
        MAX_LORA_RANK.to_string(),
    ];
    if !adapters.is_empty() {
        args.push("--lora-modules".into());
        args.extend(adapters.iter().map(|(name, path)| format!("{name}={}", path.display())));
    }
    args.extend(extra.iter().cloned());
    args
}

/// A free loopback port (vLLM reports none in a form a program reads).
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The level of a vLLM log line (`INFO 12-05 …`, `WARNING …`, `ERROR …`).
fn level_of(line: &str) -> &'static str {
    let head: String = line.chars().take(12).collect();
    if head.contains("ERROR") || head.contains("CRITICAL") || line.starts_with("Traceback") {
        "error"
    } else if head.contains("WARN") {
        "warning"
    } else {
        "info"
    }
}

impl Services {
    /// Starts `vllm serve` once for a backend and follows it until it exits: ready when its
    /// `/health` answers, its output recorded as the deployments' log.
    pub(crate) async fn run_vllm_once(&self, backend: &Arc<Backend>) -> std::result::Result<executors::Exit, String> {
        let serving = &self.settings().serving;
        let program = serving.vllm_command.clone().ok_or("this server has no vLLM (--vllm-command)")?;
        std::fs::create_dir_all(&backend.workdir).map_err(|e| format!("cannot create {}: {e}", backend.workdir.display()))?;
        let port = free_port().map_err(|e| format!("no free port for vLLM: {e}"))?;
        let adapters: Vec<(String, std::path::PathBuf)> =
            backend.adapters.lock().expect("adapters lock").iter().map(|(n, p)| (n.clone(), p.clone())).collect();
        let args = vllm_arguments(&backend.model_dir, &backend.key, port, &backend.workdir, &adapters, &serving.vllm_args);
        let env = vec![
            ("VLLM_API_KEY".to_string(), backend.token.clone()),
            ("VLLM_ALLOW_RUNTIME_LORA_UPDATING".to_string(), "True".to_string()),
            ("HF_HUB_OFFLINE".to_string(), "1".to_string()),
        ];
        let mut running = executors::start_program(&program, &args, &env, &backend.workdir).map_err(|e| e.to_string())?;
        backend.pid.store(running.pid, Ordering::SeqCst);
        if backend.stopping.load(Ordering::SeqCst) {
            running.terminate();
        }
        let health = format!("http://127.0.0.1:{port}/health");
        let mut ready = false;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                message = running.messages.recv() => {
                    let Some(message) = message else { break };
                    if let Message::Output(line) = message {
                        for id in users_of(backend) {
                            self.deployment_event(&id, "log", serde_json::json!({"level": level_of(&line), "message": line})).await;
                        }
                    }
                }
                _ = tick.tick(), if !ready => {
                    // vLLM's /health needs no key; sending it costs nothing and suits stricter servers.
                    let answered = self.http().get(&health).bearer_auth(&backend.token).timeout(Duration::from_secs(2)).send().await;
                    if answered.is_ok_and(|r| r.status().is_success()) {
                        ready = true;
                        backend.state.send_replace(BackendState::Ready { port });
                        for id in users_of(backend) {
                            let _ = self.set_deployment_state(&id, &[state::STARTING], state::READY, None, "ready").await;
                        }
                    }
                }
            }
        }
        Ok(running.wait().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn vllm_serves_the_base_with_its_adapters_on_loopback_and_the_administrators_arguments_win() {
        let adapters = vec![("mdl_a".to_string(), PathBuf::from("/w/adapters/mdl_a")), ("mdl_b".to_string(), PathBuf::from("/w/b"))];
        let extra = vec!["--gpu-memory-utilization=0.85".to_string(), "--max-loras".to_string(), "16".to_string()];
        let args = vllm_arguments(Path::new("/models/bm_1"), "bm_1", 8123, Path::new("/w"), &adapters, &extra);
        let line = args.join(" ");
        assert!(
            line.starts_with("serve /models/bm_1 --served-model-name bm_1 --host 127.0.0.1 --port 8123 --download-dir /w --enable-lora")
        );
        assert!(line.contains("--lora-modules mdl_a=/w/adapters/mdl_a mdl_b=/w/b"), "{line}");
        assert!(line.ends_with("--gpu-memory-utilization=0.85 --max-loras 16"), "{line}");
        assert!(!line.contains("api-key"), "the token goes in the environment: {line}");
        let bare = vllm_arguments(Path::new("/m"), "bm_1", 1, Path::new("/w"), &[], &[]);
        assert!(!bare.contains(&"--lora-modules".to_string()));
    }

    #[test]
    fn log_levels_are_read_from_vllms_prefixes() {
        assert_eq!(level_of("INFO 12-05 10:00:00 [api_server.py:1] Started"), "info");
        assert_eq!(level_of("WARNING 12-05 10:00:00 cuda graphs off"), "warning");
        assert_eq!(level_of("ERROR 12-05 10:00:00 engine died"), "error");
        assert_eq!(level_of("Traceback (most recent call last):"), "error");
    }
}
