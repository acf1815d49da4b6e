//! Test data builders of the account lifecycle's contract tests.

use crate::LifecycleStores;
use crate::suite::support::new_user;
use storefront_domain::User;

pub(crate) async fn create_user(stores: &LifecycleStores, raw_email: &str) -> User {
    stores.users.create(new_user(raw_email)).await.unwrap()
}
