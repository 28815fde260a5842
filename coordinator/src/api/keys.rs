//! Payment keys: create, show, top up, revoke, ledger.
//!
//! Money has a source (issue 12): an owner credits its own key (`initial_balance`, `top-up`) only
//! on a `--dev-owners` coordinator (ledger source `dev_credit`); otherwise keys are funded by
//! on-chain deposits ([`crate::deposits`]) and admin grants ([`super::admin`]).

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::json_body;
use crate::auth;
use crate::db::KeyRow;
use crate::db::money::CreditSource;
use crate::error::ApiError;
use crate::limits::{MAX_AMOUNT, MAX_BALANCE, valid_name};
use crate::state::{AppState, now_ms};

/// Most entries in a key's `allowed_projects`.
pub const MAX_ALLOWED_PROJECTS: usize = 100;
/// Most ledger lines per `GET …/ledger` page (bounds response size; page with `after_id`).
pub const MAX_LEDGER_PAGE: i64 = 1_000;
/// Attempts at picking a free nonce when several keys are created at once.
const NONCE_RETRIES: usize = 8;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    #[serde(default)]
    nonce: Option<u32>,
    initial_balance: u64,
    #[serde(default)]
    allowed_projects: Vec<String>,
    #[serde(default)]
    max_per_call: Option<u64>,
}

#[derive(Deserialize)]
pub(super) struct LedgerQuery {
    #[serde(default)]
    after_id: Option<i64>,
    #[serde(default)]
    limit: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopUp {
    amount: u64,
}

/// JSON view of a key (never its secret).
pub(crate) fn key_view(k: &KeyRow) -> Value {
    json!({
        "owner": k.owner, "nonce": k.nonce, "balance": k.balance, "spent": k.spent,
        "reserved": k.reserved, "available": k.balance - k.spent - k.reserved,
        "allowed_projects": k.allowed_projects, "max_per_call": k.max_per_call, "revoked": k.revoked,
    })
}

fn valid_pattern(p: &str) -> bool {
    matches!(p.split_once('/'), Some((o, n)) if valid_name(o) && (n == "*" || valid_name(n)))
}

fn amount(v: u64, what: &str) -> Result<i64, ApiError> {
    if v > MAX_AMOUNT {
        return Err(ApiError::bad_request("invalid_amount", format!("{what} must be at most {MAX_AMOUNT}")));
    }
    Ok(v as i64)
}

pub(super) async fn create(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<(StatusCode, Json<Value>), ApiError> {
    let owner = auth::owner(&state, &headers).await?;
    let req: CreateKey = json_body(body).await?;
    let balance = amount(req.initial_balance, "initial_balance")?;
    if balance > 0 && !state.config.signin.dev_owners {
        return Err(self_credit_not_allowed());
    }
    let max_per_call = req.max_per_call.map(|m| amount(m, "max_per_call")).transpose()?;
    if req.allowed_projects.len() > MAX_ALLOWED_PROJECTS || !req.allowed_projects.iter().all(|p| valid_pattern(p)) {
        return Err(ApiError::bad_request(
            "invalid_allowed_projects",
            format!("allowed_projects takes at most {MAX_ALLOWED_PROJECTS} entries of the form owner/name or owner/*"),
        ));
    }
    for _ in 0..NONCE_RETRIES {
        let nonce = match req.nonce {
            Some(n) => i64::from(n),
            None => state.db.next_nonce(&owner).await?,
        };
        let secret = auth::new_secret("");
        let key = KeyRow {
            owner: owner.clone(),
            nonce,
            secret_hash: auth::hash_secret(&secret),
            balance: 0,
            spent: 0,
            reserved: 0,
            allowed_projects: req.allowed_projects.clone(),
            max_per_call,
            revoked: false,
            created_ms: now_ms(),
        };
        // The dev credit and any deposits already made on-chain for owner:nonce, with the key.
        if let Some(key) = state.db.create_key_credited(&key, balance, now_ms()).await? {
            let mut view = key_view(&key);
            view["key"] = json!(format!("{owner}:{nonce}:{secret}"));
            return Ok((StatusCode::CREATED, Json(view)));
        }
        if req.nonce.is_some() {
            return Err(ApiError::conflict("key_exists", format!("key {owner}:{nonce} already exists")));
        }
    }
    Err(ApiError::conflict("key_exists", "could not pick a free nonce; retry"))
}

/// 403 `self_credit_not_allowed`: an owner credited its own key outside `--dev-owners`.
fn self_credit_not_allowed() -> ApiError {
    ApiError::forbidden(
        "self_credit_not_allowed",
        "owners credit their own keys only on a --dev-owners coordinator: fund the key with the contract's \
         top_up_payment_key(owner, nonce) (credited once the deposit is final), or ask the operator for a grant",
    )
}

fn parse_nonce(nonce: &str) -> Result<i64, ApiError> {
    nonce.parse().map_err(|_| ApiError::not_found("key_not_found", "no such payment key"))
}

/// Authorises reading a key: its owner's bearer token, or the key itself in `X-Payment-Key`.
async fn readable(state: &AppState, headers: &HeaderMap, owner: &str, nonce: i64) -> Result<KeyRow, ApiError> {
    if auth::bearer(headers).is_some() {
        let me = auth::owner(state, headers).await?;
        if me != owner {
            return Err(ApiError::forbidden("not_owner", "this key belongs to another owner"));
        }
        return state.db.key(owner, nonce).await?.ok_or_else(|| ApiError::not_found("key_not_found", "no such payment key"));
    }
    let key = auth::payment_key(state, headers).await?;
    if key.owner != owner || key.nonce != nonce {
        return Err(ApiError::forbidden("not_owner", "X-Payment-Key is a different key"));
    }
    Ok(key)
}

pub(super) async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((owner, nonce)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let key = readable(&state, &headers, &owner, parse_nonce(&nonce)?).await?;
    Ok(Json(key_view(&key)))
}

pub(super) async fn ledger(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((owner, nonce)): Path<(String, String)>,
    query: Result<Query<LedgerQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let nonce = parse_nonce(&nonce)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    readable(&state, &headers, &owner, nonce).await?;
    let limit = q.limit.unwrap_or(MAX_LEDGER_PAGE).clamp(1, MAX_LEDGER_PAGE);
    let entries: Vec<Value> = state
        .db
        .ledger_lines(&owner, nonce, q.after_id.unwrap_or(0), limit)
        .await?
        .iter()
        .map(|l| {
            json!({ "id": l.id, "call_id": l.call_id, "kind": l.kind, "amount": l.amount, "created_at_ms": l.created_ms,
                    "source": l.source, "source_ref": l.source_ref })
        })
        .collect();
    Ok(Json(json!({ "owner": owner, "nonce": nonce, "entries": entries })))
}

pub(super) async fn top_up(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((owner, nonce)): Path<(String, String)>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let nonce = parse_nonce(&nonce)?;
    let source = if auth::is_admin(&state, &headers) {
        CreditSource::AdminGrant("top-up".to_owned())
    } else if auth::owner(&state, &headers).await? != owner {
        return Err(ApiError::forbidden("not_owner", "only the key owner or the admin may top up"));
    } else if !state.config.signin.dev_owners {
        return Err(self_credit_not_allowed());
    } else {
        CreditSource::DevCredit
    };
    let req: TopUp = json_body(body).await?;
    let value = amount(req.amount, "amount")?;
    if value == 0 {
        return Err(ApiError::bad_request("invalid_amount", "amount must be positive"));
    }
    match state.db.credit(&owner, nonce, value, &source, now_ms()).await? {
        Some(key) => Ok(Json(key_view(&key))),
        None if state.db.key(&owner, nonce).await?.is_some() => {
            Err(ApiError::bad_request("invalid_amount", format!("the balance may not exceed {MAX_BALANCE}")))
        }
        None => Err(ApiError::not_found("key_not_found", "no such payment key")),
    }
}

pub(super) async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((owner, nonce)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let nonce = parse_nonce(&nonce)?;
    if auth::owner(&state, &headers).await? != owner {
        return Err(ApiError::forbidden("not_owner", "only the key owner may revoke it"));
    }
    if !state.db.revoke(&owner, nonce).await? {
        return Err(ApiError::not_found("key_not_found", "no such payment key"));
    }
    let key = state.db.key(&owner, nonce).await?.ok_or_else(|| ApiError::not_found("key_not_found", "no such payment key"))?;
    Ok(Json(key_view(&key)))
}
