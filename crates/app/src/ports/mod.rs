//! The ports: what the application needs from the outside, as object-safe async traits
//! held as `Arc<dyn Port>`.

mod admin;
mod analysis_cache;
mod assistant;
mod catalog;
mod events;
mod lifecycle;
mod orders;
mod rate_limit;
mod security;
mod sessions;
mod system;
mod users;

pub use admin::{
    AuditContext, AuditEntry, AuditFilter, AuditLog, Page, PageRequest, RoleRepository, UserAdminRepository, UserFilter,
};
pub use catalog::{
    CategoryRepository, NewProduct, NewReview, ProductChanges, ProductRepository, ReviewRepository, StockEvents,
};
pub use events::{
    Claim, DeadLetter, DeadLetters, Delivery, EventOutbox, EventPublisher, EventQueue, Mail, MailError, Mailer,
    OutboxBacklog, OutboxEntry, ProcessedEvents, QueueLag, StreamEpoch,
};
pub use lifecycle::{
    EmailChangeOutcome, LinkPurpose, LinkToken, LinkTokenRepository, NewLinkToken, SecondFactorRepository, TotpState,
};
pub use orders::{
    BusinessStats, IdempotencyBegin, IdempotencyStore, LowStockProduct, NewOrder, OrderFilter, OrderRepository,
    OrderUnit, StoredResponse, TopProduct, TransitionOutcome,
};
pub use security::{
    AccessClaims, AccessTokenCodec, HashingError, PasswordHasher, RefreshTokenHash, RefreshTokenMint, TokenError,
    TotpAuthenticator, TotpProvisioning,
};
pub use sessions::{NewRefreshToken, NewSession, RotateOutcome, SessionRepository};
pub use system::{Clock, IdGenerator, ReadinessProbe, SystemClock, UuidV7Generator};
pub use users::{NewUser, Principal, ProfileChanges, UserRepository};

// The assistant: a provider of completions, and stored conversations.
pub use assistant::{
    CompletionEvent, CompletionRequest, CompletionStream, CompletionTask, ConversationRepository, GeneratedSummary,
    LanguageModel, ModelError, NewConversation, ProductFact, PromptMessage, PromptRole, ProviderDayUsage,
    ProviderUsage, ReviewSummaryRepository, StoredReviewSummary, UsageDelta, UsageReport, UserUsage,
};

// The text utilities' results.
pub use analysis_cache::{AnalysisCache, CacheError, CacheKey};

// Abuse resistance: counters for rate limits.
pub use rate_limit::{RateLimitError, RateLimiter, WindowUsage};
