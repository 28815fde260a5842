//! Worker API: challenge, attested register, lease (long poll), heartbeat, complete; and the
//! public worker records (list, attestation).

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{json_body, optional_json_body, read_body};
use crate::auth;
use crate::error::ApiError;
use crate::limits::{MAX_COMPLETE_BODY_BYTES, MAX_REGISTER_BODY_BYTES};
use crate::model::{Completion, HeartbeatRequest, LeaseRequest, RegisterRequest, RegisterResponse};
use crate::state::AppState;
use outlayer_protocol::worker::ChallengeResponse;
use outlayer_protocol::{WorkerAttestation, WorkerList};

/// 401 `invalid_registration_token` unless the configured registration token (if any) is the
/// bearer.
fn check_registration_token(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(expected) = &state.config.worker_registration_token {
        let given = auth::bearer(headers).unwrap_or_default();
        if !auth::ct_eq(auth::hash_secret(expected).as_bytes(), auth::hash_secret(given).as_bytes()) {
            return Err(ApiError::unauthorized("invalid_registration_token", "worker registration needs the registration token"));
        }
    }
    Ok(())
}

pub(super) async fn challenge(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<ChallengeResponse>, ApiError> {
    check_registration_token(&state, &headers)?;
    Ok(Json(state.issue_challenge().await?))
}

pub(super) async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<RegisterResponse>), ApiError> {
    check_registration_token(&state, &headers)?;
    let bytes = read_body(body, MAX_REGISTER_BODY_BYTES).await?;
    crate::hygiene::check_json_text(&bytes)?;
    let req: RegisterRequest = serde_json::from_slice(&bytes).map_err(ApiError::invalid_json)?;
    let (worker, token) = state.register_worker(&req).await?;
    Ok((StatusCode::CREATED, Json(RegisterResponse { worker_id: worker.id, token, attestation_sha256: worker.attestation_sha256 })))
}

pub(super) async fn list(State(state): State<AppState>) -> Result<Json<WorkerList>, ApiError> {
    Ok(Json(WorkerList { workers: state.worker_summaries().await? }))
}

pub(super) async fn attestation(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<WorkerAttestation>, ApiError> {
    Ok(Json(state.worker_attestation(&id).await?))
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
    // The result is stored as JSON text (a NUL in it is an escape); these two are looked up.
    crate::hygiene::check_text("call_id", &req.call_id)?;
    crate::hygiene::check_text("lease_id", &req.lease_id)?;
    Ok(Json(state.complete_job(&worker, &req).await?).into_response())
}
