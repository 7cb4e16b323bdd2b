//! Registration, login, token rotation, logout, lockout and bad tokens, over HTTP, on each database.

mod common;

use common::{TestApp, PASSWORD};
use serde_json::json;
use services::Settings;
use test_support::backends;

async fn first_user_bootstraps_then_registration_closes(app: TestApp) {
    let fresh = app.call("GET", "/api/v1/auth/registration", None, None).await;
    assert_eq!(fresh.expect(200), &json!({"first_run": true, "open_registration": true}));
    let (_, token) = app.bootstrap().await;
    let after = app.call("GET", "/api/v1/auth/registration", None, None).await;
    assert_eq!(after.expect(200), &json!({"first_run": false, "open_registration": false}), "the sign-up page asks for an invitation now");
    let me = app.get("/api/v1/me", &token).await;
    let me = me.expect(200);
    assert_eq!(me["user"]["role"], "admin");
    assert_eq!(me["user"]["is_instance_admin"], true);
    assert_eq!(me["organization"]["name"], "Default");
    assert!(me["permissions"].as_array().unwrap().contains(&json!("manage_users")));
    let second = app.register(json!({"email": "b@example.com", "name": "B", "password": PASSWORD})).await;
    second.expect(403);
    assert_eq!(second.code(), "forbidden");
    assert!(second.body["error"]["message"].as_str().unwrap().contains("registration is closed"));
}
on_each_backend!(first_user_bootstraps_then_registration_closes_test, first_user_bootstraps_then_registration_closes);

async fn open_registration_policy(app: TestApp) {
    let (_, admin) = app.bootstrap().await;
    let org = app.get("/api/v1/me", &admin).await.body["organization"]["id"].as_str().unwrap().to_string();
    let bad = app.patch(&format!("/api/v1/organizations/{org}"), &admin, json!({"default_role": "admin"})).await;
    bad.expect(422);
    assert_eq!(bad.code(), "unprocessable");
    assert_eq!(bad.body["error"]["param"], "default_role");
    let status = app.call("GET", "/api/v1/auth/registration", None, None).await;
    assert_eq!(status.expect(200)["open_registration"], false);
    app.patch(&format!("/api/v1/organizations/{org}"), &admin, json!({"open_registration": true, "default_role": "developer"}))
        .await
        .expect(200);
    let status = app.call("GET", "/api/v1/auth/registration", None, None).await;
    assert_eq!(status.expect(200), &json!({"first_run": false, "open_registration": true}));
    let joined = app.register(json!({"email": "dev@example.com", "name": "Dev", "password": PASSWORD})).await;
    assert_eq!(joined.expect(201)["role"], "developer");
    assert_eq!(joined.body["is_instance_admin"], false);
    let dup = app.register(json!({"email": "DEV@example.com", "name": "Dev", "password": PASSWORD})).await;
    dup.expect(409);
}
on_each_backend!(open_registration_policy_test, open_registration_policy);

async fn invitations(app: TestApp) {
    let (_, admin) = app.bootstrap().await;
    let inv = app.post("/api/v1/invitations", &admin, json!({"email": "new@example.com", "role": "researcher"})).await;
    let token = inv.expect(201)["token"].as_str().unwrap().to_string();
    let listed = app.get("/api/v1/invitations", &admin).await;
    assert!(listed.expect(200)["data"][0].get("token").is_none(), "token is shown once only");
    let wrong = app.register(json!({"email": "other@example.com", "name": "X", "password": PASSWORD, "invitation_token": token})).await;
    wrong.expect(403);
    let ok = app.register(json!({"email": "new@example.com", "name": "New", "password": PASSWORD, "invitation_token": token})).await;
    assert_eq!(ok.expect(201)["role"], "researcher");
    let again = app.register(json!({"email": "new@example.com", "name": "New", "password": PASSWORD, "invitation_token": token})).await;
    again.expect(403);
    // A revoked invitation cannot be used.
    let inv2 = app.post("/api/v1/invitations", &admin, json!({"email": "late@example.com", "role": "viewer"})).await;
    let (id2, token2) = (inv2.id(), inv2.body["token"].as_str().unwrap().to_string());
    app.delete(&format!("/api/v1/invitations/{id2}"), &admin).await.expect(204);
    app.register(json!({"email": "late@example.com", "name": "L", "password": PASSWORD, "invitation_token": token2})).await.expect(403);
}
on_each_backend!(invitations_test, invitations);

/// Reuse detection with no grace for retries (`refresh_reuse_grace_s: 0`).
async fn refresh_rotation_and_reuse_revokes_the_family(backend: test_support::Backend) {
    let app = TestApp::with_settings(backend, Settings { refresh_reuse_grace_s: 0, ..Default::default() }).await;
    app.bootstrap().await;
    let login = app.call("POST", "/api/v1/auth/login", None, Some(json!({"email": "admin@example.com", "password": PASSWORD}))).await;
    let login = login.expect(200).clone();
    assert_eq!(login["token_type"], "Bearer");
    assert_eq!(login["expires_in"], 900);
    let r1 = login["refresh_token"].as_str().unwrap();
    let second = app.call("POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": r1}))).await;
    let second = second.expect(200).clone();
    let (a2, r2) = (second["access_token"].as_str().unwrap(), second["refresh_token"].as_str().unwrap());
    assert_ne!(r1, r2);
    app.get("/api/v1/me", a2).await.expect(200);
    // Someone replays the first refresh token: the whole session dies.
    let replay = app.call("POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": r1}))).await;
    replay.expect(401);
    assert_eq!(replay.code(), "refresh_token_reused");
    let r2_use = app.call("POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": r2}))).await;
    assert_eq!(r2_use.code(), "session_revoked");
    assert_eq!(app.get("/api/v1/me", a2).await.code(), "session_revoked");
    let unknown = app.call("POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": "rt_nope"}))).await;
    assert_eq!(unknown.code(), "invalid_token");
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotation_and_reuse_revokes_the_family_test() {
    for backend in test_support::backends() {
        refresh_rotation_and_reuse_revokes_the_family(backend).await;
    }
}

/// A refresh whose answer was lost (a page reloaded mid-refresh) is retried with the same token
/// within the grace period: it gets another pair and the session lives on, audited as a retry;
/// after the grace period the same replay ends the session.
async fn a_retried_refresh_within_the_grace_period_keeps_the_session(backend: test_support::Backend) {
    let app = TestApp::with_settings(backend, Settings { refresh_reuse_grace_s: 2, ..Default::default() }).await;
    app.bootstrap().await;
    let login = app.call("POST", "/api/v1/auth/login", None, Some(json!({"email": "admin@example.com", "password": PASSWORD}))).await;
    let r1 = login.expect(200)["refresh_token"].as_str().unwrap().to_string();
    let refresh = |token: String| {
        let app = &app;
        async move { app.call("POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": token}))).await }
    };
    let lost = refresh(r1.clone()).await;
    let r2 = lost.expect(200)["refresh_token"].as_str().unwrap().to_string();
    let retried = refresh(r1.clone()).await;
    let (a3, r3) =
        (retried.expect(200)["access_token"].as_str().unwrap().to_string(), retried.body["refresh_token"].as_str().unwrap().to_string());
    assert_ne!(r3, r2);
    app.get("/api/v1/me", &a3).await.expect(200);
    let audit: Vec<String> = app.audit_tail(20).await.into_iter().map(|(a, _, _)| a).collect();
    assert!(audit.iter().any(|a| a == "auth.refresh_retry"), "{audit:?}");
    // Each token of the retried pair still works once; the one the lost answer carried too.
    refresh(r3).await.expect(200);
    let r5 = refresh(r2).await.expect(200)["refresh_token"].as_str().unwrap().to_string();
    // Past the grace period, presenting the first token again is a stolen copy: the session ends.
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let replay = refresh(r1).await;
    assert_eq!(replay.code(), "refresh_token_reused");
    assert_eq!(refresh(r5).await.code(), "session_revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_refresh_within_the_grace_period_keeps_the_session_test() {
    for backend in test_support::backends() {
        a_retried_refresh_within_the_grace_period_keeps_the_session(backend).await;
    }
}

async fn logout_revokes_access_and_refresh(app: TestApp) {
    app.bootstrap().await;
    let login = app.call("POST", "/api/v1/auth/login", None, Some(json!({"email": "admin@example.com", "password": PASSWORD}))).await;
    let (access, refresh) =
        (login.body["access_token"].as_str().unwrap().to_string(), login.body["refresh_token"].as_str().unwrap().to_string());
    app.call("POST", "/api/v1/auth/logout", Some(&access), None).await.expect(204);
    assert_eq!(app.get("/api/v1/me", &access).await.code(), "session_revoked");
    assert_eq!(app.call("POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": refresh}))).await.code(), "session_revoked");
}
on_each_backend!(logout_revokes_access_and_refresh_test, logout_revokes_access_and_refresh);

async fn bad_tokens_answer_401_with_a_reason(app: TestApp) {
    let (_, token) = app.bootstrap().await;
    let missing = app.call("GET", "/api/v1/me", None, None).await;
    missing.expect(401);
    assert_eq!(missing.code(), "missing_token");
    assert_eq!(missing.body["error"]["type"], "authentication_error");
    assert_eq!(app.get("/api/v1/me", "garbage").await.code(), "invalid_token");
    assert_eq!(app.get("/api/v1/me", "tk_0000000000_secret").await.code(), "invalid_token");
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(app.get("/api/v1/me", &forged).await.code(), "invalid_token");
    let basic = app
        .send(
            axum::http::Request::builder()
                .uri("/api/v1/me")
                .header("authorization", "Basic YWRtaW46YWRtaW4=")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(basic.code(), "invalid_token");
}
on_each_backend!(bad_tokens_answer_401_with_a_reason_test, bad_tokens_answer_401_with_a_reason);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_access_token_says_so() {
    for backend in backends() {
        let app = TestApp::with_settings(backend, Settings { access_token_ttl_s: 0, ..Settings::default() }).await;
        let (_, token) = app.bootstrap().await;
        let a = app.get("/api/v1/me", &token).await;
        a.expect(401);
        assert_eq!(a.code(), "token_expired");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_lock_the_account_and_throttle_the_address() {
    for backend in backends() {
        let app = TestApp::with_settings(backend, Settings { lockout_threshold: 3, ip_failure_burst: 5.0, ..Settings::default() }).await;
        app.bootstrap().await;
        let wrong = json!({"email": "admin@example.com", "password": "wrong password"});
        for _ in 0..2 {
            assert_eq!(app.call("POST", "/api/v1/auth/login", None, Some(wrong.clone())).await.code(), "invalid_credentials");
        }
        let locked = app.call("POST", "/api/v1/auth/login", None, Some(wrong.clone())).await;
        locked.expect(429);
        assert_eq!(locked.code(), "account_locked");
        assert!(locked.headers.get("retry-after").is_some());
        // Even the right password is refused while locked (and the attempt is charged).
        let right = app.call("POST", "/api/v1/auth/login", None, Some(json!({"email": "admin@example.com", "password": PASSWORD}))).await;
        assert_eq!(right.code(), "account_locked");
        // Unknown accounts still count against the address: its fifth attempt is the last.
        let ghost = json!({"email": "ghost@example.com", "password": "whatever1"});
        assert_eq!(app.call("POST", "/api/v1/auth/login", None, Some(ghost.clone())).await.code(), "invalid_credentials");
        let before = app.audit_count().await;
        assert_eq!(app.call("POST", "/api/v1/auth/login", None, Some(ghost.clone())).await.code(), "login_throttled");
        assert_eq!(app.call("POST", "/api/v1/auth/login", None, Some(ghost)).await.code(), "login_throttled");
        assert_eq!(app.audit_count().await, before + 1, "the throttle is recorded once, not per refusal");
        // Every step is in the audit log.
        let mut conn = app.services.db().read().await.unwrap();
        let rows = database::audit::list(&mut conn, &Default::default(), None, 100).await.unwrap();
        let actions: Vec<(String, String)> = rows.iter().map(|r| (r.action.clone(), r.outcome.clone())).collect();
        assert!(actions.contains(&("auth.lockout".into(), "denied".into())), "{actions:?}");
        assert_eq!(actions.iter().filter(|a| a.0 == "auth.lockout").count(), 1, "{actions:?}");
        assert!(actions.iter().filter(|a| a.0 == "auth.login" && a.1 == "failure").count() >= 4, "{actions:?}");
        assert!(actions.contains(&("auth.login".into(), "denied".into())), "{actions:?}");
        assert_eq!(actions[0], ("auth.throttled".into(), "denied".into()), "{actions:?}");
        assert!(rows.iter().all(|r| !r.details.contains("wrong password")), "passwords never reach the audit log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_passwords_cannot_outrun_the_lockout() {
    for backend in backends() {
        let settings = Settings { lockout_threshold: 3, ip_failure_burst: 100.0, ..Settings::default() };
        let app = std::sync::Arc::new(TestApp::with_settings(backend, settings).await);
        app.bootstrap().await;
        let guesses: Vec<_> = (0..20)
            .map(|i| {
                let app = app.clone();
                tokio::spawn(async move {
                    let guess = json!({"email": "admin@example.com", "password": format!("guess number {i}")});
                    app.call("POST", "/api/v1/auth/login", None, Some(guess)).await.code().to_string()
                })
            })
            .collect();
        let mut codes = Vec::new();
        for g in guesses {
            codes.push(g.await.unwrap());
        }
        let wrong = codes.iter().filter(|c| *c == "invalid_credentials").count();
        let locked = codes.iter().filter(|c| *c == "account_locked").count();
        assert!(wrong <= 3, "{backend:?}: {wrong} guesses were verified past the threshold of 3: {codes:?}");
        assert_eq!(wrong + locked, 20, "{backend:?}: {codes:?}");
        let right = app.call("POST", "/api/v1/auth/login", None, Some(json!({"email": "admin@example.com", "password": PASSWORD}))).await;
        assert_eq!(right.code(), "account_locked", "{backend:?}");
        let lockouts = app.audit_tail(100).await.into_iter().filter(|(action, ..)| action == "auth.lockout").count();
        assert_eq!(lockouts, 1, "{backend:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_failures_are_charged_and_throttled_addresses_are_audited_once() {
    for backend in backends() {
        let http = http_api::HttpSettings { trust_forwarded_for: true, ..Default::default() };
        let settings = Settings { lockout_threshold: 1, ip_failure_burst: 3.0, ..Settings::default() };
        let app = TestApp::with(backend, settings, http).await;
        let (_, admin) = app.bootstrap().await;
        let (_, _) = app.user(&admin, "locked@example.com", "viewer").await;
        let register = json!({"email": "x@example.com", "name": "X", "password": PASSWORD, "invitation_token": "inv_bogus"});

        // Bad invitations: each refusal is charged and audited, with its reason...
        let before = app.audit_count().await;
        for _ in 0..3 {
            let a = app.call_from("198.51.100.1", "POST", "/api/v1/auth/register", None, Some(register.clone())).await;
            assert_eq!(a.code(), "forbidden", "{backend:?}");
        }
        assert_eq!(app.audit_count().await, before + 3);
        let (action, outcome, details) = app.audit_tail(1).await.remove(0);
        assert_eq!((action.as_str(), outcome.as_str()), ("permission.denied", "denied"));
        assert!(details["reason"].as_str().unwrap().contains("invitation is not valid"), "{details}");
        // ...then the address is throttled: one record for the crossing, none per refusal, and
        // nothing anonymous gets through (not even a right password).
        for _ in 0..3 {
            let a = app.call_from("198.51.100.1", "POST", "/api/v1/auth/register", None, Some(register.clone())).await;
            a.expect(429);
            assert_eq!(a.code(), "login_throttled");
            assert!(a.headers.get("retry-after").is_some());
        }
        let right = json!({"email": "admin@example.com", "password": PASSWORD});
        assert_eq!(app.call_from("198.51.100.1", "POST", "/api/v1/auth/login", None, Some(right)).await.code(), "login_throttled");
        assert_eq!(app.audit_count().await, before + 4);
        let (action, _, details) = app.audit_tail(1).await.remove(0);
        assert_eq!(action, "auth.throttled");
        assert_eq!(details["route"], "/api/v1/auth/register");

        // Hammering a locked account is charged like any failed login, and bounded.
        let wrong = json!({"email": "locked@example.com", "password": "wrong password"});
        let codes: Vec<String> = {
            let mut v = Vec::new();
            for _ in 0..6 {
                v.push(app.call_from("198.51.100.2", "POST", "/api/v1/auth/login", None, Some(wrong.clone())).await.code().to_string());
            }
            v
        };
        assert_eq!(codes, ["account_locked", "account_locked", "account_locked", "login_throttled", "login_throttled", "login_throttled"]);
        let after_locked = app.audit_count().await;
        // failure + lockout, two denied attempts on the locked account, one throttle record.
        assert_eq!(after_locked, before + 4 + 5, "{:?}", app.audit_tail(6).await);

        // Bad refresh tokens count too; an IPv6 client is one address per /64.
        for host in 1..=3 {
            let a = app
                .call_from(&format!("2001:db8:5:6::{host}"), "POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": "rt_x"})))
                .await;
            assert_eq!(a.code(), "invalid_token");
        }
        let rotated = app.call_from("2001:db8:5:6::99", "POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": "rt_x"}))).await;
        assert_eq!(rotated.code(), "login_throttled", "rotating addresses inside one /64 does not help");
        let mapped =
            app.call_from("::ffff:198.51.100.2", "POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": "rt_x"}))).await;
        assert_eq!(mapped.code(), "login_throttled", "an IPv4-mapped address is the IPv4 address");
        let other = app.call_from("2001:db8:5:7::1", "POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": "rt_x"}))).await;
        assert_eq!(other.code(), "invalid_token", "another /64 is another client");
        // Authenticated callers from a throttled address are not affected.
        app.call_from("198.51.100.1", "GET", "/api/v1/me", Some(&admin), None).await.expect(200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_accounts_missing_users_and_expired_sessions() {
    for backend in backends() {
        let app = TestApp::new(backend).await;
        let (_, admin) = app.bootstrap().await;
        // A login to a disabled account is audited once.
        let (gone_id, _) = app.user(&admin, "gone@example.com", "viewer").await;
        app.patch(&format!("/api/v1/users/{gone_id}"), &admin, json!({"disabled": true})).await.expect(200);
        let before = app.audit_count().await;
        let a = app.call("POST", "/api/v1/auth/login", None, Some(json!({"email": "gone@example.com", "password": PASSWORD}))).await;
        assert_eq!(a.code(), "account_disabled");
        assert_eq!(app.audit_count().await, before + 1, "{:?}", app.audit_tail(2).await);

        // A token whose user no longer exists is invalid (401), not a 404.
        let (ghost_id, ghost) = app.user(&admin, "ghost@example.com", "developer").await;
        let key = app.post("/api/v1/api-keys", &ghost, json!({"name": "k"})).await.expect(201)["key"].as_str().unwrap().to_string();
        app.without_foreign_keys(&format!("DELETE FROM users WHERE id = '{ghost_id}'")).await;
        for token in [&ghost, &key] {
            let a = app.get("/api/v1/me", token).await;
            a.expect(401);
            assert_eq!(a.code(), "invalid_token");
        }

        // Sessions end when they expire, and refresh rotation never extends them.
        let login = app.call("POST", "/api/v1/auth/login", None, Some(json!({"email": "admin@example.com", "password": PASSWORD}))).await;
        let login = login.expect(200).clone();
        let access = login["access_token"].as_str().unwrap();
        let session = app.get("/api/v1/me", access).await;
        session.expect(200);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        let ends = now + 60_000;
        let pool = app.services.db().pool();
        sqlx::query(&format!("UPDATE sessions SET expires_at = {ends} WHERE id IN (SELECT session_id FROM refresh_tokens)"))
            .execute(pool)
            .await
            .unwrap();
        let rotated = app.call("POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": login["refresh_token"]}))).await;
        let rotated = rotated.expect(200).clone();
        // The only used refresh token is the one just rotated: its session's new token is the unused one.
        let session_id: String =
            sqlx::query_scalar("SELECT session_id FROM refresh_tokens WHERE used_at IS NOT NULL").fetch_one(pool).await.unwrap();
        let latest: i64 =
            sqlx::query_scalar(&format!("SELECT expires_at FROM refresh_tokens WHERE session_id = '{session_id}' AND used_at IS NULL"))
                .fetch_one(pool)
                .await
                .unwrap();
        assert!(latest <= ends, "a rotated refresh token outlives its session: {latest} > {ends}");
        sqlx::query(&format!("UPDATE sessions SET expires_at = {now} WHERE id = '{session_id}'")).execute(pool).await.unwrap();
        let expired = app.get("/api/v1/me", rotated["access_token"].as_str().unwrap()).await;
        expired.expect(401);
        assert_eq!(expired.code(), "session_expired");
        let refresh = app.call("POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": rotated["refresh_token"]}))).await;
        refresh.expect(401);
        assert_eq!(refresh.code(), "session_expired");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_write_floods_are_throttled_per_address() {
    for backend in backends() {
        let http = http_api::HttpSettings { trust_forwarded_for: true, ..Default::default() };
        let app = TestApp::with(backend, Settings { ip_failure_burst: 3.0, ..Settings::default() }, http).await;
        let (_, admin) = app.bootstrap().await;
        let from = |ip: &str, token: Option<&str>| {
            let mut r = axum::http::Request::builder()
                .method("POST")
                .uri("/api/v1/projects")
                .header("x-forwarded-for", format!("203.0.113.9, {ip}"));
            if let Some(t) = token {
                r = r.header("authorization", format!("Bearer {t}"));
            }
            r.header("content-type", "application/json").body(axum::body::Body::from(r#"{"name":"x"}"#)).unwrap()
        };
        let before = app.audit_count().await;
        for _ in 0..3 {
            assert_eq!(app.send(from("198.51.100.7", None)).await.code(), "missing_token");
        }
        assert_eq!(app.audit_count().await, before + 3, "each refused write is audited");
        let throttled = app.send(from("198.51.100.7", Some("garbage"))).await;
        throttled.expect(429);
        assert_eq!(throttled.code(), "login_throttled");
        assert_eq!(app.audit_count().await, before + 4, "crossing into the throttled state is audited once");
        for token in [None, Some("garbage")] {
            assert_eq!(app.send(from("198.51.100.7", token)).await.code(), "login_throttled");
        }
        assert_eq!(app.audit_count().await, before + 4, "throttled requests do not grow the log");
        // The address is the proxy's last entry: another client is not affected, and the audit
        // record names the client's address.
        assert_eq!(app.send(from("198.51.100.8", None)).await.code(), "missing_token");
        let events = app.get("/api/v1/audit-events?organization_id=*&outcome=denied&limit=1", &admin).await;
        assert_eq!(events.expect(200)["data"][0]["ip"], "198.51.100.8");
    }
}
