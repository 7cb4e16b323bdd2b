//! Records made by the platform (logged conversations, raters' preferences) stored as a dataset
//! version: a new dataset, or a new version of one, with where they came from in its lineage.

use super::{DatasetAccess, NewDataset, VersionOrigin};
use crate::{Principal, RequestContext, Result, Services};
use database::datasets::VersionRow;
use domain::{Permission, ValidationError};

/// Where exported records go: a new dataset (`name`, in `project_id` or the default project)
/// or a new version of `dataset_id`.
#[derive(Debug, Clone, Default)]
pub struct ExportTarget {
    pub dataset_id: Option<String>,
    pub name: Option<String>,
    pub project_id: Option<String>,
}

/// A checked target: the new dataset to create, or the dataset to add a version to.
#[derive(Debug, Clone)]
pub(crate) enum CheckedTarget {
    New(NewDataset),
    Version(String),
}

impl Services {
    /// Checks the caller may write there (`upload_dataset`) before anything is made; a new
    /// dataset goes to `default_project` unless the target names a project.
    pub(crate) async fn check_export_target(
        &self,
        principal: &Principal,
        t: &ExportTarget,
        default_project: Option<String>,
        description: String,
    ) -> Result<CheckedTarget> {
        let checked = match (&t.dataset_id, &t.name) {
            (Some(d), None) => {
                if t.project_id.is_some() {
                    return Err(ValidationError::unprocessable("project_id", "project_id goes with name (a new dataset)").into());
                }
                CheckedTarget::Version(d.clone())
            }
            (None, Some(name)) => CheckedTarget::New(NewDataset {
                name: name.clone(),
                description: Some(description),
                project_id: t.project_id.clone().or(default_project),
                ..NewDataset::default()
            }),
            _ => {
                return Err(ValidationError::unprocessable(
                    "dataset_id",
                    "give dataset_id (a new version) or name (a new dataset), not both",
                )
                .into())
            }
        };
        match &checked {
            CheckedTarget::New(n) => self.authorize_new_dataset(principal, n).await?,
            CheckedTarget::Version(d) => {
                self.dataset_with(principal, d, Permission::UploadDataset).await?;
            }
        }
        Ok(checked)
    }

    /// Stores JSONL `lines` as the target's new version (within the storage quota); nothing is
    /// left behind when it fails.
    pub(crate) async fn store_export(
        &self,
        principal: &Principal,
        target: CheckedTarget,
        lines: Vec<u8>,
        filename: &str,
        origin: VersionOrigin<'_>,
        ctx: &RequestContext,
    ) -> Result<(DatasetAccess, VersionRow)> {
        let mut writer = self.blob_upload(&principal.organization_id, true, self.settings().max_upload_bytes)?;
        if let Err(e) = writer.write(lines).await {
            writer.release().await?;
            return Err(e);
        }
        let reserved = writer.reserved;
        let (blob, hold) = match writer.finish().await {
            Ok(b) => b,
            Err(e) => {
                self.release_storage(&principal.organization_id, reserved).await?;
                return Err(e);
            }
        };
        let blob_id = blob.id.clone();
        let created = match target {
            CheckedTarget::New(n) => self.create_dataset_from_blob(principal, n, blob, filename, reserved, origin, ctx).await,
            CheckedTarget::Version(d) => match self.add_version_from_blob(principal, &d, blob, filename, origin, None, reserved, ctx).await
            {
                Ok(v) => Ok((self.visible_dataset(principal, &d).await?, v)),
                Err(e) => Err(e),
            },
        };
        drop(hold);
        if created.is_err() {
            self.release_storage(&principal.organization_id, reserved).await?;
            self.collect_blobs(vec![blob_id]).await;
        }
        created
    }
}
