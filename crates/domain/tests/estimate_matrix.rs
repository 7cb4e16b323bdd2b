//! The estimate against the measured matrices: every row of `fixtures/estimate_matrix.json`
//! (fp32) and of `fixtures/estimate_matrix_bf16.json` (bf16 mixed precision) is a
//! real training run of SmolLM2-135M on this project's CPU machine (written by
//! `bench/training/estimate_matrix.py`: method × sequence length × micro-batch × packing ×
//! gradient checkpointing × objective), and the estimate the product shows for the same
//! configuration must come within ±20% of its peak memory and ±30% of its step time.
//! `cargo test -p domain --test estimate_matrix -- --nocapture` prints the matrix.

use domain::estimate::{Method, Precision};
use domain::estimate_check::MeasuredRuns;

/// The fp32 matrix and the bf16 one (bf16 mixed precision on a CPU that multiplies bfloat16 in
/// hardware, which the runtime then uses by default).
const FIXTURES: [&str; 2] = ["estimate_matrix.json", "estimate_matrix_bf16.json"];

fn fixture(name: &str) -> MeasuredRuns {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    MeasuredRuns::parse(&text, &path).unwrap()
}

#[test]
fn estimates_hold_on_every_row_of_the_measured_matrix() {
    for name in FIXTURES {
        let runs = fixture(name);
        assert!(runs.checks_time().unwrap(), "{name}: the CPU's time estimate is calibrated at {:?}", runs.precision);
        let checked = runs.check(0.4).unwrap();
        println!("{name}\n{}", runs.table(&checked));
        let outside = runs.outside(&checked).unwrap();
        assert!(outside.is_empty(), "{name}: rows outside ±20% memory or ±30% time: {outside:?}\n{}", runs.table(&checked));
    }
}

#[test]
fn the_fixtures_are_one_per_precision() {
    let precisions: Vec<Precision> = FIXTURES.iter().map(|name| fixture(name).precision).collect();
    assert_eq!(precisions, [Precision::Fp32, Precision::Bf16]);
}

#[test]
fn the_matrix_covers_every_method_objective_and_switch() {
    for name in FIXTURES {
        let runs = fixture(name);
        let rows = &runs.rows;
        for method in [Method::Full, Method::Freeze, Method::Lora, Method::Qlora, Method::Dora] {
            assert!(rows.iter().any(|r| r.method == method), "{name}: no {} row", method.as_str());
        }
        for objective in ["sft", "dpo"] {
            assert!(rows.iter().any(|r| r.objective == objective), "{name}: no {objective} row");
        }
        assert!(rows.iter().any(|r| r.packing) && rows.iter().any(|r| !r.packing && r.objective == "sft"), "{name}");
        assert!(rows.iter().any(|r| r.gradient_checkpointing) && rows.iter().any(|r| !r.gradient_checkpointing), "{name}");
        let lengths: std::collections::BTreeSet<u64> = rows.iter().map(|r| r.sequence_length).collect();
        let batches: std::collections::BTreeSet<u64> = rows.iter().map(|r| r.micro_batch_size).collect();
        assert!(lengths.len() >= 3 && batches.len() >= 3, "{name}: lengths {lengths:?}, micro-batches {batches:?}");
    }
}
