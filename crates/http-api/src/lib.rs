//! The HTTP surface: the axum router with `/api/v1` routes, the error table, extractors,
//! authentication and audit middleware, Prometheus metrics and the generated OpenAPI document.
//!
//! Only this crate knows HTTP. Handlers parse into validated types, call one `services`
//! function and map the result to an API view (`views`); stored rows never reach the wire.
//! The permission each endpoint needs is declared as the scope of its `bearer` security
//! requirement in the OpenAPI document, which the permission-matrix test reads.

mod document;
pub mod error;
pub mod extract;
pub mod metrics;
mod middleware;
pub mod routes;
mod streaming;
pub mod views;
pub mod views_datasets;
pub mod views_deployments;
pub mod views_evaluations;
pub mod views_training;
pub mod web_ui;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Router;
use services::Services;
use std::sync::Arc;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest accepted request body; larger ones answer 413.
    pub max_body_bytes: usize,
    /// Take the client address from the last `X-Forwarded-For` entry (behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// The built web UI, served at `/` (None: the API only).
    pub web_ui: Option<web_ui::WebUi>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings { max_body_bytes: 1024 * 1024, trust_forwarded_for: false, web_ui: None }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub metrics: Arc<metrics::Metrics>,
    pub trust_forwarded_for: bool,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Tunery API", description = "Self-hosted platform for fine-tuning large language models. Errors answer as {\"error\": {message, type, param, code}}; the codes are listed in the ErrorCode schema."),
    modifiers(&BearerAuth),
    components(schemas(error::ErrorCode, error::ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            let mut http = Http::new(HttpAuthScheme::Bearer);
            http.description = Some(
                "An access token from /api/v1/auth/login or an API key (tk_…). The scopes of each operation name the permission it needs."
                    .into(),
            );
            c.add_security_scheme("bearer", SecurityScheme::Http(http));
        }
    }
}

fn api_routes() -> OpenApiRouter<AppState> {
    use routes::*;
    OpenApiRouter::new()
        .routes(routes!(auth::registration))
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(me::get_me))
        .routes(routes!(organizations::create_organization, organizations::list_organizations))
        .routes(routes!(organizations::get_organization, organizations::update_organization))
        .routes(routes!(users::create_user, users::list_users))
        .routes(routes!(users::get_user, users::update_user))
        .routes(routes!(users::create_invitation, users::list_invitations))
        .routes(routes!(users::revoke_invitation))
        .routes(routes!(api_keys::create_api_key, api_keys::list_api_keys))
        .routes(routes!(api_keys::get_api_key, api_keys::revoke_api_key))
        .routes(routes!(projects::create_project, projects::list_projects))
        .routes(routes!(projects::get_project, projects::update_project, projects::delete_project))
        .routes(routes!(projects::list_members, projects::add_member))
        .routes(routes!(projects::update_member, projects::remove_member))
        .routes(routes!(audit::list_audit_events))
        .routes(routes!(datasets::get_dataset, datasets::update_dataset, datasets::delete_dataset))
        .routes(routes!(datasets::list_versions))
        .routes(routes!(datasets::get_version))
        .routes(routes!(datasets::get_stats))
        .routes(routes!(datasets::get_validation))
        .routes(routes!(datasets::preview_version))
        .routes(routes!(datasets::get_lineage))
        .routes(routes!(datasets::diff_versions))
        .routes(routes!(datasets::preprocess_version))
        .routes(routes!(datasets::get_operation))
        .routes(routes!(datasets::download_version))
        .routes(routes!(annotations::create_annotation_task))
        .routes(routes!(annotations::list_annotation_tasks))
        .routes(routes!(annotations::get_annotation_task, annotations::delete_annotation_task))
        .routes(routes!(annotations::annotation_records))
        .routes(routes!(annotations::annotate_record))
        .routes(routes!(annotations::complete_annotation_task))
        .routes(routes!(uploads::create_upload, uploads::list_uploads))
        .routes(routes!(uploads::get_upload))
        .routes(routes!(uploads::complete_upload))
        .routes(routes!(uploads::cancel_upload))
        .routes(routes!(models::list_catalog))
        .routes(routes!(models::list_base_models))
        .routes(routes!(models::get_base_model, models::delete_base_model))
        .routes(routes!(models::import_base_model))
        .routes(routes!(models::compare_base_models))
        .routes(routes!(models::create_estimate))
        .routes(routes!(models::list_models))
        .routes(routes!(models::get_model, models::delete_model))
        .routes(routes!(model_records::experiment_record))
        .routes(routes!(model_records::rank_models))
        .routes(routes!(models::list_model_files))
        .routes(routes!(models::download_model_file))
        .routes(routes!(jobs::create_job, jobs::list_jobs))
        .routes(routes!(job_templates::list_job_templates, job_templates::create_job_template))
        .routes(routes!(job_templates::get_job_template, job_templates::update_job_template, job_templates::delete_job_template))
        .routes(routes!(cluster::get_cluster))
        .routes(routes!(quotas::list_quotas))
        .routes(routes!(quotas::set_quota, quotas::delete_quota))
        .routes(routes!(prices::list_prices))
        .routes(routes!(prices::set_price, prices::delete_price))
        .routes(routes!(jobs::get_job))
        .routes(routes!(jobs::cancel_job))
        .routes(routes!(jobs::resume_job))
        .routes(routes!(jobs::job_events))
        .routes(routes!(jobs::job_metrics))
        .routes(routes!(jobs::job_logs))
        .routes(routes!(jobs::job_checkpoints))
        .routes(routes!(deployments::create_deployment, deployments::list_deployments))
        .routes(routes!(deployments::get_deployment, deployments::update_deployment, deployments::delete_deployment))
        .routes(routes!(deployments::start_deployment))
        .routes(routes!(deployments::stop_deployment))
        .routes(routes!(deployments::deployment_events))
        .routes(routes!(deployments::deployment_usage))
        .routes(routes!(deployments::organization_usage))
        .routes(routes!(safety::deployment_logs))
        .routes(routes!(safety::export_deployment_logs))
        .routes(routes!(safety::get_content_policy, safety::put_content_policy))
        .routes(routes!(safety::list_safety_events))
        .routes(routes!(traffic::create_split, traffic::list_splits))
        .routes(routes!(traffic::get_split, traffic::update_split, traffic::delete_split))
        .routes(routes!(traffic::give_feedback))
        .routes(routes!(evaluations::get_evaluation, evaluations::delete_evaluation))
        .routes(routes!(evaluations::evaluation_examples))
        .routes(routes!(evaluations::cancel_evaluation))
        .routes(routes!(evaluations::rerun_evaluation))
        .routes(routes!(evaluations::compare_evaluations))
        .routes(routes!(evaluations::create_judge_evaluation))
        .routes(routes!(evaluations::create_ab_test, evaluations::list_ab_tests))
        .routes(routes!(evaluations::get_ab_test, evaluations::delete_ab_test))
        .routes(routes!(human_evals::create_human_eval, human_evals::list_human_evals))
        .routes(routes!(human_evals::get_human_eval, human_evals::delete_human_eval))
        .routes(routes!(human_evals::close_human_eval))
        .routes(routes!(human_evals::reopen_human_eval))
        .routes(routes!(human_evals::next_human_eval_item))
        .routes(routes!(human_evals::human_eval_item))
        .routes(routes!(human_evals::rate_human_eval_item))
        .routes(routes!(human_evals::human_eval_results))
        .routes(routes!(human_evals::export_human_preferences))
        .routes(routes!(gateway::chat_completions))
        .routes(routes!(gateway::completions))
        .routes(routes!(gateway::list_models))
        .routes(routes!(openai_ft::delete_fine_tuned_model))
        .routes(routes!(gateway::playground_chat))
        .routes(routes!(openai_ft::get_file, openai_ft::delete_file))
        .routes(routes!(openai_ft::file_content))
        .routes(routes!(openai_ft::create_fine_tuning_job, openai_ft::list_fine_tuning_jobs))
        .routes(routes!(openai_ft::get_fine_tuning_job))
        .routes(routes!(openai_ft::cancel_fine_tuning_job))
        .routes(routes!(openai_ft::pause_fine_tuning_job))
        .routes(routes!(openai_ft::resume_fine_tuning_job))
        .routes(routes!(openai_ft::estimate_fine_tuning_job))
        .routes(routes!(openai_ft::fine_tuning_events))
        .routes(routes!(openai_ft::fine_tuning_checkpoints))
        .routes(routes!(openai_uploads::create_openai_upload))
        .routes(routes!(openai_uploads::complete_openai_upload))
        .routes(routes!(openai_uploads::cancel_openai_upload))
}

/// Routes that receive file bytes: their body limit is the largest upload, not the JSON limit.
fn file_routes() -> OpenApiRouter<AppState> {
    use routes::*;
    OpenApiRouter::new()
        .routes(routes!(datasets::create_dataset, datasets::list_datasets))
        .routes(routes!(uploads::put_part))
        .routes(routes!(models::import_base_model_archive))
        .routes(routes!(evaluations::create_evaluation, evaluations::list_evaluations))
        .routes(routes!(openai_ft::create_file, openai_ft::list_files))
        .routes(routes!(openai_uploads::add_upload_part))
}

fn system_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(routes::system::healthz)).routes(routes!(routes::system::readyz))
}

/// The OpenAPI document, as generated from the routes.
pub fn openapi() -> serde_json::Value {
    let (_, api) = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .merge(system_routes())
        .merge(api_routes())
        .merge(file_routes())
        .split_for_parts();
    document::finish(api)
}

/// The whole application router.
pub fn router(services: Services, settings: &HttpSettings) -> Router {
    let state = AppState { services, metrics: Arc::new(metrics::Metrics::default()), trust_forwarded_for: settings.trust_forwarded_for };
    let max_upload = usize::try_from(state.services.settings().max_upload_bytes).unwrap_or(usize::MAX);
    let (api, _) = api_routes().split_for_parts();
    let (files, _) = file_routes().split_for_parts();
    // File routes take bodies up to the largest upload; their bytes stream to the blob store.
    let api = api
        .merge(files.layer(DefaultBodyLimit::max(max_upload)))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), middleware::authenticate));
    let (system, _) = system_routes().split_for_parts();
    let doc = openapi();
    let ui = settings.web_ui.clone();
    Router::new()
        .merge(system)
        .merge(api)
        .route("/metrics", axum::routing::get(render_metrics))
        .route("/openapi.json", axum::routing::get(move || async move { axum::Json(doc) }))
        .fallback(move |req: axum::extract::Request| web_ui::respond(ui.clone(), req))
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::observe))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| error::ApiError::internal("a handler panicked").into_response()))
        .with_state(state)
}

/// The router of a `--role scheduler` server: /healthz, /readyz and /metrics only.
pub fn system_router(services: Services, settings: &HttpSettings) -> Router {
    let state = AppState { services, metrics: Arc::new(metrics::Metrics::default()), trust_forwarded_for: settings.trust_forwarded_for };
    let (system, _) = system_routes().split_for_parts();
    Router::new()
        .merge(system)
        .route("/metrics", axum::routing::get(render_metrics))
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::observe))
        .with_state(state)
}

async fn render_metrics(State(app): State<AppState>) -> impl IntoResponse {
    match app.services.cluster_metrics().await {
        Ok(c) => app.metrics.set_cluster(&c),
        Err(e) => tracing::warn!(error = %e, "the scheduler's metrics could not be read"),
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], app.metrics.render())
}

/// Serves `router` on `listener` until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>()).with_graceful_shutdown(shutdown).await
}
