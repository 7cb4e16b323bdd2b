//! Splitting a byte stream into raw records with bounded memory.
//!
//! A [`Splitter`] is a small state machine that finds where a record ends (a newline, a blank
//! line, a CSV row end outside quotes, a comma at depth 0 of a JSON array). The
//! [`RecordReader`] feeds it bytes chunk by chunk and never holds more than
//! `max_record_bytes` plus one chunk: a longer record is skipped to its end while reading,
//! and reported as too long.

mod csv_rows;
mod json_array;
mod lines;
mod paragraphs;
mod reader;

pub(crate) use csv_rows::CsvRowSplitter;
pub(crate) use json_array::JsonArraySplitter;
pub(crate) use lines::LineSplitter;
pub(crate) use paragraphs::ParagraphSplitter;
pub(crate) use reader::{Raw, RecordReader};

/// Where a record ends inside the bytes just fed: the record is `bytes[..end]`, the next
/// record starts at `bytes[next..]`, and `terminator` is the byte that ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Boundary {
    pub end: usize,
    pub next: usize,
    pub terminator: u8,
}

/// Finds record ends. `feed` receives the bytes of the current record that follow those
/// already fed, so state (quotes, nesting) carries across chunk boundaries.
pub(crate) trait Splitter {
    fn feed(&mut self, bytes: &[u8]) -> Option<Boundary>;
    /// Called once a record has ended, before the next one is fed.
    fn record_done(&mut self);
}

/// The splitters a container can use, dispatched without generics.
#[derive(Debug)]
pub(crate) enum AnySplitter {
    Lines(LineSplitter),
    Paragraphs(ParagraphSplitter),
    CsvRows(CsvRowSplitter),
    JsonArray(JsonArraySplitter),
}

impl Splitter for AnySplitter {
    fn feed(&mut self, bytes: &[u8]) -> Option<Boundary> {
        match self {
            AnySplitter::Lines(s) => s.feed(bytes),
            AnySplitter::Paragraphs(s) => s.feed(bytes),
            AnySplitter::CsvRows(s) => s.feed(bytes),
            AnySplitter::JsonArray(s) => s.feed(bytes),
        }
    }

    fn record_done(&mut self) {
        match self {
            AnySplitter::Lines(s) => s.record_done(),
            AnySplitter::Paragraphs(s) => s.record_done(),
            AnySplitter::CsvRows(s) => s.record_done(),
            AnySplitter::JsonArray(s) => s.record_done(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One record as read: its text (or `too long N`), line, column and terminator (`$` at the
    /// end of the input).
    type Seen = (String, u64, u64, char);

    fn records(input: &[u8], splitter: AnySplitter, chunk: usize, max: usize) -> Vec<Seen> {
        let mut reader = RecordReader::new(input, splitter, max, chunk);
        let mut out = Vec::new();
        while let Some(raw) = reader.next_raw().unwrap() {
            out.push(match raw {
                Raw::Record { range, line, col, terminator } => {
                    (String::from_utf8_lossy(reader.slice(&range)).into_owned(), line, col, terminator.map_or('$', char::from))
                }
                Raw::TooLong { line, len, terminator, .. } => (format!("too long {len}"), line, 0, terminator.map_or('$', char::from)),
            });
            assert!(reader.max_buffer_bytes() <= max.saturating_add(chunk), "buffer {} > {max} + {chunk}", reader.max_buffer_bytes());
        }
        out
    }

    /// Every chunk size gives the same records as reading all at once.
    fn check(input: &str, make: fn() -> AnySplitter, max: usize, expected: &[(&str, u64, u64, char)]) {
        let expected: Vec<Seen> = expected.iter().map(|&(t, l, c, e)| (t.to_owned(), l, c, e)).collect();
        for chunk in [1, 2, 3, 5, 8, 64, 1 << 16] {
            assert_eq!(records(input.as_bytes(), make(), chunk, max), expected, "chunk {chunk}, input {input:?}");
        }
    }

    #[test]
    fn lines_split_at_newlines_and_keep_line_numbers() {
        let lines = || AnySplitter::Lines(LineSplitter);
        check("a\nbb\n\nccc", lines, 100, &[("a", 1, 0, '\n'), ("bb", 2, 0, '\n'), ("", 3, 0, '\n'), ("ccc", 4, 0, '$')]);
        check("a\n0123456789\nb\n", lines, 5, &[("a", 1, 0, '\n'), ("too long 10", 2, 0, '\n'), ("b", 3, 0, '\n')]);
        check("0123456789", lines, 5, &[("too long 10", 1, 0, '$')]);
    }

    #[test]
    fn paragraphs_split_at_blank_lines() {
        let paragraphs = || AnySplitter::Paragraphs(ParagraphSplitter::default());
        let input = "\n\none\ntwo\n \nthree\n\n\n";
        check(input, paragraphs, 100, &[("one\ntwo\n ", 3, 0, '\n'), ("three\n", 6, 0, '\n'), ("", 9, 0, '$')]);
    }

    #[test]
    fn csv_rows_keep_quoted_newlines() {
        let csv = || AnySplitter::CsvRows(CsvRowSplitter::new(b','));
        let input = "a,b\n\"x\ny\",\"he said \"\"hi\"\"\n\"\nc\"d,e\n";
        check(input, csv, 100, &[("a,b", 1, 0, '\n'), ("\"x\ny\",\"he said \"\"hi\"\"\n\"", 2, 0, '\n'), ("c\"d,e", 5, 0, '\n')]);
    }

    #[test]
    fn json_array_elements_split_at_depth_zero() {
        let json = || AnySplitter::JsonArray(JsonArraySplitter::default());
        let input = " [\n {\"a\": [1, 2], \"b\": \"x,]\\\"}\"},\n 3 ,\"s\\\\\"]\n";
        let expected = [
            (" ", 1, 0, '['),
            (r#" {"a": [1, 2], "b": "x,]\"}"}"#, 2, 0, ','),
            (" 3 ", 3, 0, ','),
            (r#""s\\""#, 3, 4, ']'),
            ("", 4, 0, '$'),
        ];
        check(input, json, 100, &expected);
        check("{\"a\": 1}", json, 100, &[("{", 1, 0, '!'), ("\"a\": 1}", 1, 1, '$')]);
        check("[\"0123456789\", 1]", json, 5, &[("", 1, 0, '['), ("too long 12", 1, 0, ','), (" 1", 1, 14, ']')]);
    }
}
