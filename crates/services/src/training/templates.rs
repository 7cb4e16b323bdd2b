//! Configuration templates of fine-tuning jobs, stored per project: the reusable part of a
//! submission (base model, training configuration, resources, chat template, merge and restart
//! choices), checked as a submission is, saved and applied from the wizard or the API.

use super::{store_config, stored_config, SubmissionChoices};
use crate::audit::{append, AuditEvent};
use crate::error::OrNotFound;
use crate::{now_ms, Error, Principal, RequestContext, Result, Services};
use database::job_templates::JobTemplateRow;
use domain::ids::IdKind;
use domain::resources::ResourceRequest;
use domain::training::TrainingConfig;
use domain::{validate, Permission, ValidationError};
use serde::{Deserialize, Serialize};

/// The most templates one project holds.
pub const MAX_TEMPLATES_PER_PROJECT: i64 = 200;

/// A template as written: its name and description and what a job submitted from it uses.
/// Checked as a submission is (ranges, the method's rules, the chat template, the priority
/// class; against the base model's layers and context length when it names one); the dataset
/// and the device's room are checked when a job is submitted.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewJobTemplate {
    #[schema(schema_with = domain::schema::name)]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: String,
    /// A base model (`bm_…`) jobs from the template start from; none: chosen per job.
    pub base_model_id: Option<String>,
    #[serde(default)]
    pub config: TrainingConfig,
    #[serde(default)]
    pub resources: ResourceRequest,
    /// A built-in chat template by name (none: the base model's own).
    #[schema(schema_with = super::optional_chat_template_schema)]
    pub chat_template: Option<String>,
    #[serde(default)]
    pub merge_lora: bool,
    #[schema(minimum = 0, maximum = 20)]
    pub max_restarts: Option<u32>,
}

/// A stored template.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobTemplate {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub base_model_id: Option<String>,
    pub config: TrainingConfig,
    pub resources: ResourceRequest,
    pub chat_template: Option<String>,
    pub merge_lora: bool,
    pub max_restarts: Option<u32>,
    pub created_by: String,
    pub updated_by: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl JobTemplate {
    /// A stored row read back; a configuration or resource request that does not parse is an
    /// error naming the template and the column.
    fn of(row: JobTemplateRow) -> Result<JobTemplate> {
        let corrupt =
            |column: &str, e: String| Error::Internal(format!("job template {}: the stored {column} does not parse: {e}", row.id));
        let stored = stored_config(&row.config).map_err(|e| corrupt("configuration", e))?;
        let resources = serde_json::from_str(&row.resources).map_err(|e| corrupt("resources", e.to_string()))?;
        let max_restarts = row.max_restarts.map(u32::try_from).transpose().map_err(|e| corrupt("max_restarts", e.to_string()))?;
        Ok(JobTemplate {
            id: row.id,
            project_id: row.project_id,
            name: row.name,
            description: row.description,
            base_model_id: row.base_model_id,
            config: stored.config,
            resources,
            chat_template: stored.chat_template,
            merge_lora: stored.merge_lora,
            max_restarts,
            created_by: row.created_by,
            updated_by: row.updated_by,
            created_at: row.created_at / 1000,
            updated_at: row.updated_at / 1000,
        })
    }
}

impl Services {
    /// The project's templates by name, to anyone who may see the project.
    pub async fn list_job_templates(&self, principal: &Principal, project_id: &str) -> Result<Vec<JobTemplate>> {
        self.visible_project(principal, project_id).await?;
        let rows = database::job_templates::of_project(&mut *self.db().read().await?, &principal.organization_id, project_id).await?;
        rows.into_iter().map(JobTemplate::of).collect()
    }

    /// A template of a project the caller may see; 404 otherwise.
    pub async fn get_job_template(&self, principal: &Principal, id: &str) -> Result<JobTemplate> {
        let row = self.visible_template(principal, id).await?;
        JobTemplate::of(row)
    }

    /// Saves a template in a project where the caller may train (`train_model`).
    pub async fn create_job_template(
        &self,
        principal: &Principal,
        project_id: &str,
        new: NewJobTemplate,
        ctx: &RequestContext,
    ) -> Result<JobTemplate> {
        self.require_in(principal, Some(project_id), Permission::TrainModel).await?;
        let now = now_ms();
        let row = self
            .template_row(principal, new, |fields| JobTemplateRow {
                id: crate::crypto::new_id(IdKind::JobTemplate),
                organization_id: principal.organization_id.clone(),
                project_id: project_id.to_string(),
                created_by: principal.user_id.clone(),
                created_at: now,
                ..fields
            })
            .await?;
        let mut tx = self.db().begin_write().await?;
        let held = database::job_templates::count_in_project(tx.conn(), project_id).await?;
        if held >= MAX_TEMPLATES_PER_PROJECT {
            return Err(ValidationError::unprocessable(
                "project_id",
                format!("the project holds {held} templates, the most it may; delete one first"),
            )
            .into());
        }
        database::job_templates::insert(tx.conn(), &row).await?;
        let event = AuditEvent::by(principal, "job_template.create")
            .target("job_template", &row.id)
            .details(serde_json::json!({"name": row.name, "project_id": project_id}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        JobTemplate::of(row)
    }

    /// Replaces a template's name, description and content (`train_model` in its project).
    pub async fn update_job_template(
        &self,
        principal: &Principal,
        id: &str,
        new: NewJobTemplate,
        ctx: &RequestContext,
    ) -> Result<JobTemplate> {
        let old = self.visible_template(principal, id).await?;
        self.require_in(principal, Some(&old.project_id), Permission::TrainModel).await?;
        let row = self
            .template_row(principal, new, |fields| JobTemplateRow {
                created_by: old.created_by.clone(),
                created_at: old.created_at,
                ..fields
            })
            .await?;
        let row =
            JobTemplateRow { id: old.id.clone(), organization_id: old.organization_id.clone(), project_id: old.project_id.clone(), ..row };
        let mut tx = self.db().begin_write().await?;
        database::job_templates::update(tx.conn(), &row).await.or_not_found("job template")?;
        let event = AuditEvent::by(principal, "job_template.update")
            .target("job_template", &row.id)
            .details(serde_json::json!({"name": row.name, "previous_name": old.name, "project_id": row.project_id}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        JobTemplate::of(row)
    }

    /// Deletes a template (`train_model` in its project); jobs made from it are not touched.
    pub async fn delete_job_template(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<()> {
        let old = self.visible_template(principal, id).await?;
        self.require_in(principal, Some(&old.project_id), Permission::TrainModel).await?;
        let mut tx = self.db().begin_write().await?;
        if !database::job_templates::delete(tx.conn(), &principal.organization_id, id).await? {
            return Err(Error::NotFound("job template"));
        }
        let event = AuditEvent::by(principal, "job_template.delete")
            .target("job_template", id)
            .details(serde_json::json!({"name": old.name, "project_id": old.project_id}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A template whose project the caller may see; 404 otherwise (another organization's, or
    /// a project hidden from the caller, alike).
    async fn visible_template(&self, principal: &Principal, id: &str) -> Result<JobTemplateRow> {
        let row = database::job_templates::get(&mut *self.db().read().await?, &principal.organization_id, id)
            .await
            .or_not_found("job template")?;
        self.visible_project(principal, &row.project_id).await.or_not_found("job template")?;
        Ok(row)
    }

    /// Checks a template as a submission is checked and makes its row; `finish` fills the
    /// fields that depend on whether it is new.
    async fn template_row(
        &self,
        principal: &Principal,
        new: NewJobTemplate,
        finish: impl FnOnce(JobTemplateRow) -> JobTemplateRow,
    ) -> Result<JobTemplateRow> {
        let name = validate::name("name", &new.name)?;
        let description = validate::description("description", &new.description)?;
        // Without a base model the model-dependent limits wait for the job's own.
        let (layers, context_length) = match &new.base_model_id {
            Some(id) => {
                let base = self.get_base_model(principal, id).await.map_err(|e| match e {
                    Error::NotFound(_) => {
                        ValidationError::unprocessable("base_model_id", format!("no base model {id} in the organization")).into()
                    }
                    other => other,
                })?;
                base.spec.as_ref().map_or((u32::MAX, u32::MAX), |s| (s.layers, s.context_length))
            }
            None => (u32::MAX, u32::MAX),
        };
        let choices = SubmissionChoices {
            config: &new.config,
            merge_lora: new.merge_lora,
            chat_template: new.chat_template.as_deref(),
            max_restarts: new.max_restarts,
        };
        choices.validate(layers, context_length)?;
        new.resources.validate("resources")?;
        if let Some(class) = &new.resources.priority {
            self.settings().scheduling.requested_class(class)?;
        }
        let now = now_ms();
        Ok(finish(JobTemplateRow {
            id: String::new(),
            organization_id: String::new(),
            project_id: String::new(),
            name,
            description,
            base_model_id: new.base_model_id,
            config: store_config(&new.config, new.merge_lora, new.chat_template)?,
            resources: serde_json::to_string(&new.resources).map_err(crate::datasets::internal)?,
            max_restarts: new.max_restarts.map(i64::from),
            created_by: String::new(),
            updated_by: principal.user_id.clone(),
            created_at: now,
            updated_at: now,
        }))
    }
}
