//! What a job's runs measured — peak memory of a device, tokens per second, seconds per step —
//! next to what its estimate said at submission, from the runtime's `system` and `progress`
//! events.

use super::Job;
use database::jobs::EventRow;
use serde::Serialize;
use utoipa::ToSchema;

/// A job's measurements beside its estimate (on a single job's read, once it has run).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Measured {
    /// The peak memory of one device: the runtime's peak resident memory on the CPU, PyTorch's
    /// peak reserved memory on a GPU (the largest of the job's GPUs), over all its runs.
    pub peak_memory_bytes: Option<u64>,
    /// The estimate's memory per device.
    pub estimated_memory_bytes: Option<u64>,
    /// Measured over estimated memory (above 1: the estimate was low).
    pub memory_ratio: Option<f64>,
    /// Real (non-padding) tokens per second, the mean over its progress reports.
    pub tokens_per_second: Option<f64>,
    /// The estimate's training tokens over its seconds.
    pub estimated_tokens_per_second: Option<f64>,
    /// Seconds per optimizer step, the median over its progress reports.
    pub step_time_s: Option<f64>,
    /// The estimate's seconds over the job's steps.
    pub estimated_step_time_s: Option<f64>,
}

/// The peak memory of one device over `system` events, and that device's total (the GPUs'
/// reported total, else `cpu_memory_bytes` on the CPU).
pub(crate) fn peak_memory<'a>(system: impl Iterator<Item = &'a serde_json::Value>, cpu_memory_bytes: u64) -> (Option<u64>, Option<u64>) {
    let (mut peak, mut total) = (0u64, None);
    for e in system {
        let gpus = e["gpus"].as_array().map(Vec::as_slice).unwrap_or_default();
        if gpus.is_empty() {
            let rss = e["peak_rss_bytes"].as_u64().or_else(|| e["rss_bytes"].as_u64()).unwrap_or(0);
            peak = peak.max(rss);
            total = Some(cpu_memory_bytes);
        } else {
            let device = |g: &serde_json::Value| g["max_reserved_bytes"].as_u64().or_else(|| g["memory_used_bytes"].as_u64());
            peak = peak.max(gpus.iter().filter_map(device).max().unwrap_or(0));
            total = gpus.iter().filter_map(|g| g["memory_total_bytes"].as_u64()).min().or(total);
        }
    }
    ((peak > 0).then_some(peak), total)
}

/// The job's measurements beside its estimate, from its `system` and `progress` events; None
/// before its first report.
pub(crate) fn job_measured(job: &Job, events: &[(EventRow, serde_json::Value)], cpu_memory_bytes: u64) -> Option<Measured> {
    if events.is_empty() {
        return None;
    }
    let of = |kind: &'static str| events.iter().filter(move |(r, _)| r.kind == kind).map(|(_, e)| e);
    let (peak, _) = peak_memory(of("system"), cpu_memory_bytes);
    let rates: Vec<f64> = of("progress").filter_map(|e| e["tokens_per_second"].as_f64()).collect();
    let mut steps: Vec<f64> = of("progress").filter_map(|e| e["step_time_s"].as_f64()).collect();
    steps.sort_by(f64::total_cmp);
    let estimate = &job.estimate;
    let estimated_memory = estimate["memory_per_device_bytes"].as_f64().filter(|m| *m > 0.0);
    let seconds = estimate["seconds"].as_f64().filter(|s| *s > 0.0);
    Some(Measured {
        peak_memory_bytes: peak,
        estimated_memory_bytes: estimated_memory.map(|m| m as u64),
        memory_ratio: peak.zip(estimated_memory).map(|(p, e)| p as f64 / e),
        tokens_per_second: (!rates.is_empty()).then(|| rates.iter().sum::<f64>() / rates.len() as f64),
        estimated_tokens_per_second: seconds.and_then(|s| estimate["training_tokens"].as_f64().map(|t| t / s)),
        step_time_s: steps.get(steps.len() / 2).copied(),
        estimated_step_time_s: seconds.zip(job.row.total_steps.filter(|t| *t > 0)).map(|(s, t)| s / t as f64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_peak_is_the_runtimes_own_peak_on_the_cpu_and_pytorchs_reserved_peak_on_gpus() {
        let cpu = [json!({"rss_bytes": 5, "peak_rss_bytes": 9, "gpus": []}), json!({"rss_bytes": 7, "gpus": []})];
        assert_eq!(peak_memory(cpu.iter(), 100), (Some(9), Some(100)));
        let gpu = [json!({"rss_bytes": 1, "peak_rss_bytes": 2, "gpus": [
            {"memory_used_bytes": 50, "memory_total_bytes": 80, "max_reserved_bytes": 40},
            {"memory_used_bytes": 60, "memory_total_bytes": 80, "max_reserved_bytes": null},
        ]})];
        assert_eq!(peak_memory(gpu.iter(), 100), (Some(60), Some(80)), "a device without PyTorch's peak counts what it uses");
        assert_eq!(peak_memory([].iter(), 100), (None, None));
    }
}
