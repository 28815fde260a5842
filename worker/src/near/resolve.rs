//! Submitting `resolve_execution(request_id, response, receipt)` signed with the worker's function-call
//! key, at most once per request.
//!
//! The signed transaction is written to the cursor *before* it is sent. A retry first asks the
//! contract (`get_request` at the final block) whether the request still waits: if not, it is
//! done; if it does, the *same* bytes are sent again — same nonce, same hash, so the chain can
//! apply them at most once. Only when the node refuses those bytes as stale (`InvalidNonce`:
//! the nonce was spent by another transaction of the key; `Expired`: the block hash is too old)
//! are they dropped, and the request is handled again once the final state still shows it
//! waiting. Even a mistaken second resolution cannot apply twice: the contract refuses it
//! (`Request N is already resolved`).

use outlayer_near::tx::{Action, SecretKey, SignedTransaction};
use outlayer_near::{RpcError, TxWait, build_signed};
use outlayer_protocol::receipt::SignedReceipt;
use serde_json::{Value, json};

use super::RESOLVE_METHOD;
use super::chain::Chain;
use super::cursor::Resolving;
use super::types::ExecutionResponse;

/// How long `send_tx` waits: until the transaction's receipts ran and its block is final, so
/// the next transaction of the key is built on a final nonce.
pub const SEND_WAIT: TxWait = TxWait::Executed;

/// What became of one send.
#[derive(Debug)]
pub enum Sent {
    /// The node executed the transaction; `failure` holds the contract's refusal, if any.
    Executed {
        /// The execution failure (e.g. `Request 3 is already resolved`), as the node's JSON.
        failure: Option<Value>,
    },
    /// The node refused these bytes for good (nonce spent or block hash expired): they were not
    /// applied by this send, and must not be re-sent.
    Stale(RpcError),
    /// Nothing is known (timeout, transport, node busy): try the same bytes again later.
    Unknown(RpcError),
}

/// What `resolve_execution` is called with.
#[derive(Clone, Debug)]
pub struct Resolution {
    /// Request id.
    pub request_id: u64,
    /// The contract's `ExecutionResponse`.
    pub response: ExecutionResponse,
    /// The run's signed receipt, signed with the transaction's key ([`super::execute::chain_receipt`]);
    /// `None` for a request resolved without running (no event, bad wasm, limits, secrets).
    pub receipt: Option<SignedReceipt>,
}

impl Resolution {
    /// The call's JSON arguments: `{"request_id", "response", "receipt"?}`.
    pub fn args(&self) -> Value {
        let mut args = json!({ "request_id": self.request_id, "response": self.response });
        if let Some(receipt) = &self.receipt {
            args["receipt"] = json!(receipt);
        }
        args
    }
}

/// Sign `resolve_execution(request_id, response, receipt?)` to `contract` from `signer_id` with `key`.
pub async fn sign(
    chain: &Chain,
    signer_id: &str,
    key: &SecretKey,
    resolution: &Resolution,
    gas: u64,
) -> Result<SignedTransaction, RpcError> {
    let action = Action::function_call_json(RESOLVE_METHOD, &resolution.args(), gas, 0);
    build_signed(&chain.client, signer_id, key, &chain.contract, vec![action]).await
}

/// The cursor entry of `signed`.
pub fn resolving(signed: &SignedTransaction) -> Resolving {
    Resolving { tx_hash: signed.hash_base58(), signed_tx_base64: signed.to_base64() }
}

/// Send the stored bytes of `entry`.
pub async fn send(chain: &Chain, entry: &Resolving) -> Sent {
    match chain.client.send_tx(&entry.signed_tx_base64, SEND_WAIT).await {
        Ok(result) => Sent::Executed { failure: execution_failure(&result) },
        Err(e) if is_stale(&e) => Sent::Stale(e),
        Err(e) => Sent::Unknown(e),
    }
}

/// The `Failure` of a transaction's outcome (`status.Failure`), if it failed.
fn execution_failure(result: &Value) -> Option<Value> {
    result.pointer("/status/Failure").cloned()
}

/// Whether the node refused the transaction as `InvalidNonce` or `Expired`.
fn is_stale(error: &RpcError) -> bool {
    match error {
        RpcError::Node { message, data, .. } => {
            let text = format!("{message} {data}");
            text.contains("InvalidNonce") || text.contains("Expired")
        }
        _ => false,
    }
}
