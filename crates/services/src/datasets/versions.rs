//! Datasets and their immutable versions: creation from a stored blob, listing, reports,
//! previews, downloads, deletion and lineage.

use crate::audit::{append, AuditEvent};
use crate::crypto::new_id;
use crate::datasets::access::DatasetAccess;
use crate::datasets::blobs::internal;
use crate::error::OrNotFound;
use crate::{now_ms, Error, Page, Principal, RequestContext, Result, Services};
use blob_store::BlobInfo;
use database::datasets::{DatasetRow, VersionRow};
use datasets::{FormatSpec, PreviewRecord};
use domain::ids::IdKind;
use domain::{validate, Permission, ValidationError, Visibility};

/// A new dataset, created with its first version.
#[derive(Debug, Clone, Default)]
pub struct NewDataset {
    pub name: String,
    pub description: Option<String>,
    pub project_id: Option<String>,
    /// private, project, organization or users (default: project inside a project, else organization).
    pub visibility: Option<String>,
    /// Users the dataset is shared with (visibility `users`).
    pub shared_with: Vec<String>,
    /// Overrides format detection.
    pub format: Option<FormatSpec>,
}

#[derive(Debug, Clone, Default)]
pub struct DatasetChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<String>,
    pub shared_with: Option<Vec<String>>,
}

/// A previewed record and, with a chat template, the text training will see.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct PreviewItem {
    #[serde(flatten)]
    pub record: PreviewRecord,
    /// The record rendered through the chat template, with the trained spans marked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rendered: Option<chat_template::Rendered>,
    /// Why the template refused the record (e.g. roles it does not support).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub render_error: Option<String>,
}

impl PreviewItem {
    fn render(record: PreviewRecord, template: Option<&chat_template::ChatTemplate>) -> PreviewItem {
        let messages = match (&record.record, template) {
            (Some(datasets::Record::Chat { messages }), Some(_)) => Some(messages.clone()),
            _ => None,
        };
        let outcome = messages.zip(template).map(|(m, t)| t.render_with_spans(&m));
        let (rendered, render_error) = match outcome {
            Some(Ok(r)) => (Some(r), None),
            Some(Err(e)) => (None, Some(e.to_string())),
            None => (None, None),
        };
        PreviewItem { record, rendered, render_error }
    }
}

/// Where a version came from and what was made from it.
#[derive(Debug, Clone)]
pub struct Lineage {
    pub version: VersionRow,
    /// Parent, grandparent, … up to the uploaded original.
    pub ancestors: Vec<VersionRow>,
    /// Versions derived from this one (directly).
    pub descendants: Vec<VersionRow>,
    /// Training jobs that used this version (to train or to validate).
    pub jobs: Vec<crate::training::Job>,
    /// Fine-tuned models trained on this version.
    pub models: Vec<crate::models::FineTunedModel>,
}

/// Where a new version came from: the version and recipe it was made from, or the deployment
/// whose logged conversations it holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct VersionOrigin<'a> {
    pub parent: Option<&'a VersionRow>,
    pub recipe: Option<&'a serde_json::Value>,
    pub deployment_id: Option<&'a str>,
}

/// Checks a new dataset's fields; returns (name, description, visibility).
fn check_new(n: &NewDataset) -> Result<(String, String, Visibility)> {
    let name = validate::name("name", &n.name)?;
    let description = validate::description("description", n.description.as_deref().unwrap_or(""))?;
    let default = if n.project_id.is_some() { "project" } else { "organization" };
    let visibility = validate::visibility("visibility", n.visibility.as_deref().unwrap_or(default))?;
    if visibility == Visibility::Project && n.project_id.is_none() {
        return Err(ValidationError::unprocessable("visibility", "'project' needs a project_id").into());
    }
    Ok((name, description, visibility))
}

impl Services {
    /// Checks that the caller may create `n` (before any byte is stored).
    pub async fn authorize_new_dataset(&self, principal: &Principal, n: &NewDataset) -> Result<()> {
        check_new(n)?;
        let (perms, _) = self.permissions_in(principal, n.project_id.as_deref()).await?;
        if !perms.contains(Permission::UploadDataset) {
            return Err(Error::PermissionDenied(Permission::UploadDataset));
        }
        Ok(())
    }

    /// Starts a one-request upload of a new dataset (multipart): checks the caller may create
    /// it, then returns a writer that reserves quota as the file arrives.
    pub async fn begin_dataset_upload(&self, principal: &Principal, n: &NewDataset) -> Result<crate::datasets::BlobUpload> {
        self.authorize_new_dataset(principal, n).await?;
        self.blob_upload(&principal.organization_id, true, self.settings().max_upload_bytes)
    }

    /// Ends a one-request upload: the dataset and its first version, or nothing (storage
    /// released) if the file is refused.
    pub async fn finish_dataset_upload(
        &self,
        principal: &Principal,
        n: NewDataset,
        writer: crate::datasets::BlobUpload,
        filename: &str,
        ctx: &RequestContext,
    ) -> Result<(DatasetAccess, VersionRow)> {
        let filename = crate::datasets::uploads::safe_filename(filename)?;
        let reserved = writer.reserved;
        let org = principal.organization_id.clone();
        let (blob, hold) = match writer.finish().await {
            Ok(b) => b,
            Err(e) => {
                self.release_storage(&org, reserved).await?;
                return Err(e);
            }
        };
        let blob_id = blob.id.clone();
        let created = self.create_dataset_from_blob(principal, n, blob, &filename, reserved, VersionOrigin::default(), ctx).await;
        drop(hold);
        if created.is_err() {
            self.release_storage(&org, reserved).await?;
            self.collect_blobs(vec![blob_id]).await;
        }
        created
    }

    /// Creates a dataset and its version 1 from a stored blob. `reserved` bytes of quota held by
    /// the upload become `used`. A file-level problem (not a dataset at all) creates nothing.
    pub async fn create_dataset_from_blob(
        &self,
        principal: &Principal,
        n: NewDataset,
        blob: BlobInfo,
        filename: &str,
        reserved: i64,
        origin: VersionOrigin<'_>,
        ctx: &RequestContext,
    ) -> Result<(DatasetAccess, VersionRow)> {
        self.authorize_new_dataset(principal, &n).await?;
        let (name, description, visibility) = check_new(&n)?;
        let ingested = self.ingest_blob(&blob.id, filename, n.format.clone()).await?;
        let now = now_ms();
        let dataset = DatasetRow {
            id: new_id(IdKind::Dataset),
            organization_id: principal.organization_id.clone(),
            project_id: n.project_id.clone(),
            name,
            description,
            visibility: visibility.as_str().to_string(),
            created_by: principal.user_id.clone(),
            latest_version: 0,
            created_at: now,
            updated_at: now,
        };
        let report_blob = ingested.report_blob_id.clone();
        let committed: Result<VersionRow> = async {
            let mut tx = self.db().begin_write().await?;
            database::datasets::insert(tx.conn(), &dataset).await?;
            for u in &n.shared_with {
                database::users::get(tx.conn(), &principal.organization_id, u).await.or_not_found("user")?;
            }
            database::datasets::set_shares(tx.conn(), &dataset.id, &n.shared_with).await?;
            let version = self.insert_version(tx.conn(), principal, &dataset, &blob, filename, &ingested, origin).await?;
            database::uploads::account(tx.conn(), &principal.organization_id, -reserved, blob.size as i64).await?;
            let event = AuditEvent::by(principal, "dataset.create").target("dataset", &dataset.id).details(serde_json::json!({
                "name": dataset.name, "project_id": dataset.project_id, "version": version.version, "blob": blob.id, "bytes": blob.size,
                "records": version.records, "invalid_records": version.invalid_records, "source_deployment_id": version.source_deployment_id,
            }));
            append(tx.conn(), self.derived_keys(), event, ctx).await?;
            tx.commit().await?;
            Ok(version)
        }
        .await;
        let version = match committed {
            Ok(v) => v,
            Err(e) => {
                self.collect_blobs(vec![report_blob]).await;
                return Err(e);
            }
        };
        // The row as committed: version 1 is its latest.
        let dataset = DatasetRow { latest_version: version.version, ..dataset };
        let access = DatasetAccess {
            my_permissions: self.permissions_in(principal, dataset.project_id.as_deref()).await?.0,
            shared_with: n.shared_with,
            dataset,
        };
        Ok((access, version))
    }

    /// Adds a version to a dataset from a stored blob (a new upload, or a recipe's output).
    pub async fn add_version_from_blob(
        &self,
        principal: &Principal,
        dataset_id: &str,
        blob: BlobInfo,
        filename: &str,
        origin: VersionOrigin<'_>,
        format: Option<FormatSpec>,
        reserved: i64,
        ctx: &RequestContext,
    ) -> Result<VersionRow> {
        let access = self.dataset_with(principal, dataset_id, Permission::UploadDataset).await?;
        let ingested = self.ingest_blob(&blob.id, filename, format).await?;
        let mut tx = self.db().begin_write().await?;
        let version = self.insert_version(tx.conn(), principal, &access.dataset, &blob, filename, &ingested, origin).await?;
        database::uploads::account(tx.conn(), &principal.organization_id, -reserved, blob.size as i64).await?;
        let event = AuditEvent::by(principal, "dataset.version_create").target("dataset", dataset_id).details(serde_json::json!({
            "version": version.version, "parent_version_id": version.parent_version_id, "recipe": origin.recipe, "blob": blob.id, "bytes": blob.size,
            "source_deployment_id": version.source_deployment_id,
        }));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Ok(version)
    }

    async fn insert_version(
        &self,
        conn: &mut database::Conn,
        principal: &Principal,
        dataset: &DatasetRow,
        blob: &BlobInfo,
        filename: &str,
        ingested: &super::ingest::Ingested,
        origin: VersionOrigin<'_>,
    ) -> Result<VersionRow> {
        let now = now_ms();
        let number = database::datasets::next_version(conn, &dataset.organization_id, &dataset.id, now).await.or_not_found("dataset")?;
        let summary = &ingested.report.summary;
        let version = VersionRow {
            id: new_id(IdKind::DatasetVersion),
            dataset_id: dataset.id.clone(),
            organization_id: dataset.organization_id.clone(),
            version: number,
            blob_id: blob.id.clone(),
            size_bytes: blob.size as i64,
            filename: filename.to_string(),
            format: serde_json::to_string(&ingested.spec).map_err(internal)?,
            parent_version_id: origin.parent.map(|p| p.id.clone()),
            recipe: origin.recipe.map(|r| r.to_string()),
            source_deployment_id: origin.deployment_id.map(str::to_string),
            records: summary.records as i64,
            valid_records: summary.valid_records as i64,
            invalid_records: summary.invalid_records as i64,
            error_counts: serde_json::to_string(&summary.error_counts).map_err(internal)?,
            report_blob_id: ingested.report_blob_id.clone(),
            created_by: principal.user_id.clone(),
            created_at: now,
        };
        database::datasets::insert_version(conn, &version).await?;
        Ok(version)
    }

    /// Datasets the caller can see, optionally of one project.
    pub async fn list_datasets(
        &self,
        principal: &Principal,
        project_id: Option<&str>,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Page<DatasetAccess>> {
        let limit = validate::page_limit(limit)?;
        let mut items = Vec::new();
        let mut cursor = after.map(str::to_string);
        loop {
            let batch =
                database::datasets::list(&mut *self.db().read().await?, &principal.organization_id, project_id, cursor.as_deref(), 200)
                    .await?;
            let exhausted = batch.len() < 200;
            for d in batch {
                cursor = Some(d.id.clone());
                if let Ok(access) = self.visible_dataset(principal, &d.id).await {
                    if items.len() as i64 == limit {
                        return Ok(Page { items, has_more: true });
                    }
                    items.push(access);
                }
            }
            if exhausted {
                return Ok(Page { items, has_more: false });
            }
        }
    }

    pub async fn update_dataset(&self, principal: &Principal, id: &str, c: DatasetChanges, ctx: &RequestContext) -> Result<DatasetAccess> {
        // The owner may change what they uploaded; anyone else needs to manage the resources.
        let mut access = self.visible_dataset(principal, id).await?;
        let needed = if access.dataset.created_by == principal.user_id { Permission::UploadDataset } else { Permission::ManageResources };
        if !access.my_permissions.contains(needed) {
            return Err(Error::PermissionDenied(needed));
        }
        let d = &mut access.dataset;
        if let Some(name) = &c.name {
            d.name = validate::name("name", name)?;
        }
        if let Some(desc) = &c.description {
            d.description = validate::description("description", desc)?;
        }
        if let Some(v) = &c.visibility {
            let v = validate::visibility("visibility", v)?;
            if v == Visibility::Project && d.project_id.is_none() {
                return Err(ValidationError::unprocessable("visibility", "'project' needs a dataset inside a project").into());
            }
            d.visibility = v.as_str().to_string();
        }
        d.updated_at = now_ms();
        let mut tx = self.db().begin_write().await?;
        database::datasets::update(tx.conn(), d).await.or_not_found("dataset")?;
        if let Some(users) = &c.shared_with {
            for u in users {
                database::users::get(tx.conn(), &principal.organization_id, u).await.or_not_found("user")?;
            }
            database::datasets::set_shares(tx.conn(), id, users).await?;
            access.shared_with = users.clone();
        }
        let event = AuditEvent::by(principal, "dataset.update").target("dataset", id).details(serde_json::json!({
            "name": c.name, "visibility": c.visibility, "shared_with": c.shared_with,
        }));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Ok(access)
    }

    /// Deletes a dataset and all its versions; their storage is released.
    pub async fn delete_dataset(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<()> {
        let access = self.dataset_with(principal, id, Permission::DeleteDataset).await?;
        let mut tx = self.db().begin_write().await?;
        let sizes: i64 = self.version_sizes(tx.conn(), &principal.organization_id, id).await?;
        let blobs = database::datasets::delete(tx.conn(), &principal.organization_id, id).await.or_not_found("dataset")?;
        database::uploads::account(tx.conn(), &principal.organization_id, 0, -sizes).await?;
        let event = AuditEvent::by(principal, "dataset.delete")
            .target("dataset", id)
            .details(serde_json::json!({"name": access.dataset.name, "bytes": sizes}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        self.collect_blobs(blobs).await;
        Ok(())
    }

    async fn version_sizes(&self, conn: &mut database::Conn, org: &str, id: &str) -> Result<i64> {
        let mut total = 0;
        let mut after = 0;
        loop {
            let batch = database::datasets::versions(conn, org, id, after, 500).await?;
            let Some(last) = batch.last() else { return Ok(total) };
            after = last.version;
            total += batch.iter().map(|v| v.size_bytes).sum::<i64>();
        }
    }

    pub async fn list_versions(&self, principal: &Principal, id: &str, after: Option<i64>, limit: Option<i64>) -> Result<Page<VersionRow>> {
        self.visible_dataset(principal, id).await?;
        let limit = validate::page_limit(limit)?;
        let rows =
            database::datasets::versions(&mut *self.db().read().await?, &principal.organization_id, id, after.unwrap_or(0), limit + 1)
                .await?;
        Ok(Page::from_rows(rows, limit))
    }

    pub async fn get_version(&self, principal: &Principal, id: &str, version: i64) -> Result<VersionRow> {
        self.visible_dataset(principal, id).await?;
        database::datasets::version(&mut *self.db().read().await?, &principal.organization_id, id, version).await.or_not_found("version")
    }

    /// The validation and statistics report stored with a version.
    pub async fn version_report(&self, principal: &Principal, id: &str, version: i64) -> Result<(VersionRow, serde_json::Value)> {
        let v = self.get_version(principal, id, version).await?;
        let report = self.read_report(&v.report_blob_id).await?;
        Ok((v, report))
    }

    /// Records `offset..offset+limit` of a version, raw and canonical, with their errors.
    pub async fn preview_version(
        &self,
        principal: &Principal,
        id: &str,
        version: i64,
        offset: usize,
        limit: usize,
        template: Option<&str>,
    ) -> Result<Vec<PreviewItem>> {
        if limit == 0 || limit > 100 {
            return Err(ValidationError::new("limit", format!("must be between 1 and 100 (got {limit})")).into());
        }
        // The chat template the model will see the records through: a base model's own (by
        // its id), or a built-in one by name.
        let template = match template {
            Some(id) if id.starts_with("bm_") => Some(self.base_model_chat_template(principal, id).await?),
            Some(name) => Some(chat_template::ChatTemplate::builtin(name).map_err(|e| {
                let known: Vec<&str> = chat_template::BUILTINS.iter().map(|b| b.name).collect();
                Error::from(ValidationError::new("template", format!("{e} (known: {}, or a base model id)", known.join(", "))))
            })?),
            None => None,
        };
        let v = self.get_version(principal, id, version).await?;
        let spec: FormatSpec = serde_json::from_str(&v.format).map_err(internal)?;
        let blobs = self.blobs_handle();
        tokio::task::spawn_blocking(move || {
            let reader = std::io::BufReader::new(blobs.reader(&v.blob_id).map_err(internal)?);
            let random = super::blobs::random_access(&blobs, &v.blob_id, Some(spec.container))?;
            let records = datasets::read_range(reader, &spec, offset, limit, random.as_ref()).map_err(|e| match e {
                datasets::ReadError::File(f) => super::ingest::file_error(&f),
                datasets::ReadError::Io(e) => internal(e),
            })?;
            Ok(records.into_iter().map(|record| PreviewItem::render(record, template.as_ref())).collect())
        })
        .await
        .map_err(internal)?
    }

    /// Opens a version's content for download (decrypted as it is read).
    pub async fn open_version(
        &self,
        principal: &Principal,
        id: &str,
        version: i64,
        ctx: &RequestContext,
    ) -> Result<(VersionRow, blob_store::BlobReader)> {
        let v = self.get_version(principal, id, version).await?;
        let (blobs, blob_id) = (self.blobs_handle(), v.blob_id.clone());
        let reader = tokio::task::spawn_blocking(move || blobs.reader(&blob_id)).await.map_err(internal)?.map_err(internal)?;
        self.record_event(
            AuditEvent::by(principal, "dataset.download").target("dataset", id).details(serde_json::json!({"version": version})),
            ctx,
        )
        .await?;
        Ok((v, reader))
    }

    /// The versions a version came from, those made from it, and the jobs and models that used it.
    pub async fn version_lineage(&self, principal: &Principal, id: &str, version: i64) -> Result<Lineage> {
        let v = self.get_version(principal, id, version).await?;
        let mut conn = self.db().read().await?;
        let mut ancestors = Vec::new();
        let mut next = v.parent_version_id.clone();
        while let Some(parent) = next {
            let p = database::datasets::version_by_id(&mut conn, &principal.organization_id, &parent).await.or_not_found("version")?;
            next = p.parent_version_id.clone();
            ancestors.push(p);
        }
        let descendants = database::datasets::children(&mut conn, &principal.organization_id, &v.id).await?;
        let jobs = database::jobs::using_dataset_version(&mut conn, &principal.organization_id, &v.id)
            .await?
            .into_iter()
            .map(crate::training::Job::of)
            .collect::<Result<Vec<_>>>()?;
        let models = database::models::using_dataset_version(&mut conn, &principal.organization_id, &v.id)
            .await?
            .into_iter()
            .map(crate::models::FineTunedModel::of)
            .collect::<Result<Vec<_>>>()?;
        Ok(Lineage { version: v, ancestors, descendants, jobs, models })
    }
}
