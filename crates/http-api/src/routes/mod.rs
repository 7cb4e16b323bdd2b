//! One module per resource; handlers parse, call one service function and map the result.

pub mod annotations;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod cluster;
pub mod datasets;
pub mod deployments;
pub mod evaluations;
pub mod forms;
pub mod gateway;
mod gateway_answer;
pub mod human_evals;
pub mod job_templates;
pub mod jobs;
pub mod me;
pub mod model_records;
pub mod models;
pub mod openai_ft;
pub mod openai_uploads;
pub mod organizations;
pub mod prices;
pub mod projects;
pub mod quotas;
pub mod safety;
pub mod system;
pub mod traffic;
pub mod uploads;
pub mod users;

use serde::Deserialize;
use utoipa::IntoParams;

/// Paging of list endpoints.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// Cursor: the id of the last item of the previous page.
    pub after: Option<String>,
}
