//! Classification metrics as scikit-learn computes them: accuracy; precision, recall and F1,
//! micro-averaged (over all decisions) and macro-averaged (the mean over the labels present in
//! the references or the predictions, a label never predicted having precision 0, as
//! `zero_division=0`); and AUC-ROC of binary scores (ties counted half, as the trapezoid rule
//! over the ROC curve gives).

use std::collections::BTreeSet;

/// Accuracy and the averaged precision, recall and F1 of predicted labels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Classification {
    pub accuracy: f64,
    pub micro_precision: f64,
    pub micro_recall: f64,
    pub micro_f1: f64,
    pub macro_precision: f64,
    pub macro_recall: f64,
    pub macro_f1: f64,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

fn f1(p: f64, r: f64) -> f64 {
    ratio(2.0 * p * r, p + r)
}

/// The metrics of `predictions` against `references` (the same length, else an error).
pub fn classification(references: &[&str], predictions: &[&str]) -> Result<Classification, String> {
    if references.len() != predictions.len() {
        return Err(format!("{} references but {} predictions", references.len(), predictions.len()));
    }
    if references.is_empty() {
        return Err("no examples".into());
    }
    // Per label: [true positives, predicted, actual], counted in one pass.
    let mut counts: crate::fxhash::FxHashMap<&str, [u64; 3]> = Default::default();
    let mut correct = 0u64;
    for (r, p) in references.iter().zip(predictions) {
        counts.entry(r).or_default()[2] += 1;
        counts.entry(p).or_default()[1] += 1;
        if r == p {
            counts.entry(r).or_default()[0] += 1;
            correct += 1;
        }
    }
    // Labels in sorted order, as scikit-learn sums them.
    let labels: BTreeSet<&str> = counts.keys().copied().collect();
    let (correct, n) = (correct as f64, references.len() as f64);
    let (mut sum_p, mut sum_r, mut sum_f) = (0.0, 0.0, 0.0);
    for label in &labels {
        let [tp, predicted, actual] = counts[label].map(|c| c as f64);
        let (p, r) = (ratio(tp, predicted), ratio(tp, actual));
        sum_p += p;
        sum_r += r;
        sum_f += f1(p, r);
    }
    let k = labels.len() as f64;
    // Micro averages over single-label decisions: every one is a true or a false positive.
    let micro = correct / n;
    Ok(Classification {
        accuracy: micro,
        micro_precision: micro,
        micro_recall: micro,
        micro_f1: micro,
        macro_precision: sum_p / k,
        macro_recall: sum_r / k,
        macro_f1: sum_f / k,
    })
}

/// AUC-ROC of scores for a binary task (`positives[i]` the truth of example i): the probability
/// that a positive scores above a negative, ties counting one half. An error without both
/// classes.
pub fn auc_roc(positives: &[bool], scores: &[f64]) -> Result<f64, String> {
    if positives.len() != scores.len() {
        return Err(format!("{} labels but {} scores", positives.len(), scores.len()));
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(format!("score {i} is not a finite number"));
    }
    let pos: Vec<f64> = positives.iter().zip(scores).filter(|(p, _)| **p).map(|(_, s)| *s).collect();
    let neg: Vec<f64> = positives.iter().zip(scores).filter(|(p, _)| !**p).map(|(_, s)| *s).collect();
    if pos.is_empty() || neg.is_empty() {
        return Err("AUC-ROC needs positive and negative examples".into());
    }
    // Rank sum (Mann-Whitney U) with average ranks for ties.
    let mut all: Vec<(f64, bool)> = pos.iter().map(|s| (*s, true)).chain(neg.iter().map(|s| (*s, false))).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let average_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_pos += all[i..=j].iter().filter(|(_, p)| *p).count() as f64 * average_rank;
        i = j + 1;
    }
    let (np, nn) = (pos.len() as f64, neg.len() as f64);
    Ok((rank_sum_pos - np * (np + 1.0) / 2.0) / (np * nn))
}
