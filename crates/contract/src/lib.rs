//! One contract-test suite for the persistence ports, written once and run against every
//! adapter (memory and PostgreSQL). An adapter's test file calls
//! `storefront_contract::contract_tests!(factory);` where `factory` is an
//! `async fn() -> storefront_contract::Stores` giving fresh, empty stores for one test.
//!
//! The calling crate needs only `storefront-contract` as a dev-dependency: the expansion
//! names everything through `$crate`, including the tokio runtime the tests run on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::any::Any;
use std::future::Future;
use std::sync::Arc;
use storefront_app::ports::{AuditLog, RoleRepository, SessionRepository, UserAdminRepository, UserRepository};

#[doc(hidden)]
pub use tokio;

/// The ports of one adapter, fresh and empty, for one test.
pub struct Stores {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub roles: Arc<dyn RoleRepository>,
    pub user_admin: Arc<dyn UserAdminRepository>,
    pub audit: Arc<dyn AuditLog>,
    /// Keeps whatever backs the stores alive for the test (e.g. a per-test database).
    pub guard: Box<dyn Any + Send + Sync>,
}

pub mod suite;

/// Expands to one test per contract test, each on its own two-worker multi-thread tokio
/// runtime and calling `$factory().await` for fresh stores.
#[macro_export]
macro_rules! contract_tests {
    ($factory:path) => {
        $crate::__contract_tests_list!($factory);
    };
}

/// Runs one contract test on a fresh two-worker multi-thread runtime, as
/// `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` would. A function rather
/// than that attribute because the attribute's `crate = "…"` option is a string, in which
/// `$crate` cannot be expanded, and callers should not need tokio themselves.
#[doc(hidden)]
pub fn __run_contract_test(test: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the contract-test runtime starts")
        .block_on(test);
}

/// The list of contract tests, `module::test_name`, one per function in `suite`. A unit
/// test below checks that the list and the suite agree.
#[doc(hidden)]
#[macro_export]
macro_rules! __contract_tests_list {
    ($factory:path) => {
        $crate::__contract_tests_each! { $factory;
            users::creating_a_user_returns_it_active_with_the_role_and_timestamps_given,
            users::a_created_user_is_found_by_id,
            users::a_created_user_is_found_by_email_whatever_case_it_was_typed_in,
            users::credentials_carry_the_stored_password_hash,
            users::looking_up_an_unknown_user_finds_nothing,
            users::creating_a_user_with_an_email_taken_in_another_case_returns_email_taken,
            users::creating_a_user_with_a_taken_email_leaves_the_existing_user_unchanged,
            users::updating_a_profile_changes_the_given_fields_and_bumps_updated_at,
            users::updating_only_the_name_keeps_the_email,
            users::updating_a_profile_with_no_changes_still_bumps_updated_at,
            users::updating_a_profile_to_another_users_email_in_any_case_returns_email_taken,
            users::updating_a_profile_to_ones_own_email_is_allowed,
            users::updating_an_unknown_user_returns_not_found,
            users::changing_the_password_stores_the_new_hash,
            users::changing_the_password_of_an_unknown_user_returns_not_found,
            users::deleting_an_unknown_user_returns_not_found,
            users::deleting_a_user_removes_it_and_frees_its_email,
            users::deleting_a_user_ends_its_sessions_and_forgets_its_refresh_tokens,
            users::deleting_a_user_leaves_other_users_and_their_sessions_alone,
            principals::an_active_user_with_an_active_session_loads_with_its_role_permissions,
            principals::a_moderator_loads_with_the_default_moderator_grants,
            principals::an_admin_loads_with_every_permission,
            principals::a_principal_reflects_the_current_profile,
            principals::no_principal_loads_for_another_users_session,
            principals::no_principal_loads_for_an_unknown_user_or_session,
            principals::no_principal_loads_for_an_ended_session,
            principals::no_principal_loads_for_a_session_at_or_after_its_expiry,
            principals::a_rotated_session_stays_active_until_its_newest_token_expires,
            principals::changing_the_password_ends_every_other_session_but_keeps_the_current_one,
            principals::changing_the_password_leaves_other_users_sessions_alone,
            rotation::rotating_a_fresh_token_rotates_it_and_the_replacement_works,
            rotation::rotating_touches_the_sessions_last_used_at,
            rotation::rotating_a_spent_token_within_the_grace_period_is_refused_without_revoking_anything,
            rotation::rotating_a_spent_token_after_the_grace_period_revokes_the_family,
            rotation::rotating_an_expired_token_is_refused,
            rotation::rotating_an_unknown_token_returns_unknown,
            rotation::concurrent_rotations_of_one_token_rotate_it_exactly_once,
            rotation::rotating_a_token_of_an_ended_session_is_refused,
            sessions::a_started_session_is_listed_with_its_client_details,
            sessions::ending_a_session_by_its_refresh_token_ends_the_family,
            sessions::ending_a_session_by_a_spent_refresh_token_ends_the_family,
            sessions::ending_a_session_by_an_unknown_refresh_token_is_ok,
            sessions::ending_ones_own_session_revokes_it_and_returns_true,
            sessions::ending_another_users_session_returns_false_and_leaves_it_active,
            sessions::ending_an_unknown_or_already_ended_session_returns_false,
            sessions::ending_an_expired_session_returns_false,
            sessions::ending_all_sessions_revokes_every_session_of_the_user_only,
            sessions::active_sessions_are_listed_newest_first,
            sessions::listing_active_sessions_leaves_out_ended_expired_and_other_users_sessions,
            admin::built_in_roles_are_listed_by_name_with_their_grants,
            admin::a_created_role_is_listed_without_grants_and_audited,
            admin::creating_an_existing_role_is_a_conflict,
            admin::grants_are_idempotent_and_audited_only_when_they_change,
            admin::a_grant_on_an_unknown_role_is_not_found,
            admin::a_changed_grant_takes_effect_on_the_next_principal_load,
            admin::a_user_given_a_custom_role_holds_exactly_its_grants,
            admin::built_in_held_and_unknown_roles_cannot_be_deleted,
            admin::users_are_listed_newest_first_and_filtered_by_text_and_role,
            admin::user_search_treats_wildcards_as_plain_text,
            admin::a_role_change_is_stored_and_audited_with_from_and_to,
            admin::an_unknown_role_or_user_is_refused,
            admin::deactivating_a_user_ends_its_sessions_and_is_audited,
            admin::the_last_active_admin_can_be_neither_demoted_deactivated_nor_deleted,
            admin::an_inactive_admin_does_not_count_as_the_remaining_admin,
            admin::two_concurrent_demotions_of_the_last_two_admins_let_exactly_one_succeed,
            admin::deleting_a_user_is_audited_with_its_actor,
            admin::the_audit_log_is_newest_first_filtered_and_paginated,
        }
    };
}

/// Expands the list above into one test function per entry.
#[doc(hidden)]
#[macro_export]
macro_rules! __contract_tests_each {
    ($factory:path; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::__run_contract_test(async { $crate::suite::$module::$name($factory().await).await });
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    /// Every `pub async fn` of the suite is in `__contract_tests_list`, and nothing else:
    /// a test written but not listed would silently never run against any adapter.
    #[test]
    fn the_macro_lists_every_contract_test_exactly_once() {
        let suite = [
            ("users", include_str!("suite/users.rs")),
            ("principals", include_str!("suite/principals.rs")),
            ("rotation", include_str!("suite/rotation.rs")),
            ("sessions", include_str!("suite/sessions.rs")),
            ("admin", include_str!("suite/admin.rs")),
        ];
        let written: Vec<String> = suite
            .iter()
            .flat_map(|(module, source)| {
                source.lines().filter_map(move |line| {
                    let name = line.trim().strip_prefix("pub async fn ")?.split('(').next()?;
                    Some(format!("{module}::{name}"))
                })
            })
            .collect();
        let this_file = include_str!("lib.rs");
        let list = this_file.split("__contract_tests_each! { $factory;").nth(1).unwrap().split('}').next().unwrap();
        let listed: Vec<String> = list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();

        let mut written_sorted = written.clone();
        written_sorted.sort();
        let mut listed_sorted = listed.clone();
        listed_sorted.sort();
        listed_sorted.dedup();
        assert_eq!(listed_sorted.len(), listed.len(), "a test is listed twice");
        assert_eq!(written_sorted, listed_sorted);
    }
}
