//! Keys outside the database: a copy of the database and of the whole data directory, without
//! the master key, cannot produce an access token the server accepts; a master-key rotation
//! keeps tokens of the previous key valid while that key is held, until they expire; the audit
//! chain is keyed and verifies across a rotation (with the previous key), and `audit verify` is
//! read-only.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use common::{tunery_bin, ServerProcess};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::path::{Path, PathBuf};
use std::process::Command;

const PASSWORD: &str = "keys outside the database";

fn start(data: &Path, key: &Path, extra: &[&str]) -> ServerProcess {
    let mut args = vec!["--data-dir", data.to_str().unwrap(), "--master-key-file", key.to_str().unwrap()];
    args.extend_from_slice(extra);
    ServerProcess::start(&args)
}

async fn login(http: &reqwest::Client, url: &str, register: bool) -> String {
    common::access_token(http, url, "root@example.com", PASSWORD, register).await
}

/// The status and error code of `GET /api/v1/me` with `token`.
async fn me(http: &reqwest::Client, url: &str, token: &str) -> (u16, String) {
    let r = http.get(format!("{url}/api/v1/me")).bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (status, body["error"]["code"].as_str().unwrap_or("").to_string())
}

/// (header, claims) of a token.
fn parts(token: &str) -> (Value, Value) {
    let mut it = token.split('.').map(|p| serde_json::from_slice::<Value>(&B64.decode(p).unwrap_or_default()).unwrap_or(Value::Null));
    (it.next().unwrap(), it.next().unwrap())
}

/// An HS256 token over `header` and `claims` signed with `key`.
fn forge(header: &Value, claims: &Value, key: &[u8]) -> String {
    let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", B64.encode(mac.finalize().into_bytes()))
}

/// Every value the SQLite database holds, as text, from every column of every table.
async fn database_values(db_file: &Path) -> Vec<String> {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=ro", db_file.display());
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'").fetch_all(&mut conn).await.unwrap();
    let mut values = Vec::new();
    for table in tables {
        let columns: Vec<String> =
            sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')")).fetch_all(&mut conn).await.unwrap();
        for column in columns {
            // hex() reads every storage class (text, integers, blobs) without decoding it.
            let rows = sqlx::query(&format!("SELECT hex(\"{column}\") FROM \"{table}\" WHERE \"{column}\" IS NOT NULL"))
                .fetch_all(&mut conn)
                .await
                .unwrap();
            for bytes in rows.iter().filter_map(|r| hex::decode(r.get::<String, _>(0)).ok()) {
                values.push(String::from_utf8(bytes.clone()).unwrap_or_else(|_| hex::encode(&bytes)));
            }
        }
    }
    values.sort();
    values.dedup();
    values
}

/// Every candidate key a thief could try: each database value as bytes, hex- and
/// base64-decoded when it decodes, and the bytes of each file of the data directory (up to
/// 1 MiB) except the master key, which is not in the copy.
fn candidate_keys(values: &[String], data: &Path) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    for v in values {
        keys.push(v.as_bytes().to_vec());
        if let Ok(raw) = hex::decode(v) {
            keys.push(raw);
        }
        for engine in [base64::engine::general_purpose::STANDARD, base64::engine::general_purpose::URL_SAFE_NO_PAD] {
            if let Ok(raw) = engine.decode(v) {
                keys.push(raw);
            }
        }
    }
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(data, &mut files);
    for file in files {
        if std::fs::metadata(&file).is_ok_and(|m| m.len() <= 1 << 20) {
            keys.push(std::fs::read(&file).unwrap());
        }
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_the_data_directory_without_the_master_key_cannot_sign_a_token() {
    let data = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("master.key");
    // Thousands of bad tokens from one address: lift the throttle that would answer 429.
    let config = keys.path().join("tunery.toml");
    std::fs::write(&config, "[auth]\nlogin_failures_per_ip = 1000000\n").unwrap();
    let server = start(data.path(), &key_file, &["--config", config.to_str().unwrap()]);
    let http = reqwest::Client::new();
    let token = login(&http, &server.url, true).await;
    assert_eq!(me(&http, &server.url, &token).await.0, 200);
    let (header, claims) = parts(&token);
    assert!(header["kid"].is_string(), "the token names its key: {header}");

    // The thief's copy: the database and every file in the data directory; no master key.
    let values = database_values(&data.path().join("tunery.db")).await;
    assert!(values.iter().any(|v| v == claims["sid"].as_str().unwrap()), "the copy holds the live session");
    let candidates = candidate_keys(&values, data.path());
    assert!(candidates.len() > 50, "only {} candidates", candidates.len());
    let bare = json!({"alg": "HS256", "typ": "JWT"});
    for key in &candidates {
        for h in [&header, &bare] {
            let forged = forge(h, &claims, key);
            let (status, code) = me(&http, &server.url, &forged).await;
            assert_eq!(status, 401, "a token signed with a value from the copy was accepted ({code})");
        }
    }
    // The same forgery with the key derived from the master key works: the attempts above were
    // well-formed tokens, refused only for their key.
    let master = blob_store::MasterKey::from_file(&key_file).unwrap();
    let real = master.derive("tunery access-token signing key v1");
    assert_eq!(header["kid"], master.id());
    assert_eq!(me(&http, &server.url, &forge(&header, &claims, real.as_slice())).await.0, 200);
}

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(tunery_bin()).args(args).env_remove("TUNERY_MASTER_KEY").output().expect("run tunery");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_previous_tokens_until_they_expire_and_the_audit_chain_verifies() {
    let data = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let (old_key, new_key) = (keys.path().join("old.key"), keys.path().join("new.key"));
    let (d, old, new) = (data.path().to_str().unwrap(), old_key.to_str().unwrap(), new_key.to_str().unwrap());
    let ttl = "20";
    let http = reqwest::Client::new();
    let mut server = start(data.path(), &old_key, &["--access-token-ttl-s", ttl]);
    let old_token = login(&http, &server.url, true).await;
    let issued = std::time::Instant::now();
    assert!(server.terminate().success());

    std::fs::write(&new_key, format!("{}\n", "ab".repeat(32))).unwrap();
    let (ok, out) = run(&["blobs", "rotate-key", "--new-key-file", new, "--data-dir", d, "--master-key-file", old]);
    assert!(ok, "{out}");
    let server = start(data.path(), &new_key, &["--previous-master-key-file", old, "--access-token-ttl-s", ttl]);
    assert_eq!(me(&http, &server.url, &old_token).await.0, 200, "a token of the previous key works while it is held");
    let new_token = login(&http, &server.url, false).await;
    assert_ne!(parts(&new_token).0["kid"], parts(&old_token).0["kid"], "new tokens are signed with the new key");
    assert_eq!(me(&http, &server.url, &new_token).await.0, 200);
    // A key that was never the server's, whatever id it claims.
    let (header, claims) = parts(&new_token);
    for kid in [header["kid"].clone(), json!("0123456789abcdef")] {
        let forged = forge(&json!({"alg": "HS256", "kid": kid, "typ": "JWT"}), &claims, &[7u8; 32]);
        assert_eq!(me(&http, &server.url, &forged).await.0, 401);
    }
    // Expired: refused although its key is still held.
    std::thread::sleep(std::time::Duration::from_secs(21).saturating_sub(issued.elapsed()));
    assert_eq!(me(&http, &server.url, &old_token).await, (401, "token_expired".to_string()));
    drop(server);

    // Without the previous key, a token of it is refused at once.
    let server = start(data.path(), &new_key, &["--access-token-ttl-s", ttl]);
    let fresh_old = {
        let master = blob_store::MasterKey::from_file(&old_key).unwrap();
        let (h, mut c) = parts(&old_token);
        c["exp"] = json!(c["iat"].as_i64().unwrap() + 3600);
        forge(&h, &c, master.derive("tunery access-token signing key v1").as_slice())
    };
    assert_eq!(me(&http, &server.url, &fresh_old).await.0, 401, "a token of a key no longer held");
    drop(server);

    // The chain holds records keyed by both keys: it verifies with both, and names the
    // missing one without it.
    let (ok, out) = run(&["audit", "verify", "--data-dir", d, "--master-key-file", new, "--previous-master-key-file", old]);
    assert!(ok, "{out}");
    let (ok, out) = run(&["audit", "verify", "--data-dir", d, "--master-key-file", new]);
    assert!(!ok && out.contains(blob_store::MasterKey::from_file(&old_key).unwrap().id()), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_is_read_only() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    // Nothing there: refused, and nothing is created (no database, no key).
    let (ok, out) = run(&["audit", "verify", "--data-dir", d]);
    assert!(!ok && out.contains("no master key"), "{out}");
    let key = data.path().join("master.key");
    std::fs::write(&key, format!("{}\n", "cd".repeat(32))).unwrap();
    let (ok, out) = run(&["audit", "verify", "--data-dir", d]);
    assert!(!ok, "{out}");
    let entries: Vec<_> = std::fs::read_dir(data.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("master.key")], "audit verify created files");

    // A database behind this build's schema is refused, not migrated.
    let db_file = data.path().join("tunery.db");
    {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&format!("sqlite://{}?mode=rwc", db_file.display())).await.unwrap();
        sqlx::query("CREATE TABLE unrelated (x INTEGER)").execute(&mut conn).await.unwrap();
    }
    let before = std::fs::read(&db_file).unwrap();
    let (ok, out) = run(&["audit", "verify", "--data-dir", d]);
    assert!(!ok && out.contains("tunery migrate"), "{out}");
    assert_eq!(std::fs::read(&db_file).unwrap(), before, "the database changed");
}
