//! `seed-demo`: a realistic demo catalogue (users, categories, a few hundred products,
//! likes, reviews, and orders in every status), created through the application services
//! exactly as API clients would create it, so it works on either store and obeys every rule.

use crate::settings::Settings;
use std::sync::Arc;
use storefront_app::ports::PasswordHasher;
use storefront_app::{
    AccountService, AppError, AuthService, CatalogService, ClientContext, OrderService, Principal, ProductInput,
    Registration, ReviewInput,
};
use storefront_auth::BcryptHasher;
use storefront_domain::{OrderStatus, PasswordHash, PlainPassword, ProductId, RequestedLine, RoleName, UserId};
use storefront_http::AppState;

/// The password of every demo account (development data only).
pub const DEMO_PASSWORD: &str = "storefront demo 2026";

/// Products per category of the demo catalogue (8 categories).
pub const DEMO_PRODUCTS_PER_CATEGORY: usize = 40;

/// Orders of the demo data, spread over every status.
pub const DEMO_ORDERS: usize = 60;

/// Where the demo orders end up, in turn: most are delivered, some on their way, a few
/// pending or cancelled, so that the statistics show every status.
const ORDER_PATHS: [&[OrderStatus]; 8] = [
    &[OrderStatus::Paid, OrderStatus::Shipped, OrderStatus::Delivered],
    &[],
    &[OrderStatus::Paid],
    &[OrderStatus::Paid, OrderStatus::Shipped, OrderStatus::Delivered],
    &[OrderStatus::Paid, OrderStatus::Shipped],
    &[OrderStatus::Cancelled],
    &[OrderStatus::Paid, OrderStatus::Shipped, OrderStatus::Delivered],
    &[OrderStatus::Paid, OrderStatus::Cancelled],
];

/// What `seed_demo` created.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeedSummary {
    pub users: usize,
    pub categories: usize,
    pub products: usize,
    pub likes: usize,
    pub reviews: usize,
    pub orders: usize,
}

/// The services the seeder uses.
pub struct Seeder<'a> {
    pub accounts: &'a AccountService,
    pub auth: &'a AuthService,
    pub catalog: &'a CatalogService,
    pub orders: &'a OrderService,
}

/// The demo accounts' emails, for the start-up banner.
pub fn demo_emails() -> impl Iterator<Item = &'static str> {
    USERS.iter().map(|(email, ..)| *email)
}

/// Seeds the demo data through `state`'s services, hashing the demo password once: every
/// demo account has it, and ten bcrypt rounds (five accounts, five logins) kept a debug
/// build's start waiting for seconds.
pub async fn seed_demo(settings: &Settings, state: &AppState) -> Result<SeedSummary, AppError> {
    let bcrypt = BcryptHasher::new(settings.password_pepper(), settings.auth.bcrypt_cost)?;
    let hasher: Arc<dyn PasswordHasher> = Arc::new(RememberingHasher::new(Arc::new(bcrypt)));
    let accounts = state.accounts.clone().with_hasher(Arc::clone(&hasher));
    let auth = state.auth.clone().with_hasher(hasher);
    let seeder = Seeder { accounts: &accounts, auth: &auth, catalog: &state.catalog, orders: &state.orders };
    seeder.seed_demo(DEMO_PRODUCTS_PER_CATEGORY).await
}

/// A hasher that remembers the last password it hashed and its hash: hashing that password
/// again gives the same hash, and checking it against that hash needs no bcrypt work (the
/// answer is known to be yes). Seeding only: it keeps a plain password in memory.
pub struct RememberingHasher {
    inner: Arc<dyn PasswordHasher>,
    remembered: tokio::sync::Mutex<Option<(String, PasswordHash)>>,
}

impl RememberingHasher {
    pub fn new(inner: Arc<dyn PasswordHasher>) -> Self {
        Self { inner, remembered: tokio::sync::Mutex::new(None) }
    }
}

#[async_trait::async_trait]
impl PasswordHasher for RememberingHasher {
    async fn hash(&self, password: &PlainPassword) -> Result<PasswordHash, storefront_app::ports::HashingError> {
        let mut remembered = self.remembered.lock().await;
        if let Some((plain, hash)) = remembered.as_ref()
            && plain == password.expose()
        {
            return Ok(hash.clone());
        }
        let hash = self.inner.hash(password).await?;
        *remembered = Some((password.expose().to_owned(), hash.clone()));
        Ok(hash)
    }

    async fn verify(
        &self,
        password: &PlainPassword,
        hash: Option<&PasswordHash>,
    ) -> Result<bool, storefront_app::ports::HashingError> {
        if let (Some((plain, known)), Some(hash)) = (self.remembered.lock().await.as_ref(), hash)
            && plain == password.expose()
            && known == hash
        {
            return Ok(true);
        }
        self.inner.verify(password, hash).await
    }
}

const USERS: [(&str, &str, &str); 5] = [
    ("admin@demo.storefront.test", "Dana Admin", RoleName::ADMIN),
    ("moderator@demo.storefront.test", "Milo Moderator", RoleName::MODERATOR),
    ("alice@demo.storefront.test", "Alice Archer", RoleName::USER),
    ("bob@demo.storefront.test", "Bob Baker", RoleName::USER),
    ("carol@demo.storefront.test", "Carol Chen", RoleName::USER),
];

const CATEGORIES: [(&str, &[&str]); 8] = [
    ("Books", &["Novel", "Cookbook", "Atlas", "Field Guide", "Poetry Collection", "Biography"]),
    ("Electronics", &["Headphones", "Charger", "Keyboard", "Webcam", "Speaker", "E-Reader"]),
    ("Home & Garden", &["Planter", "Watering Can", "Throw Blanket", "Lamp", "Doormat", "Vase"]),
    ("Kitchen", &["Chef's Knife", "Cast-Iron Pan", "Teapot", "Cutting Board", "Mixing Bowl", "Grinder"]),
    ("Outdoors", &["Tent", "Backpack", "Water Bottle", "Headlamp", "Hammock", "Trekking Poles"]),
    ("Toys & Games", &["Puzzle", "Board Game", "Kite", "Building Set", "Yo-Yo", "Card Deck"]),
    ("Clothing", &["Rain Jacket", "Wool Socks", "Scarf", "Beanie", "Hoodie", "Gloves"]),
    ("Office", &["Notebook", "Fountain Pen", "Desk Organizer", "Stapler", "Planner", "Monitor Stand"]),
];

const ADJECTIVES: [&str; 8] = ["Classic", "Compact", "Deluxe", "Everyday", "Handmade", "Rustic", "Modern", "Travel"];
const COLOURS: [&str; 6] = ["Oak", "Slate", "Crimson", "Sage", "Ivory", "Midnight"];

/// A small deterministic generator, so every seeded catalogue is the same.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

impl Seeder<'_> {
    /// Seeds the demo data; `Conflict` if the demo accounts exist already.
    pub async fn seed_demo(&self, products_per_category: usize) -> Result<SeedSummary, AppError> {
        let mut summary = SeedSummary::default();
        let mut principals = Vec::new();
        for (email, name, role) in USERS {
            let role = RoleName::parse(role).map_err(|e| AppError::Internal(e.to_string()))?;
            let registration =
                Registration { email: email.into(), password: PlainPassword::new(DEMO_PASSWORD), name: name.into() };
            match self.accounts.create_with_role(registration, role).await {
                Ok(_) => summary.users += 1,
                Err(AppError::EmailTaken) => {
                    return Err(AppError::Conflict(format!("the demo data is already there ({email} exists)")));
                }
                Err(e) => return Err(e),
            }
            principals.push(self.principal(email).await?);
        }

        let mut rng = Lcg(0x5EED);
        let mut product_ids = Vec::new();
        for (category_name, nouns) in CATEGORIES {
            let category = self.catalog.create_category(category_name, None).await?;
            summary.categories += 1;
            for i in 0..products_per_category {
                let noun = nouns[i % nouns.len()];
                let name = format!(
                    "{} {} {}",
                    ADJECTIVES[rng.below(ADJECTIVES.len() as u64) as usize],
                    COLOURS[rng.below(COLOURS.len() as u64) as usize],
                    noun
                );
                let owner = &principals[2 + rng.below(3) as usize];
                let price_cents = 199 + rng.below(400) as i64 * 50;
                let stock = if rng.below(10) == 0 { rng.below(6) as i64 } else { 5 + rng.below(200) as i64 };
                let input = ProductInput {
                    name: Some(name.clone()),
                    description: Some(format!(
                        "{name}: a {} {} from our {} range, built to last.",
                        ADJECTIVES[rng.below(ADJECTIVES.len() as u64) as usize].to_lowercase(),
                        noun.to_lowercase(),
                        category_name.to_lowercase()
                    )),
                    price_cents: Some(price_cents),
                    stock: Some(stock),
                    category_ids: Some(vec![category.id]),
                };
                let product = self.catalog.create_product(owner, input).await?;
                product_ids.push((product.id, product.owner_id));
                summary.products += 1;
            }
        }

        for (index, (product_id, owner_id)) in product_ids.iter().enumerate() {
            for (who, principal) in principals.iter().enumerate() {
                if rng.below(3) == 0 {
                    self.catalog.set_like(principal, *product_id, true).await?;
                    summary.likes += 1;
                }
                let may_review = principal.user.id != *owner_id && (index + who) % 4 == 0;
                if may_review {
                    let rating = 1 + (rng.below(5) as i64).max(rng.below(5) as i64);
                    let input = ReviewInput { rating: Some(rating), body: Some(review_text(rating).into()) };
                    self.catalog.create_review(principal, *product_id, input).await?;
                    summary.reviews += 1;
                }
            }
        }
        summary.orders = self.seed_orders(&principals, &product_ids, &mut rng).await?;
        Ok(summary)
    }

    /// Orders by the demo shoppers (never of their own products), each moved along one of
    /// `ORDER_PATHS`; a line the stock cannot serve any more is left out.
    async fn seed_orders(
        &self,
        principals: &[Principal],
        products: &[(ProductId, UserId)],
        rng: &mut Lcg,
    ) -> Result<usize, AppError> {
        let mut placed = 0;
        for n in 0..DEMO_ORDERS {
            let buyer = &principals[1 + n % (principals.len() - 1)];
            let mut lines: Vec<RequestedLine> = Vec::new();
            for _ in 0..1 + rng.below(3) {
                let (product_id, owner_id) = products[rng.below(products.len() as u64) as usize];
                if owner_id != buyer.user.id && lines.iter().all(|l| l.product_id != product_id) {
                    lines.push(RequestedLine { product_id, quantity: 1 + rng.below(3) as i64 });
                }
            }
            if lines.is_empty() {
                continue;
            }
            let order = match self.orders.place(buyer, lines).await {
                Ok(order) => order,
                Err(AppError::InsufficientStock(_)) => continue,
                Err(e) => return Err(e),
            };
            for &status in ORDER_PATHS[n % ORDER_PATHS.len()] {
                self.orders.set_status(order.id, status).await?;
            }
            placed += 1;
        }
        Ok(placed)
    }

    async fn principal(&self, email: &str) -> Result<Principal, AppError> {
        let client = ClientContext { user_agent: Some("storefront seed-demo".into()), ip: None };
        let tokens = self.auth.login(email, &PlainPassword::new(DEMO_PASSWORD), client).await?;
        self.auth.authenticate(&tokens.access_token).await
    }
}

fn review_text(rating: i64) -> &'static str {
    match rating {
        5 => "Excellent — exactly as described and it arrived quickly.",
        4 => "Very good, would buy again.",
        3 => "Does the job; nothing special.",
        2 => "Not great: the finish could be better.",
        _ => "Disappointing, I returned it.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts its calls; a hash is the password reversed, with a fresh salt-like suffix so
    /// that two hashes of one password differ, as bcrypt's do.
    #[derive(Default)]
    struct Counting {
        hashes: AtomicUsize,
        verifies: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl PasswordHasher for Counting {
        async fn hash(&self, password: &PlainPassword) -> Result<PasswordHash, storefront_app::ports::HashingError> {
            let n = self.hashes.fetch_add(1, Ordering::SeqCst);
            Ok(PasswordHash::new(format!("{}#{n}", password.expose().chars().rev().collect::<String>())))
        }

        async fn verify(
            &self,
            password: &PlainPassword,
            hash: Option<&PasswordHash>,
        ) -> Result<bool, storefront_app::ports::HashingError> {
            self.verifies.fetch_add(1, Ordering::SeqCst);
            let reversed: String = password.expose().chars().rev().collect();
            Ok(hash.is_some_and(|h| h.as_str().split('#').next() == Some(reversed.as_str())))
        }
    }

    #[tokio::test]
    async fn the_demo_password_is_hashed_once_and_its_hash_recognised_without_work() {
        let inner = Arc::new(Counting::default());
        let hasher = RememberingHasher::new(inner.clone());
        let demo = PlainPassword::new(DEMO_PASSWORD);
        let first = hasher.hash(&demo).await.unwrap();
        let second = hasher.hash(&demo).await.unwrap();
        assert!(first == second);
        assert_eq!(inner.hashes.load(Ordering::SeqCst), 1);
        assert!(hasher.verify(&demo, Some(&first)).await.unwrap());
        assert_eq!(inner.verifies.load(Ordering::SeqCst), 0);

        // Anything else goes to the real hasher, which decides.
        assert!(!hasher.verify(&PlainPassword::new("another one"), Some(&first)).await.unwrap());
        assert!(!hasher.verify(&demo, None).await.unwrap());
        assert_eq!(inner.verifies.load(Ordering::SeqCst), 2);
        let other = hasher.hash(&PlainPassword::new("another one")).await.unwrap();
        assert!(other != first);
        assert_eq!(inner.hashes.load(Ordering::SeqCst), 2);
    }
}
