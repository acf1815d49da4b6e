//! The assistant's ports: `LanguageModel` (a provider that completes a conversation,
//! streamed) and `ConversationRepository` (conversations, their messages and the daily
//! usage they add up to).

use crate::StoreError;
use crate::ports::{Page, PageRequest};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use futures::stream::BoxStream;
use std::time::Duration;
use storefront_domain::{
    ChatMessage, Conversation, ConversationId, DailyUsage, GenerationKind, ProductId, Tone, UserId,
};

/// Who speaks in a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptRole {
    System,
    User,
    Assistant,
}

impl PromptRole {
    /// The role's name in the OpenAI-compatible APIs.
    pub const fn as_str(self) -> &'static str {
        match self {
            PromptRole::System => "system",
            PromptRole::User => "user",
            PromptRole::Assistant => "assistant",
        }
    }
}

/// One message of a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptMessage {
    pub role: PromptRole,
    pub content: String,
}

/// A product the catalogue search found for the user's message, as the prompt gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductFact {
    pub id: ProductId,
    pub name: String,
    pub price_cents: i64,
    pub stock: i64,
}

/// Which of the assistant's operations a completion serves, with its input given
/// structured. A language model reads only the messages (the versioned prompt carries the
/// same input); the `builtin` provider, which is no language model, answers from this.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CompletionTask {
    /// A turn of the shopping chat (answered from `products`).
    #[default]
    Chat,
    /// A summary of `text` of at most `max_chars` characters, as plain text.
    Summarize { text: String, max_chars: u32 },
    /// A moderation verdict on `text`, as the JSON object the moderation prompt asks for.
    Moderate { text: String },
    /// The label of `labels` that fits `text` and its sentiment, as the JSON object the
    /// classification prompt asks for.
    Classify { text: String, labels: Vec<String> },
    /// Text of `kind` about `prompt` in `tone`, at most `max_words` words, as plain text.
    Generate { kind: GenerationKind, prompt: String, max_words: u32, tone: Tone },
}

/// What a provider is asked to complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionRequest {
    /// Which operation this is (and its input, for a provider that is not a language model).
    pub task: CompletionTask,
    /// The system prompt first, then the history, oldest first, then the new message.
    pub messages: Vec<PromptMessage>,
    /// The products the system prompt carries, also given structured (the `builtin`
    /// provider answers from them; a language model reads them in the system prompt).
    pub products: Vec<ProductFact>,
    /// The longest reply, in tokens.
    pub max_tokens: u32,
    /// The ISO 4217 currency of the prices.
    pub currency: String,
}

/// Tokens as a provider counted them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// One step of a streamed completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompletionEvent {
    /// More text of the reply.
    Delta(String),
    /// The reply is whole: why it stopped (`stop`, `length`…, when the provider said) and
    /// its usage (when the provider sent it).
    Finished { finish_reason: Option<String>, usage: Option<ProviderUsage> },
}

/// How a provider failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// Unreachable, refusing, or answering 5xx (after the retries).
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// No answer within the configured time.
    #[error("the provider did not answer in time")]
    Timeout,
    /// The provider's own rate limit (after the retries); `retry_after` when it said.
    #[error("the provider is rate limiting us")]
    RateLimited { retry_after: Option<Duration> },
    /// An answer that is not what the API promises (malformed chunks, 4xx…).
    #[error("the provider answered something unexpected: {0}")]
    BadResponse(String),
}

impl ModelError {
    /// The error's kind, as in metrics and logs.
    pub const fn kind(&self) -> &'static str {
        match self {
            ModelError::Unavailable(_) => "unavailable",
            ModelError::Timeout => "timeout",
            ModelError::RateLimited { .. } => "rate_limited",
            ModelError::BadResponse(_) => "bad_response",
        }
    }
}

/// A reply as it arrives. Dropping the stream cancels the request upstream.
pub type CompletionStream = BoxStream<'static, Result<CompletionEvent, ModelError>>;

/// A provider of completions: a language model behind an API, or the built-in one.
#[async_trait]
pub trait LanguageModel: Send + Sync {
    /// Who answers (`builtin`, `openai`), as responses and stored messages say.
    fn provider(&self) -> &str;

    /// Which model answers (`builtin`, `gpt-4o-mini`, `smollm2`…).
    fn model(&self) -> &str;

    /// Starts a completion of `request`. Returns once the provider accepted it (answered
    /// its headers); the reply then arrives on the stream, ending with `Finished` or an
    /// error. A provider that retries does so only before returning: once text has
    /// arrived, a failure ends the stream.
    ///
    /// # Errors
    /// What made the provider fail before any text arrived.
    async fn complete(&self, request: CompletionRequest) -> Result<CompletionStream, ModelError>;
}

/// A conversation to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConversation {
    pub id: ConversationId,
    pub user_id: UserId,
    pub title: Option<String>,
    pub now: DateTime<Utc>,
}

/// What a stored message adds to its owner's usage of its day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageDelta {
    pub day: NaiveDate,
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// Conversations with the assistant, their messages and the daily usage.
#[async_trait]
pub trait ConversationRepository: Send + Sync {
    /// Stores a new, empty conversation (`updated_at` = `created_at` = `now`).
    ///
    /// # Errors
    /// MUST return `InvalidReference("user_id")` for an unknown user.
    async fn create_conversation(&self, new: NewConversation) -> Result<Conversation, StoreError>;

    /// The conversation, if it exists and belongs to `owner` (another's is `None`).
    async fn conversation(&self, id: ConversationId, owner: UserId) -> Result<Option<Conversation>, StoreError>;

    /// `owner`'s conversations, most recently updated first (then newest id first).
    async fn conversations(&self, owner: UserId, page: PageRequest) -> Result<Page<Conversation>, StoreError>;

    /// Deletes the conversation with its messages.
    ///
    /// # Errors
    /// MUST return `NotFound` when it does not exist or belongs to someone else.
    async fn delete_conversation(&self, id: ConversationId, owner: UserId) -> Result<(), StoreError>;

    /// The conversation's messages, oldest first (then by id).
    ///
    /// # Errors
    /// MUST return `NotFound` when the conversation does not exist or belongs to someone else.
    async fn messages(
        &self,
        id: ConversationId,
        owner: UserId,
        page: PageRequest,
    ) -> Result<Page<ChatMessage>, StoreError>;

    /// The newest `limit` messages of the conversation, oldest first: the history a
    /// prompt may carry.
    async fn recent_messages(&self, id: ConversationId, limit: u32) -> Result<Vec<ChatMessage>, StoreError>;

    /// Stores `message` in `owner`'s conversation and adds `usage` to `owner`'s usage of
    /// its day, in one transaction; bumps the conversation's `message_count` and sets its
    /// `updated_at` to the message's `created_at`.
    ///
    /// # Errors
    /// MUST return `NotFound` (storing nothing) when the conversation does not exist (any
    /// more) or belongs to someone else, and `Conflict` for a message id already stored.
    async fn append_message(&self, owner: UserId, message: &ChatMessage, usage: UsageDelta) -> Result<(), StoreError>;

    /// Adds `usage` to `owner`'s usage of its day, without a message (the text utilities,
    /// which keep no conversation).
    ///
    /// # Errors
    /// MUST return `InvalidReference("user_id")` (adding nothing) for an unknown user.
    async fn add_usage(&self, owner: UserId, usage: UsageDelta) -> Result<(), StoreError>;

    /// What `owner` spent on `day` (zeros for a day without use).
    async fn usage_on(&self, owner: UserId, day: NaiveDate) -> Result<DailyUsage, StoreError>;
}
