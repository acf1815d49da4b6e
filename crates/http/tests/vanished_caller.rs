//! A caller whose account is deleted while its request runs (a concurrent
//! `DELETE /users/{id}`) gets what a deleted user gets, 401 `invalid_token`, not a 404 for
//! its own account. Found by schemathesis running two workers at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::test::init_service;
use common::*;
use storefront_app::{AppError, ClientContext, ProfileUpdate};
use storefront_domain::PlainPassword;
use storefront_http::{ApiError, build_app};

#[actix_web::test]
async fn the_callers_own_account_deleted_mid_request_reads_as_an_invalid_token() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    // Authenticated first, as the extractor does; then the account goes.
    let caller = principal(&state, &tokens.access).await;
    state.user_admin.delete(&caller, caller.user.id).await.unwrap();

    let update = ProfileUpdate { name: Some("Ada King".into()), email: None };
    let outcomes = [
        state.accounts.update_profile(&caller, update).await.map(drop),
        state
            .accounts
            .change_password(
                &caller,
                &PlainPassword::new(PASSWORD.to_owned()),
                &PlainPassword::new("another long passphrase".to_owned()),
                &ClientContext::default(),
            )
            .await,
        state.user_admin.delete(&caller, caller.user.id).await,
    ];
    for outcome in outcomes {
        assert!(matches!(outcome, Err(AppError::InvalidToken)), "{outcome:?}");
        let (status, code) = ApiError::from(outcome.unwrap_err()).status_and_code();
        assert_eq!((status.as_u16(), code), (401, "invalid_token"));
    }
}
