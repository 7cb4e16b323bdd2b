//! `tunery prices …`: prices per GPU-hour by GPU type, which costs, estimates and budgets use.

use crate::client::context::Context;
use crate::client::http::seg;
use crate::client::output::{self, s, Table};
use anyhow::Result;
use serde_json::json;

#[derive(Debug, clap::Subcommand)]
pub enum PricesCommand {
    /// Every GPU type's price and where it comes from.
    List,
    /// Set a GPU type's price for every organization (instance administrators).
    Set {
        /// The GPU type as the cluster's nodes name it (`cpu` for CPU slots).
        gpu_type: String,
        /// Per GPU-hour.
        #[arg(long)]
        on_demand: f64,
        /// Per GPU-hour for spot jobs [default: the on-demand price].
        #[arg(long)]
        spot: Option<f64>,
    },
    /// Remove a price set with `set`: the configured or list price applies again.
    Reset { gpu_type: String },
}

pub async fn run(ctx: &Context, cmd: PricesCommand) -> Result<u8> {
    let mut api = ctx.authenticated()?;
    let v = match cmd {
        PricesCommand::List => {
            let list = api.get("/api/v1/prices", &[]).await?;
            if ctx.json {
                output::json(&list);
                return Ok(0);
            }
            let mut t = Table::new(&["GPU TYPE", "ON DEMAND", "SPOT", "SOURCE"]);
            for p in output::items(&list) {
                let money = |k: &str| format!("{:.4}", p[k].as_f64().unwrap_or(0.0));
                t.row(vec![s(p, "gpu_type"), money("on_demand"), money("spot"), s(p, "source")]);
            }
            t.print();
            return Ok(0);
        }
        PricesCommand::Set { gpu_type, on_demand, spot } => {
            api.put(&format!("/api/v1/prices/{}", seg(&gpu_type)), &json!({"on_demand": on_demand, "spot": spot})).await?
        }
        PricesCommand::Reset { gpu_type } => api.delete(&format!("/api/v1/prices/{}", seg(&gpu_type))).await?,
    };
    if ctx.json {
        output::json(&v);
    } else {
        println!("{}: {} on demand, {} spot ({})", s(&v, "gpu_type"), v["on_demand"], v["spot"], s(&v, "source"));
    }
    Ok(0)
}
