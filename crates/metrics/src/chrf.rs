//! chrF and chrF++ as sacreBLEU computes them (`sacrebleu.metrics.CHRF`): character n-grams of
//! orders 1–6 (whitespace removed), plus word n-grams of orders 1–2 for chrF++ (words split off
//! a leading or trailing ASCII punctuation mark), F-beta with beta 2 over the orders that occur
//! on both sides (or, with `eps_smoothing`, chrF++.py's averaging with 1e-16 for empty orders);
//! against several references, each segment keeps the reference with the best F score; corpus
//! chrF sums the segments' counts.

use crate::ngrams;
use crate::tokenize::{python_split, ASCII_PUNCTUATION as PUNCTUATION};

/// Which chrF: `Chrf::default()` is chrF (sacreBLEU's defaults), `Chrf::plus_plus()` chrF++.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chrf {
    pub char_order: usize,
    pub word_order: usize,
    pub beta: f64,
    pub lowercase: bool,
    /// Keep whitespace inside character n-grams.
    pub whitespace: bool,
    pub eps_smoothing: bool,
}

impl Default for Chrf {
    fn default() -> Self {
        Chrf { char_order: 6, word_order: 0, beta: 2.0, lowercase: false, whitespace: false, eps_smoothing: false }
    }
}

/// The characters (whitespace removed unless kept) of a line.
fn chars_of(line: &str, whitespace: bool) -> Vec<char> {
    if whitespace {
        line.chars().collect()
    } else {
        python_split(line).flat_map(str::chars).collect()
    }
}

/// [hypothesis, reference, matched] n-grams of each order 1..=`orders`, for each reference
/// (`ids[0]` the hypothesis' ids, from 1).
fn stats_by_order(ids: &[Vec<u32>], bits: u32, orders: usize) -> Vec<Vec<[u64; 3]>> {
    let references = ids.len() - 1;
    if orders == 0 {
        return vec![Vec::new(); references];
    }
    if !ngrams::packs(orders, bits) {
        return (1..=references)
            .map(|k| {
                (1..=orders)
                    .map(|n| {
                        let (h, r, m) = ngrams::order_stats(&ids[0], &ids[k], n, bits);
                        [h, r, m]
                    })
                    .collect()
            })
            .collect();
    }
    let keys: Vec<Vec<u128>> = ids.iter().map(|t| ngrams::prefix_keys(t, orders, bits)).collect();
    let mut out = vec![Vec::with_capacity(orders); references];
    for n in 1..=orders {
        let hyp = ngrams::order_counts(&keys[0], n, orders, bits);
        for (k, slot) in out.iter_mut().enumerate() {
            let reference = ngrams::order_counts(&keys[k + 1], n, orders, bits);
            slot.push([ngrams::total(&hyp), ngrams::total(&reference), ngrams::clipped(&hyp, &reference)]);
        }
    }
    out
}

/// sacreBLEU's `_remove_punctuation`: one leading or trailing punctuation mark split off a word.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    for w in python_split(line) {
        let chars: Vec<char> = w.chars().collect();
        if chars.len() == 1 {
            out.push(w.to_string());
        } else if PUNCTUATION.contains(chars[chars.len() - 1]) {
            out.push(chars[..chars.len() - 1].iter().collect());
            out.push(chars[chars.len() - 1].to_string());
        } else if PUNCTUATION.contains(chars[0]) {
            out.push(chars[0].to_string());
            out.push(chars[1..].iter().collect());
        } else {
            out.push(w.to_string());
        }
    }
    out
}

impl Chrf {
    /// chrF++: word n-grams of orders 1 and 2 as well.
    pub fn plus_plus() -> Chrf {
        Chrf { word_order: 2, ..Chrf::default() }
    }

    fn prepare(&self, line: &str) -> String {
        if self.lowercase {
            line.to_lowercase()
        } else {
            line.to_string()
        }
    }

    /// What corpus chrF sums over segments: [hypothesis, reference, matched] n-grams per order
    /// against the segment's best reference (summed over a bootstrap resample, they give its
    /// corpus chrF through [`Chrf::score_of`]).
    pub fn segment_stats(&self, hypothesis: &str, references: &[&str]) -> Vec<u64> {
        let hypothesis = self.prepare(hypothesis);
        let references: Vec<String> = references.iter().map(|r| self.prepare(r)).collect();
        let texts = || std::iter::once(&hypothesis).chain(&references);
        // Characters are their own ids (code point + 1 takes 21 bits: six pack into one key).
        let (char_ids, char_bits) = if self.char_order <= 6 {
            (texts().map(|t| chars_of(t, self.whitespace).into_iter().map(|c| c as u32 + 1).collect()).collect(), 21)
        } else {
            let chars: Vec<Vec<char>> = texts().map(|t| chars_of(t, self.whitespace)).collect();
            ngrams::ids_from_one(&chars.iter().map(Vec::as_slice).collect::<Vec<_>>())
        };
        let words: Vec<Vec<String>> = texts().map(|t| self.word_units(t)).collect();
        let word_refs: Vec<Vec<&str>> = words.iter().map(|w| w.iter().map(String::as_str).collect()).collect();
        let (word_ids, word_bits) = ngrams::ids_from_one(&word_refs.iter().map(Vec::as_slice).collect::<Vec<_>>());
        let by_char = stats_by_order(&char_ids, char_bits, self.char_order);
        let by_word = stats_by_order(&word_ids, word_bits, self.word_order);
        let mut best: (f64, Vec<u64>) = (-1.0, Vec::new());
        for k in 0..references.len() {
            let mut stats = Vec::with_capacity(3 * (self.char_order + self.word_order));
            for [hyp, reference, matched] in by_char[k].iter().chain(&by_word[k]) {
                stats.extend([if *reference == 0 { 0 } else { *hyp }, *reference, *matched]);
            }
            let f = self.score_of(&stats);
            if f > best.0 {
                best = (f, stats);
            }
        }
        best.1
    }

    /// The words of chrF++'s word n-grams (none for chrF).
    fn word_units(&self, line: &str) -> Vec<String> {
        if self.word_order > 0 {
            words(line)
        } else {
            Vec::new()
        }
    }

    /// chrF (0–100) of summed statistics.
    pub fn score_of(&self, stats: &[u64]) -> f64 {
        const EPS: f64 = 1e-16;
        let factor = self.beta * self.beta;
        let order = self.char_order + self.word_order;
        let (mut score, mut avg_prec, mut avg_rec, mut effective) = (0.0f64, 0.0f64, 0.0f64, 0usize);
        for i in 0..order {
            let (n_hyp, n_ref, n_match) = (stats[3 * i] as f64, stats[3 * i + 1] as f64, stats[3 * i + 2] as f64);
            let prec = if n_hyp > 0.0 { n_match / n_hyp } else { EPS };
            let rec = if n_ref > 0.0 { n_match / n_ref } else { EPS };
            let denom = factor * prec + rec;
            score += if denom > 0.0 { (1.0 + factor) * prec * rec / denom } else { EPS };
            if n_hyp > 0.0 && n_ref > 0.0 {
                avg_prec += prec;
                avg_rec += rec;
                effective += 1;
            }
        }
        if self.eps_smoothing {
            return 100.0 * score / order as f64;
        }
        if effective == 0 {
            return 0.0;
        }
        let (p, r) = (avg_prec / effective as f64, avg_rec / effective as f64);
        if p + r > 0.0 {
            100.0 * (1.0 + factor) * p * r / (factor * p + r)
        } else {
            0.0
        }
    }

    /// Corpus chrF (0–100) of `hypotheses` against reference streams (`references[k][i]`).
    pub fn corpus_score(&self, hypotheses: &[&str], references: &[Vec<&str>]) -> Result<f64, String> {
        if let Some((k, stream)) = references.iter().enumerate().find(|(_, s)| s.len() != hypotheses.len()) {
            return Err(format!("reference stream {k} has {} segments, the hypotheses {}", stream.len(), hypotheses.len()));
        }
        if references.is_empty() {
            return Err("no reference stream".into());
        }
        let mut total = vec![0u64; 3 * (self.char_order + self.word_order)];
        for (i, hyp) in hypotheses.iter().enumerate() {
            let refs: Vec<&str> = references.iter().map(|s| s[i]).collect();
            for (t, s) in total.iter_mut().zip(self.segment_stats(hyp, &refs)) {
                *t += s;
            }
        }
        Ok(self.score_of(&total))
    }

    /// chrF of one hypothesis against its references.
    pub fn sentence_score(&self, hypothesis: &str, references: &[&str]) -> f64 {
        let stats = self.segment_stats(hypothesis, references);
        if stats.is_empty() {
            return 0.0;
        }
        self.score_of(&stats)
    }
}
