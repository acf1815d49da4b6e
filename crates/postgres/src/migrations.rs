//! The SQL migrations in `migrations/`, embedded into the binary, and the runner that
//! applies the pending ones.

use crate::error;
use diesel::Connection;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use storefront_app::StoreError;

/// diesel's synchronous `Connection` over the async one.
type SyncPgConnection = AsyncConnectionWrapper<AsyncPgConnection>;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Advisory-lock key that serialises migration runs (several servers starting at once).
const MIGRATION_LOCK_KEY: i64 = 0x5354_4f52_4d49_4752; // "STORMIGR"

/// Applies every pending migration to the database at `database_url`; already applied
/// ones are skipped, so running it again is harmless.
///
/// # Errors
/// `Unavailable` when the database cannot be reached, `Internal` when a migration fails.
pub async fn run_migrations(database_url: &str) -> Result<(), StoreError> {
    let url = database_url.to_owned();
    // diesel's harness is synchronous; the wrapper blocks on the async connection, which
    // must not happen on an executor thread (and block_in_place panics on a current-thread
    // runtime), hence a blocking task.
    tokio::task::spawn_blocking(move || {
        let mut conn = SyncPgConnection::establish(&url).map_err(|e| error::from_connection_to(&url, &e))?;
        locked(&mut conn, |conn| {
            let applied = conn
                .run_pending_migrations(MIGRATIONS)
                .map_err(|e| StoreError::Internal(format!("migration failed: {e}")))?;
            for version in applied {
                tracing::info!(%version, "applied migration");
            }
            Ok(())
        })
    })
    .await
    .map_err(|e| StoreError::Internal(format!("migration task failed: {e}")))?
}

/// Runs `f` holding the migration advisory lock, so that concurrent runners take turns.
fn locked(
    conn: &mut SyncPgConnection,
    f: impl FnOnce(&mut SyncPgConnection) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    use diesel::RunQueryDsl;
    let lock = format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})");
    diesel::sql_query(lock).execute(conn).map_err(error::from_diesel)?;
    let outcome = f(conn);
    let unlock = format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})");
    // The lock also ends with the session, which is closed right after.
    let _ = diesel::sql_query(unlock).execute(conn);
    outcome
}
