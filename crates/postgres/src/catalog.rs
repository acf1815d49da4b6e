//! The catalogue's ports on PostgreSQL (products, categories, reviews), and what their
//! queries share: numbered bind parameters for SQL assembled at run time, the mapping of
//! constraint violations to port errors, and page bounds.
//!
//! The like and review aggregates are kept on the product row by triggers (see the
//! catalogue migration), so that reads never count likes or reviews and every write,
//! cascades included, keeps them right in its own statement.

mod categories;
mod products;
mod reviews;

use crate::error::TxError;
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{BigInt, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use storefront_app::StoreError;
use storefront_app::ports::PageRequest;
use storefront_domain::UserId;
use uuid::Uuid;

/// Every product row that deleting the user will delete (its own) or update (those it
/// likes or reviewed, whose counts the triggers fix), locked in id order.
const LOCK_CATALOGUE_OF_USER: &str = "\
SELECT p.id FROM products p
WHERE p.owner_id = $1
   OR p.id IN (SELECT product_id FROM likes WHERE user_id = $1)
   OR p.id IN (SELECT product_id FROM reviews WHERE author_id = $1)
ORDER BY p.id
FOR UPDATE OF p";

/// Locks, for the rest of the transaction, the product rows that deleting `user` touches.
/// Call it before locking the user's own row.
///
/// The cascades of a user's deletion otherwise lock those rows one by one in whatever order
/// their scans and triggers go, and two deletions sharing products deadlock. Taken up front
/// in one statement, sorted (the sort runs before the locking), they are locked in the same
/// order by every deletion; `FOR UPDATE` because some of them are deleted.
///
/// Before the user's row, because a product row that a trigger updates a second time in one
/// transaction has its owner's foreign key checked again (`FOR KEY SHARE` on the owner's
/// row): a deletion holding its own user row while it waits here would block another
/// deletion that updates its products, and be blocked by it. Once a deletion holds all of
/// its products, no other deletion touching one of them can be past this point.
pub(crate) async fn lock_catalogue_of(conn: &mut AsyncPgConnection, user: UserId) -> Result<(), TxError> {
    diesel::sql_query(LOCK_CATALOGUE_OF_USER).bind::<SqlUuid, _>(user.as_uuid()).execute(conn).await?;
    Ok(())
}

/// A bind parameter of a query assembled at run time.
enum Param {
    Text(String),
    Uuid(Uuid),
    BigInt(i64),
    Timestamptz(DateTime<Utc>),
}

/// The bind parameters of a query being assembled, numbered in the order they are added.
#[derive(Default)]
struct Params(Vec<Param>);

impl Params {
    /// Adds a parameter and returns its placeholder (`$n`), which may be used any number
    /// of times in the SQL.
    fn add(&mut self, param: Param) -> String {
        self.0.push(param);
        format!("${}", self.0.len())
    }

    /// The query `sql` with these parameters bound. Boxed queries are not cached as
    /// prepared statements, so PostgreSQL plans each with its actual values (a `q` pattern
    /// is then a constant the trigram index can use), unless wrapped in `prepared`.
    fn query(self, sql: &str) -> BoxedSqlQuery<'static, Pg, SqlQuery> {
        self.0.into_iter().fold(diesel::sql_query(sql).into_boxed(), |query, param| match param {
            Param::Text(value) => query.bind::<Text, _>(value),
            Param::Uuid(value) => query.bind::<SqlUuid, _>(value),
            Param::BigInt(value) => query.bind::<BigInt, _>(value),
            Param::Timestamptz(value) => query.bind::<Timestamptz, _>(value),
        })
    }
}

/// Turns the violation of a named unique or foreign-key constraint into the port error
/// `mapping` gives for that name; any other error stays a query error.
fn on_constraint(err: DieselError, mapping: impl FnOnce(&str) -> Option<StoreError>) -> TxError {
    if let DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation | DatabaseErrorKind::ForeignKeyViolation, info) =
        &err
        && let Some(mapped) = info.constraint_name().and_then(mapping)
    {
        return TxError::Store(mapped);
    }
    TxError::Query(err)
}

/// `LIMIT` and `OFFSET` of a page; an offset beyond `i64` is simply past the end.
pub(crate) fn limit_offset(page: PageRequest) -> (i64, i64) {
    (i64::from(page.limit), i64::try_from(page.offset).unwrap_or(i64::MAX))
}

/// A count read from the database as the ports' unsigned count.
pub(crate) fn count(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Internal(format!("negative {what}: {value}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order_and_reusable() {
        let mut params = Params::default();
        assert_eq!(params.add(Param::Text("a".into())), "$1");
        assert_eq!(params.add(Param::BigInt(2)), "$2");
        assert_eq!(params.add(Param::Uuid(Uuid::nil())), "$3");
        let sql = diesel::debug_query::<Pg, _>(&params.query("SELECT $1, $2, $3, $1")).to_string();
        assert!(sql.starts_with("SELECT $1, $2, $3, $1"), "{sql}");
        assert!(sql.contains(r#"["a", 2, 00000000-0000-0000-0000-000000000000]"#), "{sql}");
    }

    #[test]
    fn only_the_named_constraints_are_mapped() {
        let violation = |kind, constraint: &'static str| {
            DieselError::DatabaseError(
                kind,
                Box::new(Constraint(constraint)) as Box<dyn diesel::result::DatabaseErrorInformation + Send + Sync>,
            )
        };
        let map = |name: &str| (name == "x_key").then_some(StoreError::AlreadyExists);
        assert!(matches!(
            on_constraint(violation(DatabaseErrorKind::UniqueViolation, "x_key"), map),
            TxError::Store(StoreError::AlreadyExists)
        ));
        assert!(matches!(
            on_constraint(violation(DatabaseErrorKind::UniqueViolation, "y_key"), map),
            TxError::Query(_)
        ));
        assert!(matches!(on_constraint(violation(DatabaseErrorKind::CheckViolation, "x_key"), map), TxError::Query(_)));
    }

    #[test]
    fn an_offset_too_large_for_sql_is_clamped() {
        assert_eq!(limit_offset(PageRequest { limit: 5, offset: u64::MAX }), (5, i64::MAX));
        assert!(count(-1, "likes").is_err());
    }

    /// A database error that names a constraint.
    struct Constraint(&'static str);

    impl diesel::result::DatabaseErrorInformation for Constraint {
        fn message(&self) -> &str {
            "violation"
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            Some(self.0)
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }
}
