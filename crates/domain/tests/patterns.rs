//! The patterns the OpenAPI document states agree with the rules the server enforces: on
//! hand-picked edges and on many generated strings, a pattern matches exactly the inputs its
//! rule accepts.

use domain::validate::{self, EMAIL_PATTERN, FILE_NAME_PATTERN, NAME_PATTERN, SHA256_PATTERN};
use regex::Regex;

/// Characters that sit on the rules' edges: white space the trim removes, control characters
/// (some of them white space too), the separators each rule cares about, and plain letters.
const PALETTE: &[char] = &[
    'a', 'B', '7', '中', 'é', ' ', '\t', '\n', '\r', '\u{0b}', '\u{85}', '\u{a0}', '\u{2003}', '\u{3000}', '\u{1c}', '\u{0}', '\u{7f}',
    '\u{9f}', '\u{200b}', '@', '.', '/', '\\', '-', 'f', '0',
];

fn generated(count: usize, max_len: usize) -> Vec<String> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let len = (next() % (max_len as u64 + 1)) as usize;
            (0..len).map(|_| PALETTE[(next() % PALETTE.len() as u64) as usize]).collect()
        })
        .collect()
}

fn agree(pattern: &str, accepts: impl Fn(&str) -> bool, edges: &[&str], max_len: usize) {
    let re = Regex::new(pattern).expect("the pattern compiles");
    let mut cases: Vec<String> = edges.iter().map(|s| s.to_string()).collect();
    cases.extend(generated(20_000, max_len));
    for s in &cases {
        assert_eq!(re.is_match(s), accepts(s), "pattern {pattern} and the rule disagree on {s:?}");
    }
}

#[test]
fn the_name_pattern_is_the_name_rule() {
    let edges = ["Ada", " Ada ", "", "   ", "a\u{0}b", "\ta\n", "\u{85}a\u{85}", "a\u{85}b", "a b"];
    // Up to 100 characters, the length rule is not in play; the pattern states the rest.
    agree(NAME_PATTERN, |s| validate::name("name", s).is_ok(), &edges, 12);
}

#[test]
fn the_email_pattern_is_the_email_rule() {
    let edges = ["a@b.c", " a@b.c\n", "a@b", "a@.b", "a@b.", "@b.c", "a@@b.c", "a b@c.d", "a@b..c", "A@B.C"];
    agree(EMAIL_PATTERN, |s| validate::email("email", s).is_ok(), &edges, 12);
}

#[test]
fn the_file_name_pattern_is_the_file_name_rule() {
    let long = "x".repeat(255);
    let too_long = "x".repeat(256);
    let edges = [
        "a.jsonl",
        "C:\\fakepath\\a.jsonl",
        "dir/",
        ".",
        "..",
        "...",
        "x/..",
        " . ",
        ".a",
        "a.",
        "\u{0}/a",
        "a\u{0}",
        long.as_str(),
        too_long.as_str(),
    ];
    agree(FILE_NAME_PATTERN, |s| validate::file_name("filename", s).is_ok(), &edges, 8);
}

#[test]
fn the_sha256_pattern_is_the_sha256_rule() {
    let hex = "0123456789abcdef".repeat(4);
    let edges = [hex.clone(), format!(" {hex}\n"), hex[1..].to_string(), format!("{hex}0"), hex.replace('a', "g")];
    let edges: Vec<&str> = edges.iter().map(String::as_str).collect();
    agree(SHA256_PATTERN, |s| validate::sha256("sha256", s).is_ok(), &edges, 4);
}
