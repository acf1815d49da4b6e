//! The catalogue over HTTP: products and likes (`products`), categories (`categories`),
//! reviews (`reviews`) and their moderation (`moderation`), and what they share: the optional viewer, path ids and merged
//! validation errors.
//!
//! A handler takes its caller first (`RequirePermission<P>`, `Authenticated` or `Viewer`)
//! and its body, query and path id as values checked in the handler, so 401 and 403 answer
//! before anything is said about the request's shape, however soon each extractor completes.

pub mod categories;
pub mod cursor;
pub mod moderation;
pub mod products;
pub mod reviews;

use crate::bearer::Authenticated;
use crate::error::ApiError;
use crate::error::merge_errors;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures::future::LocalBoxFuture;
use storefront_app::Principal;
use uuid::Uuid;

/// The caller of an endpoint where a bearer token is optional: `None` when no bearer token
/// was sent (or another scheme), the principal when a valid one was; a bearer token that is
/// not valid still answers 401 `invalid_token`, rather than being silently ignored.
pub struct Viewer(pub Option<Principal>);

impl Viewer {
    pub fn principal(&self) -> Option<&Principal> {
        self.0.as_ref()
    }
}

impl FromRequest for Viewer {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let authenticated = Authenticated::from_request(req, payload);
        Box::pin(async move {
            match authenticated.await {
                Ok(Authenticated(principal)) => Ok(Viewer(Some(principal))),
                Err(ApiError::Unauthorized) => Ok(Viewer(None)),
                Err(other) => Err(other),
            }
        })
    }
}

/// A path id that is not a UUID names no resource.
pub(crate) fn path_id<T: From<Uuid>>(raw: &str) -> Result<T, ApiError> {
    Uuid::parse_str(raw).map(T::from).map_err(|_| ApiError::NotFound)
}
