//! The estimate against the measured matrix: every row of `fixtures/estimate_matrix.json` is a
//! real training run of SmolLM2-135M on this project's CPU machine (written by
//! `bench/training/estimate_matrix.py`: method × sequence length × micro-batch × packing ×
//! gradient checkpointing × objective), and the estimate the product shows for the same
//! configuration must come within ±20% of its peak memory and ±30% of its step time.
//! `cargo test -p domain --test estimate_matrix -- --nocapture` prints the matrix.

use domain::estimate::Method;
use domain::estimate_check::MeasuredRuns;

fn fixture() -> MeasuredRuns {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/estimate_matrix.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    MeasuredRuns::parse(&text, path).unwrap()
}

#[test]
fn estimates_hold_on_every_row_of_the_measured_matrix() {
    let runs = fixture();
    assert!(runs.checks_time().unwrap(), "the CPU's time estimate is calibrated");
    let checked = runs.check(0.4).unwrap();
    println!("{}", runs.table(&checked));
    let outside = runs.outside(&checked).unwrap();
    assert!(outside.is_empty(), "rows outside ±20% memory or ±30% time: {outside:?}\n{}", runs.table(&checked));
}

#[test]
fn the_matrix_covers_every_method_objective_and_switch() {
    let runs = fixture();
    let rows = &runs.rows;
    for method in [Method::Full, Method::Freeze, Method::Lora, Method::Qlora, Method::Dora] {
        assert!(rows.iter().any(|r| r.method == method), "no {} row", method.as_str());
    }
    for objective in ["sft", "dpo"] {
        assert!(rows.iter().any(|r| r.objective == objective), "no {objective} row");
    }
    assert!(rows.iter().any(|r| r.packing) && rows.iter().any(|r| !r.packing && r.objective == "sft"));
    assert!(rows.iter().any(|r| r.gradient_checkpointing) && rows.iter().any(|r| !r.gradient_checkpointing));
    let lengths: std::collections::BTreeSet<u64> = rows.iter().map(|r| r.sequence_length).collect();
    let batches: std::collections::BTreeSet<u64> = rows.iter().map(|r| r.micro_batch_size).collect();
    assert!(lengths.len() >= 3 && batches.len() >= 3, "lengths {lengths:?}, micro-batches {batches:?}");
}
