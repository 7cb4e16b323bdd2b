//! One record per CSV row: a row ends at a newline outside a quoted field, so quoted cells may
//! span lines. Quote handling follows RFC 4180 as the `csv` crate reads it: a quote opens a
//! quoted field only at the start of a field, and `""` inside one is an escaped quote.

use super::{Boundary, Splitter};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    /// Just saw a quote inside a quoted field: either the field's end or the first of `""`.
    QuoteInQuoted,
}

#[derive(Debug)]
pub(crate) struct CsvRowSplitter {
    delimiter: u8,
    state: State,
}

impl CsvRowSplitter {
    pub(crate) fn new(delimiter: u8) -> CsvRowSplitter {
        CsvRowSplitter { delimiter, state: State::FieldStart }
    }
}

impl Splitter for CsvRowSplitter {
    fn feed(&mut self, bytes: &[u8]) -> Option<Boundary> {
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if self.state == State::Quoted {
                // Fast path: jump to the next quote.
                match memchr::memchr(b'"', &bytes[i..]) {
                    Some(k) => {
                        i += k + 1;
                        self.state = State::QuoteInQuoted;
                        continue;
                    }
                    None => return None,
                }
            }
            self.state = match (self.state, b) {
                (_, b'\n') => return Some(Boundary { end: i, next: i + 1, terminator: b'\n' }),
                (State::FieldStart, b'"') => State::Quoted,
                (State::QuoteInQuoted, b'"') => State::Quoted,
                (_, d) if d == self.delimiter => State::FieldStart,
                _ => State::Unquoted,
            };
            i += 1;
        }
        None
    }

    fn record_done(&mut self) {
        self.state = State::FieldStart;
    }
}
