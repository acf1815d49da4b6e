//! Categories (`/categories`, `/categories/{id}`): a small complete collection, listed as a
//! plain array, managed by holders of `categories:manage`; with their DTOs.

use super::path_id;
use crate::body::{ApiJson, present};
use crate::conditional::{Audience, IfNoneMatch, conditional_json};
use crate::error::{ApiError, Problem};
use crate::permissions::{CategoriesManage, RequirePermission};
use crate::responses::{JsonBodyErrors, NotFound, PermissionErrors, ServerErrors};
use crate::state::{API_PREFIX, AppState};
use actix_web::http::header;
use actix_web::web::{Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use storefront_domain::{Category, CategoryId};
use utoipa::ToSchema;
use uuid::Uuid;

/// A category with the number of products linked to it.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a70",
    "name": "Furniture",
    "slug": "furniture",
    "product_count": 12
}))]
pub struct CategoryResponse {
    pub id: Uuid,
    #[schema(example = "Furniture")]
    pub name: String,
    /// Unique; what `GET /api/v1/products?category=` takes.
    #[schema(example = "furniture")]
    pub slug: String,
    #[schema(example = 12)]
    pub product_count: u64,
}

impl From<Category> for CategoryResponse {
    fn from(c: Category) -> Self {
        Self { id: c.id.0, name: c.name, slug: c.slug, product_count: c.product_count }
    }
}

/// A new category.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Home & Garden", "slug": "home-and-garden"}))]
pub struct CreateCategoryRequest {
    /// 1..=100 characters after trimming.
    #[schema(
        example = "Home & Garden",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub name: String,
    /// 1..=100 of `[a-z0-9-]`, no leading, trailing or doubled `-`; must be free (409
    /// otherwise). When absent it is derived from the name (`home-and-garden`), with a
    /// numeric suffix (`-2`, `-3`…) if that one is taken.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, example = "home-and-garden", pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    pub slug: Option<String>,
}

/// A partial change of a category: absent fields stay as they are; `null` is refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Garden", "slug": "garden"}))]
pub struct UpdateCategoryRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(
        nullable = false,
        example = "Garden",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, example = "garden", pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    pub slug: Option<String>,
}

/// List categories
///
/// Every category (a small complete collection, so a plain array), ordered by name. The
/// answer carries a weak `ETag`; `If-None-Match` naming it answers 304 with no body.
#[utoipa::path(
    get,
    path = "/api/v1/categories",
    tag = "categories",
    operation_id = "list_categories",
    params(IfNoneMatch),
    responses(
        (status = 200, description = "Every category", body = [CategoryResponse],
            headers(
                ("ETag" = String, description = "Weak tag of this body: send it back in `If-None-Match`"),
                ("Cache-Control" = String, description = "`public, max-age=<catalog.cache_max_age_secs>`: \
                    the same for every caller"),
            )),
        (status = 304, description = "`If-None-Match` names the current list: no body",
            headers(
                ("ETag" = String, description = "The tag that matched"),
                ("Cache-Control" = String, description = "As on the 200"),
            )),
        ServerErrors,
    )
)]
pub async fn list_categories(req: HttpRequest, state: Data<AppState>) -> Result<HttpResponse, ApiError> {
    let categories = state.catalog.categories().await?;
    let body: Vec<CategoryResponse> = categories.into_iter().map(CategoryResponse::from).collect();
    conditional_json(&req, &body, Audience::Everyone, state.config.catalog_cache_max_age_secs)
}

/// A category
///
/// Where the `Location` of a created category points.
#[utoipa::path(
    get,
    path = "/api/v1/categories/{id}",
    tag = "categories",
    operation_id = "get_category",
    params(("id" = Uuid, Path, description = "The category's id")),
    responses(
        (status = 200, description = "The category", body = CategoryResponse),
        (status = 404, response = NotFound),
        ServerErrors,
    )
)]
pub async fn get_category(state: Data<AppState>, id: Path<String>) -> Result<HttpResponse, ApiError> {
    let id: CategoryId = path_id(&id)?;
    let category = state.catalog.categories().await?.into_iter().find(|c| c.id == id).ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(CategoryResponse::from(category)))
}

/// Create a category
#[utoipa::path(
    post,
    path = "/api/v1/categories",
    tag = "categories",
    operation_id = "create_category",
    security(("oauth2" = []), ("bearer" = [])),
    request_body = CreateCategoryRequest,
    responses(
        (status = 201, description = "The category was created", body = CategoryResponse,
            headers(("Location" = String, description = "`/api/v1/categories/{id}`"))),
        PermissionErrors,
        (status = 409, description = "The slug is taken (`conflict`)", body = Problem,
            content_type = "application/problem+json",
            example = json!({
                "type": "about:blank", "title": "Conflict", "status": 409,
                "detail": "the slug `furniture` is taken", "code": "conflict",
                "request_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59"
            })),
        JsonBodyErrors,
        ServerErrors,
    )
)]
pub async fn create_category(
    _caller: RequirePermission<CategoriesManage>,
    state: Data<AppState>,
    body: Result<ApiJson<CreateCategoryRequest>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let ApiJson(body) = body?;
    let category = state.catalog.create_category(&body.name, body.slug.as_deref()).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("{API_PREFIX}/categories/{}", category.id)))
        .json(CategoryResponse::from(category)))
}

/// Change a category
///
/// Renames it or changes its slug; its products follow.
#[utoipa::path(
    patch,
    path = "/api/v1/categories/{id}",
    tag = "categories",
    operation_id = "update_category",
    security(("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The category's id")),
    request_body = UpdateCategoryRequest,
    responses(
        (status = 200, description = "The changed category", body = CategoryResponse),
        PermissionErrors,
        (status = 404, response = NotFound),
        (status = 409, description = "The slug is taken by another category (`conflict`)", body = Problem,
            content_type = "application/problem+json",
            example = json!({
                "type": "about:blank", "title": "Conflict", "status": 409,
                "detail": "the slug `furniture` is taken", "code": "conflict",
                "request_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59"
            })),
        JsonBodyErrors,
        ServerErrors,
    )
)]
pub async fn update_category(
    _caller: RequirePermission<CategoriesManage>,
    state: Data<AppState>,
    id: Path<String>,
    body: Result<ApiJson<UpdateCategoryRequest>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let id: CategoryId = path_id(&id)?;
    let ApiJson(body) = body?;
    let category = state.catalog.update_category(id, body.name.as_deref(), body.slug.as_deref()).await?;
    Ok(HttpResponse::Ok().json(CategoryResponse::from(category)))
}

/// Delete a category
///
/// Its products stay, without the link.
#[utoipa::path(
    delete,
    path = "/api/v1/categories/{id}",
    tag = "categories",
    operation_id = "delete_category",
    security(("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The category's id")),
    responses(
        (status = 204, description = "The category was deleted"),
        PermissionErrors,
        (status = 404, response = NotFound),
        ServerErrors,
    )
)]
pub async fn delete_category(
    _caller: RequirePermission<CategoriesManage>,
    state: Data<AppState>,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.catalog.delete_category(path_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
