//! Adapters for the security ports: bcrypt over an HMAC pre-hash (on the blocking pool),
//! HS256 JWTs with a pinned algorithm, and opaque refresh tokens stored as SHA-256.

mod jwt;
mod password;
mod refresh;

pub use jwt::JwtCodec;
pub use password::{BcryptHasher, HASHING_SATURATED_METRIC, HashingLimits};
pub use refresh::RandomRefreshTokens;
