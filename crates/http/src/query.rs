//! Query parameters: pagination (`?limit=&offset=`, with the page envelope lists answer)
//! and the rest of a query (`ApiQuery`), each invalid parameter named (422).

use crate::error::{ApiError, FieldError};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures::future::ready;
use serde::Serialize;
use serde::de::DeserializeOwned;
use storefront_app::ports::{Page, PageRequest};
use utoipa::{IntoParams, ToSchema};

/// `?limit=&offset=` of a paginated list: `limit` 1..=100 (default 20), `offset` >= 0
/// (default 0). A value out of range, not an integer or repeated answers 422 naming
/// `limit` or `offset`; other query parameters are left to the endpoint (see `ApiQuery`).
/// Document it with `params(Pagination, ...)` and answer with `Paginated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Pagination {
    /// How many items to return, 1..=100.
    #[param(required = false, minimum = 1, maximum = 100, default = 20, example = 20)]
    limit: u32,
    /// How many items to skip, >= 0.
    #[param(required = false, minimum = 0, default = 0, example = 0)]
    offset: u64,
}

impl Default for Pagination {
    fn default() -> Self {
        Self { limit: PageRequest::DEFAULT_LIMIT, offset: 0 }
    }
}

impl Pagination {
    /// The largest offset accepted: what a database's signed 64-bit `OFFSET` takes.
    const MAX_OFFSET: u64 = i64::MAX as u64;

    /// The page to ask a service for.
    pub fn page(&self) -> PageRequest {
        PageRequest { limit: self.limit, offset: self.offset }
    }

    /// Reads `limit` and `offset` from a raw query string, ignoring every other parameter.
    pub fn from_query(query: &str) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|_| ApiError::Validation(vec![FieldError::new("query", "is not a valid query string")]))?;
        let mut pagination = Self::default();
        let mut errors: Vec<FieldError> = Vec::new();
        let mut seen: Vec<&'static str> = Vec::new();
        for (name, value) in &pairs {
            let (field, outcome) = match name.as_str() {
                "limit" => (
                    "limit",
                    value
                        .parse::<u32>()
                        .ok()
                        .filter(|l| (1..=PageRequest::MAX_LIMIT).contains(l))
                        .map(|l| pagination.limit = l)
                        .ok_or("must be an integer from 1 to 100"),
                ),
                "offset" => (
                    "offset",
                    value
                        .parse::<u64>()
                        .ok()
                        .filter(|o| *o <= Self::MAX_OFFSET)
                        .map(|o| pagination.offset = o)
                        .ok_or("must be an integer greater than or equal to 0"),
                ),
                _ => continue,
            };
            let outcome = if seen.contains(&field) { Err("must be given at most once") } else { outcome };
            seen.push(field);
            if let Err(message) = outcome
                && !errors.iter().any(|e| e.field == field)
            {
                errors.push(FieldError::new(field, message));
            }
        }
        if errors.is_empty() { Ok(pagination) } else { Err(ApiError::Validation(errors)) }
    }
}

impl FromRequest for Pagination {
    type Error = ApiError;
    type Future = futures::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::from_query(req.query_string()))
    }
}

/// One page of a longer list, as every paginated endpoint answers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paginated<T> {
    /// This page's items.
    pub items: Vec<T>,
    /// How many items the whole list holds (every page together).
    #[schema(example = 42)]
    pub total: u64,
    /// The `limit` applied.
    #[schema(example = 20)]
    pub limit: u32,
    /// The `offset` applied.
    #[schema(example = 0)]
    pub offset: u64,
}

impl<T> Paginated<T> {
    /// A service's page, its items turned into their DTO.
    pub fn new<U>(page: Page<U>, pagination: Pagination) -> Self
    where
        T: From<U>,
    {
        Self {
            items: page.items.into_iter().map(T::from).collect(),
            total: page.total,
            limit: pagination.limit,
            offset: pagination.offset,
        }
    }
}

/// Query parameters (other than pagination) deserialized into `T`, which should ignore
/// the parameters it does not know (`limit`, `offset`…). A parameter that does not fit
/// answers 422 naming it where serde says which it is, else naming `query`.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequest for ApiQuery<T> {
    type Error = ApiError;
    type Future = futures::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(serde_urlencoded::from_str::<T>(req.query_string()).map(ApiQuery).map_err(|e| {
            let message = e.to_string();
            let field = ["duplicate field `", "missing field `", "unknown field `"]
                .iter()
                .find_map(|prefix| message.strip_prefix(prefix).and_then(|rest| rest.split('`').next()))
                .unwrap_or("query")
                .to_owned();
            ApiError::Validation(vec![FieldError::new(field, message)])
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(err: ApiError) -> Vec<String> {
        match err {
            ApiError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    fn page(query: &str) -> Result<PageRequest, Vec<String>> {
        Pagination::from_query(query).map(|p| p.page()).map_err(fields)
    }

    #[test]
    fn pagination_defaults_to_the_first_20_and_ignores_other_parameters() {
        assert_eq!(page(""), Ok(PageRequest { limit: 20, offset: 0 }));
        assert_eq!(page("q=a&limit=100&offset=7&role=x"), Ok(PageRequest { limit: 100, offset: 7 }));
        assert_eq!(page("limit=1"), Ok(PageRequest { limit: 1, offset: 0 }));
    }

    #[test]
    fn pagination_out_of_range_or_not_an_integer_names_the_parameter() {
        for query in ["limit=0", "limit=101", "limit=-1", "limit=x", "limit=", "limit=2.0", "limit=1&limit=2"] {
            assert_eq!(page(query), Err(vec!["limit".to_owned()]), "{query}");
        }
        for query in ["offset=-1", "offset=a", "offset=9223372036854775808"] {
            assert_eq!(page(query), Err(vec!["offset".to_owned()]), "{query}");
        }
        assert_eq!(page("offset=-1&limit=0"), Err(vec!["offset".to_owned(), "limit".to_owned()]));
    }
}
