//! `POST /v1/fine_tuning/estimate` (in the spirit of Together's `estimate-price`): a job request
//! as `/v1/fine_tuning/jobs` takes it, answered with what creating it would train — tokens,
//! time, memory, cost — and whether it may go ahead, without creating anything. The figures are
//! the submission's own ([`Services::plan_job`]): a job created from the same request shows the
//! same estimate (its `estimated_finish` comes from it).

use super::jobs::{check_request, training_job_of, FineTuningHyperparameters, NewFineTuningJob, StoredRequest};
use crate::{Error, Principal, Result, Services};
use domain::Permission;

/// What a fine-tuning job would take.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct FineTuningEstimate {
    /// Always `fine_tuning.estimate`.
    pub object: &'static str,
    pub model: String,
    /// `supervised` or `dpo`.
    pub method: String,
    /// The hyperparameters the job would train with, `auto` resolved for this file.
    pub hyperparameters: FineTuningHyperparameters,
    /// Valid examples in the training file.
    pub training_examples: i64,
    /// What it would take; null when nothing can be estimated (the model is not ready, the file
    /// has no valid example: `reasons` says which).
    pub estimate: Option<FineTuningFigures>,
    /// Whether creating the job would be accepted and train: the model is ready, the files
    /// validate and the run fits the device. `reasons` says what stops it.
    pub allowed_to_proceed: bool,
    pub reasons: Vec<String>,
}

/// The figures of an estimate.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct FineTuningFigures {
    /// Tokens in one pass over the training file.
    pub training_tokens_per_epoch: u64,
    /// Tokens the job would train on (all epochs); a finished job reports its `trained_tokens`.
    pub trained_tokens: u64,
    /// Seconds of training on the device type.
    pub seconds: f64,
    /// Peak memory per device, bytes.
    pub memory_bytes: f64,
    /// This installation's device type, its memory (GiB) and whether the run fits in it.
    pub device_type: String,
    pub device_memory_gib: f64,
    pub fits: bool,
    /// Device-hours, and their cost at the installation's price per device-hour (0 when none
    /// is configured).
    pub device_hours: f64,
    pub cost: f64,
}

impl Services {
    /// Estimates a fine-tuning job request. A request its schema rules out is 400 and an unknown
    /// model or file 422, as when creating the job; what would fail the job after it was
    /// accepted (an invalid line, a run too big for the device) is a reason not to proceed.
    pub async fn estimate_fine_tuning_job(&self, principal: &Principal, n: NewFineTuningJob) -> Result<FineTuningEstimate> {
        let (perms, _) = self.permissions_in(principal, None).await?;
        if !perms.contains(Permission::TrainModel) {
            return Err(Error::PermissionDenied(Permission::TrainModel));
        }
        let mut reasons = Vec::new();
        let (method, _) = check_request(&n)?;
        let base_model_id = self.base_model_named(principal, &n.model).await?;
        let training = self.file_version(principal, &n.training_file, "training_file").await?;
        let validation = match &n.validation_file {
            Some(v) => Some(self.file_version(principal, v, "validation_file").await?),
            None => None,
        };
        for (file, version, field) in std::iter::once((&n.training_file, &training, "training_file"))
            .chain(n.validation_file.iter().zip(&validation).map(|(f, v)| (f, v, "validation_file")))
        {
            match self.check_file_lines(principal, file, version, field).await {
                Ok(()) => {}
                Err(Error::Validation(v)) => reasons.push(v.message),
                Err(e) => return Err(e),
            }
        }
        let stored = StoredRequest { request: n.clone(), base_model_id, method: method.clone(), hyperparameters: None };
        let name = n.suffix.clone().unwrap_or_else(|| "estimate".into());
        let (job, hyperparameters) = training_job_of(&stored, name, &training, validation.as_ref())?;
        let figures = match self.plan_job(principal, &job, false).await {
            Ok(plan) => {
                if let Some(Error::Refused { message, .. }) = plan.fit_refusal() {
                    reasons.push(message);
                }
                if let Some(message) = plan.quota_refusal(self, principal, job.project_id.as_deref()).await? {
                    reasons.push(message);
                }
                let est = &plan.estimate;
                let epochs = plan.config.hyperparameters.epochs.max(f64::MIN_POSITIVE);
                Some(FineTuningFigures {
                    training_tokens_per_epoch: (est.training_tokens as f64 / epochs).round() as u64,
                    trained_tokens: est.training_tokens,
                    seconds: est.selected.seconds,
                    memory_bytes: est.estimate.memory_per_device_bytes,
                    device_type: est.selected.device.to_string(),
                    device_memory_gib: est.selected.memory_gib,
                    fits: est.selected.fits,
                    device_hours: est.selected.gpu_hours,
                    cost: est.selected.cost,
                })
            }
            // Not ready, no valid example, a record the chat template cannot label: what would
            // fail the job after it was accepted. Nothing to estimate, and the reason why.
            Err(Error::Refused { message, .. }) => {
                reasons.push(message);
                None
            }
            Err(Error::Validation(v)) if v.unprocessable => {
                reasons.push(format!("{}: {}", v.field, v.message));
                None
            }
            Err(e) => return Err(e),
        };
        Ok(FineTuningEstimate {
            object: "fine_tuning.estimate",
            model: n.model,
            method,
            hyperparameters,
            training_examples: training.valid_records,
            estimate: figures,
            allowed_to_proceed: reasons.is_empty(),
            reasons,
        })
    }
}
