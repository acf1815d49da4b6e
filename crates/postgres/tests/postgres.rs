//! What only real PostgreSQL can show: row locks under concurrent rotation and concurrent
//! admin changes, the principal query against direct changes to the tables, the
//! case-insensitive email index, migration re-runs, the catalogue's trigger-kept aggregates
//! and the statements a listing page costs, and behaviour when the database is slow, hung
//! or gone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};
use storefront_app::StoreError;
use storefront_app::ports::{
    NewRefreshToken, NewSession, NewUser, PageRequest, ReadinessProbe, RefreshTokenHash, RotateOutcome,
    SessionRepository, UserRepository,
};
// The catalogue's ports are named through the module, not imported: in scope, they would
// make `store.create` and `store.delete` ambiguous with `UserRepository`'s.
use storefront_app::ports;
use storefront_domain::{
    Email, PasswordHash, Permission, ProductFilter, ProductId, ProductSort, RefreshDecision, RoleName, SessionId, User,
    UserId, UserName, rating_average,
};
use storefront_postgres::{PgSettings, PgStore, run_migrations};
use storefront_testkit::database::TestDatabase;
use tokio::sync::Barrier;
use uuid::Uuid;

const GRACE: Duration = Duration::seconds(5);

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap()
}

fn new_user(email: &str) -> NewUser {
    NewUser {
        id: UserId(Uuid::now_v7()),
        email: Email::parse(email).unwrap(),
        name: UserName::parse("Ada").unwrap(),
        password_hash: PasswordHash::new("$2b$04$fake"),
        role: RoleName::user(),
        created_at: now(),
    }
}

fn token(expires_at: DateTime<Utc>) -> NewRefreshToken {
    NewRefreshToken { hash: RefreshTokenHash(format!("hash-{}", Uuid::new_v4())), expires_at }
}

async fn user_with_session(store: &PgStore, email: &str) -> (User, SessionId, RefreshTokenHash) {
    let user = store.create(new_user(email)).await.unwrap();
    let refresh = token(now() + Duration::days(7));
    let session = NewSession {
        id: SessionId(Uuid::now_v7()),
        user_id: user.id,
        user_agent: None,
        ip: None,
        created_at: now(),
        refresh: refresh.clone(),
    };
    let session_id = session.id;
    store.start(session).await.unwrap();
    (user, session_id, refresh.hash)
}

/// A plain connection for changing the tables behind the store's back.
async fn raw(database: &TestDatabase) -> AsyncPgConnection {
    AsyncPgConnection::establish(&database.url).await.unwrap()
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(conn).await.unwrap().n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_of_one_token_rotate_it_exactly_once() {
    let database = TestDatabase::create().await;
    let store = database.store().await;
    let (user, session, first) = user_with_session(&store, "ada@example.com").await;

    let racers = 8;
    let barrier = Arc::new(Barrier::new(racers));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..racers {
        let (store, first, barrier) = (store.clone(), first.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            let at = now();
            store.rotate(&first, token(at + Duration::days(7)), at, GRACE).await.unwrap()
        });
    }
    let outcomes = tasks.join_all().await;

    let rotated: Vec<_> = outcomes.iter().filter(|o| matches!(o, RotateOutcome::Rotated { .. })).collect();
    assert_eq!(rotated, [&RotateOutcome::Rotated { user_id: user.id, session_id: session }]);
    assert!(
        outcomes.iter().all(|o| matches!(
            o,
            RotateOutcome::Rotated { .. } | RotateOutcome::Refused(RefreshDecision::RejectWithinGrace)
        )),
        "{outcomes:?}"
    );
    let mut conn = raw(&database).await;
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM refresh_tokens").await, 2, "one replacement only");
    assert!(store.load_principal(user.id, session, now()).await.unwrap().is_some(), "nothing was revoked");
}

/// `UserAdminRepository` is named in full: importing it would make `store.delete`
/// ambiguous with `UserRepository::delete` in the other tests.
async fn demote(store: &PgStore, id: UserId, actor: UserId) -> Result<User, StoreError> {
    let change = storefront_domain::AdminUserChange { role: Some(RoleName::user()), ..Default::default() };
    let ctx = storefront_app::ports::AuditContext { actor, now: now() };
    storefront_app::ports::UserAdminRepository::apply_change(store, id, &change, ctx).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demotions_queued_behind_a_lock_on_the_last_two_admins_let_exactly_one_succeed() {
    let database = TestDatabase::create().await;
    let store = database.store().await;
    let a = store.create(NewUser { role: RoleName::admin(), ..new_user("a@example.com") }).await.unwrap();
    let b = store.create(NewUser { role: RoleName::admin(), ..new_user("b@example.com") }).await.unwrap();

    // Hold both admins so that the two demotions surely wait on each other's rows.
    let mut holder = raw(&database).await;
    holder
        .batch_execute(&format!("BEGIN; SELECT 1 FROM users WHERE id IN ('{}', '{}') FOR UPDATE", a.id, b.id))
        .await
        .unwrap();
    let (sa, sb) = (store.clone(), store.clone());
    let demote_a = tokio::spawn(async move { demote(&sa, a.id, b.id).await });
    let demote_b = tokio::spawn(async move { demote(&sb, b.id, a.id).await });
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    holder.batch_execute("COMMIT").await.unwrap();

    let results = [demote_a.await.unwrap(), demote_b.await.unwrap()];
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(results.iter().any(|r| matches!(r, Err(StoreError::Conflict(_)))), "{results:?}");
    let mut conn = raw(&database).await;
    let admins = "SELECT count(*) AS n FROM users WHERE role = 'admin' AND is_active";
    assert_eq!(count(&mut conn, admins).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demoting_every_admin_at_once_keeps_exactly_one_and_never_reports_a_deadlock() {
    let database = TestDatabase::create().await;
    let store = database.store().await;
    let mut admins = Vec::new();
    for i in 0..6 {
        let user = NewUser { role: RoleName::admin(), ..new_user(&format!("admin{i}@example.com")) };
        admins.push(store.create(user).await.unwrap());
    }

    let barrier = Arc::new(Barrier::new(admins.len()));
    let mut tasks = tokio::task::JoinSet::new();
    for admin in &admins {
        let (store, barrier, id, actor) = (store.clone(), barrier.clone(), admin.id, admins[0].id);
        tasks.spawn(async move {
            barrier.wait().await;
            demote(&store, id, actor).await
        });
    }
    let results = tasks.join_all().await;

    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), admins.len() - 1, "{results:?}");
    assert!(results.iter().all(|r| r.is_ok() || matches!(r, Err(StoreError::Conflict(_)))), "{results:?}");
    let mut conn = raw(&database).await;
    let active = "SELECT count(*) AS n FROM users WHERE role = 'admin' AND is_active";
    assert_eq!(count(&mut conn, active).await, 1);
    let audited = "SELECT count(*) AS n FROM audit_log WHERE action = 'user.role_changed'";
    assert_eq!(count(&mut conn, audited).await, i64::try_from(admins.len() - 1).unwrap());
}

#[tokio::test]
async fn a_principal_reflects_the_tables_as_they_are_at_each_request() {
    let database = TestDatabase::create().await;
    let store = database.store().await;
    let (user, session, _) = user_with_session(&store, "ada@example.com").await;
    let mut conn = raw(&database).await;

    let principal = store.load_principal(user.id, session, now()).await.unwrap().unwrap();
    assert_eq!(principal.permissions.iter().collect::<Vec<_>>(), [Permission::ProductsCreate, Permission::AiUse]);

    // A grant takes effect on the next load; a name the code does not know grants nothing.
    conn.batch_execute(
        "INSERT INTO permissions VALUES ('products:fly', 'from a newer version');
         INSERT INTO role_permissions VALUES ('user', 'users:read'), ('user', 'products:fly');",
    )
    .await
    .unwrap();
    let principal = store.load_principal(user.id, session, now()).await.unwrap().unwrap();
    assert_eq!(
        principal.permissions.iter().collect::<Vec<_>>(),
        [Permission::ProductsCreate, Permission::UsersRead, Permission::AiUse]
    );

    // A role change too.
    conn.batch_execute(&format!("UPDATE users SET role = 'admin' WHERE id = '{}'", user.id)).await.unwrap();
    let principal = store.load_principal(user.id, session, now()).await.unwrap().unwrap();
    assert!(Permission::ALL.iter().all(|p| principal.permissions.contains(*p)));
    assert!(principal.user.role.is_admin());

    // A deactivated account loads nothing, though its session is still open.
    conn.batch_execute(&format!("UPDATE users SET is_active = false WHERE id = '{}'", user.id)).await.unwrap();
    assert!(store.load_principal(user.id, session, now()).await.unwrap().is_none());
}

#[tokio::test]
async fn emails_are_unique_whatever_their_case_even_when_stored_unnormalised() {
    let database = TestDatabase::create().await;
    let store = database.store().await;
    let mut conn = raw(&database).await;
    conn.batch_execute(&format!(
        "INSERT INTO users (id, email, name, password_hash, role, created_at, updated_at)
         VALUES ('{}', 'Bob@Example.COM', 'Bob', 'x', 'user', now(), now())",
        Uuid::now_v7()
    ))
    .await
    .unwrap();

    assert_eq!(store.create(new_user("bob@example.com")).await, Err(StoreError::EmailTaken));
    let found = store.find_credentials_by_email(&Email::parse("bob@example.com").unwrap()).await.unwrap();
    assert_eq!(found.map(|c| c.user.name.as_str().to_owned()), Some("Bob".to_owned()));

    let ada = store.create(new_user("ada@example.com")).await.unwrap();
    let changes =
        storefront_app::ports::ProfileChanges { email: Some(Email::parse("BOB@example.com").unwrap()), name: None };
    assert_eq!(store.update_profile(ada.id, changes, now()).await, Err(StoreError::EmailTaken));
}

#[tokio::test]
async fn migrations_apply_twice_without_changing_anything() {
    let database = TestDatabase::create().await;
    // The template is already migrated: both runs find nothing to do. The default
    // current-thread test runtime also proves the runner does not need a multi-thread one.
    run_migrations(&database.url).await.unwrap();
    run_migrations(&database.url).await.unwrap();

    let mut conn = raw(&database).await;
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM permissions").await, 12);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM role_permissions WHERE role_name = 'admin'").await, 12);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM roles WHERE builtin").await, 3);
}

#[tokio::test]
async fn migrations_run_on_an_empty_database_and_down_sql_removes_everything() {
    let database = TestDatabase::create().await;
    let mut conn = raw(&database).await;
    // Newest first, as diesel reverts them.
    for down in [
        include_str!("../../../migrations/2026-12-09-100002_product_count/down.sql"),
        include_str!("../../../migrations/2026-12-09-100001_products_carry_their_categories/down.sql"),
        include_str!("../../../migrations/2026-12-08-100001_review_moderation/down.sql"),
        include_str!("../../../migrations/2026-12-07-400003_review_summaries_usage_by_provider/down.sql"),
        include_str!("../../../migrations/2026-12-07-300001_assistant/down.sql"),
        include_str!("../../../migrations/2026-12-07-200002_second_factor/down.sql"),
        include_str!("../../../migrations/2026-12-07-200001_account_lifecycle/down.sql"),
        include_str!("../../../migrations/2026-12-07-100001_category_listing/down.sql"),
        include_str!("../../../migrations/2026-12-06-000002_low_stock_alerts/down.sql"),
        include_str!("../../../migrations/2026-12-06-000001_events_owed_until_handled/down.sql"),
        include_str!("../../../migrations/2026-12-01-000003_hot_stock/down.sql"),
        include_str!("../../../migrations/2026-12-01-000002_events/down.sql"),
        include_str!("../../../migrations/2026-12-01-000001_orders/down.sql"),
        include_str!("../../../migrations/2026-11-22-000003_catalog/down.sql"),
        include_str!("../../../migrations/2026-11-22-000002_audit/down.sql"),
        include_str!("../../../migrations/2026-11-22-000001_accounts/down.sql"),
    ] {
        conn.batch_execute(down).await.unwrap();
    }
    conn.batch_execute("TRUNCATE __diesel_schema_migrations").await.unwrap();
    let tables =
        "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public' AND tablename <> '__diesel_schema_migrations'";
    assert_eq!(count(&mut conn, tables).await, 0);
    let functions = "SELECT count(*) AS n FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace \
                     WHERE s.nspname = 'public'";
    assert_eq!(count(&mut conn, functions).await, 0, "the triggers' functions (and pg_trgm's) are gone too");

    run_migrations(&database.url).await.unwrap();
    assert_eq!(count(&mut conn, tables).await, 24);
}

#[tokio::test]
async fn the_permission_catalogue_in_the_database_matches_the_code() {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        description: String,
    }
    let database = TestDatabase::create().await;
    let mut conn = raw(&database).await;
    let rows: Vec<Row> = diesel::sql_query("SELECT name, description FROM permissions").load(&mut conn).await.unwrap();
    let mut stored: Vec<(String, String)> = rows.into_iter().map(|r| (r.name, r.description)).collect();
    stored.sort();
    let mut expected: Vec<(String, String)> =
        Permission::ALL.iter().map(|p| (p.as_str().to_owned(), p.description().to_owned())).collect();
    expected.sort();
    assert_eq!(stored, expected);

    for role in [RoleName::USER, RoleName::MODERATOR, RoleName::ADMIN] {
        let role = RoleName::parse(role).unwrap();
        let sql = format!("SELECT count(*) AS n FROM role_permissions WHERE role_name = '{role}'");
        assert_eq!(count(&mut conn, &sql).await, role.default_grants().len() as i64, "{role}");
        for grant in role.default_grants() {
            let sql = format!(
                "SELECT count(*) AS n FROM role_permissions WHERE role_name = '{role}' AND permission = '{grant}'"
            );
            assert_eq!(count(&mut conn, &sql).await, 1, "{role} {grant}");
        }
    }
}

#[tokio::test]
async fn deleting_a_user_cascades_to_its_sessions_and_refresh_tokens() {
    let database = TestDatabase::create().await;
    let store = database.store().await;
    let (ada, _, first) = user_with_session(&store, "ada@example.com").await;
    let (_, _, _) = user_with_session(&store, "bob@example.com").await;
    let at = now();
    store.rotate(&first, token(at + Duration::days(7)), at, GRACE).await.unwrap();

    store.delete(ada.id).await.unwrap();

    let mut conn = raw(&database).await;
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM sessions").await, 1);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM refresh_tokens").await, 1);
    assert_eq!(store.delete(ada.id).await, Err(StoreError::NotFound));
}

#[tokio::test]
async fn a_statement_stuck_on_a_lock_ends_at_the_statement_timeout_as_unavailable() {
    let database = TestDatabase::create().await;
    let store = database.store().await;
    let user = store.create(new_user("ada@example.com")).await.unwrap();
    let settings = PgSettings { statement_timeout: StdDuration::from_millis(300), ..PgSettings::new(&database.url) };
    let impatient = PgStore::connect(&settings).unwrap();

    // Another transaction holds the user's row.
    let mut holder = raw(&database).await;
    holder.batch_execute(&format!("BEGIN; SELECT 1 FROM users WHERE id = '{}' FOR UPDATE", user.id)).await.unwrap();

    let started = Instant::now();
    let changes = storefront_app::ports::ProfileChanges { name: Some(UserName::parse("Ada L").unwrap()), email: None };
    let outcome = impatient.update_profile(user.id, changes, now()).await;
    assert!(matches!(outcome, Err(StoreError::Unavailable(_))), "{outcome:?}");
    assert!(started.elapsed() < StdDuration::from_secs(2), "took {:?}", started.elapsed());
    holder.batch_execute("ROLLBACK").await.unwrap();
}

#[tokio::test]
async fn an_unreachable_database_answers_unavailable_within_the_acquire_timeout() {
    // Nothing listens on port 1: the store still builds, and calls fail fast.
    let settings = PgSettings {
        acquire_timeout: StdDuration::from_millis(300),
        ..PgSettings::new("postgres://postgres@127.0.0.1:1/postgres")
    };
    let store = PgStore::connect(&settings).unwrap();

    let started = Instant::now();
    let outcome = store.find_by_id(UserId(Uuid::now_v7())).await;
    assert!(matches!(outcome, Err(StoreError::Unavailable(_))), "{outcome:?}");
    assert!(started.elapsed() < StdDuration::from_secs(2), "took {:?}", started.elapsed());
    assert!(store.check().await.is_err());
}

#[tokio::test]
async fn readiness_answers_within_about_a_second_when_the_database_hangs() {
    // A "server" that accepts connections and never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let settings = PgSettings {
        acquire_timeout: StdDuration::from_secs(10),
        ..PgSettings::new(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
    };
    let store = PgStore::connect(&settings).unwrap();

    let started = Instant::now();
    assert_eq!(store.name(), "database");
    assert!(store.check().await.is_err());
    assert!(started.elapsed() < StdDuration::from_millis(1500), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn readiness_is_ok_on_a_live_database_and_the_pool_reports_its_size() {
    let database = TestDatabase::create().await;
    let store = database.store().await;
    assert_eq!(store.check().await, Ok(()));
    let (connections, idle) = store.pool_status();
    assert!(connections >= 1 && idle <= connections, "{connections} {idle}");
}

#[tokio::test]
async fn the_store_recovers_by_itself_when_its_connections_are_killed() {
    let database = TestDatabase::create().await;
    let store = database.store().await;
    let user = store.create(new_user("ada@example.com")).await.unwrap();

    // What a database restart does to the pool's open connections.
    let mut admin = raw(&database).await;
    let kill = format!(
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
         WHERE datname = '{}' AND pid <> pg_backend_pid()",
        database.name()
    );
    assert!(count(&mut admin, &kill).await >= 1);
    tokio::time::sleep(StdDuration::from_millis(100)).await;

    // The pool checks a connection before handing it out, so the dead ones are replaced.
    assert_eq!(store.find_by_id(user.id).await.unwrap().map(|u| u.id), Some(user.id));
    assert_eq!(store.check().await, Ok(()));
}

#[tokio::test]
async fn a_connection_is_checked_on_checkout_only_after_idling_past_the_window() {
    let database = TestDatabase::create().await;
    let window = StdDuration::from_millis(200);
    let store = PgStore::connect(&PgSettings { check_after_idle: window, ..PgSettings::new(&database.url) }).unwrap();
    let user = store.create(new_user("ada@example.com")).await.unwrap();

    // Just used: handed out as it is, one statement.
    let (found, cost) = costed(&store, store.find_by_id(user.id)).await;
    assert!(found.unwrap().is_some());
    assert_eq!(cost, 1);

    // Idle past the window: `SELECT 1` first, then the query.
    tokio::time::sleep(window * 2).await;
    let (found, cost) = costed(&store, store.find_by_id(user.id)).await;
    assert!(found.unwrap().is_some());
    assert_eq!(cost, 2);
}

/// A store whose pool checks a connection on checkout only after an hour's idling (or a
/// failed or abandoned statement), so that statement counts do not depend on timing.
fn store_checking_only_idle_connections(database: &TestDatabase) -> PgStore {
    PgStore::connect(&PgSettings { check_after_idle: StdDuration::from_secs(3600), ..PgSettings::new(&database.url) })
        .unwrap()
}

#[tokio::test]
async fn a_connection_whose_statement_was_abandoned_is_checked_before_reuse() {
    let database = TestDatabase::create().await;
    let store = store_checking_only_idle_connections(&database);
    let user = store.create(new_user("ada@example.com")).await.unwrap();

    // A caller gives up on a statement (a client hanging up, a probe timing out): the
    // connection goes back to the pool with its statement unfinished.
    let filter = ProductFilter { q: Some("x".into()), ..Default::default() };
    let page = PageRequest { limit: 1, offset: 0 };
    let abandoned = tokio::time::timeout(
        StdDuration::from_millis(100),
        ports::ProductRepository::list(&store, &filter, ProductSort::default(), page, None, None),
    );
    let mut holder = raw(&database).await;
    holder.batch_execute("BEGIN; LOCK TABLE products IN ACCESS EXCLUSIVE MODE").await.unwrap();
    assert!(abandoned.await.is_err(), "the listing waits on the lock");
    holder.batch_execute("ROLLBACK").await.unwrap();

    // Its next use is checked first, however recently it was handed out.
    let (found, cost) = costed(&store, store.find_by_id(user.id)).await;
    assert!(found.unwrap().is_some());
    assert_eq!(cost, 2, "the liveness check, then the query");
}

/// Fills the database behind the store's back: an owner, a viewer, the `books` category,
/// `n` products in it named `Item <i>` (priced `i`, newest first by `i`), the viewer liking
/// the even ones and reviewing every third. Returns (owner, viewer).
async fn seed_catalogue(store: &PgStore, database: &TestDatabase, n: i64) -> (UserId, UserId) {
    let owner = store.create(new_user("owner@example.com")).await.unwrap().id;
    let viewer = store.create(new_user("viewer@example.com")).await.unwrap().id;
    let mut conn = raw(database).await;
    conn.batch_execute(&format!(
        "INSERT INTO categories (id, name, slug) VALUES ('{books}', 'Books', 'books');
         INSERT INTO products (id, owner_id, name, description, price_cents, stock, created_at, updated_at)
         SELECT gen_random_uuid(), '{owner}', 'Item ' || i, 'plain', i, i % 3,
                now() - i * interval '1 minute', now()
         FROM generate_series(1, {n}) i;
         INSERT INTO product_categories SELECT id, '{books}' FROM products;
         INSERT INTO likes SELECT '{viewer}', id, now() FROM products WHERE price_cents % 2 = 0;
         INSERT INTO reviews SELECT gen_random_uuid(), id, '{viewer}', 1 + price_cents % 5, '', now(), now()
         FROM products WHERE price_cents % 3 = 0;",
        books = Uuid::now_v7(),
    ))
    .await
    .unwrap();
    (owner, viewer)
}

/// What one call costs in statements, with what it returned.
async fn costed<T>(store: &PgStore, call: impl std::future::Future<Output = T>) -> (T, u64) {
    let before = store.statement_count();
    let outcome = call.await;
    (outcome, store.statement_count() - before)
}

#[tokio::test]
async fn a_listing_page_costs_the_same_statements_whatever_its_size() {
    let database = TestDatabase::create().await;
    // No liveness check on checkout, however slow the machine: only what the calls send counts.
    let store = store_checking_only_idle_connections(&database);
    let (_, viewer) = seed_catalogue(&store, &database, 150).await;
    let filter = ProductFilter { q: Some("item".into()), category: Some("books".into()), ..Default::default() };
    let page = |limit| PageRequest { limit, offset: 0 };
    // The first call opens the connection, which is not what is measured.
    ports::ProductRepository::get(&store, ProductId(Uuid::now_v7()), None).await.unwrap();

    // With a search text (planned per execution) and without (kept prepared, driven from
    // the category's links), from the start and after a keyset position.
    let in_books = ProductFilter { category: Some("books".into()), ..Default::default() };
    for filter in [&filter, &in_books] {
        for sort in ["-created_at", "-likes", "rating", "name"] {
            let sort: ProductSort = sort.parse().unwrap();
            let mut costs = Vec::new();
            for limit in [100, 1, 1] {
                let listing = ports::ProductRepository::list(&store, filter, sort, page(limit), None, Some(viewer));
                let (listed, cost) = costed(&store, listing).await;
                let listed = listed.unwrap();
                assert_eq!((listed.items.len(), listed.total), (limit as usize, 150), "{sort:?}");
                assert!(listed.items.iter().any(|p| p.liked_by_me) || limit == 1, "{sort:?}");
                let after = sort.position_of(&listed.items[0]);
                let next =
                    ports::ProductRepository::list(&store, filter, sort, page(limit), Some(&after), Some(viewer));
                let (next, after_cost) = costed(&store, next).await;
                assert_eq!(next.unwrap().total, 150, "{sort:?}");
                costs.extend([cost, after_cost]);
            }
            // The one listing statement, prepared or not.
            assert_eq!(costs, [1; 6], "{filter:?} {sort:?}: pages of 100 and of 1, and after a position");
        }
    }

    let (liked, cost_100) = costed(&store, ports::ProductRepository::liked_by(&store, viewer, page(100))).await;
    let (one, cost_1) = costed(&store, ports::ProductRepository::liked_by(&store, viewer, page(1))).await;
    assert_eq!((liked.unwrap().items.len(), one.unwrap().items.len()), (75, 1));
    assert_eq!((cost_100, cost_1), (1, 1), "liked_by");

    let product =
        ports::ProductRepository::list(&store, &ProductFilter::default(), ProductSort::default(), page(1), None, None)
            .await
            .unwrap()
            .items[0]
            .id;
    let (reviews, cost_100) =
        costed(&store, ports::ReviewRepository::list_for_product(&store, product, page(100))).await;
    let (_, cost_1) = costed(&store, ports::ReviewRepository::list_for_product(&store, product, page(1))).await;
    assert_eq!(reviews.unwrap().total, 0);
    assert_eq!((cost_100, cost_1), (1, 1), "list_for_product");
}

/// Products whose stored aggregates differ from their likes and reviews.
const WRONG_AGGREGATES: &str = "\
SELECT count(*) AS n FROM products p
WHERE like_count <> (SELECT count(*) FROM likes l WHERE l.product_id = p.id)
   OR review_count <> (SELECT count(*) FROM reviews r WHERE r.product_id = p.id)
   OR rating_sum <> (SELECT coalesce(sum(rating), 0) FROM reviews r WHERE r.product_id = p.id)";

/// Links whose copies of their product's sort keys differ from the product's, plus
/// categories whose kept product count differs from their links.
const WRONG_LINK_COPIES: &str = "\
SELECT (SELECT count(*) FROM product_categories l JOIN products p ON p.id = l.product_id
        WHERE (l.created_at, l.price_cents, l.name, l.like_count, l.rating_tenths)
              IS DISTINCT FROM (p.created_at, p.price_cents, p.name, p.like_count, p.rating_tenths))
     + (SELECT count(*) FROM categories c
        WHERE c.product_count <> (SELECT count(*) FROM product_categories l WHERE l.category_id = c.id)) AS n";

#[tokio::test]
async fn the_aggregates_follow_every_write_to_likes_and_reviews_even_behind_the_stores_back() {
    let database = TestDatabase::create().await;
    let store = database.store().await;
    let (owner, viewer) = seed_catalogue(&store, &database, 60).await;
    let mut conn = raw(&database).await;
    assert_eq!(count(&mut conn, WRONG_AGGREGATES).await, 0, "after bulk inserts");
    assert_eq!(count(&mut conn, WRONG_LINK_COPIES).await, 0, "links, after bulk inserts");
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM products WHERE like_count = 1").await, 30);

    // Direct changes of every kind: more likers and reviewers, rating changes, deletions,
    // a review moved to another product, and cascades from users and products.
    let fans: Vec<UserId> = {
        let mut fans = Vec::new();
        for i in 0..3 {
            fans.push(store.create(new_user(&format!("fan{i}@example.com"))).await.unwrap().id);
        }
        fans
    };
    for (i, fan) in fans.iter().enumerate() {
        conn.batch_execute(&format!(
            "INSERT INTO likes SELECT '{fan}', id, now() FROM products WHERE price_cents % {m} = 0;
             INSERT INTO reviews SELECT gen_random_uuid(), id, '{fan}', 1 + (price_cents + {i}) % 5, '', now(), now()
             FROM products WHERE price_cents % {m} = 1;",
            m = i + 2
        ))
        .await
        .unwrap();
    }
    conn.batch_execute(&format!(
        "UPDATE reviews SET rating = 6 - rating WHERE author_id = '{viewer}';
         UPDATE reviews SET body = 'edited';
         DELETE FROM likes WHERE product_id IN (SELECT id FROM products WHERE price_cents % 4 = 0);
         DELETE FROM reviews WHERE author_id = '{fan}' AND rating = 3;
         UPDATE reviews SET product_id = (SELECT id FROM products WHERE price_cents = 1)
         WHERE author_id = '{viewer}' AND product_id = (SELECT id FROM products WHERE price_cents = 3);
         DELETE FROM products WHERE price_cents BETWEEN 10 AND 19;",
        fan = fans[1]
    ))
    .await
    .unwrap();
    assert_eq!(count(&mut conn, WRONG_AGGREGATES).await, 0, "after direct changes");
    assert_eq!(count(&mut conn, WRONG_LINK_COPIES).await, 0, "links, after direct changes");

    // A liker and reviewer deleted through the store: its likes and reviews on the owner's
    // products go, and their counts follow.
    store.delete(fans[0]).await.unwrap();
    assert_eq!(count(&mut conn, WRONG_AGGREGATES).await, 0, "after deleting a fan");
    assert_eq!(count(&mut conn, WRONG_LINK_COPIES).await, 0, "links, after deleting a fan");
    store.delete(viewer).await.unwrap();
    assert_eq!(count(&mut conn, WRONG_AGGREGATES).await, 0, "after deleting the viewer");
    assert_eq!(count(&mut conn, WRONG_LINK_COPIES).await, 0, "links, after deleting the viewer");

    // What the store shows is the domain's rounding of what is stored.
    let listed = ports::ProductRepository::list(
        &store,
        &ProductFilter::default(),
        ProductSort::default(),
        PageRequest { limit: 100, offset: 0 },
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(listed.total, 50);
    let mut rated = 0;
    for product in &listed.items {
        let sum = count(
            &mut conn,
            &format!("SELECT coalesce(sum(rating), 0)::bigint AS n FROM reviews WHERE product_id = '{}'", product.id),
        )
        .await;
        let expected = rating_average(sum, i64::try_from(product.review_count).unwrap());
        assert_eq!(product.rating_avg, expected, "{}", product.name);
        rated += usize::from(expected.is_some());
    }
    assert!(rated > 10, "{rated} rated products");

    // Renames, new prices, new links to a second category and links removed: the links'
    // copies and the categories' counts follow.
    conn.batch_execute(
        "UPDATE products SET name = name || ' v2', price_cents = price_cents + 7 WHERE price_cents % 3 = 0;
         INSERT INTO categories (id, name, slug) VALUES (gen_random_uuid(), 'Games', 'games');
         INSERT INTO product_categories SELECT id, (SELECT id FROM categories WHERE slug = 'games') FROM products
         WHERE price_cents % 2 = 0;
         DELETE FROM product_categories WHERE product_id IN (SELECT id FROM products WHERE price_cents % 5 = 0);",
    )
    .await
    .unwrap();
    assert_eq!(count(&mut conn, WRONG_LINK_COPIES).await, 0, "links, after renames, prices and links");
    assert!(count(&mut conn, "SELECT product_count AS n FROM categories WHERE slug = 'games'").await > 10);

    store.delete(owner).await.unwrap();
    for table in ["products", "product_categories", "likes", "reviews"] {
        assert_eq!(count(&mut conn, &format!("SELECT count(*) AS n FROM {table}")).await, 0, "{table}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_users_who_like_and_review_each_others_products_concurrently_keeps_the_counts_right() {
    let database = TestDatabase::create().await;
    let store = database.store().await;
    let (_, viewer) = seed_catalogue(&store, &database, 40).await;
    let mut conn = raw(&database).await;
    let mut doomed = vec![viewer];
    for i in 0..5 {
        doomed.push(store.create(new_user(&format!("fan{i}@example.com"))).await.unwrap().id);
    }
    // Each doomed user owns products that every other one likes and half of them review,
    // so their cascades delete and update the same rows.
    for (i, user) in doomed.iter().enumerate() {
        conn.batch_execute(&format!(
            "INSERT INTO products (id, owner_id, name, price_cents, stock, created_at, updated_at)
             SELECT gen_random_uuid(), '{user}', 'Theirs ' || k, 1000 + k, 1, now(), now()
             FROM generate_series({i} * 3, {i} * 3 + 2) k"
        ))
        .await
        .unwrap();
    }
    for (i, user) in doomed.iter().enumerate() {
        conn.batch_execute(&format!(
            "INSERT INTO likes SELECT '{user}', id, now() FROM products ON CONFLICT DO NOTHING;
             INSERT INTO reviews SELECT gen_random_uuid(), id, '{user}', 1 + (price_cents + {i}) % 5, '', now(), now()
             FROM products WHERE price_cents % 2 = {parity} ON CONFLICT DO NOTHING;",
            parity = i % 2
        ))
        .await
        .unwrap();
    }
    let survivor = store.create(new_user("survivor@example.com")).await.unwrap().id;
    conn.batch_execute(&format!("INSERT INTO likes SELECT '{survivor}', id, now() FROM products")).await.unwrap();

    let barrier = Arc::new(Barrier::new(doomed.len()));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, user) in doomed.into_iter().enumerate() {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            // Both ways of deleting a user, at once.
            if i % 2 == 0 {
                store.delete(user).await
            } else {
                let ctx = storefront_app::ports::AuditContext { actor: survivor, now: now() };
                storefront_app::ports::UserAdminRepository::delete(&store, user, ctx).await
            }
        });
    }
    for outcome in tasks.join_all().await {
        assert_eq!(outcome, Ok(()));
    }

    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM products").await, 40, "the doomed users' products are gone");
    assert_eq!(count(&mut conn, WRONG_AGGREGATES).await, 0);
    let others = "SELECT count(*) AS n FROM products WHERE like_count <> 1 OR review_count <> 0";
    assert_eq!(count(&mut conn, others).await, 0, "only the survivor's likes are left");
}
