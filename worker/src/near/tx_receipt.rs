//! Reading an on-chain result back from its `resolve_execution` transaction, for
//! `outlayer verify tx <hash>` and indexers: the signed receipt the worker sent, the request id and
//! response it resolved with, and the `execution_resolved` event the contract logged.
//!
//! [`fetch_resolution`] asks a node for the transaction (`tx`, waiting until it is final) and
//! hands the answer to [`resolution_from_status`], which needs no network:
//! 1. the transaction's `FunctionCall` action named `resolve_execution` (exactly one), its base64
//!    `args` decoded as `{request_id, response, receipt?}`;
//! 2. the `EVENT_JSON:` logs of the receipt outcomes *executed by the transaction's receiver*
//!    (the contract; a log of any other account could be written by anyone), the
//!    `execution_resolved` event of the `near-outlayer` standard for that request;
//! 3. the transaction's final status (`status.Failure`: the contract refused it, e.g.
//!    `Receipt refused: ...`; then no event was logged).
//!
//! Nothing here checks the receipt: the caller does (`SignedReceipt::verify`, the worker's
//! attestation, the key the transaction was signed with: [`ChainResolution::signer_public_key`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), outlayer_worker::near::tx_receipt::TxReceiptError> {
//! use outlayer_worker::near::tx_receipt::fetch_resolution;
//! let found = fetch_resolution("https://rpc.testnet.near.org", "6zgh2u9DqHHiXzdy9ouTP7oGky2T4nugqzqt9wJZwNFm", "outlayer.testnet").await?;
//! if let Some(receipt) = &found.receipt {
//!     receipt.verify().expect("signed by its public key");
//!     assert_eq!(receipt.receipt.call_id, found.request_id.to_string());
//! }
//! # Ok(())
//! # }
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use outlayer_near::{RpcClient, RpcError, TxWait};
use outlayer_protocol::receipt::SignedReceipt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::types::ExecutionResponse;
use super::{EVENT_LOG_PREFIX, RESOLVE_METHOD};

/// The NEP-297 standard of the OutLayer contract's events (OutLayer v0.1's).
pub const EVENT_STANDARD: &str = "near-outlayer";
/// The event `resolve_execution` logs.
pub const RESOLVED_EVENT: &str = "execution_resolved";

/// Why a transaction's resolution could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TxReceiptError {
    /// The node failed or does not know the transaction.
    #[error("NEAR RPC: {0}")]
    Rpc(#[from] RpcError),
    /// The node's answer lacks a member NEAR's schema has.
    #[error("the node's transaction status has no {0}")]
    Malformed(&'static str),
    /// The transaction calls no `resolve_execution`, or more than one.
    #[error("transaction {tx_hash} has {count} resolve_execution calls (expected one)")]
    NotAResolution {
        /// The transaction.
        tx_hash: String,
        /// How many it has.
        count: usize,
    },
    /// The call's arguments are not `{request_id, response, receipt?}`.
    #[error("the resolve_execution arguments do not parse: {0}")]
    BadArgs(String),
}

pub use super::types::ResourcesUsed;

/// The `data` of an `execution_resolved` event (`contracts/outlayer/src/events.rs`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedEvent {
    /// Request id.
    pub request_id: u64,
    /// Whether the worker reported success.
    pub success: bool,
    /// Error message of a failure.
    pub error_message: Option<String>,
    /// What the worker reported it used.
    pub resources_used: ResourcesUsed,
    /// The key that signed the transaction (`ed25519:<base58>`), as the contract saw it.
    pub worker_public_key: String,
    /// The receipt the contract checked and logged, if one was sent.
    pub receipt: Option<SignedReceipt>,
}

/// What one `resolve_execution` transaction carried and what the contract logged.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainResolution {
    /// The transaction hash.
    pub tx_hash: String,
    /// The account that signed it.
    pub signer_id: String,
    /// The key it was signed with (`ed25519:<base58>`).
    pub signer_public_key: String,
    /// The contract it called.
    pub contract_id: String,
    /// The request it resolved.
    pub request_id: u64,
    /// The response it resolved with.
    pub response: ExecutionResponse,
    /// The signed receipt it carried.
    pub receipt: Option<SignedReceipt>,
    /// The contract's `execution_resolved` event for this request (`None` when the call failed).
    pub event: Option<ResolvedEvent>,
    /// `status.Failure` of the transaction, when it failed.
    pub failure: Option<Value>,
}

#[derive(Deserialize)]
struct ResolveArgs {
    request_id: u64,
    response: ExecutionResponse,
    #[serde(default)]
    receipt: Option<SignedReceipt>,
}

/// Fetch transaction `tx_hash` signed by `signer_id` from the node at `rpc_url` (`tx`, waiting
/// until final) and read its resolution ([`resolution_from_status`]).
pub async fn fetch_resolution(rpc_url: &str, tx_hash: &str, signer_id: &str) -> Result<ChainResolution, TxReceiptError> {
    fetch_resolution_with(&RpcClient::new(rpc_url), tx_hash, signer_id).await
}

/// [`fetch_resolution`] through a configured client.
pub async fn fetch_resolution_with(client: &RpcClient, tx_hash: &str, signer_id: &str) -> Result<ChainResolution, TxReceiptError> {
    let status = client.tx_status(tx_hash, signer_id, TxWait::Final).await?;
    resolution_from_status(&status)
}

/// The resolution in a transaction status (the `result` of `tx` / `EXPERIMENTAL_tx_status`).
pub fn resolution_from_status(status: &Value) -> Result<ChainResolution, TxReceiptError> {
    let tx = status.get("transaction").ok_or(TxReceiptError::Malformed("transaction"))?;
    let text = |name: &'static str| tx.get(name).and_then(Value::as_str).map(str::to_owned).ok_or(TxReceiptError::Malformed(name));
    let (tx_hash, contract_id) = (text("hash")?, text("receiver_id")?);
    let actions = tx.get("actions").and_then(Value::as_array).ok_or(TxReceiptError::Malformed("transaction.actions"))?;
    let calls: Vec<&Value> = actions
        .iter()
        .filter_map(|a| a.get("FunctionCall"))
        .filter(|call| call.get("method_name").and_then(Value::as_str) == Some(RESOLVE_METHOD))
        .collect();
    let [call] = calls.as_slice() else {
        return Err(TxReceiptError::NotAResolution { tx_hash, count: calls.len() });
    };
    let args = call.get("args").and_then(Value::as_str).ok_or(TxReceiptError::Malformed("FunctionCall.args"))?;
    let args = BASE64.decode(args).map_err(|e| TxReceiptError::BadArgs(format!("not base64: {e}")))?;
    let args: ResolveArgs = serde_json::from_slice(&args).map_err(|e| TxReceiptError::BadArgs(e.to_string()))?;
    let outcomes = status.get("receipts_outcome").and_then(Value::as_array).ok_or(TxReceiptError::Malformed("receipts_outcome"))?;
    let logs = outcomes
        .iter()
        .filter(|o| o.pointer("/outcome/executor_id").and_then(Value::as_str) == Some(contract_id.as_str()))
        .filter_map(|o| o.pointer("/outcome/logs").and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str);
    let event = resolved_events(logs).into_iter().find(|e| e.request_id == args.request_id);
    Ok(ChainResolution {
        tx_hash,
        signer_id: text("signer_id")?,
        signer_public_key: text("public_key")?,
        contract_id,
        request_id: args.request_id,
        response: args.response,
        receipt: args.receipt,
        event,
        failure: status.pointer("/status/Failure").cloned(),
    })
}

/// Every `execution_resolved` event of the `near-outlayer` standard in `logs` (`data` a list of
/// them, as the contract logs it, or an object).
pub fn resolved_events<'a>(logs: impl IntoIterator<Item = &'a str>) -> Vec<ResolvedEvent> {
    logs.into_iter()
        .filter_map(|log| log.strip_prefix(EVENT_LOG_PREFIX))
        .filter_map(|json| serde_json::from_str::<Value>(json).ok())
        .filter(|event| event["standard"] == EVENT_STANDARD && event["event"] == RESOLVED_EVENT)
        .flat_map(|mut event| match event["data"].take() {
            Value::Array(items) => items,
            data => vec![data],
        })
        .filter_map(|data| serde_json::from_value(data).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(actions: Value, outcomes: Value) -> Value {
        json!({
            "status": {"SuccessValue": ""},
            "transaction": {"signer_id": "w.testnet", "public_key": "ed25519:abc", "nonce": 1, "receiver_id": "outlayer.testnet",
                "actions": actions, "signature": "ed25519:sig", "hash": "H"},
            "transaction_outcome": {},
            "receipts_outcome": outcomes,
        })
    }

    fn resolve_action(args: &Value) -> Value {
        json!({"FunctionCall": {"method_name": "resolve_execution", "args": BASE64.encode(args.to_string()), "gas": 1, "deposit": "0"}})
    }

    fn outcome(executor: &str, logs: &[String]) -> Value {
        json!({"id": "R", "outcome": {"executor_id": executor, "logs": logs, "status": {"SuccessValue": ""}}})
    }

    fn event_log(request_id: u64) -> String {
        format!(
            "EVENT_JSON:{}",
            json!({"standard": "near-outlayer", "version": "1.0.0", "event": "execution_resolved", "data": [{
                "request_id": request_id, "success": true, "error_message": null,
                "resources_used": {"instructions": 1, "time_ms": 2}, "worker_public_key": "ed25519:abc", "receipt": null}]})
        )
    }

    #[test]
    fn only_the_contracts_own_logs_count_and_the_request_must_match() {
        let args = json!({"request_id": 4, "response": {"success": true, "output": null, "error": null, "resources_used": {"instructions": 1, "time_ms": 2}}});
        let forged = outcome("mallory.testnet", &[event_log(4)]);
        let other_request = outcome("outlayer.testnet", &[event_log(5)]);
        let found = resolution_from_status(&status(json!([resolve_action(&args)]), json!([forged, other_request]))).unwrap();
        assert_eq!((found.request_id, found.receipt.clone(), found.event.clone()), (4, None, None));
        let own = outcome("outlayer.testnet", &["plain log".into(), event_log(4)]);
        let found = resolution_from_status(&status(json!([resolve_action(&args)]), json!([own]))).unwrap();
        assert_eq!(found.event.unwrap().resources_used, ResourcesUsed { instructions: 1, time_ms: 2, compile_time_ms: None });
        assert_eq!(
            (found.signer_id.as_str(), found.signer_public_key.as_str(), found.contract_id.as_str()),
            ("w.testnet", "ed25519:abc", "outlayer.testnet")
        );
    }

    #[test]
    fn a_transaction_without_exactly_one_resolution_is_refused() {
        let transfer = json!({"Transfer": {"deposit": "1"}});
        let err = resolution_from_status(&status(json!([transfer]), json!([]))).unwrap_err();
        assert_eq!(err.to_string(), "transaction H has 0 resolve_execution calls (expected one)");
        let bad = json!({"FunctionCall": {"method_name": "resolve_execution", "args": BASE64.encode("{}"), "gas": 1, "deposit": "0"}});
        let err = resolution_from_status(&status(json!([bad]), json!([]))).unwrap_err();
        assert!(err.to_string().starts_with("the resolve_execution arguments do not parse: missing field `request_id`"), "{err}");
        assert!(matches!(resolution_from_status(&json!({})), Err(TxReceiptError::Malformed("transaction"))));
    }
}
