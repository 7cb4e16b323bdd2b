//! Near-duplicate benchmark: `dedup_near` (MinHash LSH, default parameters: threshold 0.8,
//! 128 hash functions, 5-character shingles) over N generated short records, against
//! `dedup_exact` over the same records as the baseline, in one run.
//!
//! Records (deterministic, in memory, before any timing): 20–200 characters of words from a
//! small vocabulary. About 10% are near-duplicates: a copy of an earlier original with 1–3
//! characters substituted (one per 60 characters, at least one); about 1% are exact copies.
//! A short record with an edit may fall under the threshold (a 40-character record with one
//! edit shares about 76% of its shingles), so fewer near-duplicates than planted are dropped.
//!
//! Usage: `cargo run --release -p tunery-bench-near-dup -- [--records 1000000]`

use std::time::Instant;

use datasets::recipe::{DedupNear, ExactDedup, NearDedup};
use datasets::Record;

const WORDS: &[&str] = &[
    "the",
    "model",
    "answers",
    "questions",
    "about",
    "data",
    "training",
    "river",
    "mountain",
    "quickly",
    "orange",
    "theory",
    "window",
    "garden",
    "silver",
    "network",
    "energy",
    "history",
    "purple",
    "signal",
    "harbor",
    "lantern",
    "market",
    "number",
    "ocean",
    "pencil",
    "quiet",
    "rocket",
    "shadow",
    "tunnel",
    "violet",
    "wander",
    "yellow",
    "anchor",
    "bridge",
    "candle",
    "desert",
    "engine",
    "forest",
    "glacier",
    "island",
    "jungle",
    "kettle",
    "ladder",
    "meadow",
    "needle",
    "oyster",
    "parrot",
    "rabbit",
    "saddle",
    "timber",
    "umbrella",
    "valley",
    "walnut",
    "please",
    "explain",
    "why",
    "how",
    "what",
    "is",
    "a",
    "of",
    "to",
    "and",
    "in",
    "for",
    "with",
    "on",
    "by",
    "from",
];

/// SplitMix64: deterministic and good enough to pick words.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Planted {
    Original,
    Near,
    Exact,
}

fn generate(n: usize) -> (Vec<Record>, Vec<Planted>) {
    let mut rng = Rng(42);
    let mut texts: Vec<String> = Vec::with_capacity(n);
    let mut originals: Vec<usize> = Vec::new();
    let mut planted = Vec::with_capacity(n);
    for _ in 0..n {
        let roll = rng.below(100);
        if roll < 10 && !originals.is_empty() {
            let base = &texts[originals[rng.below(originals.len())]];
            let mut chars: Vec<char> = base.chars().collect();
            let edits = (chars.len() / 60).clamp(1, 3);
            for _ in 0..edits {
                let at = rng.below(chars.len());
                chars[at] = if chars[at] == 'z' { 'q' } else { 'z' };
            }
            texts.push(chars.into_iter().collect());
            planted.push(Planted::Near);
        } else if roll < 11 && !originals.is_empty() {
            texts.push(texts[originals[rng.below(originals.len())]].clone());
            planted.push(Planted::Exact);
        } else {
            let len = 20 + rng.below(181);
            let mut s = String::with_capacity(len + 12);
            while s.len() < len {
                if !s.is_empty() {
                    s.push(' ');
                }
                s.push_str(WORDS[rng.below(WORDS.len())]);
            }
            s.truncate(len);
            originals.push(texts.len());
            texts.push(s.trim_end().to_owned());
            planted.push(Planted::Original);
        }
    }
    (texts.into_iter().map(|text| Record::Text { text }).collect(), planted)
}

/// Jaccard similarity of the 5-character shingle sets (the texts are already lowercase with
/// single spaces, as `dedup_near` normalises them).
fn jaccard(a: &str, b: &str) -> f64 {
    let shingles = |s: &str| -> std::collections::HashSet<Vec<char>> {
        let c: Vec<char> = s.chars().collect();
        if c.len() <= 5 {
            return std::iter::once(c).collect();
        }
        c.windows(5).map(<[char]>::to_vec).collect()
    };
    let (a, b) = (shingles(a), shingles(b));
    a.intersection(&b).count() as f64 / a.union(&b).count() as f64
}

fn main() {
    let mut records = 1_000_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next().and_then(|v| v.parse().ok())) {
            ("--records", Some(n)) if n > 0 => records = n,
            _ => {
                eprintln!("usage: tunery-bench-near-dup [--records N]");
                std::process::exit(2);
            }
        }
    }
    let started = Instant::now();
    let (data, planted) = generate(records);
    let chars: usize = data.iter().map(|r| if let Record::Text { text } = r { text.chars().count() } else { 0 }).sum();
    let count = |kind: Planted| planted.iter().filter(|&&p| p == kind).count();
    println!(
        "{records} records, {:.0} characters on average, generated in {:.1} s: {} near-duplicates planted (1-3 characters edited), {} exact copies",
        chars as f64 / records as f64,
        started.elapsed().as_secs_f64(),
        count(Planted::Near),
        count(Planted::Exact)
    );

    let t = Instant::now();
    let mut exact = ExactDedup::new(false);
    let exact_dropped: Vec<bool> = data.iter().map(|r| exact.observe(r)).collect();
    let exact_secs = t.elapsed().as_secs_f64();

    let config = DedupNear::default();
    let t = Instant::now();
    let mut near = NearDedup::new(&config);
    let matches: Vec<Option<usize>> = data.iter().map(|r| near.observe(r).expect("index full").map(|m| m.kept)).collect();
    let near_secs = t.elapsed().as_secs_f64();
    let near_dropped: Vec<bool> = matches.iter().map(Option::is_some).collect();

    // After timing: the true Jaccard of each dropped record with the kept record it matched.
    let kept_index: Vec<usize> = matches.iter().enumerate().filter(|(_, m)| m.is_none()).map(|(i, _)| i).collect();
    let text = |i: usize| match &data[i] {
        Record::Text { text } => text.as_str(),
        _ => "",
    };
    let mut true_jaccard: Vec<f64> =
        matches.iter().enumerate().filter_map(|(i, m)| m.map(|k| jaccard(text(i), text(kept_index[k])))).collect();
    true_jaccard.sort_by(f64::total_cmp);

    let tally = |dropped: &[bool]| {
        let total = dropped.iter().filter(|&&d| d).count();
        let of = |kind: Planted| dropped.iter().zip(&planted).filter(|(&d, &p)| d && p == kind).count();
        (total, of(Planted::Near), of(Planted::Exact), of(Planted::Original))
    };
    let (e_total, e_near, e_exact, e_orig) = tally(&exact_dropped);
    let (n_total, n_near, n_exact, n_orig) = tally(&near_dropped);
    let banding = near.banding();
    println!("{:<12} {:>9} {:>14} {:>9}   dropped: near-dup copies / exact copies / originals", "", "seconds", "records/s", "dropped");
    println!(
        "{:<12} {:>9.2} {:>14.0} {:>9}   {e_near} / {e_exact} / {e_orig}",
        "dedup_exact",
        exact_secs,
        records as f64 / exact_secs,
        e_total
    );
    println!(
        "{:<12} {:>9.2} {:>14.0} {:>9}   {n_near} / {n_exact} / {n_orig}",
        "dedup_near",
        near_secs,
        records as f64 / near_secs,
        n_total
    );
    println!(
        "ratio: dedup_near takes {:.1}x the time of dedup_exact (threshold {}, {} hash functions, {} bands x {} rows, ~{} bytes per kept record, {} kept)",
        near_secs / exact_secs,
        config.threshold,
        config.num_perm,
        banding.bands,
        banding.rows,
        near.bytes_per_kept_record(),
        near.kept()
    );
    let below = |t: f64| true_jaccard.iter().filter(|&&j| j < t).count();
    println!(
        "dedup_near drops by true Jaccard with the matched record: {} below 0.8 ({:.2}%), {} below 0.7; lowest {:.3}",
        below(0.8),
        100.0 * below(0.8) as f64 / true_jaccard.len().max(1) as f64,
        below(0.7),
        true_jaccard.first().copied().unwrap_or(1.0)
    );
}
