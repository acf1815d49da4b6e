//! The administration view of the business (`/admin/stats`): users, products, orders by
//! status, revenue, best sellers and low stock, computed by the store with aggregates.

use crate::error::ApiError;
use crate::permissions::{AnalyticsRead, RequirePermission};
use crate::responses::{PermissionErrors, ServerErrors};
use crate::state::AppState;
use actix_web::HttpResponse;
use actix_web::web::Data;
use serde::Serialize;
use storefront_app::ports::{BusinessStats, LowStockProduct, TopProduct};
use storefront_domain::OrderStatus;
use utoipa::ToSchema;
use uuid::Uuid;

/// How many orders are in each status (every status, zero included).
#[derive(Serialize, ToSchema, Default)]
pub struct OrdersByStatus {
    pub pending: i64,
    pub paid: i64,
    pub shipped: i64,
    pub delivered: i64,
    pub cancelled: i64,
}

impl From<&[(OrderStatus, i64)]> for OrdersByStatus {
    fn from(counts: &[(OrderStatus, i64)]) -> Self {
        let mut by = OrdersByStatus::default();
        for &(status, n) in counts {
            let slot = match status {
                OrderStatus::Pending => &mut by.pending,
                OrderStatus::Paid => &mut by.paid,
                OrderStatus::Shipped => &mut by.shipped,
                OrderStatus::Delivered => &mut by.delivered,
                OrderStatus::Cancelled => &mut by.cancelled,
            };
            *slot += n;
        }
        by
    }
}

/// A best seller.
#[derive(Serialize, ToSchema)]
pub struct TopProductResponse {
    pub product_id: Uuid,
    /// The product's current name, or once it is deleted the name its latest sale recorded.
    pub name: String,
    pub units_sold: i64,
    pub revenue_cents: i64,
}

impl From<TopProduct> for TopProductResponse {
    fn from(t: TopProduct) -> Self {
        Self { product_id: t.product_id.0, name: t.name, units_sold: t.units_sold, revenue_cents: t.revenue_cents }
    }
}

/// A product at or below the low-stock threshold.
#[derive(Serialize, ToSchema)]
pub struct LowStockResponse {
    pub product_id: Uuid,
    pub name: String,
    pub stock: i64,
}

impl From<LowStockProduct> for LowStockResponse {
    fn from(l: LowStockProduct) -> Self {
        Self { product_id: l.product_id.0, name: l.name, stock: l.stock }
    }
}

/// The business at a glance.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "users_total": 2000,
    "users_new_7d": 35,
    "products_total": 10000,
    "orders_by_status": {"pending": 120, "paid": 300, "shipped": 80, "delivered": 4400, "cancelled": 100},
    "revenue_cents": 123456789,
    "units_sold": 15230,
    "top_products": [{"product_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a80", "name": "Walnut desk", "units_sold": 310, "revenue_cents": 7719000}],
    "low_stock": [{"product_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a81", "name": "Brass lamp", "stock": 0}]
}))]
pub struct BusinessStatsResponse {
    pub users_total: i64,
    /// Accounts created in the last 7 days.
    pub users_new_7d: i64,
    pub products_total: i64,
    pub orders_by_status: OrdersByStatus,
    /// The totals of `paid`, `shipped` and `delivered` orders, in minor units.
    pub revenue_cents: i64,
    /// Units in `paid`, `shipped` and `delivered` orders.
    pub units_sold: i64,
    /// At most 10, by units sold, then revenue (both descending), then product id.
    pub top_products: Vec<TopProductResponse>,
    /// Products with stock at or below the configured threshold (default 5), lowest first,
    /// then by name; at most 50.
    pub low_stock: Vec<LowStockResponse>,
}

impl From<BusinessStats> for BusinessStatsResponse {
    fn from(s: BusinessStats) -> Self {
        Self {
            users_total: s.users_total,
            users_new_7d: s.users_new_7d,
            products_total: s.products_total,
            orders_by_status: OrdersByStatus::from(s.orders_by_status.as_slice()),
            revenue_cents: s.revenue_cents,
            units_sold: s.units_sold,
            top_products: s.top_products.into_iter().map(TopProductResponse::from).collect(),
            low_stock: s.low_stock.into_iter().map(LowStockResponse::from).collect(),
        }
    }
}

/// Business statistics
///
/// Computed on request by aggregate queries, in one consistent snapshot. Revenue and units
/// count `paid`, `shipped` and `delivered` orders.
#[utoipa::path(
    get,
    path = "/api/v1/admin/stats",
    tag = "admin",
    operation_id = "business_stats",
    security(("oauth2" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The statistics", body = BusinessStatsResponse),
        PermissionErrors,
        ServerErrors,
    )
)]
pub async fn business_stats(
    _caller: RequirePermission<AnalyticsRead>,
    state: Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let stats = state.orders.stats().await?;
    Ok(HttpResponse::Ok().json(BusinessStatsResponse::from(stats)))
}
