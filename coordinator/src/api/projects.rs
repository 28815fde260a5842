//! Projects, versions (wasm uploads) and wasm downloads for workers.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{json_body, read_body};
use crate::db::ProjectRow;
use crate::db::registry::ProjectOrigin;
use crate::error::ApiError;
use crate::limits::{MAX_WASM_BYTES, valid_name};
use crate::model::Capability;
use crate::state::{AppState, now_ms};
use crate::{admission, auth};
use outlayer_protocol::http::HostPattern;
use outlayer_protocol::receipt::sha256_hex;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateProject {
    name: String,
    #[serde(default)]
    grants: Vec<String>,
    /// Hosts a granted `http` may reach (see `outlayer_protocol::http`).
    #[serde(default)]
    http_allowlist: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetActive {
    version: String,
}

async fn project_view(state: &AppState, p: &ProjectRow) -> Result<Value, ApiError> {
    let versions: Vec<Value> = state
        .db
        .versions(&p.id)
        .await?
        .iter()
        .map(|v| json!({ "wasm_sha256": v.wasm_sha256, "size": v.size, "created_at_ms": v.created_ms }))
        .collect();
    let origin = state.db.project_origin(&p.id).await?;
    Ok(json!({
        "id": p.id, "owner": p.owner, "name": p.name, "origin": origin.as_str(), "grants": p.grants,
        "http_allowlist": p.http_allowlist,
        "active_version": p.active_version, "versions": versions, "created_at_ms": p.created_ms,
    }))
}

/// 409 `chain_project` when `project` was synced from the contract: its versions, active version
/// and grants are the chain's, changed only there.
pub(crate) async fn not_chain(state: &AppState, project: &ProjectRow) -> Result<(), ApiError> {
    if state.db.project_origin(&project.id).await? == ProjectOrigin::Chain {
        return Err(ApiError::conflict(
            "chain_project",
            format!(
                "{}/{} is registered on the OutLayer contract, which is its record: change its versions and grants there",
                project.owner, project.name
            ),
        ));
    }
    Ok(())
}

/// The project `owner/name` if the bearer token belongs to `owner`: 401, 403 `not_owner`, 404.
pub(crate) async fn owned_project(state: &AppState, headers: &HeaderMap, owner: &str, name: &str) -> Result<ProjectRow, ApiError> {
    let me = auth::owner(state, headers).await?;
    if me != owner {
        return Err(ApiError::forbidden("not_owner", "only the project owner may change it"));
    }
    find(state, owner, name).await
}

/// Most entries a project's http allowlist may hold.
pub const MAX_HTTP_ALLOWLIST_ENTRIES: usize = 64;

/// A project's http allowlist, checked with the host's rules (`outlayer_protocol::http`) and kept
/// as given (trimmed, duplicates dropped): 400 `invalid_http_allowlist` naming the first bad entry.
/// Kept even without the `http` grant, where it has no effect.
fn valid_http_allowlist(entries: Vec<String>) -> Result<Vec<String>, ApiError> {
    if entries.len() > MAX_HTTP_ALLOWLIST_ENTRIES {
        return Err(ApiError::bad_request(
            "invalid_http_allowlist",
            format!("{} entries; at most {MAX_HTTP_ALLOWLIST_ENTRIES}", entries.len()),
        ));
    }
    let mut kept: Vec<String> = Vec::with_capacity(entries.len());
    for entry in entries {
        HostPattern::parse(&entry).map_err(|e| ApiError::bad_request("invalid_http_allowlist", e.to_string()))?;
        let entry = entry.trim().to_string();
        if !kept.contains(&entry) {
            kept.push(entry);
        }
    }
    Ok(kept)
}

/// The project or 404 `project_not_found`.
pub(crate) async fn find(state: &AppState, owner: &str, name: &str) -> Result<ProjectRow, ApiError> {
    state.db.project(owner, name).await?.ok_or_else(|| ApiError::not_found("project_not_found", format!("no project {owner}/{name}")))
}

pub(super) async fn create(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<(StatusCode, Json<Value>), ApiError> {
    let owner = auth::owner(&state, &headers).await?;
    // With a contract to sync, projects are created there; off-chain ones only in dev mode.
    if state.config.near.is_some() && !state.config.signin.dev_owners {
        return Err(ApiError::forbidden(
            "dev_projects_only",
            "this coordinator serves the OutLayer contract's projects: create the project on the contract (create_project); \
             off-chain projects only on a --dev-owners coordinator",
        ));
    }
    let req: CreateProject = json_body(body).await?;
    if !valid_name(&req.name) {
        return Err(ApiError::bad_request("invalid_name", "name must be 2..=64 chars of [a-z0-9._-]"));
    }
    admission::check_project_quota(&state, &owner).await?;
    let mut grants = req
        .grants
        .iter()
        .map(|g| g.parse::<Capability>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::bad_request("invalid_grant", e.to_string()))?;
    grants.sort_by_key(|c| c.name());
    grants.dedup();
    let http_allowlist = valid_http_allowlist(req.http_allowlist)?;
    let project = ProjectRow {
        id: uuid::Uuid::new_v4().to_string(),
        owner,
        name: req.name,
        active_version: None,
        grants,
        http_allowlist,
        created_ms: now_ms(),
    };
    if !state.db.create_project(&project).await? {
        return Err(ApiError::conflict("project_exists", "this project already exists"));
    }
    Ok((StatusCode::CREATED, Json(project_view(&state, &project).await?)))
}

pub(super) async fn show(State(state): State<AppState>, Path((owner, name)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    let p = find(&state, &owner, &name).await?;
    Ok(Json(project_view(&state, &p).await?))
}

pub(super) async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((owner, name)): Path<(String, String)>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let project = owned_project(&state, &headers, &owner, &name).await?;
    not_chain(&state, &project).await?;
    // `{"source": {"git": …, "commit": …}}`: built from source by a builder (202 + build id).
    if headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json")) {
        return super::builds::request_version(&state, &project, body).await;
    }
    // Admission: at most a few bodies in memory at once, validated, within the owner's quotas.
    let _slot = state.admission.upload_slot()?;
    let bytes = read_body(body, MAX_WASM_BYTES).await?;
    admission::validate_wasm(&bytes)?;
    let sha = sha256_hex(&bytes);
    admission::check_version_quota(&state, &owner, &project.id, &sha, bytes.len() as u64).await?;
    state.db.add_version(&project.id, &sha, &bytes, now_ms()).await?;
    let active = match &project.active_version {
        Some(v) => v.clone(),
        None => {
            state.db.set_active(&project.id, &sha).await?;
            sha.clone()
        }
    };
    Ok((StatusCode::CREATED, Json(json!({ "sha256": sha, "size": bytes.len(), "active_version": active }))))
}

pub(super) async fn set_active(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((owner, name)): Path<(String, String)>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let project = owned_project(&state, &headers, &owner, &name).await?;
    not_chain(&state, &project).await?;
    let req: SetActive = json_body(body).await?;
    if !state.db.set_active(&project.id, &req.version).await? {
        return Err(ApiError::not_found("version_not_found", format!("{} is not a version of this project", req.version)));
    }
    let p = find(&state, &owner, &name).await?;
    Ok(Json(project_view(&state, &p).await?))
}

pub(super) async fn wasm(State(state): State<AppState>, headers: HeaderMap, Path(sha): Path<String>) -> Result<Response, ApiError> {
    auth::worker(&state, &headers).await?;
    let bytes = state.db.wasm(&sha).await?.ok_or_else(|| ApiError::not_found("wasm_not_found", "no wasm with this sha256"))?;
    Ok(([(header::CONTENT_TYPE, "application/wasm")], bytes).into_response())
}
