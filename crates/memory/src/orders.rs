//! `OrderRepository` and `IdempotencyStore` over the in-memory state: the unit of work
//! (the one lock held from `begin` to its end, its writes applied at `commit`), the
//! listing, the statistics, and idempotency keys.

use crate::admin::page_of;
use crate::records::StoredIdempotencyKey;
use crate::store::{MemoryStore, State};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::cmp::Reverse;
use std::collections::HashMap;
use storefront_app::StoreError;
use storefront_app::ports::{
    BusinessStats, IdempotencyBegin, IdempotencyStore, LowStockProduct, OrderFilter, OrderRepository, OrderUnit, Page,
    PageRequest, StoredResponse, TopProduct,
};
use storefront_domain::{DomainEvent, Order, OrderId, OrderLine, OrderStatus, ProductId, StockedProduct, UserId};
use tokio::sync::OwnedMutexGuard;

/// Most products the statistics rank by units sold.
const TOP_PRODUCTS: usize = 10;
/// Most products the statistics list as low on stock.
const LOW_STOCK_PRODUCTS: usize = 50;
/// How far back the statistics count a user as new.
const NEW_USER_WINDOW: Duration = Duration::days(7);

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

/// A write of a unit of work, applied at its commit.
enum Write {
    /// A new order: its lines' stock taken, its events appended.
    Order(Order, Vec<DomainEvent>),
    Status(Order),
    Restock(Vec<OrderLine>),
    Events(Vec<DomainEvent>),
    LowStockAlerts(Vec<(ProductId, DateTime<Utc>)>),
    KeyCompleted {
        user: UserId,
        key: String,
        response: StoredResponse,
        now: DateTime<Utc>,
    },
}

/// A unit of work: the store's one lock, held until the unit ends (so every read in it is
/// as good as locked), and the writes it will apply at once when it commits.
struct MemoryOrderUnit {
    state: OwnedMutexGuard<State>,
    writes: Vec<Write>,
}

impl MemoryOrderUnit {
    /// Whether the unit already writes an order with this id.
    fn writes_order(&self, id: OrderId) -> bool {
        self.writes.iter().any(|w| matches!(w, Write::Order(order, _) if order.id == id))
    }
}

#[async_trait]
impl OrderUnit for MemoryOrderUnit {
    async fn lock_products(&mut self, ids: &[ProductId]) -> Result<Vec<StockedProduct>, StoreError> {
        let mut ids = ids.to_vec();
        ids.sort();
        Ok(ids
            .into_iter()
            .filter_map(|id| {
                self.state.products.get(&id).map(|p| StockedProduct {
                    id,
                    name: p.name.clone(),
                    price_cents: p.price_cents,
                    stock: p.stock,
                    low_stock_alerted_at: p.low_stock_alerted_at,
                })
            })
            .collect())
    }

    async fn insert_order(&mut self, order: &Order, events: &[DomainEvent]) -> Result<(), StoreError> {
        if self.state.orders.contains_key(&order.id) || self.writes_order(order.id) {
            return Err(StoreError::Conflict(format!("order {} already exists", order.id)));
        }
        // What the database's foreign key would refuse.
        if order.user_id.is_some_and(|user| !self.state.users.contains_key(&user)) {
            return Err(StoreError::InvalidReference("user_id".into()));
        }
        self.writes.push(Write::Order(order.clone(), events.to_vec()));
        Ok(())
    }

    async fn lock_order(&mut self, id: OrderId, _with_products: bool) -> Result<Option<Order>, StoreError> {
        Ok(self.state.orders.get(&id).cloned())
    }

    async fn update_status(&mut self, order: &Order) -> Result<(), StoreError> {
        self.writes.push(Write::Status(order.clone()));
        Ok(())
    }

    async fn restock(&mut self, lines: &[OrderLine]) -> Result<(), StoreError> {
        self.writes.push(Write::Restock(lines.to_vec()));
        Ok(())
    }

    async fn append_events(&mut self, events: &[DomainEvent]) -> Result<(), StoreError> {
        self.writes.push(Write::Events(events.to_vec()));
        Ok(())
    }

    async fn record_low_stock_alerts(&mut self, alerts: &[(ProductId, DateTime<Utc>)]) -> Result<(), StoreError> {
        self.writes.push(Write::LowStockAlerts(alerts.to_vec()));
        Ok(())
    }

    async fn complete_key(
        &mut self,
        user: UserId,
        key: &str,
        response: &StoredResponse,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.writes.push(Write::KeyCompleted { user, key: key.to_owned(), response: response.clone(), now });
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let MemoryOrderUnit { mut state, writes } = *self;
        for write in writes {
            match write {
                Write::Order(order, events) => {
                    for line in &order.items {
                        if let Some(product) = state.products.get_mut(&line.product_id) {
                            product.stock -= line.quantity;
                        }
                    }
                    state.orders.insert(order.id, order);
                    state.append_events(events);
                }
                Write::Status(moved) => {
                    if let Some(order) = state.orders.get_mut(&moved.id) {
                        order.status = moved.status;
                        order.updated_at = moved.updated_at;
                    }
                }
                Write::Restock(lines) => {
                    for line in &lines {
                        // A deleted product has nowhere to take its stock back.
                        if let Some(product) = state.products.get_mut(&line.product_id) {
                            product.stock += line.quantity;
                        }
                    }
                }
                Write::Events(events) => state.append_events(events),
                Write::LowStockAlerts(alerts) => state.record_low_stock_alerts(&alerts),
                Write::KeyCompleted { user, key, response, now } => {
                    // A claim that is gone (purged, or its user deleted) has nothing to
                    // complete, as an UPDATE matching no row.
                    if let Some(stored) = state.idempotency.get_mut(&(user, key)) {
                        stored.completed = Some((response, now));
                    }
                }
            }
        }
        Ok(())
    }

    async fn rollback(self: Box<Self>) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl OrderRepository for MemoryStore {
    async fn begin(&self) -> Result<Box<dyn OrderUnit>, StoreError> {
        let state = std::sync::Arc::clone(&self.state).lock_owned().await;
        Ok(Box::new(MemoryOrderUnit { state, writes: Vec::new() }))
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
