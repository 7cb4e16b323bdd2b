//! Exact duplicates: a 64-bit XXH3 hash of each record's canonical form (the one
//! `recipe::exact` computes, so statistics and the `dedup_exact` step agree), kept in a hash set.
//!
//! Memory: the set stores 8 bytes per distinct record plus hash-table overhead (one control
//! byte, and up to 1/8 of slots empty before it doubles), so about 9–18 bytes per distinct
//! record: ~1–2 GB for 100 million records. Two different records share a hash with
//! probability about n²/2⁶⁵ (≈ 3·10⁻⁴ for 100 million), which would count one false duplicate.

use std::collections::HashSet;

use crate::recipe::exact::{canonical_hash, HashBuild};
use crate::record::Record;

#[derive(Debug, Default)]
pub(crate) struct Duplicates {
    seen: HashSet<u64, HashBuild>,
    count: u64,
}

impl Duplicates {
    /// Records `record`; true when an equal record came before.
    pub(crate) fn observe(&mut self, record: &Record) -> bool {
        let duplicate = !self.seen.insert(canonical_hash(record));
        self.count += u64::from(duplicate);
        duplicate
    }

    pub(crate) fn count(&self) -> u64 {
        self.count
    }
}
