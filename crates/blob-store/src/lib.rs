//! Content-addressed blob storage, encrypted at rest: uploaded datasets (GBs) and, later, model
//! files. This crate owns the bytes under one root directory and the keys that protect them;
//! it knows nothing of datasets, users or the database (callers keep their own references to
//! blob ids and decide when a blob may be deleted). The API is synchronous `std::io`; async
//! callers run it in `tokio::task::spawn_blocking`.
//!
//! # Addressing and layout
//! A blob's id is the lowercase hex SHA-256 of its plaintext, so storing the same bytes twice
//! stores one blob. Under the root:
//!
//! ```text
//! blobs/ab/cd/<id>       the encrypted data (ab, cd: the id's first two byte pairs)
//! blobs/ab/cd/<id>.key   the blob's data key, wrapped by a master key (109 bytes)
//! tmp/                   files being written; a crash's leftovers (unwritten for an hour) removed on open
//! ```
//!
//! Ids are validated (64 lowercase hex characters) before any path is built from them.
//!
//! # Encryption (envelope, streamed)
//! Every blob gets a random 256-bit data key, a random 7-byte stream prefix and a random 16-byte
//! blob nonce. The data file is a 36-byte header (magic `TNRYBLOB`, version, chunk size, stream
//! prefix, blob nonce) followed by AES-256-GCM chunks of [`format::CHUNK_SIZE`] plaintext bytes
//! (the last one shorter, possibly empty), each followed by its 16-byte tag. Chunks use the
//! STREAM construction: nonce = stream prefix ‖ 4-byte big-endian chunk counter ‖ last-chunk
//! flag, and associated data = the whole header (which holds the blob nonce), so chunks cannot
//! be reordered, dropped, truncated or moved to another blob without failing authentication.
//!
//! The id is only known once the last byte is written, so it is bound through the key file:
//! `<id>.key` holds the master key id, the plaintext size, a 12-byte wrap nonce and
//! AES-256-GCM(master key, data key ‖ blob nonce) with associated data = a domain tag ‖ the
//! blob id ‖ the master key id and size. A key file therefore opens only under its own id, it
//! names the one data file it belongs to (the blob nonce must match the data header), and it
//! fixes the data file's exact length. The reader also hashes the plaintext as it decrypts and
//! reports [`Error::Corrupt`] instead of the last chunk if the hash is not the id.
//!
//! Plaintext never reaches the disk, not even in `tmp/`: the writer hashes each chunk on the
//! caller's thread and encrypts it in memory before it is written. Chunks after the first are
//! encrypted and written (positional writes, each at its known offset) by up to two worker
//! threads per writer, so hashing and encryption overlap; a writer holds at most 6 chunks of
//! memory (< 400 KiB), a reader one.
//!
//! # Master keys and rotation
//! A [`MasterKey`]'s id is derived from the key (first 16 hex characters of
//! SHA-256("tunery-master-key" ‖ key)), so a wrong key shows up as an unknown key id, never as a
//! mysterious decryption failure. A [`Keyring`] wraps new blobs with its current key and reads
//! blobs wrapped by any key it holds. [`BlobStore::rotate`] re-wraps every data key under a new
//! master key (data files untouched, each key file replaced atomically); it can be re-run after
//! an interruption, and re-running it after it finished is a no-op.
//!
//! # Crash safety and concurrency
//! Files are written under `tmp/`, fsync'd, then renamed into place; the key file is renamed
//! before the data file, and the data file's appearance is the commit point (a crash leaves at
//! most an orphan key file, which the next store of the same bytes replaces). Directories are
//! fsync'd after renames. Commits, deletes and rotation are serialised inside one
//! [`BlobStore`] (clones share it); one process owns a root at a time.
//!
//! # S3-compatible storage (feature `s3`)
//! [`BlobStore::open_s3`] keeps the same format, keys and checks, with the sealed bytes in a
//! bucket: `<prefix>/blobs/ab/cd/<id>` and `<id>.key`. The writer still seals into a local temp
//! file (ciphertext only), then uploads it as a streaming multipart put after writing the key
//! object: the data object appears only when the upload completes, which is the commit point. A
//! commit re-checks the current master key after its upload and re-wraps if a rotation started
//! meanwhile; commits and deletes of one id are serialised in the process. Readers stream the
//! object through a blocking bridge over `object_store` (see `s3.rs`). Where the bytes live is
//! chosen inside `store.rs`: the local directory's code paths are the default and, without the
//! feature, the only ones compiled.

mod cipher;
mod error;
pub mod format;
mod fsio;
mod id;
mod keys;
mod random;
mod reader;
#[cfg(feature = "s3")]
mod s3;
mod seal;
mod store;
mod writer;

pub use error::{Error, Result};
pub use id::validate_id;
pub use keys::{Keyring, MasterKey};
pub use random::BlobRandomAccess;
pub use reader::BlobReader;
#[cfg(feature = "s3")]
pub use s3::{S3Config, PART_SIZE as S3_PART_SIZE};
pub use store::{BlobInfo, BlobStore, RotationReport, LEFTOVER_AFTER};
pub use writer::{BlobWriter, SealedBlob};
