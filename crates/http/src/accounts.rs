//! Accounts: registration and the caller's own account (`/users`, `/users/me`,
//! `/users/me/password`), with their DTOs.

use crate::bearer::Authenticated;
use crate::body::{ApiJson, present};
use crate::client::ClientInfo;
use crate::error::ApiError;
use crate::responses::{
    BearerUnauthorized, Conflict, EmailTaken, JsonBodyErrors, PasswordChangeUnauthorized, RateLimited, ServerErrors,
};
use crate::state::{API_PREFIX, AppState};
use actix_web::HttpResponse;
use actix_web::http::header;
use actix_web::web::Data;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use storefront_app::{ProfileUpdate, Registration};
use storefront_domain::{PlainPassword, User};
use utoipa::ToSchema;
use uuid::Uuid;

/// A new account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery staple", "name": "Ada Lovelace"}))]
pub struct RegisterRequest {
    /// Trimmed and lower-cased; unique regardless of case. At most 254 characters, with a
    /// dotted domain name (no IP-literal domains).
    #[schema(example = "ada@example.com", format = Email, max_length = 254)]
    pub email: String,
    /// 8..=128 characters (Unicode scalar values, any script, spaces allowed); not a common
    /// password, not the email.
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub password: String,
    /// Display name, 1..=100 characters after trimming, not only spaces, no control characters.
    #[schema(
        example = "Ada Lovelace",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub name: String,
}

impl From<RegisterRequest> for Registration {
    fn from(r: RegisterRequest) -> Self {
        Registration { email: r.email, password: PlainPassword::new(r.password), name: r.name }
    }
}

/// A user account. Never carries a password or its hash.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59",
    "email": "ada@example.com",
    "name": "Ada Lovelace",
    "role": "user",
    "is_active": true,
    "email_verified": true,
    "mfa_enabled": false,
    "created_at": "2025-01-31T09:30:00.123456Z",
    "updated_at": "2025-01-31T09:30:00.123456Z"
}))]
pub struct UserResponse {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    /// The role's name (`user`, `moderator`, `admin` or a custom role).
    #[schema(example = "user")]
    pub role: String,
    pub is_active: bool,
    /// Whether the owner proved the address (a verification link, a password reset or a
    /// confirmed email change).
    pub email_verified: bool,
    /// Whether logins need a second factor (TOTP or a recovery code).
    pub mfa_enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserResponse {
    fn from(u: User) -> Self {
        Self {
            id: u.id.as_uuid(),
            email: u.email.as_str().to_owned(),
            name: u.name.as_str().to_owned(),
            role: u.role.as_str().to_owned(),
            is_active: u.is_active,
            email_verified: u.email_verified,
            mfa_enabled: u.mfa_enabled,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// A partial profile update: absent fields stay as they are; `null` is refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Ada King"}))]
pub struct UpdateProfileRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(
        nullable = false,
        example = "Ada King",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub name: Option<String>,
    /// Only the current address (a no-op); another one answers 422: email changes go
    /// through `POST /api/v1/users/me/email`.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, example = "ada@example.com", format = Email, max_length = 254)]
    pub email: Option<String>,
}

/// A full profile replacement: both fields are required.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Ada King", "email": "ada@example.com"}))]
pub struct ReplaceProfileRequest {
    #[schema(
        example = "Ada King",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub name: String,
    /// Must be the current address (email changes go through `POST /api/v1/users/me/email`).
    #[schema(example = "ada@example.com", format = Email, max_length = 254)]
    pub email: String,
}

/// A password change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "correct horse battery staple", "new_password": "another long passphrase"}))]
pub struct ChangePasswordRequest {
    #[schema(format = Password)]
    pub current_password: String,
    /// Same policy as at registration.
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// Register an account
///
/// Creates an account with the `user` role. Rate-limited per client IP.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "accounts",
    operation_id = "register",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The account was created", body = UserResponse,
            headers(("Location" = String, description = "`/api/v1/users/{id}`"))),
        (status = 409, response = EmailTaken),
        (status = 429, response = RateLimited),
        JsonBodyErrors,
        ServerErrors,
    )
)]
pub async fn register(
    state: Data<AppState>,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let user = state.accounts.register_from(body.into(), &client).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("{API_PREFIX}/users/{}", user.id)))
        .json(UserResponse::from(user)))
}

/// The caller's account
///
/// The account the bearer token belongs to: its id, email, name, role, whether it is
/// active, and when it was created and last changed.
#[utoipa::path(
    get,
    path = "/api/v1/users/me",
    tag = "accounts",
    operation_id = "get_me",
    security(("oauth2" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The caller's account", body = UserResponse),
        (status = 401, response = BearerUnauthorized),
        ServerErrors,
    )
)]
pub async fn me(Authenticated(principal): Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(UserResponse::from(principal.user))
}

/// Update the caller's profile
///
/// Only the fields present change. Unknown fields (`role`, `is_active`…) and explicit
/// `null`s are refused with 422, never ignored. The email address cannot change here: the
/// current address is a no-op, another one answers 422 naming `email` (use
/// `POST /api/v1/users/me/email`, which confirms the new address by mail).
#[utoipa::path(
    patch,
    path = "/api/v1/users/me",
    tag = "accounts",
    operation_id = "update_me",
    security(("oauth2" = []), ("bearer" = [])),
    request_body = UpdateProfileRequest,
    responses(
        (status = 200, description = "The updated account", body = UserResponse),
        (status = 401, response = BearerUnauthorized),
        JsonBodyErrors,
        ServerErrors,
    )
)]
pub async fn update_me(
    state: Data<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<UpdateProfileRequest>,
) -> Result<HttpResponse, ApiError> {
    let update = ProfileUpdate { name: body.name, email: body.email };
    let user = state.accounts.update_profile(&principal, update).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}

/// Replace the caller's profile
///
/// Both `name` and `email` are required; `email` must be the current address (another one
/// answers 422 naming `email`: use `POST /api/v1/users/me/email`).
#[utoipa::path(
    put,
    path = "/api/v1/users/me",
    tag = "accounts",
    operation_id = "replace_me",
    security(("oauth2" = []), ("bearer" = [])),
    request_body = ReplaceProfileRequest,
    responses(
        (status = 200, description = "The updated account", body = UserResponse),
        (status = 401, response = BearerUnauthorized),
        JsonBodyErrors,
        ServerErrors,
    )
)]
pub async fn replace_me(
    state: Data<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<ReplaceProfileRequest>,
) -> Result<HttpResponse, ApiError> {
    let update = ProfileUpdate { name: Some(body.name), email: Some(body.email) };
    let user = state.accounts.update_profile(&principal, update).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}

/// Delete the caller's account
///
/// The account, its sessions and tokens are gone at once; its access tokens stop working.
/// Audited as `user.deleted` with the user as its own actor. The last active admin cannot
/// delete itself (409 `conflict`): another admin must exist first.
#[utoipa::path(
    delete,
    path = "/api/v1/users/me",
    tag = "accounts",
    operation_id = "delete_me",
    security(("oauth2" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "The account was deleted"),
        (status = 401, response = BearerUnauthorized),
        (status = 409, response = Conflict),
        ServerErrors,
    )
)]
pub async fn delete_me(
    state: Data<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    state.user_admin.delete(&principal, principal.user.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Change the caller's password
///
/// Every other session of the caller ends (their refresh and access tokens stop working);
/// the session of the token used here stays. A wrong current password counts as a failed
/// login against the account's and the client IP's login limits: over either, 429
/// `rate_limited` + `Retry-After`, even with the right password. When the password-hashing
/// queue is full, 503 `service_unavailable` + `Retry-After` at once.
#[utoipa::path(
    post,
    path = "/api/v1/users/me/password",
    tag = "accounts",
    operation_id = "change_password",
    security(("oauth2" = []), ("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "The password was changed"),
        (status = 401, response = PasswordChangeUnauthorized),
        (status = 429, response = RateLimited),
        JsonBodyErrors,
        ServerErrors,
    )
)]
pub async fn change_password(
    state: Data<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let current = PlainPassword::new(body.current_password);
    let new = PlainPassword::new(body.new_password);
    state.accounts.change_password(&principal, &current, &new, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}
