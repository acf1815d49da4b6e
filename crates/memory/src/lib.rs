//! The in-memory adapter of the persistence ports: one `MemoryStore` holding users,
//! sessions, refresh tokens, role grants, the catalogue, orders, idempotency keys and the
//! event outbox behind a single lock, for `cargo run` without a database and for fast HTTP tests. Its semantics
//! match the PostgreSQL adapter's; the shared contract tests (`storefront-contract`) prove
//! it.
//!
//! Every port method takes the one lock once and never awaits while holding it, so each
//! method is atomic, as a database transaction would be; an orders' unit of work holds the
//! lock from `begin` to its end and applies its writes at once when it commits.

mod admin;
mod catalog;
mod events;
mod orders;
mod rate_limit;
mod sessions;
mod users;

use async_trait::async_trait;
use catalog::{StoredCategory, StoredProduct, StoredReview};
use chrono::{DateTime, Utc};
use events::StoredEvent;
use orders::StoredIdempotencyKey;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use storefront_app::ports::{AuditEntry, ReadinessProbe, RefreshTokenHash};
use storefront_domain::{
    CategoryId, EventId, Order, OrderId, PasswordHash, Permission, ProductId, ReviewId, RoleName, Session, SessionId,
    User, UserId,
};
use tokio::sync::Mutex;

pub use rate_limit::MemoryRateLimiter;

/// The in-memory store; clones share the same state.
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl MemoryStore {
    /// An empty store whose built-in roles hold their default grants.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Everything the store holds. Plain maps: the store is meant for small data sets.
struct State {
    users: HashMap<UserId, StoredUser>,
    sessions: HashMap<SessionId, StoredSession>,
    refresh_tokens: HashMap<RefreshTokenHash, StoredRefreshToken>,
    /// Roles and their grants, kept in the store (not derived from the role name) so that
    /// grants can change at run time.
    roles: BTreeMap<RoleName, StoredRole>,
    /// The audit log, oldest first.
    audit: Vec<AuditEntry>,
    products: HashMap<ProductId, StoredProduct>,
    categories: HashMap<CategoryId, StoredCategory>,
    /// Which product is in which category.
    product_categories: BTreeSet<(ProductId, CategoryId)>,
    /// Who likes which product, and since when.
    likes: HashMap<(ProductId, UserId), DateTime<Utc>>,
    reviews: HashMap<ReviewId, StoredReview>,
    /// Orders with their snapshot lines; they outlive their buyer and their products.
    orders: HashMap<OrderId, Order>,
    /// Idempotency keys, per user.
    idempotency: HashMap<(UserId, String), StoredIdempotencyKey>,
    /// The outbox: every event, in the order the changes raising them were made.
    outbox: Vec<StoredEvent>,
    /// (handler, event) pairs handled, and when.
    processed: HashMap<(String, EventId), events::Processing>,
}

struct StoredRole {
    description: String,
    builtin: bool,
    grants: BTreeSet<Permission>,
}

impl Default for State {
    fn default() -> Self {
        let builtin = [
            (RoleName::USER, "Every new account"),
            (RoleName::MODERATOR, "Moderates reviews; reads users, orders and statistics"),
            (RoleName::ADMIN, "Holds every permission, always"),
        ];
        let roles = builtin
            .into_iter()
            .filter_map(|(name, description)| RoleName::parse(name).ok().map(|role| (role, description)))
            .map(|(role, description)| {
                let grants = role.default_grants().into_iter().collect();
                (role, StoredRole { description: description.to_owned(), builtin: true, grants })
            })
            .collect();
        Self {
            users: HashMap::new(),
            sessions: HashMap::new(),
            refresh_tokens: HashMap::new(),
            roles,
            audit: Vec::new(),
            products: HashMap::new(),
            categories: HashMap::new(),
            product_categories: BTreeSet::new(),
            likes: HashMap::new(),
            reviews: HashMap::new(),
            orders: HashMap::new(),
            idempotency: HashMap::new(),
            outbox: Vec::new(),
            processed: HashMap::new(),
        }
    }
}

struct StoredUser {
    user: User,
    password_hash: PasswordHash,
}

struct StoredSession {
    session: Session,
    /// When the family's newest refresh token expires; the session is active until then.
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl StoredSession {
    fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }

    /// Revokes the session unless it already is (the first revocation time is kept).
    fn revoke(&mut self, now: DateTime<Utc>) {
        self.revoked_at.get_or_insert(now);
    }
}

struct StoredRefreshToken {
    session_id: SessionId,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
}

#[async_trait]
impl ReadinessProbe for MemoryStore {
    fn name(&self) -> &'static str {
        "database"
    }

    /// Memory is always there.
    async fn check(&self) -> Result<(), String> {
        Ok(())
    }
}
