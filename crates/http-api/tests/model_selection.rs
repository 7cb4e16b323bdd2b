//! Choosing models by their evaluations, through the API on SQLite and PostgreSQL. Gates: a
//! deployment that asks for one is created only when an evaluation of exactly that model passes
//! the thresholds (stored as a `gate_passed` event), and refused with the failing scores
//! otherwise; a traffic split with a gate takes in candidates only when their evaluations pass,
//! also when variants are added later. A fine-tuned model's experiment record lists its job,
//! data lineage and evaluations; a ranking picks the best model on a test set by a metric.

mod common;

use common::TestApp;
use serde_json::{json, Value};
use std::time::Duration;
use test_support::backends;

async fn evaluate(app: &TestApp, token: &str, deployment: &str, dataset: &str) -> String {
    let e = json!({"model": deployment, "dataset_id": dataset, "metrics": ["exact_match", "bleu"]});
    let id = app.post("/api/v1/evaluations", token, e).await.expect(202)["id"].as_str().unwrap().to_string();
    for _ in 0..300 {
        let v = app.get(&format!("/api/v1/evaluations/{id}"), token).await.expect(200).clone();
        if v["state"] != "queued" && v["state"] != "running" {
            assert_eq!(v["state"], "succeeded", "{v}");
            return id;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("evaluation {id} did not finish");
}

fn gate(thresholds: Value) -> Value {
    json!({"thresholds": thresholds})
}

/// An organization with a test set of greetings, a base model served elsewhere that greets
/// politely and its fine-tune that is rude (external deployments naming them), `curt` serving no
/// model of ours, and an evaluation of each of the first two.
struct Fixture {
    app: TestApp,
    root: String,
    dataset: String,
    base: String,
    model: String,
    base_eval: String,
    tuned_eval: String,
}

async fn fixture(backend: test_support::Backend) -> Fixture {
    let url = common::answer_server().await;
    let mut settings = common::settings_with_runtime();
    settings.serving.external_endpoints = vec![url.clone()];
    let app = TestApp::with_settings(backend, settings).await;
    let (root_id, root) = app.bootstrap().await;
    app.services.start_evaluations().await.unwrap();
    let org = app.get("/api/v1/me", &root).await.body["organization"]["id"].as_str().unwrap().to_string();
    let records: String = ["Ada", "Bo", "Cy"]
            .iter()
            .map(|n| json!({"messages": [{"role": "user", "content": format!("Greet {n}")}, {"role": "assistant", "content": format!("Hello, {n}!")}]}).to_string() + "\n")
            .collect();
    let d = app.upload_dataset(&root, &[("name", "greetings-test")], "t.jsonl", records.as_bytes()).await;
    let dataset = d.expect(201)["dataset"]["id"].as_str().unwrap().to_string();
    let (base, _, model) = common::insert_training_rows(&app, &org, &root_id, &dataset).await;
    // The base model served elsewhere greets politely; the fine-tune is rude; `curt` serves no
    // model of ours and nobody evaluated it.
    for (name, served, upstream) in
        [("base-upstream", Some(&base), "polite"), ("tuned-upstream", Some(&model), "rude"), ("curt", None, "curt")]
    {
        let dep = json!({"name": name, "model": served, "backend": "external", "endpoint": {"url": url, "model": upstream}});
        app.post("/api/v1/deployments", &root, dep).await.expect(202);
    }
    let base_eval = evaluate(&app, &root, "base-upstream", &dataset).await;
    let tuned_eval = evaluate(&app, &root, "tuned-upstream", &dataset).await;

    Fixture { app, root, dataset, base, model, base_eval, tuned_eval }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_and_promotions_pass_their_gates_or_are_refused_with_the_scores() {
    for backend in backends() {
        let Fixture { app, root, base, model, base_eval, .. } = fixture(backend).await;

        // Deploying the base model here: its evaluation passes.
        let strict = gate(json!([{"metric": "exact_match", "min": 90}, {"metric": "bleu", "min": 50}]));
        let d = json!({"model": base, "name": "gated-base", "replicas": 0, "gate": strict});
        let created = app.post("/api/v1/deployments", &root, d).await.expect(202).clone();
        let events = app.get(&format!("/api/v1/deployments/{}/events", created["id"].as_str().unwrap()), &root).await.expect(200).clone();
        let passed = events["data"].as_array().unwrap().iter().find(|e| e["kind"] == "gate_passed").expect("a gate_passed event").clone();
        let details = passed.to_string();
        assert!(details.contains(&base_eval) && details.contains("exact_match"), "{passed}");

        // The fine-tune: its own evaluation fails, named with its score.
        let d = json!({"model": model, "name": "gated-tuned", "replicas": 0, "gate": strict});
        let a = app.post("/api/v1/deployments", &root, d).await;
        assert_eq!((a.status.as_u16(), a.code()), (422, "gate_failed"), "{}", a.body);
        let message = a.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("exact_match 0.00 is below the minimum 90") && message.contains("bleu"), "{message}");
        assert_eq!(app.get("/api/v1/deployments?limit=100", &root).await.body["data"].as_array().unwrap().len(), 4, "nothing was created");
        // Another model's evaluation does not count, nor does a metric never scored.
        let d = json!({"model": model, "name": "gated-tuned", "replicas": 0, "gate": {"thresholds": [{"metric": "exact_match", "min": 0}], "evaluation_id": base_eval}});
        let a = app.post("/api/v1/deployments", &root, d).await;
        assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (422, Some("gate.evaluation_id")), "{}", a.body);
        let d = json!({"model": model, "name": "gated-tuned", "replicas": 0, "gate": gate(json!([{"metric": "chrf", "min": 1}]))});
        let a = app.post("/api/v1/deployments", &root, d).await;
        assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (422, Some("gate")), "{}", a.body);
        assert!(a.body["error"]["message"].as_str().unwrap().contains("evaluate it first"), "{}", a.body);
        let d = json!({"model": model, "name": "gated-tuned", "replicas": 0, "gate": gate(json!([{"metric": "exact_match"}]))});
        assert_eq!(app.post("/api/v1/deployments", &root, d).await.status.as_u16(), 422);

        // A split: the rude fine-tune cannot be promoted next to the polite base ...
        let ids: std::collections::HashMap<String, String> = app.get("/api/v1/deployments?limit=100", &root).await.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["name"].as_str().unwrap().to_string(), d["id"].as_str().unwrap().to_string()))
            .collect();
        let variant = |name: &str| json!({"deployment_id": ids[name], "weight": 1});
        let half = gate(json!([{"metric": "exact_match", "min": 50}]));
        let split = json!({"name": "greeter", "variants": [variant("base-upstream"), variant("tuned-upstream")], "gate": half});
        let a = app.post("/api/v1/traffic-splits", &root, split).await;
        assert_eq!((a.status.as_u16(), a.code()), (422, "gate_failed"), "{}", a.body);
        assert!(a.body["error"]["message"].as_str().unwrap().starts_with("variants[1] failed"), "{}", a.body);
        // ... but the polite base can be promoted next to the rude control.
        let split = json!({"name": "greeter", "variants": [variant("tuned-upstream"), variant("base-upstream")], "gate": half});
        let s = app.post("/api/v1/traffic-splits", &root, split).await.expect(201).clone();
        assert_eq!(s["gate"]["thresholds"][0]["metric"], "exact_match", "{s}");
        let split_id = s["id"].as_str().unwrap();
        // Adding an unevaluated variant later is refused; reweighting the ones in it is not.
        let add = json!({"variants": [variant("tuned-upstream"), variant("base-upstream"), variant("curt")]});
        let a = app.patch(&format!("/api/v1/traffic-splits/{split_id}"), &root, add).await;
        assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (422, Some("variants[2]")), "{}", a.body);
        let reweigh = json!({"variants": [{"deployment_id": ids["tuned-upstream"], "weight": 1}, {"deployment_id": ids["base-upstream"], "weight": 9}]});
        app.patch(&format!("/api/v1/traffic-splits/{split_id}"), &root, reweigh).await.expect(200);
        // A new, stricter gate applies to the candidates at once.
        let a = app.patch(&format!("/api/v1/traffic-splits/{split_id}"), &root, json!({"gate": strict})).await;
        assert_eq!(a.status.as_u16(), 200, "{}", a.body);
        let a = app
            .patch(&format!("/api/v1/traffic-splits/{split_id}"), &root, json!({"gate": gate(json!([{"metric": "bleu", "max": 10}]))}))
            .await;
        assert_eq!((a.status.as_u16(), a.code()), (422, "gate_failed"), "{}", a.body);
        assert!(a.body["error"]["message"].as_str().unwrap().contains("above the maximum 10"), "{}", a.body);
        app.services.stop_evaluations().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_models_record_lists_what_made_it_and_its_evaluations_and_a_ranking_picks_the_best() {
    for backend in backends() {
        let Fixture { app, root, dataset, base, model, base_eval, tuned_eval } = fixture(backend).await;
        let pairwise = json!({"mode": "pairwise", "evaluation_ids": [base_eval, tuned_eval], "raters": {"roles": ["admin"]}});
        let human = app.post("/api/v1/human-evals", &root, pairwise).await.expect(201)["id"].as_str().unwrap().to_string();
        let (_, viewer) = app.user(&root, "viewer@example.com", "viewer").await;

        // The fine-tune's record: its job and configuration, its data, its evaluation (not the
        // base model's), the human evaluation that rates it.
        let r = app.get(&format!("/api/v1/models/{model}/record"), &viewer).await.expect(200).clone();
        assert_eq!((r["object"].as_str(), r["model"]["id"].as_str()), (Some("model.record"), Some(model.as_str())), "{r}");
        assert!(r["job"]["config"]["hyperparameters"].is_object(), "{r}");
        assert_eq!(r["training_data"]["version"]["dataset_id"], dataset.as_str(), "{r}");
        let evaluations: Vec<&str> = r["evaluations"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
        assert_eq!(evaluations, [tuned_eval.as_str()], "{r}");
        assert_eq!(r["evaluations"][0]["results"]["metrics"]["exact_match"]["score"], 0.0, "{r}");
        assert_eq!(r["human_evals"][0]["id"], human.as_str(), "{r}");
        let a = app.get("/api/v1/models/mdl_000000000000000000000000/record", &root).await;
        assert_eq!(a.status.as_u16(), 404, "{}", a.body);

        // The ranking on the test set: the base model greets right, the fine-tune does not.
        let rank = app.get(&format!("/api/v1/models/ranking?metric=exact_match&dataset_id={dataset}"), &viewer).await.expect(200).clone();
        let order: Vec<&str> = rank["models"].as_array().unwrap().iter().map(|m| m["model"].as_str().unwrap()).collect();
        assert_eq!(order, [base.as_str(), model.as_str()], "{rank}");
        assert_eq!((rank["best"]["model"].as_str(), rank["best"]["score"].as_f64()), (Some(base.as_str()), Some(100.0)), "{rank}");
        assert_eq!(rank["best"]["evaluation_id"], base_eval.as_str());
        let rank = app.get(&format!("/api/v1/models/ranking?metric=exact_match&dataset_id={dataset}&order=asc"), &root).await;
        assert_eq!(rank.expect(200)["best"]["model"], model.as_str());
        // A metric nobody scored ranks nothing; a bad metric or order is refused.
        let rank = app.get(&format!("/api/v1/models/ranking?metric=chrf&dataset_id={dataset}"), &root).await.expect(200).clone();
        assert!(rank["best"].is_null() && rank["models"].as_array().unwrap().is_empty(), "{rank}");
        for (query, param) in [("metric=rouge", "metric"), ("metric=bleu&order=up", "order")] {
            let a = app.get(&format!("/api/v1/models/ranking?{query}&dataset_id={dataset}"), &root).await;
            assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (400, Some(param)), "{}", a.body);
        }
        app.services.stop_evaluations().await;
    }
}
