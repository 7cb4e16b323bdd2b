//! Offline A/B tests against known behaviour: two systems with no true difference give
//! p-values spread uniformly (about 5% below 0.05, half below 0.5), for both methods; a planted
//! difference is found, with an interval that excludes 0 and a sample size that shrinks as
//! the effect grows; identical systems give p = 1; the normal quantile is the textbook one.

use metrics::significance::{ab_test, normal_quantile, AbSettings, Method};
use metrics::suite::{summable, Example, Summable};
use metrics::BleuTokenizer;

/// A tiny seeded generator for the test's own draws.
struct Draws(u64);

impl Draws {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Accuracy of a system that is right with probability `p` on each of `n` examples.
fn system(draws: &mut Draws, n: usize, p: f64) -> Summable {
    let examples: Vec<Example> = (0..n)
        .map(|_| {
            let right = draws.uniform() < p;
            Example { prediction: if right { "yes" } else { "no" }.into(), references: vec!["yes".into()] }
        })
        .collect();
    summable(&examples, "accuracy", BleuTokenizer::ThirteenA).unwrap()
}

#[test]
fn no_true_difference_gives_uniform_p_values_for_both_methods() {
    for method in [Method::PairedBootstrap, Method::ApproximateRandomization] {
        let mut draws = Draws(0x9E37_79B9_7F4A_7C15);
        let settings = AbSettings { method, resamples: 300, ..AbSettings::default() };
        let reps = 200;
        let p_values: Vec<f64> = (0..reps)
            .map(|r| {
                let (a, b) = (system(&mut draws, 100, 0.6), system(&mut draws, 100, 0.6));
                ab_test(&a, &b, &AbSettings { seed: r, ..settings }).unwrap().p_value
            })
            .collect();
        let below = |x: f64| p_values.iter().filter(|p| **p < x).count() as f64 / reps as f64;
        assert!((0.01..=0.11).contains(&below(0.05)), "{method:?}: {} below 0.05", below(0.05));
        assert!((0.38..=0.62).contains(&below(0.5)), "{method:?}: {} below 0.5", below(0.5));
        assert!((0.08..=0.32).contains(&below(0.2)), "{method:?}: {} below 0.2", below(0.2));
    }
}

#[test]
fn a_planted_difference_is_found_with_its_interval_and_sample_size() {
    let mut draws = Draws(42);
    let (a, b) = (system(&mut draws, 200, 0.5), system(&mut draws, 200, 0.75));
    for method in [Method::PairedBootstrap, Method::ApproximateRandomization] {
        let r = ab_test(&a, &b, &AbSettings { method, resamples: 2000, ..AbSettings::default() }).unwrap();
        assert!(r.significant && r.p_value < 0.01, "{method:?}: {r:?}");
        assert!((r.difference - (r.score_b - r.score_a)).abs() < 1e-12);
        assert!(r.interval[0] > 0.0 && r.interval[0] < r.difference && r.difference < r.interval[1], "{r:?}");
        // The observed effect is detectable with fewer examples than were used.
        assert!(r.sample_size_needed.unwrap() < 200, "{r:?}");
        assert!(r.standardized_effect.unwrap() > 0.2, "{r:?}");
    }
    // A smaller effect needs more examples: four times as many for half the effect.
    let small = ab_test(&a, &b, &AbSettings { minimum_effect: Some(5.0), ..AbSettings::default() }).unwrap();
    let half = ab_test(&a, &b, &AbSettings { minimum_effect: Some(2.5), ..AbSettings::default() }).unwrap();
    let ratio = half.sample_size_needed.unwrap() as f64 / small.sample_size_needed.unwrap() as f64;
    assert!((3.9..=4.1).contains(&ratio), "{ratio}");
    // The same seed gives the same figures; B vs A mirrors A vs B.
    let again = ab_test(&a, &b, &AbSettings::default()).unwrap();
    assert_eq!(again, ab_test(&a, &b, &AbSettings::default()).unwrap());
    let mirrored = ab_test(&b, &a, &AbSettings::default()).unwrap();
    assert!((mirrored.difference + again.difference).abs() < 1e-12);
}

#[test]
fn identical_systems_and_corpus_metrics() {
    let examples: Vec<Example> = (0..40)
        .map(|i| Example {
            prediction: format!("the cat sat on mat {}", i % 7),
            references: vec![format!("the cat sat on the mat {}", i % 5)],
        })
        .collect();
    let a = summable(&examples, "bleu", BleuTokenizer::ThirteenA).unwrap();
    let b = summable(&examples, "bleu", BleuTokenizer::ThirteenA).unwrap();
    let r = ab_test(&a, &b, &AbSettings { resamples: 500, ..AbSettings::default() }).unwrap();
    assert_eq!((r.difference, r.p_value, r.significant), (0.0, 1.0, false), "{r:?}");
    assert_eq!(
        r.score_a,
        metrics::corpus_bleu(
            &examples.iter().map(|e| e.prediction.as_str()).collect::<Vec<_>>(),
            &[examples.iter().map(|e| e.references[0].as_str()).collect()]
        )
        .unwrap()
        .score
    );
    let chrf = summable(&examples, "chrf", BleuTokenizer::ThirteenA).unwrap();
    assert!(ab_test(&a, &chrf, &AbSettings::default()).unwrap_err().contains("one metric"));
    assert!(summable(&examples, "macro_f1", BleuTokenizer::ThirteenA).err().unwrap().contains("not a sum over examples"));
}

#[test]
fn the_normal_quantile_is_the_textbook_one() {
    for (p, z) in
        [(0.975, 1.959963984540054), (0.8, 0.8416212335729143), (0.5, 0.0), (0.01, -2.3263478740408408), (0.999, 3.090232306167813)]
    {
        assert!((normal_quantile(p) - z).abs() < 1e-8, "{p}: {}", normal_quantile(p));
    }
}
