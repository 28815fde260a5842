//! The HTTP API (axum 0.8). Every error, including unknown routes and malformed JSON, is
//! `{"error": {"code": "...", "message": "..."}}` with a stable code.

mod admin;
mod builds;
mod calls;
mod keys;
mod meta;
mod owners;
mod projects;
mod secrets;
mod signin;
mod workers;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::{get, post, put};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::limits::MAX_SMALL_BODY_BYTES;
use crate::state::AppState;

/// The router with every endpoint (see the crate README for the reference).
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/owners", post(owners::create))
        .route("/auth/challenge", post(signin::challenge))
        .route("/auth/signin", post(signin::signin))
        .route("/earnings", get(owners::earnings))
        .route("/earnings/withdrawals", post(owners::withdraw))
        .route("/admin/grants", post(admin::grant))
        .route("/admin/withdrawals/{id}/settle", post(admin::settle))
        .route("/admin/withdrawals/{id}/reject", post(admin::reject))
        .route("/projects", post(projects::create))
        .route("/projects/{owner}/{name}", get(projects::show))
        .route("/projects/{owner}/{name}/versions", post(projects::upload))
        .route("/projects/{owner}/{name}/active", put(projects::set_active))
        .route("/projects/{owner}/{name}/secrets", get(secrets::list))
        .route("/projects/{owner}/{name}/secrets/{profile}", put(secrets::put).get(secrets::get).delete(secrets::delete))
        .route("/wasm/{sha256}", get(projects::wasm))
        .route("/builds", post(builds::create))
        .route("/builds/{id}", get(builds::show))
        .route("/builds/{id}/wasm", get(builds::wasm))
        .route("/builder/lease", post(builds::lease))
        .route("/builder/complete", post(builds::complete))
        .route("/payment-keys", post(keys::create))
        .route("/payment-keys/balance", get(calls::balance))
        .route("/payment-keys/{owner}/{nonce}", get(keys::show).delete(keys::revoke))
        .route("/payment-keys/{owner}/{nonce}/top-up", post(keys::top_up))
        .route("/payment-keys/{owner}/{nonce}/ledger", get(keys::ledger))
        .route("/call/{owner}/{project}", post(calls::call))
        .route("/calls/{id}", get(calls::show))
        .route("/calls/{id}/receipt", get(calls::receipt))
        .route("/workers", get(workers::list))
        .route("/workers/{id}/attestation", get(workers::attestation))
        .route("/workers/challenge", post(workers::challenge))
        .route("/workers/register", post(workers::register))
        .route("/workers/lease", post(workers::lease))
        .route("/workers/heartbeat", post(workers::heartbeat))
        .route("/workers/complete", post(workers::complete))
        .route("/healthz", get(meta::healthz))
        .route("/metrics", get(meta::metrics))
        .route("/openapi.json", get(meta::openapi))
        .merge(crate::dashboard::router(&state))
        .fallback(meta::not_found)
        .method_not_allowed_fallback(meta::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::admission::limit_by_ip))
        .with_state(state)
        // Outermost last: every non-JSON error becomes JSON; then the input checks.
        .layer(axum::middleware::from_fn(crate::hygiene::guard))
        .layer(axum::middleware::from_fn(crate::hygiene::json_errors))
}

/// Reads a body of at most `limit` bytes; 413 `payload_too_large` beyond.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| ApiError::too_large(format!("request body exceeds {limit} bytes")))
}

/// Reads and parses a small JSON body; 400 `invalid_json` on malformed JSON or wrong fields.
pub(crate) async fn json_body<T: DeserializeOwned>(body: Body) -> Result<T, ApiError> {
    let bytes = read_body(body, MAX_SMALL_BODY_BYTES).await?;
    crate::hygiene::check_json_text(&bytes)?;
    serde_json::from_slice(&bytes).map_err(ApiError::invalid_json)
}

/// Like [`json_body`] but an empty body means `T::default()`.
pub(crate) async fn optional_json_body<T: DeserializeOwned + Default>(body: Body) -> Result<T, ApiError> {
    let bytes = read_body(body, MAX_SMALL_BODY_BYTES).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    crate::hygiene::check_json_text(&bytes)?;
    serde_json::from_slice(&bytes).map_err(ApiError::invalid_json)
}
