//! Agreement statistics against their references (`fixtures/agreement.json`, written by
//! `fixtures/make_agreement.py`): Krippendorff's alpha at every level against the
//! `krippendorff` package — first on Krippendorff's (2011) own worked example, whose published
//! figures are nominal 0.743, ordinal 0.815, interval 0.849 and ratio 0.797 — and Cohen's
//! kappa, unweighted and weighted, against scikit-learn, first on the textbook 2×2 table
//! whose kappa is 0.4.

use metrics::agreement::{cohen_kappa, krippendorff_alpha, KappaWeights, Level};
use serde_json::Value;

fn doc() -> Value {
    serde_json::from_str(include_str!("fixtures/agreement.json")).expect("the fixture parses")
}

/// A raters × units matrix (null: not rated) as each unit's ratings.
fn units(ratings: &Value, shift: f64) -> Vec<Vec<f64>> {
    let rows: Vec<&Vec<Value>> = ratings.as_array().unwrap().iter().map(|r| r.as_array().unwrap()).collect();
    (0..rows[0].len()).map(|u| rows.iter().filter_map(|r| r[u].as_f64()).map(|x| x + shift).collect()).collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[test]
fn krippendorff_alpha_equals_the_reference_at_every_level() {
    let doc = doc();
    let cases = doc["alpha"].as_array().unwrap();
    let textbook = units(&cases[0]["ratings"], 0.0);
    for (level, published) in [(Level::Nominal, 0.743), (Level::Ordinal, 0.815), (Level::Interval, 0.849), (Level::Ratio, 0.797)] {
        let got = krippendorff_alpha(&textbook, level).unwrap();
        assert!((got - published).abs() < 5e-4, "{}: {got} vs the published {published}", level.name());
    }
    for (i, case) in cases.iter().enumerate() {
        for level in [Level::Nominal, Level::Ordinal, Level::Interval, Level::Ratio] {
            let shift = if level == Level::Ratio { case["ratio_shift"].as_f64().unwrap_or(0.0) } else { 0.0 };
            let got = krippendorff_alpha(&units(&case["ratings"], shift), level).unwrap();
            let want = case[level.name()].as_f64().unwrap();
            assert!((got - want).abs() < 1e-9, "case {i} {}: {got} vs {want}", level.name());
        }
    }
}

#[test]
fn alpha_does_not_depend_on_the_order_of_units_or_raters() {
    let doc = doc();
    let mut u = units(&doc["alpha"][2]["ratings"], 0.0);
    let before = krippendorff_alpha(&u, Level::Interval).unwrap();
    u.reverse();
    for unit in &mut u {
        unit.reverse();
    }
    assert!((krippendorff_alpha(&u, Level::Interval).unwrap() - before).abs() < 1e-12);
}

#[test]
fn cohen_kappa_equals_scikit_learn_unweighted_and_weighted() {
    let doc = doc();
    let cases = doc["kappa"].as_array().unwrap();
    let (a, b) = (floats(&cases[0]["a"]), floats(&cases[0]["b"]));
    assert!((cohen_kappa(&a, &b, &[], KappaWeights::None).unwrap() - 0.4).abs() < 1e-12, "the textbook table");
    for (i, case) in cases.iter().enumerate() {
        let (a, b) = (floats(&case["a"]), floats(&case["b"]));
        let labels = if case["labels"].is_null() { vec![] } else { floats(&case["labels"]) };
        for w in [KappaWeights::None, KappaWeights::Linear, KappaWeights::Quadratic] {
            let got = cohen_kappa(&a, &b, &labels, w).unwrap();
            let want = case[w.name()].as_f64().unwrap();
            assert!((got - want).abs() < 1e-12, "case {i} {}: {got} vs {want}", w.name());
        }
    }
}

#[test]
fn chance_level_raters_have_alpha_near_zero() {
    // Two raters labelling independently at random: alpha and kappa hover around 0.
    let mut state = 42u64;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) % 5) as f64
    };
    let units: Vec<Vec<f64>> = (0..4000).map(|_| vec![next(), next()]).collect();
    let alpha = krippendorff_alpha(&units, Level::Nominal).unwrap();
    assert!(alpha.abs() < 0.03, "alpha {alpha}");
    let (a, b): (Vec<f64>, Vec<f64>) = units.iter().map(|u| (u[0], u[1])).unzip();
    let kappa = cohen_kappa(&a, &b, &[], KappaWeights::Quadratic).unwrap();
    assert!(kappa.abs() < 0.05, "kappa {kappa}");
}
