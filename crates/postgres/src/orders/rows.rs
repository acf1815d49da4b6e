//! The rows orders are read as (an order and one of its lines per row) and their folding
//! into domain orders, shared by the repository (`orders`) and its unit of work (`unit`).

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use storefront_app::StoreError;
use storefront_domain::{Order, OrderId, OrderLine, OrderStatus, ProductId, UserId};
use uuid::Uuid;

/// The columns of an order and one of its lines, over `o` and `l`.
pub(super) const ORDER_LINE_COLUMNS: &str = "\
o.id, o.user_id, o.status, o.total_cents, o.created_at, o.updated_at, \
l.product_id, l.product_name, l.unit_price_cents, l.quantity, l.line_total_cents";

/// An order's own columns.
#[derive(QueryableByName)]
pub(super) struct OrderRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    user_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    total_cents: i64,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    updated_at: DateTime<Utc>,
}

#[derive(QueryableByName)]
pub(super) struct LineRow {
    #[diesel(sql_type = SqlUuid)]
    product_id: Uuid,
    #[diesel(sql_type = Text)]
    product_name: String,
    #[diesel(sql_type = BigInt)]
    unit_price_cents: i64,
    #[diesel(sql_type = BigInt)]
    quantity: i64,
    #[diesel(sql_type = BigInt)]
    line_total_cents: i64,
}

/// One line of an order, with its order: orders are read as one row per line, in order.
#[derive(QueryableByName)]
pub(super) struct OrderLineRow {
    #[diesel(embed)]
    pub(super) order: OrderRow,
    #[diesel(embed)]
    pub(super) line: LineRow,
}

/// One row of a listing page: the total, and an order line unless the page is empty.
#[derive(QueryableByName)]
pub(super) struct PageRow {
    #[diesel(sql_type = BigInt)]
    pub(super) total: i64,
    #[diesel(embed)]
    pub(super) order: Option<OrderRow>,
    #[diesel(embed)]
    pub(super) line: Option<LineRow>,
}

fn parse_status(order: Uuid, raw: &str) -> Result<OrderStatus, StoreError> {
    OrderStatus::parse(raw).ok_or_else(|| StoreError::Internal(format!("order {order} has an unknown status {raw}")))
}

/// Folds rows of (order, line), ordered by order then line, into orders.
pub(super) fn orders_of(rows: impl IntoIterator<Item = (OrderRow, Option<LineRow>)>) -> Result<Vec<Order>, StoreError> {
    let mut orders: Vec<Order> = Vec::new();
    for (row, line) in rows {
        if orders.last().is_none_or(|last| last.id.0 != row.id) {
            orders.push(Order {
                id: OrderId(row.id),
                user_id: row.user_id.map(UserId),
                status: parse_status(row.id, &row.status)?,
                items: Vec::new(),
                total_cents: row.total_cents,
                created_at: row.created_at,
                updated_at: row.updated_at,
            });
        }
        if let (Some(order), Some(line)) = (orders.last_mut(), line) {
            order.items.push(OrderLine {
                product_id: ProductId(line.product_id),
                product_name: line.product_name,
                unit_price_cents: line.unit_price_cents,
                quantity: line.quantity,
                line_total_cents: line.line_total_cents,
            });
        }
    }
    Ok(orders)
}
