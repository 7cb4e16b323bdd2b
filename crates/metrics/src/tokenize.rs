//! sacreBLEU's tokenizers for BLEU: `13a` (mteval-v13a, the default) and `zh` (every Chinese
//! character a token, the rest as `13a` splits it).

/// `line` tokenized as sacreBLEU's `13a` tokenizer does: `<skipped>` removed, the XML
/// entities `&quot; &amp; &lt; &gt;` unescaped, punctuation split off (periods and commas only
/// next to a non-digit, dashes after a digit), tokens joined by single spaces.
pub fn tokenize_13a(line: &str) -> String {
    let mut line = std::borrow::Cow::Borrowed(line);
    if line.contains("<skipped>") {
        line = line.replace("<skipped>", "").into();
    }
    if line.contains('\n') {
        line = line.replace("-\n", "").replace('\n', " ").into();
    }
    if line.contains('&') {
        line = line.replace("&quot;", "\"").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").into();
    }
    // sacreBLEU pads the line with a space each side (a leading `.5` then splits as `. 5`).
    regexp_tokenize(&format!(" {line} "))
}

/// sacreBLEU's punctuation class `[\{-\~\[-\` -\&\(-\+\:-\@\/]`: `{|}~ [\]^_` space!"#$%&
/// ()*+ :;<=>?@ /`.
fn is_13a_punctuation(c: char) -> bool {
    matches!(c, '{'..='~' | '['..='`' | ' '..='&' | '('..='+' | ':'..='@' | '/')
}

/// sacreBLEU's `TokenizerRegexp`, its four substitutions done as the regular expressions do
/// them (leftmost, non-overlapping, each over the previous one's output) by hand, then split on
/// whitespace and joined by single spaces:
/// `([{-~\[-`\x20-&(-+:-@/])` → ` $1 `; `([^0-9])([.,])` → `$1 $2 `; `([.,])([^0-9])` →
/// ` $1 $2`; `([0-9])(-)` → `$1 $2 `.
fn regexp_tokenize(line: &str) -> String {
    let mut spaced = String::with_capacity(line.len() + line.len() / 2);
    for c in line.chars() {
        if is_13a_punctuation(c) {
            spaced.push(' ');
            spaced.push(c);
            spaced.push(' ');
        } else {
            spaced.push(c);
        }
    }
    let mut line = spaced;
    if line.contains(['.', ',']) {
        line = pairs(&line, |a, b| !a.is_ascii_digit() && matches!(b, b'.' | b','), |out, a, b| out.extend([a, b' ', b, b' ']));
        line = pairs(&line, |a, b| matches!(a, b'.' | b',') && !b.is_ascii_digit(), |out, a, b| out.extend([b' ', a, b' ', b]));
    }
    if line.contains('-') {
        line = pairs(&line, |a, b| a.is_ascii_digit() && b == b'-', |out, a, b| out.extend([a, b' ', b, b' ']));
    }
    let mut out = String::with_capacity(line.len());
    for token in python_split(&line) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(token);
    }
    out
}

/// One substitution of a two-character pattern, as `re.sub` applies it: scanning left to
/// right, a matching pair is rewritten and skipped whole, so matches never overlap. Done on
/// bytes: the patterns' named characters are ASCII, and a character outside them matches
/// `[^0-9]` through its last byte only (its other bytes are followed by continuation bytes,
/// which no pattern names), so the bytes match where the characters do.
fn pairs(line: &str, matches: impl Fn(u8, u8) -> bool, rewrite: impl Fn(&mut Vec<u8>, u8, u8)) -> String {
    let bytes = line.as_bytes();
    let mut out = Vec::with_capacity(line.len() + 16);
    let mut i = 0;
    while i < bytes.len() {
        if i + 1 < bytes.len() && matches(bytes[i], bytes[i + 1]) {
            rewrite(&mut out, bytes[i], bytes[i + 1]);
            i += 2;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("spaces inserted between whole characters")
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

pub(crate) fn is_chinese(c: char) -> bool {
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

    /// sacreBLEU's own regular expressions (the implementation `regexp_tokenize` replaces).
    fn regexp_tokenize_by_regex(line: &str) -> String {
        use regex::Regex;
        static RULES: std::sync::OnceLock<[Regex; 4]> = std::sync::OnceLock::new();
        let [punctuation, after, before, dash] = RULES.get_or_init(|| {
            [r"([{-~\[-`\x20-&(-+:-@/])", r"([^0-9])([.,])", r"([.,])([^0-9])", r"([0-9])(-)"].map(|p| Regex::new(p).unwrap())
        });
        let line = punctuation.replace_all(line, " $1 ");
        let line = after.replace_all(&line, "$1 $2 ");
        let line = before.replace_all(&line, " $1 $2");
        let line = dash.replace_all(&line, "$1 $2 ");
        python_split(&line).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn the_hand_written_substitutions_equal_the_regular_expressions() {
        let alphabet: Vec<char> = "ab9 0.,.-,-1..,,--xy$(\n\t)\"&;/{}~[]^_`中文，。é\u{2003}".chars().collect();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..20_000 {
            let mut line = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 24) as usize;
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                line.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            assert_eq!(regexp_tokenize(&line), regexp_tokenize_by_regex(&line), "{line:?}");
        }
    }

    #[test]
    fn punctuation_is_split_off_but_numbers_keep_their_points() {
        assert_eq!(
            tokenize_13a("Hello, world! It costs $3.50 (about 3,000-4,000 yen)."),
            "Hello , world ! It costs $ 3.50 ( about 3,000 - 4,000 yen ) ."
        );
        assert_eq!(tokenize_13a("&quot;A&amp;B&quot; <skipped>ok"), "\" A & B \" ok");
    }
}
