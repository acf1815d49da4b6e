//! The account life cycle over HTTP: verifying the email address, resetting a forgotten
//! password and changing the address, each completed by posting back a mailed link's
//! token (the front end at `public.app_url` reads it from its own URL and POSTs it, so the
//! token never travels in a request line or a `Referer` to the API).

use crate::accounts::UserResponse;
use crate::bearer::Authenticated;
use crate::body::ApiJson;
use crate::client::ClientInfo;
use crate::error::ApiError;
use crate::responses::{
    BearerUnauthorized, Conflict, EmailTaken, JsonBodyErrors, LinkRejected, MalformedBody, PasswordChangeUnauthorized,
    PayloadTooLarge, RateLimited, ResetRejected, ServerErrors, UnsupportedMediaType,
};
use crate::state::AppState;
use actix_web::HttpResponse;
use actix_web::web::Data;
use serde::Deserialize;
use storefront_domain::PlainPassword;
use utoipa::ToSchema;

/// A link's token, as the front end read it from the link's `?token=`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "q3Jt0Z2y1bYh3kqM6b8sS9yX0vD4eW7nJ5rT2uL1oPc"}))]
pub struct LinkTokenRequest {
    pub token: String,
}

/// The address to mail a reset link to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com"}))]
pub struct ForgotPasswordRequest {
    pub email: String,
}

/// A reset link's token and the new password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "q3Jt0Z2y1bYh3kqM6b8sS9yX0vD4eW7nJ5rT2uL1oPc", "new_password": "another long passphrase"}))]
pub struct ResetPasswordRequest {
    pub token: String,
    /// Same policy as at registration.
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// The new address and the current password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"new_email": "ada.king@example.com", "current_password": "correct horse battery staple"}))]
pub struct ChangeEmailRequest {
    pub new_email: String,
    #[schema(format = Password)]
    pub current_password: String,
}

/// Mail a verification link
///
/// Mails a new verification link to the caller's address (registration mails one too).
/// The link is `{public.app_url}/verify-email?token=…`, valid 24 hours (config), single
/// use. At most 3 per account per hour (429 `rate_limited` + `Retry-After`); 409
/// `conflict` when the address is verified already.
#[utoipa::path(
    post,
    path = "/api/v1/auth/email/verification",
    tag = "auth",
    operation_id = "request_email_verification",
    security(("oauth2" = []), ("bearer" = [])),
    responses(
        (status = 202, description = "A verification mail is on its way"),
        (status = 401, response = BearerUnauthorized),
        (status = 409, response = Conflict),
        (status = 429, response = RateLimited),
        ServerErrors,
    )
)]
pub async fn request_verification(
    state: Data<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    state.lifecycle.request_verification(&principal).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Verify the email address
///
/// Spends a verification link's token: the address it was mailed to is verified (if the
/// account still has it). An unknown, used or expired token answers 422 `invalid_link`.
#[utoipa::path(
    post,
    path = "/api/v1/auth/email/verify",
    tag = "auth",
    operation_id = "verify_email",
    request_body = LinkTokenRequest,
    responses(
        (status = 200, description = "The account, with `email_verified: true`", body = UserResponse),
        (status = 400, response = MalformedBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = LinkRejected),
        ServerErrors,
    )
)]
pub async fn verify_email(
    state: Data<AppState>,
    ApiJson(body): ApiJson<LinkTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let user = state.lifecycle.verify_email(&body.token).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}

/// Ask for a password-reset link
///
/// Always 202 with no body, in about the same time, whether an account has the address, is
/// deactivated or not (no account enumeration): the request only queues the work; an
/// active account with the address gets a link `{public.app_url}/reset-password?token=…`,
/// single use, valid 30 minutes (config). Limited per client IP and per address (429
/// `rate_limited` + `Retry-After`). A malformed address answers 422.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password/forgot",
    tag = "auth",
    operation_id = "forgot_password",
    request_body = ForgotPasswordRequest,
    responses(
        (status = 202, description = "If an active account has this address, a reset link is on its way"),
        (status = 429, response = RateLimited),
        JsonBodyErrors,
        ServerErrors,
    )
)]
pub async fn forgot_password(
    state: Data<AppState>,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<ForgotPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    state.lifecycle.forgot_password(&body.email, &client).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Reset the password
///
/// Spends a reset link's token and sets the new password (the registration policy, 422
/// naming `new_password`). Every session of the account ends, the address counts as
/// verified (the link proved it), and a "your password was changed" notice is mailed.
/// Audited `user.password_reset`. An unknown, used or expired token answers 422
/// `invalid_link`.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password/reset",
    tag = "auth",
    operation_id = "reset_password",
    request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "The password was reset; every session ended"),
        (status = 400, response = MalformedBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ResetRejected),
        ServerErrors,
    )
)]
pub async fn reset_password(
    state: Data<AppState>,
    ApiJson(body): ApiJson<ResetPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    state.lifecycle.reset_password(&body.token, &PlainPassword::new(body.new_password)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Change the email address
///
/// After the current password (a wrong one is a failed login: 401 `invalid_credentials`,
/// counted against the account's and the IP's login limits, 429 beyond), mails a link
/// `{public.app_url}/confirm-email-change?token=…` (single use, 24 hours) to the new
/// address and a notice to the current one. The address changes only once the link is
/// confirmed. 409 `email_taken` when another account has the new address; 422 when it is
/// malformed or the current one.
#[utoipa::path(
    post,
    path = "/api/v1/users/me/email",
    tag = "accounts",
    operation_id = "change_email",
    security(("oauth2" = []), ("bearer" = [])),
    request_body = ChangeEmailRequest,
    responses(
        (status = 202, description = "A confirmation link is on its way to the new address"),
        (status = 401, response = PasswordChangeUnauthorized),
        (status = 409, response = EmailTaken),
        (status = 429, response = RateLimited),
        JsonBodyErrors,
        ServerErrors,
    )
)]
pub async fn change_email(
    state: Data<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<ChangeEmailRequest>,
) -> Result<HttpResponse, ApiError> {
    let current = PlainPassword::new(body.current_password);
    state.lifecycle.request_email_change(&principal, &body.new_email, &current, &client).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Confirm an email change
///
/// Spends an email-change link's token: the account has the new address, verified.
/// Audited `user.email_changed`. 409 `email_taken` when another account took the address
/// meanwhile; 422 `invalid_link` for an unknown, used or expired token.
#[utoipa::path(
    post,
    path = "/api/v1/auth/email/confirm-change",
    tag = "auth",
    operation_id = "confirm_email_change",
    request_body = LinkTokenRequest,
    responses(
        (status = 200, description = "The account with its new, verified address", body = UserResponse),
        (status = 409, response = EmailTaken),
        (status = 400, response = MalformedBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = LinkRejected),
        ServerErrors,
    )
)]
pub async fn confirm_email_change(
    state: Data<AppState>,
    ApiJson(body): ApiJson<LinkTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let user = state.lifecycle.confirm_email_change(&body.token).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}
