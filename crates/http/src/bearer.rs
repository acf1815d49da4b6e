//! The bearer token's principal (`Authenticated`): 401 without a token, `invalid_token`
//! with a bad one; the token is read only from `Authorization: Bearer`.

use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{FromRequest, HttpRequest};
use futures::future::LocalBoxFuture;
use storefront_app::Principal;

/// The caller of an endpoint that takes a bearer token. The token is read only from
/// `Authorization: Bearer` (any case), never from the query string.
pub struct Authenticated(pub Principal);

/// The bearer token of a request: `Unauthorized` when none was sent (no header or another
/// scheme), `InvalidToken` when the header is a `Bearer` one without a usable token.
fn bearer_token(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::Unauthorized);
    };
    let Ok(value) = value.to_str() else {
        return Err(ApiError::Unauthorized);
    };
    let value = value.trim();
    let (scheme, token) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::Unauthorized);
    }
    let token = token.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(ApiError::InvalidToken);
    }
    Ok(token.to_owned())
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(req.headers());
        let state = crate::state::of(req);
        Box::pin(async move {
            let token = token?;
            let principal = state?.auth.authenticate(&token).await?;
            // Every later log line of the request (the access log, security events) names the caller.
            tracing::Span::current().record("user_id", tracing::field::display(principal.user.id));
            Ok(Authenticated(principal))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn auth(value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        map
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token(&auth("Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer_token(&auth("bearer abc")).unwrap(), "abc");
        assert_eq!(bearer_token(&auth("BEARER   abc ")).unwrap(), "abc");
    }

    #[test]
    fn no_bearer_credentials_is_unauthorized_and_a_broken_one_invalid() {
        assert!(matches!(bearer_token(&HeaderMap::new()), Err(ApiError::Unauthorized)));
        assert!(matches!(bearer_token(&auth("Basic Og==")), Err(ApiError::Unauthorized)));
        assert!(matches!(bearer_token(&auth("Bearer")), Err(ApiError::InvalidToken)));
        assert!(matches!(bearer_token(&auth("Bearer a b")), Err(ApiError::InvalidToken)));
    }
}
