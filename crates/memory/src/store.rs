//! `MemoryStore` and the state behind its one lock: the maps every port reads and writes,
//! with the records of users, sessions, refresh tokens and roles.

use crate::records::{
    AssistantData, Processing, StoredCategory, StoredEvent, StoredIdempotencyKey, StoredProduct, StoredReview,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use storefront_app::ports::{AuditEntry, LinkPurpose, LinkToken, ReadinessProbe, RefreshTokenHash};
use storefront_domain::{
    CategoryId, EventId, Order, OrderId, PasswordHash, Permission, ProductId, ReviewId, RoleName, Session, SessionId,
    User, UserId,
};
use tokio::sync::Mutex;

/// The in-memory store; clones share the same state.
#[derive(Clone, Default)]
pub struct MemoryStore {
    pub(crate) state: Arc<Mutex<State>>,
}

impl MemoryStore {
    /// An empty store whose built-in roles hold their default grants.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Everything the store holds. Plain maps: the store is meant for small data sets.
pub(crate) struct State {
    pub(crate) users: HashMap<UserId, StoredUser>,
    pub(crate) sessions: HashMap<SessionId, StoredSession>,
    pub(crate) refresh_tokens: HashMap<RefreshTokenHash, StoredRefreshToken>,
    /// Roles and their grants, kept in the store (not derived from the role name) so that
    /// grants can change at run time.
    pub(crate) roles: BTreeMap<RoleName, StoredRole>,
    /// The audit log, oldest first.
    pub(crate) audit: Vec<AuditEntry>,
    pub(crate) products: HashMap<ProductId, StoredProduct>,
    pub(crate) categories: HashMap<CategoryId, StoredCategory>,
    /// Which product is in which category.
    pub(crate) product_categories: BTreeSet<(ProductId, CategoryId)>,
    /// Who likes which product, and since when.
    pub(crate) likes: HashMap<(ProductId, UserId), DateTime<Utc>>,
    pub(crate) reviews: HashMap<ReviewId, StoredReview>,
    /// Orders with their snapshot lines; they outlive their buyer and their products.
    pub(crate) orders: HashMap<OrderId, Order>,
    /// Idempotency keys, per user.
    pub(crate) idempotency: HashMap<(UserId, String), StoredIdempotencyKey>,
    /// The outbox: every event, in the order the changes raising them were made.
    pub(crate) outbox: Vec<StoredEvent>,
    /// (handler, event) pairs handled, and when.
    pub(crate) processed: HashMap<(String, EventId), Processing>,
    /// Conversations with the assistant, their messages and the daily usage.
    pub(crate) assistant: AssistantData,
    /// Link tokens by hash.
    pub(crate) links: HashMap<RefreshTokenHash, StoredLink>,
}

pub(crate) struct StoredRole {
    pub(crate) description: String,
    pub(crate) builtin: bool,
    pub(crate) grants: BTreeSet<Permission>,
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
            assistant: AssistantData::default(),
            links: HashMap::new(),
        }
    }
}

pub(crate) struct StoredUser {
    pub(crate) user: User,
    pub(crate) password_hash: PasswordHash,
    /// The TOTP secret, pending while `user.mfa_enabled` is false.
    pub(crate) totp_secret: Option<String>,
    pub(crate) totp_last_step: Option<i64>,
    /// Recovery codes' hashes and when each was used.
    pub(crate) recovery_codes: Vec<(RefreshTokenHash, Option<DateTime<Utc>>)>,
}

impl StoredUser {
    pub(crate) fn new(user: User, password_hash: PasswordHash) -> Self {
        Self { user, password_hash, totp_secret: None, totp_last_step: None, recovery_codes: Vec::new() }
    }
}

pub(crate) struct StoredLink {
    pub(crate) link: LinkToken,
    pub(crate) used_at: Option<DateTime<Utc>>,
}

impl StoredLink {
    pub(crate) fn is_live(&self, purpose: LinkPurpose, now: DateTime<Utc>) -> bool {
        self.link.purpose == purpose && self.used_at.is_none() && self.link.expires_at > now
    }
}

pub(crate) struct StoredSession {
    pub(crate) session: Session,
    /// When the family's newest refresh token expires; the session is active until then.
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) revoked_at: Option<DateTime<Utc>>,
}

impl StoredSession {
    pub(crate) fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }

    /// Revokes the session unless it already is (the first revocation time is kept).
    pub(crate) fn revoke(&mut self, now: DateTime<Utc>) {
        self.revoked_at.get_or_insert(now);
    }
}

pub(crate) struct StoredRefreshToken {
    pub(crate) session_id: SessionId,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) used_at: Option<DateTime<Utc>>,
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
