//! Who a request comes from, as the services see it.

/// Where a login comes from, remembered on its session.
#[derive(Debug, Clone, Default)]
pub struct ClientContext {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}
