//! The account life cycle's contract tests: link tokens (stored by hash, single use,
//! expiring, purged; the changes they make all or nothing) and the second factor (pending
//! and enabled secrets, each time step once, recovery codes once, turning it off).

pub mod factors;
pub mod links;

use crate::LifecycleStores;
use crate::suite::support::new_user;
use storefront_domain::User;

pub(crate) async fn create_user(stores: &LifecycleStores, raw_email: &str) -> User {
    stores.users.create(new_user(raw_email)).await.unwrap()
}
