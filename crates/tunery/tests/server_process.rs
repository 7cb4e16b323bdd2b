//! The real server process: concurrent writers, SIGKILL in the middle of writes, graceful
//! shutdown, configuration, and `tunery audit verify` — on SQLite and PostgreSQL.

mod common;

use common::{tunery_bin, ServerProcess};
use serde_json::{json, Value};
use std::process::Command;
use std::sync::{Arc, Mutex};
use test_support::{backends, Backend, TestDb};

const PASSWORD: &str = "server process test";

fn serve_args(db: &TestDb) -> Vec<String> {
    vec![
        "--database-url".into(),
        db.url.clone(),
        "--data-dir".into(),
        db.dir.path().display().to_string(),
        "--rate-limit-per-second".into(),
        "100000".into(),
    ]
}

fn start(db: &TestDb) -> ServerProcess {
    let args = serve_args(db);
    ServerProcess::start(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

async fn admin_token(http: &reqwest::Client, url: &str, register: bool) -> String {
    common::access_token(http, url, "admin@example.com", PASSWORD, register).await
}

/// Every item of a list endpoint, following its cursor: `cursor(last item)` is the query
/// suffix for the next page.
async fn all_items(http: &reqwest::Client, first: &str, token: &str, cursor: impl Fn(&Value) -> String) -> Vec<Value> {
    let mut items = Vec::new();
    let mut next = String::new();
    loop {
        let page: Value = http.get(format!("{first}{next}")).bearer_auth(token).send().await.unwrap().json().await.unwrap();
        let data = page["data"].as_array().unwrap();
        items.extend(data.iter().cloned());
        if !page["has_more"].as_bool().unwrap() {
            return items;
        }
        next = cursor(data.last().unwrap());
    }
}

/// Every project name of the organization.
async fn project_names(http: &reqwest::Client, url: &str, token: &str) -> Vec<String> {
    let items =
        all_items(http, &format!("{url}/api/v1/projects?limit=100"), token, |p| format!("&after={}", p["id"].as_str().unwrap())).await;
    items.iter().map(|p| p["name"].as_str().unwrap().to_string()).collect()
}

/// How many audit events of one action the organization has.
async fn audit_count(http: &reqwest::Client, url: &str, token: &str, action: &str) -> usize {
    let first = format!("{url}/api/v1/audit-events?action={action}&limit=100");
    all_items(http, &first, token, |e| format!("&before={}", e["seq"])).await.len()
}

fn audit_verify(db: &TestDb) -> (bool, String) {
    let out = Command::new(tunery_bin())
        .args(["audit", "verify", "--database-url", &db.url, "--data-dir", &db.dir.path().display().to_string()])
        .output()
        .expect("tunery audit verify");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_writers_lose_nothing_and_see_no_5xx() {
    for backend in backends() {
        let db = TestDb::fresh(backend).await;
        let server = start(&db);
        let http = reqwest::Client::new();
        let token = admin_token(&http, &server.url, true).await;
        let statuses = Arc::new(Mutex::new(Vec::new()));
        let writers: Vec<_> = (0..50)
            .map(|c| {
                let (http, url, token, statuses) = (http.clone(), server.url.clone(), token.clone(), statuses.clone());
                tokio::spawn(async move {
                    for i in 0..4 {
                        let r = http
                            .post(format!("{url}/api/v1/projects"))
                            .bearer_auth(&token)
                            .json(&json!({"name": format!("c{c:02}-{i}")}))
                            .send()
                            .await;
                        statuses.lock().unwrap().push(r.map(|r| r.status().as_u16()).unwrap_or(0));
                    }
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
        let statuses = statuses.lock().unwrap().clone();
        assert!(statuses.iter().all(|s| *s == 201), "{backend:?}: {statuses:?}\n{}", server.logs());
        let mut names = project_names(&http, &server.url, &token).await;
        names.sort();
        let mut expected: Vec<String> = (0..50).flat_map(|c| (0..4).map(move |i| format!("c{c:02}-{i}"))).collect();
        expected.sort();
        assert_eq!(names, expected, "{backend:?}");
        assert_eq!(audit_count(&http, &server.url, &token, "project.create").await, 200);
        let (ok, report) = audit_verify(&db);
        assert!(ok, "{report}");
        assert!(report.contains("intact"), "{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_in_the_middle_of_writes_leaves_a_consistent_database() {
    for backend in backends() {
        let db = TestDb::fresh(backend).await;
        let mut server = start(&db);
        let http = reqwest::Client::new();
        let token = admin_token(&http, &server.url, true).await;
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let writers: Vec<_> = (0..8)
            .map(|c| {
                let (http, url, token, acknowledged) = (http.clone(), server.url.clone(), token.clone(), acknowledged.clone());
                tokio::spawn(async move {
                    for i in 0.. {
                        let name = format!("w{c}-{i}");
                        match http.post(format!("{url}/api/v1/projects")).bearer_auth(&token).json(&json!({"name": name})).send().await {
                            Ok(r) if r.status() == 201 => acknowledged.lock().unwrap().push(name),
                            Ok(r) => assert!(r.status().as_u16() < 500, "{}", r.status()),
                            Err(_) => return,
                        }
                    }
                })
            })
            .collect();
        // Kill once some writes are through, while others are in flight.
        while acknowledged.lock().unwrap().len() < 60 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        server.kill9();
        for w in writers {
            w.await.unwrap();
        }
        let acknowledged = acknowledged.lock().unwrap().clone();
        let server = start(&db);
        let token = admin_token(&http, &server.url, false).await;
        let names = project_names(&http, &server.url, &token).await;
        for name in &acknowledged {
            assert!(names.contains(name), "{backend:?}: acknowledged write {name} was lost");
        }
        // Each project and its audit record committed together, or neither did.
        assert_eq!(audit_count(&http, &server.url, &token, "project.create").await, names.len(), "{backend:?}");
        let (ok, report) = audit_verify(&db);
        assert!(ok, "{backend:?}: {report}");
        // The database still takes writes.
        let r = http
            .post(format!("{}/api/v1/projects", server.url))
            .bearer_auth(&token)
            .json(&json!({"name": "after restart"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_command_detects_tampering() {
    sqlx::any::install_default_drivers();
    for backend in backends() {
        let db = TestDb::fresh(backend).await;
        let mut server = start(&db);
        let http = reqwest::Client::new();
        let token = admin_token(&http, &server.url, true).await;
        for i in 0..3 {
            http.post(format!("{}/api/v1/projects", server.url))
                .bearer_auth(&token)
                .json(&json!({"name": format!("p{i}")}))
                .send()
                .await
                .unwrap();
        }
        assert!(server.terminate().success());
        assert!(audit_verify(&db).0);
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
        let unguard = match backend {
            Backend::Sqlite => "DROP TRIGGER audit_events_no_update",
            Backend::Postgres => "DROP TRIGGER audit_events_no_change ON audit_events",
        };
        sqlx::query(unguard).execute(&mut conn).await.unwrap();
        sqlx::query("UPDATE audit_events SET outcome = 'failure' WHERE seq = 3").execute(&mut conn).await.unwrap();
        let (ok, report) = audit_verify(&db);
        assert!(!ok, "{backend:?}: tampering went unnoticed: {report}");
        assert!(report.contains("record 3"), "{report}");

        // The attack the keyed chain stops: write access to the database, no master key. The
        // attacker rewrites a record and recomputes every hash after it, with any key they can
        // find or guess, or as unkeyed records; the head follows.
        for key in [Some(b"a guessed key".as_slice()), None] {
            rechain(&mut conn, key).await;
            let (ok, report) = audit_verify(&db);
            assert!(!ok, "{backend:?}: a rewritten, rechained log passed: {report}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fine_tuning_job_validating_when_the_server_stopped_fails_saying_so_at_the_next_start() {
    sqlx::any::install_default_drivers();
    for backend in backends() {
        let db = TestDb::fresh(backend).await;
        let mut server = start(&db);
        let http = reqwest::Client::new();
        let token = admin_token(&http, &server.url, true).await;
        let me: Value = http.get(format!("{}/api/v1/me", server.url)).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert!(server.terminate().success());
        // What a stop in the middle of validating leaves: the job's row, validating_files.
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
        let request = json!({"request": {"model": "tiny", "training_file": "file_gone"}, "base_model_id": "bm_gone", "method": "supervised", "hyperparameters": null});
        let messages = json!([{"created_at": 1, "level": "info", "message": "Validating training file"}]);
        sqlx::query(
            "INSERT INTO openai_fine_tuning_jobs (id, organization_id, project_id, created_by, request, status, job_id, error, messages, created_at, finished_at, paused_at) \
             VALUES ('ftjob_interrupted', $1, NULL, $2, $3, 'validating_files', NULL, NULL, $4, 1000, NULL, NULL)",
        )
        .bind(me["organization"]["id"].as_str().unwrap())
        .bind(me["user"]["id"].as_str().unwrap())
        .bind(request.to_string())
        .bind(messages.to_string())
        .execute(&mut conn)
        .await
        .unwrap();
        let server = start(&db);
        let token = admin_token(&http, &server.url, false).await;
        let get = |path: &str| {
            let request = http.get(format!("{}{path}", server.url)).bearer_auth(&token);
            async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
        };
        let job = get("/v1/fine_tuning/jobs/ftjob_interrupted").await;
        assert_eq!(
            (job["status"].as_str(), job["error"]["code"].as_str()),
            (Some("failed"), Some("server_restarted")),
            "{backend:?}: {job}"
        );
        assert!(job["finished_at"].is_i64(), "{job}");
        let events = get("/v1/fine_tuning/jobs/ftjob_interrupted/events").await;
        assert!(events["data"][0]["message"].as_str().unwrap().contains("server stopped"), "{events}");
    }
}

/// Recomputes every record's hashes and the head as someone without the audit key would: keyed
/// with `key`, or (None) as unkeyed records.
async fn rechain(conn: &mut sqlx::AnyConnection, key: Option<&[u8]>) {
    use sqlx::Row;
    let rows = sqlx::query("SELECT seq, id, occurred_at, organization_id, actor_id, actor_kind, action, target_kind, target_id, outcome, ip, user_agent, details, key_id FROM audit_events ORDER BY seq")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    let mut prev = domain::audit::GENESIS_HASH.to_string();
    for r in rows {
        let record = domain::audit::AuditRecord {
            seq: r.get(0),
            id: r.get(1),
            occurred_at_ms: r.get(2),
            organization_id: r.get(3),
            actor_id: r.get(4),
            actor_kind: r.get(5),
            action: r.get(6),
            target_kind: r.get(7),
            target_id: r.get(8),
            outcome: r.get(9),
            ip: r.get(10),
            user_agent: r.get(11),
            details: r.get(12),
            key_id: if key.is_some() { r.get(13) } else { None },
        };
        let hash = domain::audit::chain_hash(key, &prev, &record);
        sqlx::query("UPDATE audit_events SET prev_hash = $1, hash = $2, key_id = $3 WHERE seq = $4")
            .bind(&prev)
            .bind(&hash)
            .bind(&record.key_id)
            .bind(record.seq)
            .execute(&mut *conn)
            .await
            .unwrap();
        prev = hash;
    }
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1").bind(&prev).execute(&mut *conn).await.unwrap();
}

#[test]
fn graceful_shutdown_configuration_and_json_logs() {
    // SIGTERM: the server finishes and exits 0.
    let mut server = ServerProcess::start(&["--log-format", "json"]);
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    let logs = server.logs();
    let lines: Vec<Value> =
        logs.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}"))).collect();
    let listening = lines.iter().find(|l| l["message"] == "tunery listening").unwrap_or_else(|| panic!("no start line in {logs}"));
    assert_eq!(listening["level"], "INFO", "{listening}");
    assert!(lines.iter().any(|l| l["message"].as_str().is_some_and(|m| m.contains("master key"))), "first start creates the master key");
    // An unknown key in the configuration file is an error naming the key.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tunery.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\nlistne = \"oops\"\n").unwrap();
    let out = Command::new(tunery_bin()).args(["serve", "--config", file.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listne"), "{err}");
    // Settings come from the file and from the environment (flags win over both).
    std::fs::write(&file, "listen = \"127.0.0.1:1\"\n[rate_limits.viewer]\nper_second = 1.0\nburst = 2.0\n").unwrap();
    let config = format!("--config={}", file.display());
    let server = ServerProcess::start_with_env(&[&config], &[("TUNERY_LISTEN", "127.0.0.1:9")]);
    assert!(server.url.starts_with("http://127.0.0.1:") && !server.url.ends_with(":1") && !server.url.ends_with(":9"), "{}", server.url);
    let bad_role = dir.path().join("bad.toml");
    std::fs::write(&bad_role, "[rate_limits.superuser]\nper_second = 1.0\nburst = 2.0\n").unwrap();
    let out = Command::new(tunery_bin()).args(["serve", "--config", bad_role.to_str().unwrap()]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("superuser"));
}

#[test]
fn migrate_reports_and_refuses_unknown_databases() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(tunery_bin()).args(["migrate", "--data-dir", dir.path().to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("tunery.db").exists());
    let out = Command::new(tunery_bin()).args(["migrate", "--database-url", "mysql://root@localhost/x"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database url"));
}
