//! Prices per GPU-hour by GPU type (instance-wide).

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, Caller, Origin};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use services::training::{NewPrice, PriceView};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct PriceList {
    pub object: &'static str,
    pub data: Vec<PriceView>,
}

/// The price per GPU-hour of every GPU type the cluster has, is priced, or is listed, with where
/// it comes from: set through this API, configured (`[scheduling] prices`), the installation's
/// one price, or the type's list price.
#[utoipa::path(get, path = "/api/v1/prices", tag = "jobs",
    responses((status = 200, body = PriceList), (status = "default", body = ErrorBody)), security(("bearer" = ["view_metrics"])))]
pub async fn list_prices(State(app): State<AppState>, Caller(p): Caller) -> ApiResult<Json<PriceList>> {
    Ok(Json(PriceList { object: "list", data: app.services.list_prices(&p).await? }))
}

/// Sets a GPU type's price for every organization (an instance administrator only; audited).
/// Runs keep the price they started at: the change prices what runs from now on, estimates and
/// budget checks at once.
#[utoipa::path(put, path = "/api/v1/prices/{gpu_type}", tag = "jobs", params(("gpu_type" = String, Path)), request_body = NewPrice,
    responses((status = 200, body = PriceView), (status = "default", body = ErrorBody)), security(("bearer" = ["instance_admin"])))]
pub async fn set_price(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(gpu_type): ApiPath<String>,
    ApiJson(b): ApiJson<NewPrice>,
) -> ApiResult<Json<PriceView>> {
    Ok(Json(app.services.set_price(&p, &gpu_type, b, &ctx).await?))
}

/// Removes a price set through the API; the configured or list price applies again (answered).
#[utoipa::path(delete, path = "/api/v1/prices/{gpu_type}", tag = "jobs", params(("gpu_type" = String, Path)),
    responses((status = 200, body = PriceView), (status = "default", body = ErrorBody)), security(("bearer" = ["instance_admin"])))]
pub async fn delete_price(
    State(app): State<AppState>,
    Caller(p): Caller,
    Origin(ctx): Origin,
    ApiPath(gpu_type): ApiPath<String>,
) -> ApiResult<Json<PriceView>> {
    Ok(Json(app.services.delete_price(&p, &gpu_type, &ctx).await?))
}
