//! Storefront's domain: entities, value objects and the rules that hold whatever the I/O.
//!
//! Nothing here performs I/O or knows about a framework; every type parses its input once
//! ("parse, don't validate") and is valid for the rest of its life.

pub mod admin;
pub mod assistant;
pub mod catalog;
pub mod email;
pub mod error;
pub mod events;
pub mod ids;
pub mod mfa;
pub mod moderation;
pub mod orders;
pub mod password;
pub mod permission;
pub mod session;
pub mod text;
pub mod user;

pub use admin::{
    AdminUserChange, AdminUserChangePlan, AuditAction, AuditDraft, GuardedOperation, LastAdminViolation,
    PrivilegeEscalation, Role, authorize_delegation, plan_admin_change, plan_user_deletion,
};
pub use assistant::analysis::{
    Classification, GenerationKind, Moderation, ModerationCategories, Sentiment, Tone, clamp_score,
};
pub use assistant::guards::{InjectionKind, PiiKind, Redacted, redact_pii, screen_prompt};
pub use assistant::{
    ChatMessage, ChatRole, ChatText, Conversation, ConversationTitle, DailyUsage, MessageStatus, TokenUsage,
    next_budget_reset, usage_day, within_daily_budget,
};
pub use catalog::{
    Category, CategoryId, CategoryName, CategoryRef, Description, PriceCents, Product, ProductFilter, ProductId,
    ProductName, ProductPosition, ProductSort, ProductSortKey, Rating, Review, ReviewAuthor, ReviewBody, ReviewId,
    ReviewViewer, Slug, SortValue, Stock, rating_average,
};
pub use email::Email;
pub use error::{FieldViolation, ValidationError};
pub use events::{
    DomainEvent, EventId, EventType, LowStockRule, RaisedEvents, crosses_low_stock, placement_events,
    stock_change_events, transition_events,
};
pub use ids::{ChatMessageId, ConversationId, SessionId, UserId};
pub use moderation::{
    ModerationDecision, ModerationStatus, ReviewModeration, ReviewVerdict, VerdictOutcome, verdict_outcome,
    verdict_status,
};
pub use orders::{
    Order, OrderId, OrderLine, OrderRequest, OrderStatus, PlacementError, RequestedLine, Shortage, StockedProduct,
    price_order,
};
pub use password::{NewPassword, PasswordHash, PlainPassword};
pub use permission::{Permission, PermissionSet, RoleName};
pub use session::{RefreshDecision, RefreshTokenState, Session};
pub use user::{User, UserCredentials, UserName};
