//! `OrderRepository` and `IdempotencyStore` over the in-memory state: placing an order
//! (stock taken under the one lock, priced by the domain's `price_order`), the life cycle
//! with stock given back on cancellation, the listing, the statistics, and idempotency keys.

use crate::admin::page_of;
use crate::{MemoryStore, State};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::cmp::Reverse;
use std::collections::HashMap;
use storefront_app::StoreError;
use storefront_app::ports::{
    BusinessStats, IdempotencyBegin, IdempotencyStore, LowStockProduct, NewOrder, OrderFilter, OrderRepository, Page,
    PageRequest, StoredResponse, TopProduct, TransitionOutcome,
};
use storefront_domain::{
    Order, OrderId, OrderStatus, PlacementError, ProductId, StockedProduct, UserId, placement_events, price_order,
    transition_events,
};

/// Most products the statistics rank by units sold.
const TOP_PRODUCTS: usize = 10;
/// Most products the statistics list as low on stock.
const LOW_STOCK_PRODUCTS: usize = 50;
/// How far back the statistics count a user as new.
const NEW_USER_WINDOW: Duration = Duration::days(7);

/// One idempotency key of one user.
pub(crate) struct StoredIdempotencyKey {
    /// What identifies the request body the key was first used with.
    fingerprint: String,
    /// When the key was claimed (by its first request, or again after it expired or was
    /// abandoned).
    created_at: DateTime<Utc>,
    /// The first response and when it was stored; `None` while the request runs.
    completed: Option<(StoredResponse, DateTime<Utc>)>,
}

impl StoredIdempotencyKey {
    /// Whether the key may be claimed again as if it were new: its response is past its
    /// retention, or its request never finished and was given up.
    fn is_reusable(&self, now: DateTime<Utc>, retention: Duration, abandon_after: Duration) -> bool {
        match &self.completed {
            Some((_, completed_at)) => *completed_at < now - retention,
            None => self.created_at < now - abandon_after,
        }
    }
}

impl State {
    /// Whether `user` has a non-cancelled order containing `product`.
    pub(crate) fn has_bought(&self, user: UserId, product: ProductId) -> bool {
        self.orders.values().any(|order| {
            order.user_id == Some(user)
                && order.status != OrderStatus::Cancelled
                && order.items.iter().any(|line| line.product_id == product)
        })
    }

    /// What deleting a user does to orders: they stay, without a buyer. Its idempotency
    /// keys go with it.
    pub(crate) fn forget_buyer(&mut self, user: UserId) {
        for order in self.orders.values_mut().filter(|o| o.user_id == Some(user)) {
            order.user_id = None;
        }
        self.idempotency.retain(|(owner, _), _| *owner != user);
    }

    /// The products the request names, as an order sees them; unknown ones are left out
    /// for `price_order` to report.
    fn stocked_products(&self, order: &NewOrder) -> Vec<StockedProduct> {
        order
            .request
            .lines()
            .iter()
            .filter_map(|line| {
                self.products.get(&line.product_id).map(|p| StockedProduct {
                    id: line.product_id,
                    name: p.name.clone(),
                    price_cents: p.price_cents,
                    stock: p.stock,
                })
            })
            .collect()
    }

    fn top_products(&self) -> Vec<TopProduct> {
        struct Sold<'a> {
            units: i64,
            revenue: i64,
            /// The snapshot name of the newest counted order, with that order's sort key.
            latest_name: (DateTime<Utc>, OrderId, &'a str),
        }
        let mut sold: HashMap<ProductId, Sold<'_>> = HashMap::new();
        for order in self.orders.values().filter(|o| o.status.counts_as_sold()) {
            for line in &order.items {
                let seen = (order.created_at, order.id, line.product_name.as_str());
                let entry = sold.entry(line.product_id).or_insert(Sold { units: 0, revenue: 0, latest_name: seen });
                entry.units += line.quantity;
                entry.revenue += line.line_total_cents;
                if (seen.0, seen.1) > (entry.latest_name.0, entry.latest_name.1) {
                    entry.latest_name = seen;
                }
            }
        }
        let mut top: Vec<TopProduct> = sold
            .into_iter()
            .map(|(product_id, sold)| TopProduct {
                product_id,
                name: self.products.get(&product_id).map_or_else(|| sold.latest_name.2.to_owned(), |p| p.name.clone()),
                units_sold: sold.units,
                revenue_cents: sold.revenue,
            })
            .collect();
        top.sort_by_key(|t| (Reverse(t.units_sold), Reverse(t.revenue_cents), t.product_id));
        top.truncate(TOP_PRODUCTS);
        top
    }

    fn low_stock(&self, threshold: i64) -> Vec<LowStockProduct> {
        let mut low: Vec<LowStockProduct> = self
            .products
            .iter()
            .filter(|(_, p)| p.stock <= threshold)
            .map(|(&product_id, p)| LowStockProduct { product_id, name: p.name.clone(), stock: p.stock })
            .collect();
        // `String`'s order is byte order, as PostgreSQL's `COLLATE "C"`.
        low.sort_by(|a, b| {
            a.stock.cmp(&b.stock).then_with(|| a.name.cmp(&b.name)).then(a.product_id.cmp(&b.product_id))
        });
        low.truncate(LOW_STOCK_PRODUCTS);
        low
    }
}

#[async_trait]
impl OrderRepository for MemoryStore {
    async fn place(
        &self,
        new: NewOrder,
        low_stock_threshold: i64,
    ) -> Result<Result<Order, PlacementError>, StoreError> {
        let mut state = self.state.lock().await;
        if state.orders.contains_key(&new.id) {
            return Err(StoreError::Conflict(format!("order {} already exists", new.id)));
        }
        // What the database's foreign key would refuse.
        if !state.users.contains_key(&new.user_id) {
            return Err(StoreError::InvalidReference("user_id".into()));
        }
        let products = state.stocked_products(&new);
        let (items, total_cents) = match price_order(&new.request, &products) {
            Ok(priced) => priced,
            Err(refused) => return Ok(Err(refused)),
        };
        // Every line's product exists and has the stock: `price_order` checked it, under
        // the lock that is still held.
        for line in &items {
            if let Some(product) = state.products.get_mut(&line.product_id) {
                product.stock -= line.quantity;
            }
        }
        let order = Order {
            id: new.id,
            user_id: Some(new.user_id),
            status: OrderStatus::Pending,
            items,
            total_cents,
            created_at: new.created_at,
            updated_at: new.created_at,
        };
        state.orders.insert(order.id, order.clone());
        state.append_events(placement_events(&order, &products, low_stock_threshold));
        Ok(Ok(order))
    }

    async fn get(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        Ok(self.state.lock().await.orders.get(&id).cloned())
    }

    async fn list(&self, filter: OrderFilter, page: PageRequest) -> Result<Page<Order>, StoreError> {
        let state = self.state.lock().await;
        let mut matching: Vec<&Order> = state
            .orders
            .values()
            .filter(|o| filter.user_id.is_none_or(|user| o.user_id == Some(user)))
            .filter(|o| filter.status.is_none_or(|status| o.status == status))
            .collect();
        matching.sort_by_key(|o| Reverse((o.created_at, o.id)));
        let page = page_of(matching, page);
        Ok(Page { items: page.items.into_iter().cloned().collect(), total: page.total })
    }

    async fn transition(
        &self,
        id: OrderId,
        to: OrderStatus,
        now: DateTime<Utc>,
    ) -> Result<TransitionOutcome, StoreError> {
        let mut state = self.state.lock().await;
        let order = state.orders.get_mut(&id).ok_or(StoreError::NotFound)?;
        if !order.status.can_become(to) {
            return Ok(TransitionOutcome::Refused { current: order.status });
        }
        let from = order.status;
        order.status = to;
        order.updated_at = now;
        let moved = order.clone();
        if to == OrderStatus::Cancelled {
            for line in &moved.items {
                // A deleted product has nowhere to take its stock back.
                if let Some(product) = state.products.get_mut(&line.product_id) {
                    product.stock += line.quantity;
                }
            }
        }
        state.append_events(transition_events(&moved, from));
        Ok(TransitionOutcome::Moved(moved))
    }

    async fn has_bought(&self, user: UserId, product: ProductId) -> Result<bool, StoreError> {
        Ok(self.state.lock().await.has_bought(user, product))
    }

    async fn stats(&self, low_stock_threshold: i64, now: DateTime<Utc>) -> Result<BusinessStats, StoreError> {
        let state = self.state.lock().await;
        let since = now - NEW_USER_WINDOW;
        let users_new_7d = state.users.values().filter(|s| (since..=now).contains(&s.user.created_at)).count() as i64;
        let orders_by_status = OrderStatus::ALL
            .into_iter()
            .map(|status| (status, state.orders.values().filter(|o| o.status == status).count() as i64))
            .collect();
        let sold = state.orders.values().filter(|o| o.status.counts_as_sold());
        let (revenue_cents, units_sold) = sold.fold((0, 0), |(revenue, units), order| {
            (revenue + order.total_cents, units + order.items.iter().map(|l| l.quantity).sum::<i64>())
        });
        Ok(BusinessStats {
            users_total: state.users.len() as i64,
            users_new_7d,
            products_total: state.products.len() as i64,
            orders_by_status,
            revenue_cents,
            units_sold,
            top_products: state.top_products(),
            low_stock: state.low_stock(low_stock_threshold),
        })
    }
}

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn begin(
        &self,
        user: UserId,
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
        retention: Duration,
        abandon_after: Duration,
    ) -> Result<IdempotencyBegin, StoreError> {
        let mut state = self.state.lock().await;
        let id = (user, key.to_owned());
        match state.idempotency.get(&id) {
            Some(stored) if !stored.is_reusable(now, retention, abandon_after) => {
                Ok(if stored.fingerprint != fingerprint {
                    IdempotencyBegin::KeyReused
                } else if let Some((response, _)) = &stored.completed {
                    IdempotencyBegin::Replay(response.clone())
                } else {
                    IdempotencyBegin::InFlight
                })
            }
            _ => {
                let claim =
                    StoredIdempotencyKey { fingerprint: fingerprint.to_owned(), created_at: now, completed: None };
                state.idempotency.insert(id, claim);
                Ok(IdempotencyBegin::Fresh)
            }
        }
    }

    async fn complete(
        &self,
        user: UserId,
        key: &str,
        response: StoredResponse,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        // A claim that is gone (purged, or its user deleted) has nothing to complete, as an
        // UPDATE matching no row.
        if let Some(stored) = state.idempotency.get_mut(&(user, key.to_owned())) {
            stored.completed = Some((response, now));
        }
        Ok(())
    }

    async fn release(&self, user: UserId, key: &str) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        let id = (user, key.to_owned());
        // Only a claim is released: a stored response is kept for its replays.
        if state.idempotency.get(&id).is_some_and(|stored| stored.completed.is_none()) {
            state.idempotency.remove(&id);
        }
        Ok(())
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut state = self.state.lock().await;
        let count = state.idempotency.len();
        state.idempotency.retain(|_, stored| stored.created_at >= before);
        Ok((count - state.idempotency.len()) as u64)
    }
}
