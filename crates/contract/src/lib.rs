//! One contract-test suite for the persistence ports, written once and run against every
//! adapter (memory and PostgreSQL). An adapter's test file calls
//! `storefront_contract::contract_tests!(factory);` where `factory` is an
//! `async fn() -> storefront_contract::Stores` giving fresh, empty stores for one test.
//!
//! The catalogue's ports have a suite of their own: `catalog_contract_tests!(factory)` with
//! `factory` an `async fn() -> storefront_contract::CatalogStores`. It is separate so that
//! an adapter can run it once it implements those ports, without touching the first suite.
//!
//! The orders' ports have a third: `orders_contract_tests!(factory)` with `factory` an
//! `async fn() -> storefront_contract::OrderStores`.
//!
//! The events' ports have a fourth: `events_contract_tests!(factory)` with `factory` an
//! `async fn() -> storefront_contract::EventStores`.
//!
//! The assistant's `ConversationRepository` has a fifth: `assistant_contract_tests!(factory)`
//! with `factory` an `async fn() -> storefront_contract::AssistantStores`.
//! The account life cycle's ports (link tokens, the second factor) have a sixth:
//! `lifecycle_contract_tests!(factory)` with `factory` an
//! `async fn() -> storefront_contract::LifecycleStores`.
//!
//! The `RateLimiter` port has its own: `rate_limit_contract_tests!(factory)` with `factory`
//! an `async fn() -> Arc<dyn RateLimiter>` (see `rate_limit_suite`); so has the text
//! utilities' `AnalysisCache`: `analysis_cache_contract_tests!(factory)` with `factory` an
//! `async fn() -> Arc<dyn AnalysisCache>` (see `analysis_cache_suite`).
//!
//! The calling crate needs only `storefront-contract` as a dev-dependency: the expansion
//! names everything through `$crate`, including the tokio runtime the tests run on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::any::Any;
use std::future::Future;
use std::sync::Arc;
use storefront_app::ports::{
    AuditLog, CategoryRepository, ConversationRepository, DeadLetters, EventOutbox, IdempotencyStore,
    LinkTokenRepository, OrderRepository, ProcessedEvents, ProductRepository, ReviewRepository,
    ReviewSummaryRepository, RoleRepository, SecondFactorRepository, SessionRepository, UserAdminRepository,
    UserRepository,
};

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

/// The catalogue's ports of one adapter, fresh and empty, for one test, with the user
/// ports the catalogue refers to (owners, likers, authors; deleting users).
pub struct CatalogStores {
    pub users: Arc<dyn UserRepository>,
    pub user_admin: Arc<dyn UserAdminRepository>,
    pub products: Arc<dyn ProductRepository>,
    pub categories: Arc<dyn CategoryRepository>,
    pub reviews: Arc<dyn ReviewRepository>,
    /// Where moderators' decisions on reviews are audited.
    pub audit: Arc<dyn AuditLog>,
    /// Keeps whatever backs the stores alive for the test (e.g. a per-test database).
    pub guard: Box<dyn Any + Send + Sync>,
}

/// The orders' ports of one adapter, fresh and empty, for one test, with the user and
/// catalogue ports orders refer to (buyers, products, reviews; deleting either).
pub struct OrderStores {
    pub users: Arc<dyn UserRepository>,
    pub user_admin: Arc<dyn UserAdminRepository>,
    pub products: Arc<dyn ProductRepository>,
    pub categories: Arc<dyn CategoryRepository>,
    pub reviews: Arc<dyn ReviewRepository>,
    pub orders: Arc<dyn OrderRepository>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// Keeps whatever backs the stores alive for the test (e.g. a per-test database).
    pub guard: Box<dyn Any + Send + Sync>,
}

/// The events' ports of one adapter, fresh and empty, for one test, with the ports whose
/// state changes write events.
pub struct EventStores {
    pub users: Arc<dyn UserRepository>,
    pub user_admin: Arc<dyn UserAdminRepository>,
    pub products: Arc<dyn ProductRepository>,
    pub reviews: Arc<dyn ReviewRepository>,
    pub orders: Arc<dyn OrderRepository>,
    pub outbox: Arc<dyn EventOutbox>,
    pub dead_letters: Arc<dyn DeadLetters>,
    pub processed: Arc<dyn ProcessedEvents>,
    /// Keeps whatever backs the stores alive for the test (e.g. a per-test database).
    pub guard: Box<dyn Any + Send + Sync>,
}

/// The assistant's port of one adapter, fresh and empty, for one test, with the user ports
/// conversations belong to (owners; deleting them).
pub struct AssistantStores {
    pub users: Arc<dyn UserRepository>,
    pub user_admin: Arc<dyn UserAdminRepository>,
    pub conversations: Arc<dyn ConversationRepository>,
    /// The products review summaries belong to.
    pub products: Arc<dyn ProductRepository>,
    pub summaries: Arc<dyn ReviewSummaryRepository>,
    /// Keeps whatever backs the stores alive for the test (e.g. a per-test database).
    pub guard: Box<dyn Any + Send + Sync>,
}

/// The account life cycle's ports of one adapter, fresh and empty, for one test, with the
/// ports their changes touch (users, sessions, the audit log, the outbox).
pub struct LifecycleStores {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub audit: Arc<dyn AuditLog>,
    pub outbox: Arc<dyn EventOutbox>,
    pub links: Arc<dyn LinkTokenRepository>,
    pub factors: Arc<dyn SecondFactorRepository>,
    /// Keeps whatever backs the stores alive for the test (e.g. a per-test database).
    pub guard: Box<dyn Any + Send + Sync>,
}

pub mod analysis_cache_suite;
pub mod assistant_suite;
pub mod catalog_suite;
pub mod events_suite;
pub mod lifecycle_suite;
pub mod orders_suite;
pub mod rate_limit_suite;
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
            sessions::ending_the_oldest_sessions_beyond_a_limit_keeps_the_newest,
            sessions::purging_deletes_expired_and_ended_sessions_and_expired_tokens_only,
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
            admin::a_refused_attempt_is_recorded_on_its_own_and_listed_as_access_denied,
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

/// Expands to one test per catalogue contract test, each on its own two-worker
/// multi-thread tokio runtime and calling `$factory().await` for fresh `CatalogStores`.
#[macro_export]
macro_rules! catalog_contract_tests {
    ($factory:path) => {
        $crate::__catalog_contract_tests_list!($factory);
    };
}

/// The list of catalogue contract tests, `module::test_name`, one per function in
/// `catalog_suite`. A unit test below checks that the list and the suite agree.
#[doc(hidden)]
#[macro_export]
macro_rules! __catalog_contract_tests_list {
    ($factory:path) => {
        $crate::__catalog_contract_tests_each! { $factory;
            products::creating_a_product_returns_it_with_its_categories_ordered_by_name_and_nothing_counted,
            products::a_created_product_is_found_by_id_as_it_was_returned,
            products::getting_an_unknown_product_finds_nothing,
            products::creating_a_product_with_an_unknown_category_returns_invalid_reference_and_creates_nothing,
            products::updating_a_product_changes_the_given_fields_and_bumps_updated_at,
            products::updating_only_the_stock_keeps_every_other_field_and_the_categories,
            products::updating_a_products_categories_replaces_the_whole_set,
            products::updating_a_product_with_an_unknown_category_returns_invalid_reference_and_changes_nothing,
            products::updating_an_unknown_product_returns_not_found,
            products::deleting_a_product_removes_it_with_its_likes_reviews_and_links,
            products::deleting_an_unknown_product_returns_not_found,
            categories::a_created_category_is_returned_and_listed_without_products,
            categories::categories_are_listed_by_name_then_id_with_their_product_counts,
            categories::creating_a_category_with_a_taken_slug_is_a_conflict,
            categories::updating_a_category_renames_it_on_its_products_too,
            categories::updating_only_a_categorys_name_keeps_its_slug_and_the_reverse,
            categories::updating_a_category_to_another_categorys_slug_is_a_conflict_but_its_own_is_fine,
            categories::updating_or_deleting_an_unknown_category_returns_not_found,
            categories::deleting_a_category_unlinks_its_products_and_keeps_them,
            likes::liking_twice_counts_once,
            likes::likes_by_different_users_are_each_counted,
            likes::liked_by_me_is_true_only_for_a_viewer_who_likes_the_product,
            likes::unliking_removes_the_like_and_is_idempotent,
            likes::liking_or_unliking_an_unknown_product_returns_not_found,
            likes::sixteen_concurrent_likes_by_one_user_count_once,
            likes::concurrent_likes_by_different_users_all_count,
            likes::liked_products_are_listed_most_recently_liked_first_and_paginated,
            likes::liking_an_already_liked_product_again_keeps_its_place_in_the_liked_list,
            reviews::creating_a_review_returns_it_with_its_authors_name_and_no_verified_purchase,
            reviews::getting_an_unknown_review_finds_nothing,
            reviews::a_second_review_by_the_same_author_returns_already_exists,
            reviews::eight_concurrent_reviews_by_one_author_let_exactly_one_succeed,
            reviews::concurrent_reviews_by_different_authors_are_all_counted,
            reviews::reviewing_an_unknown_product_returns_not_found,
            reviews::the_review_count_and_rating_follow_creates_updates_and_deletes,
            reviews::the_rating_is_the_mean_rounded_half_up_to_one_decimal,
            reviews::updating_a_review_changes_the_given_fields_and_bumps_updated_at,
            reviews::updating_or_deleting_an_unknown_review_returns_not_found,
            reviews::a_deleted_review_is_gone_and_its_author_may_review_again,
            reviews::a_review_shows_its_authors_current_name,
            reviews::reviews_are_listed_newest_first_then_by_id_and_paginated,
            moderation::a_new_review_is_approved_until_checked_at_revision_one,
            moderation::a_flagged_review_leaves_the_public_list_and_the_products_count_and_rating,
            moderation::a_hidden_reviews_rating_change_and_deletion_leave_the_aggregates_alone,
            moderation::a_verdict_on_an_older_text_is_stale_and_stores_nothing,
            moderation::a_verdict_never_overrides_a_moderators_decision_on_the_same_text,
            moderation::a_decision_is_audited_with_the_change,
            moderation::the_moderation_queue_lists_one_status_newest_first,
            listing::listing_without_filters_returns_every_product_newest_first_by_default,
            listing::listing_an_empty_catalogue_returns_nothing,
            listing::the_unfiltered_total_follows_creations_and_deletions_cascades_included,
            listing::the_text_filter_matches_the_name_or_the_description_whatever_the_case,
            listing::the_text_filter_treats_wildcards_and_escapes_as_plain_text,
            listing::the_category_filter_selects_the_products_linked_to_the_slug,
            listing::the_owner_filter_selects_the_owners_products,
            listing::the_price_bounds_are_inclusive,
            listing::the_in_stock_filter_leaves_out_products_without_stock,
            listing::filters_combine_with_and,
            listing::every_sort_key_orders_both_ways_with_ties_broken_by_id_in_the_same_direction,
            listing::unrated_products_sort_last_both_ways_by_rating,
            listing::ratings_sort_by_their_one_decimal_average_so_close_means_equal,
            listing::pages_do_not_overlap_and_carry_the_total_of_all_matches,
            listing::listed_products_show_what_get_shows_to_the_same_viewer,
            listing::listing_agrees_with_the_reference_filter_and_order_on_a_seeded_random_catalogue,
            cursors::a_walk_by_keyset_positions_returns_the_whole_listing_once_for_every_sort_and_filter,
            cursors::a_keyset_page_past_the_last_match_is_empty_and_keeps_the_total,
            cursors::a_keyset_walk_neither_repeats_nor_skips_a_product_when_others_are_inserted_meanwhile,
            accounts::deleting_a_user_as_an_admin_removes_its_products_likes_and_reviews_and_fixes_other_counts,
            accounts::deleting_ones_own_account_removes_its_products_likes_and_reviews_and_fixes_other_counts,
            accounts::deleting_a_user_leaves_other_users_catalogue_alone,
        }
    };
}

/// Expands the catalogue list above into one test function per entry.
#[doc(hidden)]
#[macro_export]
macro_rules! __catalog_contract_tests_each {
    ($factory:path; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::__run_contract_test(async { $crate::catalog_suite::$module::$name($factory().await).await });
            }
        )*
    };
}

/// Expands to one test per orders contract test, each on its own two-worker multi-thread
/// tokio runtime and calling `$factory().await` for fresh `OrderStores`.
#[macro_export]
macro_rules! orders_contract_tests {
    ($factory:path) => {
        $crate::__orders_contract_tests_list!($factory);
    };
}

/// The list of orders contract tests, `module::test_name`, one per function in
/// `orders_suite`. A unit test below checks that the list and the suite agree.
#[doc(hidden)]
#[macro_export]
macro_rules! __orders_contract_tests_list {
    ($factory:path) => {
        $crate::__orders_contract_tests_each! { $factory;
            placing::placing_an_order_takes_the_stock_and_snapshots_names_and_prices,
            placing::getting_an_unknown_order_finds_nothing,
            placing::an_order_for_exactly_the_stock_left_empties_it_and_the_next_unit_is_refused,
            placing::an_order_with_short_lines_leaves_no_trace_and_reports_every_short_line,
            placing::an_order_naming_unknown_products_reports_their_line_indexes_and_takes_nothing,
            placing::changing_a_product_after_placing_does_not_change_the_order,
            concurrency::a_hundred_concurrent_single_unit_orders_for_twenty_five_units_sell_exactly_twenty_five,
            concurrency::concurrent_orders_listing_two_products_in_opposite_orders_all_complete_and_keep_stock_consistent,
            concurrency::a_random_concurrent_mix_of_orders_and_cancellations_conserves_every_products_units,
            concurrency::two_racing_cancellations_move_the_order_once_and_give_the_stock_back_once,
            concurrency::two_racing_payments_move_the_order_exactly_once,
            lifecycle::an_order_moves_from_pending_to_paid_shipped_and_delivered_and_bumps_updated_at,
            lifecycle::moves_the_life_cycle_does_not_allow_are_refused_with_the_current_status_and_change_nothing,
            lifecycle::cancelling_a_pending_or_a_paid_order_gives_its_stock_back,
            lifecycle::cancelling_an_order_whose_product_was_deleted_cancels_it_and_gives_the_other_lines_back,
            lifecycle::moving_an_unknown_order_returns_not_found,
            listing::orders_are_listed_newest_first_then_by_id_descending,
            listing::the_listing_filters_by_buyer_and_by_status_and_combines_both,
            listing::order_pages_do_not_overlap_and_carry_the_total_of_all_matches,
            purchases::a_buyer_has_bought_exactly_the_products_of_its_orders,
            purchases::an_order_stays_a_purchase_through_delivery_but_not_after_cancellation,
            purchases::a_reviews_verified_purchase_follows_its_authors_orders_and_cancellations,
            stats::the_statistics_of_an_empty_store_list_every_status_with_zero,
            stats::the_statistics_count_sold_orders_only_and_agree_with_a_reference_computed_from_the_ports,
            stats::the_statistics_count_as_new_the_users_created_in_the_last_seven_days,
            stats::top_products_are_at_most_ten_by_units_then_revenue_then_product_id,
            stats::a_top_product_shows_its_current_name_or_once_deleted_its_latest_snapshot_name,
            stats::low_stock_lists_products_at_or_below_the_threshold_lowest_first_then_by_name_in_byte_order,
            stats::low_stock_lists_at_most_fifty_products,
            deletion::deleting_a_buyer_as_an_admin_keeps_its_orders_without_a_user_id,
            deletion::deleting_ones_own_account_keeps_ones_orders_without_a_user_id,
            deletion::deleting_a_product_keeps_the_snapshot_lines_of_its_orders,
            deletion::deleting_a_seller_removes_its_products_but_keeps_the_order_lines_that_sold_them,
            idempotency::a_completed_key_replays_its_stored_response_byte_for_byte,
            idempotency::any_first_response_is_replayed_whatever_its_status,
            idempotency::a_key_used_with_another_body_is_reported_as_reused_whether_running_or_completed,
            idempotency::a_key_whose_first_request_is_still_running_is_in_flight,
            idempotency::a_released_key_is_fresh_again,
            idempotency::another_users_identical_key_is_unrelated,
            idempotency::a_completed_key_is_fresh_again_once_its_response_is_past_the_retention,
            idempotency::an_unfinished_key_is_fresh_again_once_abandoned,
            idempotency::ten_concurrent_begins_with_one_key_let_exactly_one_claim_it,
            idempotency::purging_deletes_the_keys_created_before_the_cutoff_and_counts_them,
            units::an_order_and_its_keys_response_commit_together,
            units::a_unit_rolled_back_or_dropped_writes_nothing_and_lets_the_next_unit_through,
            units::a_keyed_placement_whose_commit_answer_is_lost_is_replayed_and_not_placed_again,
            units::a_keyed_placement_that_failed_before_its_commit_leaves_its_key_retriable,
            units::a_unit_the_store_aborts_runs_again_from_its_reads,
        }
    };
}

/// Expands the orders list above into one test function per entry.
#[doc(hidden)]
#[macro_export]
macro_rules! __orders_contract_tests_each {
    ($factory:path; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::__run_contract_test(async { $crate::orders_suite::$module::$name($factory().await).await });
            }
        )*
    };
}

/// Expands to one test per events contract test, each on its own two-worker multi-thread
/// tokio runtime and calling `$factory().await` for fresh `EventStores`.
#[macro_export]
macro_rules! events_contract_tests {
    ($factory:path) => {
        $crate::__events_contract_tests_list!($factory);
    };
}

/// The list of events contract tests, `module::test_name`, one per function in
/// `events_suite`. A unit test below checks that the list and the suite agree.
#[doc(hidden)]
#[macro_export]
macro_rules! __events_contract_tests_list {
    ($factory:path) => {
        $crate::__events_contract_tests_each! { $factory;
            raising::creating_a_user_writes_its_user_registered_event,
            raising::a_refused_user_creation_writes_no_event,
            raising::placing_an_order_writes_order_placed_and_stock_low_for_each_product_it_takes_to_the_threshold,
            raising::a_refused_order_writes_no_event,
            raising::each_move_of_an_order_writes_order_status_changed_and_a_cancellation_order_cancelled,
            raising::a_stock_change_writes_stock_low_only_when_it_crosses_the_threshold_downwards,
            raising::a_product_raises_stock_low_at_most_once_per_window_however_often_its_stock_crosses,
            raising::orders_and_stock_changes_share_one_low_stock_window_per_product,
            raising::a_refused_product_change_writes_no_event,
            raising::creating_a_review_writes_review_created_and_a_refused_one_nothing,
            raising::editing_a_review_writes_review_updated_with_its_text_revision_and_an_unknown_one_nothing,
            raising::deleting_a_review_writes_review_deleted_and_an_unknown_one_nothing,
            delivery::due_events_are_leased_oldest_first_and_not_again_until_the_lease_runs_out,
            delivery::released_events_are_due_again_at_once,
            delivery::published_events_stay_owed_and_are_due_again_at_their_redelivery_time,
            delivery::handled_events_are_never_leased_again_and_leave_the_backlog,
            delivery::when_the_stream_lost_its_data_every_published_unhandled_event_is_due_at_once,
            delivery::concurrent_leases_never_hand_one_event_to_two_relays,
            delivery::a_failed_event_is_due_again_at_its_retry_time_with_its_attempts_counted,
            delivery::an_event_failed_for_good_is_a_dead_letter_until_retried,
            delivery::purging_deletes_only_events_handled_before_the_cutoff,
            delivery::a_handled_event_is_recorded_per_handler_once,
            delivery::a_claim_is_held_by_one_caller_until_it_ends_or_is_given_back,
            delivery::concurrent_claims_give_the_event_to_one_caller,
            delivery::the_holders_of_a_permission_are_the_active_users_whose_role_grants_it,
        }
    };
}

/// Expands the events list above into one test function per entry.
#[doc(hidden)]
#[macro_export]
macro_rules! __events_contract_tests_each {
    ($factory:path; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::__run_contract_test(async { $crate::events_suite::$module::$name($factory().await).await });
            }
        )*
    };
}

/// Expands to one test per assistant contract test, each on its own two-worker
/// multi-thread tokio runtime and calling `$factory().await` for fresh `AssistantStores`.
#[macro_export]
macro_rules! assistant_contract_tests {
    ($factory:path) => {
        $crate::__assistant_contract_tests_list!($factory);
    };
}

/// The list of assistant contract tests, one per function in `assistant_suite`. A unit
/// test below checks that the list and the suite agree.
#[doc(hidden)]
#[macro_export]
macro_rules! __assistant_contract_tests_list {
    ($factory:path) => {
        $crate::__assistant_contract_tests_each! { $factory;
            conversations::a_created_conversation_is_read_back_by_its_owner_only,
            conversations::a_conversation_for_an_unknown_user_is_an_invalid_reference,
            conversations::messages_are_stored_oldest_first_and_bump_the_conversation,
            conversations::the_recent_messages_are_the_newest_ones_oldest_first,
            conversations::another_users_conversation_cannot_be_read_written_or_deleted,
            conversations::a_message_id_is_stored_once,
            conversations::conversations_are_listed_most_recently_updated_first_and_paginated,
            conversations::deleting_a_conversation_deletes_its_messages,
            conversations::usage_adds_up_per_user_and_day,
            conversations::usage_without_a_message_adds_to_the_same_day,
            conversations::deleting_the_account_deletes_its_conversations_messages_and_usage,
            usage::usage_is_kept_per_provider_and_model_and_summed_for_the_budget,
            usage::recording_usage_for_an_unknown_user_is_an_invalid_reference,
            usage::the_report_sums_each_day_provider_and_model_in_the_period,
            usage::the_report_ranks_users_by_tokens_in_the_period,
            summaries::a_claim_is_granted_once_per_interval,
            summaries::concurrent_claims_within_an_interval_grant_one,
            summaries::a_stored_summary_is_fresh_unless_reviews_changed_since_its_claim,
            summaries::an_unknown_product_has_no_summary_to_mark_or_claim,
            summaries::a_summary_goes_with_its_product,
        }
    };
}

/// Expands to one test per account-lifecycle contract test (see `contract_tests`).
#[macro_export]
macro_rules! lifecycle_contract_tests {
    ($factory:path) => {
        $crate::__lifecycle_contract_tests_list!($factory);
    };
}

/// The list of account-lifecycle contract tests, `module::test_name`, one per function in
/// `lifecycle_suite`. A unit test below checks that the list and the suite agree.
#[doc(hidden)]
#[macro_export]
macro_rules! __lifecycle_contract_tests_list {
    ($factory:path) => {
        $crate::__lifecycle_contract_tests_each! { $factory;
            links::a_link_is_found_by_hash_and_purpose_until_it_is_spent_once,
            links::an_expired_link_is_neither_found_nor_spent,
            links::a_link_for_an_unknown_user_is_refused,
            links::concurrent_spends_of_one_link_give_it_to_one_caller,
            links::verifying_marks_the_address_the_link_was_sent_to,
            links::a_reset_sets_the_password_verifies_ends_sessions_audits_and_raises_its_event,
            links::an_email_change_moves_the_user_to_the_verified_new_address_once,
            links::an_email_change_to_an_address_taken_meanwhile_changes_and_spends_nothing,
            links::raised_events_go_to_the_outbox_in_order,
            links::purging_deletes_links_expired_or_spent_before_the_cutoff,
            factors::a_pending_secret_is_enabled_by_a_fresh_step_and_audited,
            factors::each_time_step_is_accepted_once_and_never_an_older_one,
            factors::a_recovery_code_is_used_once,
            factors::turning_the_factor_off_clears_it_ends_the_other_sessions_and_audits,
        }
    };
}

/// Expands the assistant list above into one test function per entry.
#[doc(hidden)]
#[macro_export]
macro_rules! __assistant_contract_tests_each {
    ($factory:path; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::__run_contract_test(async {
                    $crate::assistant_suite::$module::$name($factory().await).await
                });
            }
        )*
    };
}

/// Expands the lifecycle list above into one test function per entry.
#[doc(hidden)]
#[macro_export]
macro_rules! __lifecycle_contract_tests_each {
    ($factory:path; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::__run_contract_test(async { $crate::lifecycle_suite::$module::$name($factory().await).await });
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    /// The `module::name` of every `pub async fn` in the given suite files.
    fn written(suite: &[(&str, &str)]) -> Vec<String> {
        let mut written: Vec<String> = suite
            .iter()
            .flat_map(|(module, source)| {
                source.lines().filter_map(move |line| {
                    let name = line.trim().strip_prefix("pub async fn ")?.split('(').next()?;
                    Some(format!("{module}::{name}"))
                })
            })
            .collect();
        written.sort();
        written
    }

    /// The entries of the list that `opening` opens in this file, sorted; fails on a
    /// duplicate.
    fn listed(opening: &str) -> Vec<String> {
        let this_file = include_str!("lib.rs");
        // The macros come before this test, so the first occurrence opens the list.
        let list = this_file.split(opening).nth(1).unwrap().split('}').next().unwrap();
        let listed: Vec<String> = list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
        let mut sorted = listed.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), listed.len(), "a test is listed twice after `{opening}`");
        sorted
    }

    fn name(entry: &str) -> &str {
        entry.split("::").nth(1).unwrap()
    }

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
        assert_eq!(written(&suite), listed("$crate::__contract_tests_each! { $factory;"));
    }

    /// The same for the catalogue suite and `__catalog_contract_tests_list`.
    #[test]
    fn the_catalog_macro_lists_every_catalog_contract_test_exactly_once() {
        let suite = [
            ("products", include_str!("catalog_suite/products.rs")),
            ("categories", include_str!("catalog_suite/categories.rs")),
            ("likes", include_str!("catalog_suite/likes.rs")),
            ("reviews", include_str!("catalog_suite/reviews.rs")),
            ("moderation", include_str!("catalog_suite/moderation.rs")),
            ("listing", include_str!("catalog_suite/listing.rs")),
            ("accounts", include_str!("catalog_suite/accounts.rs")),
            ("cursors", include_str!("catalog_suite/cursors.rs")),
        ];
        assert_eq!(written(&suite), listed("$crate::__catalog_contract_tests_each! { $factory;"));
    }

    /// The same for the assistant suite and `__assistant_contract_tests_list`.
    #[test]
    fn the_assistant_macro_lists_every_assistant_contract_test_exactly_once() {
        let suite = [
            ("conversations", include_str!("assistant_suite/conversations.rs")),
            ("usage", include_str!("assistant_suite/usage.rs")),
            ("summaries", include_str!("assistant_suite/summaries.rs")),
        ];
        assert_eq!(written(&suite), listed("$crate::__assistant_contract_tests_each! { $factory;"));
    }

    /// The same for the orders suite and `__orders_contract_tests_list`.
    #[test]
    fn the_orders_macro_lists_every_orders_contract_test_exactly_once() {
        let suite = [
            ("placing", include_str!("orders_suite/placing.rs")),
            ("concurrency", include_str!("orders_suite/concurrency.rs")),
            ("lifecycle", include_str!("orders_suite/lifecycle.rs")),
            ("listing", include_str!("orders_suite/listing.rs")),
            ("purchases", include_str!("orders_suite/purchases.rs")),
            ("stats", include_str!("orders_suite/stats.rs")),
            ("deletion", include_str!("orders_suite/deletion.rs")),
            ("idempotency", include_str!("orders_suite/idempotency.rs")),
            ("units", include_str!("orders_suite/units.rs")),
        ];
        assert_eq!(written(&suite), listed("$crate::__orders_contract_tests_each! { $factory;"));
    }

    /// The same for the events suite and `__events_contract_tests_list`.
    #[test]
    fn the_events_macro_lists_every_events_contract_test_exactly_once() {
        let suite = [
            ("raising", include_str!("events_suite/raising.rs")),
            ("delivery", include_str!("events_suite/delivery.rs")),
        ];
        assert_eq!(written(&suite), listed("$crate::__events_contract_tests_each! { $factory;"));
    }

    /// The same for the account-lifecycle suite and `__lifecycle_contract_tests_list`.
    #[test]
    fn the_lifecycle_macro_lists_every_lifecycle_contract_test_exactly_once() {
        let suite = [
            ("links", include_str!("lifecycle_suite/links.rs")),
            ("factors", include_str!("lifecycle_suite/factors.rs")),
        ];
        assert_eq!(written(&suite), listed("$crate::__lifecycle_contract_tests_each! { $factory;"));
    }

    /// Each macro expands to functions named after the tests alone, so the suites can be
    /// run in one test file only if no name is in two of them, nor twice in one.
    #[test]
    fn no_test_name_is_used_twice_across_the_suites() {
        let mut names: Vec<String> = listed("$crate::__contract_tests_each! { $factory;")
            .iter()
            .chain(&listed("$crate::__catalog_contract_tests_each! { $factory;"))
            .chain(&listed("$crate::__orders_contract_tests_each! { $factory;"))
            .chain(&listed("$crate::__events_contract_tests_each! { $factory;"))
            .chain(&listed("$crate::__lifecycle_contract_tests_each! { $factory;"))
            .map(|entry| name(entry).to_owned())
            .collect();
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count, "a test name is used twice");
    }
}
