//! N-gram counting without hash tables: the units of a segment (tokens or characters, of the
//! hypothesis and its references together) get ids by their sorted order, each n-gram becomes
//! one integer packing its ids, and counts are sorted runs of those integers, so two texts'
//! counts meet in one merge. Short segments make this several times faster than hashing each
//! n-gram. Every order comes from one sort per text: the key at each position packs the next
//! `max_order` ids (1-based, 0 past the end), and keys sorted whole are sorted by any prefix,
//! so each order's n-grams are runs of the keys shifted right. When the ids do not fit 128 bits
//! (very long orders over large alphabets), [`order_stats`] counts with a hash table instead.

use crate::fxhash::FxHashMap;

/// Ids from 1 for the units of several texts (shared: equal units, equal ids; 0 marks the end
/// of a text in [`prefix_keys`]) and the bits the largest takes.
pub(crate) fn ids_from_one<T: std::hash::Hash + Eq + Copy>(texts: &[&[T]]) -> (Vec<Vec<u32>>, u32) {
    let units: usize = texts.iter().map(|t| t.len()).sum();
    let mut vocabulary: FxHashMap<T, u32> = FxHashMap::with_capacity_and_hasher(units, Default::default());
    let ids = texts
        .iter()
        .map(|t| {
            t.iter()
                .map(|u| {
                    let next = vocabulary.len() as u32 + 1;
                    *vocabulary.entry(*u).or_insert(next)
                })
                .collect()
        })
        .collect();
    (ids, (u32::BITS - (vocabulary.len() as u32).leading_zeros()).max(1))
}

/// The sorted keys of every position of `ids` (1-based): the next `max_order` ids packed, the
/// first highest, 0 past the end (`packs(max_order, bits)` must hold).
pub(crate) fn prefix_keys(ids: &[u32], max_order: usize, bits: u32) -> Vec<u128> {
    debug_assert!(packs(max_order, bits));
    let mut keys: Vec<u128> =
        (0..ids.len()).map(|i| (0..max_order).fold(0u128, |k, j| (k << bits) | u128::from(ids.get(i + j).copied().unwrap_or(0)))).collect();
    keys.sort_unstable();
    keys
}

/// The sorted counts of the n-grams (`n` ≤ `max_order`) in sorted [`prefix_keys`].
pub(crate) fn order_counts(keys: &[u128], n: usize, max_order: usize, bits: u32) -> Vec<(u128, u64)> {
    let shift = bits * (max_order - n) as u32;
    let last_mask = (1u128 << bits) - 1;
    let mut out: Vec<(u128, u64)> = Vec::new();
    for key in keys {
        let gram = key >> shift;
        // A position less than n from the end has no n-gram: its n-th id is 0.
        if gram & last_mask == 0 {
            continue;
        }
        match out.last_mut() {
            Some((last, c)) if *last == gram => *c += 1,
            _ => out.push((gram, 1)),
        }
    }
    out
}

/// Whether n-grams of `n` ids of `bits` bits pack into one key.
pub(crate) fn packs(n: usize, bits: u32) -> bool {
    n as u32 * bits <= 128
}

/// The sorted counts of the n-grams of `ids` (`packs(n, bits)` must hold).
pub(crate) fn counts(ids: &[u32], n: usize, bits: u32) -> Vec<(u128, u64)> {
    debug_assert!(packs(n, bits));
    if n == 0 || ids.len() < n {
        return Vec::new();
    }
    let mut keys: Vec<u128> = ids.windows(n).map(|w| w.iter().fold(0u128, |k, id| (k << bits) | u128::from(*id))).collect();
    keys.sort_unstable();
    let mut out: Vec<(u128, u64)> = Vec::with_capacity(keys.len());
    for k in keys {
        match out.last_mut() {
            Some((last, c)) if *last == k => *c += 1,
            _ => out.push((k, 1)),
        }
    }
    out
}

/// Each key's largest count over several sorted count lists, sorted.
pub(crate) fn max_counts(lists: Vec<Vec<(u128, u64)>>) -> Vec<(u128, u64)> {
    if lists.len() == 1 {
        return lists.into_iter().next().expect("one list");
    }
    let mut all: Vec<(u128, u64)> = lists.into_iter().flatten().collect();
    all.sort_unstable();
    let mut out: Vec<(u128, u64)> = Vec::with_capacity(all.len());
    for (k, c) in all {
        match out.last_mut() {
            Some((last, m)) if *last == k => *m = (*m).max(c),
            _ => out.push((k, c)),
        }
    }
    out
}

/// The n-grams of `h` clipped by their counts in `r`: Σ min(h(g), r(g)).
pub(crate) fn clipped(h: &[(u128, u64)], r: &[(u128, u64)]) -> u64 {
    let (mut i, mut j, mut matched) = (0, 0, 0);
    while i < h.len() && j < r.len() {
        match h[i].0.cmp(&r[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                matched += h[i].1.min(r[j].1);
                i += 1;
                j += 1;
            }
        }
    }
    matched
}

pub(crate) fn total(counts: &[(u128, u64)]) -> u64 {
    counts.iter().map(|(_, c)| c).sum()
}

/// (hypothesis n-grams, reference n-grams, matched) of order `n`, packed when the ids fit,
/// else counted in hash tables (the same figures).
pub(crate) fn order_stats(h: &[u32], r: &[u32], n: usize, bits: u32) -> (u64, u64, u64) {
    if packs(n, bits) {
        let (hc, rc) = (counts(h, n, bits), counts(r, n, bits));
        return (total(&hc), total(&rc), clipped(&hc, &rc));
    }
    let count = |ids: &[u32]| -> FxHashMap<Vec<u32>, u64> {
        let mut out = FxHashMap::default();
        if ids.len() >= n {
            for w in ids.windows(n) {
                *out.entry(w.to_vec()).or_insert(0) += 1;
            }
        }
        out
    };
    let (hc, rc) = (count(h), count(r));
    let matched = hc.iter().map(|(g, c)| (*c).min(rc.get(g).copied().unwrap_or(0))).sum();
    (hc.values().sum(), rc.values().sum(), matched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_and_hashed_counting_agree() {
        let h: Vec<u32> = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 1, 4, 1].to_vec();
        let r: Vec<u32> = [1, 4, 1, 5, 9, 3, 5, 1, 4, 1, 5].to_vec();
        for n in 1..=6 {
            let packed = order_stats(&h, &r, n, 4);
            // 40 bits per id pack at most three ids: orders 4–6 take the hash-table path.
            assert_eq!(packs(n, 40), n <= 3);
            let wide = order_stats(&h, &r, n, 40);
            let hashed = {
                let count = |ids: &[u32]| -> std::collections::HashMap<Vec<u32>, u64> {
                    let mut out = std::collections::HashMap::new();
                    for w in ids.windows(n) {
                        *out.entry(w.to_vec()).or_insert(0) += 1;
                    }
                    out
                };
                let (hc, rc) = (count(&h), count(&r));
                let matched: u64 = hc.iter().map(|(g, c)| (*c).min(rc.get(g).copied().unwrap_or(0))).sum();
                (hc.values().sum::<u64>(), rc.values().sum::<u64>(), matched)
            };
            assert_eq!(packed, hashed, "order {n}");
            assert_eq!(wide, hashed, "order {n}, 40 bits");
        }
        let (ids, bits) = ids_from_one(&[&['b', 'a', 'c'][..], &['c', 'd'][..]]);
        assert_eq!((ids, bits), (vec![vec![1, 2, 3], vec![3, 4]], 3));
        let a = counts(&[1, 2, 1, 2], 2, 2);
        let b = counts(&[1, 2, 1, 2, 1, 2], 2, 2);
        assert_eq!(max_counts(vec![a.clone(), b.clone()]), b);
        assert_eq!(clipped(&b, &a), 3);
    }
}
