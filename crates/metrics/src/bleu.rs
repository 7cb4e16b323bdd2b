//! BLEU as sacreBLEU computes it (`sacrebleu.metrics.BLEU`, defaults): `13a` tokenization,
//! n-grams of orders 1–4 clipped by their largest count in any reference, the brevity penalty
//! against the reference length closest to each hypothesis (the shorter on a tie), `exp`
//! smoothing (an order with no match counts 1 / (2^k · total) for its k-th such order; no match
//! of any order scores 0). Corpus
//! BLEU sums the counts over the segments; sentence BLEU scores one segment with the orders it
//! has (`effective_order`).

use crate::ngrams;
use crate::tokenize::{tokenize_13a, tokenize_zh};

const MAX_ORDER: usize = 4;

/// How BLEU splits text into tokens (sacreBLEU's `tokenize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BleuTokenizer {
    /// `13a`, sacreBLEU's default.
    #[default]
    ThirteenA,
    /// `zh`: every Chinese character a token (BLEU on Chinese is not all zeros).
    Zh,
    /// `none`: the text is already tokenized (split on spaces).
    None,
}

impl BleuTokenizer {
    /// sacreBLEU's name of it (`13a`, `zh`, `none`), as results name it.
    pub fn name(self) -> &'static str {
        match self {
            BleuTokenizer::ThirteenA => "13a",
            BleuTokenizer::Zh => "zh",
            BleuTokenizer::None => "none",
        }
    }

    /// The tokenizer sacreBLEU names `name` (`13a`, `zh`, `none`).
    pub fn parse(name: &str) -> Option<BleuTokenizer> {
        [BleuTokenizer::ThirteenA, BleuTokenizer::Zh, BleuTokenizer::None].into_iter().find(|t| t.name() == name)
    }

    /// The tokens of `line`, joined by single spaces.
    pub fn tokenize(self, line: &str) -> String {
        self.apply(line)
    }

    fn apply(self, line: &str) -> String {
        match self {
            BleuTokenizer::ThirteenA => tokenize_13a(line),
            BleuTokenizer::Zh => tokenize_zh(line),
            BleuTokenizer::None => line.to_string(),
        }
    }
}

/// A BLEU score and what it is made of (sacreBLEU's fields).
#[derive(Debug, Clone, PartialEq)]
pub struct Bleu {
    /// 0–100.
    pub score: f64,
    /// Matched n-grams of each order.
    pub counts: [u64; MAX_ORDER],
    /// Hypothesis n-grams of each order.
    pub totals: [u64; MAX_ORDER],
    /// n-gram precisions (0–100), smoothed.
    pub precisions: [f64; MAX_ORDER],
    pub brevity_penalty: f64,
    pub sys_len: u64,
    pub ref_len: u64,
}

/// What corpus BLEU sums over segments: matches and totals per order, the hypothesis length and
/// the closest reference length. Summed over any subset of segments (a bootstrap resample) they
/// give that subset's corpus BLEU.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BleuStats {
    pub correct: [u64; MAX_ORDER],
    pub total: [u64; MAX_ORDER],
    pub sys_len: u64,
    pub ref_len: u64,
}

impl BleuStats {
    /// The statistics of one segment.
    pub fn of(hypothesis: &str, references: &[&str], tokenizer: BleuTokenizer) -> BleuStats {
        let (correct, total, sys_len, ref_len) = segment_stats(hypothesis, references, tokenizer);
        BleuStats { correct, total, sys_len, ref_len }
    }

    pub fn add(&mut self, other: &BleuStats) {
        for n in 0..MAX_ORDER {
            self.correct[n] += other.correct[n];
            self.total[n] += other.total[n];
        }
        self.sys_len += other.sys_len;
        self.ref_len += other.ref_len;
    }

    /// Corpus BLEU of the summed segments.
    pub fn corpus(&self) -> Bleu {
        compute(self.correct, self.total, self.sys_len, self.ref_len, false)
    }

    /// Sentence BLEU (`effective_order`) of one segment's statistics.
    pub fn sentence(&self) -> Bleu {
        compute(self.correct, self.total, self.sys_len, self.ref_len, true)
    }
}

/// (matches per order, totals per order, hypothesis length, closest reference length).
fn segment_stats(hypothesis: &str, references: &[&str], tokenizer: BleuTokenizer) -> ([u64; MAX_ORDER], [u64; MAX_ORDER], u64, u64) {
    let hyp = tokenizer.apply(hypothesis);
    let tokenized: Vec<String> = references.iter().map(|r| tokenizer.apply(r)).collect();
    let mut texts: Vec<Vec<&str>> = vec![hyp.split(' ').filter(|t| !t.is_empty()).collect()];
    texts.extend(tokenized.iter().map(|r| r.split(' ').filter(|t| !t.is_empty()).collect::<Vec<_>>()));
    let hyp_len = texts[0].len() as u64;
    let mut closest: Option<u64> = None;
    for tokens in &texts[1..] {
        let len = tokens.len() as u64;
        closest = Some(match closest {
            None => len,
            Some(c) => {
                let (dc, dl) = (c.abs_diff(hyp_len), len.abs_diff(hyp_len));
                if dl < dc || (dl == dc && len < c) {
                    len
                } else {
                    c
                }
            }
        });
    }
    let slices: Vec<&[&str]> = texts.iter().map(Vec::as_slice).collect();
    // Ids of at most 32 bits: four always pack into one key.
    let (ids, bits) = ngrams::ids_from_one(&slices);
    let keys: Vec<Vec<u128>> = ids.iter().map(|t| ngrams::prefix_keys(t, MAX_ORDER, bits)).collect();
    let (mut correct, mut total) = ([0u64; MAX_ORDER], [0u64; MAX_ORDER]);
    for n in 1..=MAX_ORDER {
        let hyp_counts = ngrams::order_counts(&keys[0], n, MAX_ORDER, bits);
        let max_ref = ngrams::max_counts(keys[1..].iter().map(|r| ngrams::order_counts(r, n, MAX_ORDER, bits)).collect());
        total[n - 1] = ngrams::total(&hyp_counts);
        correct[n - 1] = ngrams::clipped(&hyp_counts, &max_ref);
    }
    (correct, total, hyp_len, closest.unwrap_or(0))
}

fn compute(correct: [u64; MAX_ORDER], total: [u64; MAX_ORDER], sys_len: u64, ref_len: u64, effective_order: bool) -> Bleu {
    let brevity_penalty = if sys_len < ref_len {
        if sys_len > 0 {
            (1.0 - ref_len as f64 / sys_len as f64).exp()
        } else {
            0.0
        }
    } else {
        1.0
    };
    let mut precisions = [0.0f64; MAX_ORDER];
    // No match of any order: 0, whatever the smoothing.
    if correct.iter().all(|c| *c == 0) {
        return Bleu { score: 0.0, counts: correct, totals: total, precisions, brevity_penalty, sys_len, ref_len };
    }
    let mut smooth = 1.0f64;
    let mut order = MAX_ORDER;
    for n in 1..=MAX_ORDER {
        if total[n - 1] == 0 {
            break;
        }
        if effective_order {
            order = n;
        }
        if correct[n - 1] == 0 {
            smooth *= 2.0;
            precisions[n - 1] = 100.0 / (smooth * total[n - 1] as f64);
        } else {
            precisions[n - 1] = 100.0 * correct[n - 1] as f64 / total[n - 1] as f64;
        }
    }
    // sacreBLEU's log of 0 is -9999999999 (a zero precision makes the score 0).
    let log = |p: f64| if p == 0.0 { -9_999_999_999.0 } else { p.ln() };
    let mean = precisions[..order].iter().map(|p| log(*p)).sum::<f64>() / order as f64;
    Bleu { score: brevity_penalty * mean.exp(), counts: correct, totals: total, precisions, brevity_penalty, sys_len, ref_len }
}

/// Corpus BLEU of `hypotheses` against reference streams (`references[k][i]` is the k-th
/// reference of hypothesis i; every stream as long as the hypotheses).
pub fn corpus_bleu(hypotheses: &[&str], references: &[Vec<&str>]) -> Result<Bleu, String> {
    corpus_bleu_with(hypotheses, references, BleuTokenizer::default())
}

/// [`corpus_bleu`] with another tokenizer.
pub fn corpus_bleu_with(hypotheses: &[&str], references: &[Vec<&str>], tokenizer: BleuTokenizer) -> Result<Bleu, String> {
    if let Some((k, stream)) = references.iter().enumerate().find(|(_, s)| s.len() != hypotheses.len()) {
        return Err(format!("reference stream {k} has {} segments, the hypotheses {}", stream.len(), hypotheses.len()));
    }
    let mut sum = BleuStats::default();
    for (i, hyp) in hypotheses.iter().enumerate() {
        let refs: Vec<&str> = references.iter().map(|s| s[i]).collect();
        sum.add(&BleuStats::of(hyp, &refs, tokenizer));
    }
    Ok(sum.corpus())
}

/// Sentence BLEU of one hypothesis against its references (`effective_order`, as sacreBLEU's
/// `sentence_score`).
pub fn sentence_bleu(hypothesis: &str, references: &[&str]) -> Bleu {
    sentence_bleu_with(hypothesis, references, BleuTokenizer::default())
}

/// [`sentence_bleu`] with another tokenizer.
pub fn sentence_bleu_with(hypothesis: &str, references: &[&str], tokenizer: BleuTokenizer) -> Bleu {
    BleuStats::of(hypothesis, references, tokenizer).sentence()
}
