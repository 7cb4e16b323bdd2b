//! Parsing one CSV row into cells (RFC 4180, as the `csv` crate reads it): a quote opens a
//! quoted cell only at the start of a cell, `""` inside one is a literal quote, and text after
//! a closing quote is kept. Rows arrive already split by [`crate::split`], without their line
//! terminator, so both agree on where quoted cells end.

/// The cells of one row, stored back to back.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl Row {
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.data[start..end])
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    CellStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

/// Splits `bytes` (one row, no terminator) into cells.
pub(crate) fn parse_row(bytes: &[u8], delimiter: u8) -> Row {
    let mut row = Row { data: Vec::with_capacity(bytes.len()), ends: Vec::new() };
    let mut state = State::CellStart;
    for &b in bytes {
        state = match (state, b) {
            (State::Quoted, b'"') => State::QuoteInQuoted,
            (State::Quoted, _) => {
                row.data.push(b);
                State::Quoted
            }
            (State::QuoteInQuoted, b'"') => {
                row.data.push(b'"');
                State::Quoted
            }
            (State::CellStart, b'"') => State::Quoted,
            (_, d) if d == delimiter => {
                row.ends.push(row.data.len());
                State::CellStart
            }
            _ => {
                row.data.push(b);
                State::Unquoted
            }
        };
    }
    row.ends.push(row.data.len());
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(input: &str) -> Vec<String> {
        parse_row(input.as_bytes(), b',').iter().map(|c| String::from_utf8_lossy(c).into_owned()).collect()
    }

    #[test]
    fn cells_follow_rfc_4180() {
        let table: &[(&str, &[&str])] = &[
            ("a,b,c", &["a", "b", "c"]),
            ("", &[""]),
            (",,", &["", "", ""]),
            ("\"a,b\",c", &["a,b", "c"]),
            ("\"he said \"\"hi\"\"\",x", &["he said \"hi\"", "x"]),
            ("\"multi\nline\",ok", &["multi\nline", "ok"]),
            ("a\"b,c", &["a\"b", "c"]),
            ("\"ab\"cd,e", &["abcd", "e"]),
            ("\"unterminated,x", &["unterminated,x"]),
        ];
        for (input, expected) in table {
            assert_eq!(cells(input), *expected, "{input:?}");
        }
        let tabs = parse_row(b"a\tb,c", b'\t');
        assert_eq!(tabs.iter().collect::<Vec<_>>(), vec![&b"a"[..], &b"b,c"[..]]);
    }
}
