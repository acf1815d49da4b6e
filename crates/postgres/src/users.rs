//! `UserRepository` on PostgreSQL: accounts, their credentials, and the per-request
//! principal (user + session + permissions) in one query.

use crate::error::{self, TxError};
use crate::prepared::prepared;
use crate::schema::{sessions, users};
use crate::{PgStore, catalog, events, retrying};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, RunQueryDsl};
use storefront_app::StoreError;
use storefront_app::ports::{NewUser, Principal, ProfileChanges, UserRepository};
use storefront_domain::{
    DomainEvent, Email, PasswordHash, Permission, PermissionSet, RoleName, SessionId, User, UserCredentials, UserId,
    UserName,
};
use uuid::Uuid;

/// A `users` row without its password hash (what almost every read needs).
#[derive(Debug, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub(crate) struct UserRow {
    id: Uuid,
    email: String,
    name: String,
    role: String,
    is_active: bool,
    email_verified: bool,
    mfa_enabled: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self, Self::Error> {
        // Rows were written from valid domain values; failing to parse one back means the
        // data was changed behind our back.
        let corrupt = |field: &str| StoreError::Internal(format!("user {} has an invalid {field}", row.id));
        Ok(User {
            id: UserId(row.id),
            email: Email::parse(&row.email).map_err(|_| corrupt("email"))?,
            name: UserName::parse(&row.name).map_err(|_| corrupt("name"))?,
            role: RoleName::parse(&row.role).map_err(|_| corrupt("role"))?,
            is_active: row.is_active,
            email_verified: row.email_verified,
            mfa_enabled: row.mfa_enabled,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A user with its password hash, for authentication only.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
struct CredentialsRow {
    #[diesel(embed)]
    user: UserRow,
    password_hash: String,
}

impl TryFrom<CredentialsRow> for UserCredentials {
    type Error = StoreError;

    fn try_from(row: CredentialsRow) -> Result<Self, Self::Error> {
        Ok(UserCredentials { user: row.user.try_into()?, password_hash: PasswordHash::new(row.password_hash) })
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUserRow<'a> {
    id: Uuid,
    email: &'a str,
    name: &'a str,
    password_hash: &'a str,
    role: &'a str,
    is_active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// `updated_at` is always set, so the changeset is never empty.
#[derive(AsChangeset)]
#[diesel(table_name = users)]
struct ProfileChangeset<'a> {
    name: Option<&'a str>,
    email: Option<&'a str>,
    updated_at: DateTime<Utc>,
}

/// The result of the principal query: the user and the names its role is granted.
#[derive(QueryableByName)]
struct PrincipalRow {
    #[diesel(embed)]
    user: UserRow,
    #[diesel(sql_type = Array<Text>)]
    permissions: Vec<String>,
}

/// One round trip for every authenticated request: the active user, only if the session
/// is its own and still active, with its role's grants.
const LOAD_PRINCIPAL: &str = "\
SELECT u.id, u.email, u.name, u.role, u.is_active, u.email_verified, u.mfa_enabled, u.created_at, u.updated_at,
       ARRAY(SELECT rp.permission FROM role_permissions rp WHERE rp.role_name = u.role) AS permissions
FROM users u
JOIN sessions s ON s.user_id = u.id
WHERE u.id = $1 AND s.id = $2 AND u.is_active AND s.revoked_at IS NULL AND s.expires_at > $3";

#[async_trait]
impl UserRepository for PgStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn create(&self, user: NewUser) -> Result<User, StoreError> {
        let user = &user;
        self.bounded(retrying(|| async move {
            let mut conn = self.conn().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                let row = NewUserRow {
                    id: user.id.as_uuid(),
                    email: user.email.as_str(),
                    name: user.name.as_str(),
                    password_hash: user.password_hash.as_str(),
                    role: user.role.as_str(),
                    is_active: true,
                    created_at: user.created_at,
                    updated_at: user.created_at,
                };
                let created: User = diesel::insert_into(users::table)
                    .values(&row)
                    .returning(UserRow::as_returning())
                    .get_result(conn)
                    .await?
                    .try_into()?;
                events::append(conn, &[DomainEvent::user_registered(&created)]).await?;
                Ok(created)
            })
            .await
        }))
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn active_holders_of(&self, permission: Permission) -> Result<Vec<User>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            // The admins hold every permission whatever is stored (`PermissionSet::for_role`).
            let holders = diesel::sql_query(
                "SELECT u.id, u.email, u.name, u.role, u.is_active, u.email_verified, u.mfa_enabled, u.created_at, \
                 u.updated_at FROM users u \
                 WHERE u.is_active AND (u.role = $2 OR EXISTS (\
                     SELECT 1 FROM role_permissions rp WHERE rp.role_name = u.role AND rp.permission = $1)) \
                 ORDER BY u.email",
            )
            .bind::<Text, _>(permission.as_str())
            .bind::<Text, _>(RoleName::ADMIN)
            .load::<UserRow>(&mut conn)
            .await
            .map_err(error::from_diesel)?;
            holders.into_iter().map(User::try_from).collect()
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            users::table
                .find(id.as_uuid())
                .select(UserRow::as_select())
                .first(&mut conn)
                .await
                .optional()
                .map_err(error::from_diesel)?
                .map(User::try_from)
                .transpose()
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn find_credentials_by_email(&self, email: &Email) -> Result<Option<UserCredentials>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            // `lower(email)` is what the unique index covers, so this is an index lookup.
            users::table
                .filter(lower(users::email).eq(lower(email.as_str())))
                .select(CredentialsRow::as_select())
                .first(&mut conn)
                .await
                .optional()
                .map_err(error::from_diesel)?
                .map(UserCredentials::try_from)
                .transpose()
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn find_credentials_by_id(&self, id: UserId) -> Result<Option<UserCredentials>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            users::table
                .find(id.as_uuid())
                .select(CredentialsRow::as_select())
                .first(&mut conn)
                .await
                .optional()
                .map_err(error::from_diesel)?
                .map(UserCredentials::try_from)
                .transpose()
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self, changes))]
    async fn update_profile(
        &self,
        id: UserId,
        changes: ProfileChanges,
        now: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let changeset = ProfileChangeset {
                name: changes.name.as_ref().map(UserName::as_str),
                email: changes.email.as_ref().map(Email::as_str),
                updated_at: now,
            };
            diesel::update(users::table.find(id.as_uuid()))
                .set(&changeset)
                .returning(UserRow::as_returning())
                .get_result(&mut conn)
                .await
                .optional()
                .map_err(error::from_diesel)?
                .ok_or(StoreError::NotFound)?
                .try_into()
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self, hash))]
    async fn change_password(
        &self,
        id: UserId,
        hash: PasswordHash,
        keep: SessionId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                let updated = diesel::update(users::table.find(id.as_uuid()))
                    .set((users::password_hash.eq(hash.as_str()), users::updated_at.eq(now)))
                    .execute(conn)
                    .await?;
                if updated == 0 {
                    return Err(StoreError::NotFound.into());
                }
                diesel::update(sessions::table)
                    .filter(sessions::user_id.eq(id.as_uuid()))
                    .filter(sessions::id.ne(keep.as_uuid()))
                    .filter(sessions::revoked_at.is_null())
                    .set(sessions::revoked_at.eq(now))
                    .execute(conn)
                    .await?;
                Ok(())
            })
            .await
            .map_err(StoreError::from)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn delete(&self, id: UserId) -> Result<(), StoreError> {
        self.bounded(retrying(|| async move {
            let mut conn = self.conn().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                // The catalogue before the user's row (see `lock_catalogue_of`).
                catalog::lock_catalogue_of(conn, id).await?;
                // Sessions and their refresh tokens, the user's products, likes and reviews
                // go with it (ON DELETE CASCADE); the catalogue's triggers fix the counts of
                // the products it liked or reviewed.
                let deleted = diesel::delete(users::table.find(id.as_uuid())).execute(conn).await?;
                if deleted == 0 { Err(StoreError::NotFound.into()) } else { Ok(()) }
            })
            .await
        }))
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn load_principal(
        &self,
        id: UserId,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<Principal>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let principal = diesel::sql_query(LOAD_PRINCIPAL)
                .bind::<SqlUuid, _>(id.as_uuid())
                .bind::<SqlUuid, _>(session.as_uuid())
                .bind::<Timestamptz, _>(now);
            let Some(row) = prepared(principal)
                .get_result::<PrincipalRow>(&mut conn)
                .await
                .optional()
                .map_err(error::from_diesel)?
            else {
                return Ok(None);
            };
            let user = User::try_from(row.user)?;
            // A grant the code does not know (left by a newer version) grants nothing.
            let granted = row.permissions.iter().filter_map(|name| name.parse::<Permission>().ok());
            let permissions = PermissionSet::for_role(&user.role, granted);
            Ok(Some(Principal { user, session_id: session, permissions }))
        })
        .await
    }
}

diesel::define_sql_function! {
    /// PostgreSQL's `lower(text)`.
    fn lower(x: Text) -> Text;
}
