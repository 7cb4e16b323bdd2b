//! Diversity of generated texts: distinct-n (Li et al., 2016: distinct n-grams over all n-grams
//! of all texts) and self-BLEU (Zhu et al., 2018: each text's BLEU against all the others as
//! references, averaged; here sacreBLEU's sentence BLEU, named so in results). Tokens as BLEU's
//! tokenizer makes them (`13a`, or `zh` for Chinese).

use crate::bleu::{sentence_bleu_with, BleuTokenizer};
use std::collections::HashSet;

/// Distinct n-grams / all n-grams of `texts` (0 when they have no n-gram).
pub fn distinct_n(texts: &[&str], n: usize, tokenizer: BleuTokenizer) -> f64 {
    let (mut seen, mut total) = (HashSet::new(), 0usize);
    for text in texts {
        let tokenized = tokenizer.tokenize(text);
        let tokens: Vec<&str> = tokenized.split(' ').filter(|t| !t.is_empty()).collect();
        if n == 0 || tokens.len() < n {
            continue;
        }
        for w in tokens.windows(n) {
            seen.insert(w.join(" "));
            total += 1;
        }
    }
    if total == 0 {
        0.0
    } else {
        seen.len() as f64 / total as f64
    }
}

/// Mean sentence BLEU (0–100) of each text against all the others; an error for fewer than two.
pub fn self_bleu(texts: &[&str], tokenizer: BleuTokenizer) -> Result<f64, String> {
    if texts.len() < 2 {
        return Err(format!("self-BLEU needs at least 2 texts, got {}", texts.len()));
    }
    let mut sum = 0.0;
    for (i, text) in texts.iter().enumerate() {
        let others: Vec<&str> = texts.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, t)| *t).collect();
        sum += sentence_bleu_with(text, &others, tokenizer).score;
    }
    Ok(sum / texts.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_n_counts_repeats_once() {
        let texts = ["the cat sat", "the cat ran"];
        assert_eq!(distinct_n(&texts, 1, BleuTokenizer::ThirteenA), 4.0 / 6.0);
        assert_eq!(distinct_n(&texts, 2, BleuTokenizer::ThirteenA), 3.0 / 4.0);
        assert_eq!(distinct_n(&["我爱你", "我爱他"], 1, BleuTokenizer::Zh), 4.0 / 6.0);
        assert_eq!(distinct_n(&["a"], 2, BleuTokenizer::ThirteenA), 0.0);
    }

    #[test]
    fn self_bleu_is_100_for_copies_and_low_for_different_texts() {
        let same = ["the quick brown fox jumps", "the quick brown fox jumps", "the quick brown fox jumps"];
        assert!((self_bleu(&same, BleuTokenizer::ThirteenA).unwrap() - 100.0).abs() < 1e-9);
        let different = ["the quick brown fox jumps", "completely unrelated words here now", "one more distinct sentence appears"];
        assert!(self_bleu(&different, BleuTokenizer::ThirteenA).unwrap() < 10.0);
        assert!(self_bleu(&["alone"], BleuTokenizer::ThirteenA).is_err());
    }
}
