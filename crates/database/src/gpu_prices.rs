//! Prices per GPU-hour by GPU type, set through the API (instance-wide).

use crate::{Conn, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GpuPriceRow {
    pub gpu_type: String,
    pub on_demand: f64,
    /// None: the on-demand price.
    pub spot: Option<f64>,
    pub updated_by: String,
    pub updated_at: i64,
}

pub async fn all(conn: &mut Conn) -> Result<Vec<GpuPriceRow>> {
    Ok(sqlx::query_as("SELECT gpu_type, on_demand, spot, updated_by, updated_at FROM gpu_prices ORDER BY gpu_type")
        .fetch_all(&mut *conn)
        .await?)
}

pub async fn upsert(conn: &mut Conn, p: &GpuPriceRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO gpu_prices (gpu_type, on_demand, spot, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (gpu_type) DO UPDATE SET on_demand = $2, spot = $3, updated_by = $4, updated_at = $5",
    )
    .bind(&p.gpu_type)
    .bind(p.on_demand)
    .bind(p.spot)
    .bind(&p.updated_by)
    .bind(p.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes a type's price; false when none was set.
pub async fn delete(conn: &mut Conn, gpu_type: &str) -> Result<bool> {
    Ok(sqlx::query("DELETE FROM gpu_prices WHERE gpu_type = $1").bind(gpu_type).execute(&mut *conn).await?.rows_affected() > 0)
}
