//! A bounded-memory distribution: count, sum, min, max, a histogram over fixed documented
//! edges for display, and a fine log-scale histogram for percentiles.
//!
//! The fine histogram holds values below 16 exactly and larger values in buckets an eighth of
//! a power of two wide (496 counters for the whole `u64` range), so a reported percentile
//! is the bucket's midpoint: within about 6% of the true value, and exact below 16.

use serde::{Deserialize, Serialize};

/// Characters and tokens per record: a 1-2-5 series. Bucket `i` is `[edges[i], edges[i+1])`;
/// the last bucket is open-ended.
pub const LENGTH_BUCKET_EDGES: &[u64] = &[
    0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000, 2_000_000,
    5_000_000, 10_000_000,
];

/// Turns per conversation: exact up to 10, then wider.
pub const TURN_BUCKET_EDGES: &[u64] = &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16, 20, 32, 64, 128];

const EXACT: usize = 16;
const FINE_BUCKETS: usize = EXACT + (64 - 4) * 8;

#[derive(Debug, Clone)]
pub(crate) struct Distribution {
    edges: &'static [u64],
    buckets: Vec<u64>,
    fine: Vec<u64>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

/// One display bucket: values in `[lower, upper)`; `upper` is absent on the last bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = DistributionBucket)]
pub struct Bucket {
    pub lower: u64,
    pub upper: Option<u64>,
    pub count: u64,
}

/// A distribution as reported. `min`, `max`, `mean`, `p50` and `p95` are absent when
/// `count` is 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DistributionReport {
    pub count: u64,
    pub sum: u64,
    pub min: Option<u64>,
    pub max: Option<u64>,
    pub mean: Option<f64>,
    pub p50: Option<u64>,
    pub p95: Option<u64>,
    pub buckets: Vec<Bucket>,
}

impl Distribution {
    pub(crate) fn new(edges: &'static [u64]) -> Distribution {
        Distribution { edges, buckets: vec![0; edges.len()], fine: vec![0; FINE_BUCKETS], count: 0, sum: 0, min: u64::MAX, max: 0 }
    }

    pub(crate) fn add(&mut self, value: u64) {
        self.count += 1;
        self.sum += u128::from(value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        let display = self.edges.partition_point(|&e| e <= value).saturating_sub(1);
        self.buckets[display] += 1;
        self.fine[fine_index(value)] += 1;
    }

    /// Nearest-rank percentile, `q` in (0, 1].
    fn percentile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, &n) in self.fine.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let (lo, hi) = fine_bounds(i);
                let mid = lo + (hi - lo) / 2;
                return Some(mid.clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }

    pub(crate) fn report(&self) -> DistributionReport {
        let some = self.count > 0;
        DistributionReport {
            count: self.count,
            sum: u64::try_from(self.sum).unwrap_or(u64::MAX),
            min: some.then_some(self.min),
            max: some.then_some(self.max),
            mean: some.then(|| self.sum as f64 / self.count as f64),
            p50: self.percentile(0.5),
            p95: self.percentile(0.95),
            buckets: self
                .edges
                .iter()
                .enumerate()
                .map(|(i, &lower)| Bucket { lower, upper: self.edges.get(i + 1).copied(), count: self.buckets[i] })
                .collect(),
        }
    }
}

fn fine_index(v: u64) -> usize {
    if v < EXACT as u64 {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros() as usize;
    let mantissa = ((v >> (exp - 3)) & 7) as usize;
    EXACT + (exp - 4) * 8 + mantissa
}

/// `[lo, hi)` of a fine bucket.
fn fine_bounds(i: usize) -> (u64, u64) {
    if i < EXACT {
        return (i as u64, i as u64 + 1);
    }
    let exp = (i - EXACT) / 8 + 4;
    let mantissa = ((i - EXACT) % 8) as u64;
    let lo = (8 + mantissa) << (exp - 3);
    let hi = (9 + mantissa).checked_shl((exp - 3) as u32).filter(|h| *h > lo).unwrap_or(u64::MAX);
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fine_buckets_cover_their_values() {
        for v in [0, 1, 15, 16, 17, 31, 32, 100, 1000, 123_456_789, u64::MAX / 3, u64::MAX] {
            let (lo, hi) = fine_bounds(fine_index(v));
            assert!(lo <= v && (v < hi || hi == u64::MAX), "{v} not in [{lo}, {hi})");
        }
        assert_eq!(fine_index(u64::MAX), FINE_BUCKETS - 1);
    }

    #[test]
    fn percentiles_are_exact_for_small_values_and_close_for_large() {
        let mut d = Distribution::new(LENGTH_BUCKET_EDGES);
        for v in 1..=10 {
            d.add(v);
        }
        let r = d.report();
        assert_eq!((r.min, r.max, r.p50, r.p95, r.mean), (Some(1), Some(10), Some(5), Some(10), Some(5.5)));
        let mut d = Distribution::new(LENGTH_BUCKET_EDGES);
        for v in 1..=100_000u64 {
            d.add(v);
        }
        let p50 = d.report().p50.unwrap_or_default() as f64;
        assert!((p50 - 50_000.0).abs() / 50_000.0 < 0.07, "p50 {p50}");
    }
}
