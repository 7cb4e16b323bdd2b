//! Test-only helpers shared by the crates' test suites: a fresh database per test, on SQLite
//! (a temporary file) and on the real PostgreSQL at 127.0.0.1:5432 (a database with a random
//! name, dropped afterwards). Under `CI=true` a missing PostgreSQL fails the test instead of
//! skipping it.

pub mod kube;
pub mod ray;

use rand::Rng;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server used for tests (a superuser connection to an existing database).
pub fn postgres_admin_url() -> String {
    std::env::var("TUNERY_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn postgres_reachable() -> bool {
    TcpStream::connect_timeout(&"127.0.0.1:5432".parse().expect("address"), Duration::from_secs(2)).is_ok()
}

/// The backends to run a test on: SQLite always, PostgreSQL when it answers (required in CI).
pub fn backends() -> Vec<Backend> {
    if postgres_reachable() {
        vec![Backend::Sqlite, Backend::Postgres]
    } else if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("PostgreSQL is not reachable at 127.0.0.1:5432 and CI=true: start it (see .ci/run)");
    } else {
        eprintln!("warning: PostgreSQL is not reachable; running on SQLite only");
        vec![Backend::Sqlite]
    }
}

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn fresh(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("tunery.db").display());
                TestDb { url, backend, dir, pg_name: None }
            }
            Backend::Postgres => {
                let name = format!("tunery_test_{:016x}", rand::thread_rng().gen::<u64>());
                let admin = postgres_admin_url();
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await.expect("connect to PostgreSQL");
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
                let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin);
                TestDb { url: format!("{base}/{name}"), backend, dir, pg_name: Some(name) }
            }
        }
    }
}

impl TestDb {
    /// A copy of this database with its blob store and master key, so that several tests (or
    /// several steps of one) can each change what was prepared once. Every connection to this
    /// database must be closed first (`Db::close`): PostgreSQL copies only a database nobody is
    /// connected to, and a closed SQLite file is whole on disk.
    pub async fn copy(&self) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        copy_dir(self.dir.path(), dir.path());
        match &self.pg_name {
            None => {
                let url = format!("sqlite://{}", dir.path().join("tunery.db").display());
                TestDb { url, backend: self.backend, dir, pg_name: None }
            }
            Some(source) => {
                let name = format!("tunery_test_{:016x}", rand::thread_rng().gen::<u64>());
                let admin = postgres_admin_url();
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await.expect("connect to PostgreSQL");
                sqlx::query(&format!("CREATE DATABASE {name} TEMPLATE {source}")).execute(&mut conn).await.expect("copy test database");
                let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin);
                TestDb { url: format!("{base}/{name}"), backend: self.backend, dir, pg_name: Some(name) }
            }
        }
    }

    /// The test's blob store: `blobs/` beside the database, with a master key generated once.
    pub fn blob_store(&self) -> blob_store::BlobStore {
        let key_file = self.dir.path().join("master.key");
        let key = if key_file.exists() {
            blob_store::MasterKey::from_file(&key_file).expect("read master key")
        } else {
            blob_store::MasterKey::generate(&key_file).expect("generate master key")
        };
        blob_store::BlobStore::open(self.dir.path().join("blobs"), blob_store::Keyring::new(key)).expect("open blob store")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else { return };
        // Drop runs inside async tests: do the blocking work on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                if let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(&postgres_admin_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}

/// Copies a directory tree (files and folders; a test's data directory holds nothing else).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).expect("read directory") {
        let entry = entry.expect("directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            std::fs::create_dir_all(&target).expect("create directory");
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// The real SmolLM2-135M-Instruct `tokenizer.json`, as `scripts/fetch-smollm2-tokenizer.sh`
/// leaves it (or `TUNERY_SMOLLM2_TOKENIZER`). `scripts/test.sh` fetches it first, so under
/// `CI=true` its absence fails the test; elsewhere the caller says what it did not check.
pub fn smollm2_tokenizer() -> Option<std::path::PathBuf> {
    cached_file("TUNERY_SMOLLM2_TOKENIZER", "models/smollm2-135m-instruct/tokenizer.json", "scripts/fetch-smollm2-tokenizer.sh")
}

/// BERTScore's encoder folder as `scripts/fetch-bertscore-encoder.sh` leaves it (or
/// `TUNERY_BERTSCORE_MODEL`): required under `CI=true`, else `None` with a note.
pub fn bertscore_encoder() -> Option<std::path::PathBuf> {
    cached_file("TUNERY_BERTSCORE_MODEL", "models/all-minilm-l6-v2", "scripts/fetch-bertscore-encoder.sh")
}

/// A file or folder named by the variable `var`, else at `relative` in the cache folder
/// (`TUNERY_CACHE_DIR`, default `~/.cache/tunery`), where the script `fetch` puts it: required
/// under `CI=true` (`scripts/test.sh` runs the script first), else `None` with a note.
fn cached_file(var: &str, relative: &str, fetch: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os(var).map(std::path::PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("TUNERY_CACHE_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/tunery"));
        cache.join(relative)
    });
    if path.exists() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("nothing at {} and CI=true: run {fetch}", path.display());
    }
    eprintln!("warning: nothing at {} ({fetch} fetches it): the test that needs it did not run", path.display());
    None
}

/// The S3-compatible test server (moto, started by `crates/blob-store/tests/start-moto.sh` from
/// `scripts/test.sh`): required under `CI=true`, else `None` with a note.
pub fn s3_endpoint() -> Option<String> {
    match std::env::var("TUNERY_TEST_S3_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => Some(endpoint),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("TUNERY_TEST_S3_ENDPOINT is not set (scripts/test.sh starts moto with crates/blob-store/tests/start-moto.sh)")
        }
        _ => {
            eprintln!("skipped: TUNERY_TEST_S3_ENDPOINT is not set");
            None
        }
    }
}

/// One unsigned HTTP/1.1 request to the test server (moto accepts unsigned requests; the
/// `Authorization` header, never checked, only names the service: without it moto routes some
/// keys, such as `*.key`, to another service); returns the status and the body.
pub fn s3_request(endpoint: &str, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let host = endpoint.strip_prefix("http://").expect("an http:// test endpoint");
    let mut conn = TcpStream::connect(host).unwrap();
    let auth = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00";
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(body).unwrap();
    let mut response = Vec::new();
    conn.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP response") + 4;
    let headers = String::from_utf8_lossy(&response[..split]).to_lowercase();
    assert!(!headers.contains("transfer-encoding: chunked"), "chunked responses are not parsed here");
    let status = headers.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, response[split..].to_vec())
}

/// A fresh bucket on the test server; its name.
pub fn s3_bucket(endpoint: &str) -> String {
    let name = format!("tunery-test-{:016x}", rand::random::<u64>());
    let (status, body) = s3_request(endpoint, "PUT", &format!("/{name}"), b"");
    assert_eq!(status, 200, "create bucket: {}", String::from_utf8_lossy(&body));
    name
}

/// The training runtime's Python (`scripts/runtime-env.sh`, exported by `scripts/test.sh` as
/// `TUNERY_RUNTIME_PYTHON`): required under `CI=true`, else `None` with a note.
pub fn runtime_python() -> Option<std::path::PathBuf> {
    environment_python("TUNERY_RUNTIME_PYTHON", "the training runtime", "scripts/runtime-env.sh")
}

/// A Python with the official `openai` package (`scripts/api-clients/requirements.txt`, exported
/// by `scripts/test.sh` as `TUNERY_OPENAI_PYTHON`): required under `CI=true`, else `None`.
pub fn openai_python() -> Option<std::path::PathBuf> {
    environment_python(
        "TUNERY_OPENAI_PYTHON",
        "the OpenAI client",
        "scripts/cached-venv.sh api-clients scripts/api-clients/requirements.txt",
    )
}

/// The interpreter of a Python environment named by the variable `var` (`scripts/test.sh`
/// exports it after `make` creates the environment): required under `CI=true`, else `None`
/// with a note naming what did not run.
pub(crate) fn environment_python(var: &str, what: &str, make: &str) -> Option<std::path::PathBuf> {
    match std::env::var_os(var).map(std::path::PathBuf::from) {
        Some(p) if p.is_file() => Some(p),
        other => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("no Python environment for {what} ({var}={other:?}) and CI=true: run {make} and export {var}");
            }
            eprintln!("warning: {var} is not set: the tests that need {what} are skipped");
            None
        }
    }
}

/// Redis on 127.0.0.1:6379 (`scripts/services.sh` starts it): its URL when it answers; under
/// `CI=true` a missing Redis fails, else `None` with a note.
pub fn redis_url() -> Option<String> {
    use std::io::{Read, Write};
    let answers = std::net::TcpStream::connect_timeout(&"127.0.0.1:6379".parse().unwrap(), std::time::Duration::from_secs(2))
        .and_then(|mut s| {
            s.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
            s.write_all(b"PING\r\n")?;
            let mut buf = [0u8; 7];
            s.read_exact(&mut buf)?;
            Ok(&buf == b"+PONG\r\n")
        })
        .unwrap_or(false);
    if answers {
        return Some("redis://127.0.0.1:6379/0".into());
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("no Redis on 127.0.0.1:6379 and CI=true: start it (scripts/services.sh)");
    }
    eprintln!("warning: no Redis on 127.0.0.1:6379: the Redis checks are skipped");
    None
}

/// The checkout's `runtime/` folder (the `tunery_runtime` package).
pub fn runtime_dir() -> std::path::PathBuf {
    // The crate under test's directory as `cargo test` sets it when the test runs (another
    // checkout sharing the build directory may have compiled this crate: its path, baked in at
    // compile time, would name that checkout's runtime); every crate sits in `crates/<name>`.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from);
    let manifest = manifest.unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest.join("../../runtime").canonicalize().expect("runtime/ exists")
}

/// The runtime command the tests run jobs with.
pub fn runtime_command() -> Option<executors::RuntimeCommand> {
    let python = runtime_python()?;
    Some(executors::RuntimeCommand {
        python,
        runtime_dir: runtime_dir(),
        env: vec![("OMP_NUM_THREADS".into(), "1".into()), ("OMP_WAIT_POLICY".into(), "PASSIVE".into())],
    })
}

/// `dir` archived as a gzipped tar (with `dir`'s name as its one top-level folder) at `out`,
/// by the system's `tar`: an upload of a model directory as users make one.
pub fn tar_gz(dir: &std::path::Path, out: &std::path::Path) {
    let status = std::process::Command::new("tar")
        .arg("-czf")
        .arg(out)
        .arg("-C")
        .arg(dir.parent().expect("a directory with a parent"))
        .arg(dir.file_name().expect("a named directory"))
        .status()
        .expect("tar runs");
    assert!(status.success(), "tar failed for {}", dir.display());
}

/// A tiny Hugging Face model directory (2-layer Llama, ChatML tokenizer), built once by
/// `runtime/tests/tiny_model.py` into a cache folder keyed by that script and its conftest.
pub fn tiny_model_dir() -> Option<std::path::PathBuf> {
    use sha2::Digest;
    let python = runtime_python()?;
    let tests = runtime_dir().join("tests");
    let mut hash = sha2::Sha256::new();
    for f in ["tiny_model.py", "conftest.py"] {
        hash.update(std::fs::read(tests.join(f)).expect("runtime test helpers"));
    }
    let key = hex::encode(&hash.finalize()[..6]);
    let cache = std::env::var_os("TUNERY_CACHE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/tunery"));
    let dir = cache.join(format!("test-models/tiny-llama-{key}"));
    if !dir.join("config.json").is_file() {
        std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
        let status = std::process::Command::new(python).arg(tests.join("tiny_model.py")).arg(&dir).status().expect("run tiny_model.py");
        assert!(status.success() || dir.join("config.json").is_file(), "tiny_model.py failed");
    }
    Some(dir)
}
