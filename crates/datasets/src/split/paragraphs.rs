//! One record per paragraph (TXT): a record ends at a line holding only whitespace, once the
//! record has some content. Leading blank lines belong to no record (the reader trims them).

use super::{Boundary, Splitter};

#[derive(Debug)]
pub(crate) struct ParagraphSplitter {
    /// The current line holds only whitespace so far.
    line_blank: bool,
    /// The current record holds something besides whitespace.
    has_content: bool,
}

impl Default for ParagraphSplitter {
    fn default() -> Self {
        ParagraphSplitter { line_blank: true, has_content: false }
    }
}

impl Splitter for ParagraphSplitter {
    fn feed(&mut self, bytes: &[u8]) -> Option<Boundary> {
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'\n' => {
                    if self.line_blank && self.has_content {
                        return Some(Boundary { end: i, next: i + 1, terminator: b'\n' });
                    }
                    self.line_blank = true;
                }
                b' ' | b'\t' | b'\r' => {}
                _ => {
                    self.line_blank = false;
                    self.has_content = true;
                }
            }
        }
        None
    }

    fn record_done(&mut self) {
        *self = ParagraphSplitter::default();
    }
}
