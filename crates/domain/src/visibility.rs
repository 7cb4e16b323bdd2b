//! Who may see a resource: private (owner), project (its members), organization, or named users.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Private,
    Project,
    Organization,
    Users,
}

impl Visibility {
    pub const ALL: [Visibility; 4] = [Visibility::Private, Visibility::Project, Visibility::Organization, Visibility::Users];

    pub const fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Project => "project",
            Visibility::Organization => "organization",
            Visibility::Users => "users",
        }
    }

    pub fn parse(value: &str) -> Option<Visibility> {
        Visibility::ALL.into_iter().find(|v| v.as_str() == value)
    }
}

/// The facts about a resource that decide who sees it.
#[derive(Debug, Clone)]
pub struct ResourceAccess<'a> {
    pub organization_id: &'a str,
    pub owner_id: &'a str,
    pub visibility: Visibility,
    /// Whether the viewer is a member of the resource's project.
    pub viewer_is_project_member: bool,
    /// Users the resource is shared with (visibility `users`).
    pub shared_with: &'a [String],
}

/// The facts about the caller that decide what they see.
#[derive(Debug, Clone)]
pub struct Viewer<'a> {
    pub user_id: &'a str,
    pub organization_id: &'a str,
    pub is_org_admin: bool,
}

/// Whether `viewer` may see the resource at all. A resource of another organization is never
/// visible, whatever its visibility (the API answers 404 for it).
pub fn can_view(resource: &ResourceAccess<'_>, viewer: &Viewer<'_>) -> bool {
    if resource.organization_id != viewer.organization_id {
        return false;
    }
    if viewer.is_org_admin || resource.owner_id == viewer.user_id {
        return true;
    }
    match resource.visibility {
        Visibility::Private => false,
        Visibility::Project => resource.viewer_is_project_member,
        Visibility::Organization => true,
        Visibility::Users => resource.viewer_is_project_member || resource.shared_with.iter().any(|u| u == viewer.user_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(visibility: Visibility, member: bool, shared: bool, admin: bool, other_org: bool) -> bool {
        let shared_with = if shared { vec!["usr_v".to_string()] } else { vec![] };
        let resource = ResourceAccess {
            organization_id: "org_a",
            owner_id: "usr_owner",
            visibility,
            viewer_is_project_member: member,
            shared_with: &shared_with,
        };
        let viewer = Viewer { user_id: "usr_v", organization_id: if other_org { "org_b" } else { "org_a" }, is_org_admin: admin };
        can_view(&resource, &viewer)
    }

    #[test]
    fn visibility_table() {
        use Visibility::*;
        // (visibility, member, shared, admin, other org) -> visible
        let table = [
            (Private, true, true, false, false, false),
            (Private, false, false, true, false, true),
            (Project, true, false, false, false, true),
            (Project, false, false, false, false, false),
            (Organization, false, false, false, false, true),
            (Organization, false, false, true, true, false),
            (Users, false, true, false, false, true),
            (Users, false, false, false, false, false),
            (Users, true, false, false, false, true),
        ];
        for (v, member, shared, admin, other, expected) in table {
            assert_eq!(check(v, member, shared, admin, other), expected, "{v:?} {member} {shared} {admin} {other}");
        }
    }

    #[test]
    fn owner_always_sees_own_resource() {
        let resource = ResourceAccess {
            organization_id: "org_a",
            owner_id: "usr_v",
            visibility: Visibility::Private,
            viewer_is_project_member: false,
            shared_with: &[],
        };
        let viewer = Viewer { user_id: "usr_v", organization_id: "org_a", is_org_admin: false };
        assert!(can_view(&resource, &viewer));
    }
}
