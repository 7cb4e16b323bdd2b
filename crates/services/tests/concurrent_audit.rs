//! Use cases without HTTP: concurrent writers keep the audit chain whole on both databases.

use domain::audit::Outcome;
use services::audit::AuditEvent;
use services::{RequestContext, Services, Settings};
use test_support::{backends, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_keep_one_unbroken_chain() {
    for backend in backends() {
        let test_db = TestDb::fresh(backend).await;
        let db = database::Db::connect(&test_db.url, 16).await.unwrap();
        db.migrate().await.unwrap();
        // Migrations are idempotent.
        db.migrate().await.unwrap();
        let services = Services::new(db, test_db.blob_store(), Settings::default()).await.unwrap();
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let s = services.clone();
                tokio::spawn(async move {
                    let event = AuditEvent::anonymous(None, "test.append").outcome(Outcome::Success).details(serde_json::json!({"i": i}));
                    s.record_event(event, &RequestContext { ip: Some("127.0.0.1".into()), user_agent: None }).await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let report = services.verify_audit_chain().await.unwrap();
        assert_eq!(report.records, 40, "{backend:?}");
        assert!(report.broken.is_none(), "{backend:?}: {report:?}");
    }
}

/// Verification reads one snapshot: records appended while it walks the chain are not seen,
/// and never reported as records removed from the end (the head read last would be ahead).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verification_during_appends_sees_one_consistent_snapshot() {
    for backend in backends() {
        let test_db = TestDb::fresh(backend).await;
        let db = database::Db::connect(&test_db.url, 16).await.unwrap();
        db.migrate().await.unwrap();
        let services = Services::new(db, test_db.blob_store(), Settings::default()).await.unwrap();
        for i in 0..1500 {
            let event = AuditEvent::anonymous(None, "test.fill").details(serde_json::json!({"i": i}));
            services.record_event(event, &RequestContext::default()).await.unwrap();
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (s, stop) = (services.clone(), stop.clone());
            tokio::spawn(async move {
                let mut written = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    s.record_event(AuditEvent::anonymous(None, "test.during"), &RequestContext::default()).await.unwrap();
                    written += 1;
                }
                written
            })
        };
        let mut seen = Vec::new();
        for _ in 0..15 {
            let report = services.verify_audit_chain().await.unwrap();
            assert!(report.broken.is_none(), "{backend:?}: {report:?}");
            seen.push(report.records);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let written = writer.await.unwrap();
        assert!(written > 0 && seen.last() > seen.first(), "{backend:?}: appends ran during verification ({written}, {seen:?})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_database_urls_are_refused_clearly() {
    let err = database::Db::connect("mysql://localhost/x", 1).await.err().expect("refused");
    assert!(err.to_string().contains("sqlite://"), "{err}");
}

/// Records written before the chain was keyed (plain SHA-256, no key id) are sealed once, at the
/// first start, by one keyed record counting them; the chain then verifies, and later starts
/// add nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unkeyed_records_of_an_older_installation_are_sealed_once_at_start() {
    use domain::audit::{chain_hash, AuditRecord, GENESIS_HASH, SEAL_ACTION};
    for backend in backends() {
        let test_db = TestDb::fresh(backend).await;
        let db = database::Db::connect(&test_db.url, 4).await.unwrap();
        db.migrate().await.unwrap();
        let mut prev = GENESIS_HASH.to_string();
        {
            let mut tx = db.begin_write().await.unwrap();
            for seq in 1..=2 {
                let (next, _) = database::audit::lock_head(tx.conn()).await.unwrap();
                assert_eq!(next, seq);
                let record = AuditRecord {
                    seq,
                    id: format!("aud_legacy{seq}"),
                    occurred_at_ms: 1_700_000_000_000 + seq,
                    organization_id: None,
                    actor_id: None,
                    actor_kind: "system".into(),
                    action: "legacy.event".into(),
                    target_kind: None,
                    target_id: None,
                    outcome: "success".into(),
                    ip: None,
                    user_agent: None,
                    details: "{}".into(),
                    key_id: None,
                };
                let hash = chain_hash(None, &prev, &record);
                database::audit::append(tx.conn(), &record, &prev, &hash).await.unwrap();
                prev = hash;
            }
            tx.commit().await.unwrap();
        }
        for _ in 0..2 {
            let services = Services::new(db.clone(), test_db.blob_store(), Settings::default()).await.unwrap();
            let report = services.verify_audit_chain().await.unwrap();
            assert!(report.broken.is_none(), "{backend:?}: {report:?}");
            assert_eq!(report.records, 3, "{backend:?}: two legacy records and one seal, added once");
        }
        let mut conn = db.read().await.unwrap();
        let newest = database::audit::list(&mut conn, &Default::default(), None, 1).await.unwrap();
        assert_eq!(newest[0].action, SEAL_ACTION);
        assert_eq!(newest[0].details, r#"{"unkeyed_records":2}"#);
    }
}
