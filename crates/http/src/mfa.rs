//! The second factor over HTTP: enrolling, confirming and turning off a TOTP authenticator
//! (`/users/me/mfa/totp`), and the login's second step (`/auth/mfa`).

use crate::auth::TokenResponse;
use crate::auth::token_response;
use crate::bearer::Authenticated;
use crate::body::ApiJson;
use crate::client::ClientInfo;
use crate::error::ApiError;
use crate::responses::{
    Conflict, EnrolmentRejected, JsonBodyErrors, MalformedBody, MfaUnauthorized, PasswordChangeUnauthorized,
    PayloadTooLarge, RateLimited, SecondFactorUnauthorized, ServerErrors, UnsupportedMediaType,
};
use crate::state::AppState;
use actix_web::HttpResponse;
use actix_web::web::Data;
use serde::{Deserialize, Serialize};
use storefront_domain::PlainPassword;
use utoipa::ToSchema;

/// The current password, to start an enrolment.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "correct horse battery staple"}))]
pub struct EnrolTotpRequest {
    #[schema(format = Password)]
    pub current_password: String,
}

/// What an authenticator app needs; shown once.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    "otpauth_uri": "otpauth://totp/Storefront:ada%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Storefront&algorithm=SHA1&digits=6&period=30",
    "qr_svg": "<?xml version=\"1.0\" standalone=\"yes\"?><svg xmlns=\"http://www.w3.org/2000/svg\" …</svg>"
}))]
pub struct TotpEnrolmentResponse {
    /// The shared secret, base32 (160 bits), for typing into an app by hand.
    pub secret: String,
    /// The `otpauth://totp/…` provisioning URI (SHA-1, 6 digits, 30 s).
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document drawn by the server.
    pub qr_svg: String,
}

/// A TOTP code from the authenticator app.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "492039"}))]
pub struct ConfirmTotpRequest {
    pub code: String,
}

/// The recovery codes: each works once in place of a TOTP code. Shown only now.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"recovery_codes": ["k7mzq-4rt2a", "b3xw6-pn5ye", "…"]}))]
pub struct RecoveryCodesResponse {
    pub recovery_codes: Vec<String>,
}

/// The current password and a code, to turn the second factor off.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "correct horse battery staple", "code": "492039"}))]
pub struct DisableTotpRequest {
    #[schema(format = Password)]
    pub current_password: String,
    /// A TOTP code or a recovery code.
    pub code: String,
}

/// The login's second step.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"mfa_token": "hT4f0Q3c8Jw9vP1xk2LzR5sN7aY6mB0dE3gU9iO2qWc", "code": "492039"}))]
pub struct MfaLoginRequest {
    /// From the `mfa_required` answer of the login.
    pub mfa_token: String,
    /// A TOTP code (6 digits) or a recovery code (`xxxxx-xxxxx`).
    pub code: String,
}

/// Start a TOTP enrolment
///
/// After the current password (a wrong one is a failed login: 401 `invalid_credentials`,
/// 429 beyond the limits), creates a new secret and answers it with its `otpauth://` URI
/// and a QR code (SVG, drawn by the server). The second factor stays off until
/// `POST /users/me/mfa/totp/confirm` with a first code; starting again replaces a pending
/// secret. 409 `conflict` when the second factor is already on.
#[utoipa::path(
    post,
    path = "/api/v1/users/me/mfa/totp",
    tag = "accounts",
    operation_id = "enrol_totp",
    security(("oauth2" = []), ("bearer" = [])),
    request_body = EnrolTotpRequest,
    responses(
        (status = 201, description = "The pending secret, shown once", body = TotpEnrolmentResponse),
        (status = 401, response = PasswordChangeUnauthorized),
        (status = 409, response = Conflict),
        (status = 429, response = RateLimited),
        JsonBodyErrors,
        ServerErrors,
    )
)]
pub async fn enrol_totp(
    state: Data<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<EnrolTotpRequest>,
) -> Result<HttpResponse, ApiError> {
    let current = PlainPassword::new(body.current_password);
    let enrolment = state.second_factor.enrol(&principal, &current, &client).await?;
    Ok(HttpResponse::Created().json(TotpEnrolmentResponse {
        secret: enrolment.secret,
        otpauth_uri: enrolment.otpauth_uri,
        qr_svg: enrolment.qr_svg,
    }))
}

/// Confirm the TOTP enrolment
///
/// A first code from the app (the current 30-second step or a neighbour) turns the second
/// factor on and answers ten recovery codes, shown only now and stored hashed; each works
/// once in place of a TOTP code. Audited `user.mfa_enabled`. A wrong code answers 422
/// `invalid_code`; 409 `conflict` with no enrolment pending or the factor already on.
#[utoipa::path(
    post,
    path = "/api/v1/users/me/mfa/totp/confirm",
    tag = "accounts",
    operation_id = "confirm_totp",
    security(("oauth2" = []), ("bearer" = [])),
    request_body = ConfirmTotpRequest,
    responses(
        (status = 200, description = "The second factor is on; the recovery codes, shown once", body = RecoveryCodesResponse),
        (status = 400, response = MalformedBody),
        (status = 401, response = crate::responses::BearerUnauthorized),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = EnrolmentRejected),
        ServerErrors,
    )
)]
pub async fn confirm_totp(
    state: Data<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<ConfirmTotpRequest>,
) -> Result<HttpResponse, ApiError> {
    let recovery_codes = state.second_factor.confirm(&principal, &body.code).await?;
    Ok(HttpResponse::Ok().json(RecoveryCodesResponse { recovery_codes }))
}

/// Turn the second factor off
///
/// Needs the current password and a code (TOTP or recovery); wrong ones are failed logins
/// (401 `invalid_credentials` / `invalid_code`, 429 beyond the limits). Every other session
/// of the caller ends; this one stays. Audited `user.mfa_disabled`. 409 `conflict` when the
/// second factor is off.
#[utoipa::path(
    delete,
    path = "/api/v1/users/me/mfa/totp",
    tag = "accounts",
    operation_id = "disable_totp",
    security(("oauth2" = []), ("bearer" = [])),
    request_body = DisableTotpRequest,
    responses(
        (status = 204, description = "The second factor is off"),
        (status = 401, response = SecondFactorUnauthorized),
        (status = 409, response = Conflict),
        (status = 429, response = RateLimited),
        JsonBodyErrors,
        ServerErrors,
    )
)]
pub async fn disable_totp(
    state: Data<AppState>,
    Authenticated(principal): Authenticated,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<DisableTotpRequest>,
) -> Result<HttpResponse, ApiError> {
    let current = PlainPassword::new(body.current_password);
    state.second_factor.disable(&principal, &current, &body.code, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Log in: the second factor
///
/// The second step of a login whose password was right for an account with a second
/// factor (`mfa_required` from `/auth/login`, or from `/auth/token` as an OAuth2 error):
/// the `mfa_token` and a TOTP code (each code works once) or a recovery code. A wrong code
/// answers 401 `invalid_code` and counts as a failed login of the account (429 beyond the
/// limit) while the `mfa_token` stays usable; the `mfa_token` is single use once it
/// succeeds and expires after 5 minutes (401 `invalid_token`).
#[utoipa::path(
    post,
    path = "/api/v1/auth/mfa",
    tag = "auth",
    operation_id = "login_mfa",
    request_body = MfaLoginRequest,
    responses(
        (status = 200, description = "Tokens issued", body = TokenResponse,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 401, response = MfaUnauthorized),
        (status = 429, response = RateLimited),
        JsonBodyErrors,
        ServerErrors,
    )
)]
pub async fn login_mfa(
    state: Data<AppState>,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<MfaLoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let pair = state.auth.complete_mfa(&body.mfa_token, &body.code, client).await?;
    Ok(token_response(pair))
}
