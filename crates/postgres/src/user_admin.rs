//! `UserAdminRepository` on PostgreSQL: the user listing, and administrative changes and
//! deletions under the last-admin rule, each in one transaction with its audit entries.

use crate::error::TxError;
use crate::roles::lock_role_key;
use crate::schema::{sessions, users};
use crate::users::{UserRow, lower};
use crate::{PgStore, audit, catalog, retrying};
use async_trait::async_trait;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use storefront_app::StoreError;
use storefront_app::ports::{AuditContext, Page, PageRequest, UserAdminRepository, UserFilter};
use storefront_domain::{AdminUserChange, RoleName, User, UserId, plan_admin_change, plan_user_deletion};

/// Locks the target user and every active admin, in one statement and in id order.
///
/// Every transaction that can remove an active admin takes these locks first, so they
/// serialise on the admins they share. The fixed order (the sort runs before the locking)
/// means two of them never hold each other's rows, hence no deadlock. Under READ
/// COMMITTED, a row whose lock we had to wait for is re-checked once its holder commits
/// and skipped if it no longer matches: of two concurrent demotions of the last two
/// admins, the second one sees only its own target left.
const LOCK_TARGET_AND_ACTIVE_ADMINS: &str = "\
SELECT id, email, name, role, is_active, email_verified, mfa_enabled, created_at, updated_at
FROM users
WHERE id = $1 OR (role = $2 AND is_active)
ORDER BY id
FOR UPDATE";

/// The target as it is now, and how many other active admins are locked with it.
struct Locked {
    target: User,
    other_active_admins: usize,
}

async fn lock_target_and_active_admins(conn: &mut AsyncPgConnection, id: UserId) -> Result<Locked, TxError> {
    let rows = diesel::sql_query(LOCK_TARGET_AND_ACTIVE_ADMINS)
        .bind::<SqlUuid, _>(id.as_uuid())
        .bind::<Text, _>(RoleName::ADMIN)
        .load::<UserRow>(conn)
        .await?;
    let mut target = None;
    let mut other_active_admins = 0;
    for row in rows {
        let user = User::try_from(row)?;
        if user.id == id {
            target = Some(user);
        } else if user.is_active && user.role.is_admin() {
            other_active_admins += 1;
        }
    }
    let target = target.ok_or(StoreError::NotFound)?;
    Ok(Locked { target, other_active_admins })
}

diesel::define_sql_function! {
    /// PostgreSQL's `strpos(string, substring)`: the 1-based position, 0 when absent. Plain
    /// text search, so `%`, `_` and `\` in the query are just characters.
    fn strpos(string: Text, substring: Text) -> Integer;
}

/// The users matching `filter`, unordered and unpaged (shared by the page and the count).
fn matching(filter: &UserFilter) -> users::BoxedQuery<'static, Pg> {
    let mut query = users::table.into_boxed();
    if let Some(q) = &filter.q {
        let needle = || lower(q.clone());
        query =
            query.filter(strpos(lower(users::email), needle()).gt(0).or(strpos(lower(users::name), needle()).gt(0)));
    }
    if let Some(role) = &filter.role {
        query = query.filter(users::role.eq(role.as_str().to_owned()));
    }
    query
}

#[async_trait]
impl UserAdminRepository for PgStore {
    #[tracing::instrument(level = "debug", skip(self))]
    async fn list(&self, filter: &UserFilter, page: PageRequest) -> Result<Page<User>, StoreError> {
        snapshot_page!(self, page, matching(filter), (users::created_at.desc(), users::id.desc()), UserRow, User)
    }

    #[tracing::instrument(level = "debug", skip(self, change))]
    async fn apply_change(&self, id: UserId, change: &AdminUserChange, ctx: AuditContext) -> Result<User, StoreError> {
        self.bounded(retrying(|| async move {
            let mut conn = self.conn().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                let locked = lock_target_and_active_admins(conn, id).await?;
                // KEY SHARE keeps the role from being deleted before we commit.
                if let Some(role) = &change.role
                    && !lock_role_key(conn, role).await?
                {
                    return Err(StoreError::InvalidReference("role".into()).into());
                }
                let plan = plan_admin_change(&locked.target, change, locked.other_active_admins, ctx.now)
                    .map_err(|e| StoreError::Conflict(e.to_string()))?;
                let after = &plan.after;
                let stored: User = diesel::update(users::table.find(id.as_uuid()))
                    .set((
                        users::name.eq(after.name.as_str()),
                        users::role.eq(after.role.as_str()),
                        users::is_active.eq(after.is_active),
                        users::updated_at.eq(after.updated_at),
                    ))
                    .returning(UserRow::as_returning())
                    .get_result::<UserRow>(conn)
                    .await?
                    .try_into()?;
                if plan.deactivated {
                    // A deactivated account must not stay signed in anywhere.
                    diesel::update(sessions::table)
                        .filter(sessions::user_id.eq(id.as_uuid()))
                        .filter(sessions::revoked_at.is_null())
                        .set(sessions::revoked_at.eq(ctx.now))
                        .execute(conn)
                        .await?;
                }
                audit::record(conn, &plan.audit, ctx).await?;
                Ok(stored)
            })
            .await
        }))
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn delete(&self, id: UserId, ctx: AuditContext) -> Result<(), StoreError> {
        self.bounded(retrying(|| async move {
            let mut conn = self.conn().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                // The catalogue before the user rows (see `lock_catalogue_of`).
                catalog::lock_catalogue_of(conn, id).await?;
                let locked = lock_target_and_active_admins(conn, id).await?;
                let draft = plan_user_deletion(&locked.target, locked.other_active_admins)
                    .map_err(|e| StoreError::Conflict(e.to_string()))?;
                // Sessions and their refresh tokens, its products, likes and reviews go
                // with the user (ON DELETE CASCADE; triggers fix other products' counts);
                // the audit log keeps its entries (no foreign key).
                diesel::delete(users::table.find(id.as_uuid())).execute(conn).await?;
                audit::record(conn, &[draft], ctx).await?;
                Ok(())
            })
            .await
        }))
        .await
    }
}
