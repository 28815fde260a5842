//! Builds from source: `GET /builds/{id}` (status and log), `GET /builds/{id}/wasm`, `POST
//! /builds` (a build for no project: the chain path), the JSON form of `POST
//! /projects/{owner}/{name}/versions` ([`request_version`]) and the builder API (`POST
//! /builder/lease`, `POST /builder/complete`, bearer = the configured builder token).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

use super::{json_body, optional_json_body, read_body};
use crate::auth;
use crate::builds::view;
use crate::db::ProjectRow;
use crate::error::ApiError;
use crate::limits::MAX_WASM_BYTES;
use crate::state::AppState;
use outlayer_protocol::build::{BuildReport, BuildStatus, GitSource};

/// The JSON body of a version built from source (and of `POST /builds`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BuildRequest {
    source: GitSource,
    #[serde(default)]
    force_rebuild: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LeaseRequest {
    #[serde(default)]
    wait_seconds: u64,
}

fn accepted(row: &crate::db::builds::BuildRow) -> (StatusCode, Json<Value>) {
    (StatusCode::ACCEPTED, Json(json!({ "build_id": row.id, "status": row.status, "poll_url": format!("/builds/{}", row.id) })))
}

/// `POST /projects/{owner}/{name}/versions` with `content-type: application/json`: 202 with the
/// build id; the version appears when the build succeeds.
pub(super) async fn request_version(state: &AppState, project: &ProjectRow, body: Body) -> Result<(StatusCode, Json<Value>), ApiError> {
    let req: BuildRequest = json_body(body).await?;
    let row = state.request_build(Some(project), req.source, req.force_rebuild).await?;
    Ok(accepted(&row))
}

/// `POST /builds` (owner token): a build for no project, whose wasm `GET /builds/{id}/wasm`
/// serves (the on-chain worker's `GitHub` sources).
pub(super) async fn create(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<(StatusCode, Json<Value>), ApiError> {
    auth::owner(&state, &headers).await?;
    let req: BuildRequest = json_body(body).await?;
    let row = state.request_build(None, req.source, req.force_rebuild).await?;
    Ok(accepted(&row))
}

/// `GET /builds/{id}`.
pub(super) async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let row = state.find_build(&id).await?;
    Ok(Json(serde_json::to_value(view(&row)).map_err(ApiError::internal)?))
}

/// `GET /builds/{id}/wasm`: the built wasm once succeeded; 409 `build_not_finished` before,
/// 404 when it failed.
pub(super) async fn wasm(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let row = state.find_build(&id).await?;
    let sha = match (BuildStatus::parse(&row.status), &row.wasm_sha256) {
        (Some(BuildStatus::Succeeded), Some(sha)) => sha.clone(),
        (Some(BuildStatus::Failed), _) => return Err(ApiError::not_found("build_failed", "the build failed: no wasm")),
        _ => return Err(ApiError::conflict("build_not_finished", "the build has not finished yet")),
    };
    let bytes = state.db.wasm(&sha).await?.ok_or_else(|| ApiError::not_found("wasm_not_found", "no wasm with this sha256"))?;
    Ok(([(header::CONTENT_TYPE, "application/wasm")], bytes).into_response())
}

/// 401 `invalid_builder_token` unless the bearer is the configured builder token (403
/// `builders_disabled` when none is configured).
fn builder(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &state.config.builder_token else {
        return Err(ApiError::forbidden("builders_disabled", "this coordinator accepts no remote builder (no builder token configured)"));
    };
    let given = auth::bearer(headers).unwrap_or("");
    if !auth::ct_eq(auth::hash_secret(token).as_bytes(), auth::hash_secret(given).as_bytes()) {
        return Err(ApiError::unauthorized("invalid_builder_token", "missing or wrong Authorization: Bearer <builder token>"));
    }
    Ok(())
}

/// `POST /builder/lease`: 200 with a build job, 204 when none came within `wait_seconds`.
pub(super) async fn lease(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    builder(&state, &headers)?;
    let req: LeaseRequest = optional_json_body(body).await?;
    match state.lease_build(Duration::from_secs(req.wait_seconds)).await? {
        Some(job) => Ok(Json(job).into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// `POST /builder/complete`: the build's report (wasm base64, log); answers the build view.
pub(super) async fn complete(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<Json<Value>, ApiError> {
    builder(&state, &headers)?;
    // base64 of the largest wasm, plus the log and the JSON around them
    let bytes = read_body(body, MAX_WASM_BYTES / 3 * 4 + (1 << 20)).await?;
    let report: BuildReport = serde_json::from_slice(&bytes).map_err(ApiError::invalid_json)?;
    let row = state.complete_build(&report).await?;
    Ok(Json(serde_json::to_value(view(&row)).map_err(ApiError::internal)?))
}
