//! `ClientInfo`: where a request comes from (its `User-Agent` and client address), for
//! sessions and the per-IP rate limits.

use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest};
use futures::future::ready;
use storefront_app::ClientContext;

/// The longest `User-Agent` remembered on a session.
const MAX_USER_AGENT_CHARS: usize = 512;

/// Where a request comes from, remembered on the session a login starts and keyed on by
/// the per-IP rate limits: the `User-Agent` and the client address (the socket peer, or
/// what a trusted proxy says in `X-Forwarded-For`; see `client_ip`).
pub struct ClientInfo(pub ClientContext);

impl FromRequest for ClientInfo {
    type Error = ApiError;
    type Future = futures::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect::<String>())
            .filter(|ua| !ua.is_empty());
        let ip = match crate::state::of(req) {
            Ok(state) => state.config.trusted_proxies.client_ip_of(req),
            Err(_) => req.peer_addr().map(|addr| addr.ip()),
        }
        .map(|ip| ip.to_string());
        ready(Ok(ClientInfo(ClientContext { user_agent, ip })))
    }
}
