//! The S3-compatible backend (feature `s3`): where the sealed bytes live when they are not in a
//! local directory. Sealing is unchanged — the writer seals into a local temp file (ciphertext
//! only, bounded by one blob) — and this module uploads that file with a streaming multipart put,
//! stores key files as small objects beside the data, and streams data objects back.
//!
//! Keys: `<prefix>/blobs/ab/cd/<id>` (data) and `<prefix>/blobs/ab/cd/<id>.key` (key file).
//!
//! # Blocking bridge
//! The crate's API is synchronous `std::io`; `object_store` is async and has no blocking
//! helpers. The backend owns a small multi-thread tokio runtime (two worker threads, which drive
//! the HTTP connections) and each call blocks the caller's thread on a future with
//! `Handle::block_on`. As for the rest of the crate, callers must not call it from inside an async
//! task (use `spawn_blocking`). Reads stream the response body frame by frame
//! ([`S3Body`]); uploads read the temp file in 1 MiB pieces into parts of [`PART_SIZE`] with at
//! most two parts in flight, so memory stays bounded whatever the blob's size.

use crate::error::{Error, Result};
use crate::id::{validate_id, ID_LEN};
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload, WriteMultipart};
use std::collections::HashSet;
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

/// Size of each multipart upload part (S3 requires at least 5 MiB for all but the last).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT: usize = 2;

/// Where and how to reach an S3-compatible bucket. The secret comes from the caller (config or
/// environment) and is never logged: `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// e.g. `https://s3.eu-west-1.amazonaws.com` or `http://127.0.0.1:9000`; path-style requests.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Key prefix inside the bucket (may be empty); objects live under `<prefix>/blobs/`.
    pub prefix: String,
    /// Allow a plain-HTTP endpoint (tests, a server on loopback).
    pub allow_http: bool,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("prefix", &self.prefix)
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// The runtime, shut down without blocking when the last user goes (a `Runtime` dropped inside
/// an async context would panic).
struct RuntimeGuard(Option<tokio::runtime::Runtime>);

impl RuntimeGuard {
    fn handle(&self) -> &tokio::runtime::Handle {
        self.0.as_ref().map(|rt| rt.handle()).expect("runtime present until drop")
    }
}

impl Drop for RuntimeGuard {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

pub(crate) struct S3Backend {
    client: Arc<AmazonS3>,
    runtime: Arc<RuntimeGuard>,
    bucket: String,
    /// `<prefix>/blobs`, no leading or trailing slash.
    blobs: String,
    /// Ids being committed or deleted: one operation per id at a time in this process, so two
    /// writers of the same bytes cannot pair one's key object with the other's data object.
    busy: Mutex<HashSet<String>>,
    released: Condvar,
}

/// Holds an id in [`S3Backend::claim`]'s set until dropped.
pub(crate) struct Claim<'a> {
    backend: &'a S3Backend,
    id: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.backend.busy.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
        self.backend.released.notify_all();
    }
}

fn remote_err(op: &'static str, location: String) -> impl FnOnce(object_store::Error) -> Error {
    move |err| {
        let kind = if matches!(err, object_store::Error::NotFound { .. }) { io::ErrorKind::NotFound } else { io::ErrorKind::Other };
        Error::Io { op, path: PathBuf::from(location), source: io::Error::new(kind, err) }
    }
}

impl S3Backend {
    pub(crate) fn new(config: &S3Config) -> Result<Self> {
        let location = format!("s3://{}", config.bucket);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("blob-store-s3")
            .enable_all()
            .build()
            .map_err(|e| Error::Io { op: "start the S3 client runtime for", path: PathBuf::from(&location), source: e })?;
        let client = AmazonS3Builder::new()
            .with_endpoint(&config.endpoint)
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(&config.secret_access_key)
            .with_allow_http(config.allow_http)
            .build()
            .map_err(remote_err("configure the S3 client for", location))?;
        let prefix = config.prefix.trim_matches('/');
        let blobs = if prefix.is_empty() { "blobs".to_string() } else { format!("{prefix}/blobs") };
        Ok(S3Backend {
            client: Arc::new(client),
            runtime: Arc::new(RuntimeGuard(Some(runtime))),
            bucket: config.bucket.clone(),
            blobs,
            busy: Mutex::new(HashSet::new()),
            released: Condvar::new(),
        })
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.handle().block_on(future)
    }

    fn data_key(&self, id: &str) -> ObjectPath {
        ObjectPath::from(format!("{}/{}/{}/{id}", self.blobs, &id[..2], &id[2..4]))
    }

    fn key_key(&self, id: &str) -> ObjectPath {
        ObjectPath::from(format!("{}/{}/{}/{id}.key", self.blobs, &id[..2], &id[2..4]))
    }

    fn url(&self, key: &ObjectPath) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// `s3://bucket/<prefix>/blobs`, for `Debug`.
    pub(crate) fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.blobs)
    }

    /// Where blob `id`'s data or key object lives, for messages (`s3://bucket/key`).
    pub(crate) fn data_location(&self, id: &str) -> PathBuf {
        PathBuf::from(self.url(&self.data_key(id)))
    }

    pub(crate) fn key_location(&self, id: &str) -> PathBuf {
        PathBuf::from(self.url(&self.key_key(id)))
    }

    /// Waits until no other commit or delete of `id` runs in this process, then holds `id`.
    pub(crate) fn claim(&self, id: &str) -> Claim<'_> {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        while busy.contains(id) {
            busy = self.released.wait(busy).unwrap_or_else(|e| e.into_inner());
        }
        busy.insert(id.to_string());
        Claim { backend: self, id: id.to_string() }
    }

    pub(crate) fn data_exists(&self, id: &str) -> Result<bool> {
        let key = self.data_key(id);
        match self.block_on(self.client.head(&key)) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(remote_err("stat", self.url(&key))(e)),
        }
    }

    /// The data object's length.
    pub(crate) fn data_len(&self, id: &str) -> Result<u64> {
        let key = self.data_key(id);
        match self.block_on(self.client.head(&key)) {
            Ok(meta) => Ok(meta.size),
            Err(object_store::Error::NotFound { .. }) => Err(Error::NotFound { id: id.to_string() }),
            Err(e) => Err(remote_err("stat", self.url(&key))(e)),
        }
    }

    /// The key object's bytes; `None` if there is none.
    pub(crate) fn read_key(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let key = self.key_key(id);
        let result = self.block_on(async {
            let got = self.client.get(&key).await?;
            // A key file is 109 bytes; anything larger is refused before it is read.
            if got.meta.size > 4096 {
                return Ok(Err(got.meta.size));
            }
            got.bytes().await.map(Ok)
        });
        match result {
            Ok(Ok(bytes)) => Ok(Some(bytes.to_vec())),
            Ok(Err(size)) => Err(Error::corrupt(format!("key file is {size} bytes"), self.url(&key))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(remote_err("read", self.url(&key))(e)),
        }
    }

    /// Replaces (or creates) the key object; a single PUT is atomic for readers.
    pub(crate) fn put_key(&self, id: &str, bytes: Vec<u8>) -> Result<()> {
        let key = self.key_key(id);
        self.block_on(self.client.put(&key, PutPayload::from(bytes))).map(|_| ()).map_err(remote_err("write", self.url(&key)))
    }

    /// Uploads the sealed temp file `file` as blob `id`'s data object (multipart, streamed from
    /// the file). The object appears only when the upload completes: that is the commit point.
    pub(crate) fn upload_data(&self, id: &str, file: &Path) -> Result<()> {
        let key = self.data_key(id);
        let url = self.url(&key);
        let mut source = std::fs::File::open(file).map_err(|e| Error::Io { op: "open", path: file.to_path_buf(), source: e })?;
        self.block_on(async {
            let upload = self.client.put_multipart(&key).await.map_err(remote_err("start upload of", url.clone()))?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            let mut buf = vec![0u8; 1024 * 1024];
            loop {
                let n = match source.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = writer.abort().await;
                        return Err(Error::Io { op: "read", path: file.to_path_buf(), source: e });
                    }
                };
                if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                    return Err(remote_err("upload", url)(e));
                }
                writer.write(&buf[..n]);
            }
            writer.finish().await.map(|_| ()).map_err(remote_err("complete upload of", url))
        })
    }

    /// Opens blob `id`'s data object for streaming: the body and the object's length.
    pub(crate) fn open_data(&self, id: &str) -> Result<(S3Body, u64)> {
        let key = self.data_key(id);
        match self.block_on(self.client.get(&key)) {
            Ok(got) => {
                let size = got.meta.size;
                let body = S3Body { runtime: self.runtime.clone(), stream: got.into_stream(), current: Bytes::new() };
                Ok((body, size))
            }
            Err(object_store::Error::NotFound { .. }) => Err(Error::NotFound { id: id.to_string() }),
            Err(e) => Err(remote_err("open", self.url(&key))(e)),
        }
    }

    /// Bytes `range` of blob `id`'s data object (one ranged GET).
    pub(crate) fn read_data_range(&self, id: &str, range: std::ops::Range<u64>) -> Result<Bytes> {
        let key = self.data_key(id);
        match self.block_on(self.client.get_range(&key, range)) {
            Ok(bytes) => Ok(bytes),
            Err(object_store::Error::NotFound { .. }) => Err(Error::NotFound { id: id.to_string() }),
            Err(e) => Err(remote_err("read", self.url(&key))(e)),
        }
    }

    /// Deletes data then key object; `false` if the data object was not there.
    pub(crate) fn delete(&self, id: &str) -> Result<bool> {
        let existed = self.data_exists(id)?;
        for key in [self.data_key(id), self.key_key(id)] {
            match self.block_on(self.client.delete(&key)) {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(remote_err("remove", self.url(&key))(e)),
            }
        }
        Ok(existed)
    }

    /// Every stored blob id (data objects at their place), in key order, and the bytes of all
    /// objects under `<prefix>/blobs`.
    pub(crate) fn list(&self) -> Result<(Vec<String>, u64)> {
        let prefix = ObjectPath::from(self.blobs.as_str());
        let location = format!("s3://{}/{}", self.bucket, self.blobs);
        let objects = self.block_on(async {
            let mut stream = self.client.list(Some(&prefix));
            let mut out = Vec::new();
            while let Some(meta) = stream.next().await {
                let meta = meta?;
                out.push((meta.location.to_string(), meta.size));
            }
            Ok::<_, object_store::Error>(out)
        });
        let objects = objects.map_err(remote_err("list", location))?;
        let mut ids = Vec::new();
        let mut bytes = 0;
        for (key, size) in objects {
            bytes += size;
            let Some(rest) = key.strip_prefix(&self.blobs).and_then(|r| r.strip_prefix('/')) else { continue };
            let parts: Vec<&str> = rest.split('/').collect();
            if let [first, second, name] = parts[..] {
                let belongs = name.len() == ID_LEN && name.starts_with(first) && name[2..].starts_with(second) && first.len() == 2;
                if belongs && second.len() == 2 && validate_id(name).is_ok() {
                    ids.push(name.to_string());
                }
            }
        }
        ids.sort_unstable();
        Ok((ids, bytes))
    }
}

/// A data object's body, read through `std::io::Read` one response frame at a time.
pub(crate) struct S3Body {
    runtime: Arc<RuntimeGuard>,
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    current: Bytes,
}

impl Read for S3Body {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            if out.is_empty() {
                return Ok(0);
            }
            match self.runtime.handle().block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(bytes)) => self.current = bytes,
                Some(Err(e)) => return Err(io::Error::other(e)),
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}
