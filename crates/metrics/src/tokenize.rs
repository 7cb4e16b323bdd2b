//! sacreBLEU's `13a` tokenizer (mteval-v13a): the default for BLEU.

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
    let r = rules();
    let line = format!(" {line} ");
    let line = r.punctuation.replace_all(&line, " $1 ");
    let line = r.period_comma_after_non_digit.replace_all(&line, "$1 $2 ");
    let line = r.period_comma_before_non_digit.replace_all(&line, " $1 $2");
    let line = r.dash_after_digit.replace_all(&line, "$1 $2 ");
    // Python's str.split(): runs of whitespace, none at the ends.
    line.split(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ")
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
