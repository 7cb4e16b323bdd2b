//! `/v1/uploads`: OpenAI's upload in parts mapped onto the resumable upload (same id). Parts
//! are numbered as they arrive (atomically, so parts sent at once do not collide) and named
//! `part_<upload id>_<number>`; completing lists them by those names in file order, optionally
//! with the whole file's MD5, and waits until the joined file has become a dataset and its
//! `fine-tune` file (made in the transaction that settles the upload).

use super::files::OpenAiFile;
use crate::datasets::{BlobUpload, NewUpload, UploadTarget};
use crate::error::OrNotFound;
use crate::{Error, Principal, RequestContext, Result, Services};
use database::openai::FileRow;
use database::uploads::UploadRow;
use domain::ValidationError;
use std::time::Duration;

/// How long completing waits for the joined file to become a dataset.
const COMPLETE_WAIT: Duration = Duration::from_secs(600);

/// An upload as OpenAI shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct OpenAiUpload {
    pub id: String,
    /// Always `upload`.
    pub object: &'static str,
    pub bytes: i64,
    /// Unix seconds.
    pub created_at: i64,
    pub filename: String,
    pub purpose: String,
    /// `pending`, `completed`, `cancelled`, `expired`, or `failed` (the file was not a dataset;
    /// completing said why).
    pub status: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// The file it became, once completed.
    pub file: Option<OpenAiFile>,
}

/// A received part.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct OpenAiUploadPart {
    pub id: String,
    /// Always `upload.part`.
    pub object: &'static str,
    /// Unix seconds.
    pub created_at: i64,
    pub upload_id: String,
}

/// The part name of part `number` of an upload, and back.
fn part_id(upload_id: &str, number: i64) -> String {
    format!("part_{upload_id}_{number}")
}

fn part_number(upload_id: &str, part_id: &str) -> Result<i64> {
    part_id
        .strip_prefix("part_")
        .and_then(|rest| rest.rsplit_once('_'))
        .filter(|(upload, _)| *upload == upload_id)
        .and_then(|(_, n)| n.parse::<i64>().ok())
        .ok_or_else(|| ValidationError::unprocessable("part_ids", format!("'{part_id}' is not a part of upload {upload_id}")).into())
}

impl Services {
    /// Starts an upload of `bytes` bytes (reserved from the storage quota now).
    pub async fn create_openai_upload(
        &self,
        principal: &Principal,
        n: NewUpload,
        purpose: &str,
        ctx: &RequestContext,
    ) -> Result<OpenAiUpload> {
        super::check_purpose(purpose)?;
        let file_id = crate::crypto::new_id(domain::ids::IdKind::File);
        let row = self.open_upload(principal, n, Some((purpose, &file_id)), ctx).await?;
        self.openai_upload_of(principal, row).await
    }

    /// Refuses (409) an upload made through `/v1/uploads` on the platform's own upload routes:
    /// its parts are numbered by the facade, and completing makes its `fine-tune` file.
    pub async fn require_platform_upload(&self, principal: &Principal, id: &str) -> Result<()> {
        self.get_upload(principal, id).await?;
        if database::openai::upload_of(&mut *self.db().read().await?, id).await?.is_some() {
            return Err(Error::Conflict(format!("upload {id} was started through /v1/uploads: add its parts and complete it there")));
        }
        Ok(())
    }

    /// The resumable upload behind an OpenAI upload of the caller's (404 for one not made
    /// through `/v1/uploads`), with the facade's row.
    async fn facade_upload(&self, principal: &Principal, id: &str) -> Result<(UploadRow, database::openai::UploadRow)> {
        let (row, _) = self.get_upload(principal, id).await?;
        let facade = database::openai::upload_of(&mut *self.db().read().await?, id).await?.ok_or(Error::NotFound("upload"))?;
        Ok((row, facade))
    }

    /// Starts receiving the next part: its number and the writer the caller streams it into.
    pub async fn begin_openai_part(&self, principal: &Principal, id: &str) -> Result<(UploadRow, i64, BlobUpload)> {
        self.facade_upload(principal, id).await?;
        let mut tx = self.db().begin_write().await?;
        let number = database::openai::next_part_number(tx.conn(), &principal.organization_id, id).await.or_not_found("upload")?;
        tx.commit().await?;
        if number > crate::datasets::MAX_PARTS {
            return Err(
                ValidationError::unprocessable("data", format!("an upload takes at most {} parts", crate::datasets::MAX_PARTS)).into()
            );
        }
        let (row, writer) = self.begin_part(principal, id, number).await?;
        Ok((row, number, writer))
    }

    pub async fn finish_openai_part(
        &self,
        principal: &Principal,
        upload: &UploadRow,
        number: i64,
        writer: BlobUpload,
    ) -> Result<OpenAiUploadPart> {
        let part = self.finish_part(principal, upload, number, writer, None).await?;
        Ok(OpenAiUploadPart {
            id: part_id(&upload.id, number),
            object: "upload.part",
            created_at: part.created_at / 1000,
            upload_id: upload.id.clone(),
        })
    }

    /// Joins the parts named in file order (each once; together the declared size) into the
    /// file, checking `md5` when given, and waits until it is a dataset: the upload comes back
    /// `completed` with its file. A file that is not a dataset is 422 naming what is wrong.
    /// Completing again while it is processing, or after, waits for it and answers the same.
    pub async fn complete_openai_upload(
        &self,
        principal: &Principal,
        id: &str,
        part_ids: &[String],
        md5: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<OpenAiUpload> {
        let (row, facade) = self.facade_upload(principal, id).await?;
        // Completed, or being completed, already (a retry): wait for it and answer as the first.
        if row.status == "pending" {
            let numbers = part_ids.iter().map(|p| part_number(id, p)).collect::<Result<Vec<i64>>>()?;
            if let Some(expected) = md5.filter(|m| !m.is_empty()) {
                self.check_upload_md5(principal, id, &numbers, expected).await?;
            }
            let target = UploadTarget {
                dataset_id: None,
                name: Some(super::files::file_dataset_name(&row.filename, &facade.file_id)),
                description: None,
                project_id: None,
                visibility: None,
                shared_with: Vec::new(),
                format: None,
            };
            self.complete_upload(principal, id, &numbers, None, target, ctx).await?;
        }
        let deadline = tokio::time::Instant::now() + COMPLETE_WAIT;
        loop {
            let (row, _) = self.get_upload(principal, id).await?;
            match row.status.as_str() {
                "processing" if tokio::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
                "processing" => {
                    return Err(Error::Conflict(format!("upload {id} is still being processed; complete it again to wait for it")))
                }
                "completed" => return self.openai_upload_of(principal, row).await,
                "failed" => {
                    let why = row.error.unwrap_or_else(|| "the file is not a dataset".into());
                    return Err(ValidationError::unprocessable("file", why).into());
                }
                "pending" => {
                    // Back to pending with what to fix (parts kept: complete again).
                    let why = row.error.unwrap_or_else(|| "the upload is pending".into());
                    return Err(ValidationError::unprocessable("part_ids", why).into());
                }
                other => return Err(Error::Conflict(format!("upload {id} is {other}"))),
            }
        }
    }

    /// The MD5 of the listed parts joined, against `expected` (hex).
    async fn check_upload_md5(&self, principal: &Principal, id: &str, numbers: &[i64], expected: &str) -> Result<()> {
        use md5::Digest;
        let (_, parts) = self.get_upload(principal, id).await?;
        let mut blob_ids = Vec::with_capacity(numbers.len());
        for n in numbers {
            let part = parts.iter().find(|p| p.part_number == *n).ok_or_else(|| {
                Error::from(ValidationError::unprocessable("part_ids", format!("{} was never received", part_id(id, *n))))
            })?;
            blob_ids.push(part.blob_id.clone());
        }
        let blobs = self.blobs_handle();
        let actual = tokio::task::spawn_blocking(move || -> std::result::Result<String, String> {
            let mut hasher = md5::Md5::new();
            let mut buf = vec![0u8; 1 << 16];
            for b in blob_ids {
                let mut reader = blobs.reader(&b).map_err(|e| e.to_string())?;
                loop {
                    let n = std::io::Read::read(&mut reader, &mut buf).map_err(|e| e.to_string())?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                }
            }
            Ok(hex::encode(hasher.finalize()))
        })
        .await
        .map_err(crate::datasets::internal)?
        .map_err(Error::Internal)?;
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(Error::ChecksumMismatch(format!(
                "the listed parts joined have MD5 {actual}, not {expected}: a part is wrong or they are listed out of order"
            )));
        }
        Ok(())
    }

    pub async fn cancel_openai_upload(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<OpenAiUpload> {
        self.facade_upload(principal, id).await?;
        let row = self.cancel_upload(principal, id, ctx).await?;
        self.openai_upload_of(principal, row).await
    }

    /// Records the `fine-tune` file of an upload made through `/v1/uploads` whose joined file
    /// just became dataset version `version_id`, in the transaction that settles the upload.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn record_upload_file(
        &self,
        conn: &mut database::Conn,
        principal: &Principal,
        upload: &UploadRow,
        facade: &database::openai::UploadRow,
        dataset_id: &str,
        version_id: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        let version = database::datasets::version_by_id(conn, &upload.organization_id, version_id).await?;
        let row = FileRow {
            id: facade.file_id.clone(),
            organization_id: upload.organization_id.clone(),
            purpose: facade.purpose.clone(),
            filename: upload.filename.clone(),
            bytes: version.size_bytes,
            dataset_version_id: Some(version.id.clone()),
            job_id: None,
            created_by: upload.user_id.clone(),
            created_at: crate::now_ms(),
        };
        self.insert_file(conn, principal, &row, dataset_id, &version, ctx).await
    }

    async fn openai_upload_of(&self, principal: &Principal, row: UploadRow) -> Result<OpenAiUpload> {
        let facade = database::openai::upload_of(&mut *self.db().read().await?, &row.id).await?.ok_or(Error::NotFound("upload"))?;
        let file = match row.status.as_str() {
            "completed" => Some(self.get_file(principal, &facade.file_id).await?),
            _ => None,
        };
        let status = match (row.status.as_str(), row.error.as_deref()) {
            ("processing", _) => "pending",
            ("cancelled", Some(e)) if e.starts_with("expired") => "expired",
            (s, _) => s,
        };
        Ok(OpenAiUpload {
            id: row.id,
            object: "upload",
            bytes: row.bytes,
            created_at: row.created_at / 1000,
            filename: row.filename,
            purpose: facade.purpose,
            status: status.to_string(),
            expires_at: row.expires_at / 1000,
            file,
        })
    }
}
