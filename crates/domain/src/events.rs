//! Domain events: what happened (an account registered, an order placed or moved, a product
//! running low, a review written), each with an id, a type, a version, a time and a JSON
//! payload; and the rules saying which events a change raises, so that every adapter writes
//! exactly the same events in the same transaction as the change.

use crate::{Order, OrderId, OrderStatus, ProductId, Review, ReviewId, StockedProduct, User, UserId};
use chrono::{DateTime, TimeDelta, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

pub use crate::ids::EventId;

impl EventId {
    /// A fresh id. Events are raised inside the store's transaction, where the change that
    /// causes them is decided, so their ids are made there too.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for EventId {
    fn default() -> Self {
        Self::new()
    }
}

/// The kinds of event, with their wire names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "user.registered")]
    UserRegistered,
    #[serde(rename = "order.placed")]
    OrderPlaced,
    #[serde(rename = "order.status_changed")]
    OrderStatusChanged,
    #[serde(rename = "order.cancelled")]
    OrderCancelled,
    #[serde(rename = "product.stock_low")]
    ProductStockLow,
    #[serde(rename = "review.created")]
    ReviewCreated,
    #[serde(rename = "review.updated")]
    ReviewUpdated,
    #[serde(rename = "user.verification_requested")]
    VerificationRequested,
    #[serde(rename = "user.password_reset_requested")]
    PasswordResetRequested,
    #[serde(rename = "user.password_reset")]
    PasswordReset,
    #[serde(rename = "user.email_change_requested")]
    EmailChangeRequested,
}

impl EventType {
    pub const ALL: [EventType; 11] = [
        EventType::UserRegistered,
        EventType::OrderPlaced,
        EventType::OrderStatusChanged,
        EventType::OrderCancelled,
        EventType::ProductStockLow,
        EventType::ReviewCreated,
        EventType::ReviewUpdated,
        EventType::VerificationRequested,
        EventType::PasswordResetRequested,
        EventType::PasswordReset,
        EventType::EmailChangeRequested,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::UserRegistered => "user.registered",
            EventType::OrderPlaced => "order.placed",
            EventType::OrderStatusChanged => "order.status_changed",
            EventType::OrderCancelled => "order.cancelled",
            EventType::ProductStockLow => "product.stock_low",
            EventType::ReviewCreated => "review.created",
            EventType::ReviewUpdated => "review.updated",
            EventType::VerificationRequested => "user.verification_requested",
            EventType::PasswordResetRequested => "user.password_reset_requested",
            EventType::PasswordReset => "user.password_reset",
            EventType::EmailChangeRequested => "user.email_change_requested",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }

    /// The payload version every event of this type is written with now. A consumer reads
    /// the versions it knows; a change to a payload's shape is a new version.
    pub const fn current_version(self) -> u32 {
        1
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event as stored in the outbox and carried on the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainEvent {
    pub id: EventId,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub version: u32,
    pub occurred_at: DateTime<Utc>,
    /// One of the payload types below, as JSON (see `docs/events.md`).
    pub payload: serde_json::Value,
}

impl DomainEvent {
    fn new(event_type: EventType, occurred_at: DateTime<Utc>, payload: impl Serialize) -> Self {
        Self {
            id: EventId::new(),
            event_type,
            version: event_type.current_version(),
            occurred_at,
            // The payloads are plain structs of strings, ids and numbers: they always serialise.
            payload: serde_json::to_value(payload).unwrap_or(serde_json::Value::Null),
        }
    }

    /// The payload read as `T`.
    pub fn payload_as<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_value(self.payload.clone())
            .map_err(|e| format!("{} v{} payload: {e}", self.event_type, self.version))
    }

    /// `user.registered`, when an account is created.
    pub fn user_registered(user: &User) -> Self {
        let payload = UserRegistered {
            user_id: user.id,
            email: user.email.as_str().to_owned(),
            name: user.name.as_str().to_owned(),
        };
        Self::new(EventType::UserRegistered, user.created_at, payload)
    }

    /// `user.verification_requested`: the user asked for another verification link.
    pub fn verification_requested(user: &User, at: DateTime<Utc>) -> Self {
        Self::new(EventType::VerificationRequested, at, UserRef { user_id: user.id })
    }

    /// `user.password_reset_requested`, for ANY address asked about, an account's or not:
    /// the request answers the same whatever the address, and the handler decides whether
    /// a mail goes out (see `docs/security.md`, enumeration).
    pub fn password_reset_requested(email: &crate::Email, at: DateTime<Utc>) -> Self {
        Self::new(EventType::PasswordResetRequested, at, PasswordResetRequested { email: email.as_str().to_owned() })
    }

    /// `user.password_reset`: a reset link set a new password (a notice goes to the owner).
    pub fn password_reset(user_id: UserId, at: DateTime<Utc>) -> Self {
        Self::new(EventType::PasswordReset, at, UserRef { user_id })
    }

    /// `user.email_change_requested`: a confirmation link goes to `new_email` and a notice
    /// to the current address.
    pub fn email_change_requested(user: &User, new_email: &crate::Email, at: DateTime<Utc>) -> Self {
        let payload = EmailChangeRequested {
            user_id: user.id,
            old_email: user.email.as_str().to_owned(),
            new_email: new_email.as_str().to_owned(),
        };
        Self::new(EventType::EmailChangeRequested, at, payload)
    }

    /// `review.created`.
    pub fn review_created(review: &Review) -> Self {
        let payload = ReviewCreated {
            review_id: review.id,
            product_id: review.product_id,
            author_id: review.author.id,
            rating: review.rating,
        };
        Self::new(EventType::ReviewCreated, review.created_at, payload)
    }

    /// `review.updated`: its author changed the rating or the text (as it is after the
    /// change).
    pub fn review_updated(review: &Review) -> Self {
        let payload = ReviewUpdated {
            review_id: review.id,
            product_id: review.product_id,
            author_id: review.author.id,
            rating: review.rating,
            revision: review.revision,
        };
        Self::new(EventType::ReviewUpdated, review.updated_at, payload)
    }

    /// `product.stock_low`: the product's stock has just fallen to `stock`, at or below the
    /// threshold.
    pub fn product_stock_low(product_id: ProductId, name: &str, stock: i64, threshold: i64, at: DateTime<Utc>) -> Self {
        let payload = ProductStockLow { product_id, name: name.to_owned(), stock, threshold };
        Self::new(EventType::ProductStockLow, at, payload)
    }
}

/// Payload of `user.registered` (v1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRegistered {
    pub user_id: UserId,
    pub email: String,
    pub name: String,
}

/// Payload of `user.verification_requested` and `user.password_reset` (v1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    pub user_id: UserId,
}

/// Payload of `user.password_reset_requested` (v1): the address asked about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordResetRequested {
    pub email: String,
}

/// Payload of `user.email_change_requested` (v1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailChangeRequested {
    pub user_id: UserId,
    pub old_email: String,
    pub new_email: String,
}

/// One line of `order.placed` (v1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacedLine {
    pub product_id: ProductId,
    pub product_name: String,
    pub unit_price_cents: i64,
    pub quantity: i64,
    pub line_total_cents: i64,
}

/// Payload of `order.placed` (v1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPlaced {
    pub order_id: OrderId,
    pub user_id: Option<UserId>,
    pub total_cents: i64,
    pub items: Vec<PlacedLine>,
}

/// Payload of `order.status_changed` (v1): every move but a cancellation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStatusChanged {
    pub order_id: OrderId,
    pub user_id: Option<UserId>,
    pub from: String,
    pub to: String,
}

/// A line whose units went back to stock, in `order.cancelled` (v1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestockedLine {
    pub product_id: ProductId,
    pub quantity: i64,
}

/// Payload of `order.cancelled` (v1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCancelled {
    pub order_id: OrderId,
    pub user_id: Option<UserId>,
    pub from: String,
    pub items: Vec<RestockedLine>,
}

/// Payload of `product.stock_low` (v1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductStockLow {
    pub product_id: ProductId,
    pub name: String,
    pub stock: i64,
    pub threshold: i64,
}

/// Payload of `review.created` (v1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewCreated {
    pub review_id: ReviewId,
    pub product_id: ProductId,
    pub author_id: UserId,
    pub rating: u8,
}

/// Payload of `review.updated` (v1): the review as changed; `revision` is the revision of
/// its text after the change (the same as before when only the rating changed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewUpdated {
    pub review_id: ReviewId,
    pub product_id: ProductId,
    pub author_id: UserId,
    pub rating: u8,
    pub revision: i64,
}

/// Whether a stock change from `before` to `after` crosses the low-stock threshold
/// downwards: above it before, at or below it after. Staying low, or starting low, raises
/// nothing, so one shortage alerts once.
pub fn crosses_low_stock(before: i64, after: i64, threshold: i64) -> bool {
    before > threshold && after <= threshold
}

/// When `product.stock_low` is raised: a stock change that crosses `threshold` downwards
/// (`crosses_low_stock`), for a product never alerted or last alerted at least `window`
/// ago. Whoever can move a product's stock up and down (its owner, orders and their
/// cancellations) could otherwise cross the threshold in a loop and mail every alert
/// recipient each time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LowStockRule {
    pub threshold: i64,
    /// At most one alert per product per window.
    pub window: TimeDelta,
}

impl LowStockRule {
    /// Whether a product's stock going from `before` to `after` at `now` raises
    /// `product.stock_low`, given when the product last did (`last_alerted`). A last alert
    /// later than `now` (a clock set back) counts as within the window.
    pub fn alerts(&self, before: i64, after: i64, last_alerted: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        crosses_low_stock(before, after, self.threshold)
            && last_alerted.is_none_or(|at| now.signed_duration_since(at) >= self.window)
    }
}

/// The events a change raises, with the products it alerted as low on stock and when: the
/// store records each product's alert time in the same transaction as the events, so that
/// the next change within the window finds it (`LowStockRule::alerts`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RaisedEvents {
    pub events: Vec<DomainEvent>,
    pub low_stock_alerted: Vec<(ProductId, DateTime<Utc>)>,
}

/// The events of placing `order`, given its products as read under lock before the
/// placement took their stock: `order.placed`, and `product.stock_low` for every product
/// the order took below the threshold that `rule` lets alert.
pub fn placement_events(order: &Order, stock_before: &[StockedProduct], rule: LowStockRule) -> RaisedEvents {
    let items = order
        .items
        .iter()
        .map(|l| PlacedLine {
            product_id: l.product_id,
            product_name: l.product_name.clone(),
            unit_price_cents: l.unit_price_cents,
            quantity: l.quantity,
            line_total_cents: l.line_total_cents,
        })
        .collect();
    let placed = OrderPlaced { order_id: order.id, user_id: order.user_id, total_cents: order.total_cents, items };
    let mut raised = RaisedEvents {
        events: vec![DomainEvent::new(EventType::OrderPlaced, order.created_at, placed)],
        low_stock_alerted: Vec::new(),
    };
    for line in &order.items {
        let Some(product) = stock_before.iter().find(|p| p.id == line.product_id) else { continue };
        let after = product.stock - line.quantity;
        if rule.alerts(product.stock, after, product.low_stock_alerted_at, order.created_at) {
            raised.events.push(DomainEvent::product_stock_low(
                product.id,
                &product.name,
                after,
                rule.threshold,
                order.created_at,
            ));
            raised.low_stock_alerted.push((product.id, order.created_at));
        }
    }
    raised
}

/// The event of moving `order` (as it is after the move) from `from`: `order.cancelled`
/// for a cancellation (whose units went back to stock), else `order.status_changed`.
pub fn transition_events(order: &Order, from: OrderStatus) -> Vec<DomainEvent> {
    let event = if order.status == OrderStatus::Cancelled {
        let items =
            order.items.iter().map(|l| RestockedLine { product_id: l.product_id, quantity: l.quantity }).collect();
        let payload = OrderCancelled { order_id: order.id, user_id: order.user_id, from: from.as_str().into(), items };
        DomainEvent::new(EventType::OrderCancelled, order.updated_at, payload)
    } else {
        let payload = OrderStatusChanged {
            order_id: order.id,
            user_id: order.user_id,
            from: from.as_str().into(),
            to: order.status.as_str().into(),
        };
        DomainEvent::new(EventType::OrderStatusChanged, order.updated_at, payload)
    };
    vec![event]
}

/// The event of a product's stock set from `before` to `after` at `at` (a change by its
/// owner), given when the product last alerted: `product.stock_low` when `rule` says so.
pub fn stock_change_events(
    product_id: ProductId,
    name: &str,
    before: i64,
    after: i64,
    last_alerted: Option<DateTime<Utc>>,
    rule: LowStockRule,
    at: DateTime<Utc>,
) -> RaisedEvents {
    if rule.alerts(before, after, last_alerted, at) {
        RaisedEvents {
            events: vec![DomainEvent::product_stock_low(product_id, name, after, rule.threshold, at)],
            low_stock_alerted: vec![(product_id, at)],
        }
    } else {
        RaisedEvents::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OrderLine;

    fn pid(n: u128) -> ProductId {
        ProductId(Uuid::from_u128(n))
    }

    fn order(lines: &[(u128, i64)], status: OrderStatus) -> Order {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        Order {
            id: OrderId(Uuid::from_u128(99)),
            user_id: Some(UserId(Uuid::from_u128(7))),
            status,
            items: lines
                .iter()
                .map(|&(n, quantity)| OrderLine {
                    product_id: pid(n),
                    product_name: format!("P{n}"),
                    unit_price_cents: 100,
                    quantity,
                    line_total_cents: 100 * quantity,
                })
                .collect(),
            total_cents: lines.iter().map(|l| 100 * l.1).sum(),
            created_at: at,
            updated_at: at,
        }
    }

    fn stocked(n: u128, stock: i64) -> StockedProduct {
        StockedProduct { id: pid(n), name: format!("P{n}"), price_cents: 100, stock, low_stock_alerted_at: None }
    }

    const RULE: LowStockRule = LowStockRule { threshold: 5, window: TimeDelta::hours(1) };

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn only_a_downward_crossing_of_the_threshold_is_low_stock() {
        assert!(crosses_low_stock(6, 5, 5));
        assert!(crosses_low_stock(100, 0, 5));
        assert!(!crosses_low_stock(5, 4, 5), "already low");
        assert!(!crosses_low_stock(3, 9, 5), "going up");
        assert!(!crosses_low_stock(9, 6, 5), "still above");
    }

    #[test]
    fn a_crossing_alerts_only_when_never_alerted_or_last_alerted_a_whole_window_ago() {
        assert!(RULE.alerts(6, 5, None, at(0)), "never alerted");
        assert!(!RULE.alerts(6, 5, Some(at(0)), at(1)), "just alerted");
        assert!(!RULE.alerts(6, 5, Some(at(0)), at(3599)), "a second before the window ends");
        assert!(RULE.alerts(6, 5, Some(at(0)), at(3600)), "the window is over");
        assert!(!RULE.alerts(6, 5, Some(at(10)), at(0)), "an alert in the future (a clock set back) still counts");
        assert!(!RULE.alerts(5, 4, None, at(0)), "no crossing, no alert, whatever the window");
    }

    #[test]
    fn a_stock_change_within_the_window_raises_nothing_and_records_nothing() {
        let first = stock_change_events(pid(1), "P1", 9, 2, None, RULE, at(0));
        assert_eq!(first.events.len(), 1);
        assert_eq!(first.low_stock_alerted, vec![(pid(1), at(0))]);
        let again = stock_change_events(pid(1), "P1", 9, 2, Some(at(0)), RULE, at(60));
        assert_eq!(again, RaisedEvents::default());
        let later = stock_change_events(pid(1), "P1", 9, 2, Some(at(0)), RULE, at(3600));
        assert_eq!(later.low_stock_alerted, vec![(pid(1), at(3600))]);
        let low: ProductStockLow = later.events[0].payload_as().unwrap();
        assert_eq!((low.product_id, low.stock, low.threshold), (pid(1), 2, 5));
    }

    #[test]
    fn a_placement_alerts_only_the_products_whose_window_is_over() {
        let placed = order(&[(1, 3), (2, 3)], OrderStatus::Pending);
        let recently =
            StockedProduct { low_stock_alerted_at: Some(placed.created_at - TimeDelta::minutes(5)), ..stocked(1, 7) };
        let long_ago =
            StockedProduct { low_stock_alerted_at: Some(placed.created_at - TimeDelta::hours(2)), ..stocked(2, 7) };
        let raised = placement_events(&placed, &[recently, long_ago], RULE);
        assert_eq!(raised.low_stock_alerted, vec![(pid(2), placed.created_at)]);
        let types: Vec<EventType> = raised.events.iter().map(|e| e.event_type).collect();
        assert_eq!(types, vec![EventType::OrderPlaced, EventType::ProductStockLow]);
        let low: ProductStockLow = raised.events[1].payload_as().unwrap();
        assert_eq!(low.product_id, pid(2));
    }

    #[test]
    fn placing_raises_order_placed_and_stock_low_for_each_product_taken_below_the_threshold() {
        let placed = order(&[(1, 3), (2, 1), (3, 2)], OrderStatus::Pending);
        let raised = placement_events(&placed, &[stocked(1, 7), stocked(2, 100), stocked(3, 5)], RULE);
        assert_eq!(raised.low_stock_alerted, vec![(pid(1), placed.created_at)]);
        let events = raised.events;
        let types: Vec<EventType> = events.iter().map(|e| e.event_type).collect();
        assert_eq!(types, vec![EventType::OrderPlaced, EventType::ProductStockLow]);
        let low: ProductStockLow = events[1].payload_as().unwrap();
        assert_eq!((low.product_id, low.stock, low.threshold), (pid(1), 4, 5));
        let body: OrderPlaced = events[0].payload_as().unwrap();
        assert_eq!((body.order_id, body.total_cents, body.items.len()), (placed.id, 600, 3));
        assert!(events.iter().all(|e| e.version == 1 && e.occurred_at == placed.created_at));
        assert_ne!(events[0].id, events[1].id);
    }

    #[test]
    fn a_cancellation_is_order_cancelled_and_any_other_move_order_status_changed() {
        let cancelled = transition_events(&order(&[(1, 2)], OrderStatus::Cancelled), OrderStatus::Paid);
        assert_eq!(cancelled.len(), 1);
        let body: OrderCancelled = cancelled[0].payload_as().unwrap();
        assert_eq!((body.from.as_str(), body.items), ("paid", vec![RestockedLine { product_id: pid(1), quantity: 2 }]));
        let shipped = transition_events(&order(&[(1, 2)], OrderStatus::Shipped), OrderStatus::Paid);
        let body: OrderStatusChanged = shipped[0].payload_as().unwrap();
        assert_eq!(
            (shipped[0].event_type, body.from.as_str(), body.to.as_str()),
            (EventType::OrderStatusChanged, "paid", "shipped")
        );
    }

    #[test]
    fn events_round_trip_through_json_with_their_wire_type_names() {
        let event = DomainEvent::product_stock_low(pid(1), "Pen", 2, 5, Utc::now());
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "product.stock_low");
        assert_eq!(serde_json::from_value::<DomainEvent>(json).unwrap(), event);
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }
}
