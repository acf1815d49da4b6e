//! The catalogue: products, categories, likes and reviews, with their value objects and
//! the listing's filters and sort orders.

pub use crate::ids::{CategoryId, ProductId, ReviewId};
use crate::permission::{Permission, PermissionSet};
use crate::text::free_text;
use crate::{UserId, ValidationError};
use chrono::{DateTime, Utc};
use std::str::FromStr;

fn bounded_text(raw: &str, min: usize, max: usize) -> Result<String, ValidationError> {
    let trimmed = raw.trim();
    let chars = trimmed.chars().count();
    if chars < min {
        return Err(if min == 1 { ValidationError::Empty } else { ValidationError::TooShort { min } });
    }
    if chars > max {
        return Err(ValidationError::TooLong { max });
    }
    Ok(trimmed.to_owned())
}

/// A name shown in lists and mails: as `bounded_text`, and free of control characters
/// (newlines, NUL, escape sequences, bidi overrides stay out of one-line names), as user names are.
fn bounded_name(raw: &str, min: usize, max: usize) -> Result<String, ValidationError> {
    let name = bounded_text(raw, min, max)?;
    if name.chars().any(char::is_control) {
        return Err(ValidationError::Other("must not contain control characters".into()));
    }
    Ok(name)
}

/// A product's name: trimmed, 1..=200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductName(String);

impl ProductName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        bounded_name(raw, 1, 200).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product's description: free text of at most 5000 characters (may be empty).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description(String);

impl Description {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        free_text(raw, 5000).map(|text| Self(text.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn bounded_int(value: i64, min: i64, max: i64) -> Result<i64, ValidationError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ValidationError::Other(format!("must be between {min} and {max}")))
    }
}

/// A price in minor units: 0..=100,000,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PriceCents(i64);

impl PriceCents {
    pub const MAX: i64 = 100_000_000;
    pub fn parse(value: i64) -> Result<Self, ValidationError> {
        bounded_int(value, 0, Self::MAX).map(Self)
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

/// Units in stock: 0..=1,000,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stock(i64);

impl Stock {
    pub const MAX: i64 = 1_000_000;
    pub fn parse(value: i64) -> Result<Self, ValidationError> {
        bounded_int(value, 0, Self::MAX).map(Self)
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

/// A category's name: trimmed, 1..=100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryName(String);

impl CategoryName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        bounded_name(raw, 1, 100).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A URL slug: 1..=100 of `[a-z0-9-]`, no leading, trailing or doubled `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let valid = (1..=100).contains(&raw.len())
            && raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !raw.starts_with('-')
            && !raw.ends_with('-')
            && !raw.contains("--");
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::Other(
                "must be 1..=100 lowercase letters, digits and single hyphens, not at either end".into(),
            ))
        }
    }

    /// Derives a slug from a name: ASCII-folds common Latin letters, lower-cases, and joins
    /// the alphanumeric runs with `-`. Falls back to `category` for names with no such run.
    pub fn from_name(name: &str) -> Self {
        let mut slug = String::new();
        let mut pending_dash = false;
        for c in name.chars().flat_map(fold_latin) {
            if c.is_ascii_alphanumeric() {
                if pending_dash && !slug.is_empty() {
                    slug.push('-');
                }
                pending_dash = false;
                slug.push(c.to_ascii_lowercase());
            } else {
                pending_dash = true;
            }
            if slug.len() >= 90 {
                break;
            }
        }
        let slug = slug.trim_end_matches('-').to_owned();
        if slug.is_empty() { Self("category".into()) } else { Self(slug) }
    }

    /// This slug with a numeric suffix (`shoes-2`), to make a derived slug unique.
    pub fn with_suffix(&self, n: u32) -> Self {
        Self(format!("{}-{n}", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn fold_latin(c: char) -> Vec<char> {
    let folded: &str = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => "a",
        'æ' | 'Æ' => "ae",
        'ç' | 'Ç' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => "i",
        'ñ' | 'Ñ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => "o",
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => "u",
        'ý' | 'ÿ' | 'Ý' => "y",
        'ß' => "ss",
        '&' => " and ",
        other => return vec![other],
    };
    folded.chars().collect()
}

/// A star rating: 1..=5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rating(u8);

impl Rating {
    pub fn parse(value: i64) -> Result<Self, ValidationError> {
        bounded_int(value, 1, 5).map(|v| Self(v as u8))
    }
    pub fn get(self) -> u8 {
        self.0
    }
}

/// A review's text: free text of at most 2000 characters (may be empty).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReviewBody(String);

impl ReviewBody {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        free_text(raw, 2000).map(|text| Self(text.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A category as shown on a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryRef {
    pub id: CategoryId,
    pub name: String,
    pub slug: String,
}

/// A category with the number of products linked to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub id: CategoryId,
    pub name: String,
    pub slug: String,
    pub product_count: u64,
}

/// A product as a given viewer sees it (`liked_by_me` depends on the viewer).
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub id: ProductId,
    pub owner_id: UserId,
    pub name: String,
    pub description: String,
    pub price_cents: i64,
    pub stock: i64,
    /// Ordered by name.
    pub categories: Vec<CategoryRef>,
    pub like_count: u64,
    pub review_count: u64,
    /// The mean rating rounded to one decimal; `None` without reviews.
    pub rating_avg: Option<f64>,
    pub liked_by_me: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The mean of `count` ratings summing to `sum`, rounded half away from zero to one decimal.
pub fn rating_average(sum: i64, count: i64) -> Option<f64> {
    if count <= 0 {
        return None;
    }
    // Integer arithmetic first, so every adapter rounds identically: tenths = round(10*sum/count).
    let tenths = (20 * sum + count) / (2 * count);
    Some(tenths as f64 / 10.0)
}

/// A review's author as shown on the review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewAuthor {
    pub id: UserId,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    pub id: ReviewId,
    pub product_id: ProductId,
    pub author: ReviewAuthor,
    pub rating: u8,
    pub body: String,
    pub verified_purchase: bool,
    /// The revision of the text: 1 when written, one more each time an edit changes the
    /// body. A moderation verdict is for one revision (`crate::moderation::verdict_outcome`).
    pub revision: i64,
    /// Whether it is shown, and why; see `crate::moderation::ReviewViewer` for who sees it.
    pub moderation: crate::moderation::ReviewModeration,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Who is looking at reviews: anonymous, a user, or a moderator (a holder of
/// `reviews:moderate`). Whom moderation hides a review from, and who sees a review's
/// `moderation`, is said here once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReviewViewer {
    pub user: Option<UserId>,
    pub moderator: bool,
}

impl ReviewViewer {
    /// An anonymous caller.
    pub const PUBLIC: ReviewViewer = ReviewViewer { user: None, moderator: false };

    /// A signed-in user holding `permissions`.
    pub fn user(user: UserId, permissions: &PermissionSet) -> Self {
        Self { user: Some(user), moderator: permissions.contains(Permission::ReviewsModerate) }
    }

    fn is_author(&self, review: &Review) -> bool {
        self.user == Some(review.author.id)
    }

    /// Whether a product's review list shows `review` to this viewer: a public review, or
    /// the viewer's own whatever its status. (Moderators find hidden reviews in their
    /// queue, not among the product's reviews.)
    pub fn lists(&self, review: &Review) -> bool {
        review.moderation.status.is_public() || self.is_author(review)
    }

    /// Whether the viewer may read `review` by its id: a public review, its author, or a
    /// moderator. Anyone else is told it does not exist.
    pub fn sees(&self, review: &Review) -> bool {
        self.lists(review) || self.moderator
    }

    /// Whether the review is shown to this viewer with its `moderation`: to its author and
    /// to moderators.
    pub fn sees_moderation(&self, review: &Review) -> bool {
        self.moderator || self.is_author(review)
    }
}

/// What the product listing can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProductSortKey {
    CreatedAt,
    Price,
    Name,
    Likes,
    Rating,
}

/// A sort order of the product listing. Ties are broken by id in the same direction, so
/// the order is total and pages never overlap; products without a rating sort last both
/// ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProductSort {
    pub key: ProductSortKey,
    pub descending: bool,
}

impl Default for ProductSort {
    fn default() -> Self {
        Self { key: ProductSortKey::CreatedAt, descending: true }
    }
}

impl FromStr for ProductSort {
    type Err = ValidationError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let (descending, name) = match raw.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        let key = match name {
            "created_at" => ProductSortKey::CreatedAt,
            "price" => ProductSortKey::Price,
            "name" => ProductSortKey::Name,
            "likes" => ProductSortKey::Likes,
            "rating" => ProductSortKey::Rating,
            _ => {
                return Err(ValidationError::Other(
                    "must be one of created_at, price, name, likes, rating, optionally prefixed with -".into(),
                ));
            }
        };
        Ok(Self { key, descending })
    }
}

/// Filters of the product listing; all optional, combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductFilter {
    /// Case-insensitive substring of the name or the description, matched as plain text.
    pub q: Option<String>,
    pub category: Option<String>,
    pub owner_id: Option<UserId>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub in_stock: bool,
}

impl ProductFilter {
    /// The longest search text (`q`), in characters: a longer one is refused, not searched.
    pub const MAX_QUERY_CHARS: usize = 200;

    /// The reference semantics of the filter, which every adapter must match.
    pub fn matches(&self, product: &Product) -> bool {
        let q_ok = self.q.as_deref().is_none_or(|q| {
            let q = q.to_lowercase();
            product.name.to_lowercase().contains(&q) || product.description.to_lowercase().contains(&q)
        });
        q_ok && self.category.as_deref().is_none_or(|slug| product.categories.iter().any(|c| c.slug == slug))
            && self.owner_id.is_none_or(|owner| product.owner_id == owner)
            && self.min_price.is_none_or(|min| product.price_cents >= min)
            && self.max_price.is_none_or(|max| product.price_cents <= max)
            && (!self.in_stock || product.stock > 0)
    }
}

/// A product's value of the key a listing is sorted by, as the order compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortValue {
    CreatedAt(DateTime<Utc>),
    Price(i64),
    Name(String),
    Likes(u64),
    /// The one-decimal average in tenths (what the order compares); `None` when unrated.
    Rating(Option<i64>),
}

/// A place in a sorted listing: the sort key value and id of a product. A keyset page
/// starts right after it, so a walk from page to page never repeats or skips a product
/// that exists throughout, whatever is inserted or deleted meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductPosition {
    pub value: SortValue,
    pub id: ProductId,
}

/// The tenths of a one-decimal average (`rating_average` makes them exactly).
fn tenths(average: f64) -> i64 {
    (average * 10.0).round() as i64
}

impl ProductSort {
    /// Where `product` stands in this order.
    pub fn position_of(&self, product: &Product) -> ProductPosition {
        let value = match self.key {
            ProductSortKey::CreatedAt => SortValue::CreatedAt(product.created_at),
            ProductSortKey::Price => SortValue::Price(product.price_cents),
            ProductSortKey::Name => SortValue::Name(product.name.clone()),
            ProductSortKey::Likes => SortValue::Likes(product.like_count),
            ProductSortKey::Rating => SortValue::Rating(product.rating_avg.map(tenths)),
        };
        ProductPosition { value, id: product.id }
    }

    /// The reference order of two positions of this sort, which every adapter must match:
    /// names by code point, unrated last both ways, ties broken by id in the same
    /// direction (so the order is total and pages never overlap). Values of another key
    /// than this sort's compare by key, which keeps the order total.
    pub fn compare_positions(&self, a: &ProductPosition, b: &ProductPosition) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let primary = match (&a.value, &b.value) {
            (SortValue::CreatedAt(x), SortValue::CreatedAt(y)) => x.cmp(y),
            (SortValue::Price(x), SortValue::Price(y)) => x.cmp(y),
            (SortValue::Name(x), SortValue::Name(y)) => x.cmp(y),
            (SortValue::Likes(x), SortValue::Likes(y)) => x.cmp(y),
            (SortValue::Rating(x), SortValue::Rating(y)) => match (x, y) {
                // Unrated last, whatever the direction.
                (None, None) => Ordering::Equal,
                (None, Some(_)) => return Ordering::Greater,
                (Some(_), None) => return Ordering::Less,
                (Some(x), Some(y)) => x.cmp(y),
            },
            (x, y) => return Self::key_rank(x).cmp(&Self::key_rank(y)),
        };
        let ordered = primary.then_with(|| a.id.cmp(&b.id));
        if self.descending { ordered.reverse() } else { ordered }
    }

    fn key_rank(value: &SortValue) -> u8 {
        match value {
            SortValue::CreatedAt(_) => 0,
            SortValue::Price(_) => 1,
            SortValue::Name(_) => 2,
            SortValue::Likes(_) => 3,
            SortValue::Rating(_) => 4,
        }
    }

    /// The reference ordering of products, which every adapter must match.
    pub fn compare(&self, a: &Product, b: &Product) -> std::cmp::Ordering {
        self.compare_positions(&self.position_of(a), &self.position_of(b))
    }

    /// Whether `product` comes strictly after `position` in this order: the reference of
    /// a keyset page, which holds the matches after its position.
    pub fn is_after(&self, product: &Product, position: &ProductPosition) -> bool {
        self.compare_positions(&self.position_of(product), position).is_gt()
    }

    /// This sort as the listing's `sort` parameter spells it (`-price`).
    pub fn as_param(&self) -> String {
        let name = match self.key {
            ProductSortKey::CreatedAt => "created_at",
            ProductSortKey::Price => "price",
            ProductSortKey::Name => "name",
            ProductSortKey::Likes => "likes",
            ProductSortKey::Rating => "rating",
        };
        if self.descending { format!("-{name}") } else { name.to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(author: u128, status: crate::moderation::ModerationStatus) -> Review {
        Review {
            id: ReviewId(uuid::Uuid::from_u128(1)),
            product_id: ProductId(uuid::Uuid::from_u128(2)),
            author: ReviewAuthor { id: UserId(uuid::Uuid::from_u128(author)), name: "A".into() },
            rating: 3,
            body: String::new(),
            verified_purchase: false,
            revision: 1,
            moderation: crate::moderation::ReviewModeration { status, ..Default::default() },
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_hidden_review_is_listed_for_its_author_alone_and_readable_by_moderators() {
        let author = ReviewViewer { user: Some(UserId(uuid::Uuid::from_u128(7))), moderator: false };
        let stranger = ReviewViewer { user: Some(UserId(uuid::Uuid::from_u128(8))), moderator: false };
        let moderator = ReviewViewer { user: Some(UserId(uuid::Uuid::from_u128(9))), moderator: true };
        for status in [crate::moderation::ModerationStatus::Flagged, crate::moderation::ModerationStatus::Rejected] {
            let hidden = review(7, status);
            assert!(author.lists(&hidden) && author.sees(&hidden) && author.sees_moderation(&hidden));
            assert!(!stranger.lists(&hidden) && !stranger.sees(&hidden) && !stranger.sees_moderation(&hidden));
            assert!(!ReviewViewer::PUBLIC.lists(&hidden) && !ReviewViewer::PUBLIC.sees(&hidden));
            assert!(!moderator.lists(&hidden) && moderator.sees(&hidden) && moderator.sees_moderation(&hidden));
        }
        let shown = review(7, crate::moderation::ModerationStatus::Approved);
        assert!(ReviewViewer::PUBLIC.lists(&shown) && stranger.sees(&shown));
        assert!(!ReviewViewer::PUBLIC.sees_moderation(&shown) && !stranger.sees_moderation(&shown));
    }

    #[test]
    fn product_and_category_names_refuse_control_characters() {
        for bad in ["Desk\nDrop table", "Desk\u{0}", "Desk\u{1b}[31m", "Tab\there", "De\u{85}sk"] {
            assert!(ProductName::parse(bad).is_err(), "{bad:?}");
            assert!(CategoryName::parse(bad).is_err(), "{bad:?}");
        }
        // Surrounding whitespace is trimmed first, and any script is fine.
        assert_eq!(ProductName::parse("  Walnut desk\n").unwrap().as_str(), "Walnut desk");
        assert!(CategoryName::parse("Möbel & Bücher 家具").is_ok());
    }
    use proptest::prelude::*;

    #[test]
    fn slugs_are_derived_from_names() {
        assert_eq!(Slug::from_name("Home & Garden").as_str(), "home-and-garden");
        assert_eq!(Slug::from_name("  Crème brûlée!! ").as_str(), "creme-brulee");
        assert_eq!(Slug::from_name("日本").as_str(), "category");
        assert_eq!(Slug::from_name("Shoes").with_suffix(2).as_str(), "shoes-2");
    }

    #[test]
    fn slugs_are_validated() {
        assert!(Slug::parse("books").is_ok());
        for bad in ["", "Books", "-a", "a-", "a--b", "a b", "é"] {
            assert!(Slug::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn averages_round_half_up_to_one_decimal() {
        assert_eq!(rating_average(0, 0), None);
        assert_eq!(rating_average(9, 2), Some(4.5));
        assert_eq!(rating_average(10, 3), Some(3.3));
        assert_eq!(rating_average(11, 3), Some(3.7));
        assert_eq!(rating_average(5, 1), Some(5.0));
        assert_eq!(rating_average(13, 4), Some(3.3)); // 3.25 -> 3.3
    }

    #[test]
    fn sorts_parse_with_an_optional_minus() {
        assert_eq!(
            "-price".parse::<ProductSort>().unwrap(),
            ProductSort { key: ProductSortKey::Price, descending: true }
        );
        assert_eq!(
            "name".parse::<ProductSort>().unwrap(),
            ProductSort { key: ProductSortKey::Name, descending: false }
        );
        assert!("popularity".parse::<ProductSort>().is_err());
        assert!("--price".parse::<ProductSort>().is_err());
    }

    #[test]
    fn bounds_are_enforced() {
        assert!(PriceCents::parse(-1).is_err() && PriceCents::parse(100_000_001).is_err());
        assert!(Stock::parse(1_000_000).is_ok() && Stock::parse(1_000_001).is_err());
        assert!(Rating::parse(0).is_err() && Rating::parse(6).is_err() && Rating::parse(5).is_ok());
        assert!(ProductName::parse("  ").is_err() && ProductName::parse(&"x".repeat(201)).is_err());
        assert!(Description::parse(&"x".repeat(5001)).is_err());
        assert!(ReviewBody::parse(&"x".repeat(2001)).is_err());
    }

    fn product(id: u128, name: &str, rating_avg: Option<f64>) -> Product {
        let at = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        Product {
            id: ProductId(uuid::Uuid::from_u128(id)),
            owner_id: UserId(uuid::Uuid::nil()),
            name: name.into(),
            description: String::new(),
            price_cents: 100,
            stock: 1,
            categories: Vec::new(),
            like_count: 0,
            review_count: 0,
            rating_avg,
            liked_by_me: false,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn a_keyset_position_keeps_exactly_what_follows_it_in_the_order() {
        let products = [
            product(1, "b", Some(4.3)),
            product(2, "a", None),
            product(3, "b", Some(4.3)),
            product(4, "c", Some(1.0)),
            product(5, "a", None),
        ];
        for raw in ["name", "-name", "rating", "-rating", "created_at", "-price", "likes"] {
            let sort: ProductSort = raw.parse().unwrap();
            let mut sorted = products.to_vec();
            sorted.sort_by(|a, b| sort.compare(a, b));
            assert_eq!(sort.as_param(), raw);
            for (i, at) in sorted.iter().enumerate() {
                let position = sort.position_of(at);
                let after: Vec<_> = sorted.iter().filter(|p| sort.is_after(p, &position)).map(|p| p.id).collect();
                let expected: Vec<_> = sorted[i + 1..].iter().map(|p| p.id).collect();
                assert_eq!(after, expected, "{raw} after {i}");
            }
        }
    }

    proptest! {
        #[test]
        fn derived_slugs_always_parse(name in ".{0,120}") {
            let slug = Slug::from_name(&name);
            prop_assert!(Slug::parse(slug.as_str()).is_ok(), "{:?}", slug);
        }

        #[test]
        fn the_average_is_within_the_rating_range(ratings in proptest::collection::vec(1i64..=5, 1..50)) {
            let avg = rating_average(ratings.iter().sum(), ratings.len() as i64).unwrap();
            prop_assert!((1.0..=5.0).contains(&avg));
        }
    }
}
