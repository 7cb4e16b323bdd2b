//! Master keys: files and values, a wrong key, and rotation.

mod common;

use base64::Engine;
use blob_store::{BlobStore, Error, Keyring, MasterKey, RotationReport};
use common::*;
use std::fs;

#[test]
fn key_files_in_every_accepted_form_give_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let raw: [u8; 32] = random_bytes(32, 1).try_into().unwrap();
    let expected = MasterKey::from_bytes(raw).id().to_string();
    let hex = hex::encode(raw);
    let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
    let forms: [(&str, Vec<u8>); 5] = [
        ("raw", raw.to_vec()),
        ("hex", hex.clone().into_bytes()),
        ("hex-newline", format!("{hex}\n").into_bytes()),
        ("base64", format!("{b64}\r\n").into_bytes()),
        ("base64-spaces", format!("{b64}  \n\n").into_bytes()),
    ];
    for (name, bytes) in forms {
        let path = dir.path().join(name);
        fs::write(&path, bytes).unwrap();
        assert_eq!(MasterKey::from_file(&path).unwrap().id(), expected, "{name}");
    }
    assert_eq!(MasterKey::parse(&format!("{hex}\n")).unwrap().id(), expected);

    let bad = dir.path().join("bad");
    fs::write(&bad, "not a key at all, definitely-secret-ish\n").unwrap();
    let message = MasterKey::from_file(&bad).unwrap_err().to_string();
    assert!(message.contains("neither 64 hex characters nor the base64 of 32 bytes"), "{message}");
    assert!(!message.contains("definitely"), "the key file's content is echoed: {message}");
    assert!(matches!(MasterKey::from_file(&dir.path().join("missing")), Err(Error::Io { .. })));
}

#[test]
fn generate_writes_a_private_key_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let key = MasterKey::generate(&path).unwrap();
    assert_eq!(MasterKey::from_file(&path).unwrap().id(), key.id());
    assert_eq!(fs::read_to_string(&path).unwrap().trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let again = MasterKey::generate(&path).unwrap_err();
    assert!(matches!(&again, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists), "{again}");
    assert_eq!(MasterKey::from_file(&path).unwrap().id(), key.id(), "existing key overwritten");
    assert_ne!(MasterKey::generate(&dir.path().join("other.key")).unwrap().id(), key.id());
}

#[test]
fn a_wrong_master_key_fails_loudly_with_both_key_ids() {
    let (dir, store) = new_store();
    let info = write_blob(&store, &random_bytes(70_000, 2));
    drop(store);

    let wrong = key(2);
    let err = BlobStore::open(dir.path(), Keyring::new(wrong.clone())).expect_err("opened with the wrong key");
    let expected = format!("unknown master key id {} (this store's blobs use {})", wrong.id(), key(1).id());
    assert!(err.to_string().contains(&expected), "{err}");
    assert!(matches!(err, Error::UnknownMasterKey { .. }));

    // A blob arriving later under another key (e.g. copied in) fails the same way on read.
    let other = tempfile::tempdir().unwrap();
    let store2 = BlobStore::open(other.path(), Keyring::new(wrong.clone())).unwrap();
    for path in [data_path(dir.path(), &info.id), key_path(dir.path(), &info.id)] {
        let to = other.path().join(path.strip_prefix(dir.path()).unwrap());
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(&path, &to).unwrap();
    }
    let err = read_blob(&store2, &info.id).unwrap_err();
    assert!(err.to_string().contains(&expected), "{err}");
    assert!(matches!(store2.size(&info.id), Err(Error::UnknownMasterKey { .. })));
}

#[test]
fn rotation_rewraps_every_blob_and_is_idempotent() {
    let (dir, store) = new_store();
    let blobs: Vec<_> = [0, 1, 65_536, 200_000, 1_000_003]
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let data = random_bytes(len, 100 + i as u64);
            (write_blob(&store, &data), data)
        })
        .collect();
    let data_files: Vec<_> = blobs.iter().map(|(b, _)| fs::read(data_path(dir.path(), &b.id)).unwrap()).collect();

    let report = store.rotate(key(2)).unwrap();
    assert_eq!(report, RotationReport { rewrapped: 5, already_current: 0 });
    assert_eq!(store.current_master_key_id(), key(2).id());
    for ((info, data), before) in blobs.iter().zip(&data_files) {
        assert_eq!(&fs::read(data_path(dir.path(), &info.id)).unwrap(), before, "data file rewritten");
        assert_eq!(&read_blob(&store, &info.id).unwrap(), data);
    }
    // New blobs are wrapped by the new key.
    let late = write_blob(&store, b"written after rotation");
    assert!(files_under(&dir.path().join("tmp")).is_empty());
    drop(store);

    // Only the new key: everything reads back identically.
    let store = BlobStore::open(dir.path(), Keyring::new(key(2))).unwrap();
    for (info, data) in &blobs {
        assert_eq!(&read_blob(&store, &info.id).unwrap(), data);
    }
    assert_eq!(read_blob(&store, &late.id).unwrap(), b"written after rotation");
    assert_eq!(store.rotate(key(2)).unwrap(), RotationReport { rewrapped: 0, already_current: 6 });
    drop(store);

    // The old key alone no longer opens the store.
    assert!(matches!(BlobStore::open(dir.path(), Keyring::new(key(1))), Err(Error::UnknownMasterKey { .. })));
}

#[test]
fn an_interrupted_rotation_is_finished_by_running_it_again() {
    let (dir, store) = new_store();
    let blobs: Vec<_> = (0..4u64)
        .map(|i| {
            let data = random_bytes(100_000 + i as usize, i);
            (write_blob(&store, &data), data)
        })
        .collect();
    // Snapshot the key files of two blobs, rotate, and put the snapshots back: as if the rotation
    // had stopped before reaching those two.
    let saved: Vec<_> = blobs[..2].iter().map(|(b, _)| (b.id.clone(), fs::read(key_path(dir.path(), &b.id)).unwrap())).collect();
    store.rotate(key(2)).unwrap();
    drop(store);
    for (id, bytes) in &saved {
        fs::write(key_path(dir.path(), id), bytes).unwrap();
    }

    // Restarted with the new key current and the old one still held: all readable.
    let store = BlobStore::open(dir.path(), Keyring { current: key(2), previous: vec![key(1)] }).unwrap();
    for (info, data) in &blobs {
        assert_eq!(&read_blob(&store, &info.id).unwrap(), data);
    }
    assert_eq!(store.rotate(key(2)).unwrap(), RotationReport { rewrapped: 2, already_current: 2 });
    drop(store);

    let store = BlobStore::open(dir.path(), Keyring::new(key(2))).unwrap();
    for (info, data) in &blobs {
        assert_eq!(&read_blob(&store, &info.id).unwrap(), data);
    }
}

#[test]
fn rotation_without_the_old_key_names_the_missing_key() {
    let (dir, store) = new_store();
    let info = write_blob(&store, b"some bytes");
    drop(store);
    // A blob wrapped by a key this keyring does not hold (copied in from another store).
    let other = tempfile::tempdir().unwrap();
    let store = BlobStore::open(other.path(), Keyring::new(key(3))).unwrap();
    for path in [data_path(dir.path(), &info.id), key_path(dir.path(), &info.id)] {
        let to = other.path().join(path.strip_prefix(dir.path()).unwrap());
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(&path, &to).unwrap();
    }
    let err = store.rotate(key(4)).unwrap_err();
    assert!(matches!(&err, Error::UnknownMasterKey { wrapped_by, .. } if wrapped_by == key(1).id()), "{err}");
}
