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
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render(queued, leased)))
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
