//! User administration (`GET /users`, `/users/{id}`) and the audit log of access changes
//! (`/admin/audit`), with their DTOs.
//!
//! A protected handler takes `RequirePermission<P>` first and its body, query and path id
//! as values checked in the handler, so 401 and 403 answer before anything is said about
//! the request's shape, however soon each extractor completes.

use crate::accounts::UserResponse;
use crate::body::{ApiJson, present};
use crate::error::merge_errors;
use crate::error::{ApiError, FieldError};
use crate::permissions::{RequirePermission, RolesManage, UsersManage, UsersRead};
use crate::query::{ApiQuery, Paginated, Pagination};
use crate::responses::{Conflict, JsonBodyErrors, NotFound, PermissionErrors, ServerErrors, ValidationFailed};
use crate::state::AppState;
use actix_web::HttpResponse;
use actix_web::web::{Data, Path};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use storefront_app::AdminUserUpdate;
use storefront_app::ports::{AuditEntry, AuditFilter};
use storefront_domain::{AuditAction, UserId};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A path id that is not a UUID names no resource.
fn user_id(raw: &str) -> Result<UserId, ApiError> {
    Uuid::parse_str(raw).map(UserId).map_err(|_| ApiError::NotFound)
}

/// Filters of the user listing.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsersQuery {
    /// Case-insensitive substring of the email or the name (one line: no control characters).
    #[param(example = "ada", pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub q: Option<String>,
    /// Only users holding this role (an unknown role matches nobody).
    #[param(example = "moderator", pattern = "^[a-z][a-z0-9_-]{0,49}$")]
    pub role: Option<String>,
}

/// List users
///
/// Newest accounts first. `q` matches the email or the name (case-insensitive substring);
/// `role` keeps the holders of one role (an unknown role matches nobody, a malformed one
/// answers 422).
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    operation_id = "list_users",
    security(("oauth2" = []), ("bearer" = [])),
    params(UsersQuery, Pagination),
    responses(
        (status = 200, description = "One page of users", body = Paginated<UserResponse>,
            example = json!({
                "items": [{
                    "id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59",
                    "email": "ada@example.com",
                    "name": "Ada Lovelace",
                    "role": "user",
                    "is_active": true,
                    "email_verified": true,
                    "mfa_enabled": false,
                    "created_at": "2025-01-31T09:30:00.123456Z",
                    "updated_at": "2025-01-31T09:30:00.123456Z"
                }],
                "total": 1,
                "limit": 20,
                "offset": 0
            })),
        PermissionErrors,
        (status = 422, response = ValidationFailed),
        ServerErrors,
    )
)]
pub async fn list_users(
    _caller: RequirePermission<UsersRead>,
    state: Data<AppState>,
    query: Result<ApiQuery<UsersQuery>, ApiError>,
    pagination: Result<Pagination, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let (ApiQuery(query), pagination) = merge_errors(query, pagination)?;
    let page = state.user_admin.list(query.q, query.role, pagination.page()).await?;
    Ok(HttpResponse::Ok().json(Paginated::<UserResponse>::new(page, pagination)))
}

/// A user
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    tag = "users",
    operation_id = "get_user",
    security(("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = UserResponse),
        PermissionErrors,
        (status = 404, response = NotFound),
        ServerErrors,
    )
)]
pub async fn get_user(
    _caller: RequirePermission<UsersRead>,
    state: Data<AppState>,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = state.user_admin.get(user_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}

/// An administrator's change to a user: absent fields stay as they are; `null` is refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "moderator", "is_active": true}))]
pub struct UpdateUserRequest {
    /// Display name, 1..=100 characters after trimming, not only spaces, no control characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(
        nullable = false,
        example = "Ada King",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub name: Option<String>,
    /// The name of an existing role.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, example = "moderator", pattern = "^[a-z][a-z0-9_-]{0,49}$")]
    pub role: Option<String>,
    /// `false` deactivates the account and ends its sessions at once.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, example = true)]
    pub is_active: Option<bool>,
}

/// Change a user
///
/// Renames, changes the role of, activates or deactivates a user. An unknown role answers
/// 422 naming `role`. Demoting or deactivating the last active admin answers 409
/// `conflict`. Deactivating ends every session of the user: its access and refresh tokens
/// stop working at once. A role change takes effect on the user's next request. Role and
/// activity changes are audited (`user.role_changed`, `user.activated`,
/// `user.deactivated`). No privilege escalation: changing the role or the active flag needs
/// every permission of the user's current role, and a new role every permission of that
/// role too; otherwise 403 `forbidden`, audited as `access.denied`.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    tag = "users",
    operation_id = "update_user",
    security(("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The user's id")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "The changed user", body = UserResponse),
        PermissionErrors,
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        JsonBodyErrors,
        ServerErrors,
    )
)]
pub async fn update_user(
    caller: RequirePermission<UsersManage>,
    state: Data<AppState>,
    id: Path<String>,
    body: Result<ApiJson<UpdateUserRequest>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let id = user_id(&id)?;
    let ApiJson(body) = body?;
    let update = AdminUserUpdate { name: body.name, role: body.role, is_active: body.is_active };
    let user = state.user_admin.update(caller.principal(), id, update).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}

/// Delete a user
///
/// As `DELETE /api/v1/users/me` does for oneself: the account, its sessions and tokens are
/// gone at once. Deleting the last active admin answers 409 `conflict`. Audited as
/// `user.deleted`. Needs every permission of the user's role (no privilege escalation);
/// otherwise 403 `forbidden`, audited as `access.denied`.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}",
    tag = "users",
    operation_id = "delete_user",
    security(("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 204, description = "The user was deleted"),
        PermissionErrors,
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        ServerErrors,
    )
)]
pub async fn delete_user(
    caller: RequirePermission<UsersManage>,
    state: Data<AppState>,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.user_admin.delete(caller.principal(), user_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Reset a user's second factor
///
/// Turns the user's TOTP second factor off (secret and recovery codes gone) for a user who
/// lost both, and ends every session of the user. Audited as `user.mfa_reset`. Needs every
/// permission of the user's role (no privilege escalation); otherwise 403 `forbidden`,
/// audited as `access.denied`. A user without a second factor answers 204 too.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}/mfa",
    tag = "users",
    operation_id = "reset_user_mfa",
    security(("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 204, description = "The second factor is off; the user's sessions ended"),
        PermissionErrors,
        (status = 404, response = NotFound),
        ServerErrors,
    )
)]
pub async fn reset_mfa(
    caller: RequirePermission<UsersManage>,
    state: Data<AppState>,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.user_admin.reset_mfa(caller.principal(), user_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// What an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum AuditActionName {
    #[serde(rename = "role.created")]
    RoleCreated,
    #[serde(rename = "role.deleted")]
    RoleDeleted,
    #[serde(rename = "role.permission_granted")]
    RolePermissionGranted,
    #[serde(rename = "role.permission_revoked")]
    RolePermissionRevoked,
    #[serde(rename = "user.role_changed")]
    UserRoleChanged,
    #[serde(rename = "user.activated")]
    UserActivated,
    #[serde(rename = "user.deactivated")]
    UserDeactivated,
    #[serde(rename = "user.deleted")]
    UserDeleted,
    /// A refused attempt to grant, assign or act on permissions the caller does not hold.
    #[serde(rename = "access.denied")]
    AccessDenied,
    /// The user turned its second factor (TOTP) on.
    #[serde(rename = "user.mfa_enabled")]
    UserMfaEnabled,
    /// The user turned its second factor off.
    #[serde(rename = "user.mfa_disabled")]
    UserMfaDisabled,
    /// An administrator turned a user's second factor off.
    #[serde(rename = "user.mfa_reset")]
    UserMfaReset,
    /// The user set a new password through a reset link.
    #[serde(rename = "user.password_reset")]
    UserPasswordReset,
    /// The user confirmed a new email address.
    #[serde(rename = "user.email_changed")]
    UserEmailChanged,
    /// A moderator approved a review (`review:<id>`).
    #[serde(rename = "review.approved")]
    ReviewApproved,
    /// A moderator rejected a review (`review:<id>`).
    #[serde(rename = "review.rejected")]
    ReviewRejected,
}

impl From<AuditAction> for AuditActionName {
    fn from(action: AuditAction) -> Self {
        match action {
            AuditAction::RoleCreated => Self::RoleCreated,
            AuditAction::RoleDeleted => Self::RoleDeleted,
            AuditAction::RolePermissionGranted => Self::RolePermissionGranted,
            AuditAction::RolePermissionRevoked => Self::RolePermissionRevoked,
            AuditAction::UserRoleChanged => Self::UserRoleChanged,
            AuditAction::UserActivated => Self::UserActivated,
            AuditAction::UserDeactivated => Self::UserDeactivated,
            AuditAction::UserDeleted => Self::UserDeleted,
            AuditAction::AccessDenied => Self::AccessDenied,
            AuditAction::UserMfaEnabled => Self::UserMfaEnabled,
            AuditAction::UserMfaDisabled => Self::UserMfaDisabled,
            AuditAction::UserMfaReset => Self::UserMfaReset,
            AuditAction::UserPasswordReset => Self::UserPasswordReset,
            AuditAction::UserEmailChanged => Self::UserEmailChanged,
            AuditAction::ReviewApproved => Self::ReviewApproved,
            AuditAction::ReviewRejected => Self::ReviewRejected,
        }
    }
}

/// A recorded change to roles, grants, a user's role or active flag, or a user deletion.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a61",
    "at": "2025-01-31T09:30:00.123456Z",
    "actor_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59",
    "action": "role.permission_granted",
    "target": "role:editor",
    "details": {"permission": "products:update_any"}
}))]
pub struct AuditEntryResponse {
    pub id: Uuid,
    /// When the change was made.
    pub at: DateTime<Utc>,
    /// Who made it (kept after that account is deleted); `null` only for changes made
    /// outside any account.
    #[schema(required = true)]
    pub actor_id: Option<Uuid>,
    pub action: AuditActionName,
    /// `role:<name>`, `user:<id>` or `review:<id>`.
    #[schema(example = "role:editor")]
    pub target: String,
    /// What changed: `{"permission"}` for grants, `{"from","to"}` for role changes,
    /// `{"description"}` for a created role, `{"email"}` for a deleted user,
    /// `{"operation","missing"}` for a refused escalation (`access.denied`),
    /// `{"product_id","author_id","from","to"}` for a moderator's decision on a review
    /// (`from`/`to`: its moderation status), else `{}`.
    #[schema(value_type = Object)]
    pub details: Value,
}

impl From<AuditEntry> for AuditEntryResponse {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor_id: e.actor_id.map(|a| a.as_uuid()),
            action: e.action.into(),
            target: e.target,
            details: e.details,
        }
    }
}

/// Filters of the audit log.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries of this action.
    #[param(value_type = Option<AuditActionName>)]
    pub action: Option<String>,
    /// Only changes made by this user.
    #[param(value_type = Option<Uuid>)]
    pub actor_id: Option<String>,
}

impl TryFrom<AuditQuery> for AuditFilter {
    type Error = ApiError;

    /// Empty values count as absent; anything else must be known.
    fn try_from(query: AuditQuery) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let action = match query.action.as_deref().filter(|a| !a.is_empty()) {
            None => None,
            Some(raw) => AuditAction::parse(raw).or_else(|| {
                let known = AuditAction::ALL.map(AuditAction::as_str).join(", ");
                errors.push(FieldError::new("action", format!("must be one of {known}")));
                None
            }),
        };
        let actor_id = match query.actor_id.as_deref().filter(|a| !a.is_empty()) {
            None => None,
            Some(raw) => Uuid::parse_str(raw)
                .map(UserId)
                .map_err(|_| errors.push(FieldError::new("actor_id", "must be a UUID")))
                .ok(),
        };
        if errors.is_empty() { Ok(AuditFilter { action, actor_id }) } else { Err(ApiError::Validation(errors)) }
    }
}

/// The audit log
///
/// Every change to roles, grants, a user's role or active flag, and every user deletion
/// (`DELETE /users/me` included, with the user as its own actor), newest first (by time,
/// then id). An unknown `action` or a malformed `actor_id` answers 422.
#[utoipa::path(
    get,
    path = "/api/v1/admin/audit",
    tag = "roles",
    operation_id = "list_audit_entries",
    security(("oauth2" = []), ("bearer" = [])),
    params(AuditQuery, Pagination),
    responses(
        (status = 200, description = "One page of audit entries", body = Paginated<AuditEntryResponse>,
            example = json!({
                "items": [{
                    "id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a61",
                    "at": "2025-01-31T09:30:00.123456Z",
                    "actor_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59",
                    "action": "user.role_changed",
                    "target": "user:0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a60",
                    "details": {"from": "user", "to": "moderator"}
                }],
                "total": 1,
                "limit": 20,
                "offset": 0
            })),
        PermissionErrors,
        (status = 422, response = ValidationFailed),
        ServerErrors,
    )
)]
pub async fn audit_log(
    _caller: RequirePermission<RolesManage>,
    state: Data<AppState>,
    query: Result<ApiQuery<AuditQuery>, ApiError>,
    pagination: Result<Pagination, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let filter = AuditFilter::try_from(query?.0);
    let (filter, pagination) = merge_errors(filter, pagination)?;
    let page = state.access.audit_log(&filter, pagination.page()).await?;
    Ok(HttpResponse::Ok().json(Paginated::<AuditEntryResponse>::new(page, pagination)))
}
