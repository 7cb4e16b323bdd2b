//! Advice on a job (`domain::suggestions`) from its estimate, a QLoRA estimate of the same run
//! on every GPU type, and what its system events measured.

use super::estimates::EstimateRequest;
use super::measured::peak_memory;
use super::Job;
use crate::{Result, Services};
use domain::estimate::Method;
use domain::suggestions::{suggest, Observed, QloraOption, Suggestion};

impl Services {
    /// Suggestions for a job that has run, from its `system` events (none before the first).
    pub(crate) async fn job_suggestions(&self, job: &Job, system: &[&serde_json::Value]) -> Result<Vec<Suggestion>> {
        if system.is_empty() {
            return Ok(Vec::new());
        }
        let training = &self.settings().training;
        let mut o = Observed {
            method: job.config.method.kind.as_str().to_string(),
            micro_batch_size: job.config.hyperparameters.micro_batch_size.rows().ok_or_else(|| {
                crate::Error::Internal(format!("job {}: the stored micro_batch_size is \"auto\", not the value it ran with", job.row.id))
            })?,
            ..Observed::default()
        };
        for e in system {
            let gpus = e["gpus"].as_array().map(Vec::as_slice).unwrap_or_default();
            o.gpu_utilization.extend(gpus.iter().filter_map(|g| g["utilization_percent"].as_f64()));
        }
        (o.peak_memory_bytes, o.memory_bytes) = peak_memory(system.iter().copied(), training.device_memory_bytes);
        // The same run with QLoRA on each GPU type, against the job's own on its device, both
        // estimated the same way.
        let tokens = job.estimate["training_tokens"].as_u64().unwrap_or(0);
        if job.config.method.kind != Method::Qlora && tokens > 0 {
            let base =
                crate::models::BaseModel::of(database::base_models::get_any(&mut *self.db().read().await?, &job.row.base_model_id).await?)?;
            if let Some(spec) = base.spec.clone() {
                let request = EstimateRequest::default();
                let own = self.estimate_for(&base.row.name, spec.clone(), Some(&base.row.id), &job.config, tokens, &request).await?;
                let mut qlora = job.config.clone();
                qlora.method.kind = Method::Qlora;
                qlora.hyperparameters.zero_stage = 0;
                let q = self.estimate_for(&base.row.name, spec, Some(&base.row.id), &qlora, tokens, &request).await?;
                (o.device, o.cost) = (own.selected.device.to_string(), own.selected.cost);
                o.cheapest_qlora =
                    q.devices.iter().filter(|d| d.fits && d.device != "cpu").min_by(|a, b| a.cost.total_cmp(&b.cost)).map(|d| {
                        QloraOption {
                            device: d.device.to_string(),
                            memory_gib: q.estimate.memory_per_device_bytes / f64::from(1u32 << 30),
                            cost: d.cost,
                        }
                    });
            }
        }
        Ok(suggest(&o))
    }
}
