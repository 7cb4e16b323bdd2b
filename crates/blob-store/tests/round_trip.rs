//! Writes and reads back blobs of every interesting size; sizes, listing and disk usage.

mod common;

use blob_store::format::{CHUNK_SIZE, HEADER_LEN, TAG_LEN};
use common::*;
use std::io::Read;

#[test]
fn round_trips_every_size_class() {
    let (dir, store) = new_store();
    let sizes = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 3 * CHUNK_SIZE + 17];
    for (seed, &len) in sizes.iter().enumerate() {
        let data = random_bytes(len, seed as u64);
        let info = write_blob(&store, &data);
        assert_eq!(info.id, sha256_hex(&data), "id of {len} bytes");
        assert_eq!(info.size, len as u64);
        assert!(store.exists(&info.id).unwrap());
        assert_eq!(store.size(&info.id).unwrap(), len as u64);
        assert_eq!(read_blob(&store, &info.id).unwrap(), data, "content of {len} bytes");
        // Data file: header, the plaintext's length, one tag per chunk (an empty blob has one chunk).
        let chunks = len.div_ceil(CHUNK_SIZE).max(1);
        let on_disk = std::fs::metadata(data_path(dir.path(), &info.id)).unwrap().len();
        assert_eq!(on_disk, (HEADER_LEN + len + chunks * TAG_LEN) as u64, "data file of {len} bytes");
    }
    assert_eq!(store.list().unwrap().len(), sizes.len());
}

#[test]
fn round_trips_twenty_megabytes_with_bounded_reads() {
    let (_dir, store) = new_store();
    let data = random_bytes(20 * 1024 * 1024 + 12_345, 42);
    let info = store.put(&data[..]).unwrap();
    assert_eq!(info.id, sha256_hex(&data));
    assert_eq!(info.size, data.len() as u64);

    let mut reader = store.reader(&info.id).unwrap();
    assert_eq!(reader.size(), data.len() as u64);
    let mut back = Vec::with_capacity(data.len());
    reader.read_to_end(&mut back).unwrap();
    assert!(back == data, "20 MB blob read back differently");
    // Reading past the end keeps answering end of file.
    assert_eq!(reader.read(&mut [0u8; 16]).unwrap(), 0);
}

#[test]
fn a_writer_reports_its_progress_and_empty_blob_has_the_empty_hash() {
    let (_dir, store) = new_store();
    let mut writer = store.writer().unwrap();
    std::io::Write::write_all(&mut writer, b"hello").unwrap();
    assert_eq!(writer.bytes_written(), 5);
    assert_eq!(writer.finish().unwrap().id, sha256_hex(b"hello"));
    let empty = store.writer().unwrap().finish().unwrap();
    assert_eq!(empty.id, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(read_blob(&store, &empty.id).unwrap(), b"");
}

#[test]
fn delete_removes_both_files_and_missing_blobs_are_not_found() {
    let (dir, store) = new_store();
    let info = write_blob(&store, &random_bytes(100_000, 7));
    let usage = store.disk_usage().unwrap();
    assert!(usage > 100_000, "disk usage {usage}");
    assert!(store.delete(&info.id).unwrap());
    assert!(!store.delete(&info.id).unwrap());
    assert!(!store.exists(&info.id).unwrap());
    assert!(files_under(&dir.path().join("blobs")).is_empty());
    assert_eq!(store.disk_usage().unwrap(), 0);
    assert!(matches!(store.reader(&info.id), Err(blob_store::Error::NotFound { .. })));
    assert!(matches!(store.size(&info.id), Err(blob_store::Error::NotFound { .. })));
}

#[test]
fn writers_and_readers_run_on_many_threads_at_once() {
    fn assert_send<T: Send>() {}
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<blob_store::BlobStore>();
    assert_send::<blob_store::BlobWriter>();
    assert_send::<blob_store::BlobReader>();

    let (_dir, store) = new_store();
    let shared = random_bytes(3 * CHUNK_SIZE + 5, 1000);
    let handles: Vec<_> = (0..6u64)
        .map(|i| {
            let (store, shared) = (store.clone(), shared.clone());
            std::thread::spawn(move || {
                let own = random_bytes(250_000 + i as usize, 2000 + i);
                let a = write_blob(&store, &own);
                let b = write_blob(&store, &shared);
                assert_eq!(read_blob(&store, &a.id).unwrap(), own);
                assert_eq!(read_blob(&store, &b.id).unwrap(), shared);
                b.id
            })
        })
        .collect();
    let ids: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(ids.iter().all(|id| *id == sha256_hex(&shared)));
    assert_eq!(store.list().unwrap().len(), 7);
}
