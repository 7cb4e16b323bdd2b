//! The elements of one top-level JSON array, streamed: a record ends at a `,` or `]` at depth 0
//! outside strings. The first boundary is the opening `[` (terminator `[`); a first
//! non-whitespace byte that is not `[` ends the prefix, that byte included, with terminator `!`. After the closing
//! `]` everything up to the end of the file is one trailing record.
//!
//! Malformed elements (unbalanced brackets) are not judged here; serde reports them when the
//! element is parsed. A missing closer makes the rest of the file one element, which the
//! container reports as a truncated file.

use super::{Boundary, Splitter};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    BeforeArray,
    Inside,
    AfterArray,
}

#[derive(Debug)]
pub(crate) struct JsonArraySplitter {
    state: State,
    depth: u64,
    in_string: bool,
    escaped: bool,
}

impl Default for JsonArraySplitter {
    fn default() -> Self {
        JsonArraySplitter { state: State::BeforeArray, depth: 0, in_string: false, escaped: false }
    }
}

impl Splitter for JsonArraySplitter {
    fn feed(&mut self, bytes: &[u8]) -> Option<Boundary> {
        match self.state {
            State::BeforeArray => {
                let i = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
                if bytes[i] == b'[' {
                    self.state = State::Inside;
                    Some(Boundary { end: i, next: i + 1, terminator: b'[' })
                } else {
                    self.state = State::AfterArray;
                    Some(Boundary { end: i + 1, next: i + 1, terminator: b'!' })
                }
            }
            State::Inside => self.feed_inside(bytes),
            State::AfterArray => None,
        }
    }

    fn record_done(&mut self) {}
}

impl JsonArraySplitter {
    fn feed_inside(&mut self, bytes: &[u8]) -> Option<Boundary> {
        let mut i = 0;
        while i < bytes.len() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                    Some(k) => {
                        i += k;
                        if bytes[i] == b'"' {
                            self.in_string = false;
                        } else {
                            self.escaped = true;
                        }
                        i += 1;
                        continue;
                    }
                    None => return None,
                }
            }
            match bytes[i] {
                b'"' => self.in_string = true,
                b'[' | b'{' => self.depth += 1,
                b']' if self.depth == 0 => {
                    self.state = State::AfterArray;
                    return Some(Boundary { end: i, next: i + 1, terminator: b']' });
                }
                b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                b',' if self.depth == 0 => return Some(Boundary { end: i, next: i + 1, terminator: b',' }),
                _ => {}
            }
            i += 1;
        }
        None
    }
}
