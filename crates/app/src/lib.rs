//! Storefront's application layer: one service per area and the ports (traits) those
//! services need from the outside world. Adapters implement the ports; `http` calls the
//! services. Nothing here knows about actix, diesel or any other framework.

pub mod access;
pub mod accounts;
pub mod assistant;
pub mod auth;
pub mod catalog;
pub mod client;
mod credentials;
pub mod error;
pub mod events;
pub mod lifecycle;
pub mod mfa;
pub mod moderation;
pub mod orders;
pub mod ports;
pub mod rate_limit;
pub mod services;
pub mod users;

pub use access::{AccessService, EscalationGuard};
pub use accounts::{AccountService, ProfileUpdate, Registration};
pub use assistant::utilities::{AiUtilityService, ClassifyInput, GenerateInput, SummarizeInput};
pub use assistant::{AssistantService, AssistantSettings, ChatInput, ChatTurn, TurnEvent, UsageToday};
pub use auth::{AuthService, AuthSettings, MfaLogin, SessionView, TokenPair};
pub use catalog::{CatalogService, ProductInput, ProductListing, ReviewInput, review_viewer};
pub use client::ClientContext;
pub use error::{AppError, InfraError, StoreError};
pub use events::{
    AccountMail, DeadLetterService, EventHandler, HandlerChain, HandlerError, HandlingReport, Notifications,
    OutboxDispatcher, OutboxSettings, Relay, RetryPolicy, StreamWorker, WorkerSettings,
};
pub use lifecycle::{AccountLifecycleService, LifecycleSettings, VerifiedEmailRule};
pub use mfa::{SecondFactorService, TotpEnrolment};
pub use moderation::ReviewModerationHandler;
pub use orders::{IdempotentResponse, OrderService, OrderSettings};
pub use ports::Principal;
pub use rate_limit::{ClientAction, Quota, RateLimitPolicy, RateLimits, client_bucket};
pub use services::{ServicePorts, ServiceSettings, ServiceStore, Services};
pub use users::{AdminUserUpdate, UserAdminService};
