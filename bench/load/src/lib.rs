//! What the load benchmarks share: a `tunery serve` child process and an open-loop load
//! generator whose latency counts from each request's scheduled start.

use anyhow::Context;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// A `tunery serve` child process.
pub struct Server {
    child: Child,
    pub url: String,
    _dir: Option<String>,
}

impl Server {
    /// Starts `tunery serve` on a fresh data directory with rate limits out of the way, plus
    /// `extra` arguments.
    pub fn start(tunery: &str, database_url: Option<&str>, extra: &[&str]) -> anyhow::Result<Server> {
        let dir = std::env::temp_dir().join(format!("tunery-bench-{}-{}", std::process::id(), database_url.is_some()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut cmd = Command::new(tunery);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--rate-limit-per-second", "1000000"])
            .args(["--rate-limit-burst", "1000000", "--data-dir"])
            .arg(&dir)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(url) = database_url {
            cmd.args(["--database-url", url]);
        }
        let mut child = cmd.spawn().with_context(|| format!("cannot start {tunery}: build it with `cargo build --release -p tunery`"))?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let url = line.trim().strip_prefix("tunery listening on ").with_context(|| format!("unexpected first line: {line}"))?.to_string();
        Ok(Server { child, url, _dir: Some(dir.display().to_string()) })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Figures {
    pub achieved_rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Sends `rate` GET requests a second for `seconds` seconds; latency counts from each
/// request's scheduled time.
pub async fn open_loop(client: &reqwest::Client, url: &str, token: Option<&str>, rate: u64, seconds: u64) -> Figures {
    let (url, token) = (url.to_string(), token.map(str::to_string));
    open_loop_with(rate, seconds, move || {
        let req = client.get(&url);
        match &token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    })
    .await
}

/// Sends `rate` requests a second, each built by `request`, for `seconds` seconds; a request
/// succeeds when it answers 2xx and its body reads to the end.
pub async fn open_loop_with(rate: u64, seconds: u64, request: impl Fn() -> reqwest::RequestBuilder) -> Figures {
    let total = rate * seconds;
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now() + Duration::from_millis(50);
    let mut handles = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = start + Duration::from_nanos(i * 1_000_000_000 / rate);
        tokio::time::sleep_until(scheduled.into()).await;
        let req = request();
        let (latencies, errors) = (latencies.clone(), errors.clone());
        handles.push(tokio::spawn(async move {
            let ok = match req.send().await {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            let ms = scheduled.elapsed().as_secs_f64() * 1000.0;
            if ok {
                latencies.lock().await.push(ms);
            } else {
                errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    for h in handles {
        let _ = h.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut l = latencies.lock().await.clone();
    l.sort_by(|a, b| a.total_cmp(b));
    Figures {
        achieved_rps: l.len() as f64 / elapsed,
        p50_ms: percentile(&l, 50.0),
        p99_ms: percentile(&l, 99.0),
        max_ms: l.last().copied().unwrap_or(f64::NAN),
        errors: errors.load(std::sync::atomic::Ordering::Relaxed),
    }
}
