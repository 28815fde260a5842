//! `/healthz`, `/metrics`, `/openapi.json` and the JSON 404 / 405.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

/// The OpenAPI 3 document of this API.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

pub(super) async fn healthz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    state.db.queue_depth().await?;
    let redis = match state.hub.redis() {
        None => "disabled",
        Some(r) if r.healthy() => "ok",
        Some(_) => "degraded",
    };
    Ok(Json(json!({ "status": "ok", "database": "ok", "redis": redis })))
}

pub(super) async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let (queued, leased) = state.db.queue_depth().await?;
    let text = state.metrics.render(queued, leased) + &state.retention.render();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text))
}

pub(super) async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}

pub(super) async fn not_found() -> ApiError {
    ApiError::not_found("route_not_found", "no such endpoint")
}

pub(super) async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this endpoint")
}

#[cfg(test)]
mod tests {
    use super::OPENAPI_JSON;

    /// Every route of [`super::super::app`] is documented.
    #[test]
    fn openapi_covers_every_route() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("valid JSON");
        let routes = [
            ("/owners", "post"),
            ("/auth/challenge", "post"),
            ("/auth/signin", "post"),
            ("/earnings", "get"),
            ("/earnings/withdrawals", "post"),
            ("/admin/grants", "post"),
            ("/admin/withdrawals/{id}/settle", "post"),
            ("/admin/withdrawals/{id}/reject", "post"),
            ("/projects", "post"),
            ("/projects/{owner}/{name}", "get"),
            ("/projects/{owner}/{name}/versions", "post"),
            ("/projects/{owner}/{name}/active", "put"),
            ("/wasm/{sha256}", "get"),
            ("/payment-keys", "post"),
            ("/payment-keys/balance", "get"),
            ("/payment-keys/{owner}/{nonce}", "get"),
            ("/payment-keys/{owner}/{nonce}", "delete"),
            ("/payment-keys/{owner}/{nonce}/top-up", "post"),
            ("/payment-keys/{owner}/{nonce}/ledger", "get"),
            ("/call/{owner}/{project}", "post"),
            ("/calls/{id}", "get"),
            ("/calls/{id}/receipt", "get"),
            ("/workers", "get"),
            ("/workers/{id}/attestation", "get"),
            ("/workers/challenge", "post"),
            ("/workers/register", "post"),
            ("/workers/lease", "post"),
            ("/workers/heartbeat", "post"),
            ("/workers/complete", "post"),
            ("/healthz", "get"),
            ("/metrics", "get"),
            ("/openapi.json", "get"),
        ];
        for (path, method) in routes {
            assert!(doc["paths"][path][method].is_object(), "{method} {path} missing from openapi.json");
        }
        assert_eq!(doc["paths"].as_object().map(|p| p.len()), Some(38));
    }
}
