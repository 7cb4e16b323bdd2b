//! End to end: an organization's content policy on the gateway, against a real `tunery serve`
//! process and the real runtime serving the tiny model. Input rules refuse or mask what the
//! model gets; output rules mask or end answers, streamed or not; a moderation model (an
//! external deployment: a small classifier server of this test that answers like Llama Guard)
//! judges inputs and answers; every action is an event; a deployment that logs requests keeps
//! them masked, and its conversations become a dataset version whose lineage names it.

mod common;

use common::Cli;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery staple";
const QUESTION: &str = "Name a color.";

/// A moderation model for the test, OpenAI-compatible, answering as Llama Guard does: `unsafe`
/// and a category when a message contains "forbidden", or when it judges an answer to a
/// question that contains "judge-the-answer"; `safe` otherwise. Returns its base URL.
fn start_classifier() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/v1", listener.local_addr().unwrap().port());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let messages = request["messages"].as_array().cloned().unwrap_or_default();
            let text = |m: &Value| m["content"].as_str().unwrap_or_default().to_string();
            let judging_answer = messages.last().is_some_and(|m| m["role"] == "assistant");
            let verdict = if messages.iter().any(|m| text(m).contains("forbidden"))
                || (judging_answer && messages.iter().any(|m| text(m).contains("judge-the-answer")))
            {
                "unsafe\nS2"
            } else {
                "safe"
            };
            let answer = json!({
                "id": "guard-1", "object": "chat.completion", "created": 0, "model": request["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": verdict}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
            })
            .to_string();
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    url
}

struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    url: String,
    key: String,
}

impl Http {
    /// A chat completion: (status, body).
    fn chat(&self, content: &str, extra: Value) -> (u16, Value) {
        let mut body = json!({"model": "tiny", "messages": [{"role": "user", "content": content}], "max_tokens": 12, "temperature": 0});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        self.rt.block_on(async {
            let r = self.client.post(format!("{}/v1/chat/completions", self.url)).bearer_auth(&self.key).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
        })
    }

    /// A streamed chat completion with usage: (the content, the finish reasons, the usage, whether it ended with [DONE]).
    fn stream(&self, content: &str) -> (String, Vec<String>, Value, bool) {
        let body = json!({"model": "tiny", "messages": [{"role": "user", "content": content}], "max_tokens": 12, "temperature": 0,
            "stream": true, "stream_options": {"include_usage": true}});
        let text = self.rt.block_on(async {
            let r = self.client.post(format!("{}/v1/chat/completions", self.url)).bearer_auth(&self.key).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        });
        let (mut content, mut reasons, mut usage, mut done) = (String::new(), Vec::new(), Value::Null, false);
        for data in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
            if data == "[DONE]" {
                done = true;
                continue;
            }
            let chunk: Value = serde_json::from_str(data).unwrap();
            for c in chunk["choices"].as_array().unwrap() {
                content.push_str(c["delta"]["content"].as_str().unwrap_or(""));
                if let Some(r) = c["finish_reason"].as_str() {
                    reasons.push(r.to_string());
                }
            }
            if chunk["usage"].is_object() {
                usage = chunk["usage"].clone();
            }
        }
        (content, reasons, usage, done)
    }
}

fn set_policy(cli: &Cli, dir: &std::path::Path, policy: Value) {
    let file = dir.join("policy.json");
    std::fs::write(&file, policy.to_string()).unwrap();
    cli.ok(&["safety", "set", file.to_str().unwrap()]);
}

/// `pattern` as a regular expression that matches it literally.
fn literal(pattern: &str) -> String {
    pattern.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_string() } else { format!("\\x{{{:x}}}", c as u32) }).collect()
}

#[test]
fn the_content_policy_filters_inputs_and_answers_and_logged_conversations_become_a_dataset() {
    let Some(python) = test_support::runtime_python() else { return };
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let classifier = start_classifier();
    let port = common::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let srv = common::runtime_server(&python, data.path(), port, &["--external-endpoint", &classifier], &[]);
    let cli = Cli::new(&srv.url);
    cli.ok_with(&["register", "--email", EMAIL, "--name", "Ada", "--password-stdin"], &format!("{PASSWORD}\n"));
    cli.ok_with(&["login", "--email", EMAIL, "--password-stdin"], &format!("{PASSWORD}\n"));
    let (base, _) = common::tiny_model_and_chats(&cli, files.path());
    // (A server without --vllm-command refuses vLLM deployments, naming the flag.)
    let refused = cli.fails(&["deploy", "create", &base, "--backend", "vllm"], 1);
    assert!(refused.contains("--vllm-command"), "{refused}");
    let dep = cli.json(&["deploy", "create", &base, "--name", "tiny", "--log-requests", "--wait"]);
    assert_eq!((dep["state"].as_str(), dep["log_requests"].as_bool()), (Some("ready"), Some(true)), "{dep}\n{}", srv.logs());
    let dep_id = dep["id"].as_str().unwrap().to_string();
    let key = cli.json(&["keys", "create", "--name", "app", "--scope", "deploy_model"]);
    let http = Http {
        rt: tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap(),
        client: reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap(),
        url: url.clone(),
        key: key["key"].as_str().unwrap().to_string(),
    };

    // Without a policy: the model's answer at temperature 0 (the same every time).
    let (status, plain) = http.chat(QUESTION, json!({}));
    assert_eq!(status, 200, "{plain}");
    let answer = plain["choices"][0]["message"]["content"].as_str().unwrap().to_string();
    let marker = answer.chars().find(|c| c.is_alphanumeric()).expect("an answer with a letter or digit");
    assert_eq!(http.stream(QUESTION).0, answer, "streamed and whole answers agree");

    // A bad policy is refused with the field named; nothing changes.
    let bad = files.path().join("bad.json");
    std::fs::write(&bad, json!({"rules": [{"name": "x", "pattern": "(", "action": "block"}]}).to_string()).unwrap();
    let err = cli.fails(&["safety", "set", bad.to_str().unwrap()], 1);
    assert!(err.contains("rules[0].pattern"), "{err}");

    // Input rules and output masks.
    set_policy(
        &cli,
        files.path(),
        json!({
            "max_input_chars": 200,
            "rules": [
                {"name": "codename", "stages": ["input"], "words": ["Phoenix"], "action": "block"},
                {"name": "emails", "stages": ["input", "output"], "pii": ["email"], "action": "mask"},
                {"name": "marker", "stages": ["output"], "pattern": literal(&marker.to_string()), "action": "mask", "replacement": "[X]"},
            ],
        }),
    );
    let (status, body) = http.chat("What is project phoenix?", json!({}));
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("content_filter")), "{body}");
    assert_eq!(body["error"]["param"], "messages[0].content", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("rule 'codename'"), "{body}");
    let (status, body) = http.chat(&"a".repeat(201), json!({}));
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("content_filter")), "{body}");
    let masked = answer.replace(marker, "[X]");
    let (status, body) = http.chat(QUESTION, json!({}));
    assert_eq!((status, body["choices"][0]["message"]["content"].as_str()), (200, Some(masked.as_str())), "{body}");
    let (streamed, reasons, usage, done) = http.stream(QUESTION);
    assert_eq!((streamed.as_str(), done), (masked.as_str(), true));
    assert_eq!(reasons.len(), 1);
    assert!(usage["completion_tokens"].as_i64().unwrap() > 0, "{usage}");
    let (status, _) = http.chat(&format!("Mail olga.ivanova@example.com: {QUESTION}"), json!({}));
    assert_eq!(status, 200);

    // An output block rule ends the answer (content_filter) without sending what it matched.
    set_policy(
        &cli,
        files.path(),
        json!({"rules": [{"name": "no-marker", "stages": ["output"], "pattern": literal(&marker.to_string()), "action": "block"}]}),
    );
    let (status, body) = http.chat(QUESTION, json!({}));
    assert_eq!((status, body["choices"][0]["finish_reason"].as_str()), (200, Some("content_filter")), "{body}");
    assert!(!body["choices"][0]["message"]["content"].as_str().unwrap().contains(marker), "{body}");
    let (streamed, reasons, usage, done) = http.stream(QUESTION);
    assert!(!streamed.contains(marker) && done, "{streamed}");
    assert_eq!(reasons, ["content_filter"]);
    assert!(usage["prompt_tokens"].as_i64().unwrap() > 0, "{usage}");

    // The moderation model judges inputs and answers (fails closed when it cannot answer).
    let guard = cli.json(&["deploy", "create", "--name", "guard", "--external-url", &classifier, "--external-model", "llama-guard"]);
    assert_eq!(guard["backend"], "external", "{guard}");
    set_policy(&cli, files.path(), json!({"moderation": {"deployment": "guard"}}));
    let (status, body) = http.chat("a forbidden question", json!({}));
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("content_filter")), "{body}");
    let (status, body) = http.chat(QUESTION, json!({}));
    assert_eq!((status, body["choices"][0]["message"]["content"].as_str()), (200, Some(answer.as_str())), "{body}");
    let (status, body) = http.chat(&format!("judge-the-answer {QUESTION}"), json!({}));
    assert_eq!((status, body["choices"][0]["finish_reason"].as_str()), (200, Some("content_filter")), "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "", "{body}");
    let (content, reasons, _, done) = http.stream(&format!("judge-the-answer {QUESTION}"));
    assert_eq!((content.as_str(), reasons, done), ("", vec!["content_filter".to_string()], true));
    // A block rule and the moderation model on one answer: it ends once.
    let any_text = json!({"name": "anything", "stages": ["output"], "pattern": r"[\s\S]", "action": "block"});
    set_policy(&cli, files.path(), json!({"rules": [any_text], "moderation": {"deployment": "guard", "stages": ["output"]}}));
    let (content, reasons, _, done) = http.stream(&format!("judge-the-answer {QUESTION}"));
    assert_eq!((content.as_str(), reasons, done), ("", vec!["content_filter".to_string()], true));
    set_policy(&cli, files.path(), json!({"moderation": {"deployment": "guard"}}));
    cli.ok(&["deploy", "stop", guard["id"].as_str().unwrap()]);
    let (status, body) = http.chat(QUESTION, json!({}));
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("service_unavailable")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("moderation deployment 'guard'"), "{body}");
    set_policy(&cli, files.path(), json!({}));

    // Every action is an event, with the request it acted on and never the matched text.
    let events = common::wait_json(&cli, &["safety", "events", "--all"], |v| v["data"].as_array().unwrap().len() >= 10, 10);
    let seen: Vec<(String, String, String)> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["stage"].as_str().unwrap().into(), e["rule"].as_str().unwrap().into(), e["action"].as_str().unwrap().into()))
        .collect();
    for want in [
        ("input", "codename", "block"),
        ("input", "max_input_chars", "block"),
        ("output", "marker", "mask"),
        ("input", "emails", "mask"),
        ("output", "no-marker", "block"),
        ("input", "moderation", "block"),
        ("output", "moderation", "block"),
    ] {
        assert!(seen.contains(&(want.0.into(), want.1.into(), want.2.into())), "{want:?} not in {seen:?}");
    }
    assert!(!events.to_string().contains("phoenix") && !events.to_string().contains("olga"), "{events}");
    let moderation = events["data"].as_array().unwrap().iter().find(|e| e["rule"] == "moderation").unwrap();
    assert_eq!(moderation["detail"], "unsafe S2", "{moderation}");

    // The log: what the model got (the address masked) and what the client got.
    let logs = cli.json(&["deploy", "logs", &dep_id, "--all"]);
    let logged = logs["data"].as_array().unwrap();
    let mailed = logged.iter().find(|l| l["messages"][0]["content"].as_str().unwrap().starts_with("Mail")).expect("the logged mail");
    assert_eq!(mailed["messages"][0]["content"], format!("Mail [EMAIL]: {QUESTION}"), "{mailed}");
    assert!(!logs.to_string().contains("olga.ivanova"), "{logs}");
    let whole: Vec<_> =
        logged.iter().filter(|l| l["answers"][0]["finish_reason"] == "stop" || l["answers"][0]["finish_reason"] == "length").collect();
    assert!(logged.iter().any(|l| l["answers"][0]["finish_reason"] == "content_filter"), "{logs}");

    // Exported: one chat record per whole answer, in a dataset whose version names the deployment.
    let exported = cli.json(&["deploy", "export-logs", &dep_id, "--name", "from-tiny"]);
    assert_eq!(exported["version"]["source_deployment_id"], dep_id.as_str(), "{exported}");
    assert_eq!(exported["version"]["records"], whole.len(), "{exported}");
    assert_eq!(exported["version"]["invalid_records"], 0, "{exported}");
    let ds = exported["dataset"]["id"].as_str().unwrap();
    let preview = cli.json(&["datasets", "preview", ds]);
    let first = &preview["data"][0]["record"]["messages"];
    assert_eq!((first[0]["content"].as_str(), first[1]["role"].as_str()), (Some(QUESTION), Some("assistant")), "{preview}");
}
