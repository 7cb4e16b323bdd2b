//! Language mix per record, by script: the share of Han ideographs versus Latin letters.
//!
//! Letters are counted by script: Han (CJK ideographs), kana, Latin, and any other
//! alphabetic character. A record is
//! - `zh` when Han ideographs are at least 30% of its letters and kana under 10%
//!   (one ideograph carries about a word, so Chinese with English terms stays `zh`);
//! - `en` when Latin letters are more than half of its letters (this includes other
//!   Latin-script languages: there is no finer detection);
//! - `other` otherwise (Japanese, Korean, Cyrillic, Arabic, …), and `none` without letters.

use serde::{Deserialize, Serialize};

/// Records per language class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LanguageCounts {
    pub zh: u64,
    pub en: u64,
    pub other: u64,
    pub none: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Language {
    Zh,
    En,
    Other,
    None,
}

impl LanguageCounts {
    pub(crate) fn add(&mut self, language: Language) {
        match language {
            Language::Zh => self.zh += 1,
            Language::En => self.en += 1,
            Language::Other => self.other += 1,
            Language::None => self.none += 1,
        }
    }
}

/// Letters seen in one record's text, by script.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Letters {
    han: u64,
    kana: u64,
    latin: u64,
    other: u64,
}

impl Letters {
    /// Counts the letters of `text`; returns its length in characters.
    pub(crate) fn add(&mut self, text: &str) -> u64 {
        let mut chars = 0;
        for c in text.chars() {
            chars += 1;
            if c.is_ascii() {
                if c.is_ascii_alphabetic() {
                    self.latin += 1;
                }
                continue;
            }
            match c as u32 {
                0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F => self.han += 1,
                0x3040..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9D => self.kana += 1,
                0x00C0..=0x024F | 0x1E00..=0x1EFF if c.is_alphabetic() => self.latin += 1,
                _ if c.is_alphabetic() => self.other += 1,
                _ => {}
            }
        }
        chars
    }

    pub(crate) fn classify(&self) -> Language {
        let total = self.han + self.kana + self.latin + self.other;
        if total == 0 {
            Language::None
        } else if self.han * 10 >= total * 3 && self.kana * 10 < total {
            Language::Zh
        } else if self.latin * 2 > total {
            Language::En
        } else {
            Language::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(text: &str) -> Language {
        let mut l = Letters::default();
        l.add(text);
        l.classify()
    }

    #[test]
    fn scripts_decide_the_class() {
        let table = [
            ("The quick brown fox", Language::En),
            ("请用Python写一个函数计算斐波那契数列", Language::Zh),
            ("今天天气很好", Language::Zh),
            ("The word 你好 means hello in Chinese", Language::En),
            ("これは日本語の文章です", Language::Other),
            ("Привет, как дела?", Language::Other),
            ("12345 + 678 = ?", Language::None),
            ("Café crème brûlée", Language::En),
        ];
        for (text, expected) in table {
            assert_eq!(classify(text), expected, "{text}");
        }
    }
}
