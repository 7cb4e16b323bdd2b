//! METEOR as NLTK's `meteor_score` computes it (NLTK 3.10: alpha 0.9, beta 3, gamma 0.5; words
//! lower-cased; best over the references): words aligned by exact match, then by Porter stem
//! (NLTK's), then — given a WordNet ([`crate::wordnet`]) — by WordNet synonym of the stems
//! left (NLTK's third stage: a hypothesis stem matches a reference stem that is the name of a
//! lemma of one of its synsets), each stage greedily from the last hypothesis word to the first
//! taking the last unmatched reference position; precision, recall, their harmonic mean
//! weighted 9:1 towards recall, and a fragmentation penalty on the number of chunks. Without a
//! WordNet, the figures are NLTK's with an empty WordNet. The words are the text's tokens under
//! sacreBLEU's tokenizer of choice (`13a`, `zh`: each Chinese character a word, `none`), named
//! in results.

use crate::wordnet::WordNet;
use crate::BleuTokenizer;
use std::borrow::Cow;

const ALPHA: f64 = 0.9;
const BETA: f64 = 3.0;
const GAMMA: f64 = 0.5;

/// Aligns equal words not aligned yet, as NLTK's `_match_enums` does: from the last hypothesis
/// word to the first, each takes the last unaligned reference position holding the same word.
fn align(hyp: &[Cow<'_, str>], refs: &[Cow<'_, str>], hyp_done: &mut [bool], ref_done: &mut [bool], pairs: &mut Vec<(usize, usize)>) {
    align_by(hyp.len(), refs.len(), |i, j| refs[j] == hyp[i], hyp_done, ref_done, pairs)
}

/// [`align`] with any relation: hypothesis word `i` matches reference word `j` when `matches(i, j)`.
fn align_by(
    hyp_len: usize,
    ref_len: usize,
    mut matches: impl FnMut(usize, usize) -> bool,
    hyp_done: &mut [bool],
    ref_done: &mut [bool],
    pairs: &mut Vec<(usize, usize)>,
) {
    for i in (0..hyp_len).rev() {
        if hyp_done[i] {
            continue;
        }
        if let Some(j) = (0..ref_len).rev().find(|&j| !ref_done[j] && matches(i, j)) {
            hyp_done[i] = true;
            ref_done[j] = true;
            pairs.push((i, j));
        }
    }
}

/// The fewest chunks of adjacent matches (matches sorted by hypothesis position).
fn chunks(matches: &[(usize, usize)]) -> usize {
    1 + matches.windows(2).filter(|w| !(w[1].0 == w[0].0 + 1 && w[1].1 == w[0].1 + 1)).count()
}

/// Python's `str.lower()` (borrowed when there is nothing to change).
fn lower(word: &str) -> Cow<'_, str> {
    if word.is_ascii() {
        if word.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(word.to_ascii_lowercase())
        } else {
            Cow::Borrowed(word)
        }
    } else {
        Cow::Owned(word.to_lowercase())
    }
}

/// METEOR (0–1) of hypothesis words against one reference's words (with WordNet's synonym
/// stage when given one).
pub fn single_meteor(hypothesis: &[&str], reference: &[&str], wordnet: Option<&WordNet>) -> f64 {
    let hyp: Vec<Cow<'_, str>> = hypothesis.iter().map(|w| lower(w)).collect();
    let refs: Vec<Cow<'_, str>> = reference.iter().map(|w| lower(w)).collect();
    let (mut hyp_done, mut ref_done) = (vec![false; hyp.len()], vec![false; refs.len()]);
    let mut matches = Vec::new();
    align(&hyp, &refs, &mut hyp_done, &mut ref_done, &mut matches);
    // The stem stage: the words left, stemmed (aligned ones stay out of it).
    let stem = |words: &[Cow<'_, str>], done: &[bool]| -> Vec<Cow<'static, str>> {
        words.iter().zip(done).map(|(w, d)| if *d { Cow::Borrowed("") } else { Cow::Owned(crate::porter::porter_stem(w)) }).collect()
    };
    let (hyp_stems, ref_stems) = (stem(&hyp, &hyp_done), stem(&refs, &ref_done));
    align(&hyp_stems, &ref_stems, &mut hyp_done, &mut ref_done, &mut matches);
    if let Some(wordnet) = wordnet {
        // The synonym stage: on the stems still unmatched (NLTK passes the stage the stemmed lists).
        let synonyms: Vec<Option<std::collections::HashSet<String>>> =
            hyp_stems.iter().zip(&hyp_done).map(|(w, d)| (!d).then(|| wordnet.synonyms(w))).collect();
        align_by(
            hyp.len(),
            refs.len(),
            |i, j| synonyms[i].as_ref().is_some_and(|s| s.contains(ref_stems[j].as_ref())),
            &mut hyp_done,
            &mut ref_done,
            &mut matches,
        );
    }
    matches.sort_unstable_by_key(|m| m.0);
    let m = matches.len() as f64;
    if m == 0.0 {
        return 0.0;
    }
    let (precision, recall) = (m / hyp.len() as f64, m / refs.len() as f64);
    let fmean = precision * recall / (ALPHA * precision + (1.0 - ALPHA) * recall);
    let fragmentation = chunks(&matches) as f64 / m;
    (1.0 - GAMMA * fragmentation.powf(BETA)) * fmean
}

/// The words METEOR compares: `text` under sacreBLEU's tokenizer, split on white space.
pub fn meteor_words(text: &str, tokenize: BleuTokenizer) -> Vec<String> {
    crate::tokenize::python_split(&tokenize.tokenize(text)).map(str::to_string).collect()
}

/// METEOR (0–1) of a hypothesis against its best reference.
pub fn meteor(hypothesis: &str, references: &[&str], tokenize: BleuTokenizer, wordnet: Option<&WordNet>) -> f64 {
    let hyp = meteor_words(hypothesis, tokenize);
    let hyp: Vec<&str> = hyp.iter().map(String::as_str).collect();
    references
        .iter()
        .map(|r| {
            let words = meteor_words(r, tokenize);
            single_meteor(&hyp, &words.iter().map(String::as_str).collect::<Vec<_>>(), wordnet)
        })
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nltks_own_example_scores_0_6944() {
        let hyp = "It is a guide to action which ensures that the military always obeys the commands of the party";
        let reference = "It is a guide to action that ensures that the military will forever heed Party commands";
        let got = meteor(hyp, &[reference], BleuTokenizer::None, None);
        assert!((got - 0.6944).abs() < 5e-5, "{got}");
        assert_eq!(meteor("non matching hypothesis", &["this is a cat"], BleuTokenizer::None, None), 0.0);
        assert_eq!(meteor("", &["this is a cat"], BleuTokenizer::None, None), 0.0);
    }
}
