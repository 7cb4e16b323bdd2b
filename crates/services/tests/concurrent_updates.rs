//! Use cases racing each other on both databases: concurrent user updates keep every change,
//! the last admin survives simultaneous demotions, and hot API keys stay reads.

use services::identity::Registration;
use services::users::{NewUser, UserChanges};
use services::{Principal, RequestContext, Services, Settings};
use std::time::Duration;
use test_support::{backends, Backend, TestDb};

const PASSWORD: &str = "correct horse battery";

async fn services(backend: Backend) -> (Services, TestDb) {
    let test_db = TestDb::fresh(backend).await;
    let db = database::Db::connect(&test_db.url, 8).await.unwrap();
    db.migrate().await.unwrap();
    (Services::new(db, test_db.blob_store(), Settings::default()).await.unwrap(), test_db)
}

fn ctx() -> RequestContext {
    RequestContext { ip: Some("127.0.0.1".into()), user_agent: None }
}

async fn principal(s: &Services, email: &str) -> Principal {
    let pair = s.login(email, PASSWORD, &ctx()).await.unwrap();
    s.authenticate(&pair.access_token).await.unwrap()
}

/// The instance admin, and a user with `role` in the same organization.
async fn admin_and_user(s: &Services, role: &str) -> (Principal, Principal) {
    let r = Registration { email: "admin@example.com".into(), name: "Admin".into(), password: PASSWORD.into(), invitation_token: None };
    s.register(r, &ctx()).await.unwrap();
    let admin = principal(s, "admin@example.com").await;
    let n = NewUser { email: "user@example.com".into(), name: "User".into(), password: PASSWORD.into(), role: role.into() };
    s.create_user(&admin, n, &ctx()).await.unwrap();
    let user = principal(s, "user@example.com").await;
    (admin, user)
}

/// Lets spawned tasks run up to where they wait for the lock the test holds.
async fn let_them_queue() {
    // Nothing to await here: the tasks block inside the database. The pause only gives the
    // old read-then-write code a chance to read stale rows; the assertions hold either way.
    tokio::time::sleep(Duration::from_millis(150)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rename_cannot_undo_a_concurrent_disable() {
    for backend in backends() {
        let (s, _db) = services(backend).await;
        let (admin, user) = admin_and_user(&s, "developer").await;
        let (org, id) = (user.organization_id.clone(), user.user_id.clone());
        // Hold the user's row so that every update below reads first, then queues.
        let mut hold = s.db().begin_write().await.unwrap();
        database::users::lock(hold.conn(), &org, &id).await.unwrap();
        let rename = |i: usize| {
            let (s, user, id) = (s.clone(), user.clone(), id.clone());
            tokio::spawn(async move {
                let c = UserChanges { name: Some(format!("Renamed {i}")), ..Default::default() };
                s.update_user(&user, &id, c, &ctx()).await.map(|_| ())
            })
        };
        let mut tasks: Vec<_> = (0..4).map(rename).collect();
        let_them_queue().await;
        let disable = {
            let (s, admin, id) = (s.clone(), admin.clone(), id.clone());
            tokio::spawn(async move {
                let c = UserChanges { disabled: Some(true), ..Default::default() };
                s.update_user(&admin, &id, c, &ctx()).await.map(|_| ())
            })
        };
        let_them_queue().await;
        tasks.extend((4..8).map(rename));
        let_them_queue().await;
        drop(hold);
        disable.await.unwrap().unwrap();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let row = database::users::get(&mut s.db().read().await.unwrap(), &org, &id).await.unwrap();
        assert!(row.disabled(), "{backend:?}: a rename wrote back the stale 'enabled' flag");
        assert!(row.name.starts_with("Renamed"), "{backend:?}: {}", row.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_admins_demoting_each_other_leave_one_admin() {
    for backend in backends() {
        let (s, _db) = services(backend).await;
        let (first, second) = admin_and_user(&s, "admin").await;
        let org = first.organization_id.clone();
        // Hold both admins' rows: each demotion counts two admins unless it waits for the other.
        let mut hold = s.db().begin_write().await.unwrap();
        database::users::lock_admins(hold.conn(), &org).await.unwrap();
        let demote = |by: &Principal, target: &Principal| {
            let (s, by, target) = (s.clone(), by.clone(), target.user_id.clone());
            tokio::spawn(async move {
                let c = UserChanges { role: Some("viewer".into()), ..Default::default() };
                s.update_user(&by, &target, c, &ctx()).await.map(|_| ())
            })
        };
        let a = demote(&first, &second);
        let b = demote(&second, &first);
        let_them_queue().await;
        drop(hold);
        let results = [a.await.unwrap(), b.await.unwrap()];
        let refused = results.iter().filter(|r| matches!(r, Err(services::Error::Conflict(_)))).count();
        assert_eq!(refused, 1, "{backend:?}: exactly one demotion must be refused: {results:?}");
        let admins = database::users::count_admins(&mut s.db().read().await.unwrap(), &org).await.unwrap();
        assert_eq!(admins, 1, "{backend:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recently_used_api_key_authenticates_without_a_write() {
    for backend in backends() {
        let (s, _db) = services(backend).await;
        let (admin, _) = admin_and_user(&s, "viewer").await;
        let (_, key) =
            s.create_api_key(&admin, services::api_keys::NewApiKey { name: "ci".into(), ..Default::default() }, &ctx()).await.unwrap();
        // The first use records the time (a write)...
        s.authenticate(&key).await.unwrap();
        // ...later uses within a minute are reads: they go through while a writer holds the
        // database (SQLite has one writer; queuing behind it would stall every request).
        let hold = s.db().begin_write().await.unwrap();
        let again = tokio::time::timeout(Duration::from_secs(5), s.authenticate(&key)).await;
        drop(hold);
        let principal = again.unwrap_or_else(|_| panic!("{backend:?}: authenticating a fresh key waited for the writer")).unwrap();
        assert!(principal.api_key_id().is_some());
    }
}
