//! Significance of a difference between two groups' mean ratings (a two-sample z-test on the
//! means, with each group's own variance: for thumbs up/down this is the two-proportion test
//! with unpooled variance). A normal approximation, so a readout is given only from
//! [`MIN_RATINGS`] ratings per group.

/// Ratings each group needs before a difference is called significant or not.
pub const MIN_RATINGS: u64 = 10;

/// A group's ratings: their count, sum and sum of squares (ratings in 0–1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratings {
    pub n: u64,
    pub sum: f64,
    pub sum_squares: f64,
}

impl Ratings {
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }

    /// The sample variance (n − 1 in the denominator).
    fn variance(&self) -> f64 {
        if self.n < 2 {
            return 0.0;
        }
        let n = self.n as f64;
        ((self.sum_squares - self.sum * self.sum / n) / (n - 1.0)).max(0.0)
    }
}

/// The outcome of comparing a variant with the control.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// Variant mean minus control mean.
    pub difference: f64,
    pub z: f64,
    /// Two-sided p-value.
    pub p_value: f64,
}

/// Compares `variant` with `control`; None below [`MIN_RATINGS`] ratings in either group.
pub fn compare(control: Ratings, variant: Ratings) -> Option<Comparison> {
    if control.n < MIN_RATINGS || variant.n < MIN_RATINGS {
        return None;
    }
    let difference = variant.mean()? - control.mean()?;
    let se = (control.variance() / control.n as f64 + variant.variance() / variant.n as f64).sqrt();
    if se == 0.0 {
        // Every rating in both groups is the same value: no evidence either way, or certainty.
        let p_value = if difference == 0.0 { 1.0 } else { 0.0 };
        return Some(Comparison { difference, z: if difference == 0.0 { 0.0 } else { f64::INFINITY.copysign(difference) }, p_value });
    }
    let z = difference / se;
    Some(Comparison { difference, z, p_value: 2.0 * (1.0 - normal_cdf(z.abs())) })
}

/// The standard normal distribution function, through erf by Abramowitz & Stegun 7.1.26
/// (absolute error below 1.5e-7).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2))
}

fn erf(x: f64) -> f64 {
    // Abramowitz & Stegun 7.1.26.
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    sign * (1.0 - poly * (-x * x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thumbs(up: u64, n: u64) -> Ratings {
        Ratings { n, sum: up as f64, sum_squares: up as f64 }
    }

    #[test]
    fn the_normal_distribution_matches_its_tables() {
        for (x, p) in [(0.0, 0.5), (1.0, 0.841_344_7), (1.959_964, 0.975), (-2.575_829, 0.005), (3.0, 0.998_650_1)] {
            assert!((normal_cdf(x) - p).abs() < 2e-7, "Φ({x}) = {} ≠ {p}", normal_cdf(x));
        }
    }

    #[test]
    fn a_clear_difference_is_significant_and_an_equal_one_is_not() {
        // 80/100 vs 50/100 thumbs up: sample variances 0.2525 and 0.1616, so
        // z = 0.3 / sqrt(0.2525/100 + 0.1616/100) ≈ 4.662.
        let c = compare(thumbs(50, 100), thumbs(80, 100)).unwrap();
        assert!((c.difference - 0.3).abs() < 1e-12);
        assert!((c.z - 4.662).abs() < 0.001, "{c:?}");
        assert!(c.p_value < 1e-5);
        let same = compare(thumbs(40, 80), thumbs(40, 80)).unwrap();
        assert_eq!(same.z, 0.0);
        assert!((same.p_value - 1.0).abs() < 1e-8, "{same:?}");
        // 55% vs 50% on 100 each is no evidence.
        assert!(compare(thumbs(50, 100), thumbs(55, 100)).unwrap().p_value > 0.4);
    }

    #[test]
    fn too_few_ratings_give_no_readout() {
        assert_eq!(compare(thumbs(5, 9), thumbs(9, 9)), None);
    }
}
