//! `ConversationRepository` on PostgreSQL: conversations and their messages (deleted with
//! their user by `ON DELETE CASCADE`), and the per-user daily usage, which a message adds
//! to in the transaction that stores it (a call that stores no message adds to it on its
//! own, `record_usage`).

use crate::error::{self, TxError};
use crate::schema::{ai_usage_daily, chat_messages, conversations};
use crate::{PgStore, retrying};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{BigInt, Date, Text};
use diesel::upsert::excluded;
use diesel_async::{AsyncConnection, RunQueryDsl};
use storefront_app::StoreError;
use storefront_app::ports::{
    ConversationRepository, NewConversation, Page, PageRequest, ProviderDayUsage, UsageDelta, UsageReport, UserUsage,
};
use storefront_domain::{
    ChatMessage, ChatMessageId, ChatRole, Conversation, ConversationId, DailyUsage, MessageStatus, TokenUsage, UserId,
};
use uuid::Uuid;

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = conversations, check_for_backend(diesel::pg::Pg))]
struct ConversationRow {
    id: Uuid,
    user_id: Uuid,
    title: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    message_count: i64,
}

impl TryFrom<ConversationRow> for Conversation {
    type Error = StoreError;

    fn try_from(row: ConversationRow) -> Result<Self, StoreError> {
        Ok(Conversation {
            id: ConversationId(row.id),
            user_id: UserId(row.user_id),
            title: row.title,
            created_at: row.created_at,
            updated_at: row.updated_at,
            message_count: u64::try_from(row.message_count).unwrap_or(0),
        })
    }
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = chat_messages, check_for_backend(diesel::pg::Pg))]
struct MessageRow {
    id: Uuid,
    conversation_id: Uuid,
    role: String,
    content: String,
    status: String,
    provider: Option<String>,
    model: Option<String>,
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    usage_estimated: Option<bool>,
    created_at: DateTime<Utc>,
}

impl TryFrom<MessageRow> for ChatMessage {
    type Error = StoreError;

    fn try_from(row: MessageRow) -> Result<Self, Self::Error> {
        let role = ChatRole::parse(&row.role)
            .ok_or_else(|| StoreError::Internal(format!("message {} has an unknown role", row.id)))?;
        let status = MessageStatus::parse(&row.status)
            .ok_or_else(|| StoreError::Internal(format!("message {} has an unknown status", row.id)))?;
        let usage = match (row.prompt_tokens, row.completion_tokens, row.usage_estimated) {
            (Some(prompt), Some(completion), Some(estimated)) => Some(TokenUsage {
                prompt_tokens: u64::try_from(prompt).unwrap_or(0),
                completion_tokens: u64::try_from(completion).unwrap_or(0),
                estimated,
            }),
            _ => None,
        };
        Ok(ChatMessage {
            id: ChatMessageId(row.id),
            conversation_id: ConversationId(row.conversation_id),
            role,
            content: row.content,
            status,
            provider: row.provider,
            model: row.model,
            usage,
            created_at: row.created_at,
        })
    }
}

impl From<&ChatMessage> for MessageRow {
    fn from(m: &ChatMessage) -> Self {
        let tokens = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        MessageRow {
            id: m.id.0,
            conversation_id: m.conversation_id.0,
            role: m.role.as_str().to_owned(),
            content: m.content.clone(),
            status: m.status.as_str().to_owned(),
            provider: m.provider.clone(),
            model: m.model.clone(),
            prompt_tokens: m.usage.map(|u| tokens(u.prompt_tokens)),
            completion_tokens: m.usage.map(|u| tokens(u.completion_tokens)),
            usage_estimated: m.usage.map(|u| u.estimated),
            created_at: m.created_at,
        }
    }
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl ConversationRepository for PgStore {
    #[tracing::instrument(level = "debug", skip(self))]
    async fn create_conversation(&self, new: NewConversation) -> Result<Conversation, StoreError> {
        let row = ConversationRow {
            id: new.id.0,
            user_id: new.user_id.as_uuid(),
            title: new.title,
            created_at: new.now,
            updated_at: new.now,
            message_count: 0,
        };
        self.bounded(async {
            let mut conn = self.conn().await?;
            diesel::insert_into(conversations::table)
                .values(&row)
                .returning(ConversationRow::as_returning())
                .get_result(&mut conn)
                .await
                .map_err(|e| match e {
                    DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                        StoreError::InvalidReference("user_id".into())
                    }
                    DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                        StoreError::Conflict(format!("conversation {} already exists", row.id))
                    }
                    other => error::from_diesel(other),
                })?
                .try_into()
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn conversation(&self, id: ConversationId, owner: UserId) -> Result<Option<Conversation>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            conversations::table
                .filter(conversations::id.eq(id.0).and(conversations::user_id.eq(owner.as_uuid())))
                .select(ConversationRow::as_select())
                .first(&mut conn)
                .await
                .optional()
                .map_err(error::from_diesel)?
                .map(Conversation::try_from)
                .transpose()
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn conversations(&self, owner: UserId, page: PageRequest) -> Result<Page<Conversation>, StoreError> {
        let matching = || conversations::table.filter(conversations::user_id.eq(owner.as_uuid())).into_boxed();
        snapshot_page!(
            self,
            page,
            matching(),
            (conversations::updated_at.desc(), conversations::id.desc()),
            ConversationRow,
            Conversation
        )
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn delete_conversation(&self, id: ConversationId, owner: UserId) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let deleted = diesel::delete(
                conversations::table.filter(conversations::id.eq(id.0).and(conversations::user_id.eq(owner.as_uuid()))),
            )
            .execute(&mut conn)
            .await
            .map_err(error::from_diesel)?;
            if deleted == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn messages(
        &self,
        id: ConversationId,
        owner: UserId,
        page: PageRequest,
    ) -> Result<Page<ChatMessage>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            conn.build_transaction()
                .read_only()
                .repeatable_read()
                .run::<_, TxError, _>(async |conn| {
                    let conversation: Option<i64> = conversations::table
                        .filter(conversations::id.eq(id.0).and(conversations::user_id.eq(owner.as_uuid())))
                        .select(conversations::message_count)
                        .first(conn)
                        .await
                        .optional()?;
                    if conversation.is_none() {
                        return Err(TxError::Store(StoreError::NotFound));
                    }
                    let total: i64 = chat_messages::table
                        .filter(chat_messages::conversation_id.eq(id.0))
                        .count()
                        .get_result(conn)
                        .await?;
                    let rows: Vec<MessageRow> = chat_messages::table
                        .filter(chat_messages::conversation_id.eq(id.0))
                        .order((chat_messages::created_at.asc(), chat_messages::id.asc()))
                        .limit(i64::from(page.limit))
                        .offset(i64::try_from(page.offset).unwrap_or(i64::MAX))
                        .select(MessageRow::as_select())
                        .load(conn)
                        .await?;
                    let items = rows.into_iter().map(ChatMessage::try_from).collect::<Result<_, _>>()?;
                    Ok(Page { items, total: u64::try_from(total).unwrap_or(0) })
                })
                .await
                .map_err(StoreError::from)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn recent_messages(&self, id: ConversationId, limit: u32) -> Result<Vec<ChatMessage>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let rows: Vec<MessageRow> = chat_messages::table
                .filter(chat_messages::conversation_id.eq(id.0))
                .order((chat_messages::created_at.desc(), chat_messages::id.desc()))
                .limit(i64::from(limit))
                .select(MessageRow::as_select())
                .load(&mut conn)
                .await
                .map_err(error::from_diesel)?;
            let mut messages = rows.into_iter().map(ChatMessage::try_from).collect::<Result<Vec<_>, _>>()?;
            messages.reverse();
            Ok(messages)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self, message))]
    async fn append_message(&self, owner: UserId, message: &ChatMessage, usage: UsageDelta) -> Result<(), StoreError> {
        let row = MessageRow::from(message);
        let row = &row;
        let usage = &usage;
        self.bounded(retrying(|| async move {
            let mut conn = self.conn().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                // Locks the conversation: a concurrent deletion waits, or has won and then
                // nothing is stored.
                let bumped = diesel::update(
                    conversations::table
                        .filter(conversations::id.eq(row.conversation_id))
                        .filter(conversations::user_id.eq(owner.as_uuid())),
                )
                .set((
                    conversations::message_count.eq(conversations::message_count + 1),
                    conversations::updated_at.eq(row.created_at),
                ))
                .execute(conn)
                .await?;
                if bumped == 0 {
                    return Err(TxError::Store(StoreError::NotFound));
                }
                diesel::insert_into(chat_messages::table).values(row).execute(conn).await.map_err(|e| match e {
                    DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                        TxError::Store(StoreError::Conflict(format!("message {} already exists", row.id)))
                    }
                    other => TxError::Query(other),
                })?;
                add_usage(conn, owner, usage).await?;
                Ok(())
            })
            .await
        }))
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn usage_on(&self, owner: UserId, day: NaiveDate) -> Result<DailyUsage, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let rows: Vec<(i64, i64, i64)> = ai_usage_daily::table
                .filter(ai_usage_daily::user_id.eq(owner.as_uuid()).and(ai_usage_daily::day.eq(day)))
                .select((ai_usage_daily::requests, ai_usage_daily::prompt_tokens, ai_usage_daily::completion_tokens))
                .load(&mut conn)
                .await
                .map_err(error::from_diesel)?;
            Ok(rows.into_iter().fold(DailyUsage::default(), |sum, (requests, prompt, completion)| DailyUsage {
                requests: sum.requests + unsigned(requests),
                prompt_tokens: sum.prompt_tokens + unsigned(prompt),
                completion_tokens: sum.completion_tokens + unsigned(completion),
            }))
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn record_usage(&self, owner: UserId, usage: &UsageDelta) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            add_usage(&mut conn, owner, usage).await.map_err(|e| match e {
                DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                    StoreError::InvalidReference("user_id".into())
                }
                other => error::from_diesel(other),
            })
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn usage_report(&self, from: NaiveDate, to: NaiveDate, top: u32) -> Result<UsageReport, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let days: Vec<DayRow> = diesel::sql_query(USAGE_BY_DAY)
                .bind::<Date, _>(from)
                .bind::<Date, _>(to)
                .load(&mut conn)
                .await
                .map_err(error::from_diesel)?;
            let users: Vec<TopUserRow> = diesel::sql_query(TOP_USERS)
                .bind::<Date, _>(from)
                .bind::<Date, _>(to)
                .bind::<BigInt, _>(i64::from(top))
                .load(&mut conn)
                .await
                .map_err(error::from_diesel)?;
            let usage = |requests: i64, prompt: i64, completion: i64| DailyUsage {
                requests: unsigned(requests),
                prompt_tokens: unsigned(prompt),
                completion_tokens: unsigned(completion),
            };
            Ok(UsageReport {
                days: days
                    .into_iter()
                    .map(|r| ProviderDayUsage {
                        day: r.day,
                        provider: r.provider,
                        model: r.model,
                        usage: usage(r.requests, r.prompt_tokens, r.completion_tokens),
                    })
                    .collect(),
                top_users: users
                    .into_iter()
                    .map(|r| UserUsage {
                        user_id: UserId(r.id),
                        email: r.email,
                        name: r.name,
                        usage: usage(r.requests, r.prompt_tokens, r.completion_tokens),
                    })
                    .collect(),
            })
        })
        .await
    }
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Adds `usage` to its owner's row of its day, provider and model.
async fn add_usage(
    conn: &mut diesel_async::AsyncPgConnection,
    owner: UserId,
    usage: &UsageDelta,
) -> Result<(), DieselError> {
    diesel::insert_into(ai_usage_daily::table)
        .values((
            ai_usage_daily::user_id.eq(owner.as_uuid()),
            ai_usage_daily::day.eq(usage.day),
            ai_usage_daily::provider.eq(&usage.provider),
            ai_usage_daily::model.eq(&usage.model),
            ai_usage_daily::requests.eq(count(usage.requests)),
            ai_usage_daily::prompt_tokens.eq(count(usage.prompt_tokens)),
            ai_usage_daily::completion_tokens.eq(count(usage.completion_tokens)),
        ))
        .on_conflict((ai_usage_daily::user_id, ai_usage_daily::day, ai_usage_daily::provider, ai_usage_daily::model))
        .do_update()
        .set((
            ai_usage_daily::requests.eq(ai_usage_daily::requests + excluded(ai_usage_daily::requests)),
            ai_usage_daily::prompt_tokens.eq(ai_usage_daily::prompt_tokens + excluded(ai_usage_daily::prompt_tokens)),
            ai_usage_daily::completion_tokens
                .eq(ai_usage_daily::completion_tokens + excluded(ai_usage_daily::completion_tokens)),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Usage per day, provider and model over a period (sums of bigint are numeric: cast back).
const USAGE_BY_DAY: &str = "\
SELECT day, provider, model, sum(requests)::bigint AS requests, sum(prompt_tokens)::bigint AS prompt_tokens,
       sum(completion_tokens)::bigint AS completion_tokens
FROM ai_usage_daily WHERE day BETWEEN $1 AND $2
GROUP BY day, provider, model ORDER BY day, provider, model";

/// The users with the most tokens over a period, most first (then by id).
const TOP_USERS: &str = "\
SELECT u.id, u.email, u.name, sum(a.requests)::bigint AS requests, sum(a.prompt_tokens)::bigint AS prompt_tokens,
       sum(a.completion_tokens)::bigint AS completion_tokens
FROM ai_usage_daily a JOIN users u ON u.id = a.user_id
WHERE a.day BETWEEN $1 AND $2
GROUP BY u.id, u.email, u.name
HAVING sum(a.prompt_tokens + a.completion_tokens) > 0
ORDER BY sum(a.prompt_tokens + a.completion_tokens) DESC, u.id
LIMIT $3";

#[derive(QueryableByName)]
struct DayRow {
    #[diesel(sql_type = Date)]
    day: NaiveDate,
    #[diesel(sql_type = Text)]
    provider: String,
    #[diesel(sql_type = Text)]
    model: String,
    #[diesel(sql_type = BigInt)]
    requests: i64,
    #[diesel(sql_type = BigInt)]
    prompt_tokens: i64,
    #[diesel(sql_type = BigInt)]
    completion_tokens: i64,
}

#[derive(QueryableByName)]
struct TopUserRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    requests: i64,
    #[diesel(sql_type = BigInt)]
    prompt_tokens: i64,
    #[diesel(sql_type = BigInt)]
    completion_tokens: i64,
}
