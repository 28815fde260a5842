//! Sealed secrets of HTTPS projects: `PUT/GET/DELETE /projects/{owner}/{name}/secrets/{profile}`
//! (owner-authenticated) and `GET /projects/{owner}/{name}/secrets` (the profiles).
//!
//! The coordinator keeps what the developer sealed on their own machine (`outlayer secrets
//! seal`): a blob only the keystore opens, bound to the scope
//! `project:{owner}/{name}|{owner}|{profile}`, with its access condition. It never sees a
//! plaintext and hands the blob only to an attested worker's keystore request, inside a signed
//! ticket.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use outlayer_protocol::receipt::sha256_hex;
use outlayer_protocol::secrets::{MAX_SEALED_BYTES, PutSecrets, SealedSecrets, SecretAccessor, SecretScope, SecretsRecord, SecretsRef};
use serde_json::{Value, json};

use super::{projects::owned_project, read_body};
use crate::db::secrets::SecretsRow;
use crate::error::ApiError;
use crate::state::{AppState, now_ms};

/// Largest `PUT` body: the sealed blob in base64 plus its condition.
const MAX_PUT_BYTES: usize = MAX_SEALED_BYTES * 2 + 16 * 1024;

/// Smallest sealed blob: version, ephemeral key, tag (an empty map seals to more than this).
const MIN_SEALED_BYTES: usize = 1 + 32 + 16;

fn scope(owner: &str, name: &str, profile: &str) -> Result<SecretScope, ApiError> {
    let reference = SecretsRef { profile: profile.to_owned(), account_id: owner.to_owned() };
    reference.validate().map_err(|e| ApiError::bad_request("invalid_profile", e.to_string()))?;
    Ok(SecretScope::new(SecretAccessor::Project { project_id: format!("{owner}/{name}") }, &reference))
}

fn view(row: SecretsRow, scope: &SecretScope) -> Result<SecretsRecord, ApiError> {
    Ok(SecretsRecord {
        profile: row.profile,
        scope: scope.to_string(),
        record: SealedSecrets { sealed: row.sealed, access: serde_json::from_str(&row.access).map_err(ApiError::internal)? },
        sealed_sha256: row.sealed_sha256,
        updated_ms: row.updated_ms,
    })
}

/// `PUT /projects/{owner}/{name}/secrets/{profile}`: stores (or replaces) a sealed record.
/// 400 `invalid_sealed` for a blob that cannot be a sealed map (too short, wrong version),
/// `invalid_access_condition`, `invalid_profile`; 413 beyond [`MAX_SEALED_BYTES`].
pub async fn put(
    State(state): State<AppState>,
    Path((owner, name, profile)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<SecretsRecord>), ApiError> {
    let project = owned_project(&state, &headers, &owner, &name).await?;
    let scope = scope(&owner, &name, &profile)?;
    let bytes = read_body(body, MAX_PUT_BYTES).await?;
    let put: PutSecrets = serde_json::from_slice(&bytes).map_err(ApiError::invalid_json)?;
    if put.sealed.len() > MAX_SEALED_BYTES {
        return Err(ApiError::too_large(format!("the sealed blob is {} bytes; at most {MAX_SEALED_BYTES}", put.sealed.len())));
    }
    if put.sealed.len() < MIN_SEALED_BYTES || put.sealed[0] != outlayer_attest::seal::VERSION {
        return Err(ApiError::bad_request(
            "invalid_sealed",
            format!(
                "not a sealed blob of format v{} (seal it with `outlayer secrets seal --scope {scope}`)",
                outlayer_attest::seal::VERSION
            ),
        ));
    }
    put.access.validate().map_err(|e| ApiError::bad_request("invalid_access_condition", e.to_string()))?;
    let row = SecretsRow {
        project_id: project.id.clone(),
        profile: profile.clone(),
        sealed_sha256: sha256_hex(&put.sealed),
        sealed: put.sealed,
        access: serde_json::to_string(&put.access).map_err(ApiError::internal)?,
        updated_ms: now_ms(),
    };
    state.db.put_secrets(&row).await?;
    tracing::info!(project = %format!("{owner}/{name}"), %profile, sealed_sha256 = %row.sealed_sha256, "sealed secrets stored");
    Ok((StatusCode::OK, Json(view(row, &scope)?)))
}

/// `GET /projects/{owner}/{name}/secrets/{profile}`: the sealed record (never a plaintext).
pub async fn get(
    State(state): State<AppState>,
    Path((owner, name, profile)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<SecretsRecord>, ApiError> {
    let project = owned_project(&state, &headers, &owner, &name).await?;
    let scope = scope(&owner, &name, &profile)?;
    let row = state
        .db
        .secrets(&project.id, &profile)
        .await?
        .ok_or_else(|| ApiError::not_found("secrets_not_found", format!("no secrets profile {profile:?}")))?;
    Ok(Json(view(row, &scope)?))
}

/// `DELETE /projects/{owner}/{name}/secrets/{profile}`: 204, or 404 `secrets_not_found`.
pub async fn delete(
    State(state): State<AppState>,
    Path((owner, name, profile)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let project = owned_project(&state, &headers, &owner, &name).await?;
    scope(&owner, &name, &profile)?;
    if !state.db.delete_secrets(&project.id, &profile).await? {
        return Err(ApiError::not_found("secrets_not_found", format!("no secrets profile {profile:?}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /projects/{owner}/{name}/secrets`: the profiles, the scope to seal for, and the
/// keystore whose key to seal to.
pub async fn list(
    State(state): State<AppState>,
    Path((owner, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let project = owned_project(&state, &headers, &owner, &name).await?;
    let profiles = state.db.secret_profiles(&project.id).await?;
    Ok(Json(json!({
        "profiles": profiles,
        "accessor": format!("project:{owner}/{name}"),
        "scope_template": format!("project:{owner}/{name}|{owner}|{{profile}}"),
        "keystore": state.config.keystore_url,
    })))
}
