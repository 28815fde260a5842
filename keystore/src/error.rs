//! [`KeystoreError`]: every refusal, typed, with an HTTP status and a stable code. The body is
//! the API's usual `{"error": {"code", "message"}}` (plus `condition` for `access_denied`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why the keystore refused.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// Malformed request.
    #[error("{message}")]
    BadRequest {
        /// Stable code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The attestation, binding, challenge or session signature was refused.
    #[error("attestation refused: {0}")]
    Attestation(#[from] outlayer_attest::AttestError),
    /// The challenge was not issued here, expired, or was used.
    #[error("this challenge was not issued by this keystore, expired or was already used; get a new one")]
    ChallengeUnknown,
    /// No such session (never opened, expired, or the keystore restarted).
    #[error("no such session (expired, or the keystore restarted): open a new one")]
    SessionUnknown,
    /// The ticket does not verify or is not this session's.
    #[error("ticket refused: {0}")]
    Ticket(String),
    /// The on-chain request is not pending.
    #[error("request {0} is not pending on the contract")]
    RequestNotPending(u64),
    /// The job's secrets record does not exist.
    #[error("{0}")]
    SecretsNotFound(String),
    /// The sealed secrets do not open (tampered, wrong scope, not for this keystore).
    #[error("sealed secrets: {0}")]
    Seal(#[from] outlayer_attest::seal::SealError),
    /// The opened secrets are not a JSON object of strings.
    #[error("the sealed secrets are not a JSON object of name to string")]
    SecretsNotAMap,
    /// An access condition failed.
    #[error("access denied: {condition}: {message}")]
    AccessDenied {
        /// The failing condition's kind.
        condition: &'static str,
        /// Why.
        message: String,
    },
    /// NEAR could not be read (the answer may be different later).
    #[error("reading NEAR failed: {0}")]
    Chain(String),
    /// This keystore is not configured for the request.
    #[error("{0}")]
    NotConfigured(String),
    /// Too many pending challenges or sessions.
    #[error("{0}")]
    Busy(String),
}

impl KeystoreError {
    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } | Self::Seal(_) | Self::SecretsNotAMap => StatusCode::BAD_REQUEST,
            Self::ChallengeUnknown => StatusCode::BAD_REQUEST,
            Self::Attestation(_) | Self::Ticket(_) | Self::AccessDenied { .. } => StatusCode::FORBIDDEN,
            Self::SessionUnknown => StatusCode::UNAUTHORIZED,
            Self::RequestNotPending(_) | Self::SecretsNotFound(_) => StatusCode::NOT_FOUND,
            Self::Chain(_) => StatusCode::BAD_GATEWAY,
            Self::NotConfigured(_) => StatusCode::NOT_IMPLEMENTED,
            Self::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. } => code,
            Self::Attestation(e) => e.code(),
            Self::ChallengeUnknown => "challenge_expired",
            Self::SessionUnknown => "session_unknown",
            Self::Ticket(_) => "ticket_invalid",
            Self::RequestNotPending(_) => "request_not_pending",
            Self::SecretsNotFound(_) => "secrets_not_found",
            Self::Seal(e) => e.code(),
            Self::SecretsNotAMap => "secrets_not_a_map",
            Self::AccessDenied { .. } => "access_denied",
            Self::Chain(_) => "chain_unavailable",
            Self::NotConfigured(_) => "not_configured",
            Self::Busy(_) => "busy",
        }
    }

    pub(crate) fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest { code, message: message.into() }
    }
}

impl IntoResponse for KeystoreError {
    fn into_response(self) -> Response {
        let mut error = serde_json::json!({ "code": self.code(), "message": self.to_string() });
        if let Self::AccessDenied { condition, .. } = &self {
            error["condition"] = (*condition).into();
        }
        if self.status().is_server_error() || self.status() == StatusCode::BAD_GATEWAY {
            tracing::warn!(code = self.code(), "{self}");
        }
        (self.status(), axum::Json(serde_json::json!({ "error": error }))).into_response()
    }
}
