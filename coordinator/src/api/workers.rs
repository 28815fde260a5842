//! Worker API: register, lease (long poll), heartbeat, complete.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{json_body, optional_json_body, read_body};
use crate::auth;
use crate::error::ApiError;
use crate::limits::MAX_COMPLETE_BODY_BYTES;
use crate::model::{Completion, HeartbeatRequest, LeaseRequest, RegisterRequest, RegisterResponse};
use crate::state::AppState;

pub(super) async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<RegisterResponse>), ApiError> {
    if let Some(expected) = &state.config.worker_registration_token {
        let given = auth::bearer(&headers).unwrap_or_default();
        if !auth::ct_eq(auth::hash_secret(expected).as_bytes(), auth::hash_secret(given).as_bytes()) {
            return Err(ApiError::unauthorized("invalid_registration_token", "worker registration needs the registration token"));
        }
    }
    let req: RegisterRequest = json_body(body).await?;
    let (worker, token) = state.register_worker(&req.public_key, req.attestation).await?;
    Ok((StatusCode::CREATED, Json(RegisterResponse { worker_id: worker.id, token })))
}

pub(super) async fn lease(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let worker = auth::worker(&state, &headers).await?;
    let req: LeaseRequest = optional_json_body(body).await?;
    let max = state.config.lease_long_poll;
    let wait = req.wait_seconds.map(Duration::from_secs).unwrap_or(max).min(max);
    Ok(match state.lease_job(&worker, wait).await? {
        Some(job) => Json(job).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

pub(super) async fn heartbeat(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let worker = auth::worker(&state, &headers).await?;
    let req: HeartbeatRequest = json_body(body).await?;
    Ok(Json(state.heartbeat(&worker, &req.lease_ids).await?).into_response())
}

pub(super) async fn complete(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let worker = auth::worker(&state, &headers).await?;
    let bytes = read_body(body, MAX_COMPLETE_BODY_BYTES).await?;
    let req: Completion = serde_json::from_slice(&bytes).map_err(ApiError::invalid_json)?;
    Ok(Json(state.complete_job(&worker, &req).await?).into_response())
}
