//! Who may see and change a dataset: its project's permissions (or the organization's for a
//! dataset outside any project), and its visibility.

use crate::error::OrNotFound;
use crate::{Error, Principal, Result, Services};
use database::datasets::DatasetRow;
use domain::permissions::PermissionSet;
use domain::visibility::{can_view, ResourceAccess};
use domain::Permission;

/// A dataset as the caller sees it.
#[derive(Debug, Clone)]
pub struct DatasetAccess {
    pub dataset: DatasetRow,
    pub shared_with: Vec<String>,
    pub my_permissions: PermissionSet,
}

impl DatasetAccess {
    /// 403 unless the caller holds `permission` where the dataset lives.
    pub(crate) fn require(&self, permission: Permission) -> Result<()> {
        if !self.my_permissions.contains(permission) {
            return Err(Error::PermissionDenied(permission));
        }
        Ok(())
    }
}

impl Services {
    /// The permissions the caller holds where a dataset lives (a project, or the organization).
    pub(crate) async fn permissions_in(&self, principal: &Principal, project_id: Option<&str>) -> Result<(PermissionSet, bool)> {
        match project_id {
            Some(p) => {
                let access = self.visible_project(principal, p).await?;
                Ok((access.my_permissions, access.my_role.is_some()))
            }
            None => {
                if principal.project_restriction().is_some() {
                    return Err(Error::NotFound("dataset"));
                }
                Ok((principal.org_permissions(), false))
            }
        }
    }

    /// `permission` where a new resource goes (a project, or the organization); 403 without it.
    pub(crate) async fn require_in(&self, principal: &Principal, project_id: Option<&str>, permission: Permission) -> Result<()> {
        let (perms, _) = self.permissions_in(principal, project_id).await?;
        if !perms.contains(permission) {
            return Err(Error::PermissionDenied(permission));
        }
        Ok(())
    }

    /// Access to a resource of the model-serving and evaluation family (deployment, traffic
    /// split, evaluation, A/B test) held in `project_id`: it is visible to callers who may view
    /// metrics or deploy models there — 404 naming `what` to anyone else — and needs
    /// `permission` (403 without it).
    pub(crate) async fn require_on_resource(
        &self,
        principal: &Principal,
        project_id: Option<&str>,
        what: &'static str,
        permission: Permission,
    ) -> Result<()> {
        let (perms, _) = self.permissions_in(principal, project_id).await.or_not_found(what)?;
        if !perms.contains(Permission::ViewMetrics) && !perms.contains(Permission::DeployModel) {
            return Err(Error::NotFound(what));
        }
        if !perms.contains(permission) {
            return Err(Error::PermissionDenied(permission));
        }
        Ok(())
    }

    /// A dataset the caller may see; 404 otherwise (also for other organizations' ids).
    pub async fn visible_dataset(&self, principal: &Principal, id: &str) -> Result<DatasetAccess> {
        let mut conn = self.db().read().await?;
        let dataset = database::datasets::get(&mut conn, &principal.organization_id, id).await.or_not_found("dataset")?;
        let shared_with = database::datasets::shared_with(&mut conn, id).await?;
        drop(conn);
        let (my_permissions, member) = self.permissions_in(principal, dataset.project_id.as_deref()).await.or_not_found("dataset")?;
        let access = ResourceAccess {
            organization_id: &dataset.organization_id,
            owner_id: &dataset.created_by,
            visibility: crate::auth::stored_visibility(&dataset.visibility, &dataset.id)?,
            viewer_is_project_member: member,
            shared_with: &shared_with,
        };
        if !can_view(&access, &principal.viewer()) {
            return Err(Error::NotFound("dataset"));
        }
        if !my_permissions.contains(Permission::ViewDataset) {
            return Err(Error::PermissionDenied(Permission::ViewDataset));
        }
        Ok(DatasetAccess { dataset, shared_with, my_permissions })
    }

    /// A visible dataset where the caller also holds `permission`.
    pub(crate) async fn dataset_with(&self, principal: &Principal, id: &str, permission: Permission) -> Result<DatasetAccess> {
        let access = self.visible_dataset(principal, id).await?;
        access.require(permission)?;
        Ok(access)
    }
}
