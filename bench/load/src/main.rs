//! Load benchmark for the foundation (issue 2): authenticated `GET /api/v1/me` and a list
//! endpoint (`GET /api/v1/projects`), under a fixed arrival rate from this second process on
//! loopback, against a real `tunery serve` on SQLite and on PostgreSQL.
//!
//! The baseline, measured in the same run against the same server, is `GET /healthz` (HTTP,
//! routing and metrics, but no authentication and no database): the ratio shows what
//! authentication and the database add. Latency is measured from each request's scheduled
//! start (open loop), so a stalled server cannot hide its queueing delay.
//!
//! Usage: `cargo run --release -p tunery-bench-load -- [--rate 1000] [--seconds 10]
//!         [--tunery PATH] [--postgres-url URL] [--sqlite-only]`

use anyhow::{bail, Context};
use serde_json::json;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tunery_bench_load::{open_loop, Figures, Server};

const PASSWORD: &str = "benchmark password";

struct Options {
    rate: u64,
    seconds: u64,
    tunery: String,
    postgres_admin_url: String,
    sqlite_only: bool,
}

fn options() -> anyhow::Result<Options> {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let mut o = Options {
        rate: 1000,
        seconds: 10,
        tunery: format!("{target}/release/tunery"),
        postgres_admin_url: "postgres://postgres@127.0.0.1:5432/postgres".into(),
        sqlite_only: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--rate" => o.rate = value()?.parse()?,
            "--seconds" => o.seconds = value()?.parse()?,
            "--tunery" => o.tunery = value()?,
            "--postgres-url" => o.postgres_admin_url = value()?,
            "--sqlite-only" => o.sqlite_only = true,
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(o)
}

/// Closed loop: `concurrency` clients back to back for `seconds`; the server's capacity.
async fn capacity(client: &reqwest::Client, url: &str, token: &str, concurrency: usize, seconds: u64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, token, count) = (client.clone(), url.to_string(), token.to_string(), count.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    if let Ok(r) = client.get(&url).bearer_auth(&token).send().await {
                        if r.status().is_success() && r.bytes().await.is_ok() {
                            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    count.load(std::sync::atomic::Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

async fn prepare(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"email": "bench@example.com", "name": "Bench", "password": PASSWORD}))
        .send()
        .await?
        .error_for_status()?;
    let login: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "bench@example.com", "password": PASSWORD}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = login["access_token"].as_str().context("no access token")?.to_string();
    for i in 0..50 {
        client
            .post(format!("{base}/api/v1/projects"))
            .bearer_auth(&token)
            .json(&json!({"name": format!("project {i:02}"), "visibility": "organization"}))
            .send()
            .await?
            .error_for_status()?;
    }
    Ok(token)
}

async fn fresh_postgres(admin_url: &str) -> anyhow::Result<String> {
    let name = format!("tunery_bench_{}", std::process::id());
    let status = Command::new("psql")
        .args([admin_url, "-qc", &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), "-c", &format!("CREATE DATABASE {name}")])
        .status()
        .context("psql is needed to create the benchmark database")?;
    if !status.success() {
        bail!("could not create database {name}");
    }
    let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin_url);
    Ok(format!("{base}/{name}"))
}

fn row(backend: &str, scenario: &str, rate: u64, f: &Figures, baseline_p99: f64) {
    println!(
        "{backend:<10} {scenario:<28} {rate:>6} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>6} {:>9.2}x",
        f.achieved_rps,
        f.p50_ms,
        f.p99_ms,
        f.max_ms,
        f.errors,
        f.p99_ms / baseline_p99
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let mut backends: Vec<(&str, Option<String>)> = vec![("sqlite", None)];
    if !o.sqlite_only {
        backends.push(("postgres", Some(fresh_postgres(&o.postgres_admin_url).await?)));
    }
    println!("tunery load benchmark: open loop at {} req/s for {} s per scenario, from a second process on loopback", o.rate, o.seconds);
    println!("baseline: GET /healthz on the same server (no authentication, no database); target: p99 < 10 ms at 1000 req/s");
    println!(
        "{:<10} {:<28} {:>6} {:>9} {:>8} {:>8} {:>8} {:>6} {:>10}",
        "database", "scenario", "rate", "achieved", "p50 ms", "p99 ms", "max ms", "errors", "p99/base"
    );
    for (name, url) in backends {
        let server = Server::start(&o.tunery, url.as_deref(), &[])?;
        let token = prepare(&client, &server.url).await?;
        // Warm up connections and caches.
        let _ = open_loop(&client, &format!("{}/api/v1/me", server.url), Some(&token), 200, 1).await;
        let base = open_loop(&client, &format!("{}/healthz", server.url), None, o.rate, o.seconds).await;
        row(name, "GET /healthz (baseline)", o.rate, &base, base.p99_ms);
        let me = open_loop(&client, &format!("{}/api/v1/me", server.url), Some(&token), o.rate, o.seconds).await;
        row(name, "GET /api/v1/me", o.rate, &me, base.p99_ms);
        let list = open_loop(&client, &format!("{}/api/v1/projects?limit=20", server.url), Some(&token), o.rate, o.seconds).await;
        row(name, "GET /api/v1/projects", o.rate, &list, base.p99_ms);
        let cap = capacity(&client, &format!("{}/api/v1/me", server.url), &token, 32, 5).await;
        println!("{name:<10} capacity, GET /api/v1/me, 32 clients closed loop: {cap:.0} req/s");
        let verdict = if me.p99_ms < 10.0 && list.p99_ms < 10.0 && me.errors + list.errors == 0 { "MET" } else { "NOT MET" };
        println!("{name:<10} target p99 < 10 ms at {} req/s: {verdict}", o.rate);
        drop(server);
        if let Some(url) = url {
            let db = url.rsplit_once('/').map(|(_, d)| d.to_string()).unwrap_or_default();
            let _ = Command::new("psql")
                .args([o.postgres_admin_url.as_str(), "-qc", &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")])
                .status();
        }
    }
    Ok(())
}
