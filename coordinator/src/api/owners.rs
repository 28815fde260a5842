//! `POST /owners` (unverified owner + API token; `--dev-owners` only) and `GET /earnings`.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::json_body;
use crate::auth;
use crate::error::ApiError;
use crate::limits::valid_name;
use crate::state::{AppState, now_ms};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateOwner {
    owner: String,
}

pub(super) async fn create(State(state): State<AppState>, body: Body) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !state.config.signin.dev_owners {
        return Err(ApiError::forbidden(
            "dev_owners_disabled",
            "unverified owners exist only on a coordinator run with --dev-owners: sign in with a NEAR account \
             (POST /auth/challenge, then POST /auth/signin; or `outlayer login`)",
        ));
    }
    let req: CreateOwner = json_body(body).await?;
    if !valid_name(&req.owner) {
        return Err(ApiError::bad_request("invalid_name", "owner must be 2..=64 chars of [a-z0-9._-]"));
    }
    let token = auth::new_secret("olo_");
    if !state.db.create_owner(&req.owner, &auth::hash_secret(&token), now_ms()).await? {
        return Err(ApiError::conflict("owner_exists", "this owner already exists"));
    }
    Ok((StatusCode::CREATED, Json(json!({ "owner": req.owner, "token": token }))))
}

pub(super) async fn earnings(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let owner = auth::owner(&state, &headers).await?;
    let rows = state.db.earnings(&owner).await?;
    let total: i64 = rows.iter().map(|r| r.amount).sum();
    let projects: Vec<Value> =
        rows.iter().map(|r| json!({ "project_id": r.project_id, "name": r.project_name, "amount": r.amount, "calls": r.calls })).collect();
    Ok(Json(json!({ "owner": owner, "total": total, "projects": projects })))
}
