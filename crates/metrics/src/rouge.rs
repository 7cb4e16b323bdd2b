//! ROUGE as Google's `rouge-score` computes it (`rouge_scorer.RougeScorer`, no stemmer): text
//! lower-cased, every run of characters other than `a-z0-9` a separator (so text in other
//! scripts has no tokens: a Chinese-aware tokenization is still to come); ROUGE-N on clipped
//! n-gram counts, ROUGE-L on the longest common subsequence, ROUGE-Lsum on the union LCS of
//! each target line against every prediction line (lines split on `\n`).

use std::collections::HashMap;

/// Precision, recall and F1 (0–1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RougeScore {
    pub precision: f64,
    pub recall: f64,
    pub fmeasure: f64,
}

fn score(precision: f64, recall: f64) -> RougeScore {
    let fmeasure = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
    RougeScore { precision, recall, fmeasure }
}

impl RougeScore {
    /// Nothing in common (or nothing to compare).
    pub const ZERO: RougeScore = RougeScore { precision: 0.0, recall: 0.0, fmeasure: 0.0 };
}

const ZERO: RougeScore = RougeScore::ZERO;

/// `rouge-score`'s default tokenizer.
pub fn rouge_tokenize(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let mut tokens = Vec::new();
    let mut current = String::new();
    for c in lower.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            current.push(c);
        } else if !current.is_empty() {
            tokens.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

fn ngrams(tokens: &[String], n: usize) -> HashMap<&[String], u64> {
    let mut out = HashMap::new();
    if n > 0 && tokens.len() >= n {
        for w in tokens.windows(n) {
            *out.entry(w).or_insert(0) += 1;
        }
    }
    out
}

/// ROUGE-N (`rouge1`, `rouge2`, …) of a prediction against its target.
pub fn rouge_n(target: &str, prediction: &str, n: usize) -> RougeScore {
    let (t, p) = (rouge_tokenize(target), rouge_tokenize(prediction));
    let (tn, pn) = (ngrams(&t, n), ngrams(&p, n));
    let overlap: u64 = tn.iter().map(|(g, c)| (*c).min(pn.get(g).copied().unwrap_or(0))).sum();
    let (t_count, p_count): (u64, u64) = (tn.values().sum(), pn.values().sum());
    score(overlap as f64 / p_count.max(1) as f64, overlap as f64 / t_count.max(1) as f64)
}

fn lcs_table(a: &[String], b: &[String]) -> Vec<Vec<u32>> {
    let mut t = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            t[i][j] = if a[i - 1] == b[j - 1] { t[i - 1][j - 1] + 1 } else { t[i - 1][j].max(t[i][j - 1]) };
        }
    }
    t
}

/// ROUGE-L of a prediction against its target.
pub fn rouge_l(target: &str, prediction: &str) -> RougeScore {
    let (t, p) = (rouge_tokenize(target), rouge_tokenize(prediction));
    if t.is_empty() || p.is_empty() {
        return ZERO;
    }
    let lcs = lcs_table(&t, &p)[t.len()][p.len()] as f64;
    score(lcs / p.len() as f64, lcs / t.len() as f64)
}

/// Indices into `reference` of one LCS with `candidate` (`rouge-score`'s backtracking).
fn lcs_indices(reference: &[String], candidate: &[String]) -> Vec<usize> {
    let t = lcs_table(reference, candidate);
    let (mut i, mut j) = (reference.len(), candidate.len());
    let mut out = Vec::new();
    while i > 0 && j > 0 {
        if reference[i - 1] == candidate[j - 1] {
            out.push(i - 1);
            i -= 1;
            j -= 1;
        } else if t[i][j - 1] > t[i - 1][j] {
            j -= 1;
        } else {
            i -= 1;
        }
    }
    out.reverse();
    out
}

/// ROUGE-Lsum: summary-level LCS over the lines of target and prediction.
pub fn rouge_lsum(target: &str, prediction: &str) -> RougeScore {
    let lines = |text: &str| -> Vec<Vec<String>> { text.split('\n').filter(|l| !l.is_empty()).map(rouge_tokenize).collect() };
    let (refs, cands) = (lines(target), lines(prediction));
    if refs.is_empty() || cands.is_empty() {
        return ZERO;
    }
    let m: usize = refs.iter().map(Vec::len).sum();
    let n: usize = cands.iter().map(Vec::len).sum();
    if m == 0 || n == 0 {
        return ZERO;
    }
    let mut counts_r: HashMap<&str, i64> = HashMap::new();
    let mut counts_c: HashMap<&str, i64> = HashMap::new();
    for t in refs.iter().flatten() {
        *counts_r.entry(t).or_insert(0) += 1;
    }
    for t in cands.iter().flatten() {
        *counts_c.entry(t).or_insert(0) += 1;
    }
    let mut hits = 0u64;
    for r in &refs {
        let mut union: Vec<usize> = cands.iter().flat_map(|c| lcs_indices(r, c)).collect();
        union.sort_unstable();
        union.dedup();
        for i in union {
            let token = r[i].as_str();
            let (cc, cr) = (counts_c.get(token).copied().unwrap_or(0), counts_r.get(token).copied().unwrap_or(0));
            if cc > 0 && cr > 0 {
                hits += 1;
                *counts_c.get_mut(token).expect("counted") -= 1;
                *counts_r.get_mut(token).expect("counted") -= 1;
            }
        }
    }
    score(hits as f64 / n as f64, hits as f64 / m as f64)
}
