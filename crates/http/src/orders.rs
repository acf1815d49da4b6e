//! Orders (`/orders`, `/orders/{id}`, `/orders/{id}/cancel`): placing one (stock taken
//! atomically; prices and totals from the server only) with an optional `Idempotency-Key`
//! whose first response is replayed byte for byte, reading and listing them with
//! owner-or-permission visibility, cancelling and moving them along their life cycle; with
//! their DTOs.

use crate::bearer::Authenticated;
use crate::body::{JsonBytes, parse_json};
use crate::catalog::path_id;
use crate::error::merge_errors;
use crate::error::{ApiError, FieldError, PROBLEM_JSON};
use crate::permissions::{OrdersManage, RequirePermission};
use crate::query::{ApiQuery, Paginated, Pagination};
use crate::request_id::in_request_scope;
use crate::responses::{
    BearerUnauthorized, InvalidTransition, JsonBodyErrors, MalformedBody, NotFound, PayloadTooLarge, PermissionErrors,
    PlacementConflict, PlacementRejected, ServerErrors, UnsupportedMediaType, UnverifiedEmail, ValidationFailed,
};
use crate::state::{API_PREFIX, AppState};
use actix_web::body::MessageBody;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::web::{Data, Path};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::rc::Rc;
use storefront_app::ports::StoredResponse;
use storefront_app::{AppError, IdempotentResponse, Principal};
use storefront_domain::{Order, OrderId, OrderLine, OrderStatus, ProductId, RequestedLine};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The request header that makes a placement idempotent.
pub const IDEMPOTENCY_KEY_HEADER: HeaderName = HeaderName::from_static("idempotency-key");

/// The response header that marks a replayed first response.
pub const IDEMPOTENT_REPLAYED_HEADER: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Where an order is in its life: `pending → paid → shipped → delivered`, or `cancelled`
/// from `pending`/`paid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatusName {
    Pending,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
}

impl From<OrderStatusName> for OrderStatus {
    fn from(s: OrderStatusName) -> Self {
        match s {
            OrderStatusName::Pending => OrderStatus::Pending,
            OrderStatusName::Paid => OrderStatus::Paid,
            OrderStatusName::Shipped => OrderStatus::Shipped,
            OrderStatusName::Delivered => OrderStatus::Delivered,
            OrderStatusName::Cancelled => OrderStatus::Cancelled,
        }
    }
}

impl From<OrderStatus> for OrderStatusName {
    fn from(s: OrderStatus) -> Self {
        match s {
            OrderStatus::Pending => OrderStatusName::Pending,
            OrderStatus::Paid => OrderStatusName::Paid,
            OrderStatus::Shipped => OrderStatusName::Shipped,
            OrderStatus::Delivered => OrderStatusName::Delivered,
            OrderStatus::Cancelled => OrderStatusName::Cancelled,
        }
    }
}

/// One line of an order, with the product's name and price as they were when it was placed.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "product_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a80",
    "product_name": "Walnut desk",
    "unit_price_cents": 24900,
    "quantity": 2,
    "line_total_cents": 49800
}))]
pub struct OrderLineResponse {
    pub product_id: Uuid,
    /// The product's name when the order was placed.
    pub product_name: String,
    /// The product's price when the order was placed, in minor units.
    pub unit_price_cents: i64,
    pub quantity: i64,
    /// `unit_price_cents × quantity`.
    pub line_total_cents: i64,
}

impl From<OrderLine> for OrderLineResponse {
    fn from(l: OrderLine) -> Self {
        Self {
            product_id: l.product_id.0,
            product_name: l.product_name,
            unit_price_cents: l.unit_price_cents,
            quantity: l.quantity,
            line_total_cents: l.line_total_cents,
        }
    }
}

/// An order.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4aa0",
    "user_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59",
    "status": "pending",
    "items": [{
        "product_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a80",
        "product_name": "Walnut desk",
        "unit_price_cents": 24900,
        "quantity": 2,
        "line_total_cents": 49800
    }],
    "total_cents": 49800,
    "currency": "USD",
    "created_at": "2025-02-03T18:12:00.123456Z",
    "updated_at": "2025-02-03T18:12:00.123456Z"
}))]
pub struct OrderResponse {
    pub id: Uuid,
    /// The buyer; `null` once the buyer's account is deleted.
    pub user_id: Option<Uuid>,
    pub status: OrderStatusName,
    /// The lines in the order they were requested.
    pub items: Vec<OrderLineResponse>,
    /// The sum of the lines, computed by the server.
    pub total_cents: i64,
    /// ISO 4217 code of every amount.
    #[schema(example = "USD")]
    pub currency: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl OrderResponse {
    fn new(o: Order, currency: &str) -> Self {
        Self {
            id: o.id.0,
            user_id: o.user_id.map(|u| u.as_uuid()),
            status: o.status.into(),
            items: o.items.into_iter().map(OrderLineResponse::from).collect(),
            total_cents: o.total_cents,
            currency: currency.to_owned(),
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

/// One requested line.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderItemRequest {
    /// An existing product (an unknown one answers 422), listed once per order.
    pub product_id: Uuid,
    /// 1..=1000.
    #[serde(deserialize_with = "crate::body::integer")]
    #[schema(minimum = 1, maximum = 1000, example = 2)]
    pub quantity: i64,
}

/// A new order: what to buy; prices and totals come from the server.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"items": [{"product_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a80", "quantity": 2}]}))]
pub struct PlaceOrderRequest {
    /// 1..=50 lines, each product at most once.
    #[schema(min_items = 1, max_items = 50)]
    pub items: Vec<OrderItemRequest>,
}

impl PlaceOrderRequest {
    fn into_lines(self) -> Vec<RequestedLine> {
        self.items
            .into_iter()
            .map(|i| RequestedLine { product_id: ProductId(i.product_id), quantity: i.quantity })
            .collect()
    }
}

/// A status change by an order manager.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "paid"}))]
pub struct UpdateOrderRequest {
    pub status: OrderStatusName,
}

/// Whose orders a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum OrderScope {
    /// The caller's own orders.
    Mine,
    /// Everyone's orders (needs `orders:read_all`).
    All,
}

/// Filters of the order listing, as sent; `OrdersQuery::parse` checks them.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrdersQuery {
    /// Only orders in this status.
    #[param(value_type = Option<OrderStatusName>)]
    pub status: Option<String>,
    /// `mine` (default) or `all` (everyone's; needs `orders:read_all`, else 403).
    #[param(value_type = Option<OrderScope>)]
    pub scope: Option<String>,
}

impl OrdersQuery {
    /// The status filter and whether everyone's orders are asked for; a value that is not
    /// one of the documented ones answers 422 naming its parameter.
    fn parse(self) -> Result<(Option<OrderStatus>, OrderScope), ApiError> {
        let mut errors = Vec::new();
        let status = self.status.and_then(|raw| {
            let parsed = OrderStatus::parse(&raw);
            if parsed.is_none() {
                errors.push(FieldError::new("status", "must be one of pending, paid, shipped, delivered, cancelled"));
            }
            parsed
        });
        let scope = match self.scope.as_deref() {
            None | Some("mine") => OrderScope::Mine,
            Some("all") => OrderScope::All,
            Some(_) => {
                errors.push(FieldError::new("scope", "must be `mine` or `all`"));
                OrderScope::Mine
            }
        };
        if errors.is_empty() { Ok((status, scope)) } else { Err(ApiError::Validation(errors)) }
    }
}

/// The `Idempotency-Key` header, if sent; a value that is not text answers 422.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get(&IDEMPOTENCY_KEY_HEADER) {
        None => Ok(None),
        Some(value) => value.to_str().map(|v| Some(v.to_owned())).map_err(|_| {
            ApiError::Validation(vec![FieldError::new("Idempotency-Key", "must be 1..=255 printable ASCII characters")])
        }),
    }
}

/// What identifies a request body for its idempotency key: SHA-256 of its JSON with object
/// keys sorted (so that key order and whitespace do not make another body), or of its bytes
/// when it is not JSON.
pub fn idempotency_fingerprint(body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => {
            hasher.update(b"json:");
            write_canonical(&value, &mut hasher);
        }
        Err(_) => {
            hasher.update(b"bytes:");
            hasher.update(body);
        }
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds `value` as JSON with every object's keys in byte order.
fn write_canonical(value: &Value, into: &mut Sha256) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            into.update(b"{");
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    into.update(b",");
                }
                into.update(Value::String(key.clone()).to_string().as_bytes());
                into.update(b":");
                write_canonical(value, into);
            }
            into.update(b"}");
        }
        Value::Array(items) => {
            into.update(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    into.update(b",");
                }
                write_canonical(item, into);
            }
            into.update(b"]");
        }
        scalar => into.update(scalar.to_string().as_bytes()),
    }
}

/// The placement's answer: 201 with the order and its `Location`, or the error.
fn placement_response(placed: Result<Order, ApiError>, currency: &str) -> HttpResponse {
    match placed {
        Ok(order) => HttpResponse::Created()
            .insert_header((header::LOCATION, format!("{API_PREFIX}/orders/{}", order.id)))
            .json(OrderResponse::new(order, currency)),
        Err(error) => error.error_response(),
    }
}

/// The parts of a response an idempotency key keeps (the body is read and put back).
fn to_stored(response: HttpResponse) -> (HttpResponse, StoredResponse) {
    let status = response.status().as_u16();
    let location = response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (response, body) = response.into_parts();
    let bytes = body.try_into_bytes().unwrap_or_default();
    let stored = StoredResponse { status, location, body: bytes.to_vec() };
    (response.set_body(bytes).map_into_boxed_body(), stored)
}

/// A stored first response, answered again: its status, `Location` and body byte for byte.
fn replay(stored: StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = if status.is_success() { "application/json" } else { PROBLEM_JSON };
    let mut response = HttpResponse::build(status);
    response
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((IDEMPOTENT_REPLAYED_HEADER, HeaderValue::from_static("true")));
    if let Some(location) = stored.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.insert_header((header::LOCATION, location));
    }
    response.body(stored.body)
}

/// Places an order from a raw body.
async fn place(state: &AppState, caller: &Principal, body: &[u8]) -> Result<Order, ApiError> {
    let request: PlaceOrderRequest = parse_json(body)?;
    Ok(state.orders.place(caller, request.into_lines()).await?)
}

/// Place an order
///
/// Takes every line's stock, or none: a short line answers 409 `insufficient_stock` with one
/// entry in `errors` per short line (`product_id`, `requested`, `available`) and nothing is
/// ordered. Prices and the total are the server's, snapshotted into the order.
///
/// **Idempotency.** With an `Idempotency-Key` header (1..=255 printable ASCII characters), a
/// repeat by the same user with the same body within 24 hours creates nothing and answers
/// the first response again — its status, `Location` and body byte for byte, `request_id`
/// included — with `Idempotent-Replayed: true`; the same key with another body answers 422
/// `idempotency_key_reused`, and a repeat while the first is still running 409 `conflict`.
/// Bodies are compared as JSON (key order and whitespace do not matter). A first response
/// that is a 422 or a 5xx is not stored: such a request did not take effect, and a retry
/// with the same key runs again. Keys are per user.
#[utoipa::path(
    post,
    path = "/api/v1/orders",
    tag = "orders",
    operation_id = "place_order",
    security(("oauth2" = []), ("bearer" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header,
            description = "Makes the request safe to retry: 1..=255 printable ASCII characters, unique per intended order")
    ),
    request_body = PlaceOrderRequest,
    responses(
        (status = 201, description = "The order was placed (or, with `Idempotent-Replayed: true`, the first response to this key)",
            body = OrderResponse,
            headers(
                ("Location" = String, description = "`/api/v1/orders/{id}`"),
                ("Idempotent-Replayed" = String, description = "`true` when this is a replay of the key's first response")
            )),
        (status = 400, response = MalformedBody),
        (status = 401, response = BearerUnauthorized),
        (status = 403, response = UnverifiedEmail),
        (status = 409, response = PlacementConflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = PlacementRejected),
        ServerErrors,
    )
)]
pub async fn place_order(
    Authenticated(caller): Authenticated,
    state: Data<AppState>,
    req: HttpRequest,
    body: Result<JsonBytes, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let currency = state.config.currency.clone();
    let Some(key) = idempotency_key(req.headers())? else {
        let JsonBytes(body) = body?;
        return Ok(placement_response(place(&state, &caller, &body).await, &currency));
    };
    let JsonBytes(body) = body?;
    let fingerprint = idempotency_fingerprint(&body);
    // A body that cannot be read is answered (and that answer stored) like a refusal.
    let lines = parse_json::<PlaceOrderRequest>(&body)
        .map(PlaceOrderRequest::into_lines)
        .map_err(|error| to_stored(error.error_response()).1);
    // The order and its key's response commit in one transaction, so a client hanging up
    // can never leave one without the other; on a task of its own all the same, so that
    // the hang-up does not throw away a placement about to commit.
    let first: Rc<RefCell<Option<HttpResponse>>> = Rc::default();
    let slot = Rc::clone(&first);
    let outcome = actix_web::rt::spawn(in_request_scope(async move {
        let render = |placed: Result<Order, AppError>| {
            let (response, stored) = to_stored(placement_response(placed.map_err(ApiError::from), &currency));
            slot.replace(Some(response));
            stored
        };
        state.orders.place_idempotently(&caller, &key, &fingerprint, lines, render).await
    }))
    .await
    .map_err(|e| ApiError::Internal(format!("the placement task failed: {e}")))??;
    match outcome {
        IdempotentResponse::First(stored) => Ok(first.take().unwrap_or_else(|| replay_first(stored))),
        IdempotentResponse::Replayed(stored) => Ok(replay(stored)),
    }
}

/// The first response rebuilt from what was stored (when the original is not at hand).
fn replay_first(stored: StoredResponse) -> HttpResponse {
    let mut response = replay(stored);
    response.headers_mut().remove(IDEMPOTENT_REPLAYED_HEADER);
    response
}

/// List orders
///
/// The caller's orders, newest first; `?status=` keeps one status. With `?scope=all`, every
/// user's orders, which needs `orders:read_all` (403 without it).
#[utoipa::path(
    get,
    path = "/api/v1/orders",
    tag = "orders",
    operation_id = "list_orders",
    security(("oauth2" = []), ("bearer" = [])),
    params(OrdersQuery, Pagination),
    responses(
        (status = 200, description = "One page of orders", body = Paginated<OrderResponse>),
        PermissionErrors,
        (status = 422, response = ValidationFailed),
        ServerErrors,
    )
)]
pub async fn list_orders(
    Authenticated(caller): Authenticated,
    state: Data<AppState>,
    query: Result<ApiQuery<OrdersQuery>, ApiError>,
    pagination: Result<Pagination, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let query = query.and_then(|ApiQuery(q)| q.parse());
    let ((status, scope), pagination) = merge_errors(query, pagination)?;
    let page = state.orders.list(&caller, scope == OrderScope::All, status, pagination.page()).await?;
    let currency = &state.config.currency;
    let page = storefront_app::ports::Page {
        items: page.items.into_iter().map(|o| OrderResponse::new(o, currency)).collect(),
        total: page.total,
    };
    Ok(HttpResponse::Ok().json(Paginated::<OrderResponse>::new(page, pagination)))
}

/// An order
///
/// To its buyer, or to a holder of `orders:read_all`; anyone else gets 404, so that
/// existence is not leaked.
#[utoipa::path(
    get,
    path = "/api/v1/orders/{id}",
    tag = "orders",
    operation_id = "get_order",
    security(("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The order's id")),
    responses(
        (status = 200, description = "The order", body = OrderResponse),
        (status = 401, response = BearerUnauthorized),
        (status = 404, response = NotFound),
        ServerErrors,
    )
)]
pub async fn get_order(
    Authenticated(caller): Authenticated,
    state: Data<AppState>,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: OrderId = path_id(&id)?;
    let order = state.orders.get(&caller, id).await?;
    Ok(HttpResponse::Ok().json(OrderResponse::new(order, &state.config.currency)))
}

/// Cancel an order
///
/// By its buyer while it is `pending` or `paid`, or by a holder of `orders:manage`; the
/// stock of every line comes back in the same transaction. A caller who may read the order
/// but not cancel it (`orders:read_all`) gets 403; anyone else 404. Any other status
/// answers 409 `invalid_transition`.
#[utoipa::path(
    post,
    path = "/api/v1/orders/{id}/cancel",
    tag = "orders",
    operation_id = "cancel_order",
    security(("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The order's id")),
    responses(
        (status = 200, description = "The cancelled order", body = OrderResponse),
        PermissionErrors,
        (status = 404, response = NotFound),
        (status = 409, response = InvalidTransition),
        ServerErrors,
    )
)]
pub async fn cancel_order(
    Authenticated(caller): Authenticated,
    state: Data<AppState>,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: OrderId = path_id(&id)?;
    let order = state.orders.cancel(&caller, id).await?;
    Ok(HttpResponse::Ok().json(OrderResponse::new(order, &state.config.currency)))
}

/// Change an order's status
///
/// Along `pending → paid → shipped → delivered`, or to `cancelled` from `pending` or `paid`
/// (the stock comes back); any other move answers 409 `invalid_transition`.
#[utoipa::path(
    patch,
    path = "/api/v1/orders/{id}",
    tag = "orders",
    operation_id = "update_order",
    security(("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The order's id")),
    request_body = UpdateOrderRequest,
    responses(
        (status = 200, description = "The order in its new status", body = OrderResponse),
        PermissionErrors,
        (status = 404, response = NotFound),
        (status = 409, response = InvalidTransition),
        JsonBodyErrors,
        ServerErrors,
    )
)]
pub async fn update_order(
    _caller: RequirePermission<OrdersManage>,
    state: Data<AppState>,
    id: Path<String>,
    body: Result<crate::body::ApiJson<UpdateOrderRequest>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let id: OrderId = path_id(&id)?;
    let crate::body::ApiJson(body) = body?;
    let order = state.orders.set_status(id, body.status.into()).await?;
    Ok(HttpResponse::Ok().json(OrderResponse::new(order, &state.config.currency)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_key_order_and_whitespace_but_not_values() {
        let a = idempotency_fingerprint(br#"{"items":[{"product_id":"x","quantity":1}]}"#);
        let b = idempotency_fingerprint(b"{ \"items\" : [ { \"quantity\" : 1, \"product_id\" : \"x\" } ] }");
        assert_eq!(a, b);
        assert_ne!(a, idempotency_fingerprint(br#"{"items":[{"product_id":"x","quantity":2}]}"#));
        assert_ne!(idempotency_fingerprint(b"not json"), idempotency_fingerprint(b"not json!"));
        assert_ne!(idempotency_fingerprint(b"[1,2]"), idempotency_fingerprint(b"[2,1]"), "array order is meaning");
    }

    #[test]
    fn a_stored_response_keeps_its_status_location_and_exact_body() {
        let response = HttpResponse::Created().insert_header((header::LOCATION, "/x")).body("{\"a\": 1}");
        let (response, stored) = to_stored(response);
        assert_eq!(stored, StoredResponse { status: 201, location: Some("/x".into()), body: b"{\"a\": 1}".to_vec() });
        assert_eq!(response.status(), StatusCode::CREATED);
        let replayed = replay(stored);
        assert_eq!(replayed.headers().get(IDEMPOTENT_REPLAYED_HEADER).unwrap(), "true");
        assert_eq!(replayed.headers().get(header::LOCATION).unwrap(), "/x");
        assert_eq!(replayed.into_body().try_into_bytes().unwrap().as_ref(), b"{\"a\": 1}");
    }
}
