//! One record per line (JSONL, TXT lines). The `\n` is the terminator; a trailing `\r` stays
//! in the record for the container to strip.

use super::{Boundary, Splitter};

#[derive(Debug, Default)]
pub(crate) struct LineSplitter;

impl Splitter for LineSplitter {
    fn feed(&mut self, bytes: &[u8]) -> Option<Boundary> {
        memchr::memchr(b'\n', bytes).map(|i| Boundary { end: i, next: i + 1, terminator: b'\n' })
    }

    fn record_done(&mut self) {}
}
