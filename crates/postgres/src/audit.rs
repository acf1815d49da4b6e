//! `AuditLog` on PostgreSQL, and the helper every administrative change uses to write its
//! entries inside its own transaction.

use crate::PgStore;
use crate::error::TxError;
use crate::schema::audit_log;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use storefront_app::StoreError;
use storefront_app::ports::{AuditContext, AuditEntry, AuditFilter, AuditLog, Page, PageRequest};
use storefront_domain::{AuditAction, AuditDraft, UserId};
use uuid::Uuid;

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = audit_log, check_for_backend(diesel::pg::Pg))]
struct AuditRow {
    id: Uuid,
    at: DateTime<Utc>,
    actor_id: Option<Uuid>,
    action: String,
    target: String,
    details: Value,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;

    fn try_from(row: AuditRow) -> Result<Self, Self::Error> {
        // Every action written is one the code knows; another one means a newer version
        // wrote it or the table was edited by hand, and a listing cannot represent it.
        let action = AuditAction::parse(&row.action)
            .ok_or_else(|| StoreError::Internal(format!("audit entry {} has an unknown action", row.id)))?;
        Ok(AuditEntry {
            id: row.id,
            at: row.at,
            actor_id: row.actor_id.map(UserId),
            action,
            target: row.target,
            details: row.details,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = audit_log)]
struct NewAuditRow<'a> {
    id: Uuid,
    at: DateTime<Utc>,
    actor_id: Option<Uuid>,
    action: &'static str,
    target: &'a str,
    details: &'a Value,
}

/// Writes `drafts` stamped with the context, on the caller's transaction so that the log
/// holds exactly the changes that were committed.
pub(crate) async fn record(
    conn: &mut AsyncPgConnection,
    drafts: &[AuditDraft],
    ctx: AuditContext,
) -> Result<(), TxError> {
    if drafts.is_empty() {
        return Ok(());
    }
    // v7 ids grow within this process, which orders entries written at the same `now`.
    let rows: Vec<NewAuditRow<'_>> = drafts
        .iter()
        .map(|draft| NewAuditRow {
            id: Uuid::now_v7(),
            at: ctx.now,
            actor_id: Some(ctx.actor.as_uuid()),
            action: draft.action.as_str(),
            target: &draft.target,
            details: &draft.details,
        })
        .collect();
    diesel::insert_into(audit_log::table).values(&rows).execute(conn).await?;
    Ok(())
}

/// The entries matching `filter`, unordered and unpaged (shared by the page and the count).
fn matching(filter: &AuditFilter) -> audit_log::BoxedQuery<'static, Pg> {
    let mut query = audit_log::table.into_boxed();
    if let Some(action) = filter.action {
        query = query.filter(audit_log::action.eq(action.as_str()));
    }
    if let Some(actor) = filter.actor_id {
        query = query.filter(audit_log::actor_id.eq(actor.as_uuid()));
    }
    query
}

#[async_trait]
impl AuditLog for PgStore {
    #[tracing::instrument(level = "debug", skip(self))]
    async fn list(&self, filter: &AuditFilter, page: PageRequest) -> Result<Page<AuditEntry>, StoreError> {
        snapshot_page!(self, page, matching(filter), (audit_log::at.desc(), audit_log::id.desc()), AuditRow, AuditEntry)
    }

    #[tracing::instrument(level = "debug", skip(self, draft))]
    async fn record(&self, draft: AuditDraft, ctx: AuditContext) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            record(&mut conn, std::slice::from_ref(&draft), ctx).await.map_err(StoreError::from)
        })
        .await
    }
}
