//! Exact match and token-level F1 as the official SQuAD v1.1 evaluation script computes them:
//! both texts normalised (lower case, ASCII punctuation removed, the articles `a`, `an`, `the`
//! removed, whitespace collapsed), F1 over the multiset of whitespace tokens; against several
//! references, the best.

fn normalize(text: &str) -> String {
    use crate::tokenize::ASCII_PUNCTUATION as PUNCTUATION;
    let lower = text.to_lowercase();
    let without_punct: String = lower.chars().filter(|c| !PUNCTUATION.contains(*c)).collect();
    // `re.sub(r'\b(a|an|the)\b', ' ', text)` then `' '.join(text.split())`.
    let spaced = articles().replace_all(&without_punct, " ");
    crate::tokenize::python_split(&spaced).collect::<Vec<_>>().join(" ")
}

fn articles() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"\b(a|an|the)\b").expect("a valid pattern"))
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
    let mut counts: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
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
