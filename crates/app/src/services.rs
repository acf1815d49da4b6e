//! One constructor for every service: `Services::new` builds them all over one store (any
//! adapter serving every persistence port), so that the server and the tests wire the
//! application the same way, in one place.

use crate::access::AccessService;
use crate::accounts::AccountService;
use crate::assistant::{AssistantService, AssistantSettings};
use crate::auth::{AuthService, AuthSettings};
use crate::catalog::CatalogService;
use crate::events::DeadLetterService;
use crate::orders::{OrderService, OrderSettings};
use crate::ports::{
    AccessTokenCodec, AuditLog, CategoryRepository, Clock, ConversationRepository, DeadLetters, IdGenerator,
    IdempotencyStore, LanguageModel, OrderRepository, PasswordHasher, ProductRepository, RefreshTokenMint,
    ReviewRepository, RoleRepository, SessionRepository, UserAdminRepository, UserRepository,
};
use crate::rate_limit::RateLimits;
use crate::users::UserAdminService;
use std::sync::Arc;

/// A store serving every persistence port the services need (both adapters do).
pub trait ServiceStore:
    UserRepository
    + SessionRepository
    + RoleRepository
    + UserAdminRepository
    + AuditLog
    + ProductRepository
    + CategoryRepository
    + ReviewRepository
    + OrderRepository
    + IdempotencyStore
    + DeadLetters
    + ConversationRepository
    + Clone
    + 'static
{
}

impl<S> ServiceStore for S where
    S: UserRepository
        + SessionRepository
        + RoleRepository
        + UserAdminRepository
        + AuditLog
        + ProductRepository
        + CategoryRepository
        + ReviewRepository
        + OrderRepository
        + IdempotencyStore
        + DeadLetters
        + ConversationRepository
        + Clone
        + 'static
{
}

/// The non-persistence ports: passwords, tokens, time and ids.
pub struct ServicePorts {
    pub hasher: Arc<dyn PasswordHasher>,
    pub access_tokens: Arc<dyn AccessTokenCodec>,
    pub refresh_tokens: Arc<dyn RefreshTokenMint>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
    /// The assistant's provider.
    pub language_model: Arc<dyn LanguageModel>,
}

/// What the services are configured with.
#[derive(Clone, Default)]
pub struct ServiceSettings {
    pub auth: AuthSettings,
    pub orders: OrderSettings,
    /// Enforced on registration, logins and password changes; `None` enforces none.
    pub rate_limits: Option<RateLimits>,
    pub assistant: AssistantSettings,
}

/// Every service of the application.
#[derive(Clone)]
pub struct Services {
    pub accounts: AccountService,
    pub auth: AuthService,
    pub access: AccessService,
    pub user_admin: UserAdminService,
    pub catalog: CatalogService,
    pub orders: OrderService,
    pub dead_letters: DeadLetterService,
    pub assistant: AssistantService,
}

impl Services {
    /// Every service over `store`.
    pub fn new<S: ServiceStore>(store: &S, ports: ServicePorts, settings: ServiceSettings) -> Self {
        let ServicePorts { hasher, access_tokens, refresh_tokens, clock, ids, language_model } = ports;
        let port = || Arc::new(store.clone());
        let mut accounts = AccountService::new(port(), hasher.clone(), clock.clone(), ids.clone());
        let mut auth = AuthService::new(
            port(),
            port(),
            hasher,
            access_tokens,
            refresh_tokens,
            clock.clone(),
            ids.clone(),
            settings.auth,
        );
        let mut assistant =
            AssistantService::new(port(), port(), language_model, clock.clone(), ids.clone(), settings.assistant);
        if let Some(limits) = settings.rate_limits {
            accounts = accounts.with_rate_limits(limits.clone());
            assistant = assistant.with_rate_limits(limits.clone());
            auth = auth.with_rate_limits(limits);
        }
        let access = AccessService::new(port(), port(), clock.clone());
        let user_admin = UserAdminService::new(port(), port(), access.guard(), clock.clone());
        let catalog =
            CatalogService::new(port(), port(), port(), clock.clone(), ids.clone(), settings.orders.low_stock_rule());
        let orders = OrderService::new(port(), port(), clock.clone(), ids, settings.orders);
        let dead_letters = DeadLetterService::new(port(), clock);
        Self { accounts, auth, access, user_admin, catalog, orders, dead_letters, assistant }
    }
}
