//! `tunery estimate …`: memory, time and cost of a run before submitting it.

use super::training_args::TrainingArgs;
use crate::client::context::Context;
use crate::client::output::{self, print_kv, s, Table};
use anyhow::Result;
use serde_json::{json, Value};

#[derive(Debug, clap::Args)]
pub struct EstimateArgs {
    /// A base model id (bm_…) or a catalog repository id (e.g. meta-llama/Llama-3.1-8B-Instruct).
    #[arg(long)]
    pub model: String,
    /// Count the tokens of this dataset's latest version (or --dataset-version).
    #[arg(long)]
    pub dataset: Option<String>,
    #[arg(long, requires = "dataset")]
    pub dataset_version: Option<i64>,
    /// Or give the tokens of one epoch directly.
    #[arg(long, conflicts_with = "dataset")]
    pub tokens: Option<u64>,
    /// Devices (GPUs) used.
    #[arg(long)]
    pub gpus: Option<u32>,
    /// Time and price the run on this device type (cpu, T4, L4, A100-80GB, H100-80GB, …).
    #[arg(long)]
    pub device_type: Option<String>,
    #[arg(long)]
    pub price_per_gpu_hour: Option<f64>,
    #[command(flatten)]
    pub training: TrainingArgs,
}

fn gib(v: &Value) -> String {
    v.as_f64().map(|b| format!("{:.2} GiB", b / (1u64 << 30) as f64)).unwrap_or_else(|| "-".into())
}

fn duration(seconds: f64) -> String {
    match seconds {
        s if s < 90.0 => format!("{s:.0} s"),
        s if s < 5400.0 => format!("{:.0} min", s / 60.0),
        s => format!("{:.1} h", s / 3600.0),
    }
}

pub async fn run(ctx: &Context, a: EstimateArgs) -> Result<u8> {
    let mut api = ctx.authenticated()?;
    let mut body = json!({ "config": a.training.to_config()? });
    if a.model.starts_with("bm_") {
        body["base_model_id"] = json!(a.model);
    } else {
        body["catalog_repo_id"] = json!(a.model);
    }
    crate::client::http::set_given(
        &mut body,
        [
            ("dataset_id", a.dataset.map(Value::from)),
            ("dataset_version", a.dataset_version.map(Value::from)),
            ("dataset_tokens", a.tokens.map(Value::from)),
            ("gpus", a.gpus.map(Value::from)),
            ("device_type", a.device_type.map(Value::from)),
            ("price_per_gpu_hour", a.price_per_gpu_hour.map(Value::from)),
        ],
    );
    let e = api.post("/api/v1/estimates", &body).await?;
    if ctx.json {
        output::json(&e);
        return Ok(0);
    }
    let m = &e["memory"];
    let sel = &e["selected"];
    print_kv(&[
        ("model", s(&e, "model")),
        ("parameters", format!("{} total, {} trained", s(&e, "total_parameters"), s(&e, "trainable_parameters"))),
        ("training tokens", s(&e, "training_tokens")),
        (
            "batch",
            format!(
                "{} × {} tokens, gradient checkpointing {}",
                s(&e, "micro_batch_size"),
                s(&e, "max_seq_length"),
                if e["gradient_checkpointing"] == true { "on" } else { "off" }
            ),
        ),
        ("memory per device", gib(&m["total_bytes"])),
        ("  weights", gib(&m["weights_bytes"])),
        ("  gradients + optimizer", gib(&m["trainable_state_bytes"])),
        ("  activations", gib(&m["activations_bytes"])),
        ("  logits", gib(&m["logits_bytes"])),
        ("  overhead", gib(&m["overhead_bytes"])),
        ("training FLOPs", format!("{:.3e}", e["training_flops"].as_f64().unwrap_or(0.0))),
        (
            "on this installation",
            format!(
                "{}: {}, {}, ${:.2} ({})",
                s(sel, "device"),
                if sel["fits"] == true { "fits" } else { "does NOT fit" },
                duration(sel["seconds"].as_f64().unwrap_or(0.0)),
                sel["cost"].as_f64().unwrap_or(0.0),
                s(sel, "throughput_source")
            ),
        ),
    ]);
    println!();
    let mut t = Table::new(&["DEVICE", "MEMORY", "FITS", "TIME", "COST"]);
    for d in e["devices"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        t.row(vec![
            s(d, "device"),
            format!("{:.0} GiB", d["memory_gib"].as_f64().unwrap_or(0.0)),
            if d["fits"] == true { "yes".into() } else { "no".into() },
            duration(d["seconds"].as_f64().unwrap_or(0.0)),
            format!("${:.2}", d["cost"].as_f64().unwrap_or(0.0)),
        ]);
    }
    t.print();
    Ok(if sel["fits"] == true { 0 } else { 3 })
}
