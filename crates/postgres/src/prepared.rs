//! Hand-written SQL of fixed text that each connection keeps prepared.
//!
//! diesel's `sql_query` calls itself unsafe to cache, so diesel-async prepares it afresh on
//! every execution: one round trip to parse it, a second to run it (and a `Close` after).
//! `prepared(sql_query(..).bind(..))` is the same query, declared cacheable: diesel-async
//! keys such a statement by its SQL text and bind types, so the first execution on a
//! connection prepares it and every later one is a single round trip.
//!
//! Only for SQL whose texts are few (a constant, built once, or one of a small set): the
//! cache holds one entry per distinct text for the life of the connection. The product
//! listing, assembled from the filters at run time, is cached only when its plan fits
//! every value (`catalog::products::plan_fits_every_value`: a few hundred texts at most).
//!
//! Declaring the query cacheable overrides `QueryFragment::is_safe_to_cache_prepared`,
//! which diesel documents as an extension point for backends
//! (`i-implement-a-third-party-backend-and-opt-into-breaking-changes`): a diesel upgrade
//! that changes it fails to compile here rather than changing behaviour.

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};

/// A query of fixed SQL text, run as a prepared statement cached on its connection.
#[derive(Debug, Clone)]
#[must_use = "Queries are only executed when calling `load`, `get_result` or similar."]
pub(crate) struct Prepared<Q>(Q);

/// `query` (a `sql_query` of fixed text with its binds), cached as a prepared statement.
pub(crate) fn prepared<Q>(query: Q) -> Prepared<Q> {
    Prepared(query)
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Prepared<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    /// The text is fixed and the cache key is the text (with the bind types), so a cached
    /// statement always is this query.
    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q> QueryId for Prepared<Q> {
    type QueryId = ();

    // No static id: diesel-async then keys the statement by its SQL and bind types.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sql_types::{BigInt, Text};

    #[test]
    fn a_prepared_query_is_cacheable_and_renders_the_same_sql_and_binds() {
        let raw = diesel::sql_query("SELECT $1, $2").bind::<Text, _>("a").bind::<BigInt, _>(2_i64);
        assert_eq!(raw.is_safe_to_cache_prepared(&Pg).ok(), Some(false), "diesel's own sql_query is not");
        let cached = prepared(raw.clone());
        assert_eq!(cached.is_safe_to_cache_prepared(&Pg).ok(), Some(true));
        assert_eq!(diesel::debug_query::<Pg, _>(&cached).to_string(), diesel::debug_query::<Pg, _>(&raw).to_string());
    }
}
