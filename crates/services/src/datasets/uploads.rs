//! Resumable uploads: create (declaring the size, which reserves quota) → parts in any order,
//! each checked against its SHA-256 → complete with the ordered part list and the whole
//! file's SHA-256 → the parts are joined into one blob and become a dataset version in the
//! background (202; progress is polled). Cancel releases everything.

use crate::audit::{append, AuditEvent};
use crate::crypto::new_id;
use crate::datasets::blobs::internal;
use crate::datasets::versions::NewDataset;
use crate::error::OrNotFound;
use crate::{now_ms, Error, Page, Principal, RequestContext, Result, Services};
use database::uploads::{PartRow, UploadRow};
use datasets::FormatSpec;
use domain::ids::IdKind;
use domain::{validate, Permission, ValidationError};
use serde::{Deserialize, Serialize};

pub const MAX_PARTS: i64 = 10_000;
const UPLOAD_TTL_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Clone)]
pub struct NewUpload {
    pub filename: String,
    pub bytes: i64,
    pub mime_type: Option<String>,
}

/// What a completed upload becomes: a new version of an existing dataset (`dataset_id`), or a
/// new dataset (`name`, …; a name is needed then, else 422).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadTarget {
    pub dataset_id: Option<String>,
    #[schema(schema_with = domain::schema::optional_name)]
    pub name: Option<String>,
    #[schema(schema_with = domain::schema::optional_description)]
    pub description: Option<String>,
    pub project_id: Option<String>,
    /// `project` needs a `project_id` (else 422).
    #[schema(schema_with = domain::schema::optional_visibility)]
    pub visibility: Option<String>,
    /// User ids (visibility `users`).
    #[serde(default)]
    pub shared_with: Vec<String>,
    /// A format specification overriding detection (422 when it contradicts itself).
    #[schema(value_type = Option<datasets::FormatSpec>)]
    pub format: Option<serde_json::Value>,
}

/// A file name without any path ([`validate::file_name`]).
pub fn safe_filename(name: &str) -> Result<String> {
    Ok(validate::file_name("filename", name)?)
}

impl Services {
    pub async fn create_upload(&self, principal: &Principal, n: NewUpload, ctx: &RequestContext) -> Result<UploadRow> {
        self.open_upload(principal, n, None, ctx).await
    }

    /// Creates an upload; `facade` is what `/v1/uploads` keeps beside it (purpose, the id of the
    /// file it becomes), written in the same transaction.
    pub(crate) async fn open_upload(
        &self,
        principal: &Principal,
        n: NewUpload,
        facade: Option<(&str, &str)>,
        ctx: &RequestContext,
    ) -> Result<UploadRow> {
        principal.require(Permission::UploadDataset)?;
        let filename = safe_filename(&n.filename)?;
        let max = self.settings().max_upload_bytes;
        if n.bytes < 1 {
            return Err(ValidationError::new("bytes", format!("must be at least 1 (got {})", n.bytes)).into());
        }
        if n.bytes > max {
            return Err(Error::TooLarge(format!("the file's {} bytes exceed the limit of {max} bytes per file", n.bytes)));
        }
        if !self.reserve_storage(&principal.organization_id, n.bytes).await? {
            return Err(self.quota_error(&principal.organization_id, n.bytes).await);
        }
        let now = now_ms();
        let row = UploadRow {
            id: new_id(IdKind::Upload),
            organization_id: principal.organization_id.clone(),
            user_id: principal.user_id.clone(),
            filename,
            bytes: n.bytes,
            mime_type: n.mime_type,
            status: "pending".into(),
            error: None,
            processed_bytes: 0,
            target: None,
            dataset_id: None,
            dataset_version_id: None,
            created_at: now,
            expires_at: now + UPLOAD_TTL_MS,
            completed_at: None,
        };
        let mut tx = self.db().begin_write().await?;
        database::uploads::insert(tx.conn(), &row).await?;
        if let Some((purpose, file_id)) = facade {
            let extra = database::openai::UploadRow {
                upload_id: row.id.clone(),
                organization_id: row.organization_id.clone(),
                purpose: purpose.to_string(),
                file_id: file_id.to_string(),
                parts_numbered: 0,
            };
            database::openai::insert_upload(tx.conn(), &extra).await?;
        }
        let event = AuditEvent::by(principal, "upload.create")
            .target("upload", &row.id)
            .details(serde_json::json!({"filename": row.filename, "bytes": row.bytes}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// An upload of the caller's (uploads are private to the user who started them).
    pub async fn get_upload(&self, principal: &Principal, id: &str) -> Result<(UploadRow, Vec<PartRow>)> {
        let mut conn = self.db().read().await?;
        let upload = database::uploads::get(&mut conn, &principal.organization_id, id).await.or_not_found("upload")?;
        if upload.user_id != principal.user_id {
            return Err(Error::NotFound("upload"));
        }
        let parts = database::uploads::parts(&mut conn, id).await?;
        Ok((upload, parts))
    }

    pub async fn list_uploads(&self, principal: &Principal, after: Option<&str>, limit: Option<i64>) -> Result<Page<UploadRow>> {
        let limit = validate::page_limit(limit)?;
        let rows = database::uploads::list(&mut *self.db().read().await?, &principal.organization_id, &principal.user_id, after, limit + 1)
            .await?;
        Ok(Page::from_rows(rows, limit))
    }

    async fn pending_upload(&self, principal: &Principal, id: &str) -> Result<(UploadRow, Vec<PartRow>)> {
        let (upload, parts) = self.get_upload(principal, id).await?;
        if upload.status != "pending" {
            return Err(Error::Conflict(format!("the upload is {}, not pending", upload.status)));
        }
        if upload.expires_at <= now_ms() {
            return Err(Error::Conflict("the upload expired; start a new one".into()));
        }
        Ok((upload, parts))
    }

    /// Starts receiving part `number` of an upload; the caller streams the bytes into the
    /// returned writer and then calls [`Services::finish_part`].
    pub async fn begin_part(&self, principal: &Principal, id: &str, number: i64) -> Result<(UploadRow, crate::datasets::BlobUpload)> {
        if !(1..=MAX_PARTS).contains(&number) {
            return Err(ValidationError::new("part_number", format!("must be between 1 and {MAX_PARTS} (got {number})")).into());
        }
        let (upload, parts) = self.pending_upload(principal, id).await?;
        let others: i64 = parts.iter().filter(|p| p.part_number != number).map(|p| p.size_bytes).sum();
        // Parts count against the reservation made when the upload was created.
        let room = upload.bytes - others;
        let writer = self.blob_upload(&upload.organization_id, false, room)?;
        Ok((upload, writer))
    }

    /// Stores a received part after checking its SHA-256 (if the client sent one).
    pub async fn finish_part(
        &self,
        principal: &Principal,
        upload: &UploadRow,
        number: i64,
        writer: crate::datasets::BlobUpload,
        expected_sha256: Option<&str>,
    ) -> Result<PartRow> {
        let expected = expected_sha256.map(|s| validate::sha256("sha256", s)).transpose()?;
        let (blob, hold) = writer.finish().await?;
        if let Some(expected) = expected {
            if expected != blob.id {
                drop(hold);
                self.collect_blobs(vec![blob.id.clone()]).await;
                return Err(Error::ChecksumMismatch(format!(
                    "part {number}: the received {} bytes have SHA-256 {}, not {expected}; send the part again",
                    blob.size, blob.id
                )));
            }
        }
        let part = PartRow {
            upload_id: upload.id.clone(),
            part_number: number,
            blob_id: blob.id.clone(),
            size_bytes: blob.size as i64,
            created_at: now_ms(),
        };
        let mut tx = self.db().begin_write().await?;
        // Re-check inside the transaction: the upload may have been cancelled meanwhile.
        let current = database::uploads::get(tx.conn(), &principal.organization_id, &upload.id).await.or_not_found("upload")?;
        if current.status != "pending" {
            drop(tx);
            drop(hold);
            self.collect_blobs(vec![blob.id]).await;
            return Err(Error::Conflict(format!("the upload is {}, not pending", current.status)));
        }
        let replaced = database::uploads::put_part(tx.conn(), &part).await?;
        tx.commit().await?;
        drop(hold);
        if let Some(old) = replaced {
            self.collect_blobs(vec![old.blob_id]).await;
        }
        Ok(part)
    }

    /// Checks the ordered part list and starts joining the parts into a dataset version in the
    /// background. Answers at once with the upload in status `processing`.
    /// `sha256` is the whole file's, checked after joining when given.
    pub async fn complete_upload(
        &self,
        principal: &Principal,
        id: &str,
        part_numbers: &[i64],
        sha256: Option<&str>,
        target: UploadTarget,
        ctx: &RequestContext,
    ) -> Result<UploadRow> {
        let sha256 = sha256.map(|s| validate::sha256("sha256", s)).transpose()?;
        format_spec(&target)?;
        let (upload, parts) = self.pending_upload(principal, id).await?;
        if part_numbers.is_empty() {
            return Err(ValidationError::new("part_numbers", "must list at least one part").into());
        }
        let mut ordered = Vec::with_capacity(part_numbers.len());
        for (i, n) in part_numbers.iter().enumerate() {
            if part_numbers[..i].contains(n) {
                return Err(ValidationError::new("part_numbers", format!("part {n} is listed twice")).into());
            }
            let part = parts.iter().find(|p| p.part_number == *n).ok_or_else(|| {
                ValidationError::unprocessable(
                    "part_numbers",
                    format!("part {n} was never received (received: {:?})", parts.iter().map(|p| p.part_number).collect::<Vec<_>>()),
                )
            })?;
            ordered.push(part.clone());
        }
        let total: i64 = ordered.iter().map(|p| p.size_bytes).sum();
        if total != upload.bytes {
            return Err(ValidationError::unprocessable(
                "part_numbers",
                format!("the listed parts hold {total} bytes but the upload declared {} bytes", upload.bytes),
            )
            .into());
        }
        match &target.dataset_id {
            Some(d) => {
                self.dataset_with(principal, d, Permission::UploadDataset).await?;
            }
            None => {
                if target.name.is_none() {
                    return Err(ValidationError::unprocessable("dataset.name", "a new dataset needs a name (or give dataset_id)").into());
                }
                let n = new_dataset(&target)?;
                self.authorize_new_dataset(principal, &n).await?;
            }
        }
        let mut tx = self.db().begin_write().await?;
        if !database::uploads::transition(tx.conn(), id, &["pending"], "processing", None, now_ms()).await? {
            return Err(Error::Conflict("the upload is no longer pending".into()));
        }
        database::uploads::set_target(tx.conn(), id, &serde_json::to_string(&target).map_err(internal)?).await?;
        append(
            tx.conn(),
            self.derived_keys(),
            AuditEvent::by(principal, "upload.complete")
                .target("upload", id)
                .details(serde_json::json!({"parts": part_numbers.len(), "sha256": sha256})),
            ctx,
        )
        .await?;
        tx.commit().await?;
        let (services, owner, ctx) = (self.clone(), principal.clone(), ctx.clone());
        let upload_id = id.to_string();
        tokio::spawn(async move {
            let outcome = services.assemble(&owner, &upload, &ordered, sha256.as_deref(), target, &ctx).await;
            if let Err(e) = services.settle_upload(&owner, &upload_id, outcome, &ctx).await {
                tracing::error!(upload = %upload_id, error = %e, "could not record the outcome of an upload");
                // Not left processing for ever: pending again, parts kept, so it can be completed again.
                let why = "the outcome could not be recorded because of a server error; complete the upload again";
                let back = async {
                    let mut tx = services.db().begin_write().await?;
                    database::uploads::transition(tx.conn(), &upload_id, &["processing"], "pending", Some(why), now_ms()).await?;
                    tx.commit().await?;
                    Ok::<(), Error>(())
                };
                if let Err(e) = back.await {
                    tracing::error!(upload = %upload_id, error = %e, "could not return an upload to pending either");
                }
            }
        });
        Ok(self.get_upload(principal, id).await?.0)
    }

    /// Joins the parts into one blob, checks its SHA-256, and creates the dataset version.
    async fn assemble(
        &self,
        principal: &Principal,
        upload: &UploadRow,
        parts: &[PartRow],
        sha256: Option<&str>,
        target: UploadTarget,
        ctx: &RequestContext,
    ) -> Result<(String, String)> {
        let blobs = self.blobs_handle();
        let store = blobs.clone();
        let mut writer = tokio::task::spawn_blocking(move || store.writer()).await.map_err(internal)?.map_err(internal)?;
        let mut done = 0;
        for p in parts {
            let (store, id) = (blobs.clone(), p.blob_id.clone());
            writer = tokio::task::spawn_blocking(move || -> std::result::Result<_, String> {
                let mut reader = store.reader(&id).map_err(|e| e.to_string())?;
                std::io::copy(&mut reader, &mut writer).map_err(|e| e.to_string())?;
                Ok(writer)
            })
            .await
            .map_err(internal)?
            .map_err(Error::Internal)?;
            done += p.size_bytes;
            let mut tx = self.db().begin_write().await?;
            database::uploads::set_progress(tx.conn(), &upload.id, done).await?;
            tx.commit().await?;
        }
        let holds = self.blob_holds();
        let (blob, hold) = tokio::task::spawn_blocking(move || crate::blob_holds::commit_held(&holds, writer.seal().map_err(internal)?))
            .await
            .map_err(internal)??;
        if let Some(sha256) = sha256.filter(|s| *s != blob.id) {
            drop(hold);
            self.collect_blobs(vec![blob.id.clone()]).await;
            return Err(Error::ChecksumMismatch(format!(
                "the joined parts ({} bytes) have SHA-256 {}, not {sha256}: a part is wrong or they are listed out of order",
                blob.size, blob.id
            )));
        }
        let blob_id = blob.id.clone();
        // The target was checked when the upload was completed; a fault now still cleans up below.
        let created = match (&target.dataset_id, format_spec(&target), new_dataset(&target)) {
            (_, Err(e), _) => Err(e),
            (Some(d), Ok(format), _) => self
                .add_version_from_blob(principal, d, blob, &upload.filename, Default::default(), format, upload.bytes, ctx)
                .await
                .map(|v| (d.clone(), v.id)),
            (None, Ok(_), Err(e)) => Err(e),
            (None, Ok(_), Ok(n)) => self
                .create_dataset_from_blob(principal, n, blob, &upload.filename, upload.bytes, Default::default(), ctx)
                .await
                .map(|(a, v)| (a.dataset.id, v.id)),
        };
        drop(hold);
        if created.is_err() {
            self.collect_blobs(vec![blob_id]).await;
        }
        created
    }

    /// Records how processing ended. A file that is not a dataset fails the upload and frees its
    /// storage; anything the user can fix (a checksum, a name taken) returns it to `pending`
    /// with the error, parts kept, so it can be completed again without uploading again.
    async fn settle_upload(&self, principal: &Principal, id: &str, outcome: Result<(String, String)>, ctx: &RequestContext) -> Result<()> {
        let now = now_ms();
        let mut tx = self.db().begin_write().await?;
        let upload = database::uploads::get(tx.conn(), &principal.organization_id, id).await.or_not_found("upload")?;
        let mut released = Vec::new();
        match outcome {
            Ok((dataset_id, version_id)) => {
                database::uploads::set_result(tx.conn(), id, &dataset_id, &version_id).await?;
                // Made through /v1/uploads: its file, in the same transaction.
                if let Some(facade) = database::openai::upload_of(tx.conn(), id).await? {
                    self.record_upload_file(tx.conn(), principal, &upload, &facade, &dataset_id, &version_id, ctx).await?;
                }
                database::uploads::transition(tx.conn(), id, &["processing"], "completed", None, now).await?;
                released = database::uploads::delete_parts(tx.conn(), id).await?;
            }
            Err(e @ Error::InvalidFile { .. }) => {
                database::uploads::transition(tx.conn(), id, &["processing"], "failed", Some(&e.to_string()), now).await?;
                released = database::uploads::delete_parts(tx.conn(), id).await?;
                database::uploads::account(tx.conn(), &principal.organization_id, -upload.bytes, 0).await?;
                let event = AuditEvent::by(principal, "upload.failed")
                    .target("upload", id)
                    .outcome(domain::audit::Outcome::Failure)
                    .details(serde_json::json!({"error": e.to_string()}));
                append(tx.conn(), self.derived_keys(), event, ctx).await?;
            }
            Err(e) => {
                database::uploads::transition(tx.conn(), id, &["processing"], "pending", Some(&e.to_string()), now).await?;
            }
        }
        tx.commit().await?;
        self.collect_blobs(released).await;
        Ok(())
    }

    /// Cancels a pending upload: its parts are deleted and its reserved storage released.
    pub async fn cancel_upload(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<UploadRow> {
        let (upload, _) = self.get_upload(principal, id).await?;
        let mut tx = self.db().begin_write().await?;
        if !database::uploads::transition(tx.conn(), id, &["pending"], "cancelled", None, now_ms()).await? {
            return Err(Error::Conflict(format!("the upload is {}; only a pending upload can be cancelled", upload.status)));
        }
        let blobs = database::uploads::delete_parts(tx.conn(), id).await?;
        database::uploads::account(tx.conn(), &principal.organization_id, -upload.bytes, 0).await?;
        append(tx.conn(), self.derived_keys(), AuditEvent::by(principal, "upload.cancel").target("upload", id), ctx).await?;
        tx.commit().await?;
        self.collect_blobs(blobs).await;
        Ok(self.get_upload(principal, id).await?.0)
    }

    /// Cancels pending uploads whose time ran out: their parts are deleted and the storage
    /// they reserved is released. Runs periodically; returns how many it cancelled.
    pub async fn sweep_expired_uploads(&self) -> Result<usize> {
        let now = now_ms();
        let expired = database::uploads::expired_pending(&mut *self.db().read().await?, now, 500).await?;
        let mut swept = 0;
        for upload in expired {
            let mut tx = self.db().begin_write().await?;
            if !database::uploads::transition(
                tx.conn(),
                &upload.id,
                &["pending"],
                "cancelled",
                Some("expired before it was completed"),
                now,
            )
            .await?
            {
                continue;
            }
            let blobs = database::uploads::delete_parts(tx.conn(), &upload.id).await?;
            database::uploads::account(tx.conn(), &upload.organization_id, -upload.bytes, 0).await?;
            let event = AuditEvent { actor_kind: "system", ..AuditEvent::anonymous(Some(&upload.organization_id), "upload.expire") }
                .target("upload", &upload.id)
                .details(serde_json::json!({"user_id": upload.user_id, "bytes": upload.bytes}));
            append(tx.conn(), self.derived_keys(), event, &RequestContext::default()).await?;
            tx.commit().await?;
            self.collect_blobs(blobs).await;
            swept += 1;
        }
        Ok(swept)
    }

    /// At start: uploads a previous process left `processing` go back to `pending` (their
    /// parts are intact), so their owners can complete them again.
    pub async fn recover_uploads(&self) -> Result<usize> {
        let ids = database::uploads::stuck_processing(&mut *self.db().read().await?).await?;
        let mut tx = self.db().begin_write().await?;
        for id in &ids {
            database::uploads::transition(
                tx.conn(),
                id,
                &["processing"],
                "pending",
                Some("interrupted by a server restart; complete the upload again"),
                now_ms(),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(ids.len())
    }
}

fn new_dataset(t: &UploadTarget) -> Result<NewDataset> {
    Ok(NewDataset {
        name: t.name.clone().unwrap_or_default(),
        description: t.description.clone(),
        project_id: t.project_id.clone(),
        visibility: t.visibility.clone(),
        shared_with: t.shared_with.clone(),
        format: format_spec(t)?,
    })
}

/// The target's format specification, parsed.
fn format_spec(t: &UploadTarget) -> Result<Option<FormatSpec>> {
    match &t.format {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| ValidationError::new("dataset.format", format!("not a format specification: {e}")).into()),
    }
}
