//! API views: what the API shows of stored objects (never the stored rows themselves).
//! Times are Unix seconds.

use database::api_keys::ApiKeyRow;
use database::audit::AuditRow;
use database::invitations::InvitationRow;
use database::organizations::OrganizationRow;
use database::projects::NamedMemberRow;
use database::users::UserRow;
use serde::Serialize;
use services::projects::ProjectAccess;
use utoipa::ToSchema;

/// Unix milliseconds as the API's Unix seconds.
pub(crate) fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub object: &'static str,
    pub organization_id: String,
    pub email: String,
    pub name: String,
    /// Organization role: admin, researcher, developer or viewer.
    pub role: String,
    pub is_instance_admin: bool,
    pub disabled: bool,
    /// Set while the account is locked after failed logins.
    pub locked_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<UserRow> for UserView {
    fn from(u: UserRow) -> Self {
        UserView {
            object: "user",
            is_instance_admin: u.is_instance_admin(),
            disabled: u.disabled(),
            locked_until: u.locked_until.map(secs),
            created_at: secs(u.created_at),
            updated_at: secs(u.updated_at),
            id: u.id,
            organization_id: u.organization_id,
            email: u.email,
            name: u.name,
            role: u.role,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    pub id: String,
    pub object: &'static str,
    pub name: String,
    pub open_registration: bool,
    /// Role given to users who join by open registration.
    pub default_role: String,
    /// Inference requests and tokens per minute across the organization (null: no limit).
    pub inference_requests_per_minute: Option<i64>,
    pub inference_tokens_per_minute: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<OrganizationRow> for OrganizationView {
    fn from(o: OrganizationRow) -> Self {
        OrganizationView {
            object: "organization",
            open_registration: o.open_registration(),
            created_at: secs(o.created_at),
            updated_at: secs(o.updated_at),
            id: o.id,
            name: o.name,
            default_role: o.default_role,
            inference_requests_per_minute: o.inference_requests_per_minute,
            inference_tokens_per_minute: o.inference_tokens_per_minute,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedOrganizationView {
    #[serde(flatten)]
    pub organization: OrganizationView,
    pub admin: Option<UserView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectView {
    pub id: String,
    pub object: &'static str,
    pub organization_id: String,
    pub name: String,
    pub description: String,
    /// private, project or organization.
    pub visibility: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// The caller's project role, if a member.
    pub my_role: Option<String>,
    /// What the caller may do in this project.
    pub my_permissions: Vec<String>,
}

impl From<ProjectAccess> for ProjectView {
    fn from(a: ProjectAccess) -> Self {
        let p = a.project;
        ProjectView {
            object: "project",
            created_at: secs(p.created_at),
            updated_at: secs(p.updated_at),
            my_role: a.my_role.map(|r| r.as_str().to_string()),
            my_permissions: a.my_permissions.to_strings(),
            id: p.id,
            organization_id: p.organization_id,
            name: p.name,
            description: p.description,
            visibility: p.visibility,
            created_by: p.created_by,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub object: &'static str,
    pub project_id: String,
    pub user_id: String,
    /// The user's name and email, so that members see who their colleagues are without the
    /// organization's user list (which needs `manage_users`).
    pub name: String,
    pub email: String,
    pub role: String,
    pub added_at: i64,
}

impl From<NamedMemberRow> for MemberView {
    fn from(m: NamedMemberRow) -> Self {
        let NamedMemberRow { member, name, email } = m;
        MemberView {
            object: "project.member",
            added_at: secs(member.added_at),
            project_id: member.project_id,
            user_id: member.user_id,
            name,
            email,
            role: member.role,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub object: &'static str,
    pub name: String,
    /// The visible start of the key (`tk_<prefix>_…`).
    pub prefix: String,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub project_id: Option<String>,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
    pub limits: services::api_keys::KeyLimits,
    /// The secret key: present only in the answer that creates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl TryFrom<ApiKeyRow> for ApiKeyView {
    type Error = crate::error::ApiError;
    fn try_from(k: ApiKeyRow) -> Result<Self, Self::Error> {
        let limits = services::api_keys::KeyLimits::of(&k)?;
        Ok(ApiKeyView {
            limits,
            object: "api_key",
            scopes: k.scopes.split_whitespace().map(str::to_string).collect(),
            expires_at: k.expires_at.map(secs),
            last_used_at: k.last_used_at.map(secs),
            revoked_at: k.revoked_at.map(secs),
            created_at: secs(k.created_at),
            key: None,
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            user_id: k.user_id,
            project_id: k.project_id,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    pub id: String,
    pub object: &'static str,
    pub email: String,
    pub role: String,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The invitation token: present only in the answer that creates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<InvitationRow> for InvitationView {
    fn from(i: InvitationRow) -> Self {
        InvitationView {
            object: "invitation",
            created_at: secs(i.created_at),
            expires_at: secs(i.expires_at),
            accepted_at: i.accepted_at.map(secs),
            revoked_at: i.revoked_at.map(secs),
            token: None,
            id: i.id,
            email: i.email,
            role: i.role,
            created_by: i.created_by,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: String,
    pub object: &'static str,
    /// Position in the hash chain (also the paging cursor).
    pub seq: i64,
    pub occurred_at: i64,
    pub occurred_at_ms: i64,
    pub organization_id: Option<String>,
    pub actor_id: Option<String>,
    /// user, api_key or anonymous.
    pub actor_kind: String,
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    /// success, failure or denied.
    pub outcome: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: serde_json::Value,
    pub hash: String,
}

impl From<AuditRow> for AuditEventView {
    fn from(a: AuditRow) -> Self {
        AuditEventView {
            object: "audit_event",
            occurred_at: secs(a.occurred_at),
            occurred_at_ms: a.occurred_at,
            details: serde_json::from_str(&a.details).unwrap_or(serde_json::Value::Null),
            id: a.id,
            seq: a.seq,
            organization_id: a.organization_id,
            actor_id: a.actor_id,
            actor_kind: a.actor_kind,
            action: a.action,
            target_kind: a.target_kind,
            target_id: a.target_id,
            outcome: a.outcome,
            ip: a.ip,
            user_agent: a.user_agent,
            hash: a.hash,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub user_id: String,
}

impl From<services::auth::TokenPair> for TokenView {
    fn from(t: services::auth::TokenPair) -> Self {
        TokenView {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            token_type: "Bearer",
            expires_in: t.expires_in,
            user_id: t.user_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipView {
    pub project_id: String,
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    pub user: UserView,
    pub organization: OrganizationView,
    /// Organization-wide permissions of this credential.
    pub permissions: Vec<String>,
    pub projects: Vec<MembershipView>,
    /// session or api_key.
    pub auth: &'static str,
    pub api_key_id: Option<String>,
    pub project_restriction: Option<String>,
}

macro_rules! list_view {
    ($name:ident, $item:ty) => {
        #[derive(Debug, Serialize, ToSchema)]
        pub struct $name {
            pub object: &'static str,
            pub data: Vec<$item>,
            pub has_more: bool,
        }

        impl $name {
            pub fn of<R>(page: services::Page<R>) -> Self
            where
                $item: From<R>,
            {
                $name { object: "list", data: page.items.into_iter().map(<$item>::from).collect(), has_more: page.has_more }
            }

            /// The page, for items whose stored JSON is parsed on the way (an item that does
            /// not parse is an error naming it).
            pub fn try_of<R>(page: services::Page<R>) -> Result<Self, crate::error::ApiError>
            where
                $item: TryFrom<R, Error = crate::error::ApiError>,
            {
                let data = page.items.into_iter().map(<$item>::try_from).collect::<Result<Vec<_>, _>>()?;
                Ok($name { object: "list", data, has_more: page.has_more })
            }
        }
    };
}

/// A JSON column as stored: text that does not parse is an internal error naming the column
/// and the row, never a default.
pub(crate) fn stored_json<T: serde::de::DeserializeOwned>(what: &str, row_id: &str, text: &str) -> Result<T, crate::error::ApiError> {
    serde_json::from_str(text).map_err(|e| crate::error::ApiError::internal(format!("{what} of {row_id} does not parse as stored: {e}")))
}

list_view!(UserList, UserView);
list_view!(OrganizationList, OrganizationView);
list_view!(ProjectList, ProjectView);
list_view!(MemberList, MemberView);
list_view!(ApiKeyList, ApiKeyView);
list_view!(InvitationList, InvitationView);
list_view!(AuditEventList, AuditEventView);

pub use crate::views_datasets::{
    DatasetCreatedView, DatasetView, LineageView, OperationView, PartView, PreviewList, UploadList, UploadView, VersionView,
};
list_view!(DatasetList, DatasetView);
list_view!(VersionList, VersionView);

pub use crate::views_training::{
    BaseModelView, CatalogModelView, CheckpointView, EstimateView, JobEventList, JobEventView, JobMetricsView, JobView, MetricSeriesView,
    ModelSpecView, ModelView,
};
list_view!(BaseModelList, BaseModelView);
list_view!(CatalogList, CatalogModelView);
list_view!(JobList, JobView);
list_view!(CheckpointList, CheckpointView);
list_view!(ModelList, ModelView);

pub use crate::views_deployments::{
    ContentPolicyView, DeploymentEventView, DeploymentView, LoggedRequestList, SafetyEventList, SafetyEventView, SplitResultsView,
    SplitView, UsageView,
};
list_view!(DeploymentList, DeploymentView);
list_view!(SplitList, SplitView);
list_view!(DeploymentEventList, DeploymentEventView);

pub use crate::views_evaluations::{AbTestView, EvaluationExampleList, EvaluationView, HumanEvalView};
list_view!(EvaluationList, EvaluationView);
list_view!(AbTestList, AbTestView);
list_view!(HumanEvalList, HumanEvalView);
