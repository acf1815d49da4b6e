//! Contract of `OrderRepository`'s unit of work: its writes (an order, its stock, its
//! events, its idempotency key's response) commit together or not at all, and a unit that
//! ends without committing lets the next one through. Then the rule the service builds on
//! it, run against every store through a wrapper that injects faults at the unit's edges:
//! an order placed under a key whose commit's answer is lost is replayed, never placed
//! again; one that failed before its commit leaves its key retriable; and a unit the store
//! aborts runs again, rule included.

use super::support::{LOW_STOCK, RETENTION, create_product, create_user, every_order, now, stock_of};
use crate::OrderStores;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use storefront_app::ports::{
    BusinessStats, IdempotencyBegin, OrderFilter, OrderRepository, OrderUnit, Page, PageRequest, StoredResponse,
    SystemClock, UuidV7Generator,
};
use storefront_app::{AppError, IdempotentResponse, OrderService, OrderSettings, Principal, StoreError};
use storefront_domain::{
    DomainEvent, Order, OrderId, OrderLine, OrderStatus, PermissionSet, ProductId, RequestedLine, SessionId,
    StockedProduct, User, UserId,
};
use uuid::Uuid;

const KEY: &str = "unit-key-1";
const BODY: &str = "sha256:unit-body";
const ABANDON_AFTER: chrono::Duration = chrono::Duration::minutes(5);

/// A pending order of `quantity` units of `product` as the service would write it.
fn pending_order(buyer: UserId, product: &StockedProduct, quantity: i64) -> Order {
    let at = now();
    Order {
        id: OrderId(Uuid::now_v7()),
        user_id: Some(buyer),
        status: OrderStatus::Pending,
        items: vec![OrderLine {
            product_id: product.id,
            product_name: product.name.clone(),
            unit_price_cents: product.price_cents,
            quantity,
            line_total_cents: product.price_cents * quantity,
        }],
        total_cents: product.price_cents * quantity,
        created_at: at,
        updated_at: at,
    }
}

fn created(order: OrderId) -> StoredResponse {
    StoredResponse { status: 201, location: Some(format!("/api/v1/orders/{order}")), body: b"{\"placed\":1}".to_vec() }
}

async fn claim(stores: &OrderStores, user: UserId) -> IdempotencyBegin {
    stores.idempotency.begin(user, KEY, BODY, now(), RETENTION, ABANDON_AFTER).await.unwrap()
}

/// Writes an order of 3 units of `product` with its key's response in a unit it returns
/// open.
async fn unit_with_an_order(stores: &OrderStores, buyer: UserId, product: ProductId) -> (Box<dyn OrderUnit>, Order) {
    let mut unit = stores.orders.begin().await.unwrap();
    let locked = unit.lock_products(&[product]).await.unwrap();
    let order = pending_order(buyer, &locked[0], 3);
    unit.insert_order(&order, &[]).await.unwrap();
    unit.complete_key(buyer, KEY, &created(order.id), now()).await.unwrap();
    (unit, order)
}

/// A unit can begin, and commit, within a bound (the previous one left no lock behind).
async fn a_unit_goes_through(stores: &OrderStores, product: ProductId) {
    let next = async {
        let mut unit = stores.orders.begin().await.unwrap();
        unit.lock_products(&[product]).await.unwrap();
        unit.commit().await.unwrap();
    };
    tokio::time::timeout(Duration::from_secs(10), next).await.expect("the next unit was let through");
}

pub async fn an_order_and_its_keys_response_commit_together(stores: OrderStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let pen = create_product(&stores, seller.id, "Pen", 250, 10).await;
    assert_eq!(claim(&stores, buyer.id).await, IdempotencyBegin::Fresh);

    let (unit, order) = unit_with_an_order(&stores, buyer.id, pen.id).await;
    unit.commit().await.unwrap();

    assert_eq!(stores.orders.get(order.id).await.unwrap(), Some(order.clone()));
    assert_eq!(stock_of(&stores, pen.id).await, 7);
    assert_eq!(claim(&stores, buyer.id).await, IdempotencyBegin::Replay(created(order.id)));
}

pub async fn a_unit_rolled_back_or_dropped_writes_nothing_and_lets_the_next_unit_through(stores: OrderStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let pen = create_product(&stores, seller.id, "Pen", 250, 10).await;
    assert_eq!(claim(&stores, buyer.id).await, IdempotencyBegin::Fresh);

    for rolled_back in [true, false] {
        let (mut unit, order) = unit_with_an_order(&stores, buyer.id, pen.id).await;
        let event = DomainEvent::product_stock_low(pen.id, "Pen", 7, LOW_STOCK, now());
        unit.append_events(&[event]).await.unwrap();
        unit.record_low_stock_alerts(&[(pen.id, now())]).await.unwrap();
        if rolled_back {
            unit.rollback().await.unwrap();
        } else {
            drop(unit);
        }

        assert_eq!(stores.orders.get(order.id).await.unwrap(), None, "rolled back: {rolled_back}");
        assert_eq!(stock_of(&stores, pen.id).await, 10);
        let mut reading = stores.orders.begin().await.unwrap();
        let read = reading.lock_products(&[pen.id]).await.unwrap();
        reading.rollback().await.unwrap();
        assert_eq!(read[0].low_stock_alerted_at, None, "the alert time goes with the unit");
        assert_eq!(claim(&stores, buyer.id).await, IdempotencyBegin::InFlight, "claimed, never completed");
        a_unit_goes_through(&stores, pen.id).await;
    }
}

/// A fault to inject into the next unit of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// The commit is made, and its answer lost (the connection died with it in flight).
    AnswerLostAfterCommit,
    /// The store fails before the commit: nothing is written.
    FailsBeforeCommit,
    /// The store aborts the unit as a deadlock victim when it writes the order.
    AbortsTheWrite,
}

/// The store under test, with a fault injected into its next unit.
struct Faulty {
    inner: Arc<dyn OrderRepository>,
    next: Mutex<Option<Fault>>,
    /// How many times units read the products they lock.
    reads: Arc<AtomicUsize>,
}

struct FaultyUnit {
    inner: Box<dyn OrderUnit>,
    fault: Option<Fault>,
    reads: Arc<AtomicUsize>,
}

fn lost() -> StoreError {
    StoreError::Unavailable("the connection to the store was lost".into())
}

#[async_trait]
impl OrderRepository for Faulty {
    async fn begin(&self) -> Result<Box<dyn OrderUnit>, StoreError> {
        let fault = self.next.lock().unwrap().take();
        let inner = self.inner.begin().await?;
        Ok(Box::new(FaultyUnit { inner, fault, reads: Arc::clone(&self.reads) }))
    }

    async fn get(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        self.inner.get(id).await
    }

    async fn list(&self, filter: OrderFilter, page: PageRequest) -> Result<Page<Order>, StoreError> {
        self.inner.list(filter, page).await
    }

    async fn has_bought(&self, user: UserId, product: ProductId) -> Result<bool, StoreError> {
        self.inner.has_bought(user, product).await
    }

    async fn stats(&self, low_stock_threshold: i64, now: DateTime<Utc>) -> Result<BusinessStats, StoreError> {
        self.inner.stats(low_stock_threshold, now).await
    }
}

#[async_trait]
impl OrderUnit for FaultyUnit {
    async fn lock_products(&mut self, ids: &[ProductId]) -> Result<Vec<StockedProduct>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.lock_products(ids).await
    }

    async fn insert_order(&mut self, order: &Order, events: &[DomainEvent]) -> Result<(), StoreError> {
        if self.fault == Some(Fault::AbortsTheWrite) {
            return Err(StoreError::Aborted("deadlock detected".into()));
        }
        self.inner.insert_order(order, events).await
    }

    async fn lock_order(&mut self, id: OrderId, with_products: bool) -> Result<Option<Order>, StoreError> {
        self.inner.lock_order(id, with_products).await
    }

    async fn update_status(&mut self, order: &Order) -> Result<(), StoreError> {
        self.inner.update_status(order).await
    }

    async fn restock(&mut self, lines: &[OrderLine]) -> Result<(), StoreError> {
        self.inner.restock(lines).await
    }

    async fn append_events(&mut self, events: &[DomainEvent]) -> Result<(), StoreError> {
        self.inner.append_events(events).await
    }

    async fn record_low_stock_alerts(&mut self, alerts: &[(ProductId, DateTime<Utc>)]) -> Result<(), StoreError> {
        self.inner.record_low_stock_alerts(alerts).await
    }

    async fn complete_key(
        &mut self,
        user: UserId,
        key: &str,
        response: &StoredResponse,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.complete_key(user, key, response, now).await
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        match self.fault {
            Some(Fault::AnswerLostAfterCommit) => {
                self.inner.commit().await?;
                Err(lost())
            }
            Some(Fault::FailsBeforeCommit) => {
                self.inner.rollback().await?;
                Err(lost())
            }
            _ => self.inner.commit().await,
        }
    }

    async fn rollback(self: Box<Self>) -> Result<(), StoreError> {
        self.inner.rollback().await
    }
}

/// The order service over the stores, with `fault` injected into its next unit.
struct Shop {
    service: OrderService,
    store: Arc<Faulty>,
    buyer: Principal,
    pen: ProductId,
}

async fn shop(stores: &OrderStores, fault: Fault) -> Shop {
    let seller = create_user(stores, "seller@example.com").await;
    let buyer: User = create_user(stores, "buyer@example.com").await;
    let pen = create_product(stores, seller.id, "Pen", 250, 10).await.id;
    let store = Arc::new(Faulty {
        inner: Arc::clone(&stores.orders),
        next: Mutex::new(Some(fault)),
        reads: Arc::new(AtomicUsize::new(0)),
    });
    let service = OrderService::new(
        store.clone(),
        Arc::clone(&stores.idempotency),
        Arc::new(SystemClock),
        Arc::new(UuidV7Generator),
        OrderSettings::default(),
    );
    let buyer = Principal { user: buyer, session_id: SessionId(Uuid::now_v7()), permissions: PermissionSet::default() };
    Shop { service, store, buyer, pen }
}

impl Shop {
    /// Places 3 pens under `KEY`, rendering a 201 that names the order.
    async fn place(&self) -> Result<IdempotentResponse, AppError> {
        let lines = vec![RequestedLine { product_id: self.pen, quantity: 3 }];
        let render = |placed: Result<Order, AppError>| match placed {
            Ok(order) => created(order.id),
            Err(error) => StoredResponse { status: 409, location: None, body: error.to_string().into_bytes() },
        };
        self.service.place_idempotently(&self.buyer, KEY, BODY, Ok(lines), render).await
    }
}

pub async fn a_keyed_placement_whose_commit_answer_is_lost_is_replayed_and_not_placed_again(stores: OrderStores) {
    let shop = shop(&stores, Fault::AnswerLostAfterCommit).await;

    let first = shop.place().await;
    assert!(matches!(first, Err(AppError::Unavailable(_))), "{first:?}");

    let retry = shop.place().await.unwrap();
    let orders = every_order(&stores).await;
    assert_eq!(orders.len(), 1, "exactly one order");
    assert_eq!(retry, IdempotentResponse::Replayed(created(orders[0].id)), "the committed order, replayed");
    assert_eq!(stock_of(&stores, shop.pen).await, 7);
}

pub async fn a_keyed_placement_that_failed_before_its_commit_leaves_its_key_retriable(stores: OrderStores) {
    let shop = shop(&stores, Fault::FailsBeforeCommit).await;

    let first = shop.place().await;
    assert!(matches!(first, Err(AppError::Unavailable(_))), "{first:?}");
    assert!(every_order(&stores).await.is_empty(), "nothing was written");
    assert_eq!(stock_of(&stores, shop.pen).await, 10);

    let retry = shop.place().await.unwrap();
    let orders = every_order(&stores).await;
    assert_eq!(orders.len(), 1);
    assert_eq!(retry, IdempotentResponse::First(created(orders[0].id)), "the retry ran, not in flight");
    assert_eq!(shop.place().await.unwrap(), IdempotentResponse::Replayed(created(orders[0].id)));
    assert_eq!(stock_of(&stores, shop.pen).await, 7);
}

pub async fn a_unit_the_store_aborts_runs_again_from_its_reads(stores: OrderStores) {
    let shop = shop(&stores, Fault::AbortsTheWrite).await;

    let placed = shop.place().await.unwrap();

    let orders = every_order(&stores).await;
    assert_eq!(orders.len(), 1);
    assert_eq!(placed, IdempotentResponse::First(created(orders[0].id)));
    assert_eq!(shop.store.reads.load(Ordering::SeqCst), 2, "the products were read again, and priced again");
    assert_eq!(stock_of(&stores, shop.pen).await, 7);
}
