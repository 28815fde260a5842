//! Owners are NEAR accounts: sign-in with a NEP-413 signed message.
//!
//! 1. `POST /auth/challenge` issues a single-use 32-byte nonce (stored in the database with its
//!    expiry, so any replica can take the sign-in; a bounded table: at most
//!    [`MAX_PENDING_SIGNIN_CHALLENGES`] unexpired ones), the coordinator's recipient name and the
//!    message to sign.
//! 2. The client signs the NEP-413 payload `{message, nonce, recipient}` with a key of its
//!    account (a wallet's `signMessage`, or `outlayer login`).
//! 3. `POST /auth/signin` checks the recipient and message, the signature, consumes the nonce,
//!    then asks NEAR (final finality) whether the key is a **full-access** key of the account, and
//!    issues an owner token (creating the owner on first sign-in; a later sign-in replaces the
//!    token).
//!
//! Unverified owners (`POST /owners {owner}`) exist only with [`SigninConfig::dev_owners`].

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use outlayer_near::nep413::{self, Nep413Payload};
use outlayer_near::{BlockRef, RpcClient, RpcError};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::auth;
use crate::error::ApiError;
use crate::limits::valid_name;
use crate::state::{AppState, now_ms};

/// Default recipient name challenges carry (`--auth-recipient`).
pub const DEFAULT_RECIPIENT: &str = "outlayer";
/// Default lifetime of a sign-in challenge.
pub const DEFAULT_SIGNIN_TTL: Duration = Duration::from_secs(300);
/// Most unexpired, unused sign-in challenges at once (defends the table against a client that
/// asks for challenges and never signs in).
pub const MAX_PENDING_SIGNIN_CHALLENGES: i64 = 10_000;
/// How long the NEAR RPC may take to answer a sign-in's access key query.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// The message a sign-in signs, for a coordinator named `recipient`.
pub fn signin_message(recipient: &str) -> String {
    format!("Sign in to the OutLayer coordinator {recipient} as a project owner")
}

/// Sign-in and dev-owner settings.
#[derive(Debug, Clone)]
pub struct SigninConfig {
    /// Allow `POST /owners {owner}`: owners under any name, with no proof (development only;
    /// `outlayer serve` turns it on and says so). Off: `POST /owners` answers 403
    /// `dev_owners_disabled`.
    pub dev_owners: bool,
    /// The NEP-413 recipient this coordinator accepts ([`DEFAULT_RECIPIENT`]).
    pub recipient: String,
    /// Lifetime of a challenge ([`DEFAULT_SIGNIN_TTL`]).
    pub challenge_ttl: Duration,
    /// Where access keys are looked up (NEAR RPC). `None`: sign-in answers 503
    /// `chain_unavailable`.
    pub access_keys: Option<Arc<dyn AccessKeys>>,
}

impl Default for SigninConfig {
    fn default() -> Self {
        Self { dev_owners: false, recipient: DEFAULT_RECIPIENT.to_owned(), challenge_ttl: DEFAULT_SIGNIN_TTL, access_keys: None }
    }
}

/// What an access key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPermission {
    /// Any action: proves control of the account.
    FullAccess,
    /// Function calls on one contract only: does not.
    FunctionCall,
}

/// Why an access key could not be looked up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessKeyError {
    /// The account does not exist (or its id is not a valid NEAR account id).
    #[error("account {0} does not exist")]
    UnknownAccount(String),
    /// The account exists but has no such key.
    #[error("the key is not an access key of {0}")]
    UnknownKey(String),
    /// The chain could not be asked (timeout, transport, unexpected answer).
    #[error("NEAR RPC unavailable: {0}")]
    Unavailable(String),
}

/// Looks up an account's access key (behind a trait so tests can answer from recordings).
#[async_trait]
pub trait AccessKeys: Send + Sync + Debug {
    /// The permission of `public_key` (`ed25519:<base58>`) on `account_id`, at final finality.
    async fn permission(&self, account_id: &str, public_key: &str) -> Result<KeyPermission, AccessKeyError>;
}

/// [`AccessKeys`] through NEAR JSON-RPC `view_access_key` at final finality.
#[derive(Debug, Clone)]
pub struct RpcAccessKeys(pub RpcClient);

impl RpcAccessKeys {
    /// A client of `url` with [`RPC_TIMEOUT`].
    pub fn new(url: &str) -> Self {
        Self(RpcClient::new(url).with_timeout(RPC_TIMEOUT))
    }
}

#[async_trait]
impl AccessKeys for RpcAccessKeys {
    async fn permission(&self, account_id: &str, public_key: &str) -> Result<KeyPermission, AccessKeyError> {
        let view = match self.0.view_access_key(&BlockRef::Final, account_id, public_key).await {
            Ok(view) => view,
            Err(e) => return Err(classify(account_id, &e)),
        };
        permission_of(&view["permission"])
            .ok_or_else(|| AccessKeyError::Unavailable(format!("unexpected access key permission {}", view["permission"])))
    }
}

/// `"FullAccess"` or `{"FunctionCall": {...}}`, as `view_access_key` answers.
fn permission_of(value: &serde_json::Value) -> Option<KeyPermission> {
    match value {
        serde_json::Value::String(s) if s == "FullAccess" => Some(KeyPermission::FullAccess),
        serde_json::Value::Object(o) if o.contains_key("FunctionCall") => Some(KeyPermission::FunctionCall),
        _ => None,
    }
}

fn classify(account_id: &str, e: &RpcError) -> AccessKeyError {
    match e.node_cause() {
        Some("UNKNOWN_ACCOUNT" | "INVALID_ACCOUNT") => AccessKeyError::UnknownAccount(account_id.to_owned()),
        Some("UNKNOWN_ACCESS_KEY") => AccessKeyError::UnknownKey(account_id.to_owned()),
        _ => AccessKeyError::Unavailable(e.to_string()),
    }
}

/// `POST /auth/challenge` answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SigninChallenge {
    /// 32 random bytes, base64: the NEP-413 nonce.
    pub nonce: String,
    /// The NEP-413 recipient to sign for.
    pub recipient: String,
    /// The NEP-413 message to sign.
    pub message: String,
    /// When the challenge stops being accepted, unix ms.
    pub expires_at_ms: i64,
}

/// `POST /auth/signin` body: what a wallet's `signMessage` returns plus what was signed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigninRequest {
    /// The NEAR account signing in (becomes the owner name).
    pub account_id: String,
    /// The signing key, `ed25519:<base58>`.
    pub public_key: String,
    /// The ed25519 signature: base64 (wallets) or `ed25519:<base58>`.
    pub signature: String,
    /// The challenge's nonce (base64).
    pub nonce: String,
    /// The challenge's message.
    pub message: String,
    /// The challenge's recipient.
    pub recipient: String,
    /// The callback URL, if the wallet signed one.
    #[serde(default)]
    pub callback_url: Option<String>,
}

/// `POST /auth/signin` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SigninResponse {
    /// The owner name (the account id).
    pub owner: String,
    /// A fresh owner API token (shown once; replaces any earlier token of this owner).
    pub token: String,
    /// `true` if this sign-in created the owner.
    pub created: bool,
}

fn err(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(status, code, message)
}

/// Issues a challenge (503 `too_many_challenges` when the table is full).
pub async fn issue_challenge(state: &AppState) -> Result<SigninChallenge, ApiError> {
    let config = &state.config.signin;
    let mut nonce = [0u8; nep413::NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let nonce = nep413::encode_nonce(&nonce);
    let now = now_ms();
    let expires_at_ms = now.saturating_add(i64::try_from(config.challenge_ttl.as_millis()).unwrap_or(i64::MAX));
    if !state.db.issue_signin_challenge(&nonce, expires_at_ms, now, MAX_PENDING_SIGNIN_CHALLENGES).await? {
        return Err(err(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_challenges",
            "too many unused sign-in challenges are pending; retry later",
        ));
    }
    Ok(SigninChallenge { nonce, recipient: config.recipient.clone(), message: signin_message(&config.recipient), expires_at_ms })
}

/// Verifies a sign-in and issues an owner token. Checks, in order: the account id (400
/// `invalid_name`), the recipient (400 `wrong_recipient`), the message (400 `wrong_message`),
/// key, nonce and signature encodings (400 `invalid_signature`), the signature (401
/// `invalid_signature`), the nonce (401 `nonce_unknown`: never issued, expired or used), then on
/// chain: 403 `account_unknown`, 403 `not_full_access` (a function-call key or no key of that
/// account), 503 `chain_unavailable`.
pub async fn sign_in(state: &AppState, req: &SigninRequest) -> Result<SigninResponse, ApiError> {
    let config = &state.config.signin;
    if !valid_name(&req.account_id) {
        return Err(ApiError::bad_request("invalid_name", "account_id must be a NEAR account id (2..=64 chars of [a-z0-9._-])"));
    }
    if req.recipient != config.recipient {
        return Err(ApiError::bad_request(
            "wrong_recipient",
            format!("this coordinator accepts sign-ins for recipient {:?}, not {:?}", config.recipient, req.recipient),
        ));
    }
    if req.message != signin_message(&config.recipient) {
        return Err(ApiError::bad_request("wrong_message", "the message is not the one POST /auth/challenge issued"));
    }
    let malformed = |e: nep413::Nep413Error| ApiError::bad_request("invalid_signature", e.to_string());
    let key = nep413::parse_public_key(&req.public_key).map_err(malformed)?;
    let signature = nep413::parse_signature(&req.signature).map_err(malformed)?;
    let nonce = nep413::parse_nonce(&req.nonce).map_err(malformed)?;
    let payload =
        Nep413Payload { message: req.message.clone(), nonce, recipient: req.recipient.clone(), callback_url: req.callback_url.clone() };
    payload.verify(&key, &signature).map_err(|e| ApiError::unauthorized("invalid_signature", e.to_string()))?;
    // Single use from here on, whatever the chain answers: a replay never reaches the RPC.
    if !state.db.consume_signin_challenge(&nep413::encode_nonce(&nonce), now_ms()).await? {
        return Err(ApiError::unauthorized(
            "nonce_unknown",
            "unknown, expired or already used nonce: get a new one from POST /auth/challenge",
        ));
    }
    let access_keys = config
        .access_keys
        .as_ref()
        .ok_or_else(|| err(StatusCode::SERVICE_UNAVAILABLE, "chain_unavailable", "this coordinator has no NEAR RPC configured"))?;
    let public_key = outlayer_near::tx::PublicKey(key.to_bytes()).to_string();
    match access_keys.permission(&req.account_id, &public_key).await {
        Ok(KeyPermission::FullAccess) => {}
        Ok(KeyPermission::FunctionCall) => {
            return Err(ApiError::forbidden(
                "not_full_access",
                format!("{public_key} is a function-call key of {}; sign with a full-access key", req.account_id),
            ));
        }
        Err(AccessKeyError::UnknownKey(account)) => {
            return Err(ApiError::forbidden("not_full_access", format!("{public_key} is not an access key of {account}")));
        }
        Err(AccessKeyError::UnknownAccount(account)) => {
            return Err(ApiError::forbidden("account_unknown", format!("account {account} does not exist on NEAR")));
        }
        Err(AccessKeyError::Unavailable(why)) => {
            return Err(err(StatusCode::SERVICE_UNAVAILABLE, "chain_unavailable", format!("could not check the key on NEAR: {why}")));
        }
    }
    let token = auth::new_secret("olo_");
    let hash = auth::hash_secret(&token);
    let created = state.db.create_owner(&req.account_id, &hash, now_ms()).await?;
    if !created && !state.db.set_owner_token(&req.account_id, &hash).await? {
        return Err(ApiError::internal("owner vanished during sign-in"));
    }
    tracing::info!(owner = %req.account_id, created, "owner signed in with a NEAR full-access key");
    Ok(SigninResponse { owner: req.account_id.clone(), token, created })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn permissions_as_the_node_answers_them() {
        assert_eq!(permission_of(&json!("FullAccess")), Some(KeyPermission::FullAccess));
        assert_eq!(
            permission_of(&json!({"FunctionCall": {"allowance": null, "receiver_id": "x", "method_names": []}})),
            Some(KeyPermission::FunctionCall)
        );
        assert_eq!(permission_of(&json!("Other")), None);
    }
}
