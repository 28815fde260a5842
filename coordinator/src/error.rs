//! Error types: [`CoordinatorError`] at the library boundary, [`ApiError`] for HTTP responses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Failures of the coordinator outside a request: startup, connecting, migrating.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    /// The database could not be reached or a query failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The SQLite group writer's connection could not be opened.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Applying the schema migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Serving HTTP failed.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// Failures of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The SQLite group writer's connection reported an error (see `db/group.rs`).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The PostgreSQL group writer's connection reported an error (see `db/pg_group.rs`).
    #[error("database error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// A stored row could not be decoded.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// An HTTP error: status code plus a stable machine-readable code. Serialised as
/// `{"error": {"code": "...", "message": "..."}}`. 5xx messages never carry internals; the log
/// keeps them.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable error code (see the README for the list).
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// Seconds after which a retry may succeed (`Retry-After`, sent with 429).
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    /// Builds an error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after_secs: None }
    }
    /// 429 `rate_limited` with `Retry-After` (whole seconds, at least 1).
    pub fn rate_limited(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        Self { retry_after_secs: Some(secs.max(1)), ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message) }
    }
    /// 400 with the given code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    /// 400 `invalid_json`.
    pub fn invalid_json(err: impl std::fmt::Display) -> Self {
        Self::bad_request("invalid_json", format!("request body is not valid JSON for this endpoint: {err}"))
    }
    /// 401 with the given code.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }
    /// 403 with the given code.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }
    /// 404 with the given code.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }
    /// 409 with the given code.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
    /// 413 `payload_too_large`.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }
    /// 402 with the given code.
    pub fn payment(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYMENT_REQUIRED, code, message)
    }
    /// 500 `internal`; the cause is logged, not returned.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        // One line per kind of failure per interval (a full disk fails every request).
        let cause = cause.to_string();
        if let Some(suppressed) = crate::logflood::INTERNAL.admit(crate::logflood::kind_of(&cause)) {
            tracing::error!(error = %cause, suppressed, "internal error");
        }
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }
    /// The JSON body of this error.
    pub fn body(&self) -> serde_json::Value {
        json!({ "error": { "code": self.code, "message": self.message } })
    }
}

impl From<outlayer_attest::AttestError> for ApiError {
    /// A refused registration: 400 `challenge_expired` (the request is stale: get a new
    /// challenge), 403 with the error's own code for everything about the evidence
    /// (`attestation_invalid`, `collateral_expired`, `tcb_out_of_date`, `not_tdx`,
    /// `measurements_not_allowed`, `binding_mismatch`, `dev_not_allowed`). The message carries the
    /// detail (both compared values where there are two).
    fn from(err: outlayer_attest::AttestError) -> Self {
        let status = match err {
            outlayer_attest::AttestError::ChallengeExpired { .. } => StatusCode::BAD_REQUEST,
            _ => StatusCode::FORBIDDEN,
        };
        ApiError::new(status, err.code(), err.to_string())
    }
}

impl StoreError {
    /// Whether the database cannot be reached or written right now (connection refused or lost,
    /// pool exhausted, server shutting down, disk full): the same request may succeed later.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_)) => true,
            // SQLite 13 = SQLITE_FULL; PostgreSQL 08xxx connection, 57Pxx shutdown, 53xxx
            // insufficient resources (disk full, out of memory, too many connections), 25006 a
            // read-only server (a standby, or a primary during a failover).
            StoreError::Database(sqlx::Error::Database(d)) => d.code().is_some_and(|c| unavailable_code(&c)),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => unavailable_code(&e.extended_code.to_string()),
            StoreError::Postgres(e) => Self::is_unavailable_pg(e),
            _ => false,
        }
    }

    /// [`StoreError::is_unavailable`] of a tokio-postgres error: an unavailable SQLSTATE, or no
    /// SQLSTATE and a connection that could not be opened, broke or timed out (a value that could
    /// not be converted is not one: that is a bug, a 500).
    pub(crate) fn is_unavailable_pg(e: &tokio_postgres::Error) -> bool {
        match e.as_db_error() {
            Some(db) => unavailable_code(db.code().code()),
            None => {
                e.is_closed()
                    || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
                    || e.to_string().starts_with("timeout")
            }
        }
    }
}

/// Whether a database error code says the database cannot be reached or written right now (see
/// [`StoreError::is_unavailable`]).
pub(crate) fn unavailable_code(code: &str) -> bool {
    code == "13" || code.starts_with("08") || code.starts_with("57P") || code.starts_with("53") || code == "25006"
}

impl From<StoreError> for ApiError {
    /// 503 `database_unavailable` (with `Retry-After`) when the database is down or full
    /// ([`StoreError::is_unavailable`]), else 500 `internal`; either way the cause is logged, not
    /// returned.
    fn from(err: StoreError) -> Self {
        if err.is_unavailable() {
            let mut e = ApiError::internal(&err);
            e.status = StatusCode::SERVICE_UNAVAILABLE;
            e.code = "database_unavailable";
            e.message = "the database is unavailable right now; retry later".into();
            e.retry_after_secs = Some(1);
            return e;
        }
        ApiError::internal(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}
