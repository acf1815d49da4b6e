//! `RoleRepository` on PostgreSQL: roles with their grants, each change audited in its own
//! transaction.

use crate::error::TxError;
use crate::schema::{role_permissions, roles, users};
use crate::{PgStore, audit, error, retrying};
use async_trait::async_trait;
use diesel::dsl::exists;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{Array, Bool, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use storefront_app::StoreError;
use storefront_app::ports::{AuditContext, RoleRepository};
use storefront_domain::{AuditDraft, Permission, PermissionSet, Role, RoleName};

/// The primary key of `roles`: hitting it means the name is taken.
const ROLES_PKEY: &str = "roles_pkey";

/// Every role with the names it is granted. Ordered by bytes (`COLLATE "C"`), not by the
/// database's locale, whose collation may ignore `-` and `_`.
const LIST_ROLES: &str = "\
SELECT r.name, r.description, r.builtin,
       ARRAY(SELECT rp.permission FROM role_permissions rp WHERE rp.role_name = r.name) AS permissions
FROM roles r
ORDER BY r.name COLLATE \"C\"";

#[derive(QueryableByName)]
struct RoleRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    description: String,
    #[diesel(sql_type = Bool)]
    builtin: bool,
    #[diesel(sql_type = Array<Text>)]
    permissions: Vec<String>,
}

impl TryFrom<RoleRow> for Role {
    type Error = StoreError;

    fn try_from(row: RoleRow) -> Result<Self, Self::Error> {
        let name = RoleName::parse(&row.name)
            .map_err(|_| StoreError::Internal(format!("role `{}` has an invalid name", row.name)))?;
        // A grant the code does not know (left by a newer version) grants nothing; admin
        // holds every permission whatever is stored. The set also orders them.
        let granted = row.permissions.iter().filter_map(|p| p.parse::<Permission>().ok());
        let permissions = PermissionSet::for_role(&name, granted).iter().collect();
        Ok(Role { name, description: row.description, builtin: row.builtin, permissions })
    }
}

/// Locks the role against deletion for the rest of the transaction (as the foreign-key
/// check of a new grant or user would); `false` if it does not exist.
pub(crate) async fn lock_role_key(conn: &mut AsyncPgConnection, name: &RoleName) -> QueryResult<bool> {
    roles::table
        .find(name.as_str())
        .select(roles::name)
        .for_key_share()
        .first::<String>(conn)
        .await
        .optional()
        .map(|found| found.is_some())
}

#[async_trait]
impl RoleRepository for PgStore {
    #[tracing::instrument(level = "debug", skip(self))]
    async fn list(&self) -> Result<Vec<Role>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let rows = diesel::sql_query(LIST_ROLES).load::<RoleRow>(&mut conn).await.map_err(error::from_diesel)?;
            rows.into_iter().map(Role::try_from).collect()
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self, description))]
    async fn create(&self, name: &RoleName, description: &str, ctx: AuditContext) -> Result<Role, StoreError> {
        self.bounded(retrying(|| async move {
            let mut conn = self.conn().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                diesel::insert_into(roles::table)
                    .values((
                        roles::name.eq(name.as_str()),
                        roles::description.eq(description),
                        roles::builtin.eq(false),
                        roles::created_at.eq(ctx.now),
                    ))
                    .execute(conn)
                    .await
                    .map_err(|e| match e {
                        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, ref info)
                            if info.constraint_name() == Some(ROLES_PKEY) =>
                        {
                            TxError::Store(StoreError::Conflict(format!("the role `{name}` already exists")))
                        }
                        other => TxError::Query(other),
                    })?;
                audit::record(conn, &[AuditDraft::role_created(name, description)], ctx).await?;
                // A new role has no grants (and cannot be `admin`, which always exists).
                Ok(Role {
                    name: name.clone(),
                    description: description.to_owned(),
                    builtin: false,
                    permissions: vec![],
                })
            })
            .await
        }))
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn delete(&self, name: &RoleName, ctx: AuditContext) -> Result<(), StoreError> {
        self.bounded(retrying(|| async move {
            let mut conn = self.conn().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                // FOR UPDATE conflicts with the KEY SHARE lock the foreign-key check of
                // `users.role` takes: no user can be given this role until we are done,
                // and one being given it now makes us wait and then see it.
                let builtin = roles::table
                    .find(name.as_str())
                    .select(roles::builtin)
                    .for_update()
                    .first::<bool>(conn)
                    .await
                    .optional()?
                    .ok_or(StoreError::NotFound)?;
                if builtin {
                    return Err(
                        StoreError::Conflict(format!("`{name}` is a built-in role and cannot be deleted")).into()
                    );
                }
                let held = diesel::select(exists(users::table.filter(users::role.eq(name.as_str()))))
                    .get_result::<bool>(conn)
                    .await?;
                if held {
                    return Err(StoreError::Conflict(format!("the role `{name}` is still held by users")).into());
                }
                // Its grants go with it (ON DELETE CASCADE).
                diesel::delete(roles::table.find(name.as_str())).execute(conn).await?;
                audit::record(conn, &[AuditDraft::role_deleted(name)], ctx).await?;
                Ok(())
            })
            .await
        }))
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn set_grant(
        &self,
        role: &RoleName,
        permission: Permission,
        granted: bool,
        ctx: AuditContext,
    ) -> Result<(), StoreError> {
        self.bounded(retrying(|| async move {
            let mut conn = self.conn().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                if !lock_role_key(conn, role).await? {
                    return Err(StoreError::NotFound.into());
                }
                // The row count says whether the grants changed, which alone is audited.
                let changed = if granted {
                    diesel::insert_into(role_permissions::table)
                        .values((
                            role_permissions::role_name.eq(role.as_str()),
                            role_permissions::permission.eq(permission.as_str()),
                        ))
                        .on_conflict_do_nothing()
                        .execute(conn)
                        .await?
                } else {
                    diesel::delete(role_permissions::table.find((role.as_str(), permission.as_str())))
                        .execute(conn)
                        .await?
                };
                if changed > 0 {
                    audit::record(conn, &[AuditDraft::grant_changed(role, permission, granted)], ctx).await?;
                }
                Ok(())
            })
            .await
        }))
        .await
    }
}
