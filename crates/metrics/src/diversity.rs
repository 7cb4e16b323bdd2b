//! Diversity of generated texts: distinct-n (Li et al., 2016: distinct n-grams over all n-grams
//! of all texts) and self-BLEU (Zhu et al., 2018: each text's BLEU against all the others as
//! references, averaged; here sacreBLEU's sentence BLEU, named so in results). Tokens as BLEU's
//! tokenizer makes them (`13a`, or `zh` for Chinese).

use crate::bleu::{sentence_bleu_with, BleuTokenizer};
use crate::fxhash::{FxHashMap, FxHashSet};
use crate::parallel;

/// A token's key: up to 7 bytes packed with their length into one number (hashed and compared
/// as one), a longer token as it is.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum TokenKey<'a> {
    Short(u64),
    Long(&'a str),
}

impl<'a> TokenKey<'a> {
    fn of(token: &'a str) -> TokenKey<'a> {
        let bytes = token.as_bytes();
        if bytes.len() > 7 {
            return TokenKey::Long(token);
        }
        TokenKey::Short(bytes.iter().fold(0u64, |k, b| (k << 8) | u64::from(*b)) | ((bytes.len() as u64) << 56))
    }
}

/// Tokens numbered from 0 in the order first seen.
#[derive(Default)]
struct Vocabulary<'a> {
    short: FxHashMap<u64, u32>,
    long: FxHashMap<&'a str, u32>,
}

impl<'a> Vocabulary<'a> {
    fn with_capacity(n: usize) -> Vocabulary<'a> {
        Vocabulary {
            short: FxHashMap::with_capacity_and_hasher(n, Default::default()),
            long: FxHashMap::with_capacity_and_hasher(n / 4, Default::default()),
        }
    }

    fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }

    fn id_of(&mut self, key: TokenKey<'a>) -> u32 {
        let next = self.len() as u32;
        match key {
            TokenKey::Short(k) => *self.short.entry(k).or_insert(next),
            TokenKey::Long(t) => *self.long.entry(t).or_insert(next),
        }
    }

    fn id(&mut self, token: &'a str) -> u32 {
        self.id_of(TokenKey::of(token))
    }

    fn entries(&self) -> impl Iterator<Item = (TokenKey<'a>, u32)> + '_ {
        self.short.iter().map(|(k, id)| (TokenKey::Short(*k), *id)).chain(self.long.iter().map(|(t, id)| (TokenKey::Long(t), *id)))
    }
}

/// Distinct n-grams / all n-grams of `texts` (0 when they have no n-gram).
pub fn distinct_n(texts: &[&str], n: usize, tokenizer: BleuTokenizer) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let tokenized: Vec<std::borrow::Cow<'_, str>> =
        texts
            .iter()
            .map(|t| {
                if tokenizer == BleuTokenizer::None {
                    std::borrow::Cow::Borrowed(*t)
                } else {
                    std::borrow::Cow::Owned(tokenizer.tokenize(t))
                }
            })
            .collect();
    // Each thread interns the tokens of its texts; the vocabularies are then merged, so every
    // token has one id (from 0) across all texts.
    let local = parallel::chunks(&tokenized, |part| {
        let mut vocabulary = Vocabulary::with_capacity(4096);
        let ids: Vec<Vec<u32>> = part.iter().map(|text| space_separated(text).map(|t| vocabulary.id(t)).collect()).collect();
        (vocabulary, ids)
    });
    let mut vocabulary = Vocabulary::default();
    let remaps: Vec<Vec<u32>> = local
        .iter()
        .map(|(words, _)| {
            let mut remap = vec![0u32; words.len()];
            for (key, id) in words.entries() {
                remap[id as usize] = vocabulary.id_of(key);
            }
            remap
        })
        .collect();
    // Each thread's texts with their ids made global.
    let parts: Vec<(&[Vec<u32>], &[u32])> = local.iter().zip(&remaps).map(|((_, ids), remap)| (ids.as_slice(), remap.as_slice())).collect();
    let grams = |(ids, _): &(&[Vec<u32>], &[u32])| ids.iter().map(|t| t.len().saturating_sub(n - 1)).sum::<usize>();
    let total: usize = parts.iter().map(grams).sum();
    if total == 0 {
        return 0.0;
    }
    // Distinct n-grams: a bit per possible n-gram when there are few enough (each thread marks
    // its texts' n-grams, the bitmaps are joined), else a hash set.
    let v = vocabulary.len() as u128;
    let key = |w: &[u32], remap: &[u32]| w.iter().fold(0u128, |k, id| k * v + u128::from(remap[*id as usize]));
    let space = (0..n).try_fold(1u128, |acc, _| acc.checked_mul(v)).filter(|s| *s <= BITMAP_BITS);
    let distinct = match space {
        Some(space) => {
            let words = space.div_ceil(64) as usize;
            let maps = parallel::each(&parts, |(ids, remap)| {
                let mut bits = vec![0u64; words];
                for text in *ids {
                    for w in text.windows(n) {
                        let k = key(w, remap) as usize;
                        bits[k / 64] |= 1 << (k % 64);
                    }
                }
                bits
            });
            (0..words).map(|i| maps.iter().fold(0u64, |acc, m| acc | m[i]).count_ones() as usize).sum()
        }
        None => {
            let mut seen: FxHashSet<Vec<u32>> = FxHashSet::with_capacity_and_hasher(total, Default::default());
            for (ids, remap) in &parts {
                for text in *ids {
                    seen.extend(text.windows(n).map(|w| w.iter().map(|id| remap[*id as usize]).collect::<Vec<u32>>()));
                }
            }
            seen.len()
        }
    };
    distinct as f64 / total as f64
}

/// The non-empty pieces of `text` between single spaces (as `split(' ')` without empties; a
/// byte loop: the searcher's per-call cost dominated on short tokens).
fn space_separated(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            if bytes[i] == b' ' {
                let token = &text[start..i];
                i += 1;
                start = i;
                if !token.is_empty() {
                    return Some(token);
                }
            } else {
                i += 1;
            }
        }
        if start < bytes.len() {
            let token = &text[start..];
            start = bytes.len();
            return Some(token);
        }
        None
    })
}

/// The largest bitmap of possible n-grams [`distinct_n`] uses (2^25 bits: 4 MiB per thread).
const BITMAP_BITS: u128 = 1 << 25;

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
