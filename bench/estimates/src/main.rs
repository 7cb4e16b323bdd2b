//! `tunery-bench-estimates FILE [--report-only]`: a file of measured training runs beside the
//! product's estimate for each configuration — peak memory, step time and their ratios, and the
//! model FLOPs utilization the run reached by the estimate's FLOPs per token. Exits 1 when a row
//! is outside the tolerances (memory ±20%, and step time ±30% on a device whose time estimate is
//! calibrated), unless `--report-only`.

use domain::estimate::DEFAULT_ASSUMED_MFU;
use domain::estimate_check::MeasuredRuns;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let report_only = args.iter().any(|a| a == "--report-only");
    let Some(path) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: tunery-bench-estimates FILE [--report-only]");
        return ExitCode::from(2);
    };
    let result = std::fs::read_to_string(path)
        .map_err(|e| format!("{path}: {e}"))
        .and_then(|text| MeasuredRuns::parse(&text, path))
        .and_then(|runs| {
            let checked = runs.check(DEFAULT_ASSUMED_MFU)?;
            print!("{}", runs.table(&checked));
            runs.outside(&checked)
        });
    match result {
        Ok(outside) if outside.is_empty() || report_only => ExitCode::SUCCESS,
        Ok(outside) => {
            eprintln!("rows outside the tolerances: {outside:?}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
