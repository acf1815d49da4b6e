//! Security ports: password hashing, access-token signing, refresh-token minting.

use async_trait::async_trait;
use storefront_domain::{PasswordHash, PlainPassword, SessionId, UserId};
use uuid::Uuid;

/// Why a password could not be hashed or checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashingError {
    /// More hashing jobs wait than the hasher's queue takes: refused at once, not queued,
    /// so that a flood of logins cannot pile up unbounded work. Retryable.
    #[error("password hashing is saturated")]
    Saturated,
    /// The hashing pool or the hash itself failed.
    #[error("password hashing failed: {0}")]
    Failed(String),
}

#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes a password (CPU-heavy: MUST NOT run on the async executor).
    ///
    /// # Errors
    /// `Saturated` when the bounded queue of hashing jobs is full (MUST answer at once).
    async fn hash(&self, password: &PlainPassword) -> Result<PasswordHash, HashingError>;

    /// Checks a password. With `hash == None` (no such account) it MUST do the same work
    /// against a dummy hash and answer `false`, so that timing reveals nothing.
    ///
    /// # Errors
    /// As `hash`.
    async fn verify(&self, password: &PlainPassword, hash: Option<&PasswordHash>) -> Result<bool, HashingError>;
}

/// The claims of an access token (`iss` and `aud` are the codec's configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    pub sub: UserId,
    pub sid: SessionId,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Bad signature, algorithm, issuer, audience, expiry or shape.
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("token signing failed: {0}")]
    Signing(String),
}

pub trait AccessTokenCodec: Send + Sync {
    fn encode(&self, claims: &AccessClaims) -> Result<String, TokenError>;
    /// Verifies signature (pinned algorithm), `exp`, `iss` and `aud`.
    fn decode(&self, token: &str) -> Result<AccessClaims, TokenError>;
}

/// The stored form of a refresh token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RefreshTokenHash(pub String);

pub trait RefreshTokenMint: Send + Sync {
    /// A new opaque token (>= 256 random bits) and its hash.
    fn generate(&self) -> (String, RefreshTokenHash);
    /// The hash of a presented token.
    fn hash(&self, presented: &str) -> RefreshTokenHash;
}

/// What an authenticator app needs to add an account: the `otpauth://` URI and the same as
/// a QR code (SVG, drawn by the server: no third party sees the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpProvisioning {
    pub otpauth_uri: String,
    pub qr_svg: String,
}

/// RFC 6238 TOTP (SHA-1, 6 digits, 30 s steps) and the recovery codes that stand in for it.
pub trait TotpAuthenticator: Send + Sync {
    /// A new random secret (160 bits), base32 without padding.
    fn new_secret(&self) -> String;

    /// The provisioning URI and QR code of `secret` for `account` (the user's email).
    fn provisioning(&self, secret: &str, account: &str) -> Result<TotpProvisioning, TokenError>;

    /// Whether `code` is the code of `secret` for time step `step`, compared in constant
    /// time. A secret that is not base32 matches nothing.
    fn code_matches(&self, secret: &str, step: i64, code: &str) -> bool;

    /// `count` new random recovery codes, as shown to the user.
    fn recovery_codes(&self, count: usize) -> Vec<String>;
}
