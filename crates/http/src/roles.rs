//! Roles and permissions: the permission catalogue (`/permissions`), roles and their grants
//! (`/roles`, `/roles/{name}/permissions/{permission}`) and the caller's own permissions
//! (`/users/me/permissions`), with their DTOs.
//!
//! A protected handler takes `RequirePermission<P>` first and its body as a `Result`
//! unwrapped in the handler, so 401 and 403 answer before anything is said about the
//! request's shape, however soon each extractor completes.

use crate::bearer::Authenticated;
use crate::body::ApiJson;
use crate::error::ApiError;
use crate::permissions::{RequirePermission, RolesManage};
use crate::responses::{BearerUnauthorized, Conflict, JsonBodyErrors, NotFound, PermissionErrors, ServerErrors};
use crate::state::{API_PREFIX, AppState};
use actix_web::HttpResponse;
use actix_web::http::header;
use actix_web::web::{Data, Path};
use serde::{Deserialize, Serialize};
use storefront_domain::{Permission, Role};
use utoipa::ToSchema;

/// A permission of the fixed catalogue the code checks.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"name": "users:read", "description": "List and read user accounts"}))]
pub struct PermissionResponse {
    #[schema(example = "users:read")]
    pub name: &'static str,
    pub description: &'static str,
}

impl From<Permission> for PermissionResponse {
    fn from(p: Permission) -> Self {
        Self { name: p.as_str(), description: p.description() }
    }
}

/// Permission names, sorted.
fn sorted_names(permissions: impl IntoIterator<Item = Permission>) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = permissions.into_iter().map(Permission::as_str).collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// A role and the permissions it grants (`admin` always grants every one).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "name": "editor",
    "description": "Curates the catalogue",
    "builtin": false,
    "permissions": ["categories:manage", "products:update_any"]
}))]
pub struct RoleResponse {
    /// 1..=50 of `[a-z0-9_-]`, starting with a letter.
    #[schema(example = "editor")]
    pub name: String,
    pub description: String,
    /// `user`, `moderator` and `admin` are built in: they cannot be deleted.
    pub builtin: bool,
    /// The names of the granted permissions, sorted.
    pub permissions: Vec<&'static str>,
}

impl From<Role> for RoleResponse {
    fn from(r: Role) -> Self {
        Self {
            name: r.name.as_str().to_owned(),
            description: r.description,
            builtin: r.builtin,
            permissions: sorted_names(r.permissions),
        }
    }
}

/// A new role; it starts with no permission.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "editor", "description": "Curates the catalogue"}))]
pub struct CreateRoleRequest {
    /// 1..=50 of `[a-z0-9_-]`, starting with a letter.
    #[schema(example = "editor", min_length = 1, max_length = 50, pattern = "^[a-z][a-z0-9_-]{0,49}$")]
    pub name: String,
    /// At most 500 characters after trimming; `""` when absent.
    #[serde(default)]
    #[schema(
        nullable = false,
        max_length = 500,
        default = "",
        example = "Curates the catalogue",
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
    )]
    pub description: String,
}

/// The caller's role and effective permissions.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"role": "user", "permissions": ["ai:use", "products:create"]}))]
pub struct MyPermissionsResponse {
    #[schema(example = "user")]
    pub role: String,
    /// The names of the caller's permissions, sorted.
    pub permissions: Vec<&'static str>,
}

/// The permission catalogue
///
/// Every permission the code checks (a fixed list), with what it allows.
#[utoipa::path(
    get,
    path = "/api/v1/permissions",
    tag = "roles",
    operation_id = "list_permissions",
    security(("oauth2" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Every permission", body = [PermissionResponse]),
        PermissionErrors,
        ServerErrors,
    )
)]
pub async fn list_permissions(_caller: RequirePermission<RolesManage>, state: Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .json(state.access.permissions().iter().copied().map(PermissionResponse::from).collect::<Vec<_>>())
}

/// The roles
///
/// Every role with its grants, ordered by name (a complete, unpaginated list).
#[utoipa::path(
    get,
    path = "/api/v1/roles",
    tag = "roles",
    operation_id = "list_roles",
    security(("oauth2" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Every role", body = [RoleResponse]),
        PermissionErrors,
        ServerErrors,
    )
)]
pub async fn list_roles(
    _caller: RequirePermission<RolesManage>,
    state: Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let roles = state.access.roles().await?;
    Ok(HttpResponse::Ok().json(roles.into_iter().map(RoleResponse::from).collect::<Vec<_>>()))
}

/// Create a role
///
/// The role starts with no permission; grant them one by one. Audited as `role.created`.
#[utoipa::path(
    post,
    path = "/api/v1/roles",
    tag = "roles",
    operation_id = "create_role",
    security(("oauth2" = []), ("bearer" = [])),
    request_body = CreateRoleRequest,
    responses(
        (status = 201, description = "The role was created", body = RoleResponse,
            headers(("Location" = String, description = "`/api/v1/roles/{name}`"))),
        PermissionErrors,
        (status = 409, response = Conflict),
        JsonBodyErrors,
        ServerErrors,
    )
)]
pub async fn create_role(
    caller: RequirePermission<RolesManage>,
    state: Data<AppState>,
    body: Result<ApiJson<CreateRoleRequest>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let ApiJson(body) = body?;
    let role = state.access.create_role(caller.principal(), &body.name, &body.description).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("{API_PREFIX}/roles/{}", role.name)))
        .json(RoleResponse::from(role)))
}

/// A role
///
/// The role the `Location` of its creation names.
#[utoipa::path(
    get,
    path = "/api/v1/roles/{name}",
    tag = "roles",
    operation_id = "get_role",
    security(("oauth2" = []), ("bearer" = [])),
    params(("name" = String, Path, description = "The role's name", example = "editor")),
    responses(
        (status = 200, description = "The role", body = RoleResponse),
        PermissionErrors,
        (status = 404, response = NotFound),
        ServerErrors,
    )
)]
pub async fn get_role(
    _caller: RequirePermission<RolesManage>,
    state: Data<AppState>,
    name: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let role = state.access.roles().await?.into_iter().find(|r| r.name.as_str() == name.as_str());
    let role = role.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(RoleResponse::from(role)))
}

/// Delete a role
///
/// A built-in role (`user`, `moderator`, `admin`) or one still held by a user cannot be
/// deleted (409 `conflict`). Audited as `role.deleted`.
#[utoipa::path(
    delete,
    path = "/api/v1/roles/{name}",
    tag = "roles",
    operation_id = "delete_role",
    security(("oauth2" = []), ("bearer" = [])),
    params(("name" = String, Path, description = "The role's name", example = "editor")),
    responses(
        (status = 204, description = "The role was deleted"),
        PermissionErrors,
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        ServerErrors,
    )
)]
pub async fn delete_role(
    caller: RequirePermission<RolesManage>,
    state: Data<AppState>,
    name: Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.access.delete_role(caller.principal(), &name).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Grant a permission to a role
///
/// Idempotent: granting a permission the role holds answers 204 and records nothing. The
/// grants of `admin` cannot change (409 `conflict`); it always holds every permission.
/// Holders of the role have it from their next request. Audited as
/// `role.permission_granted`. No privilege escalation: only a caller that holds the
/// permission may grant it; otherwise 403 `forbidden`, audited as `access.denied`.
#[utoipa::path(
    put,
    path = "/api/v1/roles/{name}/permissions/{permission}",
    tag = "roles",
    operation_id = "grant_permission",
    security(("oauth2" = []), ("bearer" = [])),
    params(
        ("name" = String, Path, description = "The role's name", example = "editor"),
        ("permission" = String, Path, description = "A permission's name", example = "users:read"),
    ),
    responses(
        (status = 204, description = "The role holds the permission"),
        PermissionErrors,
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        ServerErrors,
    )
)]
pub async fn grant_permission(
    caller: RequirePermission<RolesManage>,
    state: Data<AppState>,
    path: Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (role, permission) = path.into_inner();
    state.access.set_grant(caller.principal(), &role, &permission, true).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Revoke a permission from a role
///
/// Idempotent: revoking a permission the role does not hold answers 204 and records
/// nothing. The grants of `admin` cannot change (409 `conflict`). Holders of the role lose
/// it from their next request. Audited as `role.permission_revoked`.
#[utoipa::path(
    delete,
    path = "/api/v1/roles/{name}/permissions/{permission}",
    tag = "roles",
    operation_id = "revoke_permission",
    security(("oauth2" = []), ("bearer" = [])),
    params(
        ("name" = String, Path, description = "The role's name", example = "editor"),
        ("permission" = String, Path, description = "A permission's name", example = "users:read"),
    ),
    responses(
        (status = 204, description = "The role does not hold the permission"),
        PermissionErrors,
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        ServerErrors,
    )
)]
pub async fn revoke_permission(
    caller: RequirePermission<RolesManage>,
    state: Data<AppState>,
    path: Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (role, permission) = path.into_inner();
    state.access.set_grant(caller.principal(), &role, &permission, false).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's permissions
///
/// The caller's role and the permissions it grants now (read afresh on every request).
#[utoipa::path(
    get,
    path = "/api/v1/users/me/permissions",
    tag = "accounts",
    operation_id = "get_my_permissions",
    security(("oauth2" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The caller's role and permissions", body = MyPermissionsResponse),
        (status = 401, response = BearerUnauthorized),
        ServerErrors,
    )
)]
pub async fn my_permissions(Authenticated(principal): Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(MyPermissionsResponse {
        role: principal.user.role.as_str().to_owned(),
        permissions: sorted_names(principal.permissions.iter()),
    })
}
