//! `split`: sends a deterministic sample of the records to the validation output.
//!
//! Each record reaching the split gets a key: XXH3-64 of its canonical hash (as it is at the
//! split, after masking), seeded by `seed`, with its position among the records reaching the
//! split to break ties between identical records. Keys do not depend on other records, so the
//! same recipe on the same input always picks the same records, and a different seed picks a
//! different sample.
//!
//! - `{"ratio": r}` without `stratify_by`: one pass; a record goes to validation when its key
//!   is below `r · 2⁶⁴`. The validation share is `r` on average (binomial: for 10,000 records
//!   and r = 0.1, 1,000 ± 30), not exact.
//! - `{"count": k}`: two passes. The first keeps the `k` smallest keys (a bounded heap, 16 bytes
//!   per entry); the second sends exactly those records (all of them when fewer than `k`
//!   reach the split).
//! - `stratify_by` (`kind` or `language`; canonical records have no metadata fields to stratify
//!   by): two passes. Each stratum gets its share — `round(r · nₛ)` records for a ratio, or `k`
//!   divided in proportion to the strata's sizes by largest remainder for a count — and takes
//!   its records with the smallest keys. The first pass keeps, per stratum, the `k` smallest keys
//!   for a count, or every key for a ratio (16 bytes per record reaching the split).

use std::collections::{BTreeMap, BinaryHeap};

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::record::Record;

use super::config::{Split, SplitSize, Stratify};
use super::exact::canonical_hash;
use super::report::{SplitCounts, SplitInfo};
use super::text::{kind, language};

type Key = (u64, u64);

fn stratum(record: &Record, by: Option<Stratify>) -> &'static str {
    match by {
        None => "",
        Some(Stratify::Kind) => kind(record),
        Some(Stratify::Language) => language(record).as_str(),
    }
}

fn key(record: &Record, seed: u64, ordinal: u64) -> Key {
    (xxh3_64_with_seed(&canonical_hash(record).to_le_bytes(), seed), ordinal)
}

#[derive(Debug, Default)]
struct Collected {
    n: u64,
    /// The smallest keys seen (a max-heap, trimmed to the cap).
    smallest: BinaryHeap<Key>,
}

/// First pass: gathers what the plan needs.
#[derive(Debug)]
pub(crate) struct SplitCollector {
    config: Split,
    ordinal: u64,
    strata: BTreeMap<&'static str, Collected>,
}

impl SplitCollector {
    pub(crate) fn new(config: &Split) -> SplitCollector {
        SplitCollector { config: config.clone(), ordinal: 0, strata: BTreeMap::new() }
    }

    pub(crate) fn observe(&mut self, record: &Record) {
        let key = key(record, self.config.seed, self.ordinal);
        self.ordinal += 1;
        let entry = self.strata.entry(stratum(record, self.config.stratify_by)).or_default();
        entry.n += 1;
        entry.smallest.push(key);
        if let SplitSize::Count(k) = self.config.validation {
            if entry.smallest.len() as u64 > k {
                entry.smallest.pop();
            }
        }
    }

    /// The largest validation key per stratum (absent: the stratum sends nothing).
    pub(crate) fn finish(self) -> SplitPlan {
        let total: u64 = self.strata.values().map(|c| c.n).sum();
        let quotas: BTreeMap<&'static str, u64> = match self.config.validation {
            SplitSize::Ratio(r) => self.strata.iter().map(|(s, c)| (*s, ((r * c.n as f64).round() as u64).min(c.n))).collect(),
            SplitSize::Count(k) => {
                let k = k.min(total);
                let mut quotas: BTreeMap<&'static str, u64> = BTreeMap::new();
                let mut remainders = Vec::new();
                for (s, c) in &self.strata {
                    let exact = u128::from(k) * u128::from(c.n);
                    quotas.insert(*s, (exact / u128::from(total)) as u64);
                    remainders.push((exact % u128::from(total), *s));
                }
                let given: u64 = quotas.values().sum();
                // Largest remainders first; ties in stratum order.
                remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
                for (_, s) in remainders.into_iter().take((k - given) as usize) {
                    *quotas.entry(s).or_default() += 1;
                }
                quotas
            }
        };
        let mut thresholds = BTreeMap::new();
        for (s, c) in self.strata {
            let quota = quotas.get(s).copied().unwrap_or(0) as usize;
            let sorted = c.smallest.into_sorted_vec();
            thresholds.insert(s, quota.checked_sub(1).and_then(|i| sorted.get(i).copied()));
        }
        SplitPlan { thresholds, reaching: self.ordinal }
    }
}

/// What the first pass decided.
#[derive(Debug, Clone)]
pub(crate) struct SplitPlan {
    thresholds: BTreeMap<&'static str, Option<Key>>,
    /// Records that reached the split in the first pass.
    pub reaching: u64,
}

/// Second (or only) pass: routes each record.
#[derive(Debug)]
pub(crate) struct SplitRouter {
    config: Split,
    plan: Option<SplitPlan>,
    ordinal: u64,
    counts: BTreeMap<&'static str, SplitCounts>,
}

impl SplitRouter {
    pub(crate) fn new(config: &Split, plan: Option<SplitPlan>) -> SplitRouter {
        SplitRouter { config: config.clone(), plan, ordinal: 0, counts: BTreeMap::new() }
    }

    /// True when `record` goes to validation.
    pub(crate) fn route(&mut self, record: &Record) -> bool {
        let key = key(record, self.config.seed, self.ordinal);
        self.ordinal += 1;
        let s = stratum(record, self.config.stratify_by);
        let validation = match (&self.plan, self.config.validation) {
            (Some(plan), _) => plan.thresholds.get(s).copied().flatten().is_some_and(|max| key <= max),
            (None, SplitSize::Ratio(r)) => key.0 < (r * 18_446_744_073_709_551_616.0) as u64,
            (None, SplitSize::Count(_)) => false,
        };
        let counts = self.counts.entry(s).or_default();
        if validation {
            counts.validation += 1;
        } else {
            counts.main += 1;
        }
        validation
    }

    /// Records routed so far.
    pub(crate) fn reached(&self) -> u64 {
        self.ordinal
    }

    pub(crate) fn info(&self) -> SplitInfo {
        let main = self.counts.values().map(|c| c.main).sum();
        let validation = self.counts.values().map(|c| c.validation).sum();
        let strata = if self.config.stratify_by.is_some() {
            self.counts.iter().map(|(s, c)| ((*s).to_owned(), c.clone())).collect()
        } else {
            BTreeMap::new()
        };
        SplitInfo { main, validation, strata }
    }
}
