//! `dedup_near`: MinHash signatures with LSH banding, in one streaming pass.
//!
//! **Text.** A record's contents (or its text) joined by newlines, lowercased, whitespace runs
//! collapsed to one space and trimmed. Its shingles are the overlapping windows of `ngram`
//! characters (Unicode scalar values; a text shorter than that is one shingle). Each shingle is
//! hashed once with 64-bit XXH3 (`x`).
//!
//! **Signature.** `num_perm` hash functions `hᵢ(x) = (aᵢ·x + bᵢ mod 2⁶⁴) >> 32` (multiply-add-
//! shift, a 2-universal family; `aᵢ` odd and `bᵢ` drawn from SplitMix64 seeded by `seed`); the
//! signature keeps the minimum of each over the shingles, as a `u32`. Two records agree on a
//! signature position with probability ≈ their Jaccard similarity `s`, so the share of equal
//! positions estimates `s`.
//!
//! **Banding.** The signature is cut into `b` bands of `r` rows (`b·r ≤ num_perm`); records
//! sharing one whole band are candidates. A pair of similarity `s` becomes a candidate with
//! probability `P(s) = 1 − (1 − sʳ)ᵇ`. `(b, r)` minimises, for the threshold `t`,
//!
//! ```text
//! FP(b, r) = ∫₀ᵗ P(s) ds          (dissimilar pairs compared)
//! FN(b, r) = ∫ₜ¹ (1 − P(s)) ds    (similar pairs never compared)
//! error    = 0.1·FP + 0.9·FN
//! ```
//!
//! (Simpson's rule, 200 intervals; `datasketch`'s `MinHashLSH` computes the same with equal
//! weights.) Every candidate is confirmed on the signatures below, so a false positive only
//! costs one comparison while a false negative keeps a duplicate: hence the weights
//! [`FALSE_POSITIVE_WEIGHT`] and [`FALSE_NEGATIVE_WEIGHT`]. For `t = 0.8`, `num_perm = 128`
//! that is 14 bands of 9 rows: a pair becomes a candidate with probability 0.999 at `s = 0.9`,
//! 0.975 at 0.85, 0.87 at 0.8, 0.44 at 0.7 and 0.03 at 0.5 (equal weights would give 9 × 13:
//! 0.93 at 0.9, 0.69 at 0.85).
//!
//! **Decision.** Candidates are confirmed when the estimated Jaccard (equal positions /
//! `num_perm`) is at least `t`; then the new record is a near-duplicate and is dropped. Only
//! kept records enter the index, so the first record of a cluster is kept and every later
//! record within `t` of a kept one is dropped (a record similar only to a dropped one is kept).
//! At most [`MAX_CANDIDATES`] candidates are compared per record.
//!
//! **Memory**, per kept record (dropped records cost nothing): the signature, `4·num_perm`
//! bytes; per band one bucket entry (a 16-byte slot of a hash map keyed by the band's hash,
//! plus its control byte and up to 1/8 empty slots: ≈ 19 bytes) and a 4-byte chain link. With
//! the defaults: 512 + 14 × 23 ≈ 830 bytes per kept record ([`NearDedup::bytes_per_kept_record`]);
//! about 0.8 GB for a million distinct records. The scratch buffers hold one record.

use std::collections::HashMap;

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use crate::record::Record;

use super::config::DedupNear;
use super::exact::HashBuild;
use super::text::{contents, push_normalized};

/// Weight of the false-positive area in the banding choice.
pub const FALSE_POSITIVE_WEIGHT: f64 = 0.1;
/// Weight of the false-negative area in the banding choice.
pub const FALSE_NEGATIVE_WEIGHT: f64 = 0.9;

/// Candidates compared per record at most (bounds the work on pathological buckets).
pub const MAX_CANDIDATES: usize = 1000;

const NONE: u32 = u32::MAX;

/// How the signature is cut into bands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Banding {
    pub bands: usize,
    pub rows: usize,
    /// ∫₀ᵗ P(s) ds for this banding.
    pub false_positive_weight: f64,
    /// ∫ₜ¹ (1 − P(s)) ds for this banding.
    pub false_negative_weight: f64,
}

impl Banding {
    /// The banding of `num_perm` hash functions that minimises 0.1·FP + 0.9·FN for `threshold`.
    pub fn optimal(threshold: f64, num_perm: usize) -> Banding {
        let mut best: Option<(f64, Banding)> = None;
        for bands in 1..=num_perm {
            for rows in 1..=num_perm / bands {
                let p = |s: f64| 1.0 - (1.0 - s.powi(rows as i32)).powi(bands as i32);
                let fp = simpson(p, 0.0, threshold);
                let fn_ = simpson(|s| 1.0 - p(s), threshold, 1.0);
                let error = FALSE_POSITIVE_WEIGHT * fp + FALSE_NEGATIVE_WEIGHT * fn_;
                if best.as_ref().is_none_or(|(e, _)| error < *e) {
                    best = Some((error, Banding { bands, rows, false_positive_weight: fp, false_negative_weight: fn_ }));
                }
            }
        }
        best.map_or(Banding { bands: 1, rows: num_perm, false_positive_weight: 0.0, false_negative_weight: 0.0 }, |(_, b)| b)
    }
}

fn simpson(f: impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    const N: usize = 200;
    if b <= a {
        return 0.0;
    }
    let h = (b - a) / N as f64;
    let mut sum = f(a) + f(b);
    for i in 1..N {
        sum += f(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    sum * h / 3.0
}

/// A near-duplicate found: the kept record it matches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearMatch {
    /// 0-based position of the matching record among the kept ones.
    pub kept: usize,
    /// The estimated Jaccard similarity (share of equal signature positions).
    pub jaccard: f64,
}

/// Near-duplicate detection over a stream of records (see the module documentation).
#[derive(Debug)]
pub struct NearDedup {
    ngram: usize,
    num_perm: usize,
    /// Equal positions needed: ⌈threshold · num_perm⌉.
    min_equal: usize,
    banding: Banding,
    a: Vec<u64>,
    b: Vec<u64>,
    /// Kept signatures, `num_perm` values each.
    signatures: Vec<u32>,
    /// Band hash → the latest kept record with that band.
    buckets: HashMap<u64, u32, HashBuild>,
    /// Per kept record and band: the previous kept record in the same bucket.
    chains: Vec<u32>,
    kept: usize,
    text: String,
    bounds: Vec<usize>,
    shingles: Vec<u64>,
    signature: Vec<u32>,
    band_keys: Vec<u64>,
    band_bytes: Vec<u8>,
    checked: Vec<u32>,
}

impl NearDedup {
    /// A detector for checked parameters ([`crate::Recipe::check`]: `0 < threshold ≤ 1`,
    /// `8 ≤ num_perm ≤ 1024`, `1 ≤ ngram ≤ 32`).
    pub fn new(config: &DedupNear) -> NearDedup {
        let num_perm = config.num_perm.max(1);
        let mut state = config.seed ^ 0x6A09_E667_F3BC_C909;
        let mut a = Vec::with_capacity(num_perm);
        let mut b = Vec::with_capacity(num_perm);
        for _ in 0..num_perm {
            a.push(splitmix64(&mut state) | 1);
            b.push(splitmix64(&mut state));
        }
        let banding = Banding::optimal(config.threshold, num_perm);
        let min_equal = ((config.threshold * num_perm as f64) - 1e-9).ceil().max(1.0) as usize;
        NearDedup {
            ngram: config.ngram.max(1),
            num_perm,
            min_equal,
            banding,
            a,
            b,
            signatures: Vec::new(),
            buckets: HashMap::default(),
            chains: Vec::new(),
            kept: 0,
            text: String::new(),
            bounds: Vec::new(),
            shingles: Vec::new(),
            signature: vec![0; num_perm],
            band_keys: vec![0; banding.bands],
            band_bytes: Vec::with_capacity(banding.rows * 4),
            checked: Vec::new(),
        }
    }

    pub fn num_perm(&self) -> usize {
        self.num_perm
    }

    pub fn banding(&self) -> Banding {
        self.banding
    }

    /// Records kept so far (those in the index).
    pub fn kept(&self) -> usize {
        self.kept
    }

    /// The documented estimate of memory per kept record, in bytes.
    pub fn bytes_per_kept_record(&self) -> usize {
        4 * self.num_perm + self.banding.bands * (19 + 4)
    }

    /// Checks `record` against the kept records: `Some` when it is a near-duplicate of one
    /// (drop it); otherwise it is added to the index and `None` is returned. Fails only past
    /// 4 billion kept records.
    pub fn observe(&mut self, record: &Record) -> Result<Option<NearMatch>, TooManyRecords> {
        self.sign(record);
        self.keys();
        if let Some(found) = self.find() {
            return Ok(Some(found));
        }
        let id = u32::try_from(self.kept).ok().filter(|&id| id != NONE).ok_or(TooManyRecords)?;
        self.signatures.extend_from_slice(&self.signature);
        for &key in &self.band_keys {
            let previous = self.buckets.insert(key, id).unwrap_or(NONE);
            self.chains.push(previous);
        }
        self.kept += 1;
        Ok(None)
    }

    /// The MinHash signature of `record` into `self.signature`.
    fn sign(&mut self, record: &Record) {
        self.text.clear();
        for (i, content) in contents(record).enumerate() {
            if i > 0 {
                self.text.push('\n');
            }
            push_normalized(content, &mut self.text);
        }
        self.bounds.clear();
        self.bounds.extend(self.text.char_indices().map(|(i, _)| i));
        self.bounds.push(self.text.len());
        let chars = self.bounds.len() - 1;
        self.shingles.clear();
        if chars <= self.ngram {
            self.shingles.push(xxh3_64(self.text.as_bytes()));
        } else {
            for w in self.bounds.windows(self.ngram + 1) {
                self.shingles.push(xxh3_64(&self.text.as_bytes()[w[0]..w[self.ngram]]));
            }
        }
        self.shingles.sort_unstable();
        self.shingles.dedup();
        self.signature.fill(u32::MAX);
        for &x in &self.shingles {
            for ((s, &a), &b) in self.signature.iter_mut().zip(&self.a).zip(&self.b) {
                let v = (a.wrapping_mul(x).wrapping_add(b) >> 32) as u32;
                *s = (*s).min(v);
            }
        }
    }

    /// The band keys of `self.signature`.
    fn keys(&mut self) {
        let rows = self.banding.rows;
        for (band, key) in self.band_keys.iter_mut().enumerate() {
            self.band_bytes.clear();
            for v in &self.signature[band * rows..(band + 1) * rows] {
                self.band_bytes.extend_from_slice(&v.to_le_bytes());
            }
            *key = xxh3_64_with_seed(&self.band_bytes, band as u64);
        }
    }

    fn find(&mut self) -> Option<NearMatch> {
        self.checked.clear();
        let bands = self.banding.bands;
        for (band, key) in self.band_keys.iter().enumerate() {
            let mut next = self.buckets.get(key).copied().unwrap_or(NONE);
            while next != NONE {
                let id = next;
                next = self.chains[id as usize * bands + band];
                if self.checked.contains(&id) {
                    continue;
                }
                if self.checked.len() >= MAX_CANDIDATES {
                    return None;
                }
                self.checked.push(id);
                let start = id as usize * self.num_perm;
                let kept = &self.signatures[start..start + self.num_perm];
                let equal = kept.iter().zip(&self.signature).filter(|(a, b)| a == b).count();
                if equal >= self.min_equal {
                    return Some(NearMatch { kept: id as usize, jaccard: equal as f64 / self.num_perm as f64 });
                }
            }
        }
        None
    }
}

/// The index of kept records is full (4 billion).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("dedup_near keeps at most 4294967294 records")]
pub struct TooManyRecords;

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_banding_is_fourteen_bands_of_nine_rows() {
        let b = Banding::optimal(0.8, 128);
        assert_eq!((b.bands, b.rows), (14, 9), "{b:?}");
    }

    fn text(t: &str) -> Record {
        Record::Text { text: t.to_owned() }
    }

    fn shingle_set(t: &str, n: usize) -> std::collections::HashSet<String> {
        let chars: Vec<char> = t.chars().collect();
        chars.windows(n).map(|w| w.iter().collect()).collect()
    }

    #[test]
    fn estimates_follow_the_true_jaccard() {
        let a = "the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat by the door";
        let b = "the quick brown fox jumps over the lazy dog while a cat naps on the warm rug by the door";
        let (sa, sb) = (shingle_set(a, 5), shingle_set(b, 5));
        let truth = sa.intersection(&sb).count() as f64 / sa.union(&sb).count() as f64;
        let config = DedupNear { threshold: 0.01, num_perm: 1024, ..DedupNear::default() };
        let mut near = NearDedup::new(&config);
        assert_eq!(near.observe(&text(a)).unwrap(), None);
        let found = near.observe(&text(b)).unwrap().expect("compared");
        assert!((found.jaccard - truth).abs() < 0.05, "estimate {} vs true {truth}", found.jaccard);
    }
}
