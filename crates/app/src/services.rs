//! One constructor for every service: `Services::new` builds them all over one store (any
//! adapter serving every persistence port), so that the server and the tests wire the
//! application the same way, in one place.

use crate::access::AccessService;
use crate::accounts::AccountService;
use crate::assistant::analysis::{ModelTextAnalysis, TextAnalysis};
use crate::assistant::cached_analysis::CachedTextAnalysis;
use crate::assistant::insights::{InsightService, InsightSettings};
use crate::assistant::utilities::AiUtilityService;
use crate::assistant::{AssistantService, AssistantSettings};
use crate::auth::{AuthService, AuthSettings, MfaLogin};
use crate::catalog::CatalogService;
use crate::credentials::CurrentPassword;
use crate::events::DeadLetterService;
use crate::lifecycle::{AccountLifecycleService, LifecycleSettings, VerifiedEmailRule};
use crate::mfa::{CodeChecker, SecondFactorService};
use crate::orders::{OrderService, OrderSettings};
use crate::ports::{
    AccessTokenCodec, AnalysisCache, AuditLog, CategoryRepository, Clock, ConversationRepository, DeadLetters,
    IdGenerator, IdempotencyStore, LanguageModel, LinkTokenRepository, OrderRepository, PasswordHasher,
    ProductRepository, RefreshTokenMint, ReviewRepository, ReviewSummaryRepository, RoleRepository,
    SecondFactorRepository, SessionRepository, TotpAuthenticator, UserAdminRepository, UserRepository,
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
    + LinkTokenRepository
    + SecondFactorRepository
    + ReviewSummaryRepository
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
        + LinkTokenRepository
        + SecondFactorRepository
        + ReviewSummaryRepository
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
    /// Second-factor codes (TOTP, RFC 6238).
    pub totp: Arc<dyn TotpAuthenticator>,
    /// Where the text utilities' results are kept (Redis when configured, else in
    /// process); every use of `Services.analysis` goes through it.
    pub analysis_cache: Arc<dyn AnalysisCache>,
}

/// The text utilities on `model`, behind `cache`, as the services and the event handlers
/// use them (one cache for both, so a review's moderation and an `/ai/moderate` of the same
/// text share a result).
pub fn text_analysis(model: Arc<dyn LanguageModel>, cache: Arc<dyn AnalysisCache>) -> Arc<dyn TextAnalysis> {
    Arc::new(CachedTextAnalysis::new(Arc::new(ModelTextAnalysis::new(model)), cache))
}

/// What the services are configured with.
#[derive(Clone, Default)]
pub struct ServiceSettings {
    pub auth: AuthSettings,
    pub orders: OrderSettings,
    /// Enforced on registration, logins and password changes; `None` enforces none.
    pub rate_limits: Option<RateLimits>,
    pub assistant: AssistantSettings,
    pub lifecycle: LifecycleSettings,
    pub insights: InsightSettings,
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
    /// The text utilities (summarize, moderate, classify, generate) on the provider,
    /// behind the analysis cache.
    pub analysis: Arc<dyn TextAnalysis>,
    /// The text utilities for users (`/ai/summarize`…): limits, guards, usage.
    pub ai_utilities: AiUtilityService,
    pub lifecycle: AccountLifecycleService,
    pub second_factor: SecondFactorService,
    /// Review summaries, description suggestions and the AI usage report.
    pub insights: InsightService,
}

impl Services {
    /// Every service over `store`.
    pub fn new<S: ServiceStore>(store: &S, ports: ServicePorts, settings: ServiceSettings) -> Self {
        let ServicePorts { hasher, access_tokens, refresh_tokens, clock, ids, language_model, totp, analysis_cache } =
            ports;
        let port = || Arc::new(store.clone());
        let limits = settings.rate_limits.clone().unwrap_or_else(RateLimits::disabled);
        let checker = CodeChecker { factors: port(), totp, digests: refresh_tokens.clone() };
        let current_password = CurrentPassword { users: port(), hasher: hasher.clone(), limits: limits.clone() };
        let second_factor = SecondFactorService::new(checker.clone(), current_password, clock.clone());
        let lifecycle =
            AccountLifecycleService::new(port(), port(), hasher.clone(), refresh_tokens.clone(), clock.clone())
                .with_rate_limits(limits);
        let mfa_login = MfaLogin { links: port(), checker, mfa_token_ttl: settings.lifecycle.mfa_token_ttl };
        let verified_email = VerifiedEmailRule { required: settings.lifecycle.require_verified_email };
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
        )
        .with_second_factor(mfa_login);
        let analysis = text_analysis(language_model.clone(), analysis_cache);
        let mut ai_utilities =
            AiUtilityService::new(analysis.clone(), port(), clock.clone(), settings.assistant.clone());
        let mut assistant =
            AssistantService::new(port(), port(), language_model, clock.clone(), ids.clone(), settings.assistant);
        let catalog =
            CatalogService::new(port(), port(), port(), clock.clone(), ids.clone(), settings.orders.low_stock_rule())
                .with_verified_email_rule(verified_email);
        let mut insights =
            InsightService::new(catalog.clone(), port(), port(), analysis.clone(), clock.clone(), settings.insights);
        if let Some(limits) = settings.rate_limits {
            insights = insights.with_rate_limits(limits.clone());
            accounts = accounts.with_rate_limits(limits.clone());
            assistant = assistant.with_rate_limits(limits.clone());
            ai_utilities = ai_utilities.with_rate_limits(limits.clone());
            auth = auth.with_rate_limits(limits);
        }
        let access = AccessService::new(port(), port(), clock.clone());
        let user_admin = UserAdminService::new(port(), port(), port(), access.guard(), clock.clone());
        let orders = OrderService::new(port(), port(), clock.clone(), ids, settings.orders)
            .with_verified_email_rule(verified_email);
        let dead_letters = DeadLetterService::new(port(), clock);
        Self {
            accounts,
            auth,
            access,
            user_admin,
            catalog,
            orders,
            dead_letters,
            lifecycle,
            second_factor,
            assistant,
            analysis,
            insights,
            ai_utilities,
        }
    }
}
