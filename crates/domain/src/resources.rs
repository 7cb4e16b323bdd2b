//! What a job asks of the cluster: GPU type, count, memory, maximum duration, spot, priority.

use crate::ValidationError;
use serde::{Deserialize, Serialize};

/// A job's resource request. The scheduler places its GPUs together (gang placement); a
/// CPU-only installation offers CPU slots of type `cpu` instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceRequest {
    /// A GPU type of the cluster (`GET /api/v1/cluster` lists them); default: any.
    #[schema(min_length = 1, max_length = 64)]
    pub gpu_type: Option<String>,
    /// GPUs (or CPU slots), default 1.
    #[serde(default = "one")]
    #[schema(minimum = 1, maximum = 1024, default = 1)]
    pub gpus: u32,
    /// Memory each GPU must have, in GiB (default: any).
    #[schema(minimum = 0, maximum = 4096)]
    pub gpu_memory_gib: Option<f64>,
    /// Running time after which the job is stopped (saving a checkpoint) and fails.
    #[schema(minimum = 1, maximum = 31_536_000)]
    pub max_duration_s: Option<u64>,
    /// Spot: a higher-priority job may preempt it (it saves a checkpoint, waits, and resumes
    /// where it stopped); billed at the spot price.
    #[serde(default)]
    pub preemptible: bool,
    /// A priority class of the installation (default: the caller's default class).
    #[schema(min_length = 1, max_length = 64)]
    pub priority: Option<String>,
}

fn one() -> u32 {
    1
}

impl Default for ResourceRequest {
    fn default() -> Self {
        ResourceRequest { gpu_type: None, gpus: 1, gpu_memory_gib: None, max_duration_s: None, preemptible: false, priority: None }
    }
}

impl ResourceRequest {
    /// The rules the schema states (400 when broken); whether the cluster has such GPUs and the
    /// caller may use the priority is the scheduler's to say.
    pub fn validate(&self, field: &str) -> Result<(), ValidationError> {
        let at = |name: &str| format!("{field}.{name}");
        if !(1..=1024).contains(&self.gpus) {
            return Err(ValidationError::new(&at("gpus"), format!("must be 1 to 1024 (got {})", self.gpus)));
        }
        if let Some(m) = self.gpu_memory_gib {
            if !m.is_finite() || !(0.0..=4096.0).contains(&m) {
                return Err(ValidationError::new(&at("gpu_memory_gib"), format!("must be 0 to 4096 GiB (got {m})")));
            }
        }
        if let Some(d) = self.max_duration_s {
            if !(1..=31_536_000).contains(&d) {
                return Err(ValidationError::new(&at("max_duration_s"), format!("must be 1 to 31536000 seconds (got {d})")));
            }
        }
        for (name, value) in [("gpu_type", &self.gpu_type), ("priority", &self.priority)] {
            if let Some(v) = value {
                if v.is_empty() || v.chars().count() > 64 {
                    return Err(ValidationError::new(&at(name), "must be 1 to 64 characters"));
                }
            }
        }
        Ok(())
    }
}

/// A request as stored with its job: the priority resolved to a class and its value at
/// submission (an administrator may rename or renumber classes later).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobResources {
    pub gpu_type: Option<String>,
    pub gpus: u32,
    /// 0: any.
    pub gpu_memory_gib: f64,
    pub max_duration_s: Option<u64>,
    pub preemptible: bool,
    pub priority: String,
    /// Higher runs first.
    pub priority_value: u32,
}

impl JobResources {
    /// A stored request; one that does not parse is an error naming what.
    pub fn parse(json: &str) -> Result<JobResources, String> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
        serde_path_to_error::deserialize(value).map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }
}

/// A priority class: a name and its value (higher first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PriorityClass {
    pub name: String,
    pub value: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_default_to_one_device_and_broken_rules_name_the_field() {
        let r: ResourceRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(r, ResourceRequest::default());
        let r = ResourceRequest { gpus: 0, ..ResourceRequest::default() };
        assert_eq!(r.validate("resources").unwrap_err().field, "resources.gpus");
        let r = ResourceRequest { gpu_memory_gib: Some(f64::NAN), ..ResourceRequest::default() };
        assert_eq!(r.validate("resources").unwrap_err().field, "resources.gpu_memory_gib");
        assert!(serde_json::from_str::<ResourceRequest>(r#"{"max_duration_s": -5}"#).is_err());
        assert!(serde_json::from_str::<ResourceRequest>(r#"{"gpu": 2}"#).is_err());
    }

    #[test]
    fn a_stored_request_that_does_not_parse_names_the_field() {
        let e = JobResources::parse(r#"{"gpu_type":null,"gpus":"two","gpu_memory_gib":0,"max_duration_s":null,"preemptible":false,"priority":"normal","priority_value":1}"#).unwrap_err();
        assert!(e.starts_with("gpus:"), "{e}");
        let ok = JobResources::parse(r#"{"gpu_type":null,"gpus":1,"gpu_memory_gib":0,"max_duration_s":null,"preemptible":false,"priority":"normal","priority_value":1}"#).unwrap();
        assert_eq!(ok.priority_value, 1);
    }
}
