//! Human evaluation through the API on SQLite and PostgreSQL: two raters rate blind (each in an
//! order of their own, answers under shuffled labels), the ratings land on the right model
//! whatever label it was shown under, results report means, distributions and agreement;
//! skips, flags, closing and permissions behave; a pairwise task's preferences become a DPO
//! dataset version whose lineage names the test set.

mod common;

use common::{Payload, TestApp};
use metrics::agreement::{cohen_kappa, krippendorff_alpha, KappaWeights, Level};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use test_support::backends;

const ITEMS: usize = 12;

/// A predictions evaluation of `ITEMS` examples (reference "answer N"): `right` answers each
/// example exactly, otherwise wrongly. Its id, once scored.
async fn evaluation(app: &TestApp, token: &str, name: &str, right: bool) -> String {
    let file: String = (0..ITEMS)
        .map(|i| {
            let prediction = if right { format!("answer {i}") } else { format!("nonsense {i}") };
            json!({"prediction": prediction, "reference": format!("answer {i}")}).to_string() + "\n"
        })
        .collect();
    let fields = vec![("name".to_string(), name.to_string()), ("metrics".to_string(), "exact_match".to_string())];
    let payload = Payload::Multipart { fields, filename: "p.jsonl".into(), content: file.into_bytes() };
    let id = app.call_with("POST", "/api/v1/evaluations", token, payload).await.expect(202)["id"].as_str().unwrap().to_string();
    finished(app, token, &id).await;
    id
}

async fn finished(app: &TestApp, token: &str, id: &str) -> Value {
    for _ in 0..300 {
        let v = app.get(&format!("/api/v1/evaluations/{id}"), token).await.expect(200).clone();
        if ["succeeded", "failed", "cancelled"].contains(&v["state"].as_str().unwrap()) {
            assert_eq!(v["state"], "succeeded", "{v}");
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("evaluation {id} did not finish");
}

/// Alice's and Bob's fluency score of an answer: they agree on right answers, and differ by one
/// on wrong answers of odd items.
fn fluency(rater: &str, item: i64, right: bool) -> i64 {
    match (right, rater, item % 2) {
        (true, _, _) => 4,
        (false, "bob", 1) => 2,
        _ => 1,
    }
}

/// A rater rates every item from `/next` until none is left: relevance 5 for the right answer
/// and 0 for the wrong, fluency by `fluency`, factual_accuracy like relevance, and the tag
/// hallucination on wrong answers. Returns the items in the order the rater saw them, and
/// whether A showed the right answer on each.
async fn rate_all(app: &TestApp, token: &str, rater: &str, id: &str) -> (Vec<i64>, Vec<bool>) {
    let (mut seen, mut right_first) = (Vec::new(), Vec::new());
    loop {
        let page = app.get(&format!("/api/v1/human-evals/{id}/next"), token).await.expect(200).clone();
        let Some(item) = page["item"].as_object() else {
            assert_eq!(page["progress"]["remaining"], 0, "{page}");
            return (seen, right_first);
        };
        let n = item["item"].as_i64().unwrap();
        assert_eq!(item["position"], seen.len() as i64 + 1, "{page}");
        assert_eq!(item["references"][0], format!("answer {n}"));
        let text = page.to_string();
        assert!(!text.contains("eval_") && !text.contains("right-model"), "the item shows no model: {page}");
        let mut answers = serde_json::Map::new();
        for a in item["answers"].as_array().unwrap() {
            let right = a["text"] == item["references"][0];
            let truth = if right { 5 } else { 0 };
            let tags: Vec<&str> = if right { vec![] } else { vec!["hallucination"] };
            answers.insert(
                a["label"].as_str().unwrap().to_string(),
                json!({"scores": {"relevance": truth, "fluency": fluency(rater, n, right), "factual_accuracy": truth}, "tags": tags}),
            );
        }
        right_first.push(item["answers"][0]["text"] == item["references"][0]);
        let r = app.post(&format!("/api/v1/human-evals/{id}/ratings"), token, json!({"item": n, "answers": answers})).await;
        assert_eq!(r.expect(200)["progress"]["rated"], seen.len() as i64 + 1);
        seen.push(n);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_raters_rate_blind_and_the_results_report_means_and_agreement() {
    for backend in backends() {
        let app = TestApp::new(backend).await;
        let (_, root) = app.bootstrap().await;
        app.services.start_evaluations().await.unwrap();
        let (alice_id, alice) = app.user(&root, "alice@example.com", "viewer").await;
        let (bob_id, bob) = app.user(&root, "bob@example.com", "developer").await;
        let (_, carol) = app.user(&root, "carol@example.com", "viewer").await;
        let right = evaluation(&app, &root, "right-model", true).await;
        let wrong = evaluation(&app, &root, "wrong-model", false).await;

        let task = json!({"name": "helpfulness", "evaluation_ids": [right, wrong], "raters": {"users": [alice_id, bob_id]},
            "instructions": "Judge against the reference."});
        let h = app.post("/api/v1/human-evals", &root, task).await;
        let h = h.expect(201).clone();
        let id = h["id"].as_str().unwrap().to_string();
        assert_eq!(
            (h["mode"].as_str(), h["state"].as_str(), h["items"].as_i64()),
            (Some("rubric"), Some("open"), Some(ITEMS as i64)),
            "{h}"
        );
        let criteria: Vec<&str> = h["criteria"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(criteria, ["relevance", "fluency", "factual_accuracy"]);
        assert!(h.get("seed").is_none() && !h.to_string().contains("seed"), "the shuffle seed stays secret: {h}");

        // Carol is no rater; a rating that misses a criterion, leaves the scale, names an
        // unknown label or tag, or an item that does not exist, is refused by where it is wrong.
        let a = app.get(&format!("/api/v1/human-evals/{id}/next"), &carol).await;
        assert_eq!(a.status.as_u16(), 403, "{}", a.body);
        let rate = |body: Value| {
            let (app, alice, id) = (&app, &alice, &id);
            async move { app.post(&format!("/api/v1/human-evals/{id}/ratings"), alice, body).await }
        };
        let full = json!({"relevance": 1, "fluency": 1, "factual_accuracy": 1});
        for (body, param) in [
            (json!({"item": 0, "answers": {"A": {"scores": {"relevance": 1}}, "B": {"scores": full}}}), "answers.A.scores.fluency"),
            (
                json!({"item": 0, "answers": {"A": {"scores": {"relevance": 6, "fluency": 1, "factual_accuracy": 1}}, "B": {"scores": full}}}),
                "answers.A.scores.relevance",
            ),
            (json!({"item": 0, "answers": {"A": {"scores": full}, "B": {"scores": full}, "C": {"scores": full}}}), "answers.C"),
            (json!({"item": 0, "answers": {"A": {"scores": full, "tags": ["typo"]}, "B": {"scores": full}}}), "answers.A.tags[0]"),
            (json!({"item": 0, "answers": {"A": {"scores": full}, "B": {"scores": full}}, "preference": "A"}), "preference"),
            (json!({"item": 99, "skip": true}), "item"),
            (json!({"item": 0, "skip": true, "answers": {"A": {"scores": full}}}), "skip"),
        ] {
            let a = rate(body.clone()).await;
            assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (422, Some(param)), "{body}: {}", a.body);
        }

        // Both rate everything; each walks the items in an order of their own, and the labels
        // are shuffled per item.
        let (alice_order, alice_right_first) = rate_all(&app, &alice, "alice", &id).await;
        let (bob_order, _) = rate_all(&app, &bob, "bob", &id).await;
        assert_eq!(alice_order.iter().copied().collect::<BTreeSet<_>>(), (0..ITEMS as i64).collect());
        assert_ne!(alice_order, bob_order, "each rater has an order of their own");
        assert!(alice_right_first.contains(&true) && alice_right_first.contains(&false), "labels are shuffled: {alice_right_first:?}");

        // A rater comes back to an item: it shows their rating in the labels they saw; a skip
        // with a flag replaces it.
        let item = alice_order[0];
        let page = app.get(&format!("/api/v1/human-evals/{id}/items/{item}"), &alice).await.expect(200).clone();
        let mine = &page["item"]["my_rating"];
        let right_label = if alice_right_first[0] { "A" } else { "B" };
        assert_eq!(mine["answers"][right_label]["scores"]["relevance"], 5, "{page}");
        let flag = json!({"item": item, "skip": true, "flag": "the reference is ambiguous", "comment": "check it"});
        let a = rate(flag).await;
        assert_eq!(
            (a.body["progress"]["rated"].as_i64(), a.body["progress"]["skipped"].as_i64()),
            (Some(ITEMS as i64 - 1), Some(1)),
            "{}",
            a.body
        );

        // Results: hidden from raters while open; shown to those who may deploy.
        let a = app.get(&format!("/api/v1/human-evals/{id}/results"), &alice).await;
        assert_eq!(a.status.as_u16(), 403, "{}", a.body);
        let results = app.get(&format!("/api/v1/human-evals/{id}/results"), &root).await.expect(200).clone();
        assert_eq!(results["models"][0]["name"], "right-model", "{results}");
        let criterion = |name: &str| results["figures"]["criteria"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone();
        let relevance = criterion("relevance");
        assert_eq!(
            (relevance["models"][0]["mean"].as_f64(), relevance["models"][1]["mean"].as_f64()),
            (Some(5.0), Some(0.0)),
            "{relevance}"
        );
        assert_eq!(relevance["models"][0]["ratings"], 2 * ITEMS as i64 - 1, "one item skipped by one rater");
        assert_eq!(relevance["models"][1]["histogram"][0], json!({"score": 0, "count": 2 * ITEMS - 1}));
        assert_eq!(relevance["agreement"]["krippendorff_alpha_interval"], 1.0, "{relevance}");
        assert_eq!(relevance["agreement"]["cohen_kappa"]["kappa"], 1.0, "{relevance}");

        // Fluency: the figures equal the agreement statistics over (item, model) units.
        let fl = criterion("fluency");
        let mut units: BTreeMap<(i64, bool), Vec<f64>> = BTreeMap::new();
        for n in 0..ITEMS as i64 {
            for r in [true, false] {
                for rater in ["alice", "bob"] {
                    if !(rater == "alice" && n == item) {
                        units.entry((n, r)).or_default().push(fluency(rater, n, r) as f64);
                    }
                }
            }
        }
        let values: Vec<Vec<f64>> = units.values().cloned().collect();
        let alpha = krippendorff_alpha(&values, Level::Interval).unwrap();
        assert!((fl["agreement"]["krippendorff_alpha_interval"].as_f64().unwrap() - alpha).abs() < 1e-12, "{fl}");
        let both: Vec<&Vec<f64>> = values.iter().filter(|v| v.len() == 2).collect();
        let kappa = cohen_kappa(
            &both.iter().map(|v| v[0]).collect::<Vec<_>>(),
            &both.iter().map(|v| v[1]).collect::<Vec<_>>(),
            &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
            KappaWeights::Quadratic,
        )
        .unwrap();
        assert!((fl["agreement"]["cohen_kappa"]["kappa"].as_f64().unwrap() - kappa).abs() < 1e-12, "{fl}");
        assert!(alpha < 1.0 && alpha > 0.5, "they mostly agree: {alpha}");
        let wrong_mean = fl["models"][1]["mean"].as_f64().unwrap();
        let [lo, hi] = [fl["models"][1]["interval"][0].as_f64().unwrap(), fl["models"][1]["interval"][1].as_f64().unwrap()];
        assert!(lo <= wrong_mean && wrong_mean <= hi && lo >= 1.0 && hi <= 1.5, "{fl}");
        let tags = results["error_tags"].as_array().unwrap().iter().find(|t| t["tag"] == "hallucination").unwrap();
        assert_eq!(tags["counts"], json!([0, 2 * ITEMS - 1]), "tags land on the wrong model whatever its label");
        assert_eq!(results["flags"], json!([{"item": item, "rater_id": alice_id, "text": "the reference is ambiguous"}]));
        let raters = results["raters"].as_array().unwrap();
        assert_eq!(raters.len(), 2);
        assert!(raters.iter().any(|r| r["rater_id"] == alice_id && r["skipped"] == 1 && r["flagged"] == 1), "{results}");

        // Closed: no more ratings, results for every viewer; an evaluation it rates is kept.
        app.post(&format!("/api/v1/human-evals/{id}/close"), &alice, json!({})).await.expect(403);
        app.post(&format!("/api/v1/human-evals/{id}/close"), &root, json!({})).await.expect(200);
        let a = rate(json!({"item": 0, "skip": true})).await;
        assert_eq!(a.status.as_u16(), 409, "{}", a.body);
        app.get(&format!("/api/v1/human-evals/{id}/results"), &alice).await.expect(200);
        let a = app.delete(&format!("/api/v1/evaluations/{right}"), &root).await;
        assert_eq!(a.status.as_u16(), 409, "{}", a.body);
        let a = app.post(&format!("/api/v1/human-evals/{id}/export"), &root, json!({"name": "prefs"})).await;
        assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (422, Some("mode")), "{}", a.body);
        let listed = app.get("/api/v1/human-evals", &carol).await.expect(200).clone();
        assert_eq!(listed["data"][0]["id"], id.as_str());
        app.delete(&format!("/api/v1/human-evals/{id}"), &root).await.expect(204);
        app.delete(&format!("/api/v1/evaluations/{right}"), &root).await.expect(204);
        app.services.stop_evaluations().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairwise_preferences_become_a_dpo_dataset_with_lineage() {
    for backend in backends() {
        let url = common::answer_server().await;
        let mut settings = services::Settings::default();
        settings.serving.external_endpoints = vec![url.clone()];
        let app = TestApp::with_settings(backend, settings).await;
        let (_, root) = app.bootstrap().await;
        app.services.start_evaluations().await.unwrap();
        let (_, dev) = app.user(&root, "dev@example.com", "developer").await;
        let (_, viewer) = app.user(&root, "viewer@example.com", "viewer").await;
        let names = ["Ada", "Bo", "Cy", "Di", "Ed", "Flo"];
        let records: String = names
            .iter()
            .map(|n| json!({"messages": [{"role": "user", "content": format!("Greet {n}")}, {"role": "assistant", "content": format!("Hello, {n}!")}]}).to_string() + "\n")
            .collect();
        let d = app.upload_dataset(&root, &[("name", "greetings-test")], "t.jsonl", records.as_bytes()).await;
        let dataset = d.expect(201).clone();
        let (dataset_id, version_id) = (dataset["dataset"]["id"].as_str().unwrap(), dataset["version"]["id"].as_str().unwrap());
        let mut evaluations = Vec::new();
        for model in ["polite", "rude"] {
            let dep = json!({"name": model, "backend": "external", "endpoint": {"url": url, "model": model}});
            app.post("/api/v1/deployments", &root, dep).await.expect(202);
            let e = json!({"model": model, "dataset_id": dataset_id, "metrics": ["exact_match"]});
            let id = app.post("/api/v1/evaluations", &root, e).await.expect(202)["id"].as_str().unwrap().to_string();
            finished(&app, &root, &id).await;
            evaluations.push(id);
        }

        // Raters by role: developers rate, viewers do not.
        let task = json!({"mode": "pairwise", "evaluation_ids": evaluations, "raters": {"roles": ["developer", "admin"]}});
        let bad = json!({"mode": "pairwise", "evaluation_ids": [evaluations[0]], "raters": {"roles": ["developer"]}});
        let a = app.post("/api/v1/human-evals", &root, bad).await;
        assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (422, Some("evaluation_ids")), "{}", a.body);
        let id = app.post("/api/v1/human-evals", &root, task.clone()).await.expect(201)["id"].as_str().unwrap().to_string();
        app.get(&format!("/api/v1/human-evals/{id}/next"), &viewer).await.expect(403);

        // Both prefer the polite answer, except on Flo, where the developer prefers the rude one
        // (a split vote) and on Ed, a tie for the developer (still a majority for root).
        let mut first_shown = 0;
        for (token, who) in [(&root, "root"), (&dev, "dev")] {
            loop {
                let page = app.get(&format!("/api/v1/human-evals/{id}/next"), token).await.expect(200).clone();
                let Some(item) = page["item"].as_object() else { break };
                assert_eq!(item["prompt"][0]["content"].as_str().unwrap().split(' ').next(), Some("Greet"), "{page}");
                let polite = if item["answers"][0]["text"].as_str().unwrap().starts_with("Hello") { "A" } else { "B" };
                let rude = if polite == "A" { "B" } else { "A" };
                first_shown += usize::from(polite == "A");
                let name = item["prompt"][0]["content"].as_str().unwrap().trim_start_matches("Greet ");
                let preference = match (who, name) {
                    ("dev", "Flo") => rude,
                    ("dev", "Ed") => "tie",
                    _ => polite,
                };
                let body = json!({"item": item["item"], "preference": preference, "answers": {rude: {"tags": ["off_topic"]}}});
                app.post(&format!("/api/v1/human-evals/{id}/ratings"), token, body).await.expect(200);
            }
        }
        // Each task draws positions from a secret seed of its own: 12 answers all on one side
        // happen in about one task of 2,048, so then a second task (read, not rated) must differ.
        let shown = 2 * names.len();
        if first_shown == 0 || first_shown == shown {
            let again = app.post("/api/v1/human-evals", &root, task.clone()).await.expect(201)["id"].as_str().unwrap().to_string();
            let mut again_first = 0;
            for (token, n) in [&root, &dev].into_iter().flat_map(|t| (0..names.len()).map(move |n| (t, n))) {
                let page = app.get(&format!("/api/v1/human-evals/{again}/items/{n}"), token).await.expect(200).clone();
                again_first += usize::from(page["item"]["answers"][0]["text"].as_str().unwrap().starts_with("Hello"));
            }
            assert!(first_shown + again_first != 0 && first_shown + again_first != 2 * shown, "positions are not shuffled");
            app.delete(&format!("/api/v1/human-evals/{again}"), &root).await.expect(204);
        }
        let results = app.get(&format!("/api/v1/human-evals/{id}/results"), &root).await.expect(200).clone();
        let f = &results["figures"];
        assert_eq!(
            (f["votes"].as_u64(), f["ties"].as_u64(), f["models"][0]["votes"].as_u64(), f["models"][1]["votes"].as_u64()),
            (Some(12), Some(1), Some(10), Some(1)),
            "{f}"
        );
        let share = f["models"][0]["preferred_share"].as_f64().unwrap();
        assert!((share - (4.0 + 0.75 + 0.5) / 6.0).abs() < 1e-12, "{f}");
        assert!(f["agreement"]["cohen_kappa"]["kappa"].is_number(), "{f}");
        assert_eq!(results["error_tags"].as_array().unwrap().iter().find(|t| t["tag"] == "off_topic").unwrap()["counts"], json!([0, 12]));

        // The export: Flo's split vote is left out; the rest become chosen/rejected pairs.
        let a = app.post(&format!("/api/v1/human-evals/{id}/export"), &viewer, json!({"name": "prefs"})).await;
        assert_eq!(a.status.as_u16(), 403, "{}", a.body);
        let made = app.post(&format!("/api/v1/human-evals/{id}/export"), &root, json!({"name": "greeting-preferences"})).await;
        let made = made.expect(201).clone();
        assert_eq!(made["version"]["records"], 5, "{made}");
        assert_eq!(made["version"]["valid_records"], 5, "{made}");
        let (new_id, new_version) = (made["dataset"]["id"].as_str().unwrap(), made["version"]["version"].as_i64().unwrap());
        let lineage = app.get(&format!("/api/v1/datasets/{new_id}/versions/{new_version}/lineage"), &root).await.expect(200).clone();
        assert!(lineage.to_string().contains(version_id), "the test set is the parent: {lineage}");
        let preview = app.get(&format!("/api/v1/datasets/{new_id}/versions/{new_version}/preview"), &root).await.expect(200).clone();
        let text = preview.to_string();
        assert!(text.contains("Hello, Ada!") && text.contains("Go away.") && !text.contains("Greet Flo"), "{preview}");
        app.services.stop_evaluations().await;
    }
}
