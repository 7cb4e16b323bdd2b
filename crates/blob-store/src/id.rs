//! Blob ids: 64 lowercase hex characters, checked before any path is built from one.

use crate::error::{Error, Result};

pub const ID_LEN: usize = 64;

/// Accepts exactly 64 characters of `0-9a-f`; anything else (`../../etc/passwd`, upper case,
/// a trailing newline) is [`Error::InvalidId`].
pub fn validate_id(id: &str) -> Result<()> {
    if id.len() == ID_LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(Error::InvalidId { given: id.chars().take(100).collect() })
    }
}
