//! Building resources whose `405 Method Not Allowed` answer and `Allow` header are derived
//! from the methods actually registered, and the app's `404` for unknown routes.

use crate::error::ApiError;
use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Resource, Responder, web};

/// A resource under construction: each route added here is also listed in `Allow`.
pub struct Endpoint {
    resource: Resource,
    methods: Vec<Method>,
}

impl Endpoint {
    pub fn new(path: &str) -> Self {
        Self { resource: web::resource(path), methods: Vec::new() }
    }

    fn route<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.resource = self.resource.route(web::method(method.clone()).to(handler));
        self.methods.push(method);
        self
    }

    /// The handler under `method`; `GET` brings `HEAD` along.
    pub fn on<F, Args>(self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        if method == Method::GET { self.get(handler) } else { self.route(method, handler) }
    }

    /// `GET`, and `HEAD` with the same handler (RFC 9110 §9.3.2).
    pub fn get<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::GET, handler.clone()).route(Method::HEAD, handler)
    }

    /// The finished resource: any other method answers 405 with `Allow`.
    pub fn build(self) -> Resource {
        let allow = self.methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
        self.resource.default_service(web::to(move || {
            let allow = allow.clone();
            async move { Err::<&'static str, _>(ApiError::MethodNotAllowed { allow }) }
        }))
    }
}

/// The app's default service: an unknown route is a `not_found` problem that points to
/// the list of paths, so that a mistyped URL leads somewhere.
pub async fn not_found() -> Result<&'static str, ApiError> {
    Err(ApiError::NoSuchPath)
}
