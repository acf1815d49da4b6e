//! The assistant (`/ai/chat`, `/chat/conversations…`, `/users/me/ai-usage`): chat turns
//! answered as JSON or streamed as Server-Sent Events, the caller's conversations and
//! their messages, and today's usage; with their DTOs.

use crate::bearer::Authenticated;
use crate::body::{ApiJson, present};
use crate::catalog::path_id;
use crate::error::ApiError;
use crate::permissions::{AiUse, RequirePermission};
use crate::query::{Paginated, Pagination};
use crate::request_id::current_request_id;
use crate::responses::{
    AssistantUnavailable, BearerUnauthorized, ChatLimited, ChatRejected, InternalError, MalformedBody, NotFound,
    PayloadTooLarge, PermissionErrors, ServerErrors, UnsupportedMediaType, ValidationFailed,
};
use crate::state::{API_PREFIX, AppState};
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{Bytes, Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use storefront_app::{ChatInput, ChatTurn, TurnEvent};
use storefront_domain::{ChatMessage, ChatRole, Conversation, ConversationId, MessageStatus, TokenUsage};
use tokio::sync::mpsc;
use utoipa::ToSchema;
use uuid::Uuid;

/// The media type of a streamed chat.
pub const EVENT_STREAM: &str = "text/event-stream";

/// A chat message to the assistant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"message": "Which desk fits a small room?"}))]
pub struct ChatRequest {
    /// The conversation to continue (one of the caller's); absent: a new one is created.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub conversation_id: Option<Uuid>,
    /// 1..=4000 characters. Screened for prompt injection (422 `prompt_rejected`); e-mail
    /// addresses, phone numbers, card numbers, SSNs and secrets are replaced by
    /// `[EMAIL]`, `[PHONE]`, `[CARD]`, `[SSN]`, `[SECRET]` before it is sent or stored.
    #[schema(min_length = 1, max_length = 4000, example = "Which desk fits a small room?")]
    pub message: String,
}

/// A new conversation.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Desks for a small room"}))]
pub struct CreateConversationRequest {
    /// 1..=200 characters after trimming. Absent: the first message names it.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, min_length = 1, max_length = 200)]
    pub title: Option<String>,
}

/// A conversation with the assistant.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4b10",
    "title": "Desks for a small room",
    "created_at": "2026-12-07T09:00:00Z",
    "updated_at": "2026-12-07T09:01:12Z",
    "message_count": 2
}))]
pub struct ConversationResponse {
    pub id: Uuid,
    /// Given at creation, or the start of its first message; `null` until then.
    pub title: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When its last message was stored.
    pub updated_at: DateTime<Utc>,
    pub message_count: u64,
}

impl From<Conversation> for ConversationResponse {
    fn from(c: Conversation) -> Self {
        Self {
            id: c.id.as_uuid(),
            title: c.title,
            created_at: c.created_at,
            updated_at: c.updated_at,
            message_count: c.message_count,
        }
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChatRoleName {
    User,
    Assistant,
}

/// How a message ended: whole, cut off by the client leaving (`interrupted`), or by the
/// provider failing (`failed`).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatusName {
    Complete,
    Interrupted,
    Failed,
}

/// Tokens a reply cost.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[schema(example = json!({"prompt_tokens": 182, "completion_tokens": 41, "estimated": false}))]
pub struct UsageResponse {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// `true` when the provider sent no usage and Storefront counted the tokens itself.
    pub estimated: bool,
}

impl From<TokenUsage> for UsageResponse {
    fn from(u: TokenUsage) -> Self {
        Self { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens, estimated: u.estimated }
    }
}

/// A stored message.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4b12",
    "role": "assistant",
    "content": "The Walnut desk [0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a80] is 120 cm wide.",
    "status": "complete",
    "provider": "openai",
    "model": "gpt-4o-mini",
    "usage": {"prompt_tokens": 182, "completion_tokens": 41, "estimated": false},
    "created_at": "2026-12-07T09:01:12Z"
}))]
pub struct MessageResponse {
    pub id: Uuid,
    pub role: ChatRoleName,
    /// With personal data replaced by typed placeholders.
    pub content: String,
    pub status: MessageStatusName,
    /// `null` on the user's messages.
    pub provider: Option<String>,
    /// `null` on the user's messages.
    pub model: Option<String>,
    /// `null` on the user's messages.
    pub usage: Option<UsageResponse>,
    pub created_at: DateTime<Utc>,
}

impl From<ChatMessage> for MessageResponse {
    fn from(m: ChatMessage) -> Self {
        Self {
            id: m.id.as_uuid(),
            role: match m.role {
                ChatRole::User => ChatRoleName::User,
                ChatRole::Assistant => ChatRoleName::Assistant,
            },
            content: m.content,
            status: match m.status {
                MessageStatus::Complete => MessageStatusName::Complete,
                MessageStatus::Interrupted => MessageStatusName::Interrupted,
                MessageStatus::Failed => MessageStatusName::Failed,
            },
            provider: m.provider,
            model: m.model,
            usage: m.usage.map(UsageResponse::from),
            created_at: m.created_at,
        }
    }
}

/// The assistant's whole reply (without `Accept: text/event-stream`).
#[derive(Serialize, ToSchema)]
pub struct ChatResponse {
    pub conversation_id: Uuid,
    pub message: MessageResponse,
    pub usage: UsageResponse,
}

/// `event: meta`, first on a stream.
#[derive(Serialize, ToSchema)]
pub struct ChatMetaEvent {
    pub conversation_id: Uuid,
    /// The id the reply is stored under.
    pub message_id: Uuid,
    pub provider: String,
    pub model: String,
}

/// `event: delta`: more text of the reply.
#[derive(Serialize, ToSchema)]
pub struct ChatDeltaEvent {
    pub content: String,
}

/// `event: done`: the reply is whole and stored.
#[derive(Serialize, ToSchema)]
pub struct ChatDoneEvent {
    pub message_id: Uuid,
    /// `stop`, `length`… as the provider said.
    pub finish_reason: String,
    pub usage: UsageResponse,
}

/// Today's (UTC) use of the assistant by the caller.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "period_start": "2026-12-07T00:00:00Z",
    "requests": 3,
    "prompt_tokens": 812,
    "completion_tokens": 164,
    "token_budget": 50000,
    "tokens_left": 49024
}))]
pub struct AiUsageResponse {
    /// 00:00 UTC today; the budget is renewed at the next one.
    pub period_start: DateTime<Utc>,
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub token_budget: u64,
    pub tokens_left: u64,
}

/// Chat with the assistant
///
/// Sends a message (in a new conversation without `conversation_id`) and answers the
/// assistant's reply, grounded in the products the catalogue search finds for it.
///
/// With `Accept: text/event-stream` the reply is streamed as Server-Sent Events:
/// `event: meta` (`ChatMetaEvent`) first, `event: delta` (`ChatDeltaEvent`) as text
/// arrives, then `event: done` (`ChatDoneEvent`) — or `event: error` with a problem object
/// when the provider fails after the stream began. A comment line (`: keep-alive`) is sent
/// every 15 s of silence. Responses are never compressed and carry
/// `X-Accel-Buffering: no`. A client that disconnects cancels the provider's request; the
/// partial reply is stored as `interrupted`.
///
/// Limits per user: `ai.requests_per_minute` (429 `rate_limited`) and a daily token budget
/// (429 `ai_budget_exceeded`, `Retry-After` until 00:00 UTC). A provider that fails before
/// the first byte answers 503 `assistant_unavailable` with `Retry-After`.
#[utoipa::path(
    post,
    path = "/api/v1/ai/chat",
    tag = "assistant",
    operation_id = "chat",
    security(("oauth2" = []), ("bearer" = [])),
    request_body = ChatRequest,
    responses(
        (status = 200, description = "The reply: JSON, or an SSE stream with `Accept: text/event-stream`",
            content(
                (ChatResponse = "application/json"),
                (String = "text/event-stream", example = json!(
                    "event: meta\ndata: {\"conversation_id\":\"0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4b10\",\"message_id\":\"0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4b12\",\"provider\":\"builtin\",\"model\":\"builtin\"}\n\n\
                     event: delta\ndata: {\"content\":\"These\"}\n\n\
                     event: done\ndata: {\"message_id\":\"0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4b12\",\"finish_reason\":\"stop\",\"usage\":{\"prompt_tokens\":182,\"completion_tokens\":41,\"estimated\":true}}\n\n"
                )),
            ),
            headers(
                ("Cache-Control" = String, description = "`no-cache` on a stream"),
                ("X-Accel-Buffering" = String, description = "`no` on a stream: proxies must not buffer it"),
            )),
        PermissionErrors,
        (status = 400, response = MalformedBody),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ChatRejected),
        (status = 429, response = ChatLimited),
        (status = 500, response = InternalError),
        (status = 503, response = AssistantUnavailable),
    )
)]
pub async fn chat(
    caller: RequirePermission<AiUse>,
    state: Data<AppState>,
    req: HttpRequest,
    body: Result<ApiJson<ChatRequest>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let ApiJson(body) = body?;
    let input = ChatInput { conversation_id: body.conversation_id.map(ConversationId), message: body.message };
    let mut turn = state.assistant.start_chat(caller.principal(), input).await?;
    // A provider that fails before any text is a 503 however the reply was asked for.
    let first = match turn.events.recv().await {
        Some(TurnEvent::Failed(error)) => return Err(error.into()),
        Some(event) => event,
        None => return Err(ApiError::Internal("the chat task ended without an outcome".into())),
    };
    if accepts_event_stream(&req) {
        Ok(stream(turn, first, current_request_id().unwrap_or_default(), state.config.sse_keep_alive))
    } else {
        whole_reply(turn, first).await
    }
}

/// Whether the client asked for an event stream.
fn accepts_event_stream(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| range.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case(EVENT_STREAM)))
}

/// Waits for the whole reply and answers it as JSON.
async fn whole_reply(mut turn: ChatTurn, first: TurnEvent) -> Result<HttpResponse, ApiError> {
    let mut next = Some(first);
    loop {
        let event = match next.take() {
            Some(event) => Some(event),
            None => turn.events.recv().await,
        };
        match event {
            Some(TurnEvent::Delta(_)) => {}
            Some(TurnEvent::Done { message, usage, .. }) => {
                let reply = ChatResponse {
                    conversation_id: turn.conversation_id.as_uuid(),
                    message: MessageResponse::from(message),
                    usage: UsageResponse::from(usage),
                };
                return Ok(HttpResponse::Ok().json(reply));
            }
            Some(TurnEvent::Failed(error)) => return Err(error.into()),
            None => return Err(ApiError::Internal("the chat task ended without an outcome".into())),
        }
    }
}

/// One Server-Sent Event.
fn sse_event(name: &str, data: &impl Serialize) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "{}".into());
    Bytes::from(format!("event: {name}\ndata: {json}\n\n"))
}

/// Where a stream stands.
struct StreamState {
    events: mpsc::Receiver<TurnEvent>,
    pending: Vec<Bytes>,
    keep_alive: tokio::time::Interval,
    finished: bool,
    request_id: String,
}

/// The reply as an event stream. Dropping it (the client left) drops the turn's receiver,
/// which stops the provider's request on the turn's task.
fn stream(turn: ChatTurn, first: TurnEvent, request_id: String, keep_alive_every: Duration) -> HttpResponse {
    let meta = ChatMetaEvent {
        conversation_id: turn.conversation_id.as_uuid(),
        message_id: turn.message_id.as_uuid(),
        provider: turn.provider.clone(),
        model: turn.model.clone(),
    };
    let mut keep_alive = tokio::time::interval_at(tokio::time::Instant::now() + keep_alive_every, keep_alive_every);
    keep_alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut state = StreamState { events: turn.events, pending: Vec::new(), keep_alive, finished: false, request_id };
    // In the order they are sent: `pending` is a stack.
    let first = render(&mut state, first);
    state.pending = vec![first, sse_event("meta", &meta)];
    let body = futures::stream::unfold(state, |mut state| async move {
        if let Some(bytes) = state.pending.pop() {
            return Some((Ok::<_, actix_web::Error>(bytes), state));
        }
        if state.finished {
            return None;
        }
        let bytes = tokio::select! {
            event = state.events.recv() => match event {
                Some(event) => render(&mut state, event),
                None => {
                    state.finished = true;
                    let error = ApiError::Internal("the chat task ended without an outcome".into());
                    sse_event("error", &error.problem(state.request_id.clone()))
                }
            },
            _ = state.keep_alive.tick() => Bytes::from_static(b": keep-alive\n\n"),
        };
        Some((Ok(bytes), state))
    });
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(EVENT_STREAM)))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .insert_header(("x-accel-buffering", HeaderValue::from_static("no")))
        // Compression would buffer the events: `identity` tells any compressing layer so.
        .insert_header((header::CONTENT_ENCODING, HeaderValue::from_static("identity")))
        .streaming(body)
}

fn render(state: &mut StreamState, event: TurnEvent) -> Bytes {
    state.keep_alive.reset();
    match event {
        TurnEvent::Delta(content) => sse_event("delta", &ChatDeltaEvent { content }),
        TurnEvent::Done { message, finish_reason, usage } => {
            state.finished = true;
            let done = ChatDoneEvent { message_id: message.id.as_uuid(), finish_reason, usage: usage.into() };
            sse_event("done", &done)
        }
        TurnEvent::Failed(error) => {
            state.finished = true;
            sse_event("error", &ApiError::from(error).problem(state.request_id.clone()))
        }
    }
}

/// Start a conversation
///
/// An empty conversation; `POST /api/v1/ai/chat` with its id adds to it. The body may be
/// left out (no title).
#[utoipa::path(
    post,
    path = "/api/v1/chat/conversations",
    tag = "assistant",
    operation_id = "create_conversation",
    security(("oauth2" = []), ("bearer" = [])),
    request_body = CreateConversationRequest,
    responses(
        (status = 201, description = "The conversation was created", body = ConversationResponse,
            headers(("Location" = String, description = "`/api/v1/chat/conversations/{id}`"))),
        PermissionErrors,
        (status = 400, response = MalformedBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
        ServerErrors,
    )
)]
pub async fn create_conversation(
    caller: RequirePermission<AiUse>,
    state: Data<AppState>,
    req: HttpRequest,
    body: Result<ApiJson<CreateConversationRequest>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let title = if has_no_body(&req) { None } else { body?.0.title };
    let conversation = state.assistant.create_conversation(caller.principal(), title.as_deref()).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("{API_PREFIX}/chat/conversations/{}", conversation.id)))
        .json(ConversationResponse::from(conversation)))
}

/// A request without a body at all: no media type and no length (or length 0).
pub(crate) fn has_no_body(req: &HttpRequest) -> bool {
    let headers = req.headers();
    let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).map(str::trim);
    !headers.contains_key(header::CONTENT_TYPE)
        && !headers.contains_key(header::TRANSFER_ENCODING)
        && length.is_none_or(|l| l == "0")
}

/// List the caller's conversations
///
/// Most recently updated first.
#[utoipa::path(
    get,
    path = "/api/v1/chat/conversations",
    tag = "assistant",
    operation_id = "list_conversations",
    security(("oauth2" = []), ("bearer" = [])),
    params(Pagination),
    responses(
        (status = 200, description = "One page of conversations", body = Paginated<ConversationResponse>),
        PermissionErrors,
        (status = 422, response = ValidationFailed),
        ServerErrors,
    )
)]
pub async fn list_conversations(
    caller: RequirePermission<AiUse>,
    state: Data<AppState>,
    pagination: Result<Pagination, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let pagination = pagination?;
    let page = state.assistant.conversations(caller.principal(), pagination.page()).await?;
    Ok(HttpResponse::Ok().json(Paginated::<ConversationResponse>::new(page, pagination)))
}

/// A conversation
///
/// The caller's own; anyone else's answers 404.
#[utoipa::path(
    get,
    path = "/api/v1/chat/conversations/{id}",
    tag = "assistant",
    operation_id = "get_conversation",
    security(("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The conversation's id")),
    responses(
        (status = 200, description = "The conversation", body = ConversationResponse),
        PermissionErrors,
        (status = 404, response = NotFound),
        ServerErrors,
    )
)]
pub async fn get_conversation(
    caller: RequirePermission<AiUse>,
    state: Data<AppState>,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: ConversationId = path_id(&id)?;
    let conversation = state.assistant.conversation(caller.principal(), id).await?;
    Ok(HttpResponse::Ok().json(ConversationResponse::from(conversation)))
}

/// Delete a conversation
///
/// With its messages. Today's usage stays counted.
#[utoipa::path(
    delete,
    path = "/api/v1/chat/conversations/{id}",
    tag = "assistant",
    operation_id = "delete_conversation",
    security(("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The conversation's id")),
    responses(
        (status = 204, description = "The conversation and its messages were deleted"),
        PermissionErrors,
        (status = 404, response = NotFound),
        ServerErrors,
    )
)]
pub async fn delete_conversation(
    caller: RequirePermission<AiUse>,
    state: Data<AppState>,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: ConversationId = path_id(&id)?;
    state.assistant.delete_conversation(caller.principal(), id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A conversation's messages
///
/// Oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/chat/conversations/{id}/messages",
    tag = "assistant",
    operation_id = "list_conversation_messages",
    security(("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The conversation's id"), Pagination),
    responses(
        (status = 200, description = "One page of messages", body = Paginated<MessageResponse>),
        PermissionErrors,
        (status = 404, response = NotFound),
        (status = 422, response = ValidationFailed),
        ServerErrors,
    )
)]
pub async fn list_messages(
    caller: RequirePermission<AiUse>,
    state: Data<AppState>,
    id: Path<String>,
    pagination: Result<Pagination, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let id: ConversationId = path_id(&id)?;
    let pagination = pagination?;
    let page = state.assistant.messages(caller.principal(), id, pagination.page()).await?;
    Ok(HttpResponse::Ok().json(Paginated::<MessageResponse>::new(page, pagination)))
}

/// The caller's use of the assistant today
///
/// Requests and tokens since 00:00 UTC, against the daily token budget.
#[utoipa::path(
    get,
    path = "/api/v1/users/me/ai-usage",
    tag = "assistant",
    operation_id = "my_ai_usage",
    security(("oauth2" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Today's usage", body = AiUsageResponse),
        (status = 401, response = BearerUnauthorized),
        ServerErrors,
    )
)]
pub async fn my_ai_usage(
    Authenticated(caller): Authenticated,
    state: Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let today = state.assistant.usage_today(&caller).await?;
    Ok(HttpResponse::Ok().json(AiUsageResponse {
        period_start: today.period_start,
        requests: today.usage.requests,
        prompt_tokens: today.usage.prompt_tokens,
        completion_tokens: today.usage.completion_tokens,
        token_budget: today.token_budget,
        tokens_left: today.tokens_left(),
    }))
}
