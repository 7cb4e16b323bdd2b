//! The one error type of the blob store.

use std::io;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No blob with this id is stored.
    #[error("blob {id} not found")]
    NotFound { id: String },

    /// The id is not 64 lowercase hex characters; it never reaches the filesystem.
    #[error("invalid blob id {given:?}: a blob id is 64 lowercase hex characters (the SHA-256 of the content)")]
    InvalidId { given: String },

    /// The blob's data key is wrapped by a master key the keyring does not hold.
    #[error(
        "unknown master key id {held} (this store's blobs use {wrapped_by}): blob {blob} is wrapped by a master key \
         this keyring does not hold; configure that key as the current or a previous master key"
    )]
    UnknownMasterKey { held: String, wrapped_by: String, blob: String },

    /// A master key file or value could not be parsed (its content is never echoed).
    #[error("invalid master key from {from}: {reason}")]
    InvalidMasterKey { from: String, reason: String },

    /// Stored bytes failed a check: authentication, length, format or the content hash.
    #[error("corrupt blob: {what} (at {location})")]
    Corrupt { what: String, location: String },

    /// A write was refused earlier; the writer cannot be finished.
    #[error("blob writer unusable after an earlier failure: {reason}")]
    WriterFailed { reason: String },

    /// The blob exceeds the format's limit of 2^32 chunks.
    #[error("blob too large: the format holds at most {max_bytes} bytes per blob")]
    TooLarge { max_bytes: u64 },

    /// A filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn corrupt(what: impl Into<String>, location: impl Into<String>) -> Self {
        Error::Corrupt { what: what.into(), location: location.into() }
    }

    /// The blob-store error inside an `io::Error` returned by [`crate::BlobReader`]'s `read` or
    /// [`crate::BlobWriter`]'s `write`, if it carries one.
    pub fn from_io(err: &io::Error) -> Option<&Error> {
        err.get_ref().and_then(|inner| inner.downcast_ref::<Error>())
    }
}

/// `Read`/`Write` impls must return `io::Error`: the blob-store error travels inside it (see
/// [`Error::from_io`]), keeping the I/O error kind where there is one.
impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        let kind = match &err {
            Error::Io { source, .. } => source.kind(),
            Error::NotFound { .. } => io::ErrorKind::NotFound,
            Error::InvalidId { .. } | Error::TooLarge { .. } => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, err)
    }
}
