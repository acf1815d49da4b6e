//! The product listing's cursors (`?cursor=`, `next_cursor`): a keyset position
//! (`ProductPosition`) as an opaque base64url token, signed with HMAC-SHA-256 under a key
//! derived from the server's secret and bound to the listing's sort and filter. A cursor
//! that is malformed, altered, forged, or made for another sort or filter is refused (422
//! naming `cursor`) instead of starting a page at an arbitrary place.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use storefront_domain::{ProductFilter, ProductId, ProductPosition, ProductSort, ProductSortKey, SortValue};
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the signature kept in a cursor: 128 bits, beyond guessing.
const TAG_BYTES: usize = 16;

/// What separates the key derivation of cursors from every other use of the secret.
const KEY_LABEL: &[u8] = b"storefront/v1/product-list-cursor";

/// The key cursors are signed with.
#[derive(Clone)]
pub struct CursorKey([u8; 32]);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(<redacted>)")
    }
}

impl CursorKey {
    /// The key derived from the server's secret (the JWT secret): every instance sharing
    /// the secret accepts the others' cursors, and a cursor says nothing about the secret.
    pub fn derive(secret: &[u8]) -> Self {
        Self(mac(secret).chain_update(KEY_LABEL).finalize().into_bytes().into())
    }

    /// A key of this process only (tests, and development without a configured secret).
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(Uuid::new_v4().as_bytes());
        Self(key)
    }

    /// The cursor of `position` in the listing `sort` and `filter` select.
    pub fn seal(&self, sort: ProductSort, filter: &ProductFilter, position: &ProductPosition) -> String {
        let payload = payload(position);
        let tag = self.tag(sort, filter, payload.as_bytes());
        let mut token = payload.into_bytes();
        token.extend_from_slice(&tag[..TAG_BYTES]);
        URL_SAFE_NO_PAD.encode(token)
    }

    /// The position a cursor made by `seal` for the same sort and filter holds; `None` for
    /// anything else.
    pub fn open(&self, sort: ProductSort, filter: &ProductFilter, cursor: &str) -> Option<ProductPosition> {
        let token = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        let split = token.len().checked_sub(TAG_BYTES)?;
        let (payload, tag) = token.split_at(split);
        self.context(sort, filter).chain_update(payload).verify_truncated_left(tag).ok()?;
        parse(sort, std::str::from_utf8(payload).ok()?)
    }

    fn tag(&self, sort: ProductSort, filter: &ProductFilter, payload: &[u8]) -> [u8; 32] {
        self.context(sort, filter).chain_update(payload).finalize().into_bytes().into()
    }

    /// The MAC primed with what the cursor is bound to: its format, the sort and the filter.
    fn context(&self, sort: ProductSort, filter: &ProductFilter) -> HmacSha256 {
        let filter = serde_json::json!([
            filter.q,
            filter.category,
            filter.owner_id.map(|o| o.as_uuid()),
            filter.min_price,
            filter.max_price,
            filter.in_stock
        ]);
        mac(&self.0)
            .chain_update(b"v1\0")
            .chain_update(sort.as_param().as_bytes())
            .chain_update(b"\0")
            .chain_update(filter.to_string().as_bytes())
            .chain_update(b"\0")
    }
}

fn mac(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
}

/// `<id>\n<value>`: the value last, as a name may hold anything but control characters.
fn payload(position: &ProductPosition) -> String {
    let value = match &position.value {
        SortValue::CreatedAt(at) => at.to_rfc3339_opts(SecondsFormat::Nanos, true),
        SortValue::Price(cents) => cents.to_string(),
        SortValue::Name(name) => name.clone(),
        SortValue::Likes(likes) => likes.to_string(),
        SortValue::Rating(tenths) => tenths.map(|t| t.to_string()).unwrap_or_default(),
    };
    format!("{}\n{value}", position.id.0)
}

fn parse(sort: ProductSort, payload: &str) -> Option<ProductPosition> {
    let (id, value) = payload.split_once('\n')?;
    let id = ProductId(Uuid::parse_str(id).ok()?);
    let value = match sort.key {
        ProductSortKey::CreatedAt => {
            SortValue::CreatedAt(DateTime::parse_from_rfc3339(value).ok()?.with_timezone(&Utc))
        }
        ProductSortKey::Price => SortValue::Price(value.parse().ok()?),
        ProductSortKey::Name => SortValue::Name(value.to_owned()),
        ProductSortKey::Likes => SortValue::Likes(value.parse().ok()?),
        ProductSortKey::Rating if value.is_empty() => SortValue::Rating(None),
        ProductSortKey::Rating => SortValue::Rating(Some(value.parse().ok()?)),
    };
    Some(ProductPosition { value, id })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by(raw: &str) -> ProductSort {
        raw.parse().unwrap()
    }

    fn positions() -> Vec<(ProductSort, ProductPosition)> {
        let id = ProductId(Uuid::now_v7());
        let at = DateTime::parse_from_rfc3339("2026-12-06T18:30:00.123456789Z").unwrap().with_timezone(&Utc);
        vec![
            (by("-created_at"), ProductPosition { value: SortValue::CreatedAt(at), id }),
            (by("price"), ProductPosition { value: SortValue::Price(49_900), id }),
            (by("-name"), ProductPosition { value: SortValue::Name("Desk\u{e9} 50% \"x\"".into()), id }),
            (by("likes"), ProductPosition { value: SortValue::Likes(7), id }),
            (by("rating"), ProductPosition { value: SortValue::Rating(Some(43)), id }),
            (by("-rating"), ProductPosition { value: SortValue::Rating(None), id }),
        ]
    }

    #[test]
    fn a_cursor_gives_back_its_position_for_the_same_sort_and_filter() {
        let key = CursorKey::random();
        let filter = ProductFilter { category: Some("books".into()), ..Default::default() };
        for (sort, position) in positions() {
            let cursor = key.seal(sort, &filter, &position);
            assert!(cursor.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{cursor}");
            assert_eq!(key.open(sort, &filter, &cursor), Some(position));
        }
    }

    #[test]
    fn a_cursor_is_refused_when_altered_foreign_or_signed_with_another_key() {
        let key = CursorKey::derive(b"a secret of at least thirty-two bytes..");
        let filter = ProductFilter::default();
        for (sort, position) in positions() {
            let cursor = key.seal(sort, &filter, &position);
            let mut bytes = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
            for i in 0..bytes.len() {
                bytes[i] ^= 1;
                assert_eq!(key.open(sort, &filter, &URL_SAFE_NO_PAD.encode(&bytes)), None, "byte {i} flipped");
                bytes[i] ^= 1;
            }
            let other_sort = if sort.descending { by("price") } else { by("-price") };
            assert_eq!(key.open(other_sort, &filter, &cursor), None, "another sort");
            let narrower = ProductFilter { in_stock: true, ..Default::default() };
            assert_eq!(key.open(sort, &narrower, &cursor), None, "another filter");
            assert_eq!(CursorKey::random().open(sort, &filter, &cursor), None, "another key");
            for junk in ["", "x", "!!!!", &cursor[..cursor.len() - 2], &format!("{cursor}AA")] {
                assert_eq!(key.open(sort, &filter, junk), None, "{junk:?}");
            }
        }
    }
}
