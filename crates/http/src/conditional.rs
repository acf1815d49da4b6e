//! Conditional catalogue reads: a JSON body answered with a weak `ETag` (a hash of the
//! body, so it costs no query), `304 Not Modified` without a body when `If-None-Match`
//! names it (or is `*`), and the cache headers that go with who may share the answer.

use crate::error::ApiError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::IntoParams;

/// `If-None-Match`, as the conditional reads document it.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code, reason = "declares the header in the OpenAPI document only")]
pub struct IfNoneMatch {
    /// Entity tags from earlier answers (`W/"…"`, comma-separated), or `*`: when one
    /// matches the current answer (weak comparison), the answer is 304 with no body.
    #[param(rename = "If-None-Match", required = false, value_type = String,
        example = "W/\"5d41402abc4b2a76b9719d911017c592\"")]
    if_none_match: Option<String>,
}

/// Who an answer may be shared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The same for every caller (categories).
    Everyone,
    /// Depends on the caller's bearer token (`liked_by_me`): `Vary: Authorization`, and
    /// `private` when a caller is authenticated.
    Caller { authenticated: bool },
}

/// `body` as a 200 JSON answer with its `ETag` and cache headers, or as 304 with the same
/// headers and no body when the request's `If-None-Match` matches it.
pub fn conditional_json<T: Serialize>(
    req: &HttpRequest,
    body: &T,
    audience: Audience,
    max_age_secs: u32,
) -> Result<HttpResponse, ApiError> {
    let serializing = |e: serde_json::Error| ApiError::Internal(format!("serializing a body: {e}"));
    let conditions = req.headers().get_all(header::IF_NONE_MATCH);
    if conditions.clone().next().is_some() {
        // Hashed as it is serialized, without building the body: a match is answered
        // without ever holding it, so a 304 costs less than the 200 it replaces.
        let mut hasher = Sha256::new();
        serde_json::to_writer(&mut hasher, body).map_err(serializing)?;
        let tag = entity_tag(hasher);
        if conditions.into_iter().any(|value| matches(value, &tag)) {
            let mut response = HttpResponse::NotModified();
            cache_headers(&mut response, &tag, audience, max_age_secs);
            return Ok(response.finish());
        }
    }
    let bytes = serde_json::to_vec(body).map_err(serializing)?;
    let tag = entity_tag(Sha256::new_with_prefix(&bytes));
    let mut response = HttpResponse::Ok();
    cache_headers(&mut response, &tag, audience, max_age_secs);
    Ok(response.content_type(mime_json()).body(bytes))
}

fn mime_json() -> HeaderValue {
    HeaderValue::from_static("application/json")
}

fn cache_headers(response: &mut HttpResponseBuilder, tag: &str, audience: Audience, max_age_secs: u32) {
    response.insert_header((header::ETAG, tag));
    let cache_control = match audience {
        Audience::Caller { authenticated: true } => "private".to_owned(),
        _ => format!("public, max-age={max_age_secs}"),
    };
    response.insert_header((header::CACHE_CONTROL, cache_control));
    if let Audience::Caller { .. } = audience {
        response.append_header((header::VARY, "Authorization"));
    }
}

/// A weak tag of the body: the first 128 bits of its SHA-256, hex. Weak, because equal
/// bodies are what it promises, not equal bytes of every representation.
fn entity_tag(body_hashed: Sha256) -> String {
    let digest = body_hashed.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("W/\"{hex}\"")
}

/// Whether one `If-None-Match` header names `tag` (weak comparison: `W/` ignored) or is `*`.
fn matches(value: &HeaderValue, tag: &str) -> bool {
    let Ok(value) = value.to_str() else { return false };
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let wanted = opaque(tag);
    value.split(',').any(|candidate| candidate.trim() == "*" || opaque(candidate) == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_matches_itself_weak_or_strong_in_a_list_and_star_matches_all() {
        let tag_of = |body: &[u8]| entity_tag(Sha256::new_with_prefix(body));
        let tag = tag_of(b"{\"a\":1}");
        assert!(tag.starts_with("W/\"") && tag.ends_with('"') && tag.len() == 32 + 4, "{tag}");
        assert_ne!(tag, tag_of(b"{\"a\":2}"));
        let header = |raw: &str| HeaderValue::from_str(raw).unwrap();
        assert!(matches(&header(&tag), &tag));
        assert!(matches(&header(tag.trim_start_matches("W/")), &tag), "weak comparison");
        assert!(matches(&header(&format!("\"other\", {tag} ,W/\"x\"")), &tag));
        assert!(matches(&header("*"), &tag));
        assert!(!matches(&header("W/\"other\""), &tag));
        assert!(!matches(&header(""), &tag));
    }
}
