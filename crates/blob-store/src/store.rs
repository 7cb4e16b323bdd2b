//! The store: the directory layout, committing blobs, listing, deleting and key rotation.
//! The only module that builds paths.

use crate::error::{Error, Result};
use crate::format::KeyFile;
use crate::fsio::{create_new, io_err, is_file, sync_dir, TempFile};
use crate::id::{validate_id, ID_LEN};
use crate::keys::{self, DataKey, Keyring, MasterKey};
use crate::random::{BlobRandomAccess, RangeSource};
use crate::reader::{check_header, BlobReader, Source};
use crate::writer::BlobWriter;
use rand::rngs::OsRng;
use rand::RngCore;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// A stored blob: its id (SHA-256 of the plaintext, lowercase hex) and plaintext size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobInfo {
    pub id: String,
    pub size: u64,
}

/// What [`BlobStore::rotate`] did: key files re-wrapped now, and those already under the new key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RotationReport {
    pub rewrapped: u64,
    pub already_current: u64,
}

/// Encrypted, content-addressed blobs under one root directory. Cheap to clone (clones share
/// the keyring and the commit lock); `Send + Sync`.
#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    root: PathBuf,
    blobs: PathBuf,
    tmp: PathBuf,
    keyring: RwLock<Arc<Keyring>>,
    /// Where the sealed bytes live when not under `blobs/` (see [`BlobStore::open_s3`]); the
    /// local directory's code paths are the default and stay as they were.
    #[cfg(feature = "s3")]
    s3: Option<crate::s3::S3Backend>,
    /// Serialises commits, deletes and key file replacement, so a data file and its key file
    /// always change together.
    commit_lock: Mutex<()>,
}

/// How long a temp file must have gone unwritten before opening a store removes it as a crash's
/// leftover. A live writer writes its file as bytes arrive; servers sharing one data directory
/// open the store while each other's writers run, and must not remove their files.
pub const LEFTOVER_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes a temp file unwritten for [`LEFTOVER_AFTER`]; a newer one belongs to a live writer
/// (of this process, or of another server on the same directory) and stays.
fn remove_if_leftover(path: &std::path::Path) -> Result<()> {
    let modified = match fs::metadata(path).and_then(|m| m.modified()) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("read the age of temp file", path)(e)),
    };
    // A time in the future (a clock set back) reads as new: the file stays.
    if modified.elapsed().is_ok_and(|age| age >= LEFTOVER_AFTER) {
        remove_leftover(path)?;
    }
    Ok(())
}

/// Removes a leftover temp file. One that is gone already is no error: another server opening
/// the same store removed it, or its writer renamed it into place meanwhile.
fn remove_leftover(path: &std::path::Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("remove leftover temp file", path)(e)),
        _ => Ok(()),
    }
}

impl BlobStore {
    /// Opens (creating if needed) the store at `root`, removes the leftovers of a crash from
    /// `tmp/` (ciphertext only; files unwritten for [`LEFTOVER_AFTER`]), and checks that the keyring can read this store's blobs: if the first
    /// blob found is wrapped by a key it does not hold, fails with [`Error::UnknownMasterKey`].
    pub fn open(root: impl Into<PathBuf>, keyring: Keyring) -> Result<Self> {
        let root = root.into();
        let (blobs, tmp) = (root.join("blobs"), root.join("tmp"));
        for dir in [&blobs, &tmp] {
            fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
        }
        for entry in fs::read_dir(&tmp).map_err(io_err("list", &tmp))? {
            let path = entry.map_err(io_err("list", &tmp))?.path();
            remove_if_leftover(&path)?;
        }
        let store = BlobStore {
            inner: Arc::new(Inner {
                root,
                blobs,
                tmp,
                keyring: RwLock::new(Arc::new(keyring)),
                #[cfg(feature = "s3")]
                s3: None,
                commit_lock: Mutex::new(()),
            }),
        };
        store.check_keyring()?;
        Ok(store)
    }

    /// Opens a store whose blobs live in an S3-compatible bucket (feature `s3`), with the same
    /// format, keys and guarantees as a local store: the writer seals into a temp file under
    /// `local_tmp_dir` (ciphertext only; this store's own temp files there, named like those of
    /// `tmp/`, are removed on open once unwritten for [`LEFTOVER_AFTER`]) and uploads it when finished; readers stream the object.
    /// Like [`BlobStore::open`], checks that the keyring can read the first blob found.
    #[cfg(feature = "s3")]
    pub fn open_s3(config: crate::s3::S3Config, keyring: Keyring, local_tmp_dir: impl Into<PathBuf>) -> Result<Self> {
        let tmp = local_tmp_dir.into();
        fs::create_dir_all(&tmp).map_err(io_err("create directory", &tmp))?;
        for entry in fs::read_dir(&tmp).map_err(io_err("list", &tmp))? {
            let path = entry.map_err(io_err("list", &tmp))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let ours = name.split_once('.').is_some_and(|(stem, ext)| {
                stem.len() == 24 && stem.bytes().all(|b| b.is_ascii_hexdigit()) && matches!(ext, "data" | "key")
            });
            if ours && path.is_file() {
                remove_if_leftover(&path)?;
            }
        }
        let backend = crate::s3::S3Backend::new(&config)?;
        let store = BlobStore {
            inner: Arc::new(Inner {
                root: tmp.clone(),
                blobs: tmp.clone(),
                tmp,
                keyring: RwLock::new(Arc::new(keyring)),
                s3: Some(backend),
                commit_lock: Mutex::new(()),
            }),
        };
        store.check_keyring()?;
        Ok(store)
    }

    /// The store's root directory (for a store opened with [`BlobStore::open_s3`]: its local
    /// temp directory).
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The id of the master key that wraps new blobs.
    /// The master keys this store holds (current first), for keys derived from them.
    pub fn keyring(&self) -> Arc<Keyring> {
        self.inner.keyring()
    }

    pub fn current_master_key_id(&self) -> String {
        self.inner.keyring().current.id().to_string()
    }

    /// Starts a streaming write.
    pub fn writer(&self) -> Result<BlobWriter> {
        BlobWriter::create(self.inner.clone())
    }

    /// Stores everything `source` yields (a convenience over [`BlobStore::writer`]).
    pub fn put(&self, mut source: impl Read) -> Result<BlobInfo> {
        let mut writer = self.writer()?;
        let mut buf = vec![0u8; crate::format::CHUNK_SIZE];
        loop {
            match source.read(&mut buf) {
                Ok(0) => return writer.finish(),
                Ok(n) => writer.write_inner(&buf[..n])?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io { op: "read the source of", path: writer.temp_path().to_path_buf(), source: e }),
            }
        }
    }

    /// Opens a blob for streaming, authenticated reads.
    pub fn reader(&self, id: &str) -> Result<BlobReader> {
        validate_id(id)?;
        #[cfg(feature = "s3")]
        if let Some(s3) = &self.inner.s3 {
            let (body, len) = s3.open_data(id)?;
            let (key_file, data_key) = self.inner.open_key(id)?;
            return BlobReader::new(id, s3.data_location(id), Source::S3(body), len, &key_file, &data_key);
        }
        let (data_path, file, len) = self.inner.open_data_file(id)?;
        let (key_file, data_key) = self.inner.open_key(id)?;
        BlobReader::new(id, data_path, Source::File(file), len, &key_file, &data_key)
    }

    /// Random access to blob `id`'s plaintext (see [`BlobRandomAccess`]): for formats that
    /// must seek. Prefer [`BlobStore::reader`], which also checks the whole content's hash.
    pub fn random_access(&self, id: &str) -> Result<BlobRandomAccess> {
        validate_id(id)?;
        #[cfg(feature = "s3")]
        if let Some(s3) = &self.inner.s3 {
            let len = s3.data_len(id)?;
            let (key_file, data_key) = self.inner.open_key(id)?;
            let path = s3.data_location(id);
            let source = RangeSource::S3 { store: self.inner.clone(), id: id.to_string() };
            let header = BlobRandomAccess::read_header(&source, &path)?;
            let parsed = check_header(&header, len, &key_file, &data_key, &path)?;
            return Ok(BlobRandomAccess::new(id, path, source, data_key.cipher(), header, parsed, key_file.size));
        }
        let (data_path, file, len) = self.inner.open_data_file(id)?;
        let (key_file, data_key) = self.inner.open_key(id)?;
        let source = RangeSource::File(file);
        let header = BlobRandomAccess::read_header(&source, &data_path)?;
        let parsed = check_header(&header, len, &key_file, &data_key, &data_path)?;
        Ok(BlobRandomAccess::new(id, data_path, source, data_key.cipher(), header, parsed, key_file.size))
    }

    pub fn exists(&self, id: &str) -> Result<bool> {
        validate_id(id)?;
        self.inner.data_exists(id)
    }

    /// The blob's plaintext size, from its authenticated key file.
    pub fn size(&self, id: &str) -> Result<u64> {
        validate_id(id)?;
        if !self.inner.data_exists(id)? {
            return Err(Error::NotFound { id: id.to_string() });
        }
        Ok(self.inner.open_key(id)?.0.size)
    }

    /// Removes a blob; `false` if it was not stored. Callers decide when no reference remains
    /// (identical content is stored once).
    pub fn delete(&self, id: &str) -> Result<bool> {
        validate_id(id)?;
        #[cfg(feature = "s3")]
        if let Some(s3) = &self.inner.s3 {
            let _claim = s3.claim(id);
            let _guard = self.inner.lock();
            return s3.delete(id);
        }
        let (data, key) = (self.inner.data_path(id), self.inner.key_path(id));
        let _guard = self.inner.lock();
        // The data file goes first: its absence is the commit point of a delete.
        let existed = match fs::remove_file(&data) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(io_err("remove", &data)(e)),
        };
        match fs::remove_file(&key) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove", &key)(e)),
        }
        if existed {
            sync_dir(data.parent().unwrap_or(&self.inner.blobs))?;
        }
        Ok(existed)
    }

    /// Ids of every stored blob, in directory order.
    pub fn list(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        self.inner.visit_blobs(|id| {
            ids.push(id.to_string());
            Ok(true)
        })?;
        Ok(ids)
    }

    /// Bytes used on disk by the store's files (data, key and temp files; for S3, the bucket's
    /// objects under the prefix plus the local temp files).
    pub fn disk_usage(&self) -> Result<u64> {
        fn walk(dir: &Path) -> Result<u64> {
            let mut total = 0;
            for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
                let entry = entry.map_err(io_err("list", dir))?;
                let path = entry.path();
                let meta = entry.metadata().map_err(io_err("stat", &path))?;
                total += if meta.is_dir() { walk(&path)? } else { meta.len() };
            }
            Ok(total)
        }
        #[cfg(feature = "s3")]
        if let Some(s3) = &self.inner.s3 {
            return Ok(s3.list()?.1 + walk(&self.inner.tmp)?);
        }
        Ok(walk(&self.inner.blobs)? + walk(&self.inner.tmp)?)
    }

    /// Makes `new_current` the current master key and re-wraps every blob's data key under it
    /// (data files untouched; each key file replaced atomically). The keyring keeps the old keys
    /// as previous ones, so blobs not yet re-wrapped stay readable: an interrupted rotation is
    /// finished by running it again (with a keyring that still holds the old key), and running
    /// it again after it finished changes nothing. Persist the new key before calling this.
    pub fn rotate(&self, new_current: MasterKey) -> Result<RotationReport> {
        let keyring = {
            // Under the commit lock: a blob committed from here on is wrapped by the new key, one
            // committed before is on disk for the listing below.
            let _guard = self.inner.lock();
            let mut slot = self.inner.keyring.write().unwrap_or_else(|e| e.into_inner());
            let rotated = Arc::new(slot.rotated_to(new_current));
            *slot = rotated.clone();
            rotated
        };
        let current = keyring.current.id();
        let mut report = RotationReport::default();
        for id in self.list()? {
            let key_path = self.inner.key_path(&id);
            let key_file = match self.inner.read_key_file(&id) {
                Ok(key_file) => key_file,
                Err(_) if !self.inner.data_exists(&id)? => continue, // deleted meanwhile
                Err(err) => return Err(err),
            };
            if key_file.master_key_id == current {
                report.already_current += 1;
                continue;
            }
            let data_key = keys::unwrap(&keyring, &id, &key_file, &self.inner.key_location(&id))?;
            let rewrapped = keys::wrap(&keyring.current, &id, key_file.size, &data_key);
            #[cfg(feature = "s3")]
            if let Some(s3) = &self.inner.s3 {
                let _guard = self.inner.lock();
                if s3.data_exists(&id)? {
                    s3.put_key(&id, rewrapped.encode().to_vec())?;
                    report.rewrapped += 1;
                }
                continue;
            }
            let temp = TempFile::write_synced(self.inner.temp_path("key"), &rewrapped.encode())?;
            {
                let _guard = self.inner.lock();
                if !is_file(&self.inner.data_path(&id))? {
                    continue; // deleted meanwhile; the temp file goes with `temp`
                }
                temp.persist(&key_path)?;
            }
            sync_dir(key_path.parent().unwrap_or(&self.inner.blobs))?;
            report.rewrapped += 1;
        }
        Ok(report)
    }

    /// Fails if the first blob with a readable key file is wrapped by a master key the keyring
    /// does not hold (damaged key files are left for the reader to report).
    fn check_keyring(&self) -> Result<()> {
        let keyring = self.inner.keyring();
        self.inner.visit_blobs(|id| {
            let Ok(key_file) = self.inner.read_key_file(id) else { return Ok(true) };
            if keyring.get(&key_file.master_key_id).is_some() {
                return Ok(false);
            }
            Err(Error::UnknownMasterKey { held: keyring.ids().join(", "), wrapped_by: key_file.master_key_id, blob: id.to_string() })
        })
    }
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keyring = self.inner.keyring();
        let mut out = f.debug_struct("BlobStore");
        out.field("root", &self.inner.root);
        #[cfg(feature = "s3")]
        if let Some(s3) = &self.inner.s3 {
            out.field("s3", &s3.describe());
        }
        out.field("master_key_ids", &keyring.ids()).finish()
    }
}

impl Inner {
    pub(crate) fn keyring(&self) -> Arc<Keyring> {
        self.keyring.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        self.commit_lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.blobs.join(&id[..2]).join(&id[2..4])
    }

    /// Blob `id`'s local data file, opened, with its path and length.
    fn open_data_file(&self, id: &str) -> Result<(PathBuf, File, u64)> {
        let data_path = self.data_path(id);
        let file = File::open(&data_path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound { id: id.to_string() },
            _ => io_err("open", &data_path)(e),
        })?;
        let len = file.metadata().map_err(io_err("stat", &data_path))?.len();
        Ok((data_path, file, len))
    }

    #[cfg(feature = "s3")]
    pub(crate) fn s3_backend(&self) -> Option<&crate::s3::S3Backend> {
        self.s3.as_ref()
    }

    fn data_path(&self, id: &str) -> PathBuf {
        self.dir(id).join(id)
    }

    fn key_path(&self, id: &str) -> PathBuf {
        self.dir(id).join(format!("{id}.key"))
    }

    fn temp_path(&self, ext: &str) -> PathBuf {
        let mut name = [0u8; 12];
        OsRng.fill_bytes(&mut name);
        self.tmp.join(format!("{}.{ext}", hex::encode(name)))
    }

    /// A new, empty temp file, removed when the returned guard drops.
    pub(crate) fn create_temp(&self, ext: &str) -> Result<(TempFile, File)> {
        let path = self.temp_path(ext);
        let file = create_new(&path)?;
        Ok((TempFile::new(path), file))
    }

    /// Reads and unwraps blob `id`'s key file. The keyring is looked at after the file is read,
    /// so a rotation running meanwhile (new key installed before any key file is rewritten)
    /// cannot hand a reader a key file its keyring is too old for.
    fn open_key(&self, id: &str) -> Result<(KeyFile, DataKey)> {
        let key_file = self.read_key_file(id)?;
        let data_key = keys::unwrap(&self.keyring(), id, &key_file, &self.key_location(id))?;
        Ok((key_file, data_key))
    }

    /// Whether blob `id`'s data file (or object) exists: a blob is stored once its data is.
    fn data_exists(&self, id: &str) -> Result<bool> {
        #[cfg(feature = "s3")]
        if let Some(s3) = &self.s3 {
            return s3.data_exists(id);
        }
        is_file(&self.data_path(id))
    }

    /// Where blob `id`'s key file lives, for messages.
    fn key_location(&self, id: &str) -> PathBuf {
        #[cfg(feature = "s3")]
        if let Some(s3) = &self.s3 {
            return s3.key_location(id);
        }
        self.key_path(id)
    }

    fn read_key_file(&self, id: &str) -> Result<KeyFile> {
        #[cfg(feature = "s3")]
        if let Some(s3) = &self.s3 {
            let location = s3.key_location(id).display().to_string();
            let bytes = s3.read_key(id)?.ok_or_else(|| Error::corrupt("key file missing", location.clone()))?;
            return KeyFile::decode(&bytes).map_err(|what| Error::corrupt(what, location));
        }
        let key_path = self.key_path(id);
        let path = key_path.as_path();
        let bytes = fs::read(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::corrupt("key file missing", path.display().to_string()),
            _ => io_err("read", path)(e),
        })?;
        KeyFile::decode(&bytes).map_err(|what| Error::corrupt(what, path.display().to_string()))
    }

    /// Moves a finished, fsync'd temp data file into place as blob `id`, writing its key file
    /// first. If the blob is already stored, the temp file is discarded.
    pub(crate) fn commit(&self, data: TempFile, id: &str, size: u64, data_key: &DataKey) -> Result<()> {
        #[cfg(feature = "s3")]
        if let Some(s3) = &self.s3 {
            return self.commit_s3(s3, data, id, size, data_key);
        }
        let (data_path, key_path, dir) = (self.data_path(id), self.key_path(id), self.dir(id));
        if is_file(&data_path)? {
            return Ok(()); // stored already: `data` removes the temp file
        }
        if !dir.is_dir() {
            fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
            let parent = dir.parent().unwrap_or(&self.blobs);
            sync_dir(parent)?;
            sync_dir(&self.blobs)?;
        }
        {
            let _guard = self.lock();
            if is_file(&data_path)? {
                return Ok(());
            }
            // Wrapped under the lock, so a rotation either sees this blob or this blob is
            // wrapped by the rotation's new key.
            let key_file = keys::wrap(&self.keyring().current, id, size, data_key);
            let key = TempFile::write_synced(self.temp_path("key"), &key_file.encode())?;
            // Key first, then data: the data file's appearance commits the blob.
            key.persist(&key_path)?;
            data.persist(&data_path)?;
        }
        sync_dir(&dir)
    }

    /// [`Inner::commit`] into a bucket. Key object first, then the data object (a multipart
    /// upload of the sealed temp file, visible only once complete: the commit point). The upload
    /// runs outside the commit lock, so a rotation may start meanwhile and list blobs before this
    /// one's data appears; hence the check after the upload, under the lock, that re-wraps the
    /// key if the current master key changed since it was wrapped.
    #[cfg(feature = "s3")]
    fn commit_s3(&self, s3: &crate::s3::S3Backend, data: TempFile, id: &str, size: u64, data_key: &DataKey) -> Result<()> {
        let _claim = s3.claim(id);
        if s3.data_exists(id)? {
            return Ok(()); // stored already: `data` removes the temp file
        }
        let wrapped_by = {
            let _guard = self.lock();
            let key_file = keys::wrap(&self.keyring().current, id, size, data_key);
            s3.put_key(id, key_file.encode().to_vec())?;
            key_file.master_key_id
        };
        s3.upload_data(id, data.path())?;
        let _guard = self.lock();
        let keyring = self.keyring();
        if keyring.current.id() != wrapped_by {
            s3.put_key(id, keys::wrap(&keyring.current, id, size, data_key).encode().to_vec())?;
        }
        Ok(())
    }

    /// Calls `f` with each stored blob id until it returns `false`.
    fn visit_blobs(&self, mut f: impl FnMut(&str) -> Result<bool>) -> Result<()> {
        #[cfg(feature = "s3")]
        if let Some(s3) = &self.s3 {
            for id in s3.list()?.0 {
                if !f(&id)? {
                    break;
                }
            }
            return Ok(());
        }
        let is_hex_pair = |name: &str| name.len() == 2 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        for first in sorted_names(&self.blobs)?.into_iter().filter(|n| is_hex_pair(n)) {
            let first_dir = self.blobs.join(&first);
            for second in sorted_names(&first_dir)?.into_iter().filter(|n| is_hex_pair(n)) {
                let dir = first_dir.join(&second);
                for name in sorted_names(&dir)? {
                    let belongs = name.len() == ID_LEN && name.starts_with(&first) && name[2..].starts_with(&second);
                    if belongs && validate_id(&name).is_ok() && !f(&name)? {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }
}

fn sorted_names(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort_unstable();
    Ok(names)
}

#[cfg(test)]
mod leftover_tests {
    use super::remove_leftover;

    #[test]
    fn a_leftover_removed_meanwhile_by_another_server_is_no_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0123456789abcdef01234567.key");
        std::fs::write(&path, b"x").unwrap();
        remove_leftover(&path).unwrap();
        assert!(!path.exists());
        // Gone already (another server opening the store, or its writer's rename).
        remove_leftover(&path).unwrap();
        // Any other failure still says what and where.
        let err = remove_leftover(dir.path()).unwrap_err().to_string();
        assert!(err.contains("remove leftover temp file"), "{err}");
    }
}
