//! The on-chain facts the keystore reads itself: for an on-chain job it never takes a worker's
//! word, it reads the pending request and the secrets record from the `outlayer` contract
//! ([`ContractReader`]). [`ChainError`] is also what access conditions report
//! ([`crate::conditions`]).
//!
//! Every read is a view call at `final` finality. Only the fields the keystore uses are decoded;
//! the contract may add fields without breaking the keystore.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use outlayer_near::rpc::{CONTRACT_EXECUTION_ERROR, QUERY_ERROR};
use outlayer_near::{BlockRef, RpcClient, RpcError};
use outlayer_protocol::secrets::{AccessCondition, SealedSecrets, SecretAccessor, SecretsRef};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The longest piece of a node's text kept in an error (a node may echo large payloads).
const MAX_DETAIL_CHARS: usize = 200;

/// Why NEAR could not be read, or could not be read as expected.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The RPC node could not be reached, timed out, or answered a node-side error (the same read
    /// may succeed later).
    #[error("NEAR RPC failed: {0}")]
    Rpc(String),
    /// The account does not exist on NEAR (the node's `UNKNOWN_ACCOUNT`). Access conditions treat
    /// this as a fact, not a failure: an account that does not exist holds nothing and owns no
    /// token, and a token contract that does not exist has no holders.
    #[error("account {account} does not exist on NEAR")]
    UnknownAccount {
        /// The account the node named (or the one asked about).
        account: String,
    },
    /// The contract has no code, or its view function failed (a panic, bad arguments).
    #[error("view {method} of {contract} failed: {message}")]
    ViewFailed {
        /// The contract called.
        contract: String,
        /// The view function.
        method: String,
        /// The node's text, shortened.
        message: String,
    },
    /// The node's or the contract's answer is not what the protocol defines.
    #[error("unexpected answer from NEAR: {0}")]
    BadAnswer(String),
}

impl ChainError {
    /// Maps a client error of a read of `account` (the account viewed or the contract called,
    /// with `method` for a view call).
    pub(crate) fn from_rpc(err: RpcError, account: &str, method: Option<&str>) -> Self {
        match err {
            RpcError::Node { cause, message, data, .. } => match cause.as_str() {
                "UNKNOWN_ACCOUNT" => {
                    let named = data.get("requested_account_id").and_then(|v| v.as_str()).filter(|a| !a.is_empty());
                    ChainError::UnknownAccount { account: named.unwrap_or(account).to_owned() }
                }
                "NO_CONTRACT_CODE" | CONTRACT_EXECUTION_ERROR | QUERY_ERROR if method.is_some() => ChainError::ViewFailed {
                    contract: account.to_owned(),
                    method: method.unwrap_or_default().to_owned(),
                    message: shorten(&message),
                },
                _ => ChainError::Rpc(shorten(&format!("{}: {message}", if cause.is_empty() { "node error" } else { &cause }))),
            },
            RpcError::InvalidResponse(text) => ChainError::BadAnswer(shorten(&text)),
            RpcError::ResponseTooLarge(cap) => ChainError::BadAnswer(format!("the answer exceeds {cap} bytes")),
            other @ (RpcError::Timeout | RpcError::Transport(_) | RpcError::InvalidArgument(_)) => {
                ChainError::Rpc(shorten(&other.to_string()))
            }
        }
    }
}

/// Cuts `text` to [`MAX_DETAIL_CHARS`] characters.
pub(crate) fn shorten(text: &str) -> String {
    shorten_to(text, MAX_DETAIL_CHARS)
}

/// Cuts `text` to `max` characters, marking the cut with `…`.
pub(crate) fn shorten_to(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// Calls the view `method` of `contract` with JSON `args` at final finality and decodes its JSON
/// result as `T`.
pub(crate) async fn view_json<T: DeserializeOwned>(
    rpc: &RpcClient,
    contract: &str,
    method: &str,
    args: &serde_json::Value,
) -> Result<T, ChainError> {
    let args = serde_json::to_vec(args).map_err(|e| ChainError::BadAnswer(format!("arguments of {method}: {e}")))?;
    let view =
        rpc.view_call(&BlockRef::Final, contract, method, &args).await.map_err(|e| ChainError::from_rpc(e, contract, Some(method)))?;
    view.json().map_err(|e| ChainError::BadAnswer(shorten(&format!("{contract}.{method} returned unexpected JSON: {e}"))))
}

/// A request waiting on the `outlayer` contract, as far as the keystore needs it (the
/// contract's `get_request` view).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnChainRequest {
    /// The contract's request id.
    pub request_id: u64,
    /// The account that called `request_execution`: the account access conditions are evaluated
    /// for.
    pub sender_id: String,
    /// `owner/name` when the request runs a project.
    pub project_id: Option<String>,
    /// The component the request runs (lowercase hex sha256).
    pub wasm_sha256: String,
    /// The secrets the request asks for.
    pub secrets_ref: Option<SecretsRef>,
    /// True once a worker resolved the request: its keys are no longer released.
    pub resolved: bool,
}

/// The fields of the contract's `PendingRequest` JSON that the keystore reads.
#[derive(Deserialize)]
struct RequestView {
    request_id: u64,
    sender_id: String,
    source: SourceView,
    #[serde(default)]
    secrets_ref: Option<SecretsRef>,
    resolved: bool,
}

/// The fields of the contract's `ResolvedSource` JSON that the keystore reads.
#[derive(Deserialize)]
struct SourceView {
    #[serde(default)]
    project_id: Option<String>,
    wasm_sha256: String,
}

/// The fields of the contract's `StoredSecrets` JSON that the keystore reads.
#[derive(Deserialize)]
struct StoredSecretsView {
    owner: String,
    accessor: SecretAccessor,
    profile: String,
    /// Base64 (the contract's `Base64VecU8`).
    encrypted_data: String,
    access: AccessCondition,
}

/// Reads the `outlayer` contract at final finality.
#[derive(Clone, Debug)]
pub struct ContractReader {
    rpc: RpcClient,
    contract: String,
}

impl ContractReader {
    /// A reader of the `outlayer` contract deployed at `contract`, through `rpc`.
    pub fn new(rpc: RpcClient, contract: impl Into<String>) -> Self {
        Self { rpc, contract: contract.into() }
    }

    /// The contract account read.
    pub fn contract(&self) -> &str {
        &self.contract
    }

    /// The request `request_id` (view `get_request`), or `None` when the contract holds no such
    /// request (never made, or already settled and removed).
    pub async fn pending_request(&self, request_id: u64) -> Result<Option<OnChainRequest>, ChainError> {
        let args = serde_json::json!({ "request_id": request_id });
        let Some(view) = view_json::<Option<RequestView>>(&self.rpc, &self.contract, "get_request", &args).await? else {
            return Ok(None);
        };
        if view.request_id != request_id {
            return Err(ChainError::BadAnswer(format!("get_request({request_id}) answered request {}", view.request_id)));
        }
        Ok(Some(OnChainRequest {
            request_id: view.request_id,
            sender_id: view.sender_id,
            project_id: view.source.project_id,
            wasm_sha256: view.source.wasm_sha256,
            secrets_ref: view.secrets_ref,
            resolved: view.resolved,
        }))
    }

    /// The secrets record `owner` stored for `accessor` under `profile` (view `get_secrets`), or
    /// `None` when there is none. The contract's `encrypted_data` is the sealed blob; a record
    /// answered for another owner, accessor or profile is refused as [`ChainError::BadAnswer`].
    pub async fn secrets(&self, owner: &str, accessor: &SecretAccessor, profile: &str) -> Result<Option<SealedSecrets>, ChainError> {
        let args = serde_json::json!({ "owner": owner, "accessor": accessor, "profile": profile });
        let Some(view) = view_json::<Option<StoredSecretsView>>(&self.rpc, &self.contract, "get_secrets", &args).await? else {
            return Ok(None);
        };
        if view.owner != owner || view.accessor != *accessor || view.profile != profile {
            return Err(ChainError::BadAnswer(format!(
                "get_secrets({owner}, {accessor}, {profile}) answered the record of {}, {}, {}",
                view.owner, view.accessor, view.profile
            )));
        }
        let sealed = BASE64
            .decode(view.encrypted_data.as_bytes())
            .map_err(|e| ChainError::BadAnswer(format!("get_secrets: encrypted_data is not base64: {e}")))?;
        Ok(Some(SealedSecrets { sealed, access: view.access }))
    }
}
