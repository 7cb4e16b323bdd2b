//! `/v1/files`: a file of purpose `fine-tune` is a dataset made from it (version 1, validated,
//! counted and encrypted as every upload), whose name is the file's; `fine-tune-results` is a
//! finished job's step metrics as CSV, made when read.

use crate::audit::{append, AuditEvent};
use crate::datasets::NewDataset;
use crate::error::OrNotFound;
use crate::{now_ms, Error, Page, Principal, RequestContext, Result, Services};
use database::openai::FileRow;
use domain::ids::IdKind;
use domain::{Permission, ValidationError};

/// The purpose a file is uploaded with; `fine-tune-results` files are made by jobs.
pub const FINE_TUNE: &str = "fine-tune";
pub const RESULTS: &str = "fine-tune-results";

/// A file as the API shows it (OpenAI's `file` object).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct OpenAiFile {
    pub id: String,
    /// Always `file`.
    pub object: &'static str,
    pub bytes: i64,
    /// Unix seconds.
    pub created_at: i64,
    pub filename: String,
    /// `fine-tune` or `fine-tune-results`.
    pub purpose: String,
    /// Always `processed`: a file that is not a dataset at all is refused at upload; one with
    /// invalid lines fails the job that trains on it, naming the line.
    pub status: &'static str,
    /// Always null.
    #[schema(value_type = Option<String>)]
    pub status_details: Option<String>,
    /// Always null: files do not expire.
    pub expires_at: Option<i64>,
    /// The dataset holding a `fine-tune` file (Tunery's own field).
    pub dataset_id: Option<String>,
}

impl OpenAiFile {
    fn of(row: FileRow, dataset_id: Option<String>) -> OpenAiFile {
        OpenAiFile {
            id: row.id,
            object: "file",
            bytes: row.bytes,
            created_at: row.created_at / 1000,
            filename: row.filename,
            purpose: row.purpose,
            status: "processed",
            status_details: None,
            expires_at: None,
            dataset_id,
        }
    }
}

/// The dataset name a file becomes: its name, with what a dataset name may not hold replaced.
fn dataset_name(filename: &str) -> String {
    let cleaned: String = filename.chars().map(|c| if c.is_control() || c == '/' || c == '\\' { '_' } else { c }).take(200).collect();
    if cleaned.trim().is_empty() {
        "upload".into()
    } else {
        cleaned.trim().to_string()
    }
}

/// The name of the dataset file `id` becomes: the file's name and the id (so the same file name
/// can be uploaded again).
pub(crate) fn file_dataset_name(filename: &str, id: &str) -> String {
    format!("{} ({id})", dataset_name(filename).chars().take(160).collect::<String>())
}

/// The purpose of an upload: only `fine-tune` (400 naming the field otherwise).
pub fn check_purpose(purpose: &str) -> Result<()> {
    if purpose == FINE_TUNE {
        return Ok(());
    }
    Err(ValidationError::new("purpose", format!("'{purpose}' is not a purpose files can be uploaded for here (use fine-tune)")).into())
}

impl Services {
    /// A new file's id and the dataset its upload becomes (named after the file and the id, so
    /// the same file name can be uploaded again), checked before any byte is stored.
    pub fn file_dataset(&self, filename: &str) -> (String, NewDataset) {
        let id = crate::crypto::new_id(IdKind::File);
        let name = file_dataset_name(filename, &id);
        (id, NewDataset { name, ..NewDataset::default() })
    }

    /// Ends a `/v1/files` upload: the dataset the file became (as `finish_dataset_upload`
    /// makes it, with its audit record), then the file naming its version with its own.
    pub async fn finish_file_upload(
        &self,
        principal: &Principal,
        (id, n): (String, NewDataset),
        writer: crate::datasets::BlobUpload,
        filename: &str,
        ctx: &RequestContext,
    ) -> Result<OpenAiFile> {
        let (dataset, version) = self.finish_dataset_upload(principal, n, writer, filename, ctx).await?;
        self.file_of_version(principal, id, &dataset.dataset.id, &version, filename, ctx).await
    }

    /// Records a file for a dataset version just made from it.
    pub(crate) async fn file_of_version(
        &self,
        principal: &Principal,
        id: String,
        dataset_id: &str,
        version: &database::datasets::VersionRow,
        filename: &str,
        ctx: &RequestContext,
    ) -> Result<OpenAiFile> {
        let row = FileRow {
            id,
            organization_id: principal.organization_id.clone(),
            purpose: FINE_TUNE.into(),
            filename: filename.to_string(),
            bytes: version.size_bytes,
            dataset_version_id: Some(version.id.clone()),
            job_id: None,
            created_by: principal.user_id.clone(),
            created_at: now_ms(),
        };
        let mut tx = self.db().begin_write().await?;
        self.insert_file(tx.conn(), principal, &row, dataset_id, version, ctx).await?;
        tx.commit().await?;
        Ok(OpenAiFile::of(row, Some(dataset_id.to_string())))
    }

    /// Inserts a `fine-tune` file row for a dataset version, with its audit record, in `conn`'s
    /// transaction.
    pub(crate) async fn insert_file(
        &self,
        conn: &mut database::Conn,
        principal: &Principal,
        row: &FileRow,
        dataset_id: &str,
        version: &database::datasets::VersionRow,
        ctx: &RequestContext,
    ) -> Result<()> {
        database::openai::insert_file(conn, row).await?;
        let event = AuditEvent::by(principal, "file.create")
            .target("file", &row.id)
            .details(serde_json::json!({"dataset_id": dataset_id, "version": version.version, "bytes": row.bytes}));
        append(conn, self.derived_keys(), event, ctx).await
    }

    /// A file the caller's organization has (404 otherwise); a `fine-tune` file also needs sight
    /// of its dataset.
    pub async fn get_file(&self, principal: &Principal, id: &str) -> Result<OpenAiFile> {
        let row = self.file_row(principal, id, Permission::ViewDataset).await?;
        let dataset = self.file_dataset_id(principal, &row).await?;
        Ok(OpenAiFile::of(row, dataset))
    }

    /// The file row, after the caller's `permission` (checked first: a refusal is 403 whether
    /// or not the id exists).
    async fn file_row(&self, principal: &Principal, id: &str, permission: Permission) -> Result<FileRow> {
        // Files live in the organization, outside projects: a project-restricted key sees none.
        self.require_in(principal, None, permission).await.or_not_found("file")?;
        database::openai::get_file(&mut *self.db().read().await?, &principal.organization_id, id).await.or_not_found("file")
    }

    /// The dataset of a `fine-tune` file, which the caller must see (else the file is 404).
    async fn file_dataset_id(&self, principal: &Principal, row: &FileRow) -> Result<Option<String>> {
        let Some(version_id) = &row.dataset_version_id else { return Ok(None) };
        let version = database::datasets::version_by_id(&mut *self.db().read().await?, &principal.organization_id, version_id).await?;
        match self.visible_dataset(principal, &version.dataset_id).await {
            Ok(_) => Ok(Some(version.dataset_id)),
            Err(Error::NotFound(_) | Error::PermissionDenied(_)) => Err(Error::NotFound("file")),
            Err(e) => Err(e),
        }
    }

    /// The dataset version of a `fine-tune` file the caller can see, for a job (`field` names the
    /// request field in errors).
    pub(crate) async fn file_version(&self, principal: &Principal, id: &str, field: &str) -> Result<database::datasets::VersionRow> {
        let missing =
            || Error::Validation(ValidationError::unprocessable(field, format!("no file '{id}' (upload it with POST /v1/files)")));
        let row = match self.file_row(principal, id, Permission::ViewDataset).await {
            Err(Error::NotFound(_)) => return Err(missing()),
            other => other?,
        };
        if row.purpose != FINE_TUNE {
            return Err(ValidationError::unprocessable(field, format!("file {id} is of purpose {}, not fine-tune", row.purpose)).into());
        }
        match self.file_dataset_id(principal, &row).await {
            Err(Error::NotFound(_)) => return Err(missing()),
            other => other?,
        };
        let version_id = row.dataset_version_id.ok_or_else(|| Error::Internal(format!("file {id} has no dataset version")))?;
        Ok(database::datasets::version_by_id(&mut *self.db().read().await?, &principal.organization_id, &version_id).await?)
    }

    /// Files newest first (`order` desc, the default) or oldest first, after the file `after`.
    pub async fn list_files(
        &self,
        principal: &Principal,
        purpose: Option<&str>,
        after: Option<&str>,
        limit: Option<i64>,
        ascending: bool,
    ) -> Result<Page<OpenAiFile>> {
        match self.require_in(principal, None, Permission::ViewDataset).await {
            Err(Error::NotFound(_)) => return Ok(Page { items: Vec::new(), has_more: false }),
            other => other?,
        }
        let limit = match limit {
            Some(l) if !(1..=10_000).contains(&l) => {
                return Err(ValidationError::new("limit", format!("must be 1 to 10000 (got {l})")).into());
            }
            Some(l) => l,
            None => 10_000,
        };
        let rows =
            database::openai::list_files(&mut *self.db().read().await?, &principal.organization_id, purpose, after, ascending, limit + 1)
                .await?;
        let page = Page::from_rows(rows, limit);
        let mut items = Vec::with_capacity(page.items.len());
        for row in page.items {
            match self.file_dataset_id(principal, &row).await {
                Ok(dataset) => items.push(OpenAiFile::of(row, dataset)),
                Err(Error::NotFound(_)) => {} // a dataset the caller cannot see
                Err(e) => return Err(e),
            }
        }
        Ok(Page { items, has_more: page.has_more })
    }

    /// A file's content: the uploaded bytes (decrypted as read), or a job's results CSV.
    pub async fn file_content(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<(OpenAiFile, FileContent)> {
        let row = self.file_row(principal, id, Permission::ViewDataset).await?;
        let dataset = self.file_dataset_id(principal, &row).await?;
        let content = match (&row.dataset_version_id, &row.job_id, &dataset) {
            (Some(version_id), _, Some(dataset_id)) => {
                let version =
                    database::datasets::version_by_id(&mut *self.db().read().await?, &principal.organization_id, version_id).await?;
                FileContent::Stored(self.open_version(principal, dataset_id, version.version, ctx).await?.1)
            }
            (None, Some(job_id), _) => FileContent::Made(self.results_csv(principal, job_id).await?.into_bytes()),
            _ => return Err(Error::Internal(format!("file {id} names neither a dataset version nor a job"))),
        };
        Ok((OpenAiFile::of(row, dataset), content))
    }

    /// Deletes a file. The dataset it became goes with it unless a training job used it (the
    /// job's lineage keeps it; it stays among the datasets); a results file goes alone.
    pub async fn delete_file(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<()> {
        let row = self.file_row(principal, id, Permission::DeleteDataset).await?;
        let dataset = self.file_dataset_id(principal, &row).await?;
        let mut tx = self.db().begin_write().await?;
        database::openai::delete_file(tx.conn(), &principal.organization_id, id).await?;
        append(tx.conn(), self.derived_keys(), AuditEvent::by(principal, "file.delete").target("file", id), ctx).await?;
        tx.commit().await?;
        if let (Some(dataset_id), Some(version_id)) = (dataset, &row.dataset_version_id) {
            let jobs = database::jobs::using_dataset_version(&mut *self.db().read().await?, &principal.organization_id, version_id).await?;
            if jobs.is_empty() {
                self.delete_dataset(principal, &dataset_id, ctx).await?;
            }
        }
        Ok(())
    }

    /// A results file for a finished training job (made once; its content is made when read).
    pub(crate) async fn results_file(&self, principal: &Principal, job_id: &str, job_name: &str) -> Result<String> {
        let mut conn = self.db().read().await?;
        if let Some(f) = database::openai::results_file_of(&mut conn, &principal.organization_id, job_id).await? {
            return Ok(f.id);
        }
        drop(conn);
        let csv = self.results_csv(principal, job_id).await?;
        let row = FileRow {
            id: crate::crypto::new_id(IdKind::File),
            organization_id: principal.organization_id.clone(),
            purpose: RESULTS.into(),
            filename: format!("{job_name}-step_metrics.csv"),
            bytes: csv.len() as i64,
            dataset_version_id: None,
            job_id: Some(job_id.to_string()),
            created_by: principal.user_id.clone(),
            created_at: now_ms(),
        };
        let mut tx = self.db().begin_write().await?;
        match database::openai::insert_file(tx.conn(), &row).await {
            Ok(()) => {
                tx.commit().await?;
                Ok(row.id)
            }
            // Another reader made it first (one results file per job: a unique index).
            Err(database::Error::Conflict(_)) => {
                drop(tx);
                let made = database::openai::results_file_of(&mut *self.db().read().await?, &principal.organization_id, job_id).await?;
                made.map(|f| f.id).ok_or_else(|| Error::Internal(format!("job {job_id}'s results file conflicts but is not there")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A job's step metrics as OpenAI's results CSV: step, train_loss, train_accuracy (empty:
    /// not measured), valid_loss, valid_mean_token_accuracy (empty), one row per logged step.
    async fn results_csv(&self, principal: &Principal, job_id: &str) -> Result<String> {
        use std::fmt::Write;
        self.get_job(principal, job_id).await?;
        let mut valid: std::collections::BTreeMap<i64, f64> = Default::default();
        let mut rows: Vec<(i64, f64)> = Vec::new();
        for (e, data) in self.all_job_events(job_id, &["progress", "eval"]).await? {
            let step = e.step.unwrap_or(0);
            match (e.kind.as_str(), data["loss"].as_f64(), data["eval_loss"].as_f64()) {
                ("progress", Some(loss), _) => rows.push((step, loss)),
                ("eval", _, Some(loss)) => {
                    valid.insert(step, loss);
                }
                _ => {}
            }
        }
        let mut csv = String::from("step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n");
        for (step, loss) in rows {
            let v = valid.get(&step).map(|v| v.to_string()).unwrap_or_default();
            let _ = writeln!(csv, "{step},{loss},,{v},");
        }
        Ok(csv)
    }
}

/// What a file's content is read from.
pub enum FileContent {
    Stored(blob_store::BlobReader),
    Made(Vec<u8>),
}
