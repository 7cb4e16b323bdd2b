//! Deployments: a model (a base model or a fine-tuned one) served behind the gateway by a
//! backend — `local` (the runtime's `serve` mode: one process per base model holding every
//! adapter deployed over it) or `external` (any OpenAI-compatible URL with its own key).
//! Lifecycle: create (202, started in the background), start, stop, scale, delete; scale to
//! zero after `idle_timeout_s` and a cold start on the next request; a crashed backend restarts.

pub mod answer_policy;
pub mod content_policy;
mod gateway;
pub mod inference_logs;
mod lifecycle;
pub(crate) mod limits;
mod local;
mod org_cache;
pub mod output_guard;
pub mod request;
pub mod safety;
pub mod stream;
pub mod traffic;
mod usage;
mod vllm;

pub use database::inference::InferenceRow;
pub(crate) use gateway::endpoint_allowed;
pub use gateway::{prepare, upstream_error_message, CompletionEndpoint, Prepared, Route, Upstream, UpstreamReply, HOPS_HEADER};
pub use limits::{month_bounds, Admission, CounterStore, OrgLimitsCache};
pub use local::LocalBackends;
pub use usage::{InferenceRecord, LatencyPercentiles, UsageQuery, UsageRecorder, UsageReport};

use crate::audit::{append, AuditEvent};
use crate::error::OrNotFound;
use crate::evaluations::GatedModel;
use crate::{now_ms, Error, Page, Principal, RequestContext, Result, Services};
use database::deployments::{DeploymentEventRow, DeploymentRow};
use domain::ids::IdKind;
use domain::{validate, Permission, ValidationError};
use serde::{Deserialize, Serialize};

/// Generation settings applied when a request leaves them out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerationDefaults {
    /// Default `max_tokens` (1–32768).
    #[schema(minimum = 1, maximum = 32768)]
    pub max_tokens: Option<u32>,
    /// Default `temperature` (0–2).
    #[schema(minimum = 0.0, maximum = 2.0)]
    pub temperature: Option<f64>,
    /// Default `top_p` (0–1).
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub top_p: Option<f64>,
}

impl GenerationDefaults {
    fn check(&self) -> Result<()> {
        validate::bounded("defaults.max_tokens", self.max_tokens.map(i64::from), 1, 1, 32768)?;
        let range = |field: &str, v: Option<f64>, max: f64| match v {
            Some(x) if !(0.0..=max).contains(&x) => Err(ValidationError::new(field, format!("must be 0 to {max} (got {x})"))),
            _ => Ok(()),
        };
        range("defaults.temperature", self.temperature, 2.0)?;
        range("defaults.top_p", self.top_p, 1.0)?;
        Ok(())
    }
}

/// Where an external deployment sends requests.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalEndpoint {
    /// The OpenAI-compatible base URL, e.g. `http://vllm:8000/v1` (requests go to
    /// `{url}/chat/completions`); http or https.
    #[schema(pattern = "^https?://[^\\s]+$", max_length = 2000)]
    pub url: String,
    /// The model name the upstream server knows.
    #[schema(min_length = 1, max_length = 200)]
    pub model: String,
    /// The upstream's API key, if it needs one (stored encrypted, never shown again).
    #[schema(max_length = 4000)]
    pub api_key: Option<String>,
}

/// Which backend serves a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// The runtime's `serve` mode on this server (one process per base model, many adapters).
    Local,
    /// Any OpenAI-compatible server (vLLM, TGI, Ollama…) at `endpoint.url`.
    External,
    /// `vllm serve` with multi-LoRA on this server (one process per base model, many adapters;
    /// needs a GPU and an administrator's `--vllm-command`).
    Vllm,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Local => "local",
            BackendKind::External => "external",
            BackendKind::Vllm => "vllm",
        }
    }

    pub(crate) fn parse(owner: &str, value: &str) -> Result<BackendKind> {
        match value {
            "local" => Ok(BackendKind::Local),
            "external" => Ok(BackendKind::External),
            "vllm" => Ok(BackendKind::Vllm),
            other => Err(Error::Internal(format!("{owner}: stored backend '{other}' is not one this build knows"))),
        }
    }
}

/// A deployment request.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeployment {
    /// The model to serve: a base model (`bm_…`), a fine-tuned model (`mdl_…`) or a LoRA-family
    /// job's checkpoint (`ckpt_…`, served as an adapter over the job's base); needed for the
    /// local and vLLM backends (else 422). An external deployment may name the Tunery model its
    /// upstream serves, or none.
    #[schema(pattern = "^(bm|mdl|ckpt)_[0-9a-f]{24}$")]
    pub model: Option<String>,
    /// The name requests put in `model` (unique in the organization). Default: the fine-tuned
    /// model's `ft:` name, or the base model's name; needed without a model (else 422).
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199}$")]
    pub name: Option<String>,
    /// Deploy inside this project (its members may call it).
    pub project_id: Option<String>,
    #[serde(default = "default_backend")]
    pub backend: BackendKind,
    /// Needed for (and only for) the external backend.
    pub endpoint: Option<ExternalEndpoint>,
    /// Serving processes wanted (default 1; 0: created stopped). A local or vLLM deployment
    /// may ask for up to 8: each replica is a process of its base model on this server, and the
    /// gateway sends each request to the ready one with the fewest in flight. An external
    /// deployment is one URL: 0 or 1.
    #[schema(minimum = 0, maximum = 8)]
    pub replicas: Option<u32>,
    /// Scale to zero after this many seconds without a request (10–604800); the next request
    /// starts it again. Default: never.
    #[schema(minimum = 10, maximum = 604800)]
    pub idle_timeout_s: Option<u32>,
    #[serde(default)]
    pub defaults: GenerationDefaults,
    /// Log requests and answers (personal data masked, sealed at rest) to review them and
    /// export them as a dataset. Default: off.
    #[serde(default)]
    pub log_requests: bool,
    /// Deploy only if an evaluation of the model passes these thresholds (else `gate_failed`,
    /// 422, naming the scores that failed).
    pub gate: Option<crate::evaluations::Gate>,
}

fn default_backend() -> BackendKind {
    BackendKind::Local
}

/// Changes to a deployment (scale, defaults, idle timeout); absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentChanges {
    /// Scale: 0 stops; more or fewer processes start or stop while it serves (an external
    /// deployment: 0 or 1).
    #[schema(minimum = 0, maximum = 8)]
    pub replicas: Option<u32>,
    /// 0 turns scale-to-zero off; else 10–604800 seconds (1–9: 422).
    #[schema(minimum = 0, maximum = 604800)]
    pub idle_timeout_s: Option<u32>,
    pub defaults: Option<GenerationDefaults>,
    /// Turns request/response logging on or off.
    pub log_requests: Option<bool>,
}

/// The states of a deployment.
pub mod state {
    /// Not wanted (replicas 0).
    pub const STOPPED: &str = "stopped";
    /// Its backend is starting (or restarting after a crash).
    pub const STARTING: &str = "starting";
    pub const READY: &str = "ready";
    /// Scaled to zero after idling: the next request starts it.
    pub const IDLE: &str = "idle";
    /// It could not start, or crashed more often than restarts allow; `error` says why.
    pub const FAILED: &str = "failed";
}

/// A deployment, read back.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub row: DeploymentRow,
    pub backend: BackendKind,
    pub defaults: GenerationDefaults,
    /// How many of its processes on this server are ready to answer it (local and vLLM
    /// deployments, when read for a view: [`Services::observed`]).
    pub ready_replicas: Option<u32>,
}

impl Deployment {
    pub(crate) fn of(row: DeploymentRow) -> Result<Deployment> {
        let owner = format!("deployment {}", row.id);
        let backend = BackendKind::parse(&owner, &row.backend)?;
        let defaults = serde_json::from_str(&row.defaults)
            .map_err(|e| Error::Internal(format!("{owner}: the stored generation defaults do not parse: {e}")))?;
        Ok(Deployment { row, backend, defaults, ready_replicas: None })
    }

    /// The model it serves: the fine-tuned model's id, else the base model's (none for an
    /// external deployment of another model).
    pub fn model(&self) -> Option<&str> {
        self.row.model_id.as_deref().or(self.row.checkpoint_id.as_deref()).or(self.row.base_model_id.as_deref())
    }
}

/// What a deployment of a model id serves, and its default name.
struct Deployable {
    base: String,
    model: Option<String>,
    checkpoint: Option<String>,
    name: String,
}

/// The default name of a fine-tuned model's deployment, OpenAI style:
/// `ft:<base>:<organization>:<model name>:<id>` (each part reduced to name characters).
pub fn fine_tuned_name(base_name: &str, organization: &str, model_name: &str, model_id: &str) -> String {
    let part = |s: &str, max: usize| -> String {
        let cleaned: String = s
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c.to_ascii_lowercase() } else { '-' })
            .collect();
        let trimmed = cleaned.trim_matches('-');
        trimmed.chars().take(max).collect()
    };
    let id = model_id.strip_prefix("mdl_").unwrap_or(model_id);
    format!("ft:{}:{}:{}:{}", part(base_name, 60), part(organization, 40), part(model_name, 60), &id[id.len().saturating_sub(8)..])
}

const NAME_PATTERN_MAX: usize = 200;

/// Idle seconds before a deployment made on demand (`deployment_for`) scales to zero.
pub const ON_DEMAND_IDLE_S: u32 = 600;

pub(crate) fn check_name(name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= NAME_PATTERN_MAX
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '/' | '@' | '-'));
    if !ok {
        return Err(ValidationError::new(
            "name",
            format!("'{name}': use 1 to {NAME_PATTERN_MAX} letters, digits and . _ : / @ -, starting with a letter or digit"),
        )
        .into());
    }
    Ok(name.to_string())
}

fn check_idle_timeout(field: &str, value: Option<u32>, zero_allowed: bool) -> Result<Option<i64>> {
    match value {
        None => Ok(None),
        Some(0) if zero_allowed => Ok(None),
        Some(s) if (10..=604_800).contains(&s) => Ok(Some(i64::from(s))),
        // The change's schema says 0 to 604800; that 1 to 9 are refused is a rule in words.
        Some(s) if zero_allowed && s < 10 => {
            Err(ValidationError::unprocessable(field, format!("0 turns scale-to-zero off; else give 10 to 604800 seconds (got {s})"))
                .into())
        }
        Some(s) => Err(ValidationError::new(field, format!("must be 10 to 604800 seconds (got {s})")).into()),
    }
}

/// The row an external deployment's API key is sealed for.
pub(crate) fn endpoint_key_binding(deployment_id: &str) -> String {
    format!("deployment:{deployment_id}:endpoint_key")
}

fn check_replicas(value: Option<u32>, backend: BackendKind) -> Result<i64> {
    match value.unwrap_or(1) {
        r @ 0..=1 => Ok(i64::from(r)),
        r if r > local::MAX_REPLICAS => {
            Err(ValidationError::new("replicas", format!("must be 0 to {} (got {r})", local::MAX_REPLICAS)).into())
        }
        r if backend == BackendKind::External => Err(ValidationError::unprocessable(
            "replicas",
            format!("an external deployment is one URL whose server scales itself: 0 or 1 (got {r})"),
        )
        .into()),
        r => Ok(i64::from(r)),
    }
}

impl Services {
    /// The permissions in a deployment's place, with 404 for what the caller cannot see.
    pub(crate) async fn deployment_with(&self, principal: &Principal, id: &str, permission: Permission) -> Result<Deployment> {
        let row =
            database::deployments::get(&mut *self.db().read().await?, &principal.organization_id, id).await.or_not_found("deployment")?;
        self.check_deployment_access(principal, &row, permission).await?;
        Deployment::of(row)
    }

    pub(crate) async fn check_deployment_access(&self, principal: &Principal, row: &DeploymentRow, permission: Permission) -> Result<()> {
        // A key restricted to some deployments sees no other.
        if principal.key_limits().and_then(|l| l.deployment_ids.as_ref()).is_some_and(|ids| !ids.contains(&row.id)) {
            return Err(Error::NotFound("deployment"));
        }
        self.require_on_resource(principal, row.project_id.as_deref(), "deployment", permission).await
    }

    /// Creates a deployment (202: a wanted one starts in the background). Needs `deploy_model`
    /// where it is created; the model must be visible and ready; a fine-tuned model is served
    /// over its own base model.
    pub async fn create_deployment(&self, principal: &Principal, new: NewDeployment, ctx: &RequestContext) -> Result<Deployment> {
        self.require_in(principal, new.project_id.as_deref(), Permission::DeployModel).await?;
        new.defaults.check()?;
        let replicas = check_replicas(new.replicas, new.backend)?;
        let idle_timeout_s = check_idle_timeout("idle_timeout_s", new.idle_timeout_s, false)?;
        let (base_model_id, model_id, checkpoint_id, default_name) = match (&new.model, new.backend) {
            (Some(model), _) => {
                let d = self.deployable(principal, model, new.backend).await?;
                (Some(d.base), d.model, d.checkpoint, Some(d.name))
            }
            (None, BackendKind::External) => (None, None, None, None),
            (None, BackendKind::Local | BackendKind::Vllm) => {
                let message = format!("a {} deployment serves a model: give its id (bm_… or mdl_…)", new.backend.as_str());
                return Err(ValidationError::unprocessable("model", message).into());
            }
        };
        let passed_gate = match &new.gate {
            Some(_) if base_model_id.is_none() => {
                let why = "an external deployment that names no Tunery model has no evaluations before it exists: evaluate it, then gate a traffic split on it";
                return Err(ValidationError::unprocessable("gate", why).into());
            }
            Some(gate) => {
                let model = GatedModel {
                    base_model_id: base_model_id.clone(),
                    model_id: model_id.clone(),
                    checkpoint_id: checkpoint_id.clone(),
                    deployment_id: None,
                };
                Some(self.pass_gate(principal, gate, &model, "gate").await?)
            }
            None => None,
        };
        let name = match new.name.as_deref().or(default_name.as_deref()) {
            Some(name) => check_name(name)?,
            None => return Err(ValidationError::unprocessable("name", "name a deployment that serves no Tunery model").into()),
        };
        let id = crate::crypto::new_id(IdKind::Deployment);
        let (endpoint_url, endpoint_model, endpoint_key) = match (new.backend, new.endpoint) {
            (BackendKind::Local, None) => {
                if self.settings().training.runtime.is_none() {
                    return Err(Error::Unavailable(crate::models::RUNTIME_MISSING.into()));
                }
                (None, None, None)
            }
            (BackendKind::Vllm, None) => {
                if self.settings().serving.vllm_command.is_none() {
                    let message = "this server has no vLLM: an administrator starts it with --vllm-command PATH (vLLM's own environment, on a GPU machine)";
                    return Err(ValidationError::unprocessable("backend", message).into());
                }
                (None, None, None)
            }
            (BackendKind::Local | BackendKind::Vllm, Some(_)) => {
                return Err(ValidationError::unprocessable("endpoint", "only an external backend takes an endpoint").into());
            }
            (BackendKind::External, None) => {
                return Err(ValidationError::unprocessable("endpoint", "an external backend needs endpoint.url and endpoint.model").into());
            }
            (BackendKind::External, Some(e)) => {
                let url = gateway::check_endpoint_url(&e.url, &self.settings().serving.external_endpoints)?;
                if e.model.is_empty() || e.model.len() > 200 {
                    return Err(ValidationError::new("endpoint.model", "give the upstream's model name (1 to 200 characters)").into());
                }
                let key = e.api_key.map(|k| self.seal_secret(&k, &endpoint_key_binding(&id)));
                (Some(url), Some(e.model), key)
            }
        };
        let now = now_ms();
        let row = DeploymentRow {
            id,
            organization_id: principal.organization_id.clone(),
            project_id: new.project_id,
            name,
            base_model_id,
            model_id,
            backend: new.backend.as_str().into(),
            endpoint_url,
            endpoint_model,
            endpoint_key,
            replicas,
            idle_timeout_s,
            defaults: serde_json::to_string(&new.defaults).map_err(crate::datasets::internal)?,
            state: if replicas > 0 { state::STARTING } else { state::STOPPED }.into(),
            error: None,
            last_request_at: None,
            log_requests: i64::from(new.log_requests),
            checkpoint_id,
            created_by: principal.user_id.clone(),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db().begin_write().await?;
        if database::traffic::by_name(tx.conn(), &row.organization_id, &row.name).await?.is_some() {
            return Err(Error::Conflict(format!("a traffic split is named {}: a deployment needs a name of its own", row.name)));
        }
        database::deployments::insert(tx.conn(), &row).await?;
        database::deployments::append_event(tx.conn(), &row.id, "created", now, &serde_json::json!({"replicas": replicas}).to_string())
            .await?;
        if let Some(passed) = &passed_gate {
            let details = serde_json::to_string(passed).map_err(crate::datasets::internal)?;
            database::deployments::append_event(tx.conn(), &row.id, "gate_passed", now, &details).await?;
        }
        let event = AuditEvent::by(principal, "deployment.create")
            .target("deployment", &row.id)
            .details(serde_json::json!({"name": row.name, "model": new.model, "backend": row.backend, "gate": passed_gate}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        if replicas > 0 {
            self.bring_up_in_background(row.id.clone());
        }
        self.observed(Deployment::of(row)?)
    }

    /// (base model id, fine-tuned model id, default name) of a model the caller may deploy.
    async fn deployable(&self, principal: &Principal, model: &str, backend: BackendKind) -> Result<Deployable> {
        if model.starts_with("ckpt_") {
            return self.deployable_checkpoint(principal, model, backend).await;
        }
        if model.starts_with("mdl_") {
            let m = self.get_model(principal, model).await?;
            if let Some(project) = &m.row.project_id {
                self.visible_project(principal, project).await.map_err(|_| Error::NotFound("model"))?;
            }
            let mut conn = self.db().read().await?;
            let base = database::base_models::get_any(&mut conn, &m.row.base_model_id).await?;
            let org = database::organizations::get(&mut conn, &principal.organization_id).await?;
            let name = fine_tuned_name(&base.name, &org.name, &m.row.name, &m.row.id);
            Ok(Deployable { base: base.id, model: Some(m.row.id), checkpoint: None, name })
        } else if model.starts_with("bm_") {
            let base = self.get_base_model(principal, model).await?;
            if base.row.status != "ready" {
                return Err(ValidationError::unprocessable("model", format!("base model {model} is {}, not ready", base.row.status)).into());
            }
            Ok(Deployable { base: base.row.id.clone(), model: None, checkpoint: None, name: base.row.name })
        } else {
            let message =
                format!("'{model}' is neither a base model id (bm_…), a fine-tuned model id (mdl_…) nor a checkpoint id (ckpt_…)");
            Err(ValidationError::new("model", message).into())
        }
    }

    /// A LoRA-family job's checkpoint, served as an adapter over the job's base model; named
    /// like OpenAI's checkpoint models: `ft:<base>:<organization>:<job name>:<job id>:ckpt-step-<N>`.
    async fn deployable_checkpoint(&self, principal: &Principal, id: &str, backend: BackendKind) -> Result<Deployable> {
        let checkpoint =
            database::jobs::checkpoint_by_id(&mut *self.db().read().await?, &principal.organization_id, id).await.map_err(|e| match e {
                database::Error::NotFound => Error::NotFound("checkpoint"),
                e => e.into(),
            })?;
        let job = self.get_job(principal, &checkpoint.job_id).await.map_err(|e| match e {
            Error::NotFound(_) | Error::PermissionDenied(_) => Error::NotFound("checkpoint"),
            e => e,
        })?;
        let files = crate::models::files::parse_manifest(&format!("checkpoint {id}"), &checkpoint.files)?;
        let whole_weights = !job.config.method.kind.is_adapter();
        // An adapter checkpoint is served over its base as an adapter; a full or freeze
        // fine-tune's in a process of its own, its weights copied over the base at start.
        let (needed, what) = if whole_weights {
            ("trainable.safetensors", "weights")
        } else {
            ("adapter/adapter_config.json", "servable adapter (it was saved before checkpoints carried one)")
        };
        if !files.iter().any(|f| f.path == needed) {
            return Err(ValidationError::unprocessable("model", format!("checkpoint {id} holds no {what}")).into());
        }
        if whole_weights && backend == BackendKind::Vllm {
            let message = format!(
                "checkpoint {id} is of a {} fine-tune, which only the local backend serves from a checkpoint (vLLM loads whole models): deploy it with the local backend, or its finished model",
                job.config.method.kind.as_str()
            );
            return Err(ValidationError::unprocessable("backend", message).into());
        }
        let mut conn = self.db().read().await?;
        let base = database::base_models::get_any(&mut conn, &job.row.base_model_id).await?;
        let org = database::organizations::get(&mut conn, &principal.organization_id).await?;
        let name = format!("{}:ckpt-step-{}", fine_tuned_name(&base.name, &org.name, &job.row.name, &job.row.id), checkpoint.step);
        Ok(Deployable { base: base.id, model: None, checkpoint: Some(checkpoint.id), name })
    }

    pub async fn get_deployment(&self, principal: &Principal, id: &str) -> Result<Deployment> {
        self.observed(self.deployment_with(principal, id, Permission::ViewMetrics).await?)
    }

    /// The deployment with what this server's processes say of it (its ready replicas).
    fn observed(&self, mut d: Deployment) -> Result<Deployment> {
        if d.backend != BackendKind::External {
            d.ready_replicas = Some(self.ready_replicas(&d.row.id));
        }
        Ok(d)
    }

    /// The name to call `model` by: a deployment's or a split's name as it is; for a model id
    /// (`mdl_…`, `bm_…`), a local deployment of it the caller may call — started if it is
    /// stopped or failed, else created (scaling to zero after [`ON_DEMAND_IDLE_S`] idle
    /// seconds). The gateway waits for a deployment that is still starting.
    pub async fn deployment_for(&self, principal: &Principal, model: &str, ctx: &RequestContext) -> Result<String> {
        if !["mdl_", "bm_", "ckpt_"].iter().any(|p| model.starts_with(p)) {
            return Ok(model.to_string());
        }
        if let Some(name) = self.callable_deployment_of(principal, model, ctx).await? {
            return Ok(name);
        }
        let new = NewDeployment {
            model: Some(model.to_string()),
            name: None,
            project_id: None,
            backend: BackendKind::Local,
            endpoint: None,
            replicas: Some(1),
            idle_timeout_s: Some(ON_DEMAND_IDLE_S),
            defaults: GenerationDefaults::default(),
            log_requests: false,
            gate: None,
        };
        match self.create_deployment(principal, new, ctx).await {
            Ok(d) => Ok(d.row.name),
            // Another request deployed it meanwhile (its default name is taken): use that one.
            Err(Error::Conflict(why)) => self.callable_deployment_of(principal, model, ctx).await?.ok_or(Error::Conflict(why)),
            Err(e) => Err(e),
        }
    }

    /// The fine-tuned model (`mdl_…`) or checkpoint (`ckpt_…`) an `ft:` name calls — the name
    /// `fine_tuned_name` gives it, with `:ckpt-step-N` for a checkpoint — among the
    /// organization's, or None.
    pub(crate) async fn fine_tuned_named(&self, principal: &Principal, name: &str) -> Result<Option<String>> {
        if !name.starts_with("ft:") {
            return Ok(None);
        }
        let mut conn = self.db().read().await?;
        let org = database::organizations::get(&mut conn, &principal.organization_id).await?;
        let mut bases: std::collections::HashMap<String, String> = Default::default();
        let (model_part, step) = match name.rsplit_once(":ckpt-step-") {
            Some((m, s)) => match s.parse::<i64>() {
                Ok(step) => (m, Some(step)),
                Err(_) => return Ok(None),
            },
            None => (name, None),
        };
        let mut after: Option<String> = None;
        loop {
            // Jobs name checkpoints; models name themselves.
            let (ids, rows_len) = match step {
                Some(_) => {
                    let rows = database::jobs::list(&mut conn, &principal.organization_id, None, after.as_deref(), 200).await?;
                    (rows.iter().map(|j| (j.id.clone(), j.name.clone(), j.base_model_id.clone())).collect::<Vec<_>>(), rows.len())
                }
                None => {
                    let rows = database::models::list(&mut conn, &principal.organization_id, after.as_deref(), 200).await?;
                    (rows.iter().map(|m| (m.id.clone(), m.name.clone(), m.base_model_id.clone())).collect::<Vec<_>>(), rows.len())
                }
            };
            for (id, own_name, base_id) in &ids {
                if !bases.contains_key(base_id) {
                    let base = database::base_models::get_any(&mut conn, base_id).await?;
                    bases.insert(base_id.clone(), base.name);
                }
                if fine_tuned_name(&bases[base_id], &org.name, own_name, id) != model_part {
                    continue;
                }
                let Some(step) = step else { return Ok(Some(id.clone())) };
                let checkpoints = database::jobs::checkpoints(&mut conn, &principal.organization_id, id).await?;
                return Ok(checkpoints.into_iter().find(|c| c.step == step).map(|c| c.id));
            }
            if rows_len < 200 {
                return Ok(None);
            }
            after = ids.last().map(|(id, _, _)| id.clone());
        }
    }

    /// A local deployment of `model` the caller may call (started when stopped or failed).
    async fn callable_deployment_of(&self, principal: &Principal, model: &str, ctx: &RequestContext) -> Result<Option<String>> {
        let rows = database::deployments::of_model(&mut *self.db().read().await?, &principal.organization_id, model).await?;
        for row in rows {
            if self.check_deployment_access(principal, &row, Permission::DeployModel).await.is_err() {
                continue;
            }
            if row.replicas == 0 || row.state == state::FAILED {
                self.start_deployment(principal, &row.id, ctx).await?;
            }
            return Ok(Some(row.name));
        }
        Ok(None)
    }

    /// Deployments the caller may see, newest first.
    pub async fn list_deployments(&self, principal: &Principal, after: Option<&str>, limit: Option<i64>) -> Result<Page<Deployment>> {
        let limit = validate::page_limit(limit)?;
        let mut out = Vec::new();
        let mut cursor = after.map(str::to_string);
        loop {
            let rows = database::deployments::list(&mut *self.db().read().await?, &principal.organization_id, cursor.as_deref(), limit + 1)
                .await?;
            let exhausted = rows.len() as i64 <= limit;
            for row in rows {
                cursor = Some(row.id.clone());
                if self.check_deployment_access(principal, &row, Permission::ViewMetrics).await.is_ok() {
                    out.push(self.observed(Deployment::of(row)?)?);
                    if out.len() as i64 > limit {
                        return Ok(Page::from_rows(out, limit));
                    }
                }
            }
            if exhausted {
                return Ok(Page::from_rows(out, limit));
            }
        }
    }

    /// Changes replicas (scale; 0 stops, 1 starts), the idle timeout or the defaults.
    pub async fn update_deployment(
        &self,
        principal: &Principal,
        id: &str,
        changes: DeploymentChanges,
        ctx: &RequestContext,
    ) -> Result<Deployment> {
        let current = self.deployment_with(principal, id, Permission::DeployModel).await?;
        if let Some(d) = &changes.defaults {
            d.check()?;
        }
        let replicas = changes.replicas.map(|r| check_replicas(Some(r), current.backend)).transpose()?;
        let mut before = 0;
        let idle = changes.idle_timeout_s.map(|s| check_idle_timeout("idle_timeout_s", Some(s), true)).transpose()?;
        let (row, started, stopped) = self
            .change_deployment(id, principal, "deployment.update", ctx, |row| {
                before = row.replicas;
                if let Some(r) = replicas {
                    row.replicas = r;
                }
                if let Some(i) = idle {
                    row.idle_timeout_s = i;
                }
                if let Some(d) = &changes.defaults {
                    row.defaults = serde_json::to_string(d).map_err(crate::datasets::internal)?;
                }
                if let Some(on) = changes.log_requests {
                    row.log_requests = i64::from(on);
                }
                let (started, stopped) = (before == 0 && row.replicas > 0, before > 0 && row.replicas == 0);
                if started {
                    row.state = state::STARTING.into();
                    row.error = None;
                } else if stopped {
                    row.state = state::STOPPED.into();
                }
                Ok((started, stopped))
            })
            .await?;
        self.after_change(&row, started, stopped).await;
        if !started && !stopped && row.replicas != before {
            self.rescale(&row, before).await;
        }
        self.observed(Deployment::of(row)?)
    }

    /// Starts a stopped (or failed) deployment.
    pub async fn start_deployment(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<Deployment> {
        self.deployment_with(principal, id, Permission::DeployModel).await?;
        let (row, started, _) = self
            .change_deployment(id, principal, "deployment.start", ctx, |row| {
                let start = row.replicas == 0 || row.state == state::FAILED;
                if start {
                    row.replicas = 1;
                    row.state = state::STARTING.into();
                    row.error = None;
                }
                Ok((start, false))
            })
            .await?;
        self.after_change(&row, started, false).await;
        self.observed(Deployment::of(row)?)
    }

    /// Stops a deployment: its backend (or its adapter in a shared one) is released.
    pub async fn stop_deployment(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<Deployment> {
        self.deployment_with(principal, id, Permission::DeployModel).await?;
        let (row, _, stopped) = self
            .change_deployment(id, principal, "deployment.stop", ctx, |row| {
                let stop = row.replicas > 0;
                row.replicas = 0;
                row.state = state::STOPPED.into();
                Ok((false, stop))
            })
            .await?;
        self.after_change(&row, false, stopped).await;
        self.observed(Deployment::of(row)?)
    }

    /// Deletes a deployment (stopped first). Its usage rows stay.
    pub async fn delete_deployment(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<()> {
        let d = self.deployment_with(principal, id, Permission::DeployModel).await?;
        let mut tx = self.db().begin_write().await?;
        database::deployments::lock(tx.conn(), id).await?;
        let splits = database::traffic::using_deployment(tx.conn(), &principal.organization_id, id).await?;
        if let Some(s) = splits.first() {
            return Err(Error::Conflict(format!("traffic split {} sends requests to this deployment: change or delete it first", s.name)));
        }
        database::deployments::delete(tx.conn(), id).await?;
        let event =
            AuditEvent::by(principal, "deployment.delete").target("deployment", id).details(serde_json::json!({"name": d.row.name}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        self.release_backend(&d.row, 0).await;
        Ok(())
    }

    /// The deployment's events after `after_seq`, in order.
    pub async fn deployment_events(
        &self,
        principal: &Principal,
        id: &str,
        after_seq: i64,
        limit: Option<i64>,
    ) -> Result<Page<DeploymentEventRow>> {
        self.get_deployment(principal, id).await?;
        let limit = validate::page_limit(limit)?;
        let rows = database::deployments::events(&mut *self.db().read().await?, id, after_seq, limit + 1).await?;
        Ok(Page::from_rows(rows, limit))
    }

    /// One locked read-modify-write of a deployment with its event and audit record; returns
    /// the new row and what `change` said (started, stopped).
    async fn change_deployment(
        &self,
        id: &str,
        principal: &Principal,
        action: &str,
        ctx: &RequestContext,
        change: impl FnOnce(&mut DeploymentRow) -> Result<(bool, bool)>,
    ) -> Result<(DeploymentRow, bool, bool)> {
        let mut tx = self.db().begin_write().await?;
        database::deployments::lock(tx.conn(), id).await.or_not_found("deployment")?;
        let mut row = database::deployments::get_any(tx.conn(), id).await?;
        let (started, stopped) = change(&mut row)?;
        row.updated_at = now_ms();
        database::deployments::update(tx.conn(), &row).await?;
        let data = serde_json::json!({"replicas": row.replicas, "state": row.state, "by": principal.user_id});
        database::deployments::append_event(tx.conn(), id, action.trim_start_matches("deployment."), row.updated_at, &data.to_string())
            .await?;
        let event = AuditEvent::by(principal, action).target("deployment", id).details(serde_json::json!({"replicas": row.replicas}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Ok((row, started, stopped))
    }

    async fn after_change(&self, row: &DeploymentRow, started: bool, stopped: bool) {
        if started {
            self.bring_up_in_background(row.id.clone());
        }
        if stopped {
            self.release_backend(row, 0).await;
        }
    }
}
