//! `tunery serve --blob-store s3://…` (a build with the `s3` feature) against a real
//! S3-compatible server on loopback (moto): a dataset uploaded through the CLI lands in the
//! bucket, encrypted, and nothing of it under the data directory. Skipped without
//! `TUNERY_TEST_S3_ENDPOINT`, except under `CI=true`.
#![cfg(feature = "s3")]

mod common;

use common::{Cli, ServerProcess};

#[test]
fn datasets_live_in_the_bucket_encrypted() {
    let Some(endpoint) = test_support::s3_endpoint() else { return };
    let bucket = test_support::s3_bucket(&endpoint);
    let store = format!("s3://{bucket}/tunery");
    let env = [("TUNERY_S3_ACCESS_KEY_ID", "testing"), ("TUNERY_S3_SECRET_ACCESS_KEY", "testing-secret")];
    let server = ServerProcess::start_with_env(&["--blob-store", &store, "--s3-endpoint", &endpoint, "--s3-allow-http"], &env);
    let cli = Cli::new(&server.url);
    cli.ok_with(&["register", "--email", "s3@example.com", "--name", "S3", "--password-stdin"], "correct horse battery\n");
    cli.ok_with(&["login", "--email", "s3@example.com", "--password-stdin"], "correct horse battery\n");
    let canary = "CANARY-s3-2b7f";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s3.jsonl");
    let line = format!(r#"{{"messages":[{{"role":"user","content":"{canary}"}},{{"role":"assistant","content":"ok"}}]}}"#);
    std::fs::write(&file, format!("{line}\n").repeat(20)).unwrap();
    let uploaded = cli.json(&["datasets", "upload", file.to_str().unwrap(), "--name", "in-s3"]);
    let id = uploaded["dataset"]["id"].as_str().expect("dataset id").to_string();
    assert_eq!(uploaded["version"]["records"], 20, "{uploaded}");
    // It reads back through the server...
    let out = dir.path().join("back.jsonl");
    cli.ok(&["datasets", "download", &id, "-o", out.to_str().unwrap()]);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&file).unwrap());
    // ...its objects are in the bucket, none of them in plain text...
    let (status, listing) = test_support::s3_request(&endpoint, "GET", &format!("/{bucket}?list-type=2&prefix=tunery/blobs/"), b"");
    assert_eq!(status, 200);
    let listing = String::from_utf8_lossy(&listing).to_string();
    let keys: Vec<&str> = listing.split("<Key>").skip(1).filter_map(|k| k.split("</Key>").next()).collect();
    assert!(keys.len() >= 4, "data and key objects of the file and its report: {keys:?}");
    for key in &keys {
        let (_, bytes) = test_support::s3_request(&endpoint, "GET", &format!("/{bucket}/{key}"), b"");
        assert!(!bytes.windows(canary.len()).any(|w| w == canary.as_bytes()), "plaintext in {key}");
    }
    // ...and no blob under the data directory.
    let local = server.data_dir.join("blobs");
    assert!(!local.exists() || std::fs::read_dir(&local).unwrap().next().is_none(), "blobs written locally too");
}
