//! Adapters for the security ports: bcrypt over an HMAC pre-hash (on the blocking pool),
//! HS256 JWTs with a pinned algorithm, opaque refresh tokens stored as SHA-256, and RFC 6238
//! TOTP with server-drawn QR codes.

mod jwt;
mod password;
mod refresh;
mod totp;

pub use jwt::JwtCodec;
pub use password::{BcryptHasher, HASHING_SATURATED_METRIC, HashingLimits};
pub use refresh::RandomRefreshTokens;
pub use totp::RfcTotp;
