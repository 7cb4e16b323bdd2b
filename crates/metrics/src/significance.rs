//! Offline A/B tests: two systems' outputs on the same examples, one metric (as a
//! [`Summable`], so corpus metrics such as BLEU are recomputed on every resample rather than
//! averaged per sentence). The difference B − A with a paired bootstrap confidence interval; a
//! two-sided p-value by the paired bootstrap (the resampled differences centred on the
//! observed one, Koehn 2004 / Berg-Kirkpatrick et al. 2012) or by approximate randomization
//! (each example's pair of outputs swapped at random, Noreen 1989; Riezler & Maxwell 2005);
//! the standardised effect (the difference over the per-example standard deviation the
//! bootstrap implies) and the sample size that would detect a given difference at the chosen
//! confidence and power. Seeded: the same settings give the same figures.

use crate::suite::{SplitMix64, Summable};

/// How the p-value is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    PairedBootstrap,
    ApproximateRandomization,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::PairedBootstrap => "paired_bootstrap",
            Method::ApproximateRandomization => "approximate_randomization",
        }
    }

    pub fn parse(name: &str) -> Option<Method> {
        [Method::PairedBootstrap, Method::ApproximateRandomization].into_iter().find(|m| m.name() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AbSettings {
    pub method: Method,
    /// Resamples (bootstrap) or shuffles (randomization).
    pub resamples: u32,
    /// 0.5–0.999: the interval's level, and 1 − the significance level.
    pub confidence: f64,
    pub seed: u64,
    /// The power the sample size is computed for (default 0.8).
    pub power: f64,
    /// The smallest difference (in the metric's units) worth detecting, for the sample size.
    pub minimum_effect: Option<f64>,
}

impl Default for AbSettings {
    fn default() -> AbSettings {
        AbSettings { method: Method::PairedBootstrap, resamples: 10_000, confidence: 0.95, seed: 12345, power: 0.8, minimum_effect: None }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AbResult {
    pub score_a: f64,
    pub score_b: f64,
    /// B − A.
    pub difference: f64,
    /// The paired bootstrap interval of the difference at `confidence`.
    pub interval: [f64; 2],
    pub p_value: f64,
    /// p < 1 − confidence.
    pub significant: bool,
    /// The difference over the per-example standard deviation of the difference.
    pub standardized_effect: Option<f64>,
    /// Examples needed to detect `minimum_effect` (or, without one, the observed difference)
    /// at the confidence and power; None when there is no variation to estimate it from.
    pub sample_size_needed: Option<u64>,
    /// The effect the sample size is for.
    pub effect_for_sample_size: f64,
    pub examples: usize,
}

/// Compares B with A (the same metric on the same examples).
pub fn ab_test(a: &Summable, b: &Summable, s: &AbSettings) -> Result<AbResult, String> {
    let n = a.rows.len();
    if n == 0 || b.rows.len() != n {
        return Err(format!("the systems have {n} and {} examples: compare them on the same examples", b.rows.len()));
    }
    if a.name != b.name {
        return Err(format!("the systems are scored by {} and {}: compare one metric", a.name, b.name));
    }
    if !(0.5..=0.999).contains(&s.confidence) || !(0.5..=0.999).contains(&s.power) || s.resamples == 0 {
        return Err("confidence and power must be 0.5 to 0.999, resamples at least 1".into());
    }
    let (score_a, score_b) = (a.score(), b.score());
    let difference = score_b - score_a;
    let mut rng = SplitMix64(s.seed);
    let mut idx = vec![0usize; n];
    let mut deltas: Vec<f64> = (0..s.resamples)
        .map(|_| {
            idx.iter_mut().for_each(|i| *i = rng.below(n));
            b.score_of(idx.iter().copied()) - a.score_of(idx.iter().copied())
        })
        .collect();
    // Differences within a rounding error of each other count as equal.
    let tolerance = 1e-9 * (1.0 + difference.abs());
    let p_value = match s.method {
        Method::PairedBootstrap => {
            let extreme = deltas.iter().filter(|d| (*d - difference).abs() >= difference.abs() - tolerance).count();
            (1 + extreme) as f64 / (s.resamples as f64 + 1.0)
        }
        Method::ApproximateRandomization => {
            let mut rng = SplitMix64(s.seed ^ 0x5DEE_CE66_D1CE_4E5B);
            let extreme = (0..s.resamples)
                .filter(|_| {
                    let swap: Vec<bool> = (0..n).map(|_| rng.next() >> 63 == 1).collect();
                    let a_rows = (0..n).map(|i| if swap[i] { &b.rows[i] } else { &a.rows[i] });
                    let b_rows = (0..n).map(|i| if swap[i] { &a.rows[i] } else { &b.rows[i] });
                    (b.score_of_rows(b_rows) - a.score_of_rows(a_rows)).abs() >= difference.abs() - tolerance
                })
                .count();
            (1 + extreme) as f64 / (s.resamples as f64 + 1.0)
        }
    };
    let p_value = p_value.min(1.0);
    let mean = deltas.iter().sum::<f64>() / deltas.len() as f64;
    let sd_n = (deltas.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (deltas.len().max(2) - 1) as f64).sqrt();
    deltas.sort_by(f64::total_cmp);
    let tail = (1.0 - s.confidence) / 2.0;
    let interval = [crate::suite::percentile(&deltas, tail), crate::suite::percentile(&deltas, 1.0 - tail)];
    // The bootstrap standard error at n examples implies a per-example deviation of se·√n.
    let per_example_sd = sd_n * (n as f64).sqrt();
    let standardized_effect = (per_example_sd > 0.0).then(|| difference / per_example_sd);
    let effect = s.minimum_effect.unwrap_or(difference).abs();
    let z = normal_quantile(1.0 - tail) + normal_quantile(s.power);
    let sample_size_needed = (per_example_sd > 0.0 && effect > 0.0).then(|| ((z * per_example_sd / effect).powi(2)).ceil() as u64);
    Ok(AbResult {
        score_a,
        score_b,
        difference,
        interval,
        p_value,
        significant: p_value < 1.0 - s.confidence,
        standardized_effect,
        sample_size_needed,
        effect_for_sample_size: effect,
        examples: n,
    })
}

/// The standard normal quantile (Acklam's rational approximation, relative error below
/// 1.2e-9), `p` in (0, 1).
#[allow(clippy::excessive_precision)] // Acklam's published coefficients, as published
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] =
        [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.383577518672690e2, -3.066479806614716e1, 2.506628277459239];
    const B: [f64; 5] = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] =
        [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    const LOW: f64 = 0.02425;
    if p < LOW {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - p)
    }
}
