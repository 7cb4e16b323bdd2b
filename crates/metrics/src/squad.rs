//! Exact match and token-level F1 as the official SQuAD v1.1 evaluation script computes them:
//! both texts normalised (lower case, ASCII punctuation removed, the articles `a`, `an`, `the`
//! removed, whitespace collapsed), F1 over the multiset of whitespace tokens; against several
//! references, the best.

fn normalize(text: &str) -> String {
    use crate::tokenize::ASCII_PUNCTUATION as PUNCTUATION;
    let lower = text.to_lowercase();
    let without_punct: String = lower.chars().filter(|c| !PUNCTUATION.contains(*c)).collect();
    // `re.sub(r'\b(a|an|the)\b', ' ', text)`: a match starts and ends at word boundaries, so it
    // is a whole run of word characters equal to an article; then `' '.join(text.split())`.
    let mut spaced = String::with_capacity(without_punct.len());
    let mut rest = without_punct.as_str();
    while !rest.is_empty() {
        let word = rest.find(|c: char| !is_word(c)).unwrap_or(rest.len());
        if word > 0 {
            let run = &rest[..word];
            spaced.push_str(if matches!(run, "a" | "an" | "the") { " " } else { run });
            rest = &rest[word..];
        } else {
            let other = rest.find(is_word).unwrap_or(rest.len());
            spaced.push_str(&rest[..other]);
            rest = &rest[other..];
        }
    }
    let mut out = String::with_capacity(spaced.len());
    for token in crate::tokenize::python_split(&spaced) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(token);
    }
    out
}

/// Python's `\w` in a `str` pattern: alphanumeric characters and the underscore.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// 1.0 when the normalised prediction equals a normalised reference, else 0.0.
pub fn exact_match(prediction: &str, references: &[&str]) -> f64 {
    let p = normalize(prediction);
    if references.iter().any(|r| normalize(r) == p) {
        1.0
    } else {
        0.0
    }
}

fn f1_one(prediction: &str, reference: &str) -> f64 {
    let (p, r) = (normalize(prediction), normalize(reference));
    let (pt, rt): (Vec<&str>, Vec<&str>) =
        (p.split(' ').filter(|t| !t.is_empty()).collect(), r.split(' ').filter(|t| !t.is_empty()).collect());
    let mut counts: crate::fxhash::FxHashMap<&str, i64> = Default::default();
    for t in &rt {
        *counts.entry(t).or_insert(0) += 1;
    }
    let mut same = 0i64;
    for t in &pt {
        if let Some(c) = counts.get_mut(t) {
            if *c > 0 {
                *c -= 1;
                same += 1;
            }
        }
    }
    if same == 0 {
        return 0.0;
    }
    let precision = same as f64 / pt.len() as f64;
    let recall = same as f64 / rt.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// Token-level F1 of a prediction, the best over its references.
pub fn token_f1(prediction: &str, references: &[&str]) -> f64 {
    references.iter().map(|r| f1_one(prediction, r)).fold(0.0, f64::max)
}
