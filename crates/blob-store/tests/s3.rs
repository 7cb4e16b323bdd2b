//! The S3-compatible backend against a real S3 server on loopback (moto; see `start-moto.sh`):
//! the local tests' round-trip, dedup, canary, tamper and rotation checks, on objects.
//! Skipped without `TUNERY_TEST_S3_ENDPOINT`, except under `CI=true`, where that is a failure.
#![cfg(feature = "s3")]

mod common;

use blob_store::format::{CHUNK_SIZE, HEADER_LEN, TAG_LEN};
use blob_store::{BlobStore, Error, Keyring, RotationReport, S3Config, S3_PART_SIZE};
use common::*;
use std::io::Write;

/// The endpoint (`http://127.0.0.1:PORT`), or `None` to skip outside CI.
fn endpoint() -> Option<String> {
    test_support::s3_endpoint().map(|e| e.trim_end_matches('/').to_string())
}

struct Bucket {
    endpoint: String,
    name: String,
}

impl Bucket {
    /// A fresh bucket (object_store cannot create one: a plain PUT does).
    fn new(endpoint: String) -> Self {
        let name = format!("tunery-test-{}", &sha256_hex(&random_bytes(16, rand::random()))[..16]);
        let (status, body) = test_support::s3_request(&endpoint, "PUT", &format!("/{name}"), b"");
        assert_eq!(status, 200, "create bucket: {}", String::from_utf8_lossy(&body));
        Bucket { endpoint, name }
    }

    fn config(&self) -> S3Config {
        S3Config {
            endpoint: self.endpoint.clone(),
            bucket: self.name.clone(),
            region: "us-east-1".into(),
            access_key_id: "testing".into(),
            secret_access_key: "testing-secret-never-logged".into(),
            prefix: "tenant-a/store".into(),
            allow_http: true,
        }
    }

    fn open(&self, keyring: Keyring, tmp: &std::path::Path) -> Result<BlobStore, Error> {
        BlobStore::open_s3(self.config(), keyring, tmp)
    }

    /// Every object key in the bucket.
    fn keys(&self) -> Vec<String> {
        let (status, body) = test_support::s3_request(&self.endpoint, "GET", &format!("/{}?list-type=2&max-keys=1000", self.name), b"");
        assert_eq!(status, 200);
        let text = String::from_utf8(body).unwrap();
        assert!(!text.contains("<IsTruncated>true"), "listing truncated");
        text.split("<Key>").skip(1).map(|rest| rest.split("</Key>").next().unwrap().to_string()).collect()
    }

    fn get(&self, key: &str) -> Vec<u8> {
        let (status, body) = test_support::s3_request(&self.endpoint, "GET", &format!("/{}/{key}", self.name), b"");
        assert_eq!(status, 200, "GET {key}");
        body
    }

    fn put(&self, key: &str, bytes: &[u8]) {
        assert_eq!(test_support::s3_request(&self.endpoint, "PUT", &format!("/{}/{key}", self.name), bytes).0, 200, "PUT {key}");
    }

    fn delete(&self, key: &str) {
        assert_eq!(test_support::s3_request(&self.endpoint, "DELETE", &format!("/{}/{key}", self.name), b"").0, 204, "DELETE {key}");
    }

    fn edit(&self, key: &str, f: impl FnOnce(&mut Vec<u8>)) {
        let mut bytes = self.get(key);
        f(&mut bytes);
        self.put(key, &bytes);
    }
}

fn data_key(id: &str) -> String {
    format!("tenant-a/store/blobs/{}/{}/{id}", &id[..2], &id[2..4])
}

fn key_key(id: &str) -> String {
    format!("{}.key", data_key(id))
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
fn round_trip_dedup_and_no_plaintext_in_any_object() {
    let Some(endpoint) = endpoint() else { return };
    let bucket = Bucket::new(endpoint);
    let tmp = tempfile::tempdir().unwrap();
    let store = bucket.open(Keyring::new(key(1)), tmp.path()).unwrap();
    assert!(store.list().unwrap().is_empty());

    // Every size class, and one of more than two multipart parts.
    let sizes = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 17, 2 * S3_PART_SIZE + 12_345];
    let mut ids = Vec::new();
    for (seed, &len) in sizes.iter().enumerate() {
        let data = random_bytes(len, seed as u64);
        let info = write_blob(&store, &data);
        assert_eq!((info.id.as_str(), info.size), (sha256_hex(&data).as_str(), len as u64));
        assert!(store.exists(&info.id).unwrap());
        assert_eq!(store.size(&info.id).unwrap(), len as u64);
        assert_eq!(read_blob(&store, &info.id).unwrap(), data, "content of {len} bytes");
        // Random access: ranged reads of the object, each chunk authenticated.
        let random = store.random_access(&info.id).unwrap();
        let (offset, n) = (len / 3, (len - len / 3).min(CHUNK_SIZE + 10));
        let mut buf = vec![0u8; n];
        random.read_exact_at(offset as u64, &mut buf).unwrap();
        assert_eq!(buf, data[offset..offset + n], "range {offset}+{n} of {len} bytes");
        let chunks = len.div_ceil(CHUNK_SIZE).max(1);
        assert_eq!(bucket.get(&data_key(&info.id)).len(), HEADER_LEN + len + chunks * TAG_LEN, "object of {len} bytes");
        ids.push(info.id);
    }
    ids.sort();
    assert_eq!(store.list().unwrap(), ids);

    // Identical content, also from two writers at once: one data and one key object.
    let data = random_bytes(300_000, 3);
    let first = write_blob(&store, &data);
    let data_object = bucket.get(&data_key(&first.id));
    assert_eq!(write_blob(&store, &data), first);
    let (mut a, mut b) = (store.writer().unwrap(), store.writer().unwrap());
    a.write_all(&data).unwrap();
    b.write_all(&data).unwrap();
    let ta = std::thread::spawn(move || a.finish().unwrap());
    let tb = std::thread::spawn(move || b.finish().unwrap());
    assert_eq!((ta.join().unwrap(), tb.join().unwrap()), (first.clone(), first.clone()));
    assert_eq!(bucket.get(&data_key(&first.id)), data_object, "the stored copy was replaced");
    assert_eq!(read_blob(&store, &first.id).unwrap(), data);
    assert_eq!(bucket.keys().len(), 2 * (sizes.len() + 1), "one data and one key object per blob: {:?}", bucket.keys());
    let usage = store.disk_usage().unwrap();
    assert!(usage > 2 * S3_PART_SIZE as u64, "usage {usage}");

    // The canary: never in any object, nor in the local temp directory.
    let canary = b"TUNERY-CANARY-3b7e0c1d-plaintext-must-never-touch-disk";
    let mut plain = Vec::new();
    for i in 0..20_000 {
        plain.extend_from_slice(canary);
        plain.extend_from_slice(&random_bytes(i % 23, i as u64));
    }
    let with_canary = write_blob(&store, &plain);
    let small = write_blob(&store, canary);
    for object in bucket.keys() {
        let bytes = bucket.get(&object);
        assert!(!bytes.windows(canary.len()).any(|w| w == canary), "canary in object {object}");
        assert!(!bytes.windows(32).any(|w| w == [1u8; 32]), "master key in object {object}");
    }
    assert!(files_under(tmp.path()).is_empty(), "temp files left behind");
    assert_eq!(read_blob(&store, &with_canary.id).unwrap(), plain);
    assert_eq!(read_blob(&store, &small.id).unwrap(), canary);

    // Delete: both objects go; a missing blob is not found.
    assert!(store.delete(&small.id).unwrap());
    assert!(!store.delete(&small.id).unwrap());
    assert!(!bucket.keys().iter().any(|k| k.contains(&small.id)));
    assert!(matches!(store.reader(&small.id), Err(Error::NotFound { .. })));
    assert!(matches!(store.size(&small.id), Err(Error::NotFound { .. })));
    assert!(matches!(store.exists("../../etc/passwd"), Err(Error::InvalidId { .. })));
}

#[test]
fn tampering_with_objects_is_detected() {
    let Some(endpoint) = endpoint() else { return };
    let bucket = Bucket::new(endpoint);
    let tmp = tempfile::tempdir().unwrap();
    let store = bucket.open(Keyring::new(key(1)), tmp.path()).unwrap();
    let info = write_blob(&store, &random_bytes(5 * CHUNK_SIZE + 1000, 11));
    let other = write_blob(&store, &random_bytes(5 * CHUNK_SIZE + 1000, 12));
    let (data, key_object) = (bucket.get(&data_key(&info.id)), bucket.get(&key_key(&info.id)));
    let chunk = |i: usize| HEADER_LEN + i * (CHUNK_SIZE + TAG_LEN);

    bucket.edit(&data_key(&info.id), |b| b[chunk(2) + 100] ^= 0x01);
    assert_corrupt(&store, &info.id, "chunk 2 of 6 failed authentication");
    bucket.put(&data_key(&info.id), &data[..data.len() - 10]);
    assert_corrupt(&store, &info.id, "truncated");
    bucket.put(&data_key(&info.id), &[&data[..], &[0u8; 17]].concat());
    assert_corrupt(&store, &info.id, "extended");
    bucket.edit(&data_key(&info.id), |b| {
        b.truncate(data.len());
        b.copy_from_slice(&data);
        let (one, two) = (b[chunk(1)..chunk(2)].to_vec(), b[chunk(2)..chunk(3)].to_vec());
        b[chunk(1)..chunk(2)].copy_from_slice(&two);
        b[chunk(2)..chunk(3)].copy_from_slice(&one);
    });
    assert_corrupt(&store, &info.id, "chunk 1 of 6 failed authentication");
    // Another blob's data behind this key object, and another blob's key object.
    bucket.put(&data_key(&info.id), &bucket.get(&data_key(&other.id)));
    assert_corrupt(&store, &info.id, "does not belong to this key file");
    bucket.put(&data_key(&info.id), &data);
    bucket.put(&key_key(&info.id), &bucket.get(&key_key(&other.id)));
    assert_corrupt(&store, &info.id, "key file failed authentication");
    bucket.put(&key_key(&info.id), &key_object[..50]);
    assert_corrupt(&store, &info.id, "key file is 50 bytes");
    bucket.delete(&key_key(&info.id));
    assert_corrupt(&store, &info.id, "key file missing");
    // Restored, it reads again.
    bucket.put(&key_key(&info.id), &key_object);
    assert_eq!(read_blob(&store, &info.id).unwrap(), random_bytes(5 * CHUNK_SIZE + 1000, 11));
}

#[test]
fn rotation_rewraps_key_objects_only_and_a_wrong_key_fails_loudly() {
    let Some(endpoint) = endpoint() else { return };
    let bucket = Bucket::new(endpoint);
    let tmp = tempfile::tempdir().unwrap();
    let store = bucket.open(Keyring::new(key(1)), tmp.path()).unwrap();
    let blobs: Vec<_> = [0, 1, 65_536, 200_000, 1_000_003]
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let data = random_bytes(len, 100 + i as u64);
            (write_blob(&store, &data), data)
        })
        .collect();
    let data_objects: Vec<_> = blobs.iter().map(|(b, _)| bucket.get(&data_key(&b.id))).collect();

    assert_eq!(store.rotate(key(2)).unwrap(), RotationReport { rewrapped: 5, already_current: 0 });
    assert_eq!(store.current_master_key_id(), key(2).id());
    for ((info, data), before) in blobs.iter().zip(&data_objects) {
        assert_eq!(&bucket.get(&data_key(&info.id)), before, "data object rewritten");
        assert_eq!(&read_blob(&store, &info.id).unwrap(), data);
    }
    let late = write_blob(&store, b"written after rotation");
    drop(store);

    let store = bucket.open(Keyring::new(key(2)), tmp.path()).unwrap();
    for (info, data) in &blobs {
        assert_eq!(&read_blob(&store, &info.id).unwrap(), data);
    }
    assert_eq!(read_blob(&store, &late.id).unwrap(), b"written after rotation");
    assert_eq!(store.rotate(key(2)).unwrap(), RotationReport { rewrapped: 0, already_current: 6 });
    drop(store);

    let err = bucket.open(Keyring::new(key(1)), tmp.path()).expect_err("opened with the old key");
    let expected = format!("unknown master key id {} (this store's blobs use {})", key(1).id(), key(2).id());
    assert!(err.to_string().contains(&expected), "{err}");
}

#[test]
fn the_secret_never_shows_in_debug_output() {
    let Some(endpoint) = endpoint() else { return };
    let bucket = Bucket::new(endpoint);
    let config = bucket.config();
    assert!(!format!("{config:?}").contains("testing-secret"), "{config:?}");
    let tmp = tempfile::tempdir().unwrap();
    let store = bucket.open(Keyring::new(key(1)), tmp.path()).unwrap();
    let shown = format!("{store:?}");
    assert!(!shown.contains("testing-secret") && shown.contains(&bucket.name), "{shown}");
}
