//! A model directory in the blob store: each file an encrypted blob, listed in a manifest; and
//! back again, materialized into a directory for the runtime to load.

use crate::datasets::internal;
use crate::{Result, Services};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One file of a stored directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    /// Relative path inside the directory, `/`-separated.
    pub path: String,
    pub blob_id: String,
    pub size_bytes: u64,
}

/// A directory stored as blobs.
pub(crate) struct StoredDirectory {
    pub files: Vec<StoredFile>,
    pub size: u64,
    /// Keep until the row listing `files` is committed.
    pub holds: Vec<crate::blob_holds::BlobHold>,
}

/// Parses a stored manifest column of `owner` (a model, a checkpoint): one that does not parse
/// is an error naming the owner, never an empty list.
pub fn parse_manifest(owner: &str, json: &str) -> crate::Result<Vec<StoredFile>> {
    serde_json::from_str(json).map_err(|e| crate::Error::Internal(format!("{owner}: the stored file manifest does not parse: {e}")))
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            let rel = path.strip_prefix(root).map_err(std::io::Error::other)?;
            let rel = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/");
            out.push((rel, path));
        }
    }
    Ok(())
}

/// Whether a manifest path is safe to join under a directory (relative, no `..`).
fn safe_relative(path: &str) -> bool {
    !path.is_empty() && !path.starts_with('/') && path.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

impl Services {
    /// Stores every file under `dir` as a blob: the manifest (sorted by path), the total size,
    /// and holds on the blobs to keep until the row that lists them is committed.
    pub(crate) async fn store_directory(&self, dir: &Path) -> Result<StoredDirectory> {
        let (blobs, holds) = (self.blobs_handle(), self.blob_holds());
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || -> Result<StoredDirectory> {
            let mut files = Vec::new();
            walk(&dir, &dir, &mut files).map_err(internal)?;
            files.sort();
            let mut stored = StoredDirectory { files: Vec::with_capacity(files.len()), size: 0, holds: Vec::new() };
            for (rel, path) in files {
                let mut source = std::fs::File::open(&path).map_err(internal)?;
                let mut writer = blobs.writer().map_err(internal)?;
                let size = std::io::copy(&mut source, &mut writer).map_err(internal)?;
                let (info, hold) = crate::blob_holds::commit_held(&holds, writer.seal().map_err(internal)?)?;
                stored.size += size;
                stored.files.push(StoredFile { path: rel, blob_id: info.id, size_bytes: size });
                stored.holds.push(hold);
            }
            Ok(stored)
        })
        .await
        .map_err(internal)?
    }

    /// Writes the files of a manifest into `target` (decrypted), unless a complete copy is
    /// already there. One materialization of a target at a time (a per-target lock: two jobs
    /// on an uncached model wait for one copy); the copy is assembled under a unique temporary
    /// name and renamed, so `target` is either absent or whole.
    pub(crate) async fn materialize(&self, files: &[StoredFile], target: &Path) -> Result<()> {
        let lock = self.materialize_lock(target);
        let _held = lock.lock().await;
        let marker = target.join(".tunery-complete");
        let expected = serde_json::to_string(files).map_err(internal)?;
        if std::fs::read_to_string(&marker).is_ok_and(|m| m == expected) {
            return Ok(());
        }
        let blobs = self.blobs_handle();
        let files = files.to_vec();
        let target = target.to_path_buf();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let parent = target.parent().ok_or_else(|| internal("a materialized directory needs a parent"))?;
            std::fs::create_dir_all(parent).map_err(internal)?;
            let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let tmp = parent.join(format!(".{name}.partial-{}", crate::crypto::random_token(8)));
            let written = write_files(&blobs, &files, &tmp).and_then(|()| {
                std::fs::write(tmp.join(".tunery-complete"), &expected).map_err(internal)?;
                let _ = std::fs::remove_dir_all(&target);
                std::fs::rename(&tmp, &target).map_err(internal)
            });
            if written.is_err() {
                let _ = std::fs::remove_dir_all(&tmp);
            }
            written
        })
        .await
        .map_err(internal)?
    }

    /// The lock that serialises materializations of one target directory.
    fn materialize_lock(&self, target: &Path) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner_materialize_locks().lock().unwrap_or_else(|e| e.into_inner());
        locks.retain(|_, l| std::sync::Arc::strong_count(l) > 1);
        locks.entry(target.to_path_buf()).or_default().clone()
    }
}

/// Decrypts each file of a manifest under `dir`.
fn write_files(blobs: &blob_store::BlobStore, files: &[StoredFile], dir: &Path) -> Result<()> {
    for f in files {
        if !safe_relative(&f.path) {
            return Err(internal(format!("unsafe path in a stored manifest: {}", f.path)));
        }
        let path = dir.join(&f.path);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(internal)?;
        }
        let mut reader = blobs.reader(&f.blob_id).map_err(internal)?;
        let mut out = std::fs::File::create(&path).map_err(internal)?;
        std::io::copy(&mut reader, &mut out).map_err(internal)?;
        out.sync_all().map_err(internal)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::safe_relative;

    #[test]
    fn manifest_paths_cannot_escape() {
        assert!(safe_relative("model.safetensors"));
        assert!(safe_relative("sub/dir/file"));
        for bad in ["", "/etc/passwd", "../x", "a/../../b", "a//b", "./a"] {
            assert!(!safe_relative(bad), "{bad}");
        }
    }
}
