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
        let a = submit(&app, &root, &[("metrics", "bleu,bleurt")], &predictions_file(&en["cases"][0])).await;
        assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (400, Some("metrics[1]")), "{}", a.body);
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
