//! Evaluations through the API on SQLite and PostgreSQL: a predictions file scored by the
//! runner (sacreBLEU's own figures, in English and Chinese), with bootstrap intervals and
//! per-example scores; a rerun gives the same results; bad requests are refused naming what and
//! where; viewers may look but not evaluate.

mod common;

use common::{Payload, TestApp};
use serde_json::{json, Value};
use std::time::Duration;
use test_support::backends;

fn predictions_file(case: &Value) -> String {
    let hyps = case["hyps"].as_array().unwrap();
    let streams = case["refs"].as_array().unwrap();
    (0..hyps.len())
        .map(|i| {
            let refs: Vec<&Value> = streams.iter().map(|s| &s[i]).collect();
            json!({"prediction": hyps[i], "references": refs}).to_string() + "\n"
        })
        .collect()
}

async fn submit(app: &TestApp, token: &str, fields: &[(&str, &str)], file: &str) -> common::Answer {
    let fields = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let payload = Payload::Multipart { fields, filename: "predictions.jsonl".into(), content: file.as_bytes().to_vec() };
    app.call_with("POST", "/api/v1/evaluations", token, payload).await
}

async fn finished(app: &TestApp, token: &str, id: &str) -> Value {
    for _ in 0..300 {
        let v = app.get(&format!("/api/v1/evaluations/{id}"), token).await.expect(200).clone();
        if ["succeeded", "failed", "cancelled"].contains(&v["state"].as_str().unwrap()) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("evaluation {id} did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_predictions_file_is_scored_stored_and_rerun_with_the_same_results() {
    let en: Value = serde_json::from_str(include_str!("../../metrics/tests/fixtures/sacrebleu_bleu.json")).unwrap();
    let zh: Value = serde_json::from_str(include_str!("../../metrics/tests/fixtures/sacrebleu_bleu_zh.json")).unwrap();
    for backend in backends() {
        let app = TestApp::new(backend).await;
        let (_, root) = app.bootstrap().await;
        app.services.start_evaluations().await.unwrap();

        // English, two references each, 13a: sacreBLEU's corpus score, an interval around it.
        let case = &en["cases"][0];
        let a = submit(&app, &root, &[("name", "en"), ("metrics", "bleu,chrf,rouge,exact_match")], &predictions_file(case)).await;
        let id = a.expect(202)["id"].as_str().unwrap().to_string();
        assert_eq!((a.body["kind"].as_str(), a.body["progress"]["total"].as_i64()), (Some("predictions"), Some(3)), "{}", a.body);
        let done = finished(&app, &root, &id).await;
        assert_eq!(done["state"], "succeeded", "{done}");
        let bleu = &done["results"]["metrics"]["bleu"];
        assert!((bleu["score"].as_f64().unwrap() - case["score"].as_f64().unwrap()).abs() < 1e-9, "{done}");
        let [lo, hi] = [bleu["interval"][0].as_f64().unwrap(), bleu["interval"][1].as_f64().unwrap()];
        assert!(lo <= hi && lo >= 0.0 && hi <= 100.0, "{bleu}");
        assert_eq!(bleu["confidence"], 0.95);
        for name in ["chrf", "rouge1", "rouge2", "rougeL", "rougeLsum", "exact_match"] {
            assert!(done["results"]["metrics"][name]["score"].is_number(), "{name}: {done}");
        }
        assert_eq!(done["config"]["tokenize"], "13a");
        assert!(done["config"]["metrics_version"].as_str().unwrap().starts_with("tunery-metrics"), "{done}");
        // Per example: the prediction, both references and the sentence scores.
        let page = app.get(&format!("/api/v1/evaluations/{id}/examples?from=1&limit=1"), &root).await;
        let x = &page.expect(200)["data"][0];
        assert_eq!((x["index"].as_i64(), x["prediction"].as_str()), (Some(1), case["hyps"][1].as_str()), "{x}");
        assert_eq!(x["references"].as_array().unwrap().len(), 2, "{x}");
        let sentence = metrics::sentence_bleu(
            case["hyps"][1].as_str().unwrap(),
            &[case["refs"][0][1].as_str().unwrap(), case["refs"][1][1].as_str().unwrap()],
        );
        assert!((x["scores"]["bleu"].as_f64().unwrap() - sentence.score).abs() < 1e-9, "{x}");
        assert!(x["prompt"].is_null());
        assert_eq!(page.body["has_more"], true);

        // A rerun: the same scores and the same seeded interval.
        let again = app.post(&format!("/api/v1/evaluations/{id}/rerun"), &root, json!({})).await;
        let again_id = again.expect(202)["id"].as_str().unwrap().to_string();
        assert_eq!(again.body["rerun_of"], id.as_str());
        let again = finished(&app, &root, &again_id).await;
        assert_eq!(again["results"], done["results"], "a rerun changed the scores");

        // Chinese with the zh tokenizer: sacreBLEU's figure (13a would split nothing).
        let case = &zh["cases"][0];
        let a =
            submit(&app, &root, &[("metrics", "bleu"), ("tokenize", "zh"), ("bootstrap_resamples", "0")], &predictions_file(case)).await;
        let zh_id = a.expect(202)["id"].as_str().unwrap().to_string();
        let done = finished(&app, &root, &zh_id).await;
        let bleu = &done["results"]["metrics"]["bleu"];
        assert!((bleu["score"].as_f64().unwrap() - case["score"].as_f64().unwrap()).abs() < 1e-9, "{done}");
        assert_eq!(bleu["tokenize"], "zh");
        assert!(bleu.get("interval").is_none(), "no resamples, no interval: {bleu}");

        // Lists, cancel of a finished one, delete.
        let list = app.get("/api/v1/evaluations?limit=2", &root).await;
        assert_eq!(list.expect(200)["data"].as_array().unwrap().len(), 2);
        assert_eq!(list.body["has_more"], true);
        let a = app.post(&format!("/api/v1/evaluations/{zh_id}/cancel"), &root, json!({})).await;
        assert_eq!((a.status.as_u16(), a.code()), (409, "conflict"), "{}", a.body);
        app.call("DELETE", &format!("/api/v1/evaluations/{zh_id}"), Some(&root), None).await.expect(204);
        app.get(&format!("/api/v1/evaluations/{zh_id}"), &root).await.expect(404);

        // Bad requests say what and where, and store nothing.
        let before = app.get("/api/v1/evaluations", &root).await.body["data"].as_array().unwrap().len();
        let a =
            submit(&app, &root, &[("metrics", "bleu")], "{\"prediction\": \"a\", \"reference\": \"a\"}\n{\"reference\": \"b\"}\n").await;
        assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (422, Some("file")), "{}", a.body);
        assert!(a.body["error"]["message"].as_str().unwrap().contains("line 2"), "{}", a.body);
        let a = submit(&app, &root, &[("metrics", "bleu,comet")], &predictions_file(&en["cases"][0])).await;
        assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (400, Some("metrics[1]")), "{}", a.body);
        // A metric this server is not set up for: refused, naming what the administrator sets.
        let a = submit(&app, &root, &[("metrics", "bleu,bleurt")], &predictions_file(&en["cases"][0])).await;
        assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (422, Some("metrics[1]")), "{}", a.body);
        assert!(a.body["error"]["message"].as_str().unwrap().contains("--runtime-python"), "{}", a.body);
        let a = submit(&app, &root, &[("tokenize", "intl")], &predictions_file(&en["cases"][0])).await;
        assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (400, Some("tokenize")), "{}", a.body);
        let text = app.upload_dataset(&root, &[("name", "plain text")], "t.txt", b"just some text\n").await;
        let text_id = text.expect(201)["dataset"]["id"].as_str().unwrap().to_string();
        let a = app.post("/api/v1/evaluations", &root, json!({"model": "nobody", "dataset_id": text_id, "metrics": ["bleu"]})).await;
        assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (422, Some("dataset_id")), "{}", a.body);
        assert!(a.body["error"]["message"].as_str().unwrap().contains("record 0"), "{}", a.body);
        let chats = app
            .upload_dataset(
                &root,
                &[("name", "chats")],
                "c.jsonl",
                br#"{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"}]}"#,
            )
            .await;
        let chats_id = chats.expect(201)["dataset"]["id"].as_str().unwrap().to_string();
        let a = app.post("/api/v1/evaluations", &root, json!({"model": "nobody", "dataset_id": chats_id, "metrics": ["bleu"]})).await;
        assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (422, Some("model")), "{}", a.body);
        let a = app
            .post(
                "/api/v1/evaluations",
                &root,
                json!({"model": "nobody", "dataset_id": chats_id, "metrics": ["bleu"], "generation": {"max_tokens": 0}}),
            )
            .await;
        assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (400, Some("generation.max_tokens")), "{}", a.body);
        assert_eq!(app.get("/api/v1/evaluations", &root).await.body["data"].as_array().unwrap().len(), before);

        // A viewer may look, not evaluate.
        let (_, viewer) = app.user(&root, "viewer@example.com", "viewer").await;
        app.get(&format!("/api/v1/evaluations/{id}"), &viewer).await.expect(200);
        let a = submit(&app, &viewer, &[("metrics", "bleu")], &predictions_file(&en["cases"][0])).await;
        assert_eq!((a.status.as_u16(), a.code()), (403, "permission_denied"), "{}", a.body);
        app.services.stop_evaluations().await;
    }
}

/// 60 examples; `right` of them answered exactly, the rest with one word wrong.
fn answers(right: usize) -> String {
    (0..60)
        .map(|i| {
            let reference = format!("the answer is number {i}");
            let prediction = if i < right { reference.clone() } else { format!("the answer was number {i}") };
            json!({"prediction": prediction, "reference": reference}).to_string() + "\n"
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluations_are_compared_side_by_side_and_ab_tested_for_significance() {
    for backend in backends() {
        let app = TestApp::new(backend).await;
        let (_, root) = app.bootstrap().await;
        app.services.start_evaluations().await.unwrap();
        let mut ids = Vec::new();
        for (name, right) in [("weak", 30), ("strong", 55), ("weak again", 30)] {
            let a = submit(&app, &root, &[("name", name), ("metrics", "exact_match,bleu,distinct-1")], &answers(right)).await;
            let id = a.expect(202)["id"].as_str().unwrap().to_string();
            assert_eq!(finished(&app, &root, &id).await["state"], "succeeded");
            ids.push(id);
        }
        let (weak, strong, weak_again) = (&ids[0], &ids[1], &ids[2]);

        // The comparison: the table, wins/ties/losses per example, histograms, side by side.
        let c = app
            .post("/api/v1/comparisons", &root, json!({"evaluation_ids": [weak, strong], "metric": "exact_match", "from": 29, "limit": 2}))
            .await;
        let c = c.expect(200).clone();
        assert_eq!(c["table"]["exact_match"][0]["score"], 50.0, "{c}");
        assert!((c["table"]["exact_match"][1]["score"].as_f64().unwrap() - 100.0 * 55.0 / 60.0).abs() < 1e-9, "{c}");
        assert_eq!(c["versus_first"][0], json!({"evaluation_id": strong, "wins": 25, "ties": 35, "losses": 0}), "{c}");
        assert_eq!(c["histograms"][0]["bins"][9], 30, "{c}");
        let x = &c["examples"][1];
        assert_eq!(x["index"], 30, "{c}");
        assert_eq!(x["answers"][1]["prediction"], "the answer is number 30");
        assert_eq!(
            x["answers"][1]["diff_from_first"],
            json!([{"op": "equal", "text": "the answer"}, {"op": "insert", "text": "is"}, {"op": "delete", "text": "was"}, {"op": "equal", "text": "number 30"}])
        );
        assert_eq!(c["has_more"], true);
        let a = app.post("/api/v1/comparisons", &root, json!({"evaluation_ids": [weak, strong], "metric": "distinct-1"})).await;
        assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (422, Some("metric")), "{}", a.body);

        // The A/B test: the planted difference is significant; the same answers are not.
        let t = app
            .post(
                "/api/v1/ab-tests",
                &root,
                json!({"evaluation_a": weak, "evaluation_b": strong, "metric": "exact_match", "minimum_effect": 5}),
            )
            .await;
        let t = t.expect(201).clone();
        let r = &t["results"];
        assert!(r["significant"] == true && r["p_value"].as_f64().unwrap() < 0.01, "{t}");
        assert!((r["difference"].as_f64().unwrap() - 100.0 * 25.0 / 60.0).abs() < 1e-9, "{t}");
        assert!(r["interval"][0].as_f64().unwrap() > 0.0, "{t}");
        assert!(r["sample_size_needed"].as_u64().unwrap() > 60, "a difference of 5 needs more than 60 examples: {t}");
        assert!(r["verdict"].as_str().unwrap().starts_with("strong is better than weak on exact_match"), "{t}");
        assert_eq!(app.get(&format!("/api/v1/ab-tests/{}", t["id"].as_str().unwrap()), &root).await.expect(200)["results"], t["results"]);
        let same = app
            .post("/api/v1/ab-tests", &root, json!({"evaluation_a": weak, "evaluation_b": weak_again, "metric": "bleu", "method": "approximate_randomization", "resamples": 500}))
            .await;
        let same = same.expect(201).clone();
        assert_eq!((same["results"]["p_value"].as_f64(), same["results"]["significant"].as_bool()), (Some(1.0), Some(false)), "{same}");
        assert!(same["results"]["verdict"].as_str().unwrap().starts_with("no significant difference"), "{same}");

        // Refusals: another test set, a metric that is no sum over examples.
        let other = submit(&app, &root, &[("metrics", "exact_match")], &answers(60).replace("number", "no.")).await;
        let other = other.expect(202)["id"].as_str().unwrap().to_string();
        finished(&app, &root, &other).await;
        let a = app.post("/api/v1/ab-tests", &root, json!({"evaluation_a": weak, "evaluation_b": other, "metric": "exact_match"})).await;
        assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (422, Some("evaluation_b")), "{}", a.body);
        assert!(a.body["error"]["message"].as_str().unwrap().contains("example 0"), "{}", a.body);
        let a = app.post("/api/v1/ab-tests", &root, json!({"evaluation_a": weak, "evaluation_b": strong, "metric": "distinct-1"})).await;
        assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (400, Some("metric")), "{}", a.body);
        // An evaluation an A/B test uses is kept until the test is deleted.
        let a = app.call("DELETE", &format!("/api/v1/evaluations/{weak}"), Some(&root), None).await;
        assert_eq!(a.status.as_u16(), 409, "{}", a.body);
        for test in [&t, &same] {
            app.call("DELETE", &format!("/api/v1/ab-tests/{}", test["id"].as_str().unwrap()), Some(&root), None).await.expect(204);
        }
        app.call("DELETE", &format!("/api/v1/evaluations/{weak}"), Some(&root), None).await.expect(204);
        app.services.stop_evaluations().await;
    }
}

/// The text between `start` and `end` in `s`.
fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let from = s.find(start).map(|i| i + start.len()).unwrap_or(0);
    let to = s[from..].find(end).map(|i| from + i).unwrap_or(s.len());
    &s[from..to]
}

/// A judge behind an OpenAI-compatible URL (an external service, as a hosted judge would be):
/// model `fair` prefers the answer equal to the reference, `biased` always the first shown,
/// `slow` calls every pair a tie after 400 ms. It streams, as every upstream of the gateway does.
async fn judge_server() -> String {
    async fn complete(axum::Json(body): axum::Json<Value>) -> impl axum::response::IntoResponse {
        if body["model"] == "slow" {
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        let prompt = body["messages"][1]["content"].as_str().unwrap_or_default().to_string();
        let reference = between(&prompt, "[Reference answer]\n", "\n\n[The Start");
        let fair = body["model"] == "fair";
        let verdict = if prompt.contains("Assistant A's Answer") {
            let a = between(&prompt, "[The Start of Assistant A's Answer]\n", "\n[The End of Assistant A's Answer]");
            let b = between(&prompt, "[The Start of Assistant B's Answer]\n", "\n[The End of Assistant B's Answer]");
            match (fair, a == reference, b == reference) {
                (false, _, _) => "The first answer reads better. [[A]]",
                (true, true, false) => "A matches the reference. [[A]]",
                (true, false, true) => "B matches the reference. [[B]]",
                _ => "Equally good. [[C]]",
            }
        } else {
            let answer = between(&prompt, "[The Start of the Assistant's Answer]\n", "\n[The End of the Assistant's Answer]");
            if answer == reference {
                "Exactly the reference. Rating: [[9]]"
            } else {
                "Wrong. Rating: [[3]]"
            }
        };
        let chunk = json!({"object": "chat.completion.chunk", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": verdict}, "finish_reason": null}]});
        let end = json!({"object": "chat.completion.chunk", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 50, "completion_tokens": 8, "total_tokens": 58}});
        ([(axum::http::header::CONTENT_TYPE, "text/event-stream")], format!("data: {chunk}\n\ndata: {end}\n\ndata: [DONE]\n\n"))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let models = || async {
        let ids = ["fair", "biased", "slow"];
        axum::Json(json!({"object": "list", "data": ids.map(|id| json!({"id": id, "object": "model"}))}))
    };
    let app =
        axum::Router::new().route("/v1/chat/completions", axum::routing::post(complete)).route("/v1/models", axum::routing::get(models));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// An app running evaluations, with the judge server allowed and deployed under each
/// (deployment name, judge model); the administrator's token.
async fn app_with_judges(backend: test_support::Backend, judges: &[(&str, &str)]) -> (TestApp, String) {
    let judge_url = judge_server().await;
    let mut settings = services::Settings::default();
    settings.serving.external_endpoints = vec![judge_url.clone()];
    let app = TestApp::with_settings(backend, settings).await;
    let (_, root) = app.bootstrap().await;
    app.services.start_evaluations().await.unwrap();
    for (name, model) in judges {
        let d = json!({"name": name, "backend": "external", "endpoint": {"url": judge_url, "model": model}});
        app.post("/api/v1/deployments", &root, d).await.expect(202);
    }
    (app, root)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_judge_rates_and_compares_answers_in_both_orders() {
    for backend in backends() {
        let (app, root) = app_with_judges(backend, &[("fair-judge", "fair"), ("biased-judge", "biased")]).await;
        let mut ids = Vec::new();
        for (name, right) in [("weak", 30), ("strong", 55)] {
            let a = submit(&app, &root, &[("name", name), ("metrics", "exact_match")], &answers(right)).await;
            let id = a.expect(202)["id"].as_str().unwrap().to_string();
            finished(&app, &root, &id).await;
            ids.push(id);
        }
        let judge =
            |judge: &str, mode: &str, evaluations: Vec<&String>| json!({"judge": judge, "mode": mode, "evaluation_ids": evaluations});

        // A fair judge: B (strong) wins where only B is right, ties elsewhere, in both orders.
        let a = app.post("/api/v1/judgements", &root, judge("fair-judge", "pairwise", vec![&ids[0], &ids[1]])).await;
        let fair = finished(&app, &root, a.expect(202)["id"].as_str().unwrap()).await;
        assert_eq!((fair["state"].as_str(), fair["kind"].as_str()), (Some("succeeded"), Some("judge")), "{fair}");
        let m = &fair["results"]["metrics"]["judge_win_rate"];
        assert_eq!((m["wins_b"].as_u64(), m["ties"].as_u64(), m["wins_a"].as_u64()), (Some(25), Some(35), Some(0)), "{m}");
        assert!((m["score"].as_f64().unwrap() - (25.0 * 100.0 + 35.0 * 50.0) / 60.0).abs() < 1e-9, "{m}");
        assert_eq!(m["consistency"], 100.0, "{m}");
        let lo = m["interval"][0].as_f64().unwrap();
        assert!(lo > 50.0, "B is better beyond doubt: {m}");
        let fair_id = fair["id"].as_str().unwrap();
        let x = &app.get(&format!("/api/v1/evaluations/{fair_id}/examples?from=40&limit=1"), &root).await.body["data"][0];
        assert_eq!(x["judgements"].as_array().unwrap().len(), 2, "{x}");
        assert_eq!(x["answers"][1], "the answer is number 40", "{x}");
        assert_eq!(x["scores"]["judge_win_rate"], 100.0, "{x}");

        // A judge that always prefers the first answer shown decides nothing.
        let a = app.post("/api/v1/judgements", &root, judge("biased-judge", "pairwise", vec![&ids[0], &ids[1]])).await;
        let biased = finished(&app, &root, a.expect(202)["id"].as_str().unwrap()).await;
        let m = &biased["results"]["metrics"]["judge_win_rate"];
        assert_eq!(
            (m["score"].as_f64(), m["consistency"].as_f64(), m["first_position_picks"].as_f64()),
            (Some(50.0), Some(0.0), Some(100.0)),
            "{m}"
        );

        // A rubric: the mean rating of the strong answers, and a rerun gives the same.
        let a = app.post("/api/v1/judgements", &root, judge("fair-judge", "rubric", vec![&ids[1]])).await;
        let rubric = finished(&app, &root, a.expect(202)["id"].as_str().unwrap()).await;
        let m = &rubric["results"]["metrics"]["judge_rating"];
        assert!((m["score"].as_f64().unwrap() - (55.0 * 9.0 + 5.0 * 3.0) / 60.0).abs() < 1e-9, "{m}");
        assert_eq!(
            (m["distribution"][8].as_u64(), m["distribution"][2].as_u64(), m["unparsed"].as_u64()),
            (Some(55), Some(5), Some(0)),
            "{m}"
        );
        let again = app.post(&format!("/api/v1/evaluations/{}/rerun", rubric["id"].as_str().unwrap()), &root, json!({})).await;
        let again = finished(&app, &root, again.expect(202)["id"].as_str().unwrap()).await;
        assert_eq!(again["results"], rubric["results"]);

        // Refusals say what is wrong.
        let a = app.post("/api/v1/judgements", &root, judge("fair-judge", "pairwise", vec![&ids[0]])).await;
        assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (422, Some("evaluation_ids")), "{}", a.body);
        let a = app.post("/api/v1/judgements", &root, judge("no-such-judge", "rubric", vec![&ids[0]])).await;
        assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (422, Some("model")), "{}", a.body);
        app.services.stop_evaluations().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rouge_with_the_stemmer_and_on_chinese_equals_rouge_score_with_them() {
    let doc: Value = serde_json::from_str(include_str!("../../metrics/tests/fixtures/rouge_variants.json")).unwrap();
    for backend in backends() {
        let app = TestApp::new(backend).await;
        let (_, root) = app.bootstrap().await;
        app.services.start_evaluations().await.unwrap();
        for (stemmer, chinese, fields) in [
            (true, false, vec![("metrics", "rouge"), ("rouge_stemmer", "true")]),
            (false, true, vec![("metrics", "rouge"), ("tokenize", "zh")]),
            (true, true, vec![("metrics", "rouge"), ("tokenize", "zh"), ("rouge_stemmer", "true")]),
        ] {
            let cases: Vec<&Value> =
                doc["cases"].as_array().unwrap().iter().filter(|c| c["stemmer"] == stemmer && c["chinese"] == chinese).collect();
            let file: String =
                cases.iter().map(|c| json!({"prediction": c["prediction"], "reference": c["target"]}).to_string() + "\n").collect();
            let id = submit(&app, &root, &fields, &file).await.expect(202)["id"].as_str().unwrap().to_string();
            let done = finished(&app, &root, &id).await;
            assert_eq!(done["config"]["rouge_stemmer"].as_bool().unwrap_or(false), stemmer, "{done}");
            for (k, name) in ["rouge1", "rouge2", "rougeL", "rougeLsum"].iter().enumerate() {
                let m = &done["results"]["metrics"][name];
                let want = 100.0 * cases.iter().map(|c| c["scores"][name][2].as_f64().unwrap()).sum::<f64>() / cases.len() as f64;
                assert!((m["score"].as_f64().unwrap() - want).abs() < 1e-9, "{name} ({stemmer}, {chinese}): {m} vs {want}");
                assert_eq!(
                    (m["stemmer"].as_bool(), m["tokenize"].as_str()),
                    (Some(stemmer), Some(if chinese { "zh" } else { "rouge-score" })),
                    "{k}: {m}"
                );
            }
        }
        // Perplexity needs the model: a file of answers cannot give it.
        let a = submit(&app, &root, &[("metrics", "perplexity")], "{\"prediction\": \"a\", \"reference\": \"a\"}\n").await;
        assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (422, Some("metrics")), "{}", a.body);
        app.services.stop_evaluations().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluations_wait_within_jobs_at_once_quotas_count_there_while_running_are_refused_once_a_budget_is_spent_and_are_costed() {
    for backend in backends() {
        let (app, root) = app_with_judges(backend, &[("slow-judge", "slow")]).await;
        let org = app.get("/api/v1/me", &root).await.body["organization"]["id"].as_str().unwrap().to_string();
        let (researcher_id, researcher) = app.user(&root, "res@example.com", "researcher").await;
        let quota = |scope: &str, id: &str| format!("/api/v1/quotas/{scope}/{id}");
        let eval = |id: &str| format!("/api/v1/evaluations/{id}");

        // No place at once for the researcher: the evaluation waits in the queue, saying why.
        app.call("PUT", &quota("user", &researcher_id), Some(&root), Some(json!({"max_concurrent_jobs": 0}))).await.expect(200);
        let held = submit(&app, &researcher, &[("name", "held"), ("metrics", "exact_match")], &answers(30)).await.id();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let v = app.get(&eval(&held), &researcher).await.expect(200).clone();
        assert_eq!((v["state"].as_str(), v["wait"]["code"].as_str()), (Some("queued"), Some("quota")), "{v}");
        let says = v["wait"]["message"].as_str().unwrap();
        assert!(says.contains(&format!("user {researcher_id}")) && says.contains("at most 0 job(s) running at once"), "{says}");
        app.call("PUT", &quota("user", &researcher_id), Some(&root), Some(json!({"max_concurrent_jobs": 1}))).await.expect(200);
        let v = finished(&app, &researcher, &held).await;
        assert_eq!((v["state"].as_str(), v["wait"].as_object()), (Some("succeeded"), None), "{v}");
        // A predictions file takes no device: one run, no GPU-hours.
        assert_eq!((v["cost"]["runs"].as_u64(), v["cost"]["gpu_hours"].as_f64()), (Some(1), Some(0.0)), "{v}");
        let other = submit(&app, &researcher, &[("name", "other"), ("metrics", "exact_match")], &answers(55)).await.id();
        finished(&app, &researcher, &other).await;

        // A running evaluation takes the researcher's one place: the quota shows it, and the
        // next evaluation waits until it ends.
        let j = json!({"judge": "slow-judge", "mode": "pairwise", "evaluation_ids": [held, other]});
        let judged = app.post("/api/v1/judgements", &researcher, j).await.id();
        app.wait_for(&researcher, &eval(&judged), |b| b["state"] == "running", 30).await;
        let quotas = app.get("/api/v1/quotas", &researcher).await.expect(200).clone();
        let mine = quotas["data"].as_array().unwrap().iter().find(|q| q["subject_id"] == researcher_id.as_str()).unwrap().clone();
        assert_eq!((mine["usage"]["running_evaluations"].as_u64(), mine["usage"]["running_jobs"].as_u64()), (Some(1), Some(0)), "{mine}");
        let next = submit(&app, &researcher, &[("name", "next"), ("metrics", "exact_match")], &answers(40)).await.id();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let v = app.get(&eval(&next), &researcher).await.expect(200).clone();
        assert_eq!(v["state"], "queued", "{v}");
        assert!(v["wait"]["message"].as_str().unwrap().contains("0 job(s) and 1 evaluation(s) running"), "{v}");
        let judge = finished(&app, &researcher, &judged).await;
        assert_eq!(judge["state"], "succeeded", "{judge}");
        let next_done = finished(&app, &researcher, &next).await;
        assert!(next_done["started_at"].as_i64() >= judge["finished_at"].as_i64(), "{next_done} {judge}");
        // An external judge is billed by its provider: no GPU-hours here either.
        assert_eq!((judge["cost"]["runs"].as_u64(), judge["cost"]["gpu_hours"].as_f64()), (Some(1), Some(0.0)), "{judge}");
        let usage = app.get("/api/v1/usage?bucket=day", &root).await.expect(200).clone();
        assert_eq!(usage["compute"]["evaluations"].as_u64(), Some(4), "{usage}");

        // A month's budget used up: new evaluations are refused, naming it.
        app.call("PUT", &quota("organization", &org), Some(&root), Some(json!({"budget_per_month": 0.0}))).await.expect(200);
        let a = submit(&app, &researcher, &[("name", "over"), ("metrics", "exact_match")], &answers(10)).await;
        assert_eq!((a.status.as_u16(), a.code()), (422, "quota_exceeded"), "{}", a.body);
        assert!(a.body["error"]["message"].as_str().unwrap().contains(&format!("the budget of organization {org}")), "{}", a.body);
        app.delete(&quota("organization", &org), &root).await;
        app.delete(&quota("user", &researcher_id), &root).await;
        app.services.stop_evaluations().await;
    }
}
