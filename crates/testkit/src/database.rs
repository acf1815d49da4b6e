//! Per-test PostgreSQL databases: each test gets a fresh database cloned from a migrated
//! template (built once per migration version, shared by every test process), dropped when
//! the test ends.

// Test support: a database that cannot be set up is a failed test, said loudly.
#![allow(clippy::expect_used)]

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use std::path::{Path, PathBuf};
use std::time::Duration;
use storefront_postgres::{PgSettings, PgStore, run_migrations};
use tokio::sync::OnceCell;
use uuid::Uuid;

const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Advisory-lock key under which a template is built, so that parallel test processes
/// do not build the same one at once.
const TEMPLATE_LOCK_KEY: i64 = 0x5354_4f52_5450_4c31; // "STORTPL1"

/// The template database of this process's migrations, once it exists.
static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// The server to create test databases on: `DATABASE_URL`, or the local default. Its
/// database is only used for administration (create, drop, locks).
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned())
}

/// A fresh, migrated, empty database for one test; dropped (with any connection still
/// open to it) when this value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    /// The URL of this test's database.
    pub url: String,
    name: String,
    admin_url: String,
}

impl TestDatabase {
    /// Creates the database from the migrated template, building the template first if
    /// no process has built it for the current migrations yet.
    pub async fn create() -> TestDatabase {
        let admin_url = database_url();
        let template = TEMPLATE.get_or_init(|| ensure_template(&admin_url)).await;
        let name = format!("storefront_test_{}", Uuid::new_v4().simple());
        let mut conn = AsyncPgConnection::establish(&admin_url).await.expect("connect to the PostgreSQL test server");
        conn.batch_execute(&format!(r#"CREATE DATABASE "{name}" TEMPLATE "{template}""#))
            .await
            .expect("create a test database from the template");
        TestDatabase { url: url_with_database(&admin_url, &name), name, admin_url }
    }

    /// A store on this database, with a small pool.
    pub async fn store(&self) -> PgStore {
        PgStore::connect(&PgSettings { max_connections: 8, ..PgSettings::new(&self.url) }).expect("build the pool")
    }

    /// This database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs SQL statements on this database, on a connection of their own (e.g. to install
    /// a test's hook, behind the back of the server under test).
    pub async fn execute(&self, sql: &str) {
        let mut conn = AsyncPgConnection::establish(&self.url).await.expect("connect to the test database");
        conn.batch_execute(sql).await.expect("run the test's SQL");
    }

    /// How many server processes are running `query` on this database now, as
    /// `pg_stat_activity` shows them (e.g. a `COMMIT` in flight).
    pub async fn running(&self, query: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Running {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = AsyncPgConnection::establish(&self.admin_url).await.expect("connect to the test server");
        let running = diesel::sql_query(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query = $2",
        )
        .bind::<diesel::sql_types::Text, _>(&self.name)
        .bind::<diesel::sql_types::Text, _>(query)
        .get_result::<Running>(&mut conn)
        .await
        .expect("read pg_stat_activity");
        running.n
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop may run inside an async test, where blocking on a future is not allowed:
        // use a thread with a runtime of its own, and wait for it so nothing is left.
        let dropped = std::thread::spawn(move || -> Result<(), String> {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut conn = AsyncPgConnection::establish(&admin_url).await.map_err(|e| e.to_string())?;
                conn.batch_execute(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
                    .await
                    .map_err(|e| e.to_string())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(why)) => tracing::warn!(database = %self.name, %why, "could not drop the test database"),
            Err(_) => tracing::warn!(database = %self.name, "dropping the test database panicked"),
        }
    }
}

/// Makes sure the template for the current migrations exists and returns its name.
///
/// It is built as `<name>_wip` and renamed only once migrated, so a process that died
/// half-way leaves nothing that looks finished; connections to it are then forbidden, which
/// `CREATE DATABASE … TEMPLATE` needs.
async fn ensure_template(admin_url: &str) -> String {
    let template = format!("storefront_tpl_{:016x}", migrations_fingerprint());
    let mut conn = AsyncPgConnection::establish(admin_url).await.expect("connect to the PostgreSQL test server");
    diesel::sql_query(format!("SELECT pg_advisory_lock({TEMPLATE_LOCK_KEY})"))
        .execute(&mut conn)
        .await
        .expect("take the template lock");

    if !database_exists(&mut conn, &template).await {
        let wip = format!("{template}_wip");
        conn.batch_execute(&format!(r#"DROP DATABASE IF EXISTS "{wip}" WITH (FORCE)"#))
            .await
            .expect("drop a half-built template");
        conn.batch_execute(&format!(r#"CREATE DATABASE "{wip}""#)).await.expect("create the template database");
        run_migrations(&url_with_database(admin_url, &wip)).await.expect("migrate the template database");
        rename_when_unused(&mut conn, &wip, &template).await;
        conn.batch_execute(&format!(r#"ALTER DATABASE "{template}" WITH ALLOW_CONNECTIONS false"#))
            .await
            .expect("close the template to connections");
    }

    diesel::sql_query(format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK_KEY})"))
        .execute(&mut conn)
        .await
        .expect("release the template lock");
    template
}

/// Renames a database once the migration runner's connection has really gone (its backend
/// exits a moment after the client closes).
async fn rename_when_unused(conn: &mut AsyncPgConnection, from: &str, to: &str) {
    let mut attempts = 0;
    loop {
        let terminate = format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{from}' AND pid <> pg_backend_pid()"
        );
        diesel::sql_query(terminate).execute(conn).await.expect("end connections to the template");
        match conn.batch_execute(&format!(r#"ALTER DATABASE "{from}" RENAME TO "{to}""#)).await {
            Ok(()) => return,
            Err(e) if attempts < 50 => {
                attempts += 1;
                tracing::debug!(error = %e, "template still in use; retrying the rename");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot rename the template database {from}: {e}"),
        }
    }
}

async fn database_exists(conn: &mut AsyncPgConnection, name: &str) -> bool {
    use diesel::sql_types::{Bool, Text};

    #[derive(diesel::QueryableByName)]
    struct Exists {
        #[diesel(sql_type = Bool)]
        exists: bool,
    }

    diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
        .bind::<Text, _>(name)
        .get_result::<Exists>(conn)
        .await
        .expect("look up the template database")
        .exists
}

/// A stable hash (FNV-1a, 64 bits) of every file under `migrations/`, names included: a
/// new or edited migration gets a new template, and every process agrees on its name.
fn migrations_fingerprint() -> u64 {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let mut files = Vec::new();
    collect_files(&root, &mut files);
    files.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for file in files {
        let relative = file.strip_prefix(&root).unwrap_or(&file);
        feed(relative.to_string_lossy().as_bytes());
        feed(&[0]);
        feed(&std::fs::read(&file).expect("read a migration file"));
        feed(&[0]);
    }
    hash
}

fn collect_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read the migrations directory") {
        let path = entry.expect("read a migrations directory entry").path();
        if path.is_dir() {
            collect_files(&path, into);
        } else {
            into.push(path);
        }
    }
}

/// `url` with its database (the path) replaced by `database`, query string kept.
fn url_with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_replaced_in_any_url_shape() {
        assert_eq!(url_with_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(url_with_database("postgres://u:p@h/db?sslmode=disable", "x"), "postgres://u:p@h/x?sslmode=disable");
        assert_eq!(url_with_database("postgres://h", "x"), "postgres://h/x");
    }

    #[test]
    fn the_migrations_fingerprint_is_stable() {
        assert_eq!(migrations_fingerprint(), migrations_fingerprint());
    }
}
