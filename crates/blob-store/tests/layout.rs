//! What lands on disk: one copy per content, no plaintext anywhere, nothing left by abandoned
//! writers, and no path built from an invalid id.

mod common;

use blob_store::{BlobStore, Error, Keyring};
use common::*;
use std::io::Write;

#[test]
fn identical_content_is_stored_once() {
    let (dir, store) = new_store();
    let data = random_bytes(300_000, 3);
    let first = write_blob(&store, &data);
    let usage = store.disk_usage().unwrap();
    let data_file = std::fs::read(data_path(dir.path(), &first.id)).unwrap();

    let second = write_blob(&store, &data);
    assert_eq!(first, second);
    // Two writers of the same bytes open at once: still one blob.
    let (mut a, mut b) = (store.writer().unwrap(), store.writer().unwrap());
    a.write_all(&data).unwrap();
    b.write_all(&data).unwrap();
    assert_eq!(a.finish().unwrap(), first);
    assert_eq!(b.finish().unwrap(), first);

    assert_eq!(store.list().unwrap(), vec![first.id.clone()]);
    assert_eq!(store.disk_usage().unwrap(), usage);
    assert_eq!(std::fs::read(data_path(dir.path(), &first.id)).unwrap(), data_file, "the stored copy was replaced");
    assert!(files_under(&dir.path().join("tmp")).is_empty(), "temp files left behind");
    assert_eq!(files_under(&dir.path().join("blobs")).len(), 2, "expected one data and one key file");
}

#[test]
fn no_plaintext_reaches_the_disk() {
    let (dir, store) = new_store();
    let canary = b"TUNERY-CANARY-3b7e0c1d-plaintext-must-never-touch-disk";
    let mut data = Vec::new();
    for i in 0..20_000 {
        data.extend_from_slice(canary);
        data.extend_from_slice(&random_bytes(i % 23, i as u64));
    }
    let scan = |when: &str| {
        for path in files_under(dir.path()) {
            let bytes = std::fs::read(&path).unwrap();
            assert!(!bytes.windows(canary.len()).any(|w| w == canary), "canary in {} {when}", path.display());
            let master = [1u8; 32];
            assert!(!bytes.windows(32).any(|w| w == master), "master key in {} {when}", path.display());
        }
    };

    // Mid-write: full chunks already sit encrypted in tmp/.
    let mut writer = store.writer().unwrap();
    writer.write_all(&data[..data.len() / 2]).unwrap();
    assert!(!files_under(&dir.path().join("tmp")).is_empty());
    scan("while writing");
    writer.write_all(&data[data.len() / 2..]).unwrap();
    let info = writer.finish().unwrap();
    // An abandoned writer and a small (single, partial chunk) blob too.
    let mut abandoned = store.writer().unwrap();
    abandoned.write_all(&data[..200_000]).unwrap();
    scan("with an abandoned writer open");
    drop(abandoned);
    let small = write_blob(&store, canary);

    scan("after finishing");
    assert_eq!(read_blob(&store, &info.id).unwrap(), data);
    assert_eq!(read_blob(&store, &small.id).unwrap(), canary);
}

#[test]
fn abandoned_writers_leave_nothing_behind() {
    let (dir, store) = new_store();
    let data = random_bytes(200_000, 9);

    let mut dropped = store.writer().unwrap();
    dropped.write_all(&data).unwrap();
    drop(dropped);

    let mut aborted = store.writer().unwrap();
    aborted.write_all(&data).unwrap();
    aborted.abort();

    let _unused = store.writer().unwrap();
    drop(_unused);

    assert!(files_under(&dir.path().join("blobs")).is_empty(), "files under blobs/");
    assert!(files_under(&dir.path().join("tmp")).is_empty(), "files under tmp/");
    assert!(store.list().unwrap().is_empty());
    assert!(!store.exists(&sha256_hex(&data)).unwrap());
}

#[test]
fn leftover_temp_files_are_removed_on_open_and_live_writers_files_kept() {
    let (dir, store) = new_store();
    let mut writer = store.writer().unwrap();
    writer.write_all(&random_bytes(150_000, 1)).unwrap();
    // As if the process died here: the writer's temp file stays (its drop never runs).
    std::mem::forget(writer);
    let tmp = dir.path().join("tmp");
    assert_eq!(files_under(&tmp).len(), 1);
    // Another server opening the same directory meanwhile: the file was just written, so it may
    // be a live writer's, and stays.
    BlobStore::open(dir.path(), Keyring::new(key(1))).unwrap();
    assert_eq!(files_under(&tmp).len(), 1, "a recently written temp file is kept");
    // Unwritten for longer than LEFTOVER_AFTER: a crash's leftover, removed.
    let stale = std::time::SystemTime::now() - blob_store::LEFTOVER_AFTER - std::time::Duration::from_secs(60);
    for path in files_under(&tmp) {
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(stale).unwrap();
    }
    drop(store);
    BlobStore::open(dir.path(), Keyring::new(key(1))).unwrap();
    assert!(files_under(&tmp).is_empty());
}

#[test]
fn invalid_ids_never_reach_the_filesystem() {
    let (_dir, store) = new_store();
    let valid = sha256_hex(b"x");
    let bad = [
        "".to_string(),
        "../../etc/passwd".to_string(),
        format!("../../{}", &valid[6..]),
        valid.to_uppercase(),
        valid[..63].to_string(),
        format!("{valid}0"),
        format!("{valid}\n"),
        format!("{}/{}", &valid[..31], &valid[32..]),
        format!("{}g", &valid[..63]),
    ];
    for id in &bad {
        for result in [store.exists(id).map(|_| ()), store.size(id).map(|_| ()), store.delete(id).map(|_| ()), store.reader(id).map(|_| ())]
        {
            assert!(matches!(result, Err(Error::InvalidId { .. })), "{id:?} was accepted: {result:?}");
        }
    }
    let message = store.exists("../../etc/passwd").unwrap_err().to_string();
    assert!(message.contains("64 lowercase hex characters"), "{message}");
    assert!(blob_store::validate_id(&valid).is_ok());
}
