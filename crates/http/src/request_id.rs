//! The id of the request the current task serves (a task-local set by the request-context
//! middleware), for error bodies and log lines; a module of its own so that `error` and
//! `middleware` both read it without depending on each other.

use actix_web::http::header::HeaderName;

/// The request-id header, read from the client and always sent back.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    /// The id of the request being served by the current task.
    pub(crate) static REQUEST_ID: String;
}

/// The id of the request the current task is serving, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// `future`, run where `current_request_id` answers the current request's id (for work a
/// handler spawns onto a task of its own).
pub fn in_request_scope<F: std::future::Future>(future: F) -> impl std::future::Future<Output = F::Output> {
    REQUEST_ID.scope(current_request_id().unwrap_or_default(), future)
}
