//! `dedup_exact`: a 64-bit XXH3 hash of each record's canonical form in a hash set, as in the
//! statistics' duplicate count (the same hash, so without normalisation both agree).
//!
//! Memory: about 9–18 bytes per distinct record (8 for the hash, one control byte, up to 1/8
//! of the slots empty). A false duplicate needs a 64-bit collision: about n²/2⁶⁵.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use xxhash_rust::xxh3::Xxh3;

use crate::record::{Message, Record};

use super::text::push_normalized;

/// The values are already uniform hashes: use them as they are.
#[derive(Debug, Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

pub(crate) type HashBuild = BuildHasherDefault<PassThrough>;

/// Exact duplicate detection over a stream of records.
#[derive(Debug, Default)]
pub struct ExactDedup {
    normalize: bool,
    seen: HashSet<u64, HashBuild>,
    scratch: String,
}

impl ExactDedup {
    /// `normalize`: compare contents trimmed, whitespace-collapsed and lowercased.
    pub fn new(normalize: bool) -> ExactDedup {
        ExactDedup { normalize, seen: HashSet::default(), scratch: String::new() }
    }

    /// Remembers `record`; true when an equal record came before (it should be dropped).
    pub fn observe(&mut self, record: &Record) -> bool {
        let hash = if self.normalize { normalized_hash(record, &mut self.scratch) } else { canonical_hash(record) };
        !self.seen.insert(hash)
    }

    /// Distinct records seen.
    pub fn distinct(&self) -> usize {
        self.seen.len()
    }
}

/// The hash of the canonical form; lengths prefix every string so boundaries are unambiguous
/// (the same bytes as the statistics' duplicate hash).
pub(crate) fn canonical_hash(record: &Record) -> u64 {
    hash_with(record, None)
}

fn normalized_hash(record: &Record, scratch: &mut String) -> u64 {
    hash_with(record, Some(scratch))
}

/// With `scratch`, contents are normalised into it before hashing.
fn hash_with(record: &Record, mut scratch: Option<&mut String>) -> u64 {
    let mut h = Xxh3::new();
    let mut content = |text: &str, h: &mut Xxh3, prefix: bool| {
        let text = match scratch.as_deref_mut() {
            Some(buf) => {
                buf.clear();
                push_normalized(text, buf);
                buf.as_str()
            }
            None => text,
        };
        if prefix {
            h.update(&(text.len() as u64).to_le_bytes());
        }
        h.update(text.as_bytes());
    };
    let mut messages = |tag: u8, list: &[Message], h: &mut Xxh3| {
        h.update(&[tag]);
        h.update(&(list.len() as u64).to_le_bytes());
        for m in list {
            h.update(&[m.role as u8, m.weight.unwrap_or(2)]);
            content(&m.content, h, true);
        }
    };
    match record {
        Record::Chat { messages: list } => messages(b'c', list, &mut h),
        Record::Preference { prompt, chosen, rejected } => {
            messages(b'p', prompt, &mut h);
            messages(b'y', chosen, &mut h);
            messages(b'n', rejected, &mut h);
        }
        Record::Text { text } => {
            h.update(b"t");
            // The statistics hash a text without a length prefix; keep the same bytes.
            content(text, &mut h, false);
        }
    }
    h.digest()
}
