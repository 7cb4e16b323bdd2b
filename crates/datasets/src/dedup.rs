//! Exact duplicates: a 64-bit XXH3 hash of each record's canonical form, kept in a hash set.
//!
//! Memory: the set stores 8 bytes per distinct record plus hash-table overhead (one control
//! byte, and up to 1/8 of slots empty before it doubles), so about 9–18 bytes per distinct
//! record: ~1–2 GB for 100 million records. Two different records share a hash with
//! probability about n²/2⁶⁵ (≈ 3·10⁻⁴ for 100 million), which would count one false duplicate.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use xxhash_rust::xxh3::Xxh3;

use crate::record::{Message, Record};

/// The values are already uniform hashes: use them as they are.
#[derive(Debug, Default)]
struct PassThrough(u64);

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

#[derive(Debug, Default)]
pub(crate) struct Duplicates {
    seen: HashSet<u64, BuildHasherDefault<PassThrough>>,
    count: u64,
}

impl Duplicates {
    /// Records `record`; true when an equal record came before.
    pub(crate) fn observe(&mut self, record: &Record) -> bool {
        let duplicate = !self.seen.insert(hash(record));
        self.count += u64::from(duplicate);
        duplicate
    }

    pub(crate) fn count(&self) -> u64 {
        self.count
    }
}

/// Hashes the canonical content; lengths prefix every string so boundaries are unambiguous.
fn hash(record: &Record) -> u64 {
    let mut h = Xxh3::new();
    let mut messages = |tag: u8, list: &[Message]| {
        h.update(&[tag]);
        h.update(&(list.len() as u64).to_le_bytes());
        for m in list {
            h.update(&[m.role as u8, m.weight.unwrap_or(2)]);
            h.update(&(m.content.len() as u64).to_le_bytes());
            h.update(m.content.as_bytes());
        }
    };
    match record {
        Record::Chat { messages: list } => messages(b'c', list),
        Record::Preference { prompt, chosen, rejected } => {
            messages(b'p', prompt);
            messages(b'y', chosen);
            messages(b'n', rejected);
        }
        Record::Text { text } => {
            h.update(b"t");
            h.update(text.as_bytes());
        }
    }
    h.digest()
}
