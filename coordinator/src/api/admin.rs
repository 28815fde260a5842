//! The operator's routes (bearer = the admin token, [`crate::CoordinatorConfig::admin_token`]):
//! `POST /admin/grants` credits a payment key (ledger source `admin_grant`, with the reason), and
//! `POST /admin/withdrawals/{id}/settle|reject` records what the operator did with an owner's
//! withdrawal request.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::json_body;
use super::keys::key_view;
use super::owners::withdrawal_view;
use crate::auth;
use crate::db::money::{CreditSource, WithdrawalStatus};
use crate::error::ApiError;
use crate::limits::{MAX_AMOUNT, MAX_BALANCE};
use crate::state::{AppState, now_ms};

/// Longest reason of a grant or note of a rejection, in bytes.
pub const MAX_REASON_BYTES: usize = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Grant {
    /// `owner:nonce`.
    key: String,
    amount: u64,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settle {
    tx_hash: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Reject {
    #[serde(default)]
    reason: Option<String>,
}

/// 401 `invalid_token` unless the bearer is the admin token.
fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if auth::is_admin(state, headers) {
        Ok(())
    } else {
        Err(ApiError::unauthorized("invalid_token", "this route takes the admin token (Authorization: Bearer <admin token>)"))
    }
}

fn reason(text: &str, what: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() || text.len() > MAX_REASON_BYTES {
        return Err(ApiError::bad_request("invalid_reason", format!("{what} must be 1..={MAX_REASON_BYTES} bytes")));
    }
    Ok(())
}

/// `POST /admin/grants {key: "owner:nonce", amount, reason}`.
pub(super) async fn grant(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_admin(&state, &headers)?;
    let req: Grant = json_body(body).await?;
    let Some((owner, nonce)) = req.key.split_once(':').and_then(|(o, n)| Some((o, n.parse::<i64>().ok()?))) else {
        return Err(ApiError::bad_request("invalid_key", "key must be owner:nonce"));
    };
    if req.amount == 0 || req.amount > MAX_AMOUNT {
        return Err(ApiError::bad_request("invalid_amount", format!("amount must be 1..={MAX_AMOUNT}")));
    }
    reason(&req.reason, "reason")?;
    let source = CreditSource::AdminGrant(req.reason.trim().to_owned());
    match state.db.credit(owner, nonce, req.amount as i64, &source, now_ms()).await? {
        Some(key) => {
            tracing::info!(key = req.key, amount = req.amount, reason = req.reason, "admin grant");
            let mut view = key_view(&key);
            view["granted"] = json!(req.amount);
            view["reason"] = json!(req.reason.trim());
            Ok((StatusCode::CREATED, Json(view)))
        }
        None if state.db.key(owner, nonce).await?.is_some() => {
            Err(ApiError::bad_request("invalid_amount", format!("the balance may not exceed {MAX_BALANCE}")))
        }
        None => Err(ApiError::not_found("key_not_found", "no such payment key")),
    }
}

/// `POST /admin/withdrawals/{id}/settle {tx_hash}`: the operator paid the withdrawal.
pub(super) async fn settle(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    require_admin(&state, &headers)?;
    let req: Settle = json_body(body).await?;
    if outlayer_near::decode_hash("transaction hash", &req.tx_hash).is_err() {
        return Err(ApiError::bad_request("invalid_tx_hash", "tx_hash must be a base58 NEAR transaction hash (32 bytes)"));
    }
    finish(&state, &id, WithdrawalStatus::Settled, Some(&req.tx_hash), None).await
}

/// `POST /admin/withdrawals/{id}/reject {reason?}`: the operator refused; the amount is available
/// to the owner again.
pub(super) async fn reject(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    require_admin(&state, &headers)?;
    let req: Reject = super::optional_json_body(body).await?;
    if let Some(r) = &req.reason {
        reason(r, "reason")?;
    }
    finish(&state, &id, WithdrawalStatus::Rejected, None, req.reason.as_deref().map(str::trim)).await
}

async fn finish(
    state: &AppState,
    id: &str,
    status: WithdrawalStatus,
    tx_hash: Option<&str>,
    note: Option<&str>,
) -> Result<Json<Value>, ApiError> {
    match state.db.finish_withdrawal(id, status, tx_hash, note, now_ms()).await? {
        Some(w) => {
            tracing::info!(id, owner = w.owner, amount = w.amount, status = status.as_str(), "withdrawal finished");
            Ok(Json(withdrawal_view(&w)))
        }
        None => match state.db.withdrawal(id).await? {
            Some(w) => Err(ApiError::conflict("withdrawal_not_pending", format!("withdrawal {id} is already {}", w.status.as_str()))),
            None => Err(ApiError::not_found("withdrawal_not_found", "no such withdrawal")),
        },
    }
}
