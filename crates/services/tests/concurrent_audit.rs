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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_database_urls_are_refused_clearly() {
    let err = database::Db::connect("mysql://localhost/x", 1).await.err().expect("refused");
    assert!(err.to_string().contains("sqlite://"), "{err}");
}
