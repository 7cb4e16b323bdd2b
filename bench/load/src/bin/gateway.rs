//! Gateway overhead benchmark (deployment issue): chat completions through Tunery's
//! OpenAI-compatible gateway against the same trivial upstream called directly, at a fixed
//! arrival rate (default 500 req/s) from this process on loopback; p50 and p99 added by the
//! gateway (goals: < 1 ms and < 5 ms).
//!
//! The upstream is this binary in `--upstream` mode (a third process): an OpenAI-compatible
//! server that answers at once — a whole `chat.completion`, or for `stream: true` a role chunk,
//! one content chunk, the finish chunk, the usage chunk and `[DONE]`. Tunery serves it as an
//! external deployment (`--external-endpoint`), called with an API key; every gateway request
//! is authenticated, admitted against limits, routed, streamed from the upstream, metered and
//! recorded as a usage row, as in production. Both scenarios send the same non-streaming
//! request, alternating (direct, gateway, direct, gateway) to share the machine's noise.
//!
//! Usage: `cargo build --release -p tunery -p tunery-bench-load && \
//!         $CARGO_TARGET_DIR/release/gateway [--rate 500] [--seconds 10] [--tunery PATH]`

use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use tunery_bench_load::{open_loop_with, Figures, Server};

const PASSWORD: &str = "benchmark password";

fn answer(stream: bool, model: &str) -> (String, String) {
    let created = 1_796_000_000;
    if !stream {
        let body = json!({"id": "chatcmpl-up", "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}});
        return ("application/json".into(), body.to_string());
    }
    let chunk = |choices: Value, usage: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": created, "model": model, "choices": choices, "usage": usage})
        )
    };
    let usage = json!({"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11});
    let mut out = chunk(
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]),
        json!({"prompt_tokens": 9, "completion_tokens": 0, "total_tokens": 9}),
    );
    out += &chunk(
        json!([{"index": 0, "delta": {"content": "Hello!"}, "finish_reason": null}]),
        json!({"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}),
    );
    out += &chunk(json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]), usage.clone());
    out += &chunk(json!([]), usage);
    out += "data: [DONE]\n\n";
    ("text/event-stream".into(), out)
}

/// The trivial upstream: prints `listening PORT`, then serves until killed.
async fn upstream() -> anyhow::Result<()> {
    use axum::routing::{get, post};
    let app = axum::Router::new()
        .route(
            "/v1/models",
            get(|| async {
                axum::Json(json!({"object": "list", "data": [{"id": "echo", "object": "model", "created": 0, "owned_by": "bench"}]}))
            }),
        )
        .route(
            "/v1/chat/completions",
            post(|axum::Json(body): axum::Json<Value>| async move {
                let (kind, text) = answer(body["stream"] == true, body["model"].as_str().unwrap_or("echo"));
                ([(axum::http::header::CONTENT_TYPE, kind)], text)
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening {}", listener.local_addr()?.port());
    axum::serve(listener, app).await?;
    Ok(())
}

struct Upstream(Child, u16);

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_upstream() -> anyhow::Result<Upstream> {
    let mut child = Command::new(std::env::current_exe()?).arg("--upstream").stdout(Stdio::piped()).spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let port = line.trim().strip_prefix("listening ").with_context(|| format!("unexpected line {line}"))?.parse()?;
    Ok(Upstream(child, port))
}

async fn api_key(client: &reqwest::Client, base: &str, upstream: &str) -> anyhow::Result<String> {
    let post = |path: &str, token: Option<&str>, body: Value| {
        let mut r = client.post(format!("{base}{path}")).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r
    };
    post("/api/v1/auth/register", None, json!({"email": "bench@example.com", "name": "Bench", "password": PASSWORD}))
        .send()
        .await?
        .error_for_status()?;
    let login: Value = post("/api/v1/auth/login", None, json!({"email": "bench@example.com", "password": PASSWORD}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = login["access_token"].as_str().context("no access token")?;
    let deployment = json!({"name": "echo", "backend": "external", "endpoint": {"url": upstream, "model": "echo"}});
    let d: Value = post("/api/v1/deployments", Some(token), deployment).send().await?.error_for_status()?.json().await?;
    for _ in 0..100 {
        let now: Value =
            client.get(format!("{base}/api/v1/deployments/{}", d["id"].as_str().unwrap())).bearer_auth(token).send().await?.json().await?;
        if now["state"] == "ready" {
            let key: Value = post("/api/v1/api-keys", Some(token), json!({"name": "bench", "scopes": ["deploy_model"]}))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            return Ok(key["key"].as_str().context("no key")?.to_string());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    bail!("the external deployment did not become ready")
}

fn row(name: &str, f: &Figures) {
    println!("{name:<26} {:>9.0} {:>8.3} {:>8.3} {:>8.2} {:>6}", f.achieved_rps, f.p50_ms, f.p99_ms, f.max_ms, f.errors);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let (mut rate, mut seconds, mut tunery) = (500u64, 10u64, format!("{target}/release/tunery"));
    while let Some(a) = args.next() {
        match a.as_str() {
            "--upstream" => return upstream().await,
            "--rate" => rate = args.next().context("--rate N")?.parse()?,
            "--seconds" => seconds = args.next().context("--seconds N")?.parse()?,
            "--tunery" => tunery = args.next().context("--tunery PATH")?,
            other => bail!("unknown argument {other}"),
        }
    }
    let up = start_upstream()?;
    let upstream_url = format!("http://127.0.0.1:{}/v1", up.1);
    let server = Server::start(&tunery, None, &["--external-endpoint", &upstream_url])?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(512).build()?;
    let key = api_key(&client, &server.url, &upstream_url).await?;
    let body = json!({"model": "echo", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8});
    let direct = || client.post(format!("{upstream_url}/chat/completions")).json(&body);
    let gateway = || client.post(format!("{}/v1/chat/completions", server.url)).bearer_auth(&key).json(&body);
    // Warm up connections on both paths.
    open_loop_with(200, 1, direct).await;
    open_loop_with(200, 1, gateway).await;
    println!("gateway overhead: non-streaming chat completions at {rate} req/s, open loop, from a second process on loopback");
    println!("baseline: the same trivial upstream called directly; goal: p50 added < 1 ms, p99 added < 5 ms");
    println!("{:<26} {:>9} {:>8} {:>8} {:>8} {:>6}", "scenario", "achieved", "p50 ms", "p99 ms", "max ms", "errors");
    let mut rounds = Vec::new();
    for round in 0..2 {
        let d = open_loop_with(rate, seconds / 2, direct).await;
        row(&format!("direct (round {})", round + 1), &d);
        let g = open_loop_with(rate, seconds / 2, gateway).await;
        row(&format!("gateway (round {})", round + 1), &g);
        rounds.push((d, g));
    }
    let best =
        |f: fn(&Figures) -> f64, pick: fn(&(Figures, Figures)) -> &Figures| rounds.iter().map(|r| f(pick(r))).fold(f64::INFINITY, f64::min);
    let (d50, g50) = (best(|f| f.p50_ms, |r| &r.0), best(|f| f.p50_ms, |r| &r.1));
    let (d99, g99) = (best(|f| f.p99_ms, |r| &r.0), best(|f| f.p99_ms, |r| &r.1));
    let errors: u64 = rounds.iter().map(|(d, g)| d.errors + g.errors).sum();
    println!("best of the rounds: p50 direct {d50:.3} ms, gateway {g50:.3} ms, added {:.3} ms ({:.2}x)", g50 - d50, g50 / d50);
    println!("best of the rounds: p99 direct {d99:.3} ms, gateway {g99:.3} ms, added {:.3} ms ({:.2}x)", g99 - d99, g99 / d99);
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    println!("goal p50 added < 1 ms: {}; goal p99 added < 5 ms: {}; errors: {errors}", verdict(g50 - d50 < 1.0), verdict(g99 - d99 < 5.0));
    Ok(())
}
