//! Authentication: the OAuth2 token endpoint, JSON login/refresh/logout, and the caller's
//! sessions (`/auth/...`), with their DTOs.

use crate::bearer::Authenticated;
use crate::body::{ApiJson, FormBody};
use crate::client::ClientInfo;
use crate::error::{ApiError, OAuthError, OAuthErrorCode};
use crate::responses::{
    BearerUnauthorized, InvalidRefreshToken, JsonBodyErrors, LoginUnauthorized, NotFound, OAuthMfaRequired,
    OAuthTokenError, PayloadTooLarge, RateLimited, ServerErrors, UnsupportedMediaType,
};
use crate::state::AppState;
use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{Data, Path};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use storefront_app::{AppError, SessionView, TokenPair};
use storefront_domain::{PlainPassword, SessionId};
use utoipa::ToSchema;
use uuid::Uuid;

/// A successful token response (RFC 6749 §5.1), sent with `Cache-Control: no-store`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl",
    "token_type": "Bearer",
    "expires_in": 1800,
    "refresh_token": "q3Jt0Z2y1bYh3kqM6b8sS9yX0vD4eW7nJ5rT2uL1oPc"
}))]
pub struct TokenResponse {
    /// A JWT (HS256) to send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 1800)]
    pub expires_in: i64,
    /// Opaque, single use: each refresh returns a new one and retires the old.
    pub refresh_token: String,
}

impl From<TokenPair> for TokenResponse {
    fn from(p: TokenPair) -> Self {
        Self {
            access_token: p.access_token,
            token_type: "Bearer",
            expires_in: p.expires_in,
            refresh_token: p.refresh_token,
        }
    }
}

pub(crate) fn token_response(pair: TokenPair) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")))
        .json(TokenResponse::from(pair))
}

/// The OAuth2 token request form (documentation only: the endpoint parses the form itself).
#[derive(ToSchema)]
#[schema(example = json!({"grant_type": "password", "username": "ada@example.com", "password": "correct horse battery staple"}))]
#[allow(dead_code)]
pub struct TokenForm {
    #[schema(example = "password")]
    grant_type: GrantTypeName,
    /// For `grant_type=password`: the account's email.
    #[schema(nullable = false)]
    username: Option<String>,
    /// For `grant_type=password`.
    #[schema(format = Password, nullable = false)]
    password: Option<String>,
    /// For `grant_type=refresh_token`.
    #[schema(nullable = false)]
    refresh_token: Option<String>,
    /// For `grant_type=urn:storefront:grant-type:mfa-otp`: from the `mfa_required` error.
    #[schema(nullable = false)]
    mfa_token: Option<String>,
    /// For `grant_type=urn:storefront:grant-type:mfa-otp`: a TOTP or recovery code.
    #[schema(nullable = false)]
    otp: Option<String>,
    /// Accepted and ignored: tokens carry no scopes; permissions come from the role.
    #[schema(nullable = false)]
    scope: Option<String>,
    /// Accepted and ignored: every client is public.
    #[schema(nullable = false)]
    client_id: Option<String>,
}

// Documentation only (`TokenGrant` parses the form): clients get an enum, not a free string.
/// The grant asked for.
#[derive(ToSchema)]
#[schema(as = GrantType, rename_all = "snake_case")]
#[allow(dead_code)]
enum GrantTypeName {
    /// The password grant (RFC 6749 §4.3): `username` and `password`.
    Password,
    /// A refresh (RFC 6749 §6): `refresh_token`.
    RefreshToken,
    /// The second step of a login with a second factor: `mfa_token` and `otp`.
    #[schema(rename = "urn:storefront:grant-type:mfa-otp")]
    MfaOtp,
}

/// A grant, as parsed from the token endpoint's form.
enum TokenGrant {
    Password {
        username: String,
        password: PlainPassword,
    },
    RefreshToken(String),
    /// The second factor of a password grant that answered `mfa_required`.
    MfaOtp {
        mfa_token: String,
        otp: String,
    },
}

/// The grant type of a login's second step (an extension grant, RFC 6749 §4.5).
pub const MFA_OTP_GRANT: &str = "urn:storefront:grant-type:mfa-otp";

fn invalid_request(description: impl Into<String>) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidRequest, description)
}

/// A parameter name as echoed in an error description (bounded, it comes from the client).
fn shown(name: &str) -> String {
    name.chars().take(64).collect()
}

impl TokenGrant {
    /// RFC 6749: parameters must not repeat, empty ones count as absent, unknown ones are
    /// ignored (`scope`, `client_id`, `client_secret`…).
    fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| invalid_request("The body is not a valid application/x-www-form-urlencoded form."))?;
        let mut params = BTreeMap::new();
        for (name, value) in pairs {
            if params.contains_key(&name) {
                return Err(invalid_request(format!("The parameter `{}` is repeated.", shown(&name))));
            }
            params.insert(name, value);
        }
        let require = |name: &str| {
            params
                .get(name)
                .filter(|v| !v.is_empty())
                .cloned()
                .ok_or_else(|| invalid_request(format!("The parameter `{name}` is missing.")))
        };
        match require("grant_type")?.as_str() {
            "password" => Ok(TokenGrant::Password {
                username: require("username")?,
                password: PlainPassword::new(require("password")?),
            }),
            "refresh_token" => Ok(TokenGrant::RefreshToken(require("refresh_token")?)),
            MFA_OTP_GRANT => Ok(TokenGrant::MfaOtp { mfa_token: require("mfa_token")?, otp: require("otp")? }),
            other => Err(OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                format!(
                    "The grant type `{}` is not supported; use `password`, `refresh_token` or `{MFA_OTP_GRANT}`.",
                    shown(other)
                ),
            )),
        }
    }
}

/// OAuth2 token endpoint
///
/// RFC 6749 password grant (§4.3) and refresh (§6) for **public clients**. The body is an
/// `application/x-www-form-urlencoded` form (another media type answers 415). A
/// `client_id`, `client_secret` or `scope` parameter, and an `Authorization: Basic` header
/// (as OAuth2 libraries and Swagger UI send), are accepted and ignored.
///
/// The password grant exists for first-party clients and for Swagger UI's Authorize button
/// only: RFC 9700 (OAuth 2.0 Security Best Current Practice) discourages it for third-party
/// clients, which should not be handed users' passwords.
///
/// Grant errors follow RFC 6749 §5.2 (plain `application/json`, not problem details, with
/// `Cache-Control: no-store`): a missing or repeated parameter is `invalid_request`, another
/// grant type `unsupported_grant_type`, and wrong credentials or a bad refresh token
/// `invalid_grant`, all with status 400. Refresh tokens rotate exactly as on
/// `/api/v1/auth/refresh`.
///
/// Rate-limited like `/auth/login` and `/auth/refresh` (per client IP for each grant, and
/// failed password grants per account): over a limit it answers 429 `rate_limited` as
/// problem details with `Retry-After`, not as an OAuth2 error.
///
/// **Second factor.** For an account with TOTP on, a right password grant answers 403
/// `{"error":"mfa_required","error_description":…,"mfa_token":…}`; the login continues with
/// `grant_type=urn:storefront:grant-type:mfa-otp&mfa_token=…&otp=…` (a TOTP or recovery
/// code; a wrong one is `invalid_grant` and a failed login of the account), or at
/// `POST /api/v1/auth/mfa`. Swagger UI's **Authorize** button cannot do this second step:
/// for such an account, log in with `/api/v1/auth/login` and `/api/v1/auth/mfa` and paste
/// the access token into the `bearer` scheme.
#[utoipa::path(
    post,
    path = "/api/v1/auth/token",
    tag = "auth",
    operation_id = "token",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Tokens issued", body = TokenResponse,
            headers(("Cache-Control" = String, description = "`no-store`"), ("Pragma" = String, description = "`no-cache`"))),
        (status = 400, response = OAuthTokenError),
        (status = 403, response = OAuthMfaRequired),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 429, response = RateLimited),
        ServerErrors,
    )
)]
pub async fn token(
    state: Data<AppState>,
    ClientInfo(client): ClientInfo,
    FormBody(body): FormBody,
) -> Result<HttpResponse, ApiError> {
    let (outcome, refusal) = match TokenGrant::parse(&body)? {
        TokenGrant::Password { username, password } => {
            (state.auth.login(&username, &password, client).await, "The username or password is not valid.")
        }
        TokenGrant::RefreshToken(token) => {
            (state.auth.refresh(&token, &client).await, "The refresh token is invalid, expired or revoked.")
        }
        TokenGrant::MfaOtp { mfa_token, otp } => (
            state.auth.complete_mfa(&mfa_token, &otp, client).await,
            "The mfa_token is invalid or expired, or the code is not valid.",
        ),
    };
    match outcome {
        Ok(pair) => Ok(token_response(pair)),
        Err(AppError::InvalidCredentials | AppError::InvalidToken | AppError::InvalidCode) => {
            Err(OAuthError::new(OAuthErrorCode::InvalidGrant, refusal).into())
        }
        Err(AppError::MfaRequired { mfa_token }) => Err(OAuthError {
            mfa_token: Some(mfa_token),
            ..OAuthError::new(
                OAuthErrorCode::MfaRequired,
                format!(
                    "The account has a second factor: present the mfa_token with a code (grant_type={MFA_OTP_GRANT}, \
                     or POST /api/v1/auth/mfa)."
                ),
            )
        }
        .into()),
        Err(other) => Err(other.into()),
    }
}

/// Email and password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery staple"}))]
pub struct LoginRequest {
    pub email: String,
    #[schema(format = Password)]
    pub password: String,
}

/// Log in
///
/// Starts a session (one refresh-token family) for this device. An unknown email, a wrong
/// password and a deactivated account all answer the same 401, in about the same time.
///
/// Rate-limited per client IP, and per account for failed logins: once an account has had
/// too many failed logins (10 in 15 minutes by default) every login of it answers 429, even
/// with the right password, until the window ends.
///
/// For an account with a second factor, the right password answers 401 `mfa_required`
/// with an `mfa_token` member in the problem: POST it with a code to `/api/v1/auth/mfa`.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    operation_id = "login",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Tokens issued", body = TokenResponse,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 401, response = LoginUnauthorized),
        (status = 429, response = RateLimited),
        JsonBodyErrors,
        ServerErrors,
    )
)]
pub async fn login(
    state: Data<AppState>,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let pair = state.auth.login(&body.email, &PlainPassword::new(body.password), client).await?;
    Ok(token_response(pair))
}

/// A refresh token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "q3Jt0Z2y1bYh3kqM6b8sS9yX0vD4eW7nJ5rT2uL1oPc"}))]
pub struct RefreshTokenRequest {
    pub refresh_token: String,
}

/// Refresh the tokens
///
/// Spends the refresh token for a new pair. Presenting a spent token again revokes its
/// whole session (theft detection, RFC 9700 §4.14.2), except within a short grace period
/// after its rotation (two tabs refreshing at once), which answers 401 without revoking
/// anything. Of concurrent refreshes with one token exactly one succeeds. Rate-limited per
/// client IP.
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    operation_id = "refresh",
    request_body = RefreshTokenRequest,
    responses(
        (status = 200, description = "Tokens issued", body = TokenResponse,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 401, response = InvalidRefreshToken),
        (status = 429, response = RateLimited),
        JsonBodyErrors,
        ServerErrors,
    )
)]
pub async fn refresh(
    state: Data<AppState>,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<RefreshTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let pair = state.auth.refresh(&body.refresh_token, &client).await?;
    Ok(token_response(pair))
}

/// Log out
///
/// Ends the session the refresh token belongs to: its whole refresh family and the access
/// tokens issued for it. Unknown or already spent tokens also answer 204.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    operation_id = "logout",
    request_body = RefreshTokenRequest,
    responses(
        (status = 204, description = "The session is over (or there was none)"),
        JsonBodyErrors,
        ServerErrors,
    )
)]
pub async fn logout(
    state: Data<AppState>,
    ApiJson(body): ApiJson<RefreshTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    state.auth.logout(&body.refresh_token).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Log out everywhere
///
/// Ends every session of the caller, this one included: all refresh tokens and the access
/// tokens issued for them stop working at once.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout-all",
    tag = "auth",
    operation_id = "logout_all",
    security(("oauth2" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Every session is over"),
        (status = 401, response = BearerUnauthorized),
        ServerErrors,
    )
)]
pub async fn logout_all(
    state: Data<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    state.auth.logout_all(&principal).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// An active session: one login on one device (one refresh-token family).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a60",
    "created_at": "2025-01-31T09:30:00.123456Z",
    "last_used_at": "2025-01-31T10:02:11.654321Z",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
    "ip": "203.0.113.7",
    "current": true
}))]
pub struct SessionResponse {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// When a refresh token of this session was last used.
    pub last_used_at: DateTime<Utc>,
    /// The `User-Agent` of the login (at most 512 characters).
    pub user_agent: Option<String>,
    /// The peer address of the login.
    pub ip: Option<String>,
    /// Whether the access token of this request was issued for this session.
    pub current: bool,
}

impl From<SessionView> for SessionResponse {
    fn from(v: SessionView) -> Self {
        let s = v.session;
        Self {
            id: s.id.as_uuid(),
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            user_agent: s.user_agent,
            ip: s.ip,
            current: v.current,
        }
    }
}

/// The caller's sessions
///
/// Every active session of the caller, newest first (a complete, unpaginated list).
#[utoipa::path(
    get,
    path = "/api/v1/auth/sessions",
    tag = "auth",
    operation_id = "list_sessions",
    security(("oauth2" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The caller's active sessions", body = [SessionResponse]),
        (status = 401, response = BearerUnauthorized),
        ServerErrors,
    )
)]
pub async fn sessions(
    state: Data<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let sessions = state.auth.sessions(&principal).await?;
    Ok(HttpResponse::Ok().json(sessions.into_iter().map(SessionResponse::from).collect::<Vec<_>>()))
}

/// End a session
///
/// Revokes that session's refresh tokens and the access tokens issued for it. Another
/// user's session, an ended one and an id that is not a UUID all answer 404.
#[utoipa::path(
    delete,
    path = "/api/v1/auth/sessions/{id}",
    tag = "auth",
    operation_id = "end_session",
    security(("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The session's id")),
    responses(
        (status = 204, description = "The session is over"),
        (status = 401, response = BearerUnauthorized),
        (status = 404, response = NotFound),
        ServerErrors,
    )
)]
pub async fn end_session(
    state: Data<AppState>,
    Authenticated(principal): Authenticated,
    id: Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state.auth.end_session(&principal, SessionId(id.into_inner())).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<TokenGrant, OAuthError> {
        TokenGrant::parse(body.as_bytes())
    }

    fn error_of(body: &str) -> OAuthErrorCode {
        match parse(body) {
            Err(e) => e.error,
            Ok(_) => panic!("{body:?} should be refused"),
        }
    }

    #[test]
    fn a_password_grant_is_parsed_and_extra_parameters_are_ignored() {
        let grant =
            parse("grant_type=password&username=ada%40example.com&password=p%C3%A4ss+word&scope=&client_id=swagger")
                .unwrap();
        match grant {
            TokenGrant::Password { username, password } => {
                assert_eq!(username, "ada@example.com");
                assert_eq!(password.expose(), "päss word");
            }
            _ => panic!("expected a password grant"),
        }
    }

    #[test]
    fn a_refresh_grant_is_parsed() {
        assert!(
            matches!(parse("grant_type=refresh_token&refresh_token=abc"), Ok(TokenGrant::RefreshToken(t)) if t == "abc")
        );
    }

    #[test]
    fn missing_empty_or_repeated_parameters_are_invalid_requests() {
        for body in [
            "",
            "username=a&password=b",
            "grant_type=&username=a&password=b",
            "grant_type=password&password=b",
            "grant_type=password&username=a",
            "grant_type=password&username=a&password=",
            "grant_type=refresh_token",
            "grant_type=password&grant_type=password&username=a&password=b",
            "grant_type=password&username=a&username=b&password=b",
        ] {
            assert_eq!(error_of(body), OAuthErrorCode::InvalidRequest, "{body:?}");
        }
    }

    #[test]
    fn the_mfa_otp_grant_needs_its_token_and_code() {
        let grant = parse("grant_type=urn%3Astorefront%3Agrant-type%3Amfa-otp&mfa_token=t&otp=123456").unwrap();
        assert!(matches!(grant, TokenGrant::MfaOtp { mfa_token, otp } if mfa_token == "t" && otp == "123456"));
        assert_eq!(
            error_of("grant_type=urn%3Astorefront%3Agrant-type%3Amfa-otp&mfa_token=t"),
            OAuthErrorCode::InvalidRequest
        );
    }

    #[test]
    fn other_grant_types_are_unsupported() {
        assert_eq!(error_of("grant_type=client_credentials"), OAuthErrorCode::UnsupportedGrantType);
        assert_eq!(error_of("grant_type=authorization_code&code=x"), OAuthErrorCode::UnsupportedGrantType);
    }
}
