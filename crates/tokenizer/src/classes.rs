//! What the GPT-2 split pattern sees in each character, taken from the library's own regex
//! engine so the hand-written split agrees with it by construction.
//!
//! The pattern uses three classes: `\p{L}`, `\p{N}` and `\s` (everything else is "other"). Their
//! exact extent depends on the engine's Unicode tables (Oniguruma, through
//! `tokenizers::utils::SysRegex`), not on Rust's: the table is built once per process by running
//! the engine over every Unicode scalar value. The `Digits` pre-tokenizer splits on Rust's
//! `char::is_numeric` instead, which gets its own bit.

use std::sync::OnceLock;

use tokenizers::utils::SysRegex;

/// `\p{L}`.
pub(crate) const LETTER: u8 = 1;
/// `\p{N}`.
pub(crate) const NUMBER: u8 = 2;
/// `\s`.
pub(crate) const SPACE: u8 = 4;
/// None of the three: `[^\s\p{L}\p{N}]`.
pub(crate) const OTHER: u8 = 0;
/// The regex classes above.
pub(crate) const CLASS_MASK: u8 = LETTER | NUMBER | SPACE;
/// `char::is_numeric`, what the `Digits` pre-tokenizer splits on.
pub(crate) const NUMERIC: u8 = 8;

/// One byte of flags per code point (1.1 MB).
pub(crate) struct Classes {
    table: Box<[u8]>,
}

impl Classes {
    /// The shared table, built on first use; an error when the engine disagrees with the
    /// assumptions of the hand-written split (then no fast path is offered).
    pub(crate) fn get() -> Result<&'static Classes, String> {
        static CLASSES: OnceLock<Result<Classes, String>> = OnceLock::new();
        CLASSES.get_or_init(build).as_ref().map_err(Clone::clone)
    }

    /// The regex class of `c`: [`LETTER`], [`NUMBER`], [`SPACE`] or [`OTHER`].
    #[inline]
    pub(crate) fn class(&self, c: char) -> u8 {
        self.flags(c) & CLASS_MASK
    }

    #[inline]
    pub(crate) fn flags(&self, c: char) -> u8 {
        // Every char is below 0x110000, the table's length.
        self.table.get(c as usize).copied().unwrap_or(OTHER)
    }
}

fn build() -> Result<Classes, String> {
    let all: String = (0..=char::MAX as u32).filter_map(char::from_u32).collect();
    let mut table = vec![0u8; char::MAX as usize + 1].into_boxed_slice();
    for (pattern, bit) in [(r"\p{L}+", LETTER), (r"\p{N}+", NUMBER), (r"\s+", SPACE)] {
        let regex = SysRegex::new(pattern).map_err(|e| format!("cannot compile {pattern}: {e}"))?;
        for (start, end) in regex.find_iter(&all) {
            for c in all[start..end].chars() {
                table[c as usize] |= bit;
            }
        }
    }
    for c in all.chars() {
        let class = table[c as usize];
        if class.count_ones() > 1 {
            return Err(format!("U+{:04X} is in more than one of \\p{{L}}, \\p{{N}}, \\s", c as u32));
        }
        if c.is_numeric() {
            table[c as usize] |= NUMERIC;
        }
    }
    // The split relies on these ASCII facts (the contractions and the optional leading space).
    let ascii_ok = table[' ' as usize] & CLASS_MASK == SPACE
        && table['\'' as usize] & CLASS_MASK == OTHER
        && "strevmld".chars().all(|c| table[c as usize] & CLASS_MASK == LETTER);
    if !ascii_ok {
        return Err("the regex engine classifies ASCII unexpectedly".into());
    }
    Ok(Classes { table })
}
