//! `tunery cluster`: the nodes with their free GPUs, the running jobs, and the queue in the
//! order the scheduler would start it, with why each job waits.

use super::jobs::resources_line;
use crate::client::context::Context;
use crate::client::output::{self, s, Table};
use anyhow::Result;
use serde_json::{json, Value};

pub async fn run(ctx: &Context) -> Result<u8> {
    let mut api = ctx.authenticated()?;
    let v = api.get("/api/v1/cluster", &[]).await?;
    if ctx.json {
        output::json(&v);
        return Ok(0);
    }
    println!("policy {}: {} of {} GPUs (or CPU slots) free", s(&v, "policy"), s(&v, "free_gpus"), s(&v, "gpus"));
    let mut nodes = Table::new(&["NODE", "TYPE", "GPUS", "FREE", "MEMORY GIB"]);
    for n in v["nodes"].as_array().into_iter().flatten() {
        nodes.row(vec![s(n, "id"), s(n, "gpu_type"), s(n, "gpus"), s(n, "free_gpus"), s(n, "gpu_memory_gib")]);
    }
    nodes.print();
    let hidden = |j: &Value| j["job_id"].as_str().map(str::to_string).unwrap_or_else(|| "(not yours)".into());
    let mut running = Table::new(&["RUNNING", "NODE", "GPUS", "PRIORITY", "STOPPING"]);
    for r in v["running"].as_array().into_iter().flatten() {
        let priority = if r["preemptible"] == true { format!("{} (spot)", s(r, "priority")) } else { s(r, "priority") };
        running.row(vec![hidden(r), s(r, "node"), s(r, "gpus"), priority, s(r, "stopping")]);
    }
    running.print();
    let mut queue = Table::new(&["#", "QUEUED", "REQUEST", "WAITING BECAUSE"]);
    for q in v["queue"].as_array().into_iter().flatten() {
        let request = json!({"gpus": q["gpus"], "gpu_type": q["gpu_type"], "priority": q["priority"], "preemptible": q["preemptible"]});
        let why = if q["wait"].is_object() { s(&q["wait"], "message") } else { "starting".into() };
        queue.row(vec![s(q, "position"), hidden(q), resources_line(&request), why]);
    }
    queue.print();
    Ok(0)
}
