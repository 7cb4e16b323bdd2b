//! The simulator's files. A trace is JSON Lines, one job per line:
//! `{"id": "j1", "arrival_s": 0, "user": "alice", "gpus": 2, "duration_s": 3600,
//!   "gpu_type": "A100-80GB" (optional), "priority": "normal" (low, normal, high, urgent, or a
//!   number; default normal), "preemptible": false (default)}`.
//! A cluster is JSON: `{"nodes": [{"id": "n1", "gpu_type": "A100-80GB", "gpus": 8,
//!   "gpu_memory_gib": 80}]}`. What does not parse is an error naming the line and the field.

use crate::cluster::Node;
use crate::sim::TraceJob;
use serde_json::{json, Value};

/// The priority classes by name; a number is taken as it is.
pub const PRIORITIES: [(&str, u32); 4] = [("low", 0), ("normal", 1), ("high", 2), ("urgent", 3)];

fn field<'a>(v: &'a Value, name: &str, at: &str) -> Result<&'a Value, String> {
    v.get(name).filter(|x| !x.is_null()).ok_or_else(|| format!("{at}: no \"{name}\""))
}

fn number(v: &Value, name: &str, at: &str) -> Result<f64, String> {
    let x = field(v, name, at)?.as_f64().ok_or_else(|| format!("{at}: \"{name}\" is not a number"))?;
    if !x.is_finite() || x < 0.0 {
        return Err(format!("{at}: \"{name}\" must be 0 or more (got {x})"));
    }
    Ok(x)
}

fn count(v: &Value, name: &str, at: &str) -> Result<u32, String> {
    let x = field(v, name, at)?.as_u64().filter(|n| (1..=u64::from(u32::MAX)).contains(n));
    x.map(|n| n as u32).ok_or_else(|| format!("{at}: \"{name}\" must be a whole number of at least 1"))
}

fn text(v: &Value, name: &str, at: &str) -> Result<String, String> {
    field(v, name, at)?.as_str().map(str::to_string).ok_or_else(|| format!("{at}: \"{name}\" is not a string"))
}

/// Reads a trace (JSON Lines; blank lines skipped).
pub fn parse_trace(content: &str) -> Result<Vec<TraceJob>, String> {
    let mut jobs = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for (i, line) in content.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("line {}", i + 1);
        let v: Value = serde_json::from_str(line).map_err(|e| format!("{at}: not JSON: {e}"))?;
        let priority = match v.get("priority") {
            None | Some(Value::Null) => 1,
            Some(Value::String(name)) => PRIORITIES
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, p)| *p)
                .ok_or_else(|| format!("{at}: \"priority\" '{name}' is not one of {}", PRIORITIES.map(|(n, _)| n).join(", ")))?,
            Some(p) => {
                p.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| format!("{at}: \"priority\" is not a name or a number"))?
            }
        };
        let job = TraceJob {
            id: text(&v, "id", &at)?,
            arrival_ms: (number(&v, "arrival_s", &at)? * 1000.0).round() as i64,
            user: text(&v, "user", &at)?,
            gpus: count(&v, "gpus", &at)?,
            gpu_type: match v.get("gpu_type") {
                None | Some(Value::Null) => None,
                Some(_) => Some(text(&v, "gpu_type", &at)?),
            },
            duration_ms: (number(&v, "duration_s", &at)? * 1000.0).round() as i64,
            priority,
            preemptible: match v.get("preemptible") {
                None | Some(Value::Null) => false,
                Some(b) => b.as_bool().ok_or_else(|| format!("{at}: \"preemptible\" is not true or false"))?,
            },
        };
        if !ids.insert(job.id.clone()) {
            return Err(format!("{at}: job id '{}' is used twice", job.id));
        }
        jobs.push(job);
    }
    if jobs.is_empty() {
        return Err("the trace has no jobs".into());
    }
    Ok(jobs)
}

/// Reads a cluster.
pub fn parse_cluster(content: &str) -> Result<Vec<Node>, String> {
    let v: Value = serde_json::from_str(content).map_err(|e| format!("not JSON: {e}"))?;
    let nodes = field(&v, "nodes", "the cluster")?.as_array().ok_or("the cluster: \"nodes\" is not a list")?;
    let mut out = Vec::with_capacity(nodes.len());
    for (i, n) in nodes.iter().enumerate() {
        let at = format!("nodes[{i}]");
        out.push(Node {
            id: text(n, "id", &at)?,
            gpu_type: text(n, "gpu_type", &at)?,
            gpus: count(n, "gpus", &at)?,
            gpu_memory_gib: number(n, "gpu_memory_gib", &at)?,
        });
    }
    if out.is_empty() {
        return Err("the cluster has no nodes".into());
    }
    Ok(out)
}

/// Writes a trace as `parse_trace` reads it.
pub fn write_trace(jobs: &[TraceJob]) -> String {
    let mut out = String::new();
    for j in jobs {
        let priority = PRIORITIES.iter().find(|(_, p)| *p == j.priority).map(|(n, _)| json!(n)).unwrap_or(json!(j.priority));
        let line = json!({
            "id": j.id, "arrival_s": j.arrival_ms as f64 / 1000.0, "user": j.user, "gpus": j.gpus, "gpu_type": j.gpu_type,
            "duration_s": j.duration_ms as f64 / 1000.0, "priority": priority, "preemptible": j.preemptible,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// Writes a cluster as `parse_cluster` reads it.
pub fn write_cluster(nodes: &[Node]) -> String {
    let nodes: Vec<Value> =
        nodes.iter().map(|n| json!({"id": n.id, "gpu_type": n.gpu_type, "gpus": n.gpus, "gpu_memory_gib": n.gpu_memory_gib})).collect();
    serde_json::to_string_pretty(&json!({ "nodes": nodes })).unwrap_or_default()
}
