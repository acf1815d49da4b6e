//! The shopping assistant: conversations, and chat turns that ground a language model in
//! the catalogue, guard what leaves (injection screening, PII redaction), keep the per-user
//! limits (requests per minute, a daily token budget), stream the reply from a task of its
//! own and store it — whole, interrupted by the client leaving, or failed.

pub mod analysis;
pub mod cached_analysis;
mod grounding;
pub mod insights;
mod tokens;
pub mod utilities;

pub use grounding::money;

use crate::AppError;
use crate::ports::{
    Clock, CompletionEvent, CompletionRequest, CompletionTask, ConversationRepository, IdGenerator, LanguageModel,
    ModelError, NewConversation, Page, PageRequest, ProductFact, ProductRepository, PromptMessage, PromptRole,
    UsageDelta,
};
use crate::rate_limit::{Quota, RateLimits};
use crate::{Principal, StoreError};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use storefront_domain::{
    ChatMessage, ChatMessageId, ChatRole, ChatText, Conversation, ConversationId, ConversationTitle, DailyUsage,
    MessageStatus, ProductFilter, ProductSort, TokenUsage, next_budget_reset, redact_pii, screen_prompt, usage_day,
    within_daily_budget,
};
use tokio::sync::mpsc;

/// Chat requests, by provider and outcome (`complete`, `interrupted`, `failed`,
/// `prompt_rejected`, `rate_limited`, `budget_exceeded`).
pub const AI_REQUESTS_METRIC: &str = "ai_requests_total";
/// Tokens used, by provider and kind (`prompt`, `completion`) and whether estimated.
pub const AI_TOKENS_METRIC: &str = "ai_tokens_total";
/// From the upstream call's start to its last byte, by provider.
pub const AI_UPSTREAM_LATENCY_METRIC: &str = "ai_upstream_latency_seconds";
/// From the upstream call's start to the first text, by provider.
pub const AI_TIME_TO_FIRST_TOKEN_METRIC: &str = "ai_time_to_first_token_seconds";
/// Upstream failures, by provider and kind (`unavailable`, `timeout`, `rate_limited`,
/// `bad_response`).
pub const AI_ERRORS_METRIC: &str = "ai_errors_total";

/// The limit name of assistant requests per user (chat and the text utilities share it),
/// as in metrics and counter keys.
const CHAT_LIMIT: &str = "ai_chat_per_user";

/// How many stored messages are read to choose the history from.
const HISTORY_CANDIDATES: u32 = 50;

/// How many events may wait between the upstream task and a slow client.
const TURN_CHANNEL_CAPACITY: usize = 64;

/// What the assistant is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssistantSettings {
    /// Chat requests per user per minute.
    pub requests_per_minute: u64,
    /// Tokens (prompt + completion) per user per day (UTC).
    pub daily_token_budget: u64,
    /// Tokens of history a prompt may carry (the newest messages that fit).
    pub history_token_budget: usize,
    /// The longest reply, in tokens.
    pub max_reply_tokens: u32,
    /// How many products the catalogue search may give the prompt.
    pub grounding_products: usize,
    /// The ISO 4217 currency of prices in the prompt.
    pub currency: String,
    /// What `Retry-After` says when the provider failed without saying when to come back.
    pub unavailable_retry_after: Duration,
}

impl Default for AssistantSettings {
    fn default() -> Self {
        Self {
            requests_per_minute: 10,
            daily_token_budget: 50_000,
            history_token_budget: 2_000,
            max_reply_tokens: 512,
            grounding_products: 5,
            currency: "USD".into(),
            unavailable_retry_after: Duration::from_secs(5),
        }
    }
}

/// A chat request: a new message, in a given conversation or a new one.
#[derive(Debug, Clone)]
pub struct ChatInput {
    pub conversation_id: Option<ConversationId>,
    pub message: String,
}

/// A turn under way: which conversation and which reply, and its events as they come.
pub struct ChatTurn {
    pub conversation_id: ConversationId,
    pub message_id: ChatMessageId,
    pub provider: String,
    pub model: String,
    /// Deltas, then `Done` or `Failed`. Dropping the receiver stops the upstream call; the
    /// reply is then stored as `interrupted`.
    pub events: mpsc::Receiver<TurnEvent>,
}

/// One step of a turn.
#[derive(Debug)]
pub enum TurnEvent {
    Delta(String),
    /// The reply is whole and stored.
    Done {
        message: ChatMessage,
        finish_reason: String,
        usage: TokenUsage,
    },
    /// The provider failed; the reply so far is stored as `failed`.
    Failed(AppError),
}

/// A user's usage today, against their budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageToday {
    pub period_start: DateTime<Utc>,
    pub usage: DailyUsage,
    pub token_budget: u64,
}

impl UsageToday {
    pub fn tokens_left(&self) -> u64 {
        self.token_budget.saturating_sub(self.usage.tokens())
    }
}

/// Conversations and chat turns. Cheap to clone.
#[derive(Clone)]
pub struct AssistantService {
    conversations: Arc<dyn ConversationRepository>,
    products: Arc<dyn ProductRepository>,
    model: Arc<dyn LanguageModel>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    limits: RateLimits,
    settings: AssistantSettings,
}

impl AssistantService {
    pub fn new(
        conversations: Arc<dyn ConversationRepository>,
        products: Arc<dyn ProductRepository>,
        model: Arc<dyn LanguageModel>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        settings: AssistantSettings,
    ) -> Self {
        Self { conversations, products, model, clock, ids, limits: RateLimits::disabled(), settings }
    }

    /// Counts chat requests per user through `limits` (a service built without it
    /// enforces no per-minute limit; the daily budget holds regardless).
    pub fn with_rate_limits(mut self, limits: RateLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn provider(&self) -> &str {
        self.model.provider()
    }

    pub fn model(&self) -> &str {
        self.model.model()
    }

    pub async fn create_conversation(&self, caller: &Principal, title: Option<&str>) -> Result<Conversation, AppError> {
        let title = match title {
            Some(raw) => Some(ConversationTitle::parse(raw).map_err(|e| AppError::validation("title", e.to_string()))?),
            None => None,
        };
        // A title is stored too: it may carry what a user typed.
        let title = title.map(|t| redact_pii(t.as_str()).text);
        let new = NewConversation {
            id: ConversationId(self.ids.new_id()),
            user_id: caller.user.id,
            title,
            now: self.clock.now(),
        };
        self.conversations.create_conversation(new).await.map_err(AppError::from)
    }

    pub async fn conversations(&self, caller: &Principal, page: PageRequest) -> Result<Page<Conversation>, AppError> {
        Ok(self.conversations.conversations(caller.user.id, page).await?)
    }

    /// The caller's conversation; anyone else's is `NotFound`.
    pub async fn conversation(&self, caller: &Principal, id: ConversationId) -> Result<Conversation, AppError> {
        self.conversations.conversation(id, caller.user.id).await?.ok_or(AppError::NotFound)
    }

    pub async fn delete_conversation(&self, caller: &Principal, id: ConversationId) -> Result<(), AppError> {
        Ok(self.conversations.delete_conversation(id, caller.user.id).await?)
    }

    pub async fn messages(
        &self,
        caller: &Principal,
        id: ConversationId,
        page: PageRequest,
    ) -> Result<Page<ChatMessage>, AppError> {
        Ok(self.conversations.messages(id, caller.user.id, page).await?)
    }

    /// What the caller spent today (UTC) and what is left of the budget.
    pub async fn usage_today(&self, caller: &Principal) -> Result<UsageToday, AppError> {
        let now = self.clock.now();
        let day = usage_day(now);
        let usage = self.conversations.usage_on(caller.user.id, day).await?;
        let period_start = day.and_hms_opt(0, 0, 0).map_or(now, |start| start.and_utc());
        Ok(UsageToday { period_start, usage, token_budget: self.settings.daily_token_budget })
    }

    /// Starts a chat turn: checks the message, the limits and the guards, stores the
    /// user's message (creating the conversation when none is given), and runs the
    /// provider on a task of its own whose events arrive on the returned turn.
    ///
    /// # Errors
    /// `Validation` (the message), `RateLimited`, `AiBudgetExceeded`, `PromptRejected`,
    /// `NotFound` (another's or an unknown conversation).
    pub async fn start_chat(&self, caller: &Principal, input: ChatInput) -> Result<ChatTurn, AppError> {
        let provider = self.model.provider().to_owned();
        let text = ChatText::parse(&input.message).map_err(|e| AppError::validation("message", e.to_string()))?;
        let user = caller.user.id;
        let quota = Quota { max: self.settings.requests_per_minute, window: Duration::from_secs(60) };
        if let Err(refused) = self.limits.admit_account(CHAT_LIMIT, &user.to_string(), quota).await {
            count_request(&provider, "rate_limited");
            return Err(refused);
        }
        let now = self.clock.now();
        let spent = self.conversations.usage_on(user, usage_day(now)).await?;
        if !within_daily_budget(&spent, self.settings.daily_token_budget) {
            count_request(&provider, "budget_exceeded");
            let retry_after_secs = (next_budget_reset(now) - now).num_seconds().max(1).unsigned_abs();
            return Err(AppError::AiBudgetExceeded { retry_after_secs });
        }
        if let Some(kind) = screen_prompt(text.as_str()) {
            count_request(&provider, "prompt_rejected");
            tracing::warn!(security_event = "prompt_rejected", kind = kind.as_str(), user_id = %user, "prompt rejected");
            return Err(AppError::PromptRejected(kind));
        }
        let redacted = redact_pii(text.as_str());
        if !redacted.found.is_empty() {
            let kinds: Vec<&str> = redacted.found.iter().map(|k| k.placeholder()).collect();
            tracing::info!(user_id = %user, redacted = ?kinds, "personal data redacted from a chat message");
        }
        let message = redacted.text;

        let conversation = match input.conversation_id {
            Some(id) => self.conversations.conversation(id, user).await?.ok_or(AppError::NotFound)?,
            None => {
                let title = ConversationTitle::from_first_message(&message).map(ConversationTitle::into_string);
                let new = NewConversation { id: ConversationId(self.ids.new_id()), user_id: user, title, now };
                self.conversations.create_conversation(new).await?
            }
        };
        let history = self.history(conversation.id).await?;
        let products = self.grounding(&message).await?;

        let mut messages = vec![PromptMessage {
            role: PromptRole::System,
            content: grounding::system_prompt(&products, &self.settings.currency),
        }];
        messages.extend(history);
        messages.push(PromptMessage { role: PromptRole::User, content: message.clone() });

        let user_message = ChatMessage {
            id: ChatMessageId(self.ids.new_id()),
            conversation_id: conversation.id,
            role: ChatRole::User,
            content: message,
            status: MessageStatus::Complete,
            provider: None,
            model: None,
            usage: None,
            created_at: now,
        };
        let request_usage = UsageDelta {
            day: usage_day(now),
            provider: provider.clone(),
            model: self.model.model().to_owned(),
            requests: 1,
            prompt_tokens: 0,
            completion_tokens: 0,
        };
        self.conversations.append_message(user, &user_message, request_usage).await.map_err(gone_is_not_found)?;

        let reply_id = ChatMessageId(self.ids.new_id());
        let request = CompletionRequest {
            task: CompletionTask::Chat,
            messages,
            products,
            max_tokens: self.settings.max_reply_tokens,
            currency: self.settings.currency.clone(),
        };
        let (sender, events) = mpsc::channel(TURN_CHANNEL_CAPACITY);
        let upstream = Upstream {
            conversations: self.conversations.clone(),
            model: self.model.clone(),
            clock: self.clock.clone(),
            owner: user,
            conversation: conversation.id,
            reply: reply_id,
            retry_after: self.settings.unavailable_retry_after,
        };
        tokio::spawn(upstream.run(request, sender));
        Ok(ChatTurn {
            conversation_id: conversation.id,
            message_id: reply_id,
            provider,
            model: self.model.model().to_owned(),
            events,
        })
    }

    /// The newest complete or interrupted messages that fit the history budget, oldest
    /// first (failed replies carry nothing worth repeating).
    async fn history(&self, id: ConversationId) -> Result<Vec<PromptMessage>, AppError> {
        let stored = self.conversations.recent_messages(id, HISTORY_CANDIDATES).await?;
        let usable: Vec<ChatMessage> =
            stored.into_iter().filter(|m| m.status != MessageStatus::Failed && !m.content.is_empty()).collect();
        let sizes = tokens::count_all(usable.iter().map(|m| m.content.clone()).collect()).await;
        let keep = tokens::newest_fitting(&sizes, self.settings.history_token_budget);
        Ok(usable[usable.len() - keep..]
            .iter()
            .map(|m| PromptMessage {
                role: match m.role {
                    ChatRole::User => PromptRole::User,
                    ChatRole::Assistant => PromptRole::Assistant,
                },
                content: m.content.clone(),
            })
            .collect())
    }

    /// The products the catalogue search finds for the message's words, each once, at
    /// most `grounding_products`.
    async fn grounding(&self, message: &str) -> Result<Vec<ProductFact>, AppError> {
        let mut found: Vec<ProductFact> = Vec::new();
        let limit = self.settings.grounding_products;
        for word in grounding::search_words(message) {
            if found.len() >= limit {
                break;
            }
            let filter = ProductFilter { q: Some(word), ..ProductFilter::default() };
            let page = PageRequest { limit: u32::try_from(limit).unwrap_or(u32::MAX), offset: 0 };
            let hits = self.products.list(&filter, ProductSort::default(), page, None, None).await?;
            for product in hits.items {
                if found.len() < limit && !found.iter().any(|f| f.id == product.id) {
                    found.push(ProductFact {
                        id: product.id,
                        name: product.name,
                        price_cents: product.price_cents,
                        stock: product.stock,
                    });
                }
            }
        }
        Ok(found)
    }
}

/// A conversation deleted while its turn started is gone for the caller.
fn gone_is_not_found(err: StoreError) -> AppError {
    match err {
        StoreError::NotFound | StoreError::InvalidReference(_) => AppError::NotFound,
        other => other.into(),
    }
}

fn count_request(provider: &str, outcome: &'static str) {
    metrics::counter!(AI_REQUESTS_METRIC, "provider" => provider.to_owned(), "outcome" => outcome).increment(1);
}

/// How a turn's upstream call ended.
enum Ending {
    Complete {
        finish_reason: Option<String>,
        usage: Option<crate::ports::ProviderUsage>,
    },
    /// The client went away.
    Interrupted,
    Failed(ModelError),
}

/// The upstream half of a turn, on its own task: drives the provider, forwards its text,
/// and stores the reply however it ends.
struct Upstream {
    conversations: Arc<dyn ConversationRepository>,
    model: Arc<dyn LanguageModel>,
    clock: Arc<dyn Clock>,
    owner: storefront_domain::UserId,
    conversation: ConversationId,
    reply: ChatMessageId,
    retry_after: Duration,
}

impl Upstream {
    async fn run(self, request: CompletionRequest, sender: mpsc::Sender<TurnEvent>) {
        let provider = self.model.provider().to_owned();
        let prompt_texts: Vec<String> = request.messages.iter().map(|m| m.content.clone()).collect();
        let started = Instant::now();
        let mut content = String::new();
        let ending = tokio::select! {
            // The client left: dropping the upstream future cancels the request.
            () = sender.closed() => Ending::Interrupted,
            ending = self.drive(request, &sender, &mut content, started) => ending,
        };
        metrics::histogram!(AI_UPSTREAM_LATENCY_METRIC, "provider" => provider.clone())
            .record(started.elapsed().as_secs_f64());

        let (status, finish_reason, provider_usage) = match &ending {
            Ending::Complete { finish_reason, usage } => {
                (MessageStatus::Complete, finish_reason.clone().unwrap_or_else(|| "stop".into()), *usage)
            }
            Ending::Interrupted => (MessageStatus::Interrupted, "interrupted".into(), None),
            Ending::Failed(error) => {
                metrics::counter!(AI_ERRORS_METRIC, "provider" => provider.clone(), "kind" => error.kind())
                    .increment(1);
                tracing::warn!(provider = %provider, kind = error.kind(), %error, "the assistant's provider failed");
                (MessageStatus::Failed, "error".into(), None)
            }
        };
        let usage = match provider_usage {
            Some(u) => {
                TokenUsage { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens, estimated: false }
            }
            None => estimate(prompt_texts, &content, status).await,
        };
        count_request(&provider, status.as_str());
        for (kind, tokens) in [("prompt", usage.prompt_tokens), ("completion", usage.completion_tokens)] {
            let estimated = if usage.estimated { "true" } else { "false" };
            metrics::counter!(AI_TOKENS_METRIC, "provider" => provider.clone(), "kind" => kind, "estimated" => estimated)
                .increment(tokens);
        }

        let now = self.clock.now();
        let message = ChatMessage {
            id: self.reply,
            conversation_id: self.conversation,
            role: ChatRole::Assistant,
            // What the model says is stored redacted too: it may repeat what it was told.
            content: redact_pii(&content).text,
            status,
            provider: Some(provider.clone()),
            model: Some(self.model.model().to_owned()),
            usage: Some(usage),
            created_at: now,
        };
        let delta = UsageDelta {
            day: usage_day(now),
            provider: provider.clone(),
            model: self.model.model().to_owned(),
            requests: 0,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
        };
        let stored = self.conversations.append_message(self.owner, &message, delta).await;
        if let Err(error) = &stored {
            tracing::error!(%error, conversation_id = %self.conversation, "the assistant's reply could not be stored");
        }
        let event = match (ending, stored) {
            (Ending::Interrupted, _) => return,
            (Ending::Complete { .. }, Ok(())) => TurnEvent::Done { message, finish_reason, usage },
            (Ending::Complete { .. }, Err(error)) => TurnEvent::Failed(gone_is_not_found(error)),
            (Ending::Failed(error), _) => TurnEvent::Failed(self.unavailable(&error)),
        };
        // The client may have left in the meantime: nothing is waiting for the outcome then.
        let _ = sender.send(event).await;
    }

    /// Runs the provider to its end, forwarding each delta; fills `content` as it goes.
    async fn drive(
        &self,
        request: CompletionRequest,
        sender: &mpsc::Sender<TurnEvent>,
        content: &mut String,
        started: Instant,
    ) -> Ending {
        let provider = self.model.provider().to_owned();
        let mut stream = match self.model.complete(request).await {
            Ok(stream) => stream,
            Err(error) => return Ending::Failed(error),
        };
        let mut first = true;
        while let Some(item) = stream.next().await {
            match item {
                Ok(CompletionEvent::Delta(text)) if text.is_empty() => {}
                Ok(CompletionEvent::Delta(text)) => {
                    if first {
                        first = false;
                        metrics::histogram!(AI_TIME_TO_FIRST_TOKEN_METRIC, "provider" => provider.clone())
                            .record(started.elapsed().as_secs_f64());
                    }
                    content.push_str(&text);
                    if sender.send(TurnEvent::Delta(text)).await.is_err() {
                        return Ending::Interrupted;
                    }
                }
                Ok(CompletionEvent::Finished { finish_reason, usage }) => {
                    return Ending::Complete { finish_reason, usage };
                }
                Err(error) => return Ending::Failed(error),
            }
        }
        // A stream that ends without saying it finished was cut off.
        Ending::Failed(ModelError::BadResponse("the stream ended before the reply was finished".into()))
    }

    fn unavailable(&self, error: &ModelError) -> AppError {
        let retry_after = match error {
            ModelError::RateLimited { retry_after: Some(after) } => *after,
            _ => self.retry_after,
        };
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        AppError::AssistantUnavailable { retry_after_secs: secs.max(1) }
    }
}

/// Our own count of a turn's tokens, marked estimated. An interrupted reply still cost
/// the prompt it was sent with; a provider that failed before answering cost nothing.
async fn estimate(prompt: Vec<String>, reply: &str, status: MessageStatus) -> TokenUsage {
    if status == MessageStatus::Failed && reply.is_empty() {
        return TokenUsage { prompt_tokens: 0, completion_tokens: 0, estimated: true };
    }
    let (prompt_tokens, completion_tokens) = tokens::estimate_turn(prompt, reply.to_owned()).await;
    TokenUsage { prompt_tokens: prompt_tokens as u64, completion_tokens: completion_tokens as u64, estimated: true }
}
