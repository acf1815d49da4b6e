//! Products (`/products`, `/products/{id}`), likes (`/products/{id}/like`) and the caller's
//! liked products (`/users/me/likes`), with their DTOs.

use super::cursor::CursorKey;
use super::{Viewer, merge_errors, path_id};
use crate::bearer::Authenticated;
use crate::body::{ApiJson, integer, present, present_integer};
use crate::conditional::{Audience, IfNoneMatch, conditional_json};
use crate::error::{ApiError, FieldError, Problem};
use crate::permissions::{ProductsCreate, RequirePermission};
use crate::query::{ApiQuery, Paginated, Pagination};
use crate::responses::{
    BearerUnauthorized, JsonBodyErrors, NotFound, PermissionErrors, ServerErrors, ValidationFailed,
};
use crate::state::{API_PREFIX, AppState};
use actix_web::http::header;
use actix_web::web::{Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use storefront_app::ProductInput;
use storefront_app::ports::Page;
use storefront_domain::{
    CategoryId, CategoryRef, Product, ProductFilter, ProductId, ProductPosition, ProductSort, UserId,
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A category as shown on a product.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a70", "name": "Furniture", "slug": "furniture"}))]
pub struct ProductCategoryResponse {
    pub id: Uuid,
    #[schema(example = "Furniture")]
    pub name: String,
    #[schema(example = "furniture")]
    pub slug: String,
}

impl From<CategoryRef> for ProductCategoryResponse {
    fn from(c: CategoryRef) -> Self {
        Self { id: c.id.0, name: c.name, slug: c.slug }
    }
}

/// A product, as the caller sees it (`liked_by_me` depends on the caller).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a80",
    "owner_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59",
    "name": "Walnut desk",
    "description": "Solid walnut, 140 × 70 cm.",
    "price_cents": 49900,
    "currency": "USD",
    "stock": 12,
    "categories": [{"id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a70", "name": "Furniture", "slug": "furniture"}],
    "like_count": 3,
    "review_count": 2,
    "rating_avg": 4.5,
    "liked_by_me": false,
    "created_at": "2025-01-31T09:30:00.123456Z",
    "updated_at": "2025-02-01T10:00:00.654321Z"
}))]
pub struct ProductResponse {
    pub id: Uuid,
    /// The user who created it.
    pub owner_id: Uuid,
    #[schema(example = "Walnut desk")]
    pub name: String,
    #[schema(example = "Solid walnut, 140 × 70 cm.")]
    pub description: String,
    /// The price in minor units of `currency`.
    #[schema(example = 49900)]
    pub price_cents: i64,
    /// ISO 4217, one per deployment.
    #[schema(example = "USD")]
    pub currency: String,
    #[schema(example = 12)]
    pub stock: i64,
    /// Ordered by name.
    pub categories: Vec<ProductCategoryResponse>,
    #[schema(example = 3)]
    pub like_count: u64,
    #[schema(example = 2)]
    pub review_count: u64,
    /// The mean rating, rounded half up to one decimal; `null` without reviews (always present).
    #[schema(example = 4.5, required = true)]
    pub rating_avg: Option<f64>,
    /// Whether the caller likes it; always `false` for anonymous callers.
    pub liked_by_me: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ProductResponse {
    /// The product, priced in the deployment's `currency`.
    pub fn new(p: Product, currency: &str) -> Self {
        Self {
            id: p.id.0,
            owner_id: p.owner_id.as_uuid(),
            name: p.name,
            description: p.description,
            price_cents: p.price_cents,
            currency: currency.to_owned(),
            stock: p.stock,
            categories: p.categories.into_iter().map(ProductCategoryResponse::from).collect(),
            like_count: p.like_count,
            review_count: p.review_count,
            rating_avg: p.rating_avg,
            liked_by_me: p.liked_by_me,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A page of products, priced in the deployment's `currency`.
fn product_page(page: Page<Product>, pagination: Pagination, currency: &str) -> Paginated<ProductResponse> {
    let items = page.items.into_iter().map(|p| ProductResponse::new(p, currency)).collect();
    Paginated::new(Page { items, total: page.total }, pagination)
}

/// A new product. Server-set fields (`id`, `owner_id`, `like_count`, `created_at`…) are
/// unknown fields here and answer 422.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Walnut desk",
    "description": "Solid walnut, 140 × 70 cm.",
    "price_cents": 49900,
    "stock": 12,
    "category_ids": ["0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a70"]
}))]
pub struct CreateProductRequest {
    /// 1..=200 characters after trimming.
    #[schema(
        example = "Walnut desk",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub name: String,
    /// At most 5000 characters; `""` when absent.
    #[serde(default, deserialize_with = "present")]
    #[schema(
        nullable = false,
        max_length = 5000,
        example = "Solid walnut, 140 × 70 cm.",
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
    )]
    pub description: Option<String>,
    /// Minor units of the deployment's currency, 0..=100000000.
    #[serde(deserialize_with = "integer")]
    #[schema(minimum = 0, maximum = 100_000_000, example = 49900)]
    pub price_cents: i64,
    /// Units in stock, 0..=1000000.
    #[serde(deserialize_with = "integer")]
    #[schema(minimum = 0, maximum = 1_000_000, example = 12)]
    pub stock: i64,
    /// Ids of existing categories; an unknown one answers 422 naming `category_ids`.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub category_ids: Option<Vec<Uuid>>,
}

impl From<CreateProductRequest> for ProductInput {
    fn from(r: CreateProductRequest) -> Self {
        ProductInput {
            name: Some(r.name),
            description: r.description,
            price_cents: Some(r.price_cents),
            stock: Some(r.stock),
            category_ids: r.category_ids.map(|ids| ids.into_iter().map(CategoryId::from).collect()),
        }
    }
}

/// A partial change of a product: absent fields stay as they are; `null` is refused;
/// `category_ids` replaces the whole set.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"price_cents": 44900, "stock": 8}))]
pub struct UpdateProductRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 200,
        example = "Walnut desk",
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, max_length = 5000, pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "present_integer")]
    #[schema(nullable = false, minimum = 0, maximum = 100_000_000, example = 44900)]
    pub price_cents: Option<i64>,
    #[serde(default, deserialize_with = "present_integer")]
    #[schema(nullable = false, minimum = 0, maximum = 1_000_000, example = 8)]
    pub stock: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub category_ids: Option<Vec<Uuid>>,
}

impl From<UpdateProductRequest> for ProductInput {
    fn from(r: UpdateProductRequest) -> Self {
        ProductInput {
            name: r.name,
            description: r.description,
            price_cents: r.price_cents,
            stock: r.stock,
            category_ids: r.category_ids.map(|ids| ids.into_iter().map(CategoryId::from).collect()),
        }
    }
}

/// Filters and order of the product listing. Every parameter is optional; unknown ones are
/// ignored.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductsQuery {
    /// Case-insensitive substring of the name or the description (plain text, not a pattern);
    /// at most 200 characters (longer answers 422 naming `q`).
    #[param(example = "desk", max_length = 200, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub q: Option<String>,
    /// Only products in the category with this slug.
    #[param(example = "furniture")]
    pub category: Option<String>,
    /// Only products of this owner.
    #[param(value_type = Option<Uuid>)]
    pub owner_id: Option<String>,
    /// Lowest price in cents, inclusive (an integer).
    #[param(value_type = Option<i64>, example = 1000)]
    pub min_price: Option<String>,
    /// Highest price in cents, inclusive (an integer, not below `min_price`).
    #[param(value_type = Option<i64>, example = 50000)]
    pub max_price: Option<String>,
    /// `true` keeps the products with stock left; `false` (the default) keeps all.
    #[param(value_type = Option<bool>, example = true)]
    pub in_stock: Option<String>,
    /// `created_at`, `price`, `name`, `likes` or `rating`, prefixed with `-` for descending;
    /// ties are broken by id in the same direction; unrated products come last either way.
    #[param(inline, value_type = Option<ProductSortName>, example = "-price")]
    pub sort: Option<String>,
    /// Continue a walk: the `next_cursor` of the previous page, with the same `sort` and
    /// filters (another sort or filter, or an altered cursor, answers 422 naming `cursor`),
    /// never with `offset` (422). A page by cursor costs the same however deep it is, and
    /// a walk by cursor never repeats or skips a product that exists throughout it.
    #[param(
        example = "MDE5MmY1YTQtM2MxZS03ZDJhLTliN2UtNWYxZDJjM2I0YTgwCjIwMjUtMDEtMzFUMDk6MzA6MDAuMTIzNDU2MDAwWgfnZRsWi1y7OcQ3wyiwXeY"
    )]
    pub cursor: Option<String>,
    /// Only whether it was given (`Pagination` reads its value): it excludes `cursor`.
    #[param(ignore)]
    offset: Option<String>,
}

/// What the listing asks for, parsed.
struct ListingRequest {
    filter: ProductFilter,
    sort: ProductSort,
    cursor: Option<String>,
    offset_given: bool,
}

// Documentation only (`ProductSort` parses `sort`): clients get an enum, not a free string.
/// A sort key, `-` first for descending.
#[derive(ToSchema)]
#[schema(as = ProductSort, default = "-created_at")]
#[allow(dead_code)]
enum ProductSortName {
    #[schema(rename = "created_at")]
    CreatedAt,
    #[schema(rename = "-created_at")]
    CreatedAtDescending,
    #[schema(rename = "price")]
    Price,
    #[schema(rename = "-price")]
    PriceDescending,
    #[schema(rename = "name")]
    Name,
    #[schema(rename = "-name")]
    NameDescending,
    #[schema(rename = "likes")]
    Likes,
    #[schema(rename = "-likes")]
    LikesDescending,
    #[schema(rename = "rating")]
    Rating,
    #[schema(rename = "-rating")]
    RatingDescending,
}

impl ProductsQuery {
    /// The filter and order asked for, or 422 naming every parameter that does not parse.
    fn parse(self) -> Result<ListingRequest, ApiError> {
        fn check<T>(errors: &mut Vec<FieldError>, field: &str, parsed: Result<T, String>) -> Option<T> {
            parsed.map_err(|message| errors.push(FieldError::new(field, message))).ok()
        }
        let mut errors = Vec::new();
        let integer = |raw: String| raw.trim().parse::<i64>().map_err(|_| "must be an integer (cents)".to_owned());
        let owner_id = self.owner_id.and_then(|raw| {
            let parsed = Uuid::parse_str(raw.trim()).map(UserId).map_err(|_| "must be a UUID".to_owned());
            check(&mut errors, "owner_id", parsed)
        });
        let min_price = self.min_price.and_then(|raw| check(&mut errors, "min_price", integer(raw)));
        let max_price = self.max_price.and_then(|raw| check(&mut errors, "max_price", integer(raw)));
        let in_stock = match self.in_stock.as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => check(&mut errors, "in_stock", Err("must be `true` or `false`".to_owned())).unwrap_or(false),
        };
        let sort = match self.sort {
            None => ProductSort::default(),
            Some(raw) => {
                let parsed = raw.parse::<ProductSort>().map_err(|e| e.to_string());
                check(&mut errors, "sort", parsed).unwrap_or_default()
            }
        };
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        // An empty search or category is no filter at all (`?q=` from an empty search box).
        let non_empty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
        let filter = ProductFilter {
            q: non_empty(self.q),
            category: non_empty(self.category),
            owner_id,
            min_price,
            max_price,
            in_stock,
        };
        Ok(ListingRequest { filter, sort, cursor: self.cursor, offset_given: self.offset.is_some() })
    }
}

/// One page of products, by offset or by cursor.
#[derive(Serialize, ToSchema)]
pub struct ProductListPage {
    /// This page's products.
    pub items: Vec<ProductResponse>,
    /// How many products match (every page together, whatever the cursor).
    #[schema(example = 42)]
    pub total: u64,
    /// The `limit` applied.
    #[schema(example = 20)]
    pub limit: u32,
    /// The `offset` applied; `null` when the page was asked for by `cursor`.
    #[schema(example = 0, required = true)]
    pub offset: Option<u64>,
    /// Where the next page starts (pass it as `?cursor=` with the same `sort` and
    /// filters); `null` on the last page.
    #[schema(
        example = "MDE5MmY1YTQtM2MxZS03ZDJhLTliN2UtNWYxZDJjM2I0YTgwCjIwMjUtMDEtMzFUMDk6MzA6MDAuMTIzNDU2MDAwWgfnZRsWi1y7OcQ3wyiwXeY",
        required = true
    )]
    pub next_cursor: Option<String>,
}

/// The keyset position `?cursor=` names for this listing, or 422 naming `cursor` (and
/// `offset`, when both are given).
fn position(request: &ListingRequest, key: &CursorKey) -> Result<Option<ProductPosition>, ApiError> {
    let Some(cursor) = &request.cursor else { return Ok(None) };
    if request.offset_given {
        let message = "must not be combined with `offset`: a cursor says where the page starts";
        return Err(ApiError::Validation(vec![
            FieldError::new("cursor", message),
            FieldError::new("offset", "must not be combined with `cursor`"),
        ]));
    }
    key.open(request.sort, &request.filter, cursor).map(Some).ok_or_else(|| {
        ApiError::Validation(vec![FieldError::new(
            "cursor",
            "is not a cursor of this listing: it was altered, or made for another sort or other filters",
        )])
    })
}

/// List products
///
/// Pages go by `offset` or, for walks through long listings, by `cursor`: every page
/// carries `next_cursor` (null on the last page), a keyset position whose page costs the
/// same however deep it is and which never repeats or skips a product that exists
/// throughout the walk; a deep `offset` costs more the deeper it goes. The answer carries a
/// weak `ETag`, and `If-None-Match` naming it answers 304.
///
/// Anyone may list products. With a valid bearer token `liked_by_me` says whether the
/// caller likes each product; without one it is always `false`; a token that is sent but not
/// valid answers 401 rather than being ignored. Filters combine with AND; `min_price` greater
/// than `max_price` answers 422. The default order is `-created_at` (newest first).
#[utoipa::path(
    get,
    path = "/api/v1/products",
    tag = "products",
    operation_id = "list_products",
    security((), ("oauth2" = []), ("bearer" = [])),
    params(ProductsQuery, Pagination, IfNoneMatch),
    responses(
        (status = 200, description = "One page of products", body = ProductListPage,
            headers(
                ("ETag" = String, description = "Weak tag of this body: send it back in `If-None-Match`"),
                ("Cache-Control" = String, description = "`public, max-age=<catalog.cache_max_age_secs>` when \
                    anonymous; `private` with a bearer token (`liked_by_me` is the caller's)"),
                ("Vary" = String, description = "`Authorization`: the body depends on the caller"),
            ),
            example = json!({
                "items": [{
                    "id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a80",
                    "owner_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59",
                    "name": "Walnut desk",
                    "description": "Solid walnut, 140 × 70 cm.",
                    "price_cents": 49900,
                    "currency": "USD",
                    "stock": 12,
                    "categories": [{"id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a70", "name": "Furniture", "slug": "furniture"}],
                    "like_count": 3,
                    "review_count": 2,
                    "rating_avg": 4.5,
                    "liked_by_me": false,
                    "created_at": "2025-01-31T09:30:00.123456Z",
                    "updated_at": "2025-02-01T10:00:00.654321Z"
                }],
                "total": 1,
                "limit": 20,
                "offset": 0,
                "next_cursor": null
            })),
        (status = 304, description = "`If-None-Match` names the current page: no body",
            headers(
                ("ETag" = String, description = "The tag that matched"),
                ("Cache-Control" = String, description = "As on the 200"),
                ("Vary" = String, description = "`Authorization`"),
            )),
        (status = 401, description = "A bearer token was sent but is invalid, expired or revoked (`invalid_token`); \
            without a token the list is served anonymously",
            body = Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"storefront\", error=\"invalid_token\"`")),
            example = json!({
                "type": "about:blank", "title": "Unauthorized", "status": 401,
                "detail": "The token is invalid, expired or revoked.", "code": "invalid_token",
                "request_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59"
            })),
        (status = 422, response = ValidationFailed),
        ServerErrors,
    )
)]
pub async fn list_products(
    req: HttpRequest,
    viewer: Viewer,
    state: Data<AppState>,
    query: Result<ApiQuery<ProductsQuery>, ApiError>,
    pagination: Result<Pagination, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let (request, pagination) = merge_errors(query.and_then(|ApiQuery(q)| q.parse()), pagination)?;
    let after = position(&request, &state.config.cursor_key)?;
    let mut page = pagination.page();
    if after.is_some() {
        page.offset = 0;
    }
    let ListingRequest { filter, sort, .. } = request;
    let listing = state.catalog.list_products(filter.clone(), sort, page, after.clone(), viewer.principal()).await?;
    let currency = &state.config.currency;
    let body = ProductListPage {
        items: listing.items.into_iter().map(|p| ProductResponse::new(p, currency)).collect(),
        total: listing.total,
        limit: page.limit,
        offset: if after.is_some() { None } else { Some(page.offset) },
        next_cursor: listing.next.map(|next| state.config.cursor_key.seal(sort, &filter, &next)),
    };
    let audience = Audience::Caller { authenticated: viewer.principal().is_some() };
    conditional_json(&req, &body, audience, state.config.catalog_cache_max_age_secs)
}

/// Create a product
///
/// The caller becomes its owner. An unknown category id answers 422 naming `category_ids`;
/// server-set fields (`id`, `owner_id`, `like_count`, `created_at`…) answer 422 naming them.
#[utoipa::path(
    post,
    path = "/api/v1/products",
    tag = "products",
    operation_id = "create_product",
    security(("oauth2" = []), ("bearer" = [])),
    request_body = CreateProductRequest,
    responses(
        (status = 201, description = "The product was created", body = ProductResponse,
            headers(("Location" = String, description = "`/api/v1/products/{id}`"))),
        PermissionErrors,
        JsonBodyErrors,
        ServerErrors,
    )
)]
pub async fn create_product(
    caller: RequirePermission<ProductsCreate>,
    state: Data<AppState>,
    body: Result<ApiJson<CreateProductRequest>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let ApiJson(body) = body?;
    let product = state.catalog.create_product(caller.principal(), body.into()).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("{API_PREFIX}/products/{}", product.id)))
        .json(ProductResponse::new(product, &state.config.currency)))
}

/// A product
///
/// The answer carries a weak `ETag`; `If-None-Match` naming it answers 304 with no body.
/// With a valid bearer token `liked_by_me` says whether the caller likes it; a token that is
/// sent but not valid answers 401.
#[utoipa::path(
    get,
    path = "/api/v1/products/{id}",
    tag = "products",
    operation_id = "get_product",
    security((), ("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The product's id"), IfNoneMatch),
    responses(
        (status = 200, description = "The product", body = ProductResponse,
            headers(
                ("ETag" = String, description = "Weak tag of this body: send it back in `If-None-Match`"),
                ("Cache-Control" = String, description = "`public, max-age=<catalog.cache_max_age_secs>` when \
                    anonymous; `private` with a bearer token (`liked_by_me` is the caller's)"),
                ("Vary" = String, description = "`Authorization`: the body depends on the caller"),
            )),
        (status = 304, description = "`If-None-Match` names the product as it is: no body",
            headers(
                ("ETag" = String, description = "The tag that matched"),
                ("Cache-Control" = String, description = "As on the 200"),
                ("Vary" = String, description = "`Authorization`"),
            )),
        (status = 401, description = "A bearer token was sent but is invalid, expired or revoked (`invalid_token`)",
            body = Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"storefront\", error=\"invalid_token\"`")),
            example = json!({
                "type": "about:blank", "title": "Unauthorized", "status": 401,
                "detail": "The token is invalid, expired or revoked.", "code": "invalid_token",
                "request_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59"
            })),
        (status = 404, response = NotFound),
        ServerErrors,
    )
)]
pub async fn get_product(
    req: HttpRequest,
    viewer: Viewer,
    state: Data<AppState>,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let product = state.catalog.product(path_id(&id)?, viewer.principal()).await?;
    let body = ProductResponse::new(product, &state.config.currency);
    let audience = Audience::Caller { authenticated: viewer.principal().is_some() };
    conditional_json(&req, &body, audience, state.config.catalog_cache_max_age_secs)
}

/// Change a product
///
/// Only the fields present change; `category_ids` replaces the whole set. Unknown fields and
/// explicit `null`s answer 422.
#[utoipa::path(
    patch,
    path = "/api/v1/products/{id}",
    tag = "products",
    operation_id = "update_product",
    security(("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The product's id")),
    request_body = UpdateProductRequest,
    responses(
        (status = 200, description = "The changed product", body = ProductResponse),
        PermissionErrors,
        (status = 404, response = NotFound),
        JsonBodyErrors,
        ServerErrors,
    )
)]
pub async fn update_product(
    Authenticated(caller): Authenticated,
    state: Data<AppState>,
    id: Path<String>,
    body: Result<ApiJson<UpdateProductRequest>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let id: ProductId = path_id(&id)?;
    let ApiJson(body) = body?;
    let product = state.catalog.update_product(&caller, id, body.into()).await?;
    Ok(HttpResponse::Ok().json(ProductResponse::new(product, &state.config.currency)))
}

/// Delete a product
///
/// Its likes, reviews and category links go with it; orders that bought it keep their
/// snapshot.
#[utoipa::path(
    delete,
    path = "/api/v1/products/{id}",
    tag = "products",
    operation_id = "delete_product",
    security(("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The product's id")),
    responses(
        (status = 204, description = "The product was deleted"),
        PermissionErrors,
        (status = 404, response = NotFound),
        ServerErrors,
    )
)]
pub async fn delete_product(
    Authenticated(caller): Authenticated,
    state: Data<AppState>,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.catalog.delete_product(&caller, path_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Like a product
///
/// Idempotent: liking a product one already likes changes nothing.
#[utoipa::path(
    put,
    path = "/api/v1/products/{id}/like",
    tag = "products",
    operation_id = "like_product",
    security(("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The product's id")),
    responses(
        (status = 204, description = "The caller likes the product"),
        (status = 401, response = BearerUnauthorized),
        (status = 404, response = NotFound),
        ServerErrors,
    )
)]
pub async fn like_product(
    Authenticated(caller): Authenticated,
    state: Data<AppState>,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.catalog.set_like(&caller, path_id(&id)?, true).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Stop liking a product
///
/// Idempotent: unliking a product one does not like changes nothing.
#[utoipa::path(
    delete,
    path = "/api/v1/products/{id}/like",
    tag = "products",
    operation_id = "unlike_product",
    security(("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The product's id")),
    responses(
        (status = 204, description = "The caller does not like the product"),
        (status = 401, response = BearerUnauthorized),
        (status = 404, response = NotFound),
        ServerErrors,
    )
)]
pub async fn unlike_product(
    Authenticated(caller): Authenticated,
    state: Data<AppState>,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.catalog.set_like(&caller, path_id(&id)?, false).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The products the caller likes
///
/// Most recently liked first; `liked_by_me` is `true` on every item.
#[utoipa::path(
    get,
    path = "/api/v1/users/me/likes",
    tag = "products",
    operation_id = "my_likes",
    security(("oauth2" = []), ("bearer" = [])),
    params(Pagination),
    responses(
        (status = 200, description = "One page of the products the caller likes", body = Paginated<ProductResponse>),
        (status = 401, response = BearerUnauthorized),
        (status = 422, response = ValidationFailed),
        ServerErrors,
    )
)]
pub async fn my_likes(
    Authenticated(caller): Authenticated,
    state: Data<AppState>,
    pagination: Result<Pagination, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let pagination = pagination?;
    let page = state.catalog.my_likes(&caller, pagination.page()).await?;
    Ok(HttpResponse::Ok().json(product_page(page, pagination, &state.config.currency)))
}
