//! Orders: their lines with price snapshots, the status life cycle, and the checks and
//! money arithmetic of placing one.

pub use crate::ids::OrderId;
use crate::{FieldViolation, ProductId, UserId};
use chrono::{DateTime, Utc};
use std::collections::HashSet;

/// Where an order is in its life: `pending → paid → shipped → delivered`, or `cancelled`
/// from `pending`/`paid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    Pending,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 5] =
        [OrderStatus::Pending, OrderStatus::Paid, OrderStatus::Shipped, OrderStatus::Delivered, OrderStatus::Cancelled];

    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether `self → to` is an allowed move.
    pub fn can_become(self, to: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!((self, to), (Pending, Paid) | (Paid, Shipped) | (Shipped, Delivered) | (Pending | Paid, Cancelled))
    }

    /// Whether the order's units count as sold (revenue, units sold).
    pub fn counts_as_sold(self) -> bool {
        matches!(self, OrderStatus::Paid | OrderStatus::Shipped | OrderStatus::Delivered)
    }
}

/// One line of an order, with the product's name and price as they were when it was placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    pub product_id: ProductId,
    pub product_name: String,
    pub unit_price_cents: i64,
    pub quantity: i64,
    pub line_total_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    /// `None` once the buyer's account is deleted.
    pub user_id: Option<UserId>,
    pub status: OrderStatus,
    pub items: Vec<OrderLine>,
    pub total_cents: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A requested line: which product, how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestedLine {
    pub product_id: ProductId,
    pub quantity: i64,
}

/// The lines of a new order, checked: 1..=50 lines, quantity 1..=1000, no product twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest(Vec<RequestedLine>);

impl OrderRequest {
    pub const MAX_LINES: usize = 50;
    pub const MAX_QUANTITY: i64 = 1000;

    pub fn parse(lines: Vec<RequestedLine>) -> Result<Self, Vec<FieldViolation>> {
        let mut violations = Vec::new();
        if lines.is_empty() || lines.len() > Self::MAX_LINES {
            violations.push(FieldViolation::new("items", format!("must hold 1..={} lines", Self::MAX_LINES)));
        }
        let mut seen = HashSet::new();
        for (i, line) in lines.iter().enumerate() {
            if !(1..=Self::MAX_QUANTITY).contains(&line.quantity) {
                violations.push(FieldViolation::new(
                    format!("items[{i}].quantity"),
                    format!("must be between 1 and {}", Self::MAX_QUANTITY),
                ));
            }
            if !seen.insert(line.product_id) {
                violations.push(FieldViolation::new(
                    format!("items[{i}].product_id"),
                    "lists a product already listed; put the whole quantity on one line",
                ));
            }
        }
        if violations.is_empty() { Ok(Self(lines)) } else { Err(violations) }
    }

    pub fn lines(&self) -> &[RequestedLine] {
        &self.0
    }
}

/// What the store knows of a product when an order takes its stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockedProduct {
    pub id: ProductId,
    pub name: String,
    pub price_cents: i64,
    pub stock: i64,
    /// When the product last raised `product.stock_low` (`LowStockRule`).
    pub low_stock_alerted_at: Option<DateTime<Utc>>,
}

/// A line that cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortage {
    /// The line's index in the request.
    pub line: usize,
    pub product_id: ProductId,
    pub requested: i64,
    pub available: i64,
}

/// Why an order cannot be placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlacementError {
    /// Lines whose product does not exist (indexes in the request).
    UnknownProducts(Vec<usize>),
    /// Every short line.
    InsufficientStock(Vec<Shortage>),
    /// A total beyond what an i64 of cents holds (cannot happen within the bounds, kept
    /// as an error rather than a panic).
    Overflow,
}

/// Prices the request against the products as they are now (read under lock): the lines
/// with their snapshots and the total, or why it cannot be placed. Unknown products are
/// reported before stock.
pub fn price_order(
    request: &OrderRequest,
    products: &[StockedProduct],
) -> Result<(Vec<OrderLine>, i64), PlacementError> {
    let find = |id: ProductId| products.iter().find(|p| p.id == id);
    let unknown: Vec<usize> =
        request.lines().iter().enumerate().filter(|(_, l)| find(l.product_id).is_none()).map(|(i, _)| i).collect();
    if !unknown.is_empty() {
        return Err(PlacementError::UnknownProducts(unknown));
    }
    let mut lines = Vec::with_capacity(request.lines().len());
    let mut shortages = Vec::new();
    let mut total: i64 = 0;
    for (i, requested) in request.lines().iter().enumerate() {
        let Some(product) = find(requested.product_id) else { continue };
        if product.stock < requested.quantity {
            shortages.push(Shortage {
                line: i,
                product_id: product.id,
                requested: requested.quantity,
                available: product.stock.max(0),
            });
            continue;
        }
        let line_total = product.price_cents.checked_mul(requested.quantity).ok_or(PlacementError::Overflow)?;
        total = total.checked_add(line_total).ok_or(PlacementError::Overflow)?;
        lines.push(OrderLine {
            product_id: product.id,
            product_name: product.name.clone(),
            unit_price_cents: product.price_cents,
            quantity: requested.quantity,
            line_total_cents: line_total,
        });
    }
    if shortages.is_empty() { Ok((lines, total)) } else { Err(PlacementError::InsufficientStock(shortages)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn pid(n: u128) -> ProductId {
        ProductId(Uuid::from_u128(n))
    }

    fn line(n: u128, quantity: i64) -> RequestedLine {
        RequestedLine { product_id: pid(n), quantity }
    }

    fn product(n: u128, price: i64, stock: i64) -> StockedProduct {
        StockedProduct { id: pid(n), name: format!("P{n}"), price_cents: price, stock, low_stock_alerted_at: None }
    }

    #[test]
    fn the_life_cycle_allows_only_forward_moves_and_early_cancellation() {
        use OrderStatus::*;
        let allowed: Vec<(OrderStatus, OrderStatus)> = OrderStatus::ALL
            .into_iter()
            .flat_map(|a| OrderStatus::ALL.into_iter().map(move |b| (a, b)))
            .filter(|(a, b)| a.can_become(*b))
            .collect();
        assert_eq!(
            allowed,
            vec![(Pending, Paid), (Pending, Cancelled), (Paid, Shipped), (Paid, Cancelled), (Shipped, Delivered)]
        );
    }

    #[test]
    fn requests_are_bounded_and_list_each_product_once() {
        assert!(OrderRequest::parse(vec![line(1, 1)]).is_ok());
        let empty = OrderRequest::parse(vec![]).unwrap_err();
        assert_eq!(empty[0].field, "items");
        let too_many = OrderRequest::parse((0..51).map(|n| line(n, 1)).collect()).unwrap_err();
        assert_eq!(too_many[0].field, "items");
        let bad = OrderRequest::parse(vec![line(1, 0), line(2, 1001), line(1, 5)]).unwrap_err();
        let fields: Vec<&str> = bad.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, vec!["items[0].quantity", "items[1].quantity", "items[2].product_id"]);
    }

    #[test]
    fn pricing_snapshots_names_and_prices_and_sums_the_lines() {
        let request = OrderRequest::parse(vec![line(1, 2), line(2, 3)]).unwrap();
        let (lines, total) = price_order(&request, &[product(1, 250, 5), product(2, 1000, 3)]).unwrap();
        assert_eq!(total, 3500);
        assert_eq!(lines[0].product_name, "P1");
        assert_eq!((lines[1].unit_price_cents, lines[1].line_total_cents), (1000, 3000));
    }

    #[test]
    fn every_short_line_is_reported_with_what_is_available() {
        let request = OrderRequest::parse(vec![line(1, 2), line(2, 3), line(3, 9)]).unwrap();
        let err = price_order(&request, &[product(1, 1, 1), product(2, 1, 3), product(3, 1, 0)]).unwrap_err();
        let PlacementError::InsufficientStock(short) = err else { panic!("{err:?}") };
        assert_eq!(
            short.iter().map(|s| (s.line, s.requested, s.available)).collect::<Vec<_>>(),
            vec![(0, 2, 1), (2, 9, 0)]
        );
    }

    #[test]
    fn unknown_products_are_reported_before_stock() {
        let request = OrderRequest::parse(vec![line(1, 2), line(9, 1)]).unwrap();
        assert_eq!(price_order(&request, &[product(1, 1, 0)]).unwrap_err(), PlacementError::UnknownProducts(vec![1]));
    }

    #[test]
    fn the_largest_possible_order_fits_in_cents() {
        let request = OrderRequest::parse((0..50).map(|n| line(n, 1000)).collect()).unwrap();
        let products: Vec<_> = (0..50).map(|n| product(n, 100_000_000, 1000)).collect();
        assert_eq!(price_order(&request, &products).unwrap().1, 5_000_000_000_000);
    }
}
