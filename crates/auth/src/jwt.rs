//! HS256 access tokens. Verification pins the algorithm and requires `exp`, `iss`, `aud`.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use storefront_app::ports::{AccessClaims, AccessTokenCodec, TokenError};
use uuid::Uuid;

#[derive(Clone)]
pub struct JwtCodec {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    sid: Uuid,
    iat: i64,
    exp: i64,
    iss: String,
    aud: String,
    jti: Uuid,
}

impl JwtCodec {
    pub fn new(secret: &[u8], issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        let issuer = issuer.into();
        let audience = audience.into();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[&issuer]);
        validation.set_audience(&[&audience]);
        validation.leeway = 0;
        validation.validate_exp = true;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer,
            audience,
        }
    }
}

impl AccessTokenCodec for JwtCodec {
    fn encode(&self, claims: &AccessClaims) -> Result<String, TokenError> {
        let claims = Claims {
            sub: claims.sub.as_uuid(),
            sid: claims.sid.as_uuid(),
            iat: claims.iat,
            exp: claims.exp,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: claims.jti,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Signing(e.to_string()))
    }

    fn decode(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        let c = data.claims;
        Ok(AccessClaims { sub: c.sub.into(), sid: c.sid.into(), iat: c.iat, exp: c.exp, jti: c.jti })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn codec() -> JwtCodec {
        JwtCodec::new(SECRET, "storefront", "storefront-api")
    }

    fn claims(exp_in: i64) -> AccessClaims {
        let now = chrono::Utc::now().timestamp();
        AccessClaims {
            sub: Uuid::now_v7().into(),
            sid: Uuid::now_v7().into(),
            iat: now,
            exp: now + exp_in,
            jti: Uuid::now_v7(),
        }
    }

    fn b64(v: &serde_json::Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn a_token_round_trips() {
        let c = claims(60);
        let token = codec().encode(&c).unwrap();
        assert_eq!(codec().decode(&token).unwrap(), c);
    }

    #[test]
    fn expired_tokens_are_refused() {
        let token = codec().encode(&claims(-1)).unwrap();
        assert!(codec().decode(&token).is_err());
    }

    #[test]
    fn another_key_issuer_or_audience_is_refused() {
        let token = codec().encode(&claims(60)).unwrap();
        assert!(
            JwtCodec::new(b"another-secret-another-secret-xx", "storefront", "storefront-api").decode(&token).is_err()
        );
        assert!(JwtCodec::new(SECRET, "someone-else", "storefront-api").decode(&token).is_err());
        assert!(JwtCodec::new(SECRET, "storefront", "another-api").decode(&token).is_err());
    }

    #[test]
    fn alg_none_is_refused() {
        let c = claims(60);
        let payload = serde_json::json!({"sub": c.sub, "sid": c.sid, "iat": c.iat, "exp": c.exp, "iss": "storefront", "aud": "storefront-api", "jti": c.jti});
        let token = format!("{}.{}.", b64(&serde_json::json!({"alg": "none", "typ": "JWT"})), b64(&payload));
        assert!(codec().decode(&token).is_err());
    }

    #[test]
    fn garbage_is_refused() {
        for t in ["", "a.b.c", "not a token", "....."] {
            assert!(codec().decode(t).is_err());
        }
    }
}
