//! The bounded record reader: reads fixed-size chunks, hands out one raw record at a time with
//! the line and column where its content starts, and skips records longer than the limit
//! without buffering them.
//!
//! Memory bound: the buffer only ever holds the current record (at most `max_record_bytes`,
//! checked before each read) plus one chunk, so its capacity stays at or below
//! `max_record_bytes + chunk_bytes` whatever the file size. `max_buffer_bytes` records the
//! largest capacity seen so tests can assert it.

use std::io::{self, Read};
use std::ops::Range;

use super::Splitter;

/// One raw record.
#[derive(Debug)]
pub(crate) enum Raw {
    Record {
        /// Where the record's bytes sit in the buffer ([`RecordReader::slice`]), with leading
        /// whitespace-only lines removed. Valid until the next call to `next_raw`.
        range: Range<usize>,
        /// 1-based line of `bytes[0]`.
        line: u64,
        /// 0-based byte column of `bytes[0]` on that line.
        col: u64,
        /// The byte that ended the record; `None` at the end of the input.
        terminator: Option<u8>,
    },
    TooLong {
        line: u64,
        /// Bytes in the record (whole, though only the prefix was kept).
        len: u64,
        /// The first bytes of the record, up to the reader's `keep_prefix`.
        prefix: Vec<u8>,
        terminator: Option<u8>,
    },
}

#[derive(Debug)]
pub(crate) struct RecordReader<R, S> {
    inner: R,
    splitter: S,
    buf: Vec<u8>,
    /// Start of the current record in `buf`.
    pos: usize,
    /// Bytes of the current record already fed to the splitter.
    scanned: usize,
    eof: bool,
    /// Line and column of `buf[pos]`.
    line: u64,
    col: u64,
    max_record_bytes: usize,
    chunk_bytes: usize,
    keep_prefix: usize,
    max_buffer_bytes: usize,
}

impl<R: Read, S: Splitter> RecordReader<R, S> {
    pub(crate) fn new(inner: R, splitter: S, max_record_bytes: usize, chunk_bytes: usize) -> Self {
        RecordReader {
            inner,
            splitter,
            buf: Vec::new(),
            pos: 0,
            scanned: 0,
            eof: false,
            line: 1,
            col: 0,
            max_record_bytes,
            chunk_bytes: chunk_bytes.max(1),
            keep_prefix: 0,
            max_buffer_bytes: 0,
        }
    }

    /// Keep up to `bytes` of each too-long record (for previews).
    pub(crate) fn keep_prefix(&mut self, bytes: usize) {
        self.keep_prefix = bytes;
    }

    /// The largest buffer capacity reached so far.
    pub(crate) fn max_buffer_bytes(&self) -> usize {
        self.max_buffer_bytes
    }

    /// Line and column of the next unread byte.
    pub(crate) fn position(&self) -> (u64, u64) {
        (self.line, self.col)
    }

    /// The bytes of a record returned by the last `next_raw`.
    pub(crate) fn slice(&self, range: &Range<usize>) -> &[u8] {
        &self.buf[range.clone()]
    }

    pub(crate) fn next_raw(&mut self) -> io::Result<Option<Raw>> {
        loop {
            let fed_from = self.pos + self.scanned;
            if fed_from < self.buf.len() {
                if let Some(b) = self.splitter.feed(&self.buf[fed_from..]) {
                    let (start, end, next) = (self.pos, fed_from + b.end, fed_from + b.next);
                    return Ok(Some(self.take(start, end, next, Some(b.terminator))));
                }
                self.scanned = self.buf.len() - self.pos;
            }
            if self.scanned > self.max_record_bytes {
                return self.skip_too_long().map(Some);
            }
            if self.eof {
                if self.pos < self.buf.len() {
                    let (start, end) = (self.pos, self.buf.len());
                    return Ok(Some(self.take(start, end, end, None)));
                }
                return Ok(None);
            }
            self.fill()?;
        }
    }

    /// Ends the current record at `end` and moves past it to `next`. A record that ended
    /// within the bytes already read may still be over the limit.
    fn take(&mut self, start: usize, end: usize, next: usize, terminator: Option<u8>) -> Raw {
        let (content, line, col) = self.content_start(start, end);
        let len = end - content;
        let prefix = (len > self.max_record_bytes).then(|| self.buf[content..content + self.keep_prefix.min(len)].to_vec());
        self.advance(start, next);
        self.splitter.record_done();
        match prefix {
            Some(prefix) => Raw::TooLong { line, len: len as u64, prefix, terminator },
            None => Raw::Record { range: content..end, line, col, terminator },
        }
    }

    /// Skips whitespace-only lines at the start of `buf[start..end]`: where the content
    /// starts, and its line and column.
    fn content_start(&self, start: usize, end: usize) -> (usize, u64, u64) {
        let bytes = &self.buf[start..end];
        let ws = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
        match memchr::memrchr(b'\n', &bytes[..ws]) {
            Some(last_nl) => {
                let newlines = memchr::memchr_iter(b'\n', &bytes[..ws]).count() as u64;
                (start + last_nl + 1, self.line + newlines, 0)
            }
            None => (start, self.line, self.col),
        }
    }

    /// Moves the position past `buf[from..to]`, counting lines.
    fn advance(&mut self, from: usize, to: usize) {
        let bytes = &self.buf[from..to];
        match memchr::memrchr(b'\n', bytes) {
            Some(last_nl) => {
                self.line += memchr::memchr_iter(b'\n', bytes).count() as u64;
                self.col = (bytes.len() - last_nl - 1) as u64;
            }
            None => self.col += bytes.len() as u64,
        }
        self.pos = to;
        self.scanned = 0;
    }

    /// The current record passed the limit: remember where it starts, then read on in
    /// chunks, discarding each, until the splitter finds its end.
    fn skip_too_long(&mut self) -> io::Result<Raw> {
        let (content, line, _) = self.content_start(self.pos, self.buf.len());
        let keep = self.keep_prefix.min(self.buf.len() - content);
        let prefix = self.buf[content..content + keep].to_vec();
        let mut len = (self.buf.len() - content) as u64;
        self.advance(self.pos, self.buf.len());
        self.buf.clear();
        self.pos = 0;
        loop {
            if self.eof {
                self.splitter.record_done();
                return Ok(Raw::TooLong { line, len, prefix, terminator: None });
            }
            self.fill()?;
            if let Some(b) = self.splitter.feed(&self.buf) {
                len += b.end as u64;
                self.advance(0, b.next);
                self.splitter.record_done();
                return Ok(Raw::TooLong { line, len, prefix, terminator: Some(b.terminator) });
            }
            len += self.buf.len() as u64;
            self.advance(0, self.buf.len());
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// Drops consumed bytes and reads one more chunk. Capacity grows geometrically but never
    /// past `max_record_bytes + chunk_bytes`.
    fn fill(&mut self) -> io::Result<()> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let old_len = self.buf.len();
        let want = old_len + self.chunk_bytes;
        if self.buf.capacity() < want {
            let cap = want.max(self.buf.capacity() * 2).min(self.max_record_bytes.saturating_add(self.chunk_bytes)).max(want);
            self.buf.reserve_exact(cap - old_len);
        }
        self.buf.resize(want, 0);
        let n = loop {
            match self.inner.read(&mut self.buf[old_len..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old_len);
                    return Err(e);
                }
            }
        };
        self.buf.truncate(old_len + n);
        self.max_buffer_bytes = self.max_buffer_bytes.max(self.buf.capacity());
        if n == 0 {
            self.eof = true;
        }
        Ok(())
    }
}
