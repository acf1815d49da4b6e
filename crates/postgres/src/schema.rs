//! Diesel's view of the tables, written by hand to match `migrations/` exactly (a test
//! compares it with the migrated database).

diesel::table! {
    roles (name) {
        name -> Text,
        description -> Text,
        builtin -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    permissions (name) {
        name -> Text,
        description -> Text,
    }
}

diesel::table! {
    role_permissions (role_name, permission) {
        role_name -> Text,
        permission -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        name -> Text,
        password_hash -> Text,
        role -> Text,
        is_active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
        last_used_at -> Timestamptz,
        expires_at -> Timestamptz,
        user_agent -> Nullable<Text>,
        ip -> Nullable<Text>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> Uuid,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Uuid,
        at -> Timestamptz,
        actor_id -> Nullable<Uuid>,
        action -> Text,
        target -> Text,
        details -> Jsonb,
    }
}

diesel::joinable!(role_permissions -> roles (role_name));
diesel::joinable!(role_permissions -> permissions (permission));
diesel::joinable!(users -> roles (role));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));

// `audit_log` joins nothing: its `actor_id` deliberately has no foreign key.
diesel::allow_tables_to_appear_in_same_query!(roles, permissions, role_permissions, users, sessions, refresh_tokens);

#[cfg(test)]
mod tests {
    //! Compares every column declared here (name, order, type, nullability) with the
    //! migrated database, so that `schema.rs` and `migrations/` cannot drift apart.

    use super::*;
    use diesel::expression::Expression;
    use diesel::pg::Pg;
    use diesel::sql_types::{Bool, Text};
    use diesel::{QueryDsl, QueryableByName};
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    use storefront_testkit::database::TestDatabase;

    /// A column as both sides describe it: (name, PostgreSQL type, nullable).
    type Described = (String, String, bool);

    fn describe<C: Expression>(name: &str) -> Described {
        let full = std::any::type_name::<C::SqlType>();
        let nullable = full.contains("Nullable<");
        let inner = full.trim_end_matches('>').rsplit("::").next().unwrap_or(full).to_lowercase();
        (name.to_owned(), inner, nullable)
    }

    /// The columns of a table as `schema.rs` declares them; checked against `all_columns`
    /// so that the list below cannot miss one.
    macro_rules! declared {
        ($table:ident: $($column:ident),+ $(,)?) => {{
            let select = diesel::debug_query::<Pg, _>(&$table::table.select($table::all_columns)).to_string();
            let names: Vec<String> = select["SELECT ".len()..select.find(" FROM").unwrap()]
                .split(", ")
                .map(|c| c.rsplit('.').next().unwrap().trim_matches('"').to_owned())
                .collect();
            let described = vec![$(describe::<$table::$column>(stringify!($column))),+];
            assert_eq!(names, described.iter().map(|d| d.0.clone()).collect::<Vec<_>>(), "{}", stringify!($table));
            (stringify!($table), described)
        }};
    }

    #[derive(QueryableByName)]
    struct Column {
        #[diesel(sql_type = Text)]
        column_name: String,
        #[diesel(sql_type = Text)]
        udt_name: String,
        #[diesel(sql_type = Bool)]
        nullable: bool,
    }

    #[tokio::test]
    async fn schema_rs_matches_the_migrated_database_column_for_column() {
        let tables = [
            declared!(roles: name, description, builtin, created_at),
            declared!(permissions: name, description),
            declared!(role_permissions: role_name, permission),
            declared!(users: id, email, name, password_hash, role, is_active, created_at, updated_at),
            declared!(sessions: id, user_id, created_at, last_used_at, expires_at, user_agent, ip, revoked_at),
            declared!(refresh_tokens: token_hash, session_id, created_at, expires_at, used_at),
            declared!(audit_log: id, at, actor_id, action, target, details),
        ];
        let database = TestDatabase::create().await;
        let mut conn = AsyncPgConnection::establish(&database.url).await.unwrap();
        let count_tables = "SELECT count(*)::int AS n FROM pg_tables \
            WHERE schemaname = 'public' AND tablename <> '__diesel_schema_migrations'";
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            n: i32,
        }
        let n = diesel::sql_query(count_tables).get_result::<Count>(&mut conn).await.unwrap().n;
        assert_eq!(n as usize, tables.len(), "every migrated table is declared");

        for (table, declared) in tables {
            let sql = "SELECT column_name::text AS column_name, udt_name::text AS udt_name, \
                       is_nullable = 'YES' AS nullable \
                       FROM information_schema.columns \
                       WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position";
            let actual: Vec<Described> = diesel::sql_query(sql)
                .bind::<Text, _>(table)
                .load::<Column>(&mut conn)
                .await
                .unwrap()
                .into_iter()
                .map(|c| (c.column_name, c.udt_name, c.nullable))
                .collect();
            assert_eq!(actual, declared, "{table}");
        }
    }
}
