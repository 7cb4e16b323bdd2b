//! Inference limits under concurrency: never more requests admitted in a minute than a key's
//! limit, counted in memory and in the real Redis on 127.0.0.1:6379 — there by two servers
//! ("replicas") sharing it; tokens per minute; the monthly token quota, read back from the
//! usage rows after a restart.

use services::api_keys::{KeyLimits, NewApiKey};
use services::deployments::{CounterStore, InferenceRecord};
use services::identity::Registration;
use services::{Error, Principal, RequestContext, Services, Settings};
use test_support::{Backend, TestDb};

const PASSWORD: &str = "correct horse battery";

async fn open(test_db: &TestDb) -> Services {
    let db = database::Db::connect(&test_db.url, 8).await.unwrap();
    db.migrate().await.unwrap();
    Services::new(db, test_db.blob_store(), Settings::default()).await.unwrap()
}

fn ctx() -> RequestContext {
    RequestContext::default()
}

/// Registers the administrator and makes an API key with `limits`: (admin, the key's principal).
async fn key_with(s: &Services, limits: KeyLimits) -> (Principal, Principal) {
    let r = Registration { email: "admin@example.com".into(), name: "Admin".into(), password: PASSWORD.into(), invitation_token: None };
    s.register(r, &ctx()).await.unwrap();
    let pair = s.login("admin@example.com", PASSWORD, &ctx()).await.unwrap();
    let admin = s.authenticate(&pair.access_token).await.unwrap();
    let n = NewApiKey { name: "app".into(), limits, ..Default::default() };
    let (_, secret) = s.create_api_key(&admin, n, &ctx()).await.unwrap();
    (admin.clone(), s.authenticate(&secret).await.unwrap())
}

/// Fires `n` admissions at once on each of `servers`; how many were admitted.
async fn burst(servers: &[Services], key: &Principal, n: usize) -> usize {
    let mut tasks = Vec::new();
    for s in servers {
        for _ in 0..n {
            let (s, key) = (s.clone(), key.clone());
            tasks.push(tokio::spawn(async move { s.admit_inference(&key).await }));
        }
    }
    let mut admitted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => admitted += 1,
            Err(Error::InferenceLimited { quota: false, retry_after_ms, .. }) => assert!((1..=60_000).contains(&retry_after_ms)),
            Err(e) => panic!("unexpected refusal: {e}"),
        }
    }
    admitted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn never_more_requests_than_the_limit_in_memory_or_in_redis_across_replicas() {
    let test_db = TestDb::fresh(Backend::Sqlite).await;
    let limits = KeyLimits { requests_per_minute: Some(7), ..Default::default() };
    // In memory: one server.
    let s = open(&test_db).await;
    let (_, key) = key_with(&s, limits.clone()).await;
    let admitted = burst(std::slice::from_ref(&s), &key, 40).await;
    // A minute boundary inside the burst would open a second window; it is rare but possible.
    assert!(admitted == 7 || admitted == 14, "{admitted} admitted with a limit of 7 per minute");

    // In Redis: two servers on the same database and the same Redis count together.
    let Some(redis) = test_support::redis_url() else { return };
    let redis_db = TestDb::fresh(Backend::Sqlite).await;
    let (a, b) = (open(&redis_db).await, open(&redis_db).await);
    a.use_counter_store(CounterStore::redis(&redis).await.unwrap()).unwrap();
    b.use_counter_store(CounterStore::redis(&redis).await.unwrap()).unwrap();
    let (_, key) = key_with(&a, limits).await;
    let admitted = burst(&[a.clone(), b.clone()], &key, 25).await;
    assert!(admitted == 7 || admitted == 14, "{admitted} admitted across two replicas with a limit of 7 per minute");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_per_minute_and_the_monthly_quota_refuse_once_used() {
    let test_db = TestDb::fresh(Backend::Sqlite).await;
    let s = open(&test_db).await;
    let limits = KeyLimits { tokens_per_minute: Some(100), monthly_tokens: Some(150), ..Default::default() };
    let (admin, key) = key_with(&s, limits).await;
    let admission = s.admit_inference(&key).await.unwrap();
    assert!(admission.headers.iter().any(|(h, v)| *h == "x-ratelimit-limit-tokens" && v == "100"), "{:?}", admission.headers);
    s.charge_inference(&admission, 100);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let refused = loop {
        match s.admit_inference(&key).await {
            Err(e) => break e,
            Ok(_) => assert!(std::time::Instant::now() < deadline, "100 tokens charged, yet admitted"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(matches!(refused, Error::InferenceLimited { quota: false, .. }), "{refused}");

    // The month: 160 tokens recorded as usage; a restarted server (fresh counters) reads them.
    let now = services::now_ms();
    let row = |i: i64| {
        InferenceRecord::of(services::deployments::InferenceRow {
            id: format!("chatcmpl-test{i}"),
            organization_id: admin.organization_id.clone(),
            deployment_id: None,
            api_key_id: key.api_key_id().map(str::to_string),
            user_id: Some(admin.user_id.clone()),
            model: "m".into(),
            endpoint: "chat.completions".into(),
            prompt_tokens: 30,
            completion_tokens: 50,
            time_to_first_token_ms: Some(5),
            latency_ms: 10,
            status: 200,
            error_code: None,
            created_at: now,
            split_id: None,
        })
    };
    s.record_inference(row(1));
    s.record_inference(row(2));
    s.flush_usage().await;
    let restarted = open(&test_db).await;
    match restarted.admit_inference(&key).await {
        Err(Error::InferenceLimited { quota: true, retry_after_ms, message }) => {
            let (_, next_month) = services::deployments::month_bounds(now);
            assert!((retry_after_ms - (next_month - now)).abs() < 5_000, "{retry_after_ms}");
            assert!(message.contains("150 tokens for this month"), "{message}");
        }
        other => panic!("160 of 150 monthly tokens used, yet: {:?}", other.map(|a| a.headers)),
    }
}
