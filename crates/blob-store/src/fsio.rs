//! Filesystem helpers that attach the path to every error, and a temp file that removes itself.

use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub(crate) fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io { op, path: path.to_path_buf(), source }
}

/// Creates a file that must not exist yet.
pub(crate) fn create_new(path: &Path) -> Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path).map_err(io_err("create", path))
}

pub(crate) fn rename(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).map_err(io_err("rename into", to))
}

/// Makes a directory's entries (renames, creations) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("fsync directory", dir))
}

/// Whether a regular file exists at `path` (errors other than "not found" are errors).
pub(crate) fn is_file(path: &Path) -> Result<bool> {
    match fs::metadata(path) {
        Ok(m) => Ok(m.is_file()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("stat", path)(e)),
    }
}

/// A file under `tmp/` that is removed when dropped, unless it was renamed into place.
pub(crate) struct TempFile {
    path: Option<PathBuf>,
}

impl TempFile {
    pub(crate) fn new(path: PathBuf) -> Self {
        TempFile { path: Some(path) }
    }

    pub(crate) fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// Creates the file with `bytes` and fsyncs it.
    pub(crate) fn write_synced(path: PathBuf, bytes: &[u8]) -> Result<Self> {
        let mut file = create_new(&path)?;
        let temp = TempFile::new(path);
        file.write_all(bytes).and_then(|()| file.sync_all()).map_err(io_err("write", temp.path()))?;
        Ok(temp)
    }

    /// Renames the file to `to`; from then on it is no longer removed on drop.
    pub(crate) fn persist(mut self, to: &Path) -> Result<()> {
        if let Some(from) = self.path.take() {
            if let Err(e) = rename(&from, to) {
                self.path = Some(from);
                return Err(e);
            }
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            // Best effort: the file holds only ciphertext, and `tmp/` is emptied on open.
            let _ = fs::remove_file(path);
        }
    }
}

/// Asks the kernel to start writing `len` bytes of `file` at `offset` to disk now, without
/// waiting, so that the final fsync has little left to do. A hint: errors are ignored (the
/// fsync that follows is what makes data durable).
///
/// On Linux, `POSIX_FADV_DONTNEED` starts writeback of the range's dirty pages; pages still
/// under writeback stay cached (the safe-Rust form of `sync_file_range(…, SYNC_FILE_RANGE_WRITE)`).
#[cfg(target_os = "linux")]
pub(crate) fn start_writeback(file: &File, offset: u64, len: u64) {
    use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};
    use std::os::fd::AsRawFd;
    let _ = posix_fadvise(file.as_raw_fd(), offset as i64, len as i64, PosixFadviseAdvice::POSIX_FADV_DONTNEED);
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn start_writeback(_file: &File, _offset: u64, _len: u64) {}
