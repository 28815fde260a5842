//! Credentials: owner API tokens, worker tokens, the admin token and payment keys.
//!
//! Tokens and key secrets are 32 random bytes (hex); only their sha256 is stored.

use axum::http::HeaderMap;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::db::{KeyRow, WorkerRow};
use crate::error::ApiError;
use crate::state::AppState;

/// Header carrying the payment key `owner:nonce:secret`.
pub const PAYMENT_KEY_HEADER: &str = "x-payment-key";

/// A fresh random secret with a prefix (`olo_` owner token, `olw_` worker token, none for keys).
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// sha256 hex of a secret (what is stored).
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Constant-time equality of two byte strings of possibly different length.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `Authorization: Bearer <token>` value, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// The owner authenticated by the bearer token, or 401 `invalid_token`.
pub async fn owner(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let token = bearer(headers).ok_or_else(|| ApiError::unauthorized("invalid_token", "missing Authorization: Bearer <owner token>"))?;
    let owner = state
        .db
        .owner_by_token(&hash_secret(token))
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "unknown owner token"))?;
    state.admission.owner_request(&owner).await?;
    Ok(owner)
}

/// `true` if the bearer token is the configured admin token.
pub fn is_admin(state: &AppState, headers: &HeaderMap) -> bool {
    match (&state.config.admin_token, bearer(headers)) {
        (Some(admin), Some(given)) => ct_eq(hash_secret(admin).as_bytes(), hash_secret(given).as_bytes()),
        _ => false,
    }
}

/// The worker authenticated by the bearer token, or 401 `invalid_worker_token`.
pub async fn worker(state: &AppState, headers: &HeaderMap) -> Result<WorkerRow, ApiError> {
    let token =
        bearer(headers).ok_or_else(|| ApiError::unauthorized("invalid_worker_token", "missing Authorization: Bearer <worker token>"))?;
    state
        .db
        .worker_by_token(&hash_secret(token))
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_worker_token", "unknown worker token"))
}

/// Splits `owner:nonce:secret`.
pub fn parse_payment_key(raw: &str) -> Option<(&str, i64, &str)> {
    let mut parts = raw.trim().splitn(3, ':');
    let owner = parts.next()?;
    let nonce = parts.next()?.parse().ok()?;
    let secret = parts.next()?;
    (!owner.is_empty() && !secret.is_empty()).then_some((owner, nonce, secret))
}

/// The payment key in `X-Payment-Key`, authenticated: 401 `invalid_payment_key` (missing,
/// malformed, unknown or wrong secret) or 401 `payment_key_revoked`.
pub async fn payment_key(state: &AppState, headers: &HeaderMap) -> Result<KeyRow, ApiError> {
    authenticate_key(state, headers, false).await
}

/// [`payment_key`] for `POST /call`: the same checks and errors, but the key's balance fields may
/// be stale (see [`crate::db::Backend::key_for_auth`]); the reservation checks the balance.
pub async fn call_payment_key(state: &AppState, headers: &HeaderMap) -> Result<KeyRow, ApiError> {
    authenticate_key(state, headers, true).await
}

async fn authenticate_key(state: &AppState, headers: &HeaderMap, for_call: bool) -> Result<KeyRow, ApiError> {
    let invalid = || ApiError::unauthorized("invalid_payment_key", "missing or invalid X-Payment-Key (owner:nonce:secret)");
    let raw = headers.get(PAYMENT_KEY_HEADER).and_then(|v| v.to_str().ok()).ok_or_else(invalid)?;
    let (owner, nonce, secret) = parse_payment_key(raw).ok_or_else(invalid)?;
    let key = if for_call { state.db.key_for_auth(owner, nonce).await? } else { state.db.key(owner, nonce).await? };
    let key = key.ok_or_else(invalid)?;
    if !ct_eq(key.secret_hash.as_bytes(), hash_secret(secret).as_bytes()) {
        return Err(invalid());
    }
    if key.revoked {
        return Err(ApiError::unauthorized("payment_key_revoked", "this payment key was revoked"));
    }
    Ok(key)
}

/// `true` if the key may pay for `owner/name` (empty list = any project; entries are
/// `owner/name` or `owner/*`).
pub fn key_allows(key: &KeyRow, owner: &str, name: &str) -> bool {
    key.allowed_projects.is_empty()
        || key.allowed_projects.iter().any(|p| match p.split_once('/') {
            Some((o, "*")) => o == owner,
            Some((o, n)) => o == owner && n == name,
            None => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_key_format() {
        assert_eq!(parse_payment_key("alice:3:abc"), Some(("alice", 3, "abc")));
        assert_eq!(parse_payment_key("alice:x:abc"), None);
        assert_eq!(parse_payment_key("alice:3:"), None);
        assert_eq!(parse_payment_key("alice"), None);
    }
}
