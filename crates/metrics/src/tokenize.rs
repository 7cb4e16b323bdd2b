//! sacreBLEU's tokenizers for BLEU: `13a` (mteval-v13a, the default) and `zh` (every Chinese
//! character a token, the rest as `13a` splits it).

use regex::Regex;
use std::sync::OnceLock;

struct Rules {
    punctuation: Regex,
    period_comma_after_non_digit: Regex,
    period_comma_before_non_digit: Regex,
    dash_after_digit: Regex,
}

fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| Rules {
        // sacreBLEU: ([\{-\~\[-\` -\&\(-\+\:-\@\/]) — {|}~ [\]^_` space!"#$%& ()*+ :;<=>?@ /
        punctuation: Regex::new(r"([{-~\[-`\x20-&(-+:-@/])").expect("a valid pattern"),
        period_comma_after_non_digit: Regex::new(r"([^0-9])([.,])").expect("a valid pattern"),
        period_comma_before_non_digit: Regex::new(r"([.,])([^0-9])").expect("a valid pattern"),
        dash_after_digit: Regex::new(r"([0-9])(-)").expect("a valid pattern"),
    })
}

/// `line` tokenized as sacreBLEU's `13a` tokenizer does: `<skipped>` removed, the XML
/// entities `&quot; &amp; &lt; &gt;` unescaped, punctuation split off (periods and commas only
/// next to a non-digit, dashes after a digit), tokens joined by single spaces.
pub fn tokenize_13a(line: &str) -> String {
    let mut line = line.replace("<skipped>", "").replace("-\n", "").replace('\n', " ");
    if line.contains('&') {
        line = line.replace("&quot;", "\"").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
    }
    regexp_tokenize(&format!(" {line} "))
}

/// sacreBLEU's `TokenizerRegexp`: punctuation split off, single spaces.
fn regexp_tokenize(line: &str) -> String {
    let r = rules();
    let line = r.punctuation.replace_all(line, " $1 ");
    let line = r.period_comma_after_non_digit.replace_all(&line, "$1 $2 ");
    let line = r.period_comma_before_non_digit.replace_all(&line, " $1 $2");
    let line = r.dash_after_digit.replace_all(&line, "$1 $2 ");
    python_split(&line).collect::<Vec<_>>().join(" ")
}

/// Python's `string.punctuation`: the ASCII punctuation characters.
pub(crate) const ASCII_PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// Python's `str.split()`: runs of whitespace (also U+001C–U+001F, which Python counts and
/// Rust does not), none at the ends.
pub(crate) fn python_split(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)).filter(|t| !t.is_empty())
}

/// The ranges of sacreBLEU's `_UCODE_RANGES`, compared as Python compares strings. Two of them
/// are written there as `\u20000`–`\u2a6d6` and `\u2f800`–`\u2fa1d`: Python reads `\u2000`
/// followed by `0`, so for one character they cover U+2001–U+2A6D and U+2F81–U+2FA1 (general
/// punctuation, arrows, mathematical symbols…), not the supplementary planes. sacreBLEU's
/// scores depend on it, so this does the same.
const ZH_RANGES: &[(&str, &str)] = &[
    ("\u{3400}", "\u{4db5}"),
    ("\u{4e00}", "\u{9fa5}"),
    ("\u{9fa6}", "\u{9fbb}"),
    ("\u{f900}", "\u{fa2d}"),
    ("\u{fa30}", "\u{fa6a}"),
    ("\u{fa70}", "\u{fad9}"),
    ("\u{2000}0", "\u{2a6d}6"),
    ("\u{2f80}0", "\u{2fa1}d"),
    ("\u{ff00}", "\u{ffef}"),
    ("\u{2e80}", "\u{2eff}"),
    ("\u{3000}", "\u{303f}"),
    ("\u{31c0}", "\u{31ef}"),
    ("\u{2f00}", "\u{2fdf}"),
    ("\u{2ff0}", "\u{2fff}"),
    ("\u{3100}", "\u{312f}"),
    ("\u{31a0}", "\u{31bf}"),
    ("\u{fe10}", "\u{fe1f}"),
    ("\u{fe30}", "\u{fe4f}"),
    ("\u{2600}", "\u{26ff}"),
    ("\u{2700}", "\u{27bf}"),
    ("\u{3200}", "\u{32ff}"),
    ("\u{3300}", "\u{33ff}"),
];

fn is_chinese(c: char) -> bool {
    let mut buf = [0u8; 4];
    let s: &str = c.encode_utf8(&mut buf);
    // UTF-8 byte order is code point order: Python's string comparison.
    ZH_RANGES.iter().any(|(start, end)| *start <= s && s <= *end)
}

/// `line` tokenized as sacreBLEU's `zh` tokenizer does: stripped, every Chinese character
/// (`ZH_RANGES`) surrounded by spaces, then the punctuation rules of `13a` (without its
/// `<skipped>` and entity handling).
pub fn tokenize_zh(line: &str) -> String {
    let line = line.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c));
    let mut spaced = String::with_capacity(line.len() * 2);
    for c in line.chars() {
        if is_chinese(c) {
            spaced.push(' ');
            spaced.push(c);
            spaced.push(' ');
        } else {
            spaced.push(c);
        }
    }
    regexp_tokenize(&spaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctuation_is_split_off_but_numbers_keep_their_points() {
        assert_eq!(
            tokenize_13a("Hello, world! It costs $3.50 (about 3,000-4,000 yen)."),
            "Hello , world ! It costs $ 3.50 ( about 3,000 - 4,000 yen ) ."
        );
        assert_eq!(tokenize_13a("&quot;A&amp;B&quot; <skipped>ok"), "\" A & B \" ok");
    }
}
