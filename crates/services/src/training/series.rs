//! A job's metric series for charts: which runtime event each series is read from, its value in
//! one event, and every requested series read from one pass over the job's events.
//!
//! GPU series take one figure per `system` event over the job's GPUs: utilization is their mean,
//! power their sum, memory and temperature their largest (the device closest to its limit).

use super::{downsample, MetricPoint};
use crate::{Principal, Result, Services};
use domain::ValidationError;
use serde_json::Value;

/// The series a job's metrics can be asked for, with the event kind each is read from.
pub const JOB_SERIES: &[(&str, &str)] = &[
    ("loss", "progress"),
    ("learning_rate", "progress"),
    ("grad_norm", "progress"),
    ("tokens_per_second", "progress"),
    ("samples_per_second", "progress"),
    ("step_time_s", "progress"),
    ("epoch", "progress"),
    ("eval_loss", "eval"),
    ("cpu_percent", "system"),
    ("rss_bytes", "system"),
    ("peak_rss_bytes", "system"),
    ("gpu_utilization_percent", "system"),
    ("gpu_memory_used_bytes", "system"),
    ("gpu_max_reserved_bytes", "system"),
    ("gpu_temperature_c", "system"),
    ("gpu_power_w", "system"),
];

/// The series charts show unless others are asked for.
pub const DEFAULT_SERIES: &[&str] = &["loss", "eval_loss", "learning_rate", "grad_norm", "tokens_per_second"];

fn kind_of(name: &str) -> Option<&'static str> {
    JOB_SERIES.iter().find(|(n, _)| *n == name).map(|(_, kind)| *kind)
}

/// A series' value in one event of its kind; None where the event does not report it.
pub(crate) fn series_value(event: &Value, name: &str) -> Option<f64> {
    let Some(field) = name.strip_prefix("gpu_") else {
        return event.get(name).and_then(Value::as_f64);
    };
    let values: Vec<f64> = event["gpus"].as_array()?.iter().filter_map(|g| g[field].as_f64()).collect();
    if values.is_empty() {
        return None;
    }
    Some(match field {
        "utilization_percent" => values.iter().sum::<f64>() / values.len() as f64,
        "power_w" => values.iter().sum(),
        _ => values.iter().copied().fold(f64::MIN, f64::max),
    })
}

impl Services {
    /// The named series of a job's metrics, each downsampled to at most `points` by averaging
    /// equal-width step buckets (the last point is always the latest value). The job's events
    /// are read once for all of them. An unknown name is an error (422) listing the known ones.
    pub async fn job_metrics(
        &self,
        principal: &Principal,
        id: &str,
        names: &[&str],
        points: usize,
    ) -> Result<Vec<(String, Vec<MetricPoint>)>> {
        // Each requested series with its event kind, filled in one pass over the events.
        let mut series: Vec<(&str, &str, Vec<MetricPoint>)> = Vec::with_capacity(names.len());
        for name in names {
            let kind = kind_of(name).ok_or_else(|| {
                let known: Vec<&str> = JOB_SERIES.iter().map(|(n, _)| *n).collect();
                ValidationError::unprocessable("names", format!("unknown series '{name}'; known: {}", known.join(", ")))
            })?;
            series.push((name, kind, Vec::new()));
        }
        self.get_job(principal, id).await?;
        if series.is_empty() {
            return Ok(Vec::new());
        }
        let mut kinds: Vec<&str> = series.iter().map(|(_, kind, _)| *kind).collect();
        kinds.sort_unstable();
        kinds.dedup();
        for (row, data) in self.all_job_events(id, &kinds).await? {
            for (name, kind, values) in series.iter_mut() {
                if row.kind == *kind {
                    if let Some(value) = series_value(&data, name) {
                        values.push(MetricPoint { step: row.step.unwrap_or(0), time: row.time, value });
                    }
                }
            }
        }
        Ok(series.into_iter().map(|(name, _, values)| (name.to_string(), downsample(values, points))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn gpu_series_take_one_figure_over_the_jobs_gpus() {
        let event = json!({"cpu_percent": 12.5, "rss_bytes": 100, "peak_rss_bytes": 120, "gpus": [
            {"index": 0, "utilization_percent": 90.0, "memory_used_bytes": 10, "max_reserved_bytes": 12, "temperature_c": 61.0, "power_w": 300.0},
            {"index": 1, "utilization_percent": 70.0, "memory_used_bytes": 30, "max_reserved_bytes": 31, "temperature_c": 66.0, "power_w": 250.0}
        ]});
        assert_eq!(series_value(&event, "gpu_utilization_percent"), Some(80.0));
        assert_eq!(series_value(&event, "gpu_power_w"), Some(550.0));
        assert_eq!(series_value(&event, "gpu_memory_used_bytes"), Some(30.0));
        assert_eq!(series_value(&event, "gpu_max_reserved_bytes"), Some(31.0));
        assert_eq!(series_value(&event, "gpu_temperature_c"), Some(66.0));
        assert_eq!(series_value(&event, "cpu_percent"), Some(12.5));
        // A GPU that does not report a figure leaves it to the others; none reporting is no point.
        let partial = json!({"gpus": [{"index": 0, "temperature_c": null}, {"index": 1, "temperature_c": 50.0}]});
        assert_eq!(series_value(&partial, "gpu_temperature_c"), Some(50.0));
        assert_eq!(series_value(&json!({"cpu_percent": 3.0, "gpus": []}), "gpu_power_w"), None);
    }

    #[test]
    fn the_default_series_are_known_series() {
        assert!(DEFAULT_SERIES.iter().all(|n| kind_of(n).is_some()));
    }
}
