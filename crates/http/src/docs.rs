//! API documentation: the OpenAPI document at `/openapi.json` and Swagger UI at `/docs`
//! (assets vendored into the binary by utoipa-swagger-ui, nothing from a CDN).

use crate::error::ApiError;
use crate::routing::Endpoint;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Path;
use actix_web::{HttpResponse, Resource};
use std::sync::{Arc, LazyLock};
use utoipa_swagger_ui::Config;

/// Where the document is served, and where Swagger UI fetches it from.
const OPENAPI_PATH: &str = "/openapi.json";

static SWAGGER_CONFIG: LazyLock<Arc<Config<'static>>> = LazyLock::new(|| {
    Arc::new(
        Config::new([OPENAPI_PATH])
            // The online validator would load a badge from swagger.io.
            .validator_url("none")
            .persist_authorization(true)
            .display_request_duration(true),
    )
});

/// The document (given as JSON by the caller, so that this module does not depend on the
/// one that assembles it) and Swagger UI.
pub fn resources(document: &'static str) -> Vec<Resource> {
    let openapi_json = move || async move { HttpResponse::Ok().content_type("application/json").body(document) };
    vec![
        Endpoint::new(OPENAPI_PATH).get(openapi_json).build(),
        Endpoint::new("/docs").get(swagger_index).build(),
        Endpoint::new("/docs/{file:.*}").get(swagger_file).build(),
    ]
}

/// The root: to the documentation
///
/// A browser opening the server's address lands on Swagger UI instead of a 404.
#[utoipa::path(
    get,
    path = "/",
    tag = "docs",
    operation_id = "root",
    responses((
        status = 303,
        description = "See Swagger UI at `/docs`",
        headers(("Location" = String, description = "`/docs`"))
    ))
)]
pub async fn root() -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, "/docs")).finish()
}

/// `/docs` without the slash: the UI's relative asset links need a base of `/docs/`.
async fn swagger_index() -> Result<HttpResponse, ApiError> {
    let file = utoipa_swagger_ui::serve("index.html", Arc::clone(&SWAGGER_CONFIG))
        .map_err(|e| ApiError::Internal(format!("swagger ui: {e}")))?
        .ok_or(ApiError::NotFound)?;
    if file.gzpipped {
        return Ok(HttpResponse::PermanentRedirect().insert_header((header::LOCATION, "/docs/")).finish());
    }
    let html = String::from_utf8_lossy(&file.bytes).replacen("<head>", "<head>\n    <base href=\"/docs/\">", 1);
    Ok(HttpResponse::Ok().content_type(file.content_type).body(html))
}

/// `/docs/` and every asset under it.
async fn swagger_file(file: Path<String>) -> Result<HttpResponse, ApiError> {
    let file = utoipa_swagger_ui::serve(&file, Arc::clone(&SWAGGER_CONFIG))
        .map_err(|e| ApiError::Internal(format!("swagger ui: {e}")))?
        .ok_or(ApiError::NotFound)?;
    let mut response = HttpResponse::Ok();
    response.content_type(file.content_type);
    if file.gzpipped {
        response.insert_header((header::CONTENT_ENCODING, HeaderValue::from_static("gzip")));
    }
    Ok(response.body(file.bytes.into_owned()))
}
