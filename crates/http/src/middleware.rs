//! The request-context middleware: request id (`X-Request-Id`), a tracing span per request,
//! one access-log line per request, and the headers every response carries.

use crate::request_id::{REQUEST_ID, REQUEST_ID_HEADER};
use crate::state::API_PREFIX;
use actix_web::Error;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use futures::future::{LocalBoxFuture, Ready, ready};
use std::rc::Rc;
use std::time::Instant;
use tracing::Instrument;

/// The client's request id if it is 1..=128 characters of `[A-Za-z0-9._-]`.
fn client_request_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(&REQUEST_ID_HEADER)?.to_str().ok()?;
    let valid = (1..=128).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    valid.then(|| value.to_owned())
}

/// Wraps the whole app: see the module documentation.
pub struct RequestContext;

impl<S, B> Transform<S, ServiceRequest> for RequestContext
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type Transform = RequestContextService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestContextService { service: Rc::new(service) }))
    }
}

pub struct RequestContextService<S> {
    service: Rc<S>,
}

impl<S, B> Service<ServiceRequest> for RequestContextService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let request_id = client_request_id(req.headers()).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let method = req.method().clone();
        let path = req.path().to_owned();
        let is_api = path == API_PREFIX || path.starts_with(&format!("{API_PREFIX}/"));
        // `user_id` is filled in by the bearer-token extractor once it knows the caller.
        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            method = %method,
            path = %path,
            user_id = tracing::field::Empty
        );
        let service = Rc::clone(&self.service);
        let id = request_id.clone();

        let handle = async move {
            let started = Instant::now();
            // No clone of the request may be held while the router runs (actix needs it
            // unshared), so an error that bubbles out is rendered here, inside the request's
            // scope, and handed on as a ready-made response.
            let outcome = match service.call(req).await {
                Ok(response) => Ok(response.map_into_boxed_body()),
                Err(error) => Err(error),
            };
            let (status, route) = match &outcome {
                Ok(response) => {
                    (response.status(), response.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned()))
                }
                Err(error) => (error.as_response_error().status_code(), "unmatched".to_owned()),
            };
            let latency = started.elapsed().as_secs_f64();
            tracing::info!(
                method = %method,
                route = %route,
                path = %path,
                status = status.as_u16(),
                latency_ms = latency * 1000.0,
                request_id = %id,
                "request served"
            );
            crate::metrics::record_request(method.as_str(), route, status, latency);
            match outcome {
                Ok(mut response) => {
                    add_headers(response.headers_mut(), &id, is_api);
                    Ok(response)
                }
                Err(error) => {
                    let mut rendered = error.error_response();
                    add_headers(rendered.headers_mut(), &id, is_api);
                    Err(actix_web::error::InternalError::from_response(error, rendered).into())
                }
            }
        };
        Box::pin(REQUEST_ID.scope(request_id, handle.instrument(span)))
    }
}

fn add_headers(headers: &mut HeaderMap, request_id: &str, is_api: bool) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // API answers are not stored by caches, unless the handler said how they may be (the
    // catalogue's conditional reads; the chat's event stream, `no-cache`).
    if is_api && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use crate::request_id::current_request_id;
    use actix_web::{App, test as actix_test, web};

    fn headers(value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(REQUEST_ID_HEADER, HeaderValue::from_str(value).unwrap());
        map
    }

    #[test]
    fn a_well_formed_client_request_id_is_kept() {
        assert_eq!(client_request_id(&headers("abc-123_x.y")), Some("abc-123_x.y".into()));
        assert_eq!(client_request_id(&headers(&"a".repeat(128))), Some("a".repeat(128)));
    }

    #[test]
    fn an_ill_formed_client_request_id_is_replaced() {
        for bad in ["", "has space", "semi;colon", "ünï", &"a".repeat(129)] {
            let map = HeaderValue::from_str(bad).map(|v| {
                let mut m = HeaderMap::new();
                m.insert(REQUEST_ID_HEADER, v);
                m
            });
            if let Ok(map) = map {
                assert_eq!(client_request_id(&map), None, "{bad:?}");
            }
        }
        assert_eq!(client_request_id(&HeaderMap::new()), None);
    }

    #[actix_web::test]
    async fn an_error_bubbling_out_of_the_app_is_rendered_with_the_request_id() {
        let app = actix_test::init_service(
            App::new()
                .route("/", web::get().to(|| async { "unreachable" }))
                .wrap_fn(|_, _| futures::future::ready(Err::<ServiceResponse, _>(ApiError::InvalidToken.into())))
                .wrap(RequestContext),
        )
        .await;
        let req = actix_test::TestRequest::get().uri("/").insert_header((REQUEST_ID_HEADER, "bubbled-1")).to_request();
        let Err(error) = actix_test::try_call_service(&app, req).await else { panic!("the error should bubble out") };
        let response = error.error_response();
        assert_eq!(response.status(), actix_web::http::StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers().get(REQUEST_ID_HEADER).unwrap(), "bubbled-1");
        assert_eq!(response.headers().get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
        let body = actix_web::body::to_bytes(response.into_body()).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["request_id"], "bubbled-1");
        assert_eq!(body["code"], "invalid_token");
    }

    #[actix_web::test]
    async fn the_request_id_is_known_to_the_handler() {
        let app = actix_test::init_service(
            App::new()
                .route("/", web::get().to(|| async { current_request_id().unwrap_or_default() }))
                .wrap(RequestContext),
        )
        .await;
        let req = actix_test::TestRequest::get().uri("/").insert_header((REQUEST_ID_HEADER, "abc")).to_request();
        assert_eq!(actix_test::call_and_read_body(&app, req).await, "abc");
    }
}
