//! `POST /owners` (unverified owner + API token; `--dev-owners` only), `GET /earnings` and
//! `POST /earnings/withdrawals` (an owner asks for its earnings; the operator settles or rejects
//! the request with the admin routes).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::json_body;
use crate::auth;
use crate::db::money::{WithdrawalRow, WithdrawalStatus};
use crate::error::ApiError;
use crate::limits::valid_name;
use crate::state::{AppState, now_ms};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateOwner {
    owner: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Withdraw {
    amount: u64,
    /// The NEAR account to pay.
    to: String,
}

/// Most withdrawals listed by `GET /earnings` (newest first).
pub const MAX_LISTED_WITHDRAWALS: i64 = 100;

/// JSON view of a withdrawal.
pub(crate) fn withdrawal_view(w: &WithdrawalRow) -> Value {
    json!({
        "id": w.id, "owner": w.owner, "amount": w.amount, "to": w.to_account, "status": w.status.as_str(),
        "tx_hash": w.tx_hash, "note": w.note, "requested_at_ms": w.requested_ms, "finished_at_ms": w.finished_ms,
    })
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
    let (_, pending, settled) = state.db.earnings_totals(&owner).await?;
    let withdrawals: Vec<Value> = state.db.withdrawals_of(&owner, MAX_LISTED_WITHDRAWALS).await?.iter().map(withdrawal_view).collect();
    Ok(Json(json!({
        "owner": owner, "total": total, "projects": projects,
        "withdrawals_pending": pending, "withdrawals_settled": settled, "available": total - pending - settled,
        "withdrawals": withdrawals,
    })))
}

/// `POST /earnings/withdrawals {amount, to}`: records a pending withdrawal of `amount` micro-USD
/// of the owner's earnings, to be paid to the NEAR account `to` by the operator. The amount
/// leaves the available earnings at once (409 `insufficient_earnings` beyond them).
pub(super) async fn withdraw(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<(StatusCode, Json<Value>), ApiError> {
    let owner = auth::owner(&state, &headers).await?;
    let req: Withdraw = json_body(body).await?;
    if req.amount == 0 || req.amount > i64::MAX as u64 {
        return Err(ApiError::bad_request("invalid_amount", "amount must be a positive number of micro-USD"));
    }
    if !valid_name(&req.to) {
        return Err(ApiError::bad_request("invalid_account", "to must be a NEAR account id (2..=64 chars of [a-z0-9._-])"));
    }
    let withdrawal = WithdrawalRow {
        id: uuid::Uuid::new_v4().to_string(),
        owner: owner.clone(),
        amount: req.amount as i64,
        to_account: req.to,
        status: WithdrawalStatus::Pending,
        tx_hash: None,
        note: None,
        requested_ms: now_ms(),
        finished_ms: None,
    };
    if !state.db.request_withdrawal(&withdrawal).await? {
        let (earned, pending, settled) = state.db.earnings_totals(&owner).await?;
        return Err(ApiError::conflict(
            "insufficient_earnings",
            format!("{} micro-USD asked, {} available", req.amount, earned - pending - settled),
        ));
    }
    Ok((StatusCode::CREATED, Json(withdrawal_view(&withdrawal))))
}
