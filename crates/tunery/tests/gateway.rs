//! End to end: a fine-tuned model served through the OpenAI-compatible gateway by the real
//! runtime's `serve` mode, against a real `tunery serve` process. One journey (training and
//! starting a backend take the time): the tiny model is fine-tuned, its base and its adapter
//! are deployed (one backend process holds both), the official `openai` Python package calls
//! them with an API key, usage is recorded per key and deployment, a key without the scope is
//! refused, a crashed backend restarts by itself, an idle deployment scales to zero and starts
//! again on the next request, a client that goes away mid-stream is recorded, and an external
//! deployment reaches the same model through another OpenAI-compatible URL.

mod common;

use common::{processes, wait_json, Cli};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const EMAIL: &str = "grace@example.com";
const PASSWORD: &str = "correct horse battery staple";

/// Plain HTTP calls to the gateway (a tokio runtime for reqwest in this synchronous test).
struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    url: String,
}

impl Http {
    fn new(url: &str) -> Http {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let client = reqwest::Client::builder().timeout(Duration::from_secs(300)).build().unwrap();
        Http { rt, client, url: url.to_string() }
    }

    fn chat(&self, key: &str, model: &str) -> (u16, Value) {
        let (status, body, _) = self.chat_with_headers(key, model);
        (status, body)
    }

    /// (status, body, the `retry-after` and `x-ratelimit-*` headers).
    fn chat_with_headers(&self, key: &str, model: &str) -> (u16, Value, Value) {
        let body = json!({"model": model, "messages": [{"role": "user", "content": "5?"}], "max_tokens": 4, "temperature": 0});
        self.rt.block_on(async {
            let r = self.client.post(format!("{}/v1/chat/completions", self.url)).bearer_auth(key).json(&body).send().await.unwrap();
            let status = r.status().as_u16();
            let headers: serde_json::Map<String, Value> = r
                .headers()
                .iter()
                .filter(|(name, _)| name.as_str() == "retry-after" || name.as_str().starts_with("x-ratelimit-"))
                .map(|(name, v)| (name.to_string(), Value::from(v.to_str().unwrap())))
                .collect();
            (status, r.json().await.unwrap_or(Value::Null), Value::Object(headers))
        })
    }

    /// A JSON request with a key: (status, body, the deployment that answered).
    fn call(&self, key: &str, method: reqwest::Method, path: &str, body: Value) -> (u16, Value, Option<String>) {
        self.rt.block_on(async {
            let r = self.client.request(method, format!("{}{path}", self.url)).bearer_auth(key).json(&body).send().await.unwrap();
            let status = r.status().as_u16();
            let deployment = r.headers().get("tunery-deployment").map(|v| v.to_str().unwrap().to_string());
            (status, r.json().await.unwrap_or(Value::Null), deployment)
        })
    }

    fn metrics(&self) -> String {
        self.rt.block_on(async { self.client.get(format!("{}/metrics", self.url)).send().await.unwrap().text().await.unwrap() })
    }

    /// Starts a long streamed answer, reads its first bytes, and closes the connection.
    fn stream_and_hang_up(&self, key: &str, model: &str) {
        use std::io::{Read, Write};
        let body =
            json!({"model": model, "messages": [{"role": "user", "content": "7?"}], "max_tokens": 480, "ignore_eos": true, "stream": true})
                .to_string();
        let addr = self.url.trim_start_matches("http://");
        let mut socket = std::net::TcpStream::connect(addr).unwrap();
        let request = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(request.as_bytes()).unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&seen).contains("data: ") {
            let n = socket.read(&mut buf).unwrap();
            assert!(n > 0, "the stream ended before its first chunk: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
        assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&seen));
        socket.shutdown(std::net::Shutdown::Both).unwrap();
    }
}

fn events(cli: &Cli, id: &str) -> Vec<String> {
    let v = cli.json(&["deploy", "events", id]);
    v["data"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_fine_tuned_model_serves_the_official_openai_client_through_the_gateway() {
    let Some(python) = test_support::runtime_python() else { return };
    let Some(openai_python) = test_support::openai_python() else { return };
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let runtime = test_support::runtime_dir();
    let external = format!("{url}/v1");
    let standin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vllm_standin.py");
    let srv = common::runtime_server(
        &python,
        data.path(),
        port,
        &[
            "--training-threads",
            "2",
            "--external-endpoint",
            &external,
            "--vllm-command",
            standin.to_str().unwrap(),
            "--vllm-arg=--max-model-len=2048",
        ],
        &[("TUNERY_VLLM_STANDIN_PYTHON", python.to_str().unwrap()), ("TUNERY_VLLM_STANDIN_RUNTIME", runtime.to_str().unwrap())],
    );
    let cli = Cli::new(&srv.url);
    cli.ok_with(&["register", "--email", EMAIL, "--name", "Grace", "--password-stdin"], &format!("{PASSWORD}\n"));
    cli.ok_with(&["login", "--email", EMAIL, "--password-stdin"], &format!("{PASSWORD}\n"));
    let (base, ds) = common::tiny_model_and_chats(&cli, files.path());
    // 10 steps: the job's last checkpoint (every 10 steps) holds the finished adapter.
    let job = common::tiny_lora_job(&cli, &base, &ds, "10");
    let job_id = job["id"].as_str().unwrap();
    let job = wait_json(&cli, &["jobs", "show", job_id], |j| j["state"] == "succeeded" || j["state"] == "failed", 600);
    assert_eq!(job["state"], "succeeded", "{job}\n{}", srv.logs());
    let model_id = job["model_id"].as_str().unwrap().to_string();

    // The base model and its fine-tune, deployed: one backend process holds both.
    let base_dep = cli.json(&["deploy", "create", &base, "--name", "tiny-base", "--wait"]);
    assert_eq!(base_dep["state"], "ready", "{base_dep}\n{}", srv.logs());
    let ft_dep = cli.json(&["deploy", "create", &model_id, "--wait"]);
    let ft_name = ft_dep["name"].as_str().unwrap().to_string();
    assert!(ft_name.starts_with("ft:tiny:") && ft_name.ends_with(&model_id[model_id.len() - 8..]), "{ft_dep}");
    let serving = processes(&format!("serve-{base}"));
    assert!(!serving.is_empty(), "no serving process for {base}");
    let ft_id = ft_dep["id"].as_str().unwrap().to_string();

    // The official client, with a key that may call models.
    let key = cli.json(&["keys", "create", "--name", "app", "--scope", "deploy_model", "--scope", "view_metrics"]);
    let (key_id, secret) = (key["id"].as_str().unwrap().to_string(), key["key"].as_str().unwrap().to_string());
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/openai_checks.py");
    let out = std::process::Command::new(&openai_python)
        .arg(&script)
        .args([&format!("{url}/v1"), &ft_name, "tiny-base"])
        .env("TUNERY_TEST_API_KEY", &secret)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}\nserver:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        srv.logs()
    );
    let report: Value = serde_json::from_slice(out.stdout.trim_ascii()).unwrap();

    // Usage: every request of the key, the fine-tune's tokens exactly as the client saw them.
    let usage = wait_json(&cli, &["usage", "--key", &key_id, "--bucket", "minute"], |u| u["requests"] == report["requests"], 10);
    assert_eq!(usage["errors"], 3, "{usage}");
    let ft_usage = cli.json(&["usage", "--deployment", &ft_id, "--bucket", "day"]);
    assert_eq!(ft_usage["requests"], 3, "{ft_usage}");
    assert_eq!(ft_usage["prompt_tokens"], report["model_prompt_tokens"], "{ft_usage}");
    assert_eq!(ft_usage["completion_tokens"], report["model_completion_tokens"], "{ft_usage}");
    assert!(ft_usage["data"][0]["mean_time_to_first_token_ms"].as_f64().is_some(), "{ft_usage}");
    // Per key, with its name, and latency percentiles in order up to the slowest request.
    let keys = ft_usage["by_key"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{ft_usage}");
    assert_eq!((&keys[0]["api_key_id"], &keys[0]["name"], &keys[0]["requests"]), (&json!(key_id), &json!("app"), &json!(3)), "{ft_usage}");
    assert_eq!(keys[0]["total_tokens"], ft_usage["total_tokens"], "{ft_usage}");
    let max = ft_usage["data"].as_array().unwrap().iter().map(|b| b["max_latency_ms"].as_f64().unwrap()).fold(0.0, f64::max);
    let p = |v: &Value, q: &str| v["latency_ms"][q].as_f64().unwrap();
    assert!(
        p(&ft_usage, "p50") <= p(&ft_usage, "p95") && p(&ft_usage, "p95") <= p(&ft_usage, "p99") && p(&ft_usage, "p99") <= max,
        "{ft_usage}"
    );
    assert_eq!(p(&keys[0], "p99"), p(&ft_usage, "p99"), "{ft_usage}");
    // Prometheus: requests by deployment and status, tokens, nothing left in flight.
    let metrics = Http::new(&url).metrics();
    let line = |name: &str| metrics.lines().find(|l| l.starts_with(name)).map(|l| l.rsplit(' ').next().unwrap().to_string());
    assert_eq!(
        line(&format!("tunery_inference_requests_total{{deployment=\"{ft_name}\",status=\"200\"}}")).as_deref(),
        Some("2"),
        "{metrics}"
    );
    let completion = line(&format!("tunery_inference_tokens_total{{deployment=\"{ft_name}\",kind=\"completion\"}}"));
    assert_eq!(completion, Some(report["model_completion_tokens"].to_string()), "{metrics}");
    assert_eq!(line(&format!("tunery_inference_in_flight{{deployment=\"{ft_name}\"}}")).as_deref(), Some("0"), "{metrics}");

    // `tunery chat` by model id (the playground): it finds the fine-tune's deployment, makes none.
    let said = cli.json(&["chat", &model_id, "--prompt", "3?", "--max-tokens", "4", "--temperature", "0"]);
    assert_eq!(said["model"], model_id, "{said}");
    assert!(said["outputs"][0].is_string(), "{said}");
    assert_eq!(cli.json(&["deploy", "list"])["data"].as_array().unwrap().len(), 2);

    // A key without the scope is refused (403).
    let http = Http::new(&url);
    let viewer = cli.json(&["keys", "create", "--name", "viewer", "--scope", "view_metrics"]);
    let (status, body) = http.chat(viewer["key"].as_str().unwrap(), &ft_name);
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("permission_denied")), "{body}");
    let (status, _) = http.chat(&secret, &ft_name);
    assert_eq!(status, 200);

    // Online A/B: 70/30 between the fine-tune and the base, a fresh draw per request; answers
    // of the fine-tune rated up and of the base down, and the readout says which is better.
    let base_id = base_dep["id"].as_str().unwrap();
    let split = cli.json(&[
        "deploy",
        "split",
        "create",
        "greeter",
        "--variant",
        &format!("{ft_id}=7"),
        "--variant",
        &format!("{base_id}=3"),
        "--sticky",
        "none",
    ]);
    let split_id = split["id"].as_str().unwrap();
    let ask = json!({"model": "greeter", "messages": [{"role": "user", "content": "1?"}], "max_tokens": 1});
    let mut served = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..100 {
        let (status, body, deployment) = http.call(&secret, reqwest::Method::POST, "/v1/chat/completions", ask.clone());
        assert_eq!(status, 200, "{body}");
        let deployment = deployment.expect("the tunery-deployment header");
        let rating = if deployment == ft_name { "up" } else { "down" };
        let feedback = json!({"response_id": body["id"], "rating": rating});
        assert_eq!(http.call(&secret, reqwest::Method::POST, "/api/v1/feedback", feedback).0, 204);
        *served.entry(deployment).or_default() += 1;
    }
    // 70 of 100 expected: ±4.6 standard deviations still refuses a broken split.
    let to_ft = served.get(&ft_name).copied().unwrap_or(0);
    assert!((49..=91).contains(&to_ft), "{served:?}");
    let results = cli.json(&["deploy", "split", "show", split_id]);
    let variants = results["variants"].as_array().unwrap();
    assert_eq!(
        (variants[0]["requests"].as_u64(), variants[1]["requests"].as_u64()),
        (Some(to_ft as u64), Some(100 - to_ft as u64)),
        "{results}"
    );
    assert_eq!((variants[0]["mean_rating"].as_f64(), variants[1]["mean_rating"].as_f64()), (Some(1.0), Some(0.0)), "{results}");
    assert!(variants[1]["p_value"].as_f64().unwrap() < 0.05, "{results}");
    assert!(results["conclusion"].as_str().unwrap().contains(&format!("{base_id} is rated worse than {ft_id}")), "{results}");
    // Sticky per key: every request of one key reaches one variant.
    cli.ok(&["deploy", "split", "delete", split_id]);
    cli.json(&[
        "deploy",
        "split",
        "create",
        "greeter",
        "--variant",
        &format!("{ft_id}=1"),
        "--variant",
        &format!("{base_id}=1"),
        "--sticky",
        "key",
    ]);
    let reached: std::collections::BTreeSet<String> =
        (0..10).map(|_| http.call(&secret, reqwest::Method::POST, "/v1/chat/completions", ask.clone()).2.unwrap()).collect();
    assert_eq!(reached.len(), 1, "{reached:?}");

    // A key limited to 3 requests a minute and to the fine-tune: the base model is no model of
    // this key's, and the fourth request is refused with Retry-After.
    let limited =
        cli.json(&["keys", "create", "--name", "limited", "--scope", "deploy_model", "--requests-per-minute", "3", "--deployment", &ft_id]);
    assert_eq!(
        (limited["limits"]["requests_per_minute"].as_i64(), limited["limits"]["deployment_ids"][0].as_str()),
        (Some(3), Some(ft_id.as_str()))
    );
    let limited = limited["key"].as_str().unwrap();
    let window = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 60;
    let first_window = window();
    let answers: Vec<(u16, Value, Value)> =
        ["tiny-base", &ft_name, &ft_name, &ft_name].iter().map(|m| http.chat_with_headers(limited, m)).collect();
    if window() == first_window {
        let statuses: Vec<u16> = answers.iter().map(|(s, _, _)| *s).collect();
        assert_eq!(statuses, [404, 200, 200, 429], "{answers:?}");
        assert_eq!(answers[2].2["x-ratelimit-limit-requests"], "3", "{answers:?}");
        assert_eq!(answers[2].2["x-ratelimit-remaining-requests"], "0", "{answers:?}");
        assert_eq!(answers[3].1["error"]["code"], "rate_limited", "{answers:?}");
        assert!(answers[3].2["retry-after"].as_str().unwrap().parse::<u32>().unwrap() <= 60, "{answers:?}");
    }

    // A client that goes away mid-stream: recorded with the tokens generated until then.
    let usage_of = |u: &Value| u["completion_tokens"].as_i64().unwrap();
    // The key's requests so far: the client's, one chat, 100 through the split, 10 sticky ones.
    let made = report["requests"].as_i64().unwrap() + 1 + 100 + 10;
    let before = usage_of(&wait_json(&cli, &["usage", "--key", &key_id, "--bucket", "minute"], |u| u["requests"] == made, 10));
    http.stream_and_hang_up(&secret, &ft_name);
    let gone = wait_json(&cli, &["usage", "--key", &key_id, "--bucket", "minute"], |u| u["errors"] == 4, 10);
    let generated = usage_of(&gone) - before;
    assert!(0 < generated && generated < 480, "generation went on after the client left: {generated} tokens\n{gone}");

    // Replicas: the fine-tune scaled to 2 gets a second process of its base, holding its adapter.
    // When the first crashes, the second answers and the deployment stays ready; the first
    // comes back with the adapter; scaling back to 1 stops the second.
    let scaled = cli.json(&["deploy", "scale", &ft_id, "2"]);
    assert_eq!(scaled["replicas"], 2, "{scaled}");
    wait_json(&cli, &["deploy", "show", &ft_id], |d| d["ready_replicas"] == 2, 120);
    assert_eq!(processes(&format!("serve-{base}-r1/")).len(), 1, "one process for the second replica");
    let answered: Vec<u16> = std::thread::scope(|s| {
        let chats: Vec<_> = (0..6).map(|_| s.spawn(|| http.chat(&secret, &ft_name).0)).collect();
        chats.into_iter().map(|c| c.join().unwrap()).collect()
    });
    assert_eq!(answered, [200; 6]);
    let crashes = |cli: &Cli| events(cli, &ft_id).iter().filter(|k| *k == "crashed").count();
    let crashed_before = crashes(&cli);
    for pid in processes(&format!("serve-{base}/")) {
        let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    wait_json(&cli, &["deploy", "show", &ft_id], |_| crashes(&cli) > crashed_before, 30);
    let (status, body) = http.chat(&secret, &ft_name);
    assert_eq!(status, 200, "the second replica answers while the first restarts: {body}");
    let kinds = events(&cli, &ft_id);
    let crash_at = kinds.iter().rposition(|k| k == "crashed").unwrap();
    assert!(!kinds[crash_at..].contains(&"restarting".to_string()), "the deployment stayed ready: {kinds:?}");
    assert_eq!(cli.json(&["deploy", "show", &ft_id])["state"], "ready");
    wait_json(&cli, &["deploy", "show", &ft_id], |d| d["ready_replicas"] == 2, 120);
    let scaled = cli.json(&["deploy", "scale", &ft_id, "1"]);
    assert_eq!(scaled["replicas"], 1, "{scaled}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !processes(&format!("serve-{base}-r1/")).is_empty() {
        assert!(Instant::now() < deadline, "the second replica still runs after scaling to 1");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(cli.json(&["deploy", "show", &ft_id])["ready_replicas"], 1);
    let (status, body) = http.chat(&secret, &ft_name);
    assert_eq!(status, 200, "{body}");

    // A backend that crashes restarts by itself, adapters and all.
    for pid in processes(&format!("serve-{base}")) {
        let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    wait_json(&cli, &["deploy", "show", &ft_id], |d| d["state"] == "ready" && events(&cli, &ft_id).contains(&"crashed".to_string()), 300);
    let (status, body) = http.chat(&secret, &ft_name);
    assert_eq!(status, 200, "{body}");

    // Scale to zero after 10 idle seconds: the process ends; the next request starts it again.
    cli.ok(&["deploy", "stop", base_dep["id"].as_str().unwrap()]);
    let patched = cli.json(&["deploy", "update", &ft_id, "--idle-timeout", "10"]);
    assert_eq!((patched["state"].as_str(), patched["idle_timeout_s"].as_i64()), (Some("ready"), Some(10)), "{patched}");
    wait_json(&cli, &["deploy", "show", &ft_id], |d| d["state"] == "idle", 60);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !processes(&format!("serve-{base}")).is_empty() {
        assert!(Instant::now() < deadline, "the backend still runs after scaling to zero");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, body) = http.chat(&secret, &ft_name);
    assert_eq!(status, 200, "a cold start answers: {body}");
    assert!(events(&cli, &ft_id).contains(&"cold_start".to_string()));
    assert_eq!(cli.json(&["deploy", "show", &ft_id])["state"], "ready");

    // An external deployment: the same model through another OpenAI-compatible URL (this
    // server's own gateway, with the key), its key stored sealed.
    let ext = cli.run_with(
        &[
            "deploy",
            "create",
            &model_id,
            "--name",
            "via-external",
            "--external-url",
            &external,
            "--external-model",
            &ft_name,
            "--external-key-env",
            "UPSTREAM_KEY",
            "--wait",
            "--json",
        ],
        "",
        &[("UPSTREAM_KEY", &secret)],
    );
    assert!(ext.status.success(), "{}", common::describe(&ext));
    let (status, body) = http.chat(&secret, "via-external");
    assert_eq!(status, 200, "{body}");
    // Replicas are the local backends' own: an external URL scales itself, and 8 is the most.
    let ext_id = serde_json::from_slice::<Value>(&ext.stdout).unwrap()["id"].as_str().unwrap().to_string();
    let refused = cli.run(&["deploy", "scale", &ext_id, "2"]);
    assert!(!refused.status.success() && common::describe(&refused).contains("one URL"), "{}", common::describe(&refused));
    let refused = cli.run(&["deploy", "scale", &ft_id, "9"]);
    assert!(!refused.status.success() && common::describe(&refused).contains("0 to 8"), "{}", common::describe(&refused));
    let db = std::fs::read(data.path().join("tunery.db")).unwrap();
    assert!(!db.windows(secret.len()).any(|w| w == secret.as_bytes()), "the upstream key is stored in the clear");
    let (status, _) = http.chat(&secret, "no-such-deployment");
    assert_eq!(status, 404);
    // An external deployment that points back at itself ends after a few hops, never loops.
    let ext = cli.run_with(
        &[
            "deploy",
            "create",
            &model_id,
            "--name",
            "loop",
            "--external-url",
            &external,
            "--external-model",
            "loop",
            "--external-key-env",
            "UPSTREAM_KEY",
            "--wait",
        ],
        "",
        &[("UPSTREAM_KEY", &secret)],
    );
    assert!(ext.status.success(), "{}", common::describe(&ext));
    let (status, body) = http.chat(&secret, "loop");
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("points back at itself"), "{body}");

    // The vLLM backend where vLLM cannot run (no GPU): a stand-in that takes `vllm serve`'s
    // command line and environment as Tunery writes them and serves with the runtime
    // (tests/fixtures/vllm_standin.py). Its own process for the base; the fine-tune loaded
    // through vLLM's runtime LoRA endpoint, answering as the local backend does; its output in
    // the events; after a crash it comes back with the adapter on its command line.
    let vllm = cli.json(&["deploy", "create", &model_id, "--name", "via-vllm", "--backend", "vllm", "--wait"]);
    assert_eq!(
        (vllm["backend"].as_str(), vllm["state"].as_str()),
        (Some("vllm"), Some("ready")),
        "{vllm}
{}",
        srv.logs()
    );
    let vllm_id = vllm["id"].as_str().unwrap().to_string();
    let ask = |model: &str| {
        let body = json!({"model": model, "messages": [{"role": "user", "content": "9?"}], "max_tokens": 6, "temperature": 0});
        http.call(&secret, reqwest::Method::POST, "/v1/chat/completions", body)
    };
    let (status, via_vllm, answered_by) = ask("via-vllm");
    assert_eq!((status, answered_by.as_deref()), (200, Some("via-vllm")), "{via_vllm}");
    let (_, via_local, _) = ask(&ft_name);
    assert_eq!(via_vllm["choices"][0]["message"], via_local["choices"][0]["message"], "{via_vllm} vs {via_local}");
    let vllm_processes = processes(&format!("serve-vllm-{base}"));
    assert!(!vllm_processes.is_empty(), "no vLLM process");
    let logged = cli.json(&["deploy", "events", &vllm_id]);
    assert!(logged.to_string().contains("vllm stand-in: serving"), "{logged}");
    for pid in &vllm_processes {
        let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    wait_json(&cli, &["deploy", "show", &vllm_id], |d| d["state"] == "ready", 120);
    assert!(events(&cli, &vllm_id).contains(&"crashed".to_string()));
    let (status, again, _) = ask("via-vllm");
    assert_eq!((status, &again["choices"][0]["message"]), (200, &via_local["choices"][0]["message"]), "{again}");
    let restarted = cli.json(&["deploy", "events", &vllm_id]).to_string();
    assert!(restarted.contains("with 1 LoRA adapter(s)"), "the adapter is on the restarted command line: {restarted}");
    cli.ok(&["deploy", "stop", &vllm_id]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !processes(&format!("serve-vllm-{base}")).is_empty() {
        assert!(Instant::now() < deadline, "the vLLM process still runs after its deployment stopped");
        std::thread::sleep(Duration::from_millis(200));
    }

    // A checkpoint, chatted with by its id: deployed on demand as an adapter over its base (named
    // like OpenAI's checkpoint models); the last one (step 10, the last step) answers as the
    // finished model.
    let checkpoints = cli.json(&["jobs", "checkpoints", job_id]);
    let last = checkpoints["data"].as_array().unwrap().last().expect("a checkpoint")["id"].as_str().unwrap().to_string();
    let from_checkpoint = cli.json(&["chat", &last, "--prompt", "3?", "--max-tokens", "4", "--temperature", "0"]);
    assert_eq!(from_checkpoint["outputs"], said["outputs"], "{from_checkpoint} vs {said}");
    let deployments = cli.json(&["deploy", "list"]);
    let of_checkpoint = deployments["data"].as_array().unwrap().iter().find(|d| d["model"] == last.as_str()).expect("its deployment");
    assert!(of_checkpoint["name"].as_str().unwrap().ends_with(":ckpt-step-10"), "{of_checkpoint}");

    // A full fine-tune's checkpoint: served by a process of its own, its weights copied over the
    // base at start; the last one answers as the finished model (which answers unlike the base).
    // vLLM does not serve it from a checkpoint.
    let full = cli.json(&[
        "jobs",
        "create",
        "--model",
        &base,
        "--dataset",
        &ds,
        "--method",
        "full",
        "--seq-len",
        "64",
        "--batch",
        "2",
        "--max-steps",
        "10",
        "--lr",
        "0.01",
        "--checkpoint-every",
        "10",
    ]);
    let full_id = full["id"].as_str().unwrap();
    let full = wait_json(&cli, &["jobs", "show", full_id], |j| j["state"] == "succeeded" || j["state"] == "failed", 600);
    assert_eq!(full["state"], "succeeded", "{full}\n{}", srv.logs());
    let ask_full = |model: &str| cli.json(&["chat", model, "--prompt", "3?", "--max-tokens", "8", "--temperature", "0"])["outputs"].clone();
    let finished = ask_full(full["model_id"].as_str().unwrap());
    assert_ne!(finished, ask_full(&base), "the full fine-tune answers like its base");
    let checkpoints = cli.json(&["jobs", "checkpoints", full_id]);
    let full_last = checkpoints["data"].as_array().unwrap().last().expect("a checkpoint")["id"].as_str().unwrap().to_string();
    assert_eq!(ask_full(&full_last), finished, "the last checkpoint of the full fine-tune answers as its finished model");
    assert_eq!(processes(&format!("serve-{full_last}/")).len(), 1, "one process serves the full checkpoint");
    let refused = cli.run(&["deploy", "create", &full_last, "--backend", "vllm", "--name", "full-via-vllm"]);
    assert!(!refused.status.success() && common::describe(&refused).contains("only the local backend"), "{}", common::describe(&refused));

    // A killed server leaves no serving process behind: they notice and stop.
    let needle = data.path().join("work").display().to_string();
    assert!(!processes(&needle).is_empty());
    drop(srv);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !processes(&needle).is_empty() {
        assert!(Instant::now() < deadline, "serving processes outlived the server: {:?}", processes(&needle));
        std::thread::sleep(Duration::from_millis(200));
    }
}
