//! Roles and permissions: one table, used by every permission check on the server.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a caller may do. The names are the stable strings of the API and the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    UploadDataset,
    ViewDataset,
    DeleteDataset,
    TrainModel,
    DeployModel,
    DeleteModel,
    ManageUsers,
    ViewMetrics,
    ManageResources,
}

impl Permission {
    pub const ALL: [Permission; 9] = [
        Permission::UploadDataset,
        Permission::ViewDataset,
        Permission::DeleteDataset,
        Permission::TrainModel,
        Permission::DeployModel,
        Permission::DeleteModel,
        Permission::ManageUsers,
        Permission::ViewMetrics,
        Permission::ManageResources,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Permission::UploadDataset => "upload_dataset",
            Permission::ViewDataset => "view_dataset",
            Permission::DeleteDataset => "delete_dataset",
            Permission::TrainModel => "train_model",
            Permission::DeployModel => "deploy_model",
            Permission::DeleteModel => "delete_model",
            Permission::ManageUsers => "manage_users",
            Permission::ViewMetrics => "view_metrics",
            Permission::ManageResources => "manage_resources",
        }
    }

    pub fn parse(value: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == value)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role in an organization or a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Researcher,
    Developer,
    Viewer,
}

use Permission as P;

/// The permission table: the single source of truth for what each role may do.
const ROLE_PERMISSIONS: [(Role, &[Permission]); 4] = [
    (Role::Admin, &Permission::ALL),
    (
        Role::Researcher,
        &[P::UploadDataset, P::ViewDataset, P::DeleteDataset, P::TrainModel, P::DeployModel, P::DeleteModel, P::ViewMetrics],
    ),
    (Role::Developer, &[P::UploadDataset, P::ViewDataset, P::DeployModel, P::ViewMetrics]),
    (Role::Viewer, &[P::ViewDataset, P::ViewMetrics]),
];

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Researcher, Role::Developer, Role::Viewer];

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Researcher => "researcher",
            Role::Developer => "developer",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == value)
    }

    pub fn permissions(self) -> &'static [Permission] {
        ROLE_PERMISSIONS.iter().find(|(role, _)| *role == self).map(|(_, perms)| *perms).unwrap_or(&[])
    }

    pub fn allows(self, permission: Permission) -> bool {
        self.permissions().contains(&permission)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Permissions that hold for a caller in one place (the organization, or one project).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionSet(Vec<Permission>);

impl PermissionSet {
    pub fn of_role(role: Role) -> Self {
        PermissionSet(role.permissions().to_vec())
    }

    pub fn from_slice(perms: &[Permission]) -> Self {
        let mut v = perms.to_vec();
        v.sort();
        v.dedup();
        PermissionSet(v)
    }

    pub fn contains(&self, p: Permission) -> bool {
        self.0.contains(&p)
    }

    pub fn union(&self, other: &PermissionSet) -> PermissionSet {
        let mut v = self.0.clone();
        v.extend_from_slice(&other.0);
        PermissionSet::from_slice(&v)
    }

    pub fn intersect(&self, other: &PermissionSet) -> PermissionSet {
        PermissionSet(self.0.iter().copied().filter(|p| other.contains(*p)).collect())
    }

    pub fn is_subset_of(&self, other: &PermissionSet) -> bool {
        self.0.iter().all(|p| other.contains(*p))
    }

    pub fn iter(&self) -> impl Iterator<Item = Permission> + '_ {
        self.0.iter().copied()
    }

    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|p| p.as_str().to_string()).collect()
    }
}

/// What a caller may do inside one project.
///
/// Organization admins may do everything everywhere. A project member holds the union of
/// their organization role and their project role; a non-member holds only the viewing
/// permissions of their organization role (and only where the project is visible to them).
/// The project's owner (its creator) additionally holds `manage_resources` there, so that they
/// can run their project without gaining any other permission beyond their organization role.
pub fn project_permissions(org_role: Role, project_role: Option<Role>, is_owner: bool) -> PermissionSet {
    if org_role == Role::Admin {
        return PermissionSet::of_role(Role::Admin);
    }
    let held = match project_role {
        Some(role) => PermissionSet::of_role(org_role).union(&PermissionSet::of_role(role)),
        None => PermissionSet::of_role(org_role).intersect(&PermissionSet::from_slice(&[P::ViewDataset, P::ViewMetrics])),
    };
    if is_owner {
        held.union(&PermissionSet::from_slice(&[P::ManageResources]))
    } else {
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
        }
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn role_table() {
        let check = |role: Role, expected: &[&str]| {
            let got: Vec<&str> = role.permissions().iter().map(|p| p.as_str()).collect();
            assert_eq!(got, expected, "{role}");
        };
        check(
            Role::Admin,
            &[
                "upload_dataset",
                "view_dataset",
                "delete_dataset",
                "train_model",
                "deploy_model",
                "delete_model",
                "manage_users",
                "view_metrics",
                "manage_resources",
            ],
        );
        check(
            Role::Researcher,
            &["upload_dataset", "view_dataset", "delete_dataset", "train_model", "deploy_model", "delete_model", "view_metrics"],
        );
        check(Role::Developer, &["upload_dataset", "view_dataset", "deploy_model", "view_metrics"]);
        check(Role::Viewer, &["view_dataset", "view_metrics"]);
    }

    #[test]
    fn project_role_adds_to_org_role_for_members_only() {
        let member = project_permissions(Role::Viewer, Some(Role::Researcher), false);
        assert!(member.contains(P::TrainModel));
        let outsider = project_permissions(Role::Researcher, None, false);
        assert!(!outsider.contains(P::TrainModel));
        assert!(outsider.contains(P::ViewDataset));
        let admin = project_permissions(Role::Admin, None, false);
        assert!(admin.contains(P::ManageResources));
    }

    #[test]
    fn project_permission_table() {
        use Role::*;
        let names = |set: PermissionSet| set.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" ");
        // (organization role, project role, owner) → permissions in the project.
        let table: [(Role, Option<Role>, bool, &str); 10] = [
            (Admin, None, false, "upload_dataset view_dataset delete_dataset train_model deploy_model delete_model manage_users view_metrics manage_resources"),
            (Researcher, None, false, "view_dataset view_metrics"),
            (Researcher, Some(Researcher), false, "upload_dataset view_dataset delete_dataset train_model deploy_model delete_model view_metrics"),
            // The owner manages the project, and gains nothing else.
            (Researcher, Some(Researcher), true, "upload_dataset view_dataset delete_dataset train_model deploy_model delete_model view_metrics manage_resources"),
            (Developer, Some(Developer), true, "upload_dataset view_dataset deploy_model view_metrics manage_resources"),
            (Developer, None, true, "view_dataset view_metrics manage_resources"),
            (Developer, Some(Developer), false, "upload_dataset view_dataset deploy_model view_metrics"),
            (Viewer, Some(Researcher), false, "upload_dataset view_dataset delete_dataset train_model deploy_model delete_model view_metrics"),
            (Viewer, Some(Admin), false, "upload_dataset view_dataset delete_dataset train_model deploy_model delete_model manage_users view_metrics manage_resources"),
            (Viewer, None, false, "view_dataset view_metrics"),
        ];
        for (org_role, project_role, owner, expected) in table {
            assert_eq!(
                names(project_permissions(org_role, project_role, owner)),
                expected,
                "{org_role} / {project_role:?} / owner {owner}"
            );
        }
    }
}
