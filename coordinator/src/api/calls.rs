//! `POST /call/{owner}/{project}`, `GET /calls/{id}` and the public `GET /calls/{id}/receipt`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::read_body;
use crate::auth;
use crate::error::ApiError;
use crate::limits::MAX_CALL_BODY_BYTES;
use crate::model::{CallRequest, CallStatus};
use crate::service::{CallMoney, view};
use crate::state::AppState;
use outlayer_protocol::CallReceipt;

/// Header: most the caller accepts to pay (micro-USD), covering compute and the deposit.
pub const COMPUTE_LIMIT_HEADER: &str = "x-compute-limit";
/// Header: micro-USD handed to the guest, refundable by it.
pub const ATTACHED_DEPOSIT_HEADER: &str = "x-attached-deposit";

fn amount_header(headers: &HeaderMap, name: &str) -> Result<Option<u64>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| ApiError::bad_request("invalid_header", format!("{name} must be a non-negative integer (micro-USD)"))),
    }
}

pub(super) async fn call(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((owner, name)): Path<(String, String)>,
    body: Body,
) -> Result<Response, ApiError> {
    let result = call_inner(&state, &headers, &owner, &name, body).await;
    if result.is_err() {
        state.metrics.call_rejected();
    }
    result
}

async fn call_inner(state: &AppState, headers: &HeaderMap, owner: &str, name: &str, body: Body) -> Result<Response, ApiError> {
    // The key and the project are looked up at once (two round trips to PostgreSQL in the time of
    // one; two cache hits on SQLite); an invalid key is still the answer before anything else.
    let (key, project) = tokio::join!(auth::call_payment_key(state, headers), super::projects::find(state, owner, name));
    let key = key?;
    let money = CallMoney {
        compute_limit: amount_header(headers, COMPUTE_LIMIT_HEADER)?,
        attached_deposit: amount_header(headers, ATTACHED_DEPOSIT_HEADER)?.unwrap_or(0),
    };
    let bytes = read_body(body, MAX_CALL_BODY_BYTES).await?;
    let req: CallRequest = serde_json::from_slice(&bytes).map_err(ApiError::invalid_json)?;
    // `input` is stored as JSON text (a NUL in it stays the escape `\u0000`); `version_key` is looked up.
    if let Some(version) = &req.version_key {
        crate::hygiene::check_text("version_key", version)?;
    }
    let project = project?;
    if !auth::key_allows(&key, owner, name) {
        return Err(ApiError::forbidden("project_not_allowed", format!("this payment key may not pay for {owner}/{name}")));
    }
    if let Err(wait) = state.limiter.check(&format!("{}:{}", key.owner, key.nonce)).await {
        return Err(ApiError::rate_limited("too many calls with this payment key; slow down", wait));
    }
    if req.is_async {
        let call = state.submit_call(&key, &project, &req, money).await?;
        let poll_url = outlayer_protocol::CallView::poll_url(&call.id);
        return Ok((StatusCode::ACCEPTED, Json(json!({ "call_id": call.id, "status": call.status, "poll_url": poll_url }))).into_response());
    }
    let row = state.submit_and_wait(&key, &project, &req, money, state.config.sync_call_timeout).await?;
    let status = match row.status {
        CallStatus::Completed => StatusCode::OK,
        CallStatus::Failed => StatusCode::UNPROCESSABLE_ENTITY,
        CallStatus::Queued | CallStatus::Leased => StatusCode::ACCEPTED,
    };
    Ok((status, Json(view(&row))).into_response())
}

pub(super) async fn show(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response, ApiError> {
    let key = auth::payment_key(&state, &headers).await?;
    let not_found = || ApiError::not_found("call_not_found", "no such call for this payment key");
    let row = state.db.call(&id).await?.ok_or_else(not_found)?;
    if row.key_owner != key.owner || row.key_nonce != key.nonce {
        return Err(not_found());
    }
    Ok(Json(view(&row)).into_response())
}

/// `GET /payment-keys/balance`: the balance of the key in `X-Payment-Key` (OutLayer's caller
/// surface; the same view as `GET /payment-keys/{owner}/{nonce}`, `available` = balance − spent
/// − reserved).
pub(super) async fn balance(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<serde_json::Value>, ApiError> {
    let key = auth::payment_key(&state, &headers).await?;
    Ok(Json(super::keys::key_view(&key)))
}

/// The public proof of a settled call: digests only (no input or output), readable by anyone
/// with the call id. 404 `call_not_found`, or `receipt_not_found` while the call has no receipt
/// (not settled yet, or no worker produced a result).
pub(super) async fn receipt(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<CallReceipt>, ApiError> {
    let row = state.db.call(&id).await?.ok_or_else(|| ApiError::not_found("call_not_found", "no such call"))?;
    let settled = row.result.as_ref();
    let (Some(receipt), Some(worker)) = (settled.and_then(|r| r.receipt.clone()), settled.and_then(|r| r.worker.clone())) else {
        return Err(ApiError::not_found("receipt_not_found", format!("call {id} has no receipt (status {})", row.status.as_str())));
    };
    Ok(Json(CallReceipt {
        call_id: row.id,
        status: row.status,
        attestation_url: format!("/workers/{}/attestation", worker.id),
        receipt,
        worker,
    }))
}
