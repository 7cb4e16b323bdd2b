//! Every kind of tampering with stored files is detected and reported as `Corrupt`.

mod common;

use blob_store::format::{CHUNK_SIZE, HEADER_LEN, TAG_LEN};
use blob_store::{BlobInfo, BlobStore, Error};
use common::*;
use std::fs::{self, OpenOptions};
use std::path::Path;

const STORED_CHUNK: usize = CHUNK_SIZE + TAG_LEN;

/// A store holding one blob of five full chunks and a partial sixth.
fn store_with_blob() -> (tempfile::TempDir, BlobStore, BlobInfo, Vec<u8>) {
    let (dir, store) = new_store();
    let data = random_bytes(5 * CHUNK_SIZE + 1000, 11);
    let info = write_blob(&store, &data);
    assert_eq!(read_blob(&store, &info.id).unwrap(), data);
    (dir, store, info, data)
}

fn chunk_offset(index: usize) -> usize {
    HEADER_LEN + index * STORED_CHUNK
}

fn edit(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = fs::read(path).unwrap();
    f(&mut bytes);
    fs::write(path, bytes).unwrap();
}

fn assert_corrupt(store: &BlobStore, id: &str, mentions: &str) {
    match read_blob(store, id) {
        Err(Error::Corrupt { what, location }) => {
            let message = format!("{what} at {location}");
            assert!(message.contains(mentions), "expected {mentions:?} in: {message}");
        }
        other => panic!("tampering not reported as Corrupt: {:?}", other.map(|d| d.len())),
    }
}

#[test]
fn a_flipped_byte_in_chunk_2_fails_that_chunk() {
    let (dir, store, info, data) = store_with_blob();
    edit(&data_path(dir.path(), &info.id), |b| b[chunk_offset(2) + 100] ^= 0x01);
    assert_corrupt(&store, &info.id, "chunk 2 of 6 failed authentication");
    // Chunks before it are still delivered; nothing of chunk 2 or later is.
    let mut reader = store.reader(&info.id).unwrap();
    let mut got = Vec::new();
    let err = std::io::Read::read_to_end(&mut reader, &mut got).unwrap_err();
    assert!(Error::from_io(&err).is_some());
    assert_eq!(got, data[..2 * CHUNK_SIZE]);
    // The reader stays failed.
    assert!(std::io::Read::read(&mut reader, &mut [0u8; 10]).is_err());
}

#[test]
fn flipped_tag_and_header_bytes_are_detected() {
    let (dir, store, info, _) = store_with_blob();
    let path = data_path(dir.path(), &info.id);
    let original = fs::read(&path).unwrap();
    let last_byte = original.len() - 1;
    edit(&path, |b| b[last_byte] ^= 0x80);
    assert_corrupt(&store, &info.id, "chunk 5 of 6 failed authentication");

    // The chunk size and stream prefix are in the header, which every chunk authenticates.
    fs::write(&path, &original).unwrap();
    edit(&path, |b| b[HEADER_LEN - 20] ^= 0x01); // in the stream prefix
    assert_corrupt(&store, &info.id, "chunk 0 of 6 failed authentication");
    fs::write(&path, &original).unwrap();
    edit(&path, |b| b[0] ^= 0x01);
    assert_corrupt(&store, &info.id, "magic");
    fs::write(&path, &original).unwrap();
    edit(&path, |b| b[HEADER_LEN - 1] ^= 0x01); // in the blob nonce
    assert_corrupt(&store, &info.id, "does not belong to this key file");
}

#[test]
fn a_truncated_last_chunk_is_detected() {
    let (dir, store, info, _) = store_with_blob();
    let path = data_path(dir.path(), &info.id);
    let len = fs::metadata(&path).unwrap().len();
    OpenOptions::new().write(true).open(&path).unwrap().set_len(len - 10).unwrap();
    assert_corrupt(&store, &info.id, "truncated");
    // Cut exactly at a chunk boundary (the whole last chunk gone): still detected.
    OpenOptions::new().write(true).open(&path).unwrap().set_len(chunk_offset(5) as u64).unwrap();
    assert_corrupt(&store, &info.id, "truncated");
}

#[test]
fn extra_bytes_after_the_last_chunk_are_detected() {
    let (dir, store, info, _) = store_with_blob();
    edit(&data_path(dir.path(), &info.id), |b| b.extend_from_slice(&[0u8; 17]));
    assert_corrupt(&store, &info.id, "extended");
}

#[test]
fn a_dropped_chunk_is_detected() {
    let (dir, store, info, _) = store_with_blob();
    let path = data_path(dir.path(), &info.id);
    let original = fs::read(&path).unwrap();
    edit(&path, |b| drop(b.drain(chunk_offset(1)..chunk_offset(2))));
    assert_corrupt(&store, &info.id, "truncated");
    // Dropped but the length kept (chunk 1 replaced by a copy of chunk 2): the counter differs.
    fs::write(&path, &original).unwrap();
    edit(&path, |b| {
        let chunk2 = b[chunk_offset(2)..chunk_offset(3)].to_vec();
        b[chunk_offset(1)..chunk_offset(2)].copy_from_slice(&chunk2);
    });
    assert_corrupt(&store, &info.id, "chunk 1 of 6 failed authentication");
}

#[test]
fn swapped_chunks_are_detected() {
    let (dir, store, info, _) = store_with_blob();
    edit(&data_path(dir.path(), &info.id), |b| {
        let (one, two) = (b[chunk_offset(1)..chunk_offset(2)].to_vec(), b[chunk_offset(2)..chunk_offset(3)].to_vec());
        b[chunk_offset(1)..chunk_offset(2)].copy_from_slice(&two);
        b[chunk_offset(2)..chunk_offset(3)].copy_from_slice(&one);
    });
    assert_corrupt(&store, &info.id, "chunk 1 of 6 failed authentication");
}

#[test]
fn a_full_last_chunk_cannot_pass_for_a_middle_one() {
    // Two chunks exactly: dropping the final full chunk and patching nothing else would leave a
    // valid-looking first chunk; the last-chunk flag (and the length) refuse it.
    let (dir, store) = new_store();
    let info = write_blob(&store, &random_bytes(2 * CHUNK_SIZE, 5));
    let path = data_path(dir.path(), &info.id);
    OpenOptions::new().write(true).open(&path).unwrap().set_len(chunk_offset(1) as u64).unwrap();
    assert_corrupt(&store, &info.id, "truncated");
}

#[test]
fn another_blobs_key_or_data_file_is_detected() {
    let (dir, store, info, _) = store_with_blob();
    let other = write_blob(&store, &random_bytes(5 * CHUNK_SIZE + 1000, 12));
    let original_key = fs::read(key_path(dir.path(), &info.id)).unwrap();

    fs::copy(key_path(dir.path(), &other.id), key_path(dir.path(), &info.id)).unwrap();
    assert_corrupt(&store, &info.id, "key file failed authentication");
    assert!(matches!(store.size(&info.id), Err(Error::Corrupt { .. })));

    // Same-size data file of another blob behind the right key file.
    fs::write(key_path(dir.path(), &info.id), &original_key).unwrap();
    fs::copy(data_path(dir.path(), &other.id), data_path(dir.path(), &info.id)).unwrap();
    assert_corrupt(&store, &info.id, "does not belong to this key file");

    fs::remove_file(key_path(dir.path(), &info.id)).unwrap();
    assert_corrupt(&store, &info.id, "key file missing");
}

#[test]
fn a_tampered_key_file_is_detected() {
    let (dir, store, info, _) = store_with_blob();
    let path = key_path(dir.path(), &info.id);
    let original = fs::read(&path).unwrap();
    // Every byte after the magic, version and master key id: size, nonce, wrapped key, tag.
    for i in 25..original.len() {
        let mut bytes = original.clone();
        bytes[i] ^= 0x04;
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(read_blob(&store, &info.id), Err(Error::Corrupt { .. })), "byte {i} of the key file");
    }
    fs::write(&path, &original[..50]).unwrap();
    assert_corrupt(&store, &info.id, "key file is 50 bytes");
}

#[test]
fn a_damaged_key_file_does_not_keep_the_store_from_opening() {
    let (dir, store, info, _) = store_with_blob();
    let other = write_blob(&store, b"another blob");
    drop(store);
    for id in [&info.id, &other.id] {
        fs::write(key_path(dir.path(), id), b"garbage").unwrap();
    }
    let store = BlobStore::open(dir.path(), blob_store::Keyring::new(key(1))).unwrap();
    assert_corrupt(&store, &info.id, "key file is 7 bytes");
}

#[test]
fn random_access_reads_any_range_and_authenticates_each_chunk() {
    let (dir, store, info, data) = store_with_blob();
    let random = store.random_access(&info.id).unwrap();
    assert_eq!(random.size(), data.len() as u64);
    // Within a chunk, across chunk boundaries, the whole blob, the tail of the partial chunk.
    let ranges = [(0, 10), (CHUNK_SIZE - 5, 10), (CHUNK_SIZE * 2 + 17, CHUNK_SIZE * 2), (0, data.len()), (data.len() - 1000, 1000), (7, 0)];
    for (offset, len) in ranges {
        let mut buf = vec![0u8; len];
        random.read_exact_at(offset as u64, &mut buf).unwrap();
        assert_eq!(buf, data[offset..offset + len], "{offset}+{len}");
    }
    let mut past = vec![0u8; 2];
    assert_eq!(random.read_exact_at(data.len() as u64 - 1, &mut past).unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);

    // A flipped byte fails the ranges that touch its chunk, and only those.
    edit(&data_path(dir.path(), &info.id), |b| b[chunk_offset(3) + 9] ^= 0x40);
    let random = store.random_access(&info.id).unwrap();
    let mut buf = vec![0u8; 100];
    random.read_exact_at(CHUNK_SIZE as u64, &mut buf).unwrap();
    assert_eq!(buf, data[CHUNK_SIZE..CHUNK_SIZE + 100]);
    let err = random.read_exact_at(3 * CHUNK_SIZE as u64 + 50, &mut buf).unwrap_err();
    match Error::from_io(&err) {
        Some(Error::Corrupt { what, .. }) => assert!(what.contains("chunk 3 of 6 failed authentication"), "{what}"),
        other => panic!("not reported as Corrupt: {other:?} ({err})"),
    }
    // A truncated data file is refused when opened.
    edit(&data_path(dir.path(), &info.id), |b| b.truncate(b.len() - 1));
    assert!(matches!(store.random_access(&info.id), Err(Error::Corrupt { .. })));
}
