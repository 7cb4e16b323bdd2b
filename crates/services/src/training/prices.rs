//! Prices per GPU-hour by GPU type: set through the API by an instance administrator (stored),
//! else configured (`[scheduling] prices`), else the installation's one price
//! (`training.price_per_device_hour`), else the device type's list price. A run records the
//! price it started at, so a change prices what runs from then on, not past spend.

use crate::audit::{append, AuditEvent};
use crate::settings::GpuPrice;
use crate::{now_ms, Error, Principal, RequestContext, Result, Services};
use domain::{Permission, ValidationError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// Where a type's price comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PriceSource {
    /// Set through the API.
    Set,
    /// The configuration file's `[scheduling] prices`.
    Configured,
    /// The installation's one price for every type (`price_per_device_hour`).
    Installation,
    /// The device type's list price (or 0 for a type without one).
    List,
}

/// The price of one GPU type.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PriceView {
    pub gpu_type: String,
    /// Per GPU-hour.
    pub on_demand: f64,
    /// Per GPU-hour for spot (preemptible) jobs.
    pub spot: f64,
    pub source: PriceSource,
    /// Who set it and when (Unix seconds), for a price set through the API.
    pub updated_by: Option<String>,
    pub updated_at: Option<i64>,
}

/// A price to set for a GPU type.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPrice {
    /// Per GPU-hour, 0 or more.
    #[schema(minimum = 0)]
    pub on_demand: f64,
    /// Per GPU-hour for spot jobs, 0 or more (default: the on-demand price).
    #[schema(minimum = 0)]
    pub spot: Option<f64>,
}

/// The prices in force: read once per decision, so every use in it agrees.
#[derive(Debug, Clone)]
pub struct PriceTable {
    set: HashMap<String, (GpuPrice, String, i64)>,
    configured: HashMap<String, GpuPrice>,
    installation: Option<f64>,
    default_device: String,
}

impl PriceTable {
    /// The price set or configured for `gpu_type`, if any.
    pub fn explicit(&self, gpu_type: &str, preemptible: bool) -> Option<f64> {
        let p = self.set.get(gpu_type).map(|(p, _, _)| p).or_else(|| self.configured.get(gpu_type))?;
        Some(if preemptible { p.spot.unwrap_or(p.on_demand) } else { p.on_demand })
    }

    /// The price of one GPU of `gpu_type` per hour, on demand or spot.
    pub fn price(&self, gpu_type: &str, preemptible: bool) -> f64 {
        self.explicit(gpu_type, preemptible).unwrap_or_else(|| self.fallback(gpu_type))
    }

    fn fallback(&self, gpu_type: &str) -> f64 {
        let listed = domain::estimate::device_type(gpu_type).or_else(|| domain::estimate::device_type(&self.default_device));
        self.installation.or(listed.map(|d| d.default_price_per_hour)).unwrap_or(0.0)
    }

    /// The price a job will pay per GPU-hour: of its GPU type, else the dearest of `nodes`
    /// (a budget check must not count low).
    pub fn price_for_request(&self, gpu_type: Option<&str>, preemptible: bool, nodes: &[scheduler::Node]) -> f64 {
        match gpu_type {
            Some(t) => self.price(t, preemptible),
            None => nodes.iter().map(|n| self.price(&n.gpu_type, preemptible)).fold(0.0, f64::max),
        }
    }

    fn view(&self, gpu_type: &str) -> PriceView {
        let (source, updated_by, updated_at) = match self.set.get(gpu_type) {
            Some((_, by, at)) => (PriceSource::Set, Some(by.clone()), Some(at / 1000)),
            None if self.configured.contains_key(gpu_type) => (PriceSource::Configured, None, None),
            None if self.installation.is_some() => (PriceSource::Installation, None, None),
            None => (PriceSource::List, None, None),
        };
        PriceView {
            gpu_type: gpu_type.to_string(),
            on_demand: self.price(gpu_type, false),
            spot: self.price(gpu_type, true),
            source,
            updated_by,
            updated_at,
        }
    }
}

fn check_price(field: &str, value: f64) -> Result<()> {
    if !value.is_finite() || value < 0.0 {
        return Err(ValidationError::new(field, format!("must be 0 or more (got {value})")).into());
    }
    Ok(())
}

impl Services {
    /// The prices in force, read on `conn` (inside the caller's transaction where it has one).
    pub(crate) async fn price_table(&self, conn: &mut database::Conn) -> Result<PriceTable> {
        let rows = database::gpu_prices::all(conn).await?;
        let settings = self.settings();
        Ok(PriceTable {
            set: rows
                .into_iter()
                .map(|r| (r.gpu_type, (GpuPrice { on_demand: r.on_demand, spot: r.spot }, r.updated_by, r.updated_at)))
                .collect(),
            configured: settings.scheduling.prices.clone(),
            installation: settings.training.price_per_device_hour,
            default_device: settings.training.device_type.clone(),
        })
    }

    /// The price of every GPU type the cluster has, is priced, or is listed (`view_metrics`).
    pub async fn list_prices(&self, principal: &Principal) -> Result<Vec<PriceView>> {
        principal.require(Permission::ViewMetrics)?;
        let table = self.price_table(&mut *self.db().read().await?).await?;
        let mut types: BTreeSet<String> = self.nodes().into_iter().map(|n| n.gpu_type).collect();
        types.extend(table.set.keys().cloned());
        types.extend(table.configured.keys().cloned());
        types.extend(domain::estimate::DEVICE_TYPES.iter().map(|d| d.name.to_string()));
        Ok(types.iter().map(|t| table.view(t)).collect())
    }

    /// Sets a GPU type's price for every organization (an instance administrator only).
    pub async fn set_price(&self, principal: &Principal, gpu_type: &str, new: NewPrice, ctx: &RequestContext) -> Result<PriceView> {
        require_instance_admin(principal)?;
        let gpu_type = gpu_type_name(gpu_type)?;
        check_price("on_demand", new.on_demand)?;
        if let Some(spot) = new.spot {
            check_price("spot", spot)?;
        }
        let mut tx = self.db().begin_write().await?;
        let before = self.price_table(tx.conn()).await?.view(&gpu_type);
        let row = database::gpu_prices::GpuPriceRow {
            gpu_type: gpu_type.clone(),
            on_demand: new.on_demand,
            spot: new.spot,
            updated_by: principal.user_id.clone(),
            updated_at: now_ms(),
        };
        database::gpu_prices::upsert(tx.conn(), &row).await?;
        let event = AuditEvent::by(principal, "price.set").target("gpu_type", &gpu_type).details(serde_json::json!({
            "on_demand": new.on_demand, "spot": new.spot,
            "previous": {"on_demand": before.on_demand, "spot": before.spot, "source": before.source},
        }));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        let view = self.price_table(tx.conn()).await?.view(&gpu_type);
        tx.commit().await?;
        Ok(view)
    }

    /// Removes a price set through the API: the configured or list price applies again.
    pub async fn delete_price(&self, principal: &Principal, gpu_type: &str, ctx: &RequestContext) -> Result<PriceView> {
        require_instance_admin(principal)?;
        let mut tx = self.db().begin_write().await?;
        if !database::gpu_prices::delete(tx.conn(), gpu_type).await? {
            return Err(Error::NotFound("price"));
        }
        let event = AuditEvent::by(principal, "price.delete").target("gpu_type", gpu_type);
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        let view = self.price_table(tx.conn()).await?.view(gpu_type);
        tx.commit().await?;
        Ok(view)
    }
}

fn require_instance_admin(principal: &Principal) -> Result<()> {
    if !principal.is_instance_admin {
        return Err(Error::Forbidden("prices apply to every organization: only an instance administrator may change them".into()));
    }
    Ok(())
}

/// A GPU type's name as the cluster's nodes use it: 1 to 64 characters, no white space or
/// control characters.
fn gpu_type_name(value: &str) -> Result<String> {
    let n = value.chars().count();
    if n == 0 || n > 64 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ValidationError::unprocessable("gpu_type", format!("must be 1 to 64 characters without spaces (got '{value}')")).into());
    }
    Ok(value.to_string())
}
