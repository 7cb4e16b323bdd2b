//! The scheduler in the server, with the real Python runtime on a tiny model and one CPU slot:
//! resource requests checked at submission, the queue ordered by priority with each job's
//! position and reason at `/api/v1/cluster` (another organization sees its jobs without ids),
//! a maximum duration enforced, an urgent job preempting a spot job that saves a checkpoint,
//! waits, and resumes where it stopped; quotas checked at submission (race-free) and at
//! admission, a spent budget pausing a running job, and its cost accounted. Both databases.

mod common;

use common::{job_ended, queue_env as env_with, queue_job as job, queue_submit as submit, QueueEnv as Env};
use serde_json::json;

/// One CPU slot; preemption allowed at once (no minimum run, no patience).
async fn env(backend: test_support::Backend) -> Option<Env> {
    env_with(backend, |_| {}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_checked_the_queue_is_ordered_and_explained_and_a_maximum_duration_stops_a_job() {
    for backend in test_support::backends() {
        let Some(e) = env(backend).await else { return };
        // Bad requests: the field and the reason.
        let cases = [
            (json!({"gpu_type": "H100"}), 422, "no node has GPUs of type H100"),
            (json!({"gpus": 2}), 422, "2 GPUs of any type"),
            (json!({"gpus": 0}), 400, "gpus"),
            (json!({"max_duration_s": -5}), 400, "max_duration_s"),
            (json!({"priority": "vip"}), 422, "unknown priority class 'vip'"),
        ];
        for (resources, status, says) in cases {
            let a = e.app.post("/api/v1/jobs", &e.admin, job(&e, "bad", 2, resources.clone())).await;
            assert_eq!(a.status.as_u16(), status, "{resources}: {}", a.body);
            assert!(a.body.to_string().contains(says), "{resources}: {}", a.body);
        }
        // A member may ask up to `high`; `urgent` is above their allowance.
        let (_, dev) = e.app.user(&e.admin, "dev@example.com", "researcher").await;
        let a = e.app.post("/api/v1/jobs", &dev, job(&e, "mine", 2, json!({"priority": "urgent"}))).await;
        assert_eq!(a.status.as_u16(), 403, "{}", a.body);
        assert!(a.body["error"]["message"].as_str().unwrap().contains("at most 'high'"), "{}", a.body);

        // One slot: a long job runs, then a normal and a high job wait — high first.
        let long = submit(&e, &e.admin, job(&e, "long", 400, json!({"max_duration_s": 8}))).await;
        e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{long}"), |b| b["state"] == "running", 60).await;
        let normal = submit(&e, &dev, job(&e, "normal", 2, json!({}))).await;
        let high = submit(&e, &dev, job(&e, "high", 2, json!({"priority": "high"}))).await;
        let cluster = e.app.get("/api/v1/cluster", &dev).await.expect(200).clone();
        assert_eq!(
            (cluster["policy"].as_str(), cluster["gpus"].as_u64(), cluster["free_gpus"].as_u64()),
            (Some("tunery"), Some(1), Some(0)),
            "{cluster}"
        );
        assert_eq!(cluster["nodes"][0]["gpu_type"], "cpu", "{cluster}");
        assert_eq!(cluster["running"][0]["job_id"].as_str(), Some(long.as_str()), "{cluster}");
        let queue: Vec<(&str, i64, &str)> = cluster["queue"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| (q["job_id"].as_str().unwrap(), q["position"].as_i64().unwrap(), q["wait"]["code"].as_str().unwrap()))
            .collect();
        assert_eq!(queue, vec![(high.as_str(), 1, "no_room"), (normal.as_str(), 2, "no_room")], "{cluster}");
        let waiting = e.app.get(&format!("/api/v1/jobs/{normal}"), &dev).await.expect(200).clone();
        assert_eq!((waiting["queue"]["position"].as_i64(), waiting["queue"]["of"].as_i64()), (Some(2), Some(2)), "{waiting}");
        assert_eq!(waiting["resources"]["priority"], "normal", "{waiting}");
        assert!(waiting["queue"]["wait"]["message"].as_str().unwrap().contains("needs 1 GPU(s)"), "{waiting}");
        // Autoscalers read the same queue and nodes from /metrics.
        let metrics = e.app.call("GET", "/metrics", None, None).await;
        let text = metrics.body.as_str().expect("the metrics text").to_string();
        for line in [
            "tunery_queue_jobs{gpu_type=\"any\"} 2",
            "tunery_queue_waiting_gpus{gpu_type=\"any\"} 2",
            "tunery_node_free_gpus{node=\"local\",gpu_type=\"cpu\"} 0",
            "tunery_node_idle{node=\"local\",gpu_type=\"cpu\"} 0",
            "tunery_jobs_running 1",
        ] {
            assert!(text.contains(line), "{line} not in:\n{text}");
        }
        // Another organization sees the queue's shape, not its jobs.
        let (_, other) = e.app.other_org(&e.admin, "Other").await;
        let theirs = e.app.get("/api/v1/cluster", &other).await.expect(200).clone();
        assert_eq!(theirs["queue"].as_array().unwrap().len(), 2, "{theirs}");
        assert!(theirs["queue"].as_array().unwrap().iter().all(|q| q["job_id"].is_null() && q["name"].is_null()), "{theirs}");
        assert!(theirs["running"][0]["job_id"].is_null(), "{theirs}");
        assert_eq!(e.app.get(&format!("/api/v1/jobs/{normal}"), &other).await.status.as_u16(), 404);

        // The long job uses up its 8 s and fails saying so; the queue then drains, high first.
        let done = e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{long}"), job_ended, 120).await;
        assert_eq!((done["state"].as_str(), done["error"]["code"].as_str()), (Some("failed"), Some("max_duration_exceeded")), "{done}");
        for id in [&high, &normal] {
            let d = e.app.wait_for(&dev, &format!("/api/v1/jobs/{id}"), job_ended, 180).await;
            assert_eq!(d["state"], "succeeded", "{d}");
        }
        let started = |id: &str| {
            let id = id.to_string();
            let app = &e.app;
            let token = dev.clone();
            async move { app.get(&format!("/api/v1/jobs/{id}"), &token).await.expect(200)["started_at"].as_i64().unwrap() }
        };
        assert!(started(&high).await <= started(&normal).await, "the high-priority job started first");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_urgent_job_preempts_a_spot_job_which_checkpoints_waits_and_resumes_where_it_stopped() {
    for backend in test_support::backends() {
        let Some(e) = env(backend).await else { return };
        let spot = submit(&e, &e.admin, job(&e, "spot", 60, json!({"priority": "low", "preemptible": true}))).await;
        e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{spot}"), |b| b["current_step"].as_i64().unwrap_or(0) >= 3, 120).await;
        let urgent = submit(&e, &e.admin, job(&e, "urgent", 2, json!({"priority": "urgent"}))).await;

        // The spot job saves a checkpoint and goes back to the queue; the urgent one runs.
        let waiting = e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{spot}"), |b| b["preemptions"] == 1 || job_ended(b), 120).await;
        assert!(!job_ended(&waiting), "{waiting}");
        let stopped_at = e.app.get(&format!("/api/v1/jobs/{spot}/checkpoints"), &e.admin).await.expect(200)["data"]
            .as_array()
            .unwrap()
            .last()
            .expect("the preempted job saved a checkpoint")["step"]
            .as_i64()
            .unwrap();
        let done = e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{urgent}"), job_ended, 120).await;
        assert_eq!(done["state"], "succeeded", "{done}");
        let done = e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{spot}"), job_ended, 180).await;
        assert_eq!((done["state"].as_str(), done["preemptions"].as_i64()), (Some("succeeded"), Some(1)), "{done}");
        // A tiny model leaves most of this machine's memory unused: the job says so.
        let codes: Vec<&str> = done["suggestions"].as_array().unwrap().iter().map(|s| s["code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["memory_unused"], "{done}");

        // It resumed from its checkpoint, after the urgent job finished.
        let events = e.app.get(&format!("/api/v1/jobs/{spot}/events?stream=false&kinds=started&limit=10"), &e.admin).await;
        let runs = events.body["data"].as_array().unwrap();
        assert_eq!(runs.len(), 2, "{}", events.body);
        assert_eq!(runs[1]["data"]["resumed_from_step"].as_i64(), Some(stopped_at), "{}", events.body);
        let urgent_done = e.app.get(&format!("/api/v1/jobs/{urgent}"), &e.admin).await.expect(200)["finished_at"].as_i64().unwrap();
        assert!(runs[1]["time_ms"].as_i64().unwrap() / 1000 >= urgent_done, "the spot job resumed after the urgent one ended");
        let states = e.app.get(&format!("/api/v1/jobs/{spot}/events?stream=false&kinds=state&limit=20"), &e.admin).await;
        let states: Vec<&str> = states.body["data"].as_array().unwrap().iter().map(|s| s["data"]["state"].as_str().unwrap()).collect();
        assert_eq!(states, ["queued", "running", "queued", "running", "succeeded"], "{backend:?}");
        // Its GPU-time: two runs, the first ended by the preemption; no run is left open.
        use sqlx::Connection;
        let mut conn = sqlx::AnyConnection::connect(&e.app.db.url).await.unwrap();
        let runs: Vec<(Option<String>,)> = sqlx::query_as("SELECT ended_because FROM job_runs WHERE job_id = $1 ORDER BY started_at")
            .bind(&spot)
            .fetch_all(&mut conn)
            .await
            .unwrap();
        assert_eq!(runs, vec![(Some("preempted".to_string()),), (Some("succeeded".to_string()),)]);
        let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM job_runs WHERE ended_at IS NULL").fetch_one(&mut conn).await.unwrap();
        assert_eq!(open, 0, "a job holds GPUs only while it runs");
        // The preemption is audited, naming the job it made room for.
        let audits = e.app.get(&format!("/api/v1/audit-events?target_id={spot}&action=job.preempt"), &e.admin).await;
        let audits = audits.expect(200)["data"].as_array().unwrap().clone();
        assert_eq!(audits.len(), 1, "{audits:?}");
        assert_eq!(audits[0]["details"]["for_job"].as_str(), Some(urgent.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_hold_at_submission_and_admission_a_spent_budget_pauses_a_job_and_usage_is_costed() {
    for backend in test_support::backends() {
        // Two CPU slots at 3600 per slot-hour (a second of running costs 1), a price set through
        // the API over the installation's 1 per slot-hour.
        let Some(e) = env_with(backend, |s| {
            s.training.max_concurrent_jobs = 2;
            s.training.price_per_device_hour = Some(1.0);
        })
        .await
        else {
            return;
        };
        let org = e.app.get("/api/v1/me", &e.admin).await.body["organization"]["id"].as_str().unwrap().to_string();
        let (researcher_id, researcher) = e.app.user(&e.admin, "res@example.com", "researcher").await;
        let set = e.app.call("PUT", "/api/v1/prices/cpu", Some(&e.admin), Some(json!({"on_demand": 3600.0}))).await;
        assert_eq!((set.expect(200)["source"].as_str(), set.body["spot"].as_f64()), (Some("set"), Some(3600.0)), "{}", set.body);
        let quota = |scope: &str, id: &str| format!("/api/v1/quotas/{scope}/{id}");

        // Only administrators set quotas; the subject must be of the organization; bad limits are named.
        let a = e.app.call("PUT", &quota("user", &researcher_id), Some(&researcher), Some(json!({"max_gpus": 1}))).await;
        assert_eq!(a.status.as_u16(), 403, "{}", a.body);
        let a = e.app.call("PUT", &quota("user", "usr_nobody"), Some(&e.admin), Some(json!({"max_gpus": 1}))).await;
        assert_eq!(a.status.as_u16(), 404, "{}", a.body);
        let a = e.app.call("PUT", &quota("team", &researcher_id), Some(&e.admin), Some(json!({"max_gpus": 1}))).await;
        assert_eq!(a.status.as_u16(), 400, "{}", a.body);
        let a = e.app.call("PUT", &quota("user", &researcher_id), Some(&e.admin), Some(json!({"alert_at": 5}))).await;
        assert_eq!((a.status.as_u16(), a.body["error"]["param"].as_str()), (400, Some("alert_at")), "{}", a.body);

        // Jobs and GPUs at once: a job asking for more GPUs than allowed is refused; a second
        // job waits for the first although a slot is free.
        let limits = json!({"max_concurrent_jobs": 1, "max_gpus": 1});
        e.app.call("PUT", &quota("user", &researcher_id), Some(&e.admin), Some(limits)).await.expect(200);
        let a = e.app.post("/api/v1/jobs", &researcher, job(&e, "two", 2, json!({"gpus": 2}))).await;
        assert_eq!((a.status.as_u16(), a.code()), (422, "quota_exceeded"), "{}", a.body);
        assert!(a.body["error"]["message"].as_str().unwrap().contains("allows 1 GPU(s) at once; this job asks for 2"), "{}", a.body);
        let first = submit(&e, &researcher, job(&e, "first", 400, json!({}))).await;
        e.app.wait_for(&researcher, &format!("/api/v1/jobs/{first}"), |b| b["state"] == "running", 60).await;
        let second = submit(&e, &researcher, job(&e, "second", 2, json!({}))).await;
        let cluster = e.app.get("/api/v1/cluster", &researcher).await.expect(200).clone();
        assert_eq!(cluster["free_gpus"].as_u64(), Some(1), "{cluster}");
        assert_eq!(cluster["queue"][0]["job_id"].as_str(), Some(second.as_str()), "{cluster}");
        assert_eq!(cluster["queue"][0]["wait"]["code"], "quota", "{cluster}");
        let says = cluster["queue"][0]["wait"]["message"].as_str().unwrap().to_string();
        assert!(says.contains(&format!("user {researcher_id}")) && says.contains("at most 1 job(s) running at once"), "{says}");
        e.app.post(&format!("/api/v1/jobs/{first}/cancel"), &researcher, json!({})).await.expect(200);
        let done = e.app.wait_for(&researcher, &format!("/api/v1/jobs/{second}"), job_ended, 180).await;
        assert_eq!(done["state"], "succeeded", "{done}");

        // GPU-hours, race-free: with no job allowed to run, 5 one-hour submissions at once
        // against 2.5 GPU-hours: exactly 2 are accepted.
        e.app.call("PUT", &quota("user", &researcher_id), Some(&e.admin), Some(json!({"max_concurrent_jobs": 0}))).await.expect(200);
        e.app.call("PUT", &quota("organization", &org), Some(&e.admin), Some(json!({"gpu_hours_per_month": 2.5}))).await.expect(200);
        let racing =
            (0..5).map(|i| e.app.post("/api/v1/jobs", &researcher, job(&e, &format!("race-{i}"), 2, json!({"max_duration_s": 3600}))));
        let answers = futures_util::future::join_all(racing).await;
        let accepted: Vec<String> = answers.iter().filter(|a| a.status.as_u16() == 202).map(|a| a.id()).collect();
        assert_eq!(accepted.len(), 2, "{:?}", answers.iter().map(|a| a.body.to_string()).collect::<Vec<_>>());
        let refused = answers.iter().find(|a| a.status.as_u16() == 422).unwrap();
        assert_eq!(refused.code(), "quota_exceeded");
        assert!(refused.body["error"]["message"].as_str().unwrap().contains("2.5 GPU-hours"), "{}", refused.body);
        for id in &accepted {
            e.app.post(&format!("/api/v1/jobs/{id}/cancel"), &researcher, json!({})).await.expect(200);
        }
        e.app.delete(&quota("organization", &org), &e.admin).await;
        e.app.delete(&quota("user", &researcher_id), &e.admin).await;

        // A budget: once spent, the running job saves a checkpoint and waits; a higher budget
        // lets it continue from there.
        let paused = submit(&e, &researcher, job(&e, "budgeted", 400, json!({}))).await;
        e.app.wait_for(&researcher, &format!("/api/v1/jobs/{paused}"), |b| b["current_step"].as_i64().unwrap_or(0) >= 3, 120).await;
        e.app.call("PUT", &quota("user", &researcher_id), Some(&e.admin), Some(json!({"budget_per_month": 1.0}))).await.expect(200);
        let waiting = e.app.wait_for(&researcher, &format!("/api/v1/jobs/{paused}"), |b| b["state"] == "queued" || job_ended(b), 120).await;
        assert_eq!(waiting["state"], "queued", "{waiting}");
        assert_eq!(waiting["queue"]["wait"]["code"], "quota", "{waiting}");
        assert!(waiting["queue"]["wait"]["message"].as_str().unwrap().contains("budget"), "{waiting}");
        let stopped_at = e.app.get(&format!("/api/v1/jobs/{paused}/checkpoints"), &researcher).await.expect(200)["data"]
            .as_array()
            .unwrap()
            .last()
            .expect("the paused job saved a checkpoint")["step"]
            .as_i64()
            .unwrap();
        let quotas = e.app.get("/api/v1/quotas", &researcher).await.expect(200).clone();
        let mine = &quotas["data"][0];
        assert_eq!((mine["exhausted"].as_bool(), mine["alerted"].as_bool()), (Some(true), Some(true)), "{quotas}");
        let alerts = e.app.get(&format!("/api/v1/audit-events?action=quota.alert&target_id={researcher_id}"), &e.admin).await;
        assert_eq!(alerts.expect(200)["data"].as_array().unwrap().len(), 1, "{}", alerts.body);
        e.app.call("PUT", &quota("user", &researcher_id), Some(&e.admin), Some(json!({"budget_per_month": 1e6}))).await.expect(200);
        e.app.wait_for(&researcher, &format!("/api/v1/jobs/{paused}"), |b| b["current_step"].as_i64().unwrap_or(0) > stopped_at, 120).await;
        let events = e.app.get(&format!("/api/v1/jobs/{paused}/events?stream=false&kinds=started&limit=10"), &researcher).await;
        let runs = events.body["data"].as_array().unwrap();
        assert_eq!(runs.last().unwrap()["data"]["resumed_from_step"].as_i64(), Some(stopped_at), "{}", events.body);
        e.app.post(&format!("/api/v1/jobs/{paused}/cancel"), &researcher, json!({})).await.expect(200);
        let done = e.app.wait_for(&researcher, &format!("/api/v1/jobs/{paused}"), job_ended, 120).await;

        // Its cost is its runs' slot-hours at the price; the organization's usage adds them up.
        let cost = &done["cost"];
        let hours = cost["gpu_hours"].as_f64().unwrap();
        assert!(hours > 0.0 && cost["runs"].as_u64() == Some(2), "{done}");
        assert!((cost["cost"].as_f64().unwrap() - hours * 3600.0).abs() < 1e-6, "{done}");
        let usage = e.app.get("/api/v1/usage?bucket=day", &e.admin).await.expect(200).clone();
        let compute = &usage["compute"];
        let by_user = compute["by_user"].as_array().unwrap();
        let theirs = by_user.iter().find(|l| l["key"].as_str() == Some(researcher_id.as_str())).expect("the researcher's line");
        assert!(theirs["gpu_hours"].as_f64().unwrap() >= hours - 1e-9, "{usage}");
        assert!((compute["cost"].as_f64().unwrap() - compute["gpu_hours"].as_f64().unwrap() * 3600.0).abs() < 1e-6, "{usage}");
        assert_eq!(compute["by_gpu_type"][0]["key"], "cpu", "{usage}");
    }
}
