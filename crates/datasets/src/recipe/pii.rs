//! `mask_pii`: finds personal data in a text and replaces it with typed tokens (`[EMAIL]`, …).
//!
//! Every detector is a candidate regular expression followed by checks, tuned for precision:
//! dates, order and invoice numbers, prices, timestamps, ISBNs and version strings are left
//! alone. Numbers must stand alone: a candidate is refused when an ASCII letter, digit or `_`
//! touches it, or when `-` `.` `/` joins it to more digits (`…-2024-…`, `1.2.3.4.5`).
//! Chinese text around a number does not attach to it (`手机13812345678` is found).
//!
//! - **EMAIL**: `local@domain.tld`, ASCII (the local part starts with a letter or digit; the
//!   top-level domain is 2–24 letters).
//! - **PHONE**: mainland-China mobiles `1[3-9]` + 9 digits, grouped 3-4-4 by spaces or
//!   dashes or not at all, optionally after `+86`, `0086` or `86`; North-American numbers with
//!   separators (`(212) 555-0123`, `212-555-0123`, `212.555.0123`, optionally after `+1`/`1-`;
//!   area code and exchange start with 2–9) — ten bare digits are not taken for a phone; and
//!   international `+CC …` numbers: `+`, a 1–3 digit country code, groups separated by single
//!   spaces, dashes or dots (or none), 8–15 digits in all (E.164); trailing groups that would
//!   break that rule are left out.
//! - **CN_ID**: 18 characters (17 digits and a digit or `X`), the first two digits a province
//!   code (11–15, 21–23, 31–37, 41–46, 50–54, 61–65, 71, 81–83), digits 7–14 a real date
//!   between 1900 and 2099, and the ISO 7064 MOD 11-2 check character.
//! - **BANK_CARD**: 13–19 digits, bare or grouped by one kind of separator (4-4-4-4, 4-4-4-4-1…3,
//!   4-4-4-1…3, Amex 4-6-5 and 4-6-4), Luhn-valid, starting like a payment card (3, 4, 5, 6, or
//!   2221–2720: `2023…`-style dated numbers are not cards), and not labelled as something else
//!   within the 16 characters before it (order, invoice, tracking, ISBN, serial, SKU, ticket,
//!   ID number, 订单, 单号, 发票, 运单, 物流, 快递, 流水, 序列号, 条码, 编号, 证件, 身份证).
//! - **IPV4**: four decimal octets ≤ 255 without leading zeros (`std::net::Ipv4Addr`), not
//!   followed by `.digit` (a version `1.2.3.4.5`), and not right after a version keyword
//!   (version, ver., release, build, firmware, kernel, 版本, 固件, 内核; only spaces, `:`, `=`
//!   or `#` between). A port (`:8080`) or prefix length (`/24`) after it stays.
//! - **IPV6**: a candidate of hex groups and colons (full, `::`-compressed, or with an embedded
//!   IPv4 tail) that `std::net::Ipv6Addr` parses and that holds at least one digit (so `a::b`,
//!   `dead::beef` and `std::io` stay).
//! - **Custom rules** (`[EMPLOYEE_ID]`): every match of the rule's pattern, as written.
//!
//! When matches overlap, the leftmost wins, then the longest, then the order above (custom
//! rules first, then EMAIL, CN_ID, BANK_CARD, PHONE, IPV6, IPV4).

use std::net::{Ipv4Addr, Ipv6Addr};

use regex::Regex;

use super::config::{compile_regex, MaskPii, PiiKind};
use super::RecipeError;

/// One piece of personal data found in a text: byte offsets and the token's name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PiiSpan {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset after the last byte.
    pub end: usize,
    /// `EMAIL`, `PHONE`, `CN_ID`, `BANK_CARD`, `IPV4`, `IPV6` or a custom rule's name.
    pub kind: String,
}

const EMAIL: &str =
    r"[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}";
const CN_ID: &str = r"[1-9][0-9]{16}[0-9Xx]";
const BANK_CARD: &str = r"[0-9]{4}[ -][0-9]{6}[ -][0-9]{4,5}|[0-9]{4}(?:[ -][0-9]{4}){2}(?:[ -][0-9]{4})?(?:[ -][0-9]{1,3})?|[0-9]{13,19}";
const PHONE_CN: &str = r"(?:(?:\+|00)86[ -]?|86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]{4}){2}";
const PHONE_NANP: &str = r"(?:\+1[ .-]?|1[ .-])?(?:\([2-9][0-9]{2}\)[ .-]?|[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}";
const PHONE_INTL: &str = r"\+[1-9][0-9]{6,14}|\+[1-9][0-9]{0,2}(?:[ .-]?\([0-9]{1,4}\))?[ .-]?[0-9]{1,14}(?:[ .-][0-9]{2,14}){0,6}";
const IPV4: &str = r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}";
const IPV6: &str = r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,8}(?:(?:\.[0-9]{1,3}){3})?";

const NOT_A_CARD: &[&str] = &[
    "order",
    "invoice",
    "tracking",
    "isbn",
    "serial",
    "sku",
    "ticket",
    "id number",
    "id no",
    "订单",
    "单号",
    "发票",
    "运单",
    "物流",
    "快递",
    "流水",
    "序列号",
    "条码",
    "编号",
    "证件",
    "身份证",
];
const VERSION_WORDS: &[&str] = &["version", "ver.", "release", "build", "firmware", "kernel", "版本", "固件", "内核"];
const CONTEXT_CHARS: usize = 16;
const PROVINCES: &[u8] = &[
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
    83,
];

/// Priority when spans tie (lower first).
const P_CUSTOM: u8 = 0;
const P_EMAIL: u8 = 1;
const P_CN_ID: u8 = 2;
const P_BANK_CARD: u8 = 3;
const P_PHONE: u8 = 4;
const P_IPV6: u8 = 5;
const P_IPV4: u8 = 6;

#[derive(Debug, Clone, Copy)]
struct Candidate {
    start: usize,
    end: usize,
    /// Index into `PiiMasker::labels`.
    label: usize,
    priority: u8,
}

/// Finds and masks personal data for one `mask_pii` configuration.
#[derive(Debug)]
pub struct PiiMasker {
    labels: Vec<String>,
    tokens: Vec<String>,
    email: Option<(usize, Regex)>,
    cn_id: Option<(usize, Regex)>,
    bank_card: Option<(usize, Regex)>,
    phone: Option<(usize, [Regex; 3])>,
    ipv4: Option<(usize, Regex)>,
    ipv6: Option<(usize, Regex)>,
    custom: Vec<(usize, Regex)>,
}

impl PiiMasker {
    /// Compiles the detectors of `config`; fails on a custom rule that does not compile.
    pub fn new(config: &MaskPii) -> Result<PiiMasker, RecipeError> {
        let mut masker = PiiMasker {
            labels: Vec::new(),
            tokens: Vec::new(),
            email: None,
            cn_id: None,
            bank_card: None,
            phone: None,
            ipv4: None,
            ipv6: None,
            custom: Vec::new(),
        };
        let builtin = |p: &str| Regex::new(p).map_err(|e| RecipeError::Internal(format!("built-in PII pattern: {e}")));
        for kind in PiiKind::ALL {
            if !config.kinds.contains(&kind) {
                continue;
            }
            let label = masker.add_label(kind.label());
            match kind {
                PiiKind::Email => masker.email = Some((label, builtin(EMAIL)?)),
                PiiKind::CnId => masker.cn_id = Some((label, builtin(CN_ID)?)),
                PiiKind::BankCard => masker.bank_card = Some((label, builtin(BANK_CARD)?)),
                PiiKind::Phone => masker.phone = Some((label, [builtin(PHONE_CN)?, builtin(PHONE_NANP)?, builtin(PHONE_INTL)?])),
                PiiKind::Ipv4 => masker.ipv4 = Some((label, builtin(IPV4)?)),
                PiiKind::Ipv6 => masker.ipv6 = Some((label, builtin(IPV6)?)),
            }
        }
        for (j, rule) in config.custom.iter().enumerate() {
            let regex = compile_regex(&rule.pattern).map_err(|message| {
                RecipeError::Invalid(super::config::RecipeCheckError {
                    step: None,
                    step_name: Some("mask_pii".to_owned()),
                    field: format!("custom[{j}].pattern"),
                    message,
                    unprocessable: true,
                })
            })?;
            let label = masker.add_label(&rule.name);
            masker.custom.push((label, regex));
        }
        Ok(masker)
    }

    fn add_label(&mut self, name: &str) -> usize {
        self.labels.push(name.to_owned());
        self.tokens.push(format!("[{name}]"));
        self.labels.len() - 1
    }

    /// The names this masker reports, in label order (built-in kinds, then custom rules).
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The personal data in `text`, in order, not overlapping (byte offsets).
    pub fn find(&self, text: &str) -> Vec<PiiSpan> {
        self.spans(text).into_iter().map(|c| PiiSpan { start: c.start, end: c.end, kind: self.labels[c.label].clone() }).collect()
    }

    /// `text` with its personal data replaced by tokens, and the number of replacements per
    /// label (indices as in [`PiiMasker::labels`]); `None` when nothing was found.
    pub fn mask(&self, text: &str, counts: &mut [u64]) -> Option<String> {
        self.mask_at(text, counts).map(|(masked, _)| masked)
    }

    /// As [`PiiMasker::mask`], with the byte offset of the first token in the result.
    pub(crate) fn mask_at(&self, text: &str, counts: &mut [u64]) -> Option<(String, usize)> {
        let spans = self.spans(text);
        let first = spans.first()?.start;
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for c in spans {
            out.push_str(&text[at..c.start]);
            out.push_str(&self.tokens[c.label]);
            if let Some(n) = counts.get_mut(c.label) {
                *n += 1;
            }
            at = c.end;
        }
        out.push_str(&text[at..]);
        Some((out, first))
    }

    fn spans(&self, text: &str) -> Vec<Candidate> {
        let mut found = Vec::new();
        // Every detector but the custom rules needs an ASCII digit or `@`.
        let worth = text.bytes().any(|b| b.is_ascii_digit() || b == b'@');
        for (label, regex) in &self.custom {
            for m in regex.find_iter(text).filter(|m| !m.is_empty()) {
                found.push(Candidate { start: m.start(), end: m.end(), label: *label, priority: P_CUSTOM });
            }
        }
        if !worth {
            return resolve(found);
        }
        if let Some((label, regex)) = &self.email {
            for m in regex.find_iter(text) {
                found.push(Candidate { start: m.start(), end: m.end(), label: *label, priority: P_EMAIL });
            }
        }
        if let Some((label, regex)) = &self.cn_id {
            for m in regex.find_iter(text) {
                if !attached(text, m.start(), m.end()) && valid_cn_id(m.as_str()) {
                    found.push(Candidate { start: m.start(), end: m.end(), label: *label, priority: P_CN_ID });
                }
            }
        }
        if let Some((label, regex)) = &self.bank_card {
            for m in regex.find_iter(text) {
                if let Some(end) = bank_card(text, m.start(), m.end()) {
                    found.push(Candidate { start: m.start(), end, label: *label, priority: P_BANK_CARD });
                }
            }
        }
        if let Some((label, [cn, nanp, intl])) = &self.phone {
            for regex in [cn, nanp] {
                for m in regex.find_iter(text) {
                    if !attached(text, m.start(), m.end()) {
                        found.push(Candidate { start: m.start(), end: m.end(), label: *label, priority: P_PHONE });
                    }
                }
            }
            for m in intl.find_iter(text) {
                if let Some(end) = international_phone(text, m.start(), m.end()) {
                    found.push(Candidate { start: m.start(), end, label: *label, priority: P_PHONE });
                }
            }
        }
        if let Some((label, regex)) = &self.ipv6 {
            for m in regex.find_iter(text) {
                if let Some((start, end)) = ipv6(text, m.start(), m.end()) {
                    found.push(Candidate { start, end, label: *label, priority: P_IPV6 });
                }
            }
        }
        if let Some((label, regex)) = &self.ipv4 {
            for m in regex.find_iter(text) {
                if ipv4(text, m.start(), m.end()) {
                    found.push(Candidate { start: m.start(), end: m.end(), label: *label, priority: P_IPV4 });
                }
            }
        }
        resolve(found)
    }
}

/// Leftmost, then longest, then by priority; overlapping candidates lose.
fn resolve(mut found: Vec<Candidate>) -> Vec<Candidate> {
    found.sort_by_key(|c| (c.start, std::cmp::Reverse(c.end), c.priority));
    let mut out: Vec<Candidate> = Vec::with_capacity(found.len());
    for c in found {
        if out.last().is_none_or(|last| c.start >= last.end) {
            out.push(c);
        }
    }
    out
}

fn is_word(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_digit(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_digit())
}

/// The two characters before `start` and after `end`.
fn neighbours(text: &str, start: usize, end: usize) -> ([Option<char>; 2], [Option<char>; 2]) {
    let mut back = text[..start].chars().rev();
    let mut fwd = text[end..].chars();
    ([back.next(), back.next()], [fwd.next(), fwd.next()])
}

/// Whether the number `text[start..end]` is part of a longer token.
fn attached(text: &str, start: usize, end: usize) -> bool {
    let ([p1, p2], [n1, n2]) = neighbours(text, start, end);
    is_word(p1)
        || is_word(n1)
        || (matches!(p1, Some('-' | '.' | '/')) && is_digit(p2))
        || (matches!(p1, Some('-' | '/')) && is_word(p2))
        || (matches!(n1, Some('-' | '.' | '/')) && is_word(n2))
}

/// Whether one of `words` appears within the [`CONTEXT_CHARS`] characters before `start`
/// (an ASCII word only where it starts a word: `order`, not `border`).
fn labelled(text: &str, start: usize, words: &[&str]) -> bool {
    let before = tail_lowercase(text, start, CONTEXT_CHARS);
    words.iter().any(|w| {
        before
            .match_indices(w)
            .any(|(i, _)| !w.starts_with(|c: char| c.is_ascii_alphabetic()) || !before[..i].ends_with(|c: char| c.is_ascii_alphabetic()))
    })
}

/// Whether the number at `start` directly follows a version keyword (`version 1.2.3.4`,
/// `版本：2.1.0.3`): only spaces, `:`, `：`, `=` or `#` between them.
fn after_version_word(text: &str, start: usize) -> bool {
    let head = tail_lowercase(text, start, 24);
    let head = head.trim_end_matches([' ', '\t', ':', '：', '=', '#']);
    VERSION_WORDS.iter().any(|w| head.ends_with(w) && !head[..head.len() - w.len()].ends_with(|c: char| c.is_ascii_alphabetic()))
}

/// The last `n` characters before `start`, lowercased.
fn tail_lowercase(text: &str, start: usize, n: usize) -> String {
    let mut tail: Vec<char> = text[..start].chars().rev().take(n).collect();
    tail.reverse();
    tail.into_iter().flat_map(char::to_lowercase).collect()
}

/// Byte lengths of `candidate` to try: all of it, then cut before each separator followed by
/// a digit, longest first.
fn group_prefixes(candidate: &str) -> impl Iterator<Item = usize> + '_ {
    let bytes = candidate.as_bytes();
    let cuts =
        (1..bytes.len()).rev().filter(move |&i| matches!(bytes[i], b' ' | b'-' | b'.') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit));
    std::iter::once(bytes.len()).chain(cuts)
}

fn valid_cn_id(id: &str) -> bool {
    let b = id.as_bytes();
    if b.len() != 18 {
        return false;
    }
    let num = |range: std::ops::Range<usize>| id[range].parse::<u32>().unwrap_or(0);
    if !PROVINCES.contains(&(num(0..2) as u8)) {
        return false;
    }
    let (year, month, day) = (num(6..10), num(10..12), num(12..14));
    if !(1900..=2099).contains(&year) || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return false;
    }
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = b[..17].iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    let expected = b"10X98765432"[(sum % 11) as usize];
    b[17].to_ascii_uppercase() == expected
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => 29,
        _ => 28,
    }
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The end of the bank card starting at `start` (the candidate, or a shorter whole-group
/// prefix of it), if any.
fn bank_card(text: &str, start: usize, end: usize) -> Option<usize> {
    if labelled(text, start, NOT_A_CARD) {
        return None;
    }
    let candidate = &text[start..end];
    for len in group_prefixes(candidate) {
        let part = &candidate[..len];
        let separators: Vec<u8> = part.bytes().filter(|b| !b.is_ascii_digit()).collect();
        if separators.windows(2).any(|w| w[0] != w[1]) {
            continue;
        }
        let digits: Vec<u8> = part.bytes().filter(u8::is_ascii_digit).collect();
        if !(13..=19).contains(&digits.len()) || attached(text, start, start + len) {
            continue;
        }
        let network = match digits[0] {
            b'3'..=b'6' => true,
            b'2' => (2221..=2720).contains(&std::str::from_utf8(&digits[..4]).ok()?.parse::<u32>().ok()?),
            _ => false,
        };
        return (network && luhn(&digits)).then_some(start + len);
    }
    None
}

/// The end of the `+CC …` number starting at `start`, if any.
fn international_phone(text: &str, start: usize, end: usize) -> Option<usize> {
    let candidate = &text[start..end];
    group_prefixes(candidate)
        .find(|&len| {
            let digits = candidate[..len].bytes().filter(u8::is_ascii_digit).count();
            (8..=15).contains(&digits) && !attached(text, start, start + len)
        })
        .map(|len| start + len)
}

fn ipv4(text: &str, start: usize, end: usize) -> bool {
    if text[start..end].parse::<Ipv4Addr>().is_err() || after_version_word(text, start) {
        return false;
    }
    let ([p1, p2], [n1, n2]) = neighbours(text, start, end);
    let joined = is_word(p1)
        || is_word(n1)
        || (p1 == Some('.') && is_digit(p2))
        || (n1 == Some('.') && is_digit(n2))
        || (n1 == Some('-') && is_word(n2));
    !joined
}

/// The IPv6 address in the candidate `text[start..end]`, if any. A stray trailing colon is
/// left out; when the candidate as found fails, its first group (or a single leading colon)
/// is taken for part of the text before it (`IPv6:2001:db8::1`) and the rest is tried.
fn ipv6(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let candidate = &text[start..end];
    let e = if candidate.ends_with(':') && !candidate.ends_with("::") { end - 1 } else { end };
    let rest = candidate.find(':').filter(|&i| i > 0 || !candidate.starts_with("::")).map(|i| start + i + 1);
    [Some(start), rest].into_iter().flatten().find_map(|s| {
        let address = text.get(s..e)?;
        if !address.bytes().any(|b| b.is_ascii_digit()) || address.parse::<Ipv6Addr>().is_err() {
            return None;
        }
        let ([p1, _], [n1, n2]) = neighbours(text, s, e);
        let joined_before = s == start && (is_word(p1) || matches!(p1, Some('.' | ':')));
        let joined_after = is_word(n1) || (n1 == Some(':') && e == end) || (n1 == Some('.') && is_digit(n2));
        (!joined_before && !joined_after).then_some((s, e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masker() -> PiiMasker {
        PiiMasker::new(&MaskPii::default()).unwrap()
    }

    fn kinds(text: &str) -> Vec<(String, String)> {
        masker().find(text).into_iter().map(|s| (s.kind, text[s.start..s.end].to_owned())).collect()
    }

    #[test]
    fn check_digits() {
        assert!(valid_cn_id("11010519491231002X"));
        assert!(!valid_cn_id("110105194912310021"));
        assert!(luhn(b"4111111111111111"));
        assert!(!luhn(b"4111111111111112"));
    }

    #[test]
    fn table() {
        let table: &[(&str, &[(&str, &str)])] = &[
            ("mail me at jane.doe+x@mail.example.com.", &[("EMAIL", "jane.doe+x@mail.example.com")]),
            ("手机13812345678，谢谢", &[("PHONE", "13812345678")]),
            ("call +86 138 1234 5678 now", &[("PHONE", "+86 138 1234 5678")]),
            ("call (212) 555-0123 or +44 20 7946 0958 today", &[("PHONE", "(212) 555-0123"), ("PHONE", "+44 20 7946 0958")]),
            ("身份证11010519491231002X。", &[("CN_ID", "11010519491231002X")]),
            ("card 4111 1111 1111 1111 2023年", &[("BANK_CARD", "4111 1111 1111 1111")]),
            ("order 4111111111111111", &[]),
            ("server 10.0.0.1:8080 and fe80::1%eth0", &[("IPV4", "10.0.0.1"), ("IPV6", "fe80::1")]),
            ("IPv6:2001:db8::8a2e:370:7334.", &[("IPV6", "2001:db8::8a2e:370:7334")]),
            ("version 1.2.3.4 and 1.2.3.4.5 and std::net::Ipv6Addr and 12:30:45", &[]),
            ("2023-11-25 1700000000123 ¥12,888.00 ISBN 978-7-111-54742-6", &[]),
        ];
        for (text, expected) in table {
            let expected: Vec<(String, String)> = expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            assert_eq!(kinds(text), expected, "{text}");
        }
    }

    #[test]
    fn random_text_never_panics_and_spans_sit_on_character_boundaries() {
        const PIECES: &[&str] = &[
            "1",
            "3",
            "8",
            "0",
            "9",
            "4",
            "X",
            "x",
            "a",
            "f",
            ":",
            "::",
            ".",
            "-",
            " ",
            "+",
            "@",
            "(",
            ")",
            "/",
            "号",
            "，",
            "é",
            "🙂",
            "E",
            "example.com",
            "86",
            "1.2",
            "fe80",
        ];
        let m = PiiMasker::new(&MaskPii {
            custom: vec![super::super::config::CustomPii { name: "EMPLOYEE_ID".into(), pattern: r"E\d{6}".into() }],
            ..MaskPii::default()
        })
        .unwrap();
        let mut state = 7u64;
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..40 {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                text.push_str(PIECES[(state >> 33) as usize % PIECES.len()]);
            }
            let spans = m.find(&text);
            for w in spans.windows(2) {
                assert!(w[0].end <= w[1].start, "{text:?}: {spans:?}");
            }
            for s in &spans {
                assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end) && s.start < s.end, "{text:?}: {s:?}");
            }
            let mut counts = vec![0; m.labels().len()];
            assert_eq!(m.mask(&text, &mut counts).is_some(), !spans.is_empty());
            assert_eq!(counts.iter().sum::<u64>(), spans.len() as u64);
        }
    }

    #[test]
    fn masks_with_tokens_and_counts() {
        let m = masker();
        let mut counts = vec![0; m.labels().len()];
        let out = m.mask("a@b.com, 13812345678", &mut counts).unwrap();
        assert_eq!(out, "[EMAIL], [PHONE]");
        assert_eq!(counts.iter().sum::<u64>(), 2);
        assert_eq!(m.mask("nothing here", &mut counts), None);
    }
}
