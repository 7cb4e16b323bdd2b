//! ROUGE as Google's `rouge-score` computes it (`rouge_scorer.RougeScorer`): text lower-cased,
//! every run of characters other than `a-z0-9` a separator, tokens longer than three letters
//! Porter-stemmed with `use_stemmer` ([`RougeOptions::stemmer`]); ROUGE-N on clipped n-gram
//! counts, ROUGE-L on the longest common subsequence, ROUGE-Lsum on the union LCS of each target
//! line against every prediction line (lines split on `\n`). rouge-score drops every character
//! outside `a-z0-9`, so Chinese text has no tokens at all; [`RougeOptions::chinese`] makes each
//! Chinese character (sacreBLEU's `zh` ranges) a token of its own — rouge-score's scoring with
//! that tokenizer, named in the results.

use crate::fxhash::FxHashMap;
use std::borrow::Cow;

/// How ROUGE tokenizes (the default is rouge-score's default tokenizer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RougeOptions {
    /// Porter-stem tokens longer than three letters (rouge-score's `use_stemmer=True`).
    pub stemmer: bool,
    /// Every Chinese character a token (else dropped, as rouge-score drops it).
    pub chinese: bool,
}

impl RougeOptions {
    /// How results name this tokenization.
    pub fn describe(self) -> String {
        let base = if self.chinese { "a-z0-9 runs and each Chinese character" } else { "a-z0-9 runs" };
        let stem = if self.stemmer { ", Porter stemmer (NLTK) on tokens over 3 letters" } else { ", no stemmer" };
        format!("{base}{stem}")
    }
}

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
    rouge_tokenize_with(text, RougeOptions::default())
}

/// The tokens ROUGE compares, with `options`.
pub fn rouge_tokenize_with(text: &str, options: RougeOptions) -> Vec<String> {
    let lower = lowercase(text);
    line_tokens(&lower, options).map(Cow::into_owned).collect()
}

/// Python's `str.lower()` (ASCII text the fast way).
fn lowercase(text: &str) -> std::borrow::Cow<'_, str> {
    if text.is_ascii() {
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            std::borrow::Cow::Owned(text.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(text)
        }
    } else {
        std::borrow::Cow::Owned(text.to_lowercase())
    }
}

/// The runs of `a-z0-9` of lower-cased text.
fn split_tokens(lower: &str) -> impl Iterator<Item = &str> {
    lower.split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit())).filter(|t| !t.is_empty())
}

/// The tokens of lower-cased text: runs of `a-z0-9` (stemmed when longer than three letters,
/// with the stemmer) and, with `chinese`, each Chinese character.
fn line_tokens(lower: &str, options: RougeOptions) -> Box<dyn Iterator<Item = Cow<'_, str>> + '_> {
    fn stem_if(t: &str, stemmer: bool) -> Cow<'_, str> {
        if stemmer && t.len() > 3 {
            Cow::Owned(crate::porter::porter_stem(t))
        } else {
            Cow::Borrowed(t)
        }
    }
    let stem = move |t| stem_if(t, options.stemmer);
    if !options.chinese {
        return Box::new(split_tokens(lower).map(stem));
    }
    let pieces = lower.split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || crate::tokenize::is_chinese(c)));
    Box::new(pieces.filter(|t| !t.is_empty()).flat_map(move |piece| {
        let mut out: Vec<Cow<'_, str>> = Vec::new();
        let mut start = 0;
        for (i, c) in piece.char_indices() {
            if crate::tokenize::is_chinese(c) {
                if start < i {
                    out.push(stem(&piece[start..i]));
                }
                out.push(Cow::Borrowed(&piece[i..i + c.len_utf8()]));
                start = i + c.len_utf8();
            }
        }
        if start < piece.len() {
            out.push(stem(&piece[start..]));
        }
        out
    }))
}

/// A text's tokens per line (lines split on `\n`, empty lines dropped), as ids shared with the
/// other text of the pair (`ids`).
fn lines_of<'a>(lower: &'a str, ids: &mut FxHashMap<Cow<'a, str>, u32>, options: RougeOptions) -> Vec<Vec<u32>> {
    lower
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(|line| {
            line_tokens(line, options)
                .map(|t| {
                    let next = ids.len() as u32;
                    *ids.entry(t).or_insert(next)
                })
                .collect()
        })
        .collect()
}

fn ngram_score(t: &[u32], p: &[u32], n: usize) -> RougeScore {
    fn count(tokens: &[u32], n: usize) -> FxHashMap<&[u32], u64> {
        let mut out = FxHashMap::default();
        if n > 0 && tokens.len() >= n {
            for w in tokens.windows(n) {
                *out.entry(w).or_insert(0) += 1;
            }
        }
        out
    }
    let (tn, pn) = (count(t, n), count(p, n));
    let overlap: u64 = tn.iter().map(|(g, c)| (*c).min(pn.get(g).copied().unwrap_or(0))).sum();
    let (t_count, p_count): (u64, u64) = (tn.values().sum(), pn.values().sum());
    score(overlap as f64 / p_count.max(1) as f64, overlap as f64 / t_count.max(1) as f64)
}

/// The length of the longest common subsequence (two rows of the table).
fn lcs_length(a: &[u32], b: &[u32]) -> u32 {
    let mut previous = vec![0u32; b.len() + 1];
    let mut current = vec![0u32; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            current[j + 1] = if x == y { previous[j] + 1 } else { previous[j + 1].max(current[j]) };
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

fn l_score(t: &[u32], p: &[u32]) -> RougeScore {
    if t.is_empty() || p.is_empty() {
        return ZERO;
    }
    let lcs = f64::from(lcs_length(t, p));
    score(lcs / p.len() as f64, lcs / t.len() as f64)
}

fn lcs_table(a: &[u32], b: &[u32]) -> Vec<Vec<u32>> {
    let mut t = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            t[i][j] = if a[i - 1] == b[j - 1] { t[i - 1][j - 1] + 1 } else { t[i - 1][j].max(t[i][j - 1]) };
        }
    }
    t
}

/// Indices into `reference` of one LCS with `candidate` (`rouge-score`'s backtracking).
fn lcs_indices(reference: &[u32], candidate: &[u32]) -> Vec<usize> {
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

/// Summary-level LCS over the lines of target and prediction.
fn lsum_score(refs: &[Vec<u32>], cands: &[Vec<u32>]) -> RougeScore {
    if refs.is_empty() || cands.is_empty() {
        return ZERO;
    }
    let m: usize = refs.iter().map(Vec::len).sum();
    let n: usize = cands.iter().map(Vec::len).sum();
    if m == 0 || n == 0 {
        return ZERO;
    }
    let mut counts_r: FxHashMap<u32, i64> = FxHashMap::default();
    let mut counts_c: FxHashMap<u32, i64> = FxHashMap::default();
    for t in refs.iter().flatten() {
        *counts_r.entry(*t).or_insert(0) += 1;
    }
    for t in cands.iter().flatten() {
        *counts_c.entry(*t).or_insert(0) += 1;
    }
    let mut hits = 0u64;
    for r in refs {
        let mut union: Vec<usize> = cands.iter().flat_map(|c| lcs_indices(r, c)).collect();
        union.sort_unstable();
        union.dedup();
        for i in union {
            let token = r[i];
            let (cc, cr) = (counts_c.get(&token).copied().unwrap_or(0), counts_r.get(&token).copied().unwrap_or(0));
            if cc > 0 && cr > 0 {
                hits += 1;
                *counts_c.get_mut(&token).expect("counted") -= 1;
                *counts_r.get_mut(&token).expect("counted") -= 1;
            }
        }
    }
    score(hits as f64 / n as f64, hits as f64 / m as f64)
}

/// ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum of a prediction against its target, tokenizing
/// each text once.
pub fn rouge_all(target: &str, prediction: &str) -> [RougeScore; 4] {
    rouge_all_with(target, prediction, RougeOptions::default())
}

/// [`rouge_all`] with a tokenization of choice.
pub fn rouge_all_with(target: &str, prediction: &str, options: RougeOptions) -> [RougeScore; 4] {
    let (lt, lp) = (lowercase(target), lowercase(prediction));
    let mut ids = FxHashMap::default();
    let t_lines = lines_of(&lt, &mut ids, options);
    let p_lines = lines_of(&lp, &mut ids, options);
    let (t, p): (Vec<u32>, Vec<u32>) = (t_lines.concat(), p_lines.concat());
    [ngram_score(&t, &p, 1), ngram_score(&t, &p, 2), l_score(&t, &p), lsum_score(&t_lines, &p_lines)]
}

/// ROUGE-N (`rouge1`, `rouge2`, …) of a prediction against its target.
pub fn rouge_n(target: &str, prediction: &str, n: usize) -> RougeScore {
    let (lt, lp) = (lowercase(target), lowercase(prediction));
    let mut ids = FxHashMap::default();
    let options = RougeOptions::default();
    let (t, p) = (lines_of(&lt, &mut ids, options).concat(), lines_of(&lp, &mut ids, options).concat());
    ngram_score(&t, &p, n)
}

/// ROUGE-L of a prediction against its target.
pub fn rouge_l(target: &str, prediction: &str) -> RougeScore {
    rouge_all(target, prediction)[2]
}

/// ROUGE-Lsum: summary-level LCS over the lines of target and prediction.
pub fn rouge_lsum(target: &str, prediction: &str) -> RougeScore {
    rouge_all(target, prediction)[3]
}
