//! Agreement between raters. Krippendorff's alpha (any number of raters, missing ratings
//! allowed; nominal, ordinal, interval and ratio levels) from the coincidence matrix as
//! Krippendorff (2011, "Computing Krippendorff's alpha-reliability") defines it — equal to the
//! `krippendorff` PyPI package; Cohen's kappa for two raters, unweighted or with linear or
//! quadratic weights over the category positions, as scikit-learn's `cohen_kappa_score`
//! computes it.

/// How far apart two values are for Krippendorff's alpha.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Categories: equal or not.
    Nominal,
    /// Ranks: how many values lie between them.
    Ordinal,
    /// Numbers: the squared difference.
    Interval,
    /// Numbers with a true zero: the squared relative difference.
    Ratio,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Nominal => "nominal",
            Level::Ordinal => "ordinal",
            Level::Interval => "interval",
            Level::Ratio => "ratio",
        }
    }
}

/// Krippendorff's alpha of `units`, each the values its raters gave (one per rater; raters who
/// did not rate it are left out). Units with fewer than two values cannot be paired and do not
/// count. None when nothing can be paired or every paired value is the same (no variation:
/// alpha is undefined).
pub fn krippendorff_alpha(units: &[Vec<f64>], level: Level) -> Option<f64> {
    let mut values: Vec<f64> = units.iter().filter(|u| u.len() >= 2).flatten().copied().collect();
    values.sort_by(f64::total_cmp);
    values.dedup();
    let v = values.len();
    if v == 0 {
        return None;
    }
    let index = |x: f64| values.binary_search_by(|p| p.total_cmp(&x)).expect("every value is listed");
    // The coincidence matrix: each unit's ordered pairs of values from different raters,
    // weighted 1 / (m_u - 1).
    let mut o = vec![0.0; v * v];
    for unit in units.iter().filter(|u| u.len() >= 2) {
        let mut counts = vec![0.0; v];
        for &x in unit {
            counts[index(x)] += 1.0;
        }
        let weight = 1.0 / (unit.len() as f64 - 1.0);
        for c in 0..v {
            if counts[c] == 0.0 {
                continue;
            }
            for k in 0..v {
                let pairs = if c == k { counts[c] * (counts[c] - 1.0) } else { counts[c] * counts[k] };
                o[c * v + k] += pairs * weight;
            }
        }
    }
    let n_c: Vec<f64> = (0..v).map(|c| (0..v).map(|k| o[c * v + k]).sum()).collect();
    let n: f64 = n_c.iter().sum();
    let delta = |c: usize, k: usize| -> f64 {
        match level {
            Level::Nominal => f64::from(u8::from(c != k)),
            Level::Interval => (values[c] - values[k]).powi(2),
            Level::Ratio => {
                let sum = values[c] + values[k];
                if sum == 0.0 {
                    0.0
                } else {
                    ((values[c] - values[k]) / sum).powi(2)
                }
            }
            Level::Ordinal => {
                let (lo, hi) = (c.min(k), c.max(k));
                let between: f64 = n_c[lo..=hi].iter().sum();
                (between - (n_c[c] + n_c[k]) / 2.0).powi(2)
            }
        }
    };
    let (mut observed, mut expected) = (0.0, 0.0);
    for c in 0..v {
        for k in 0..v {
            let d = delta(c, k);
            observed += o[c * v + k] * d;
            expected += n_c[c] * n_c[k] * d;
        }
    }
    if expected == 0.0 {
        return None;
    }
    Some(1.0 - (n - 1.0) * observed / expected)
}

/// Weights of Cohen's kappa.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KappaWeights {
    /// Any disagreement counts fully.
    None,
    /// Disagreement grows with the distance between the categories' positions.
    Linear,
    /// … with its square.
    Quadratic,
}

impl KappaWeights {
    pub fn name(self) -> &'static str {
        match self {
            KappaWeights::None => "unweighted",
            KappaWeights::Linear => "linear",
            KappaWeights::Quadratic => "quadratic",
        }
    }
}

/// Cohen's kappa of two raters' labels of the same items (`a[i]` and `b[i]` label item i).
/// `categories` are the possible labels in order (weights use their positions); empty means
/// the labels seen, sorted. None when there are no items, a label is not a category, or chance
/// agreement is already perfect (kappa undefined).
pub fn cohen_kappa(a: &[f64], b: &[f64], categories: &[f64], weights: KappaWeights) -> Option<f64> {
    if a.is_empty() || a.len() != b.len() {
        return None;
    }
    let mut cats: Vec<f64> = if categories.is_empty() { a.iter().chain(b).copied().collect() } else { categories.to_vec() };
    cats.sort_by(f64::total_cmp);
    cats.dedup();
    let q = cats.len();
    let position = |x: f64| cats.binary_search_by(|p| p.total_cmp(&x)).ok();
    let mut confusion = vec![0.0; q * q];
    for (&x, &y) in a.iter().zip(b) {
        confusion[position(x)? * q + position(y)?] += 1.0;
    }
    let n = a.len() as f64;
    let rows: Vec<f64> = (0..q).map(|i| (0..q).map(|j| confusion[i * q + j]).sum()).collect();
    let cols: Vec<f64> = (0..q).map(|j| (0..q).map(|i| confusion[i * q + j]).sum()).collect();
    let weight = |i: usize, j: usize| -> f64 {
        let d = i.abs_diff(j) as f64;
        match weights {
            KappaWeights::None => f64::from(u8::from(i != j)),
            KappaWeights::Linear => d,
            KappaWeights::Quadratic => d * d,
        }
    };
    let (mut observed, mut expected) = (0.0, 0.0);
    for i in 0..q {
        for j in 0..q {
            observed += weight(i, j) * confusion[i * q + j];
            expected += weight(i, j) * rows[i] * cols[j] / n;
        }
    }
    if expected == 0.0 {
        return None;
    }
    Some(1.0 - observed / expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_agreement_is_one_and_no_variation_is_undefined() {
        let units = vec![vec![1.0, 1.0], vec![2.0, 2.0], vec![3.0, 3.0, 3.0]];
        for level in [Level::Nominal, Level::Ordinal, Level::Interval, Level::Ratio] {
            assert_eq!(krippendorff_alpha(&units, level), Some(1.0), "{}", level.name());
        }
        assert_eq!(krippendorff_alpha(&[vec![2.0, 2.0], vec![2.0, 2.0]], Level::Interval), None);
        assert_eq!(krippendorff_alpha(&[vec![2.0], vec![3.0]], Level::Nominal), None, "no unit has two ratings");
        assert_eq!(cohen_kappa(&[1.0, 2.0], &[1.0, 2.0], &[], KappaWeights::Quadratic), Some(1.0));
        assert_eq!(cohen_kappa(&[1.0, 1.0], &[1.0, 1.0], &[], KappaWeights::None), None);
        assert_eq!(cohen_kappa(&[1.0], &[7.0], &[0.0, 1.0], KappaWeights::None), None, "7 is not a category");
    }
}
