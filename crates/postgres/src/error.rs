//! Turns diesel and pool errors into the ports' `StoreError`: a unique email into
//! `EmailTaken`, anything that says "the database cannot be reached" into `Unavailable`
//! (HTTP 503, retryable), the rest into `Internal`.

use diesel::result::{ConnectionError, DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::PoolError;
use storefront_app::StoreError;

/// The unique index that keeps emails unique regardless of case.
pub(crate) const USERS_EMAIL_KEY: &str = "users_email_key";

/// The foreign key from a user to its role.
const USERS_ROLE_FKEY: &str = "users_role_fkey";

/// PostgreSQL messages (no SQLSTATE reaches us through diesel) that mean the server is
/// going away or overloaded rather than that our query is wrong.
const UNAVAILABLE_MESSAGES: [&str; 5] = [
    "terminating connection",
    "the database system is",
    "canceling statement due to statement timeout",
    "too many clients",
    "remaining connection slots",
];

/// Maps a query error.
pub(crate) fn from_diesel(err: DieselError) -> StoreError {
    match &err {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some(USERS_EMAIL_KEY) =>
        {
            StoreError::EmailTaken
        }
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info)
            if info.constraint_name() == Some(USERS_ROLE_FKEY) =>
        {
            StoreError::InvalidReference("role".into())
        }
        DieselError::DatabaseError(DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection, _) => {
            unavailable(&err)
        }
        DieselError::DatabaseError(_, info) if UNAVAILABLE_MESSAGES.iter().any(|m| info.message().contains(m)) => {
            unavailable(&err)
        }
        // A transaction whose connection died half-way cannot even roll back.
        DieselError::BrokenTransactionManager => unavailable(&err),
        _ => {
            tracing::error!(error = %err, "database query failed");
            StoreError::Internal(err.to_string())
        }
    }
}

/// The error of a transaction body: diesel's own (which the transaction needs to see to
/// roll back) or a decision already made in port terms.
#[derive(Debug)]
pub(crate) enum TxError {
    Query(DieselError),
    Store(StoreError),
}

impl TxError {
    /// PostgreSQL gave up on the transaction for a reason that says nothing about its
    /// content (a deadlock it broke, a serialisation failure): running it again is right.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            TxError::Query(DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _)) => true,
            // No SQLSTATE reaches us for a deadlock (40P01), only its message.
            TxError::Query(DieselError::DatabaseError(_, info)) => info.message().starts_with("deadlock detected"),
            _ => false,
        }
    }
}

/// Maps an error inside a unit of work: a transaction PostgreSQL gave up on (a deadlock
/// victim, a serialisation failure) is `Aborted`, for the application to run the unit
/// again; the rest as outside one.
pub(crate) fn in_unit(err: TxError) -> StoreError {
    if err.is_retryable() {
        tracing::warn!(?err, "unit of work aborted by the database");
        StoreError::Aborted(format!("{err:?}"))
    } else {
        StoreError::from(err)
    }
}

impl From<DieselError> for TxError {
    fn from(err: DieselError) -> Self {
        TxError::Query(err)
    }
}

impl From<StoreError> for TxError {
    fn from(err: StoreError) -> Self {
        TxError::Store(err)
    }
}

impl From<TxError> for StoreError {
    fn from(err: TxError) -> Self {
        match err {
            TxError::Query(e) => from_diesel(e),
            TxError::Store(e) => e,
        }
    }
}

/// Maps a failure to open a connection: always the database being out of reach. Not
/// logged here: the caller's error reaches a log line or the user once.
pub(crate) fn from_connection(err: ConnectionError) -> StoreError {
    StoreError::Unavailable(format!("cannot connect to the database: {err}"))
}

/// Maps a failure to connect to `url`, naming where it tried and, when the server cannot
/// be reached at all, the operating system's reason: diesel-async keeps only tokio-postgres'
/// "error connecting to server", which drops both.
pub(crate) fn from_connection_to(url: &str, err: &ConnectionError) -> StoreError {
    let Ok(config) = url.parse::<tokio_postgres::Config>() else {
        return StoreError::Unavailable(format!("cannot connect to the database: {err}"));
    };
    let ports = config.get_ports();
    let targets: Vec<(String, Result<(), std::io::Error>)> = config
        .get_hosts()
        .iter()
        .enumerate()
        // libpq's rule: one port for every host, or one port per host; 5432 by default.
        .map(|(i, host)| (host, ports.get(i).or(ports.first()).copied().unwrap_or(5432)))
        .map(|(host, port)| match host {
            tokio_postgres::config::Host::Tcp(name) => (format!("{name}:{port}"), reach_tcp(name, port)),
            tokio_postgres::config::Host::Unix(dir) => {
                let socket = dir.join(format!(".s.PGSQL.{port}"));
                (socket.display().to_string(), std::os::unix::net::UnixStream::connect(&socket).map(drop))
            }
        })
        .collect();
    let places = targets.iter().map(|(place, _)| place.as_str()).collect::<Vec<_>>().join(", ");
    let unreachable: Vec<String> = targets
        .iter()
        .filter_map(|(place, reached)| reached.as_ref().err().map(|os| (place, os.to_string().to_lowercase())))
        .map(|(place, os)| if targets.len() == 1 { os } else { format!("{place}: {os}") })
        .collect();
    // Unreachable: the OS's reason says it all. Reached: the server's own answer does.
    let why = if unreachable.len() == targets.len() && !targets.is_empty() {
        unreachable.join("; ")
    } else {
        err.to_string()
    };
    StoreError::Unavailable(format!("cannot connect to the database at {places}: {why}"))
}

/// Whether a TCP connection to `host:port` opens, within two seconds per address.
fn reach_tcp(host: &str, port: u16) -> Result<(), std::io::Error> {
    use std::net::ToSocketAddrs;
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "the host name resolves to no address");
    for address in (host, port).to_socket_addrs()? {
        match std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_secs(2)) {
            Ok(_) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Maps a failure to get a connection from the pool.
pub(crate) fn from_pool(err: bb8::RunError<PoolError>) -> StoreError {
    match err {
        bb8::RunError::TimedOut => {
            tracing::warn!("timed out waiting for a database connection");
            StoreError::Unavailable("timed out waiting for a database connection".into())
        }
        bb8::RunError::User(PoolError::ConnectionError(e)) => {
            tracing::warn!(error = %e, "cannot connect to the database");
            from_connection(e)
        }
        // The pool's liveness check failed: the connection (or the server) is gone.
        bb8::RunError::User(PoolError::QueryError(e)) => unavailable(&e),
    }
}

/// The error for an operation that ran past its deadline (the server hangs).
pub(crate) fn deadline_exceeded() -> StoreError {
    tracing::warn!("database operation ran past its deadline");
    StoreError::Unavailable("the database did not answer in time".into())
}

fn unavailable(err: &DieselError) -> StoreError {
    tracing::warn!(error = %err, "database unavailable");
    StoreError::Unavailable(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_connection_is_unavailable_and_a_syntax_error_internal() {
        let lost = DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, Box::new("closed".to_owned()));
        assert!(matches!(from_diesel(lost), StoreError::Unavailable(_)));
        let timeout = DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("canceling statement due to statement timeout".to_owned()),
        );
        assert!(matches!(from_diesel(timeout), StoreError::Unavailable(_)));
        let syntax = DieselError::DatabaseError(DatabaseErrorKind::Unknown, Box::new("syntax error".to_owned()));
        assert!(matches!(from_diesel(syntax), StoreError::Internal(_)));
        assert!(matches!(from_pool(bb8::RunError::TimedOut), StoreError::Unavailable(_)));
    }

    #[test]
    fn deadlocks_and_serialisation_failures_are_retryable_and_nothing_else() {
        let query =
            |kind, message: &str| TxError::Query(DieselError::DatabaseError(kind, Box::new(message.to_owned())));
        assert!(query(DatabaseErrorKind::Unknown, "deadlock detected").is_retryable());
        assert!(query(DatabaseErrorKind::SerializationFailure, "could not serialize access").is_retryable());
        assert!(!query(DatabaseErrorKind::Unknown, "syntax error").is_retryable());
        assert!(!query(DatabaseErrorKind::UniqueViolation, "duplicate key").is_retryable());
        assert!(!TxError::Store(StoreError::Conflict("deadlock detected".into())).is_retryable());
    }
}
