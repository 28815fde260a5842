//! One method per NEAR RPC endpoint the host, the worker and the event watcher use.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use super::RpcClient;
use super::views::{AccountView, ViewCallResult};
use crate::error::RpcError;
use crate::refs::{BlockId, BlockRef, ChunkRef, TxWait, decode_hash};

/// The cause name given to a legacy query failure that a node reports inside `result`
/// (`{"result": {"error": "..."}}`) for a contract call (nearcore's structured equivalent).
pub const CONTRACT_EXECUTION_ERROR: &str = "CONTRACT_EXECUTION_ERROR";

/// The cause name given to any other legacy in-`result` query failure.
pub const QUERY_ERROR: &str = "QUERY_ERROR";

impl RpcClient {
    /// Run a `query` of `request_type` with extra `fields`, at block `at`.
    ///
    /// Older nodes report some failures (a panicking view function, an unknown access key) as a
    /// `result` holding an `error` string; those become [`RpcError::Node`] with name
    /// `HANDLER_ERROR` and cause [`CONTRACT_EXECUTION_ERROR`] or [`QUERY_ERROR`].
    async fn query(&self, at: &BlockRef, request_type: &str, fields: Value) -> Result<Value, RpcError> {
        let mut params = Map::new();
        params.insert("request_type".into(), json!(request_type));
        at.insert_into(&mut params)?;
        if let Value::Object(fields) = fields {
            params.extend(fields);
        }
        let result = self.call("query", Value::Object(params)).await?;
        if let Some(message) = result.get("error").and_then(Value::as_str) {
            let cause = if request_type == "call_function" { CONTRACT_EXECUTION_ERROR } else { QUERY_ERROR };
            return Err(RpcError::Node {
                name: "HANDLER_ERROR".into(),
                cause: cause.into(),
                message: message.to_owned(),
                data: Box::new(result.clone()),
            });
        }
        Ok(result)
    }

    /// Call the view function `method` of `contract` with `args` (usually JSON bytes).
    pub async fn view_call(&self, at: &BlockRef, contract: &str, method: &str, args: &[u8]) -> Result<ViewCallResult, RpcError> {
        let fields = json!({
            "account_id": contract,
            "method_name": method,
            "args_base64": BASE64.encode(args),
        });
        typed(self.query(at, "call_function", fields).await?)
    }

    /// The state of `account`.
    pub async fn view_account(&self, at: &BlockRef, account: &str) -> Result<AccountView, RpcError> {
        typed(self.query(at, "view_account", json!({ "account_id": account })).await?)
    }

    /// One access key (`public_key` as `ed25519:<base58>`), as the node's JSON
    /// (`nonce`, `permission`, `block_height`, `block_hash`).
    pub async fn view_access_key(&self, at: &BlockRef, account: &str, public_key: &str) -> Result<Value, RpcError> {
        let fields = json!({ "account_id": account, "public_key": public_key });
        self.query(at, "view_access_key", fields).await
    }

    /// All access keys of `account`, as the node's JSON (`keys`, `block_height`, `block_hash`).
    pub async fn view_access_key_list(&self, at: &BlockRef, account: &str) -> Result<Value, RpcError> {
        self.query(at, "view_access_key_list", json!({ "account_id": account })).await
    }

    /// The contract code of `account`, as the node's JSON (`code_base64`, `hash`, ...).
    pub async fn view_code(&self, at: &BlockRef, account: &str) -> Result<Value, RpcError> {
        self.query(at, "view_code", json!({ "account_id": account })).await
    }

    /// The contract state of `account` under the key prefix `prefix_base64` (`""` for all), as
    /// the node's JSON (`values: [{key, value}]` in base64).
    pub async fn view_state(&self, at: &BlockRef, account: &str, prefix_base64: &str) -> Result<Value, RpcError> {
        BASE64.decode(prefix_base64).map_err(|e| RpcError::InvalidArgument(format!("prefix is not base64: {e}")))?;
        let fields = json!({ "account_id": account, "prefix_base64": prefix_base64 });
        self.query(at, "view_state", fields).await
    }

    /// A block (`author`, `header`, `chunks`).
    pub async fn block(&self, at: &BlockRef) -> Result<Value, RpcError> {
        self.call("block", at.to_params()?).await
    }

    /// A chunk (`author`, `header`, `transactions`, `receipts`).
    pub async fn chunk(&self, chunk: &ChunkRef) -> Result<Value, RpcError> {
        self.call("chunk", chunk.to_params()?).await
    }

    /// The state changes in a block (`EXPERIMENTAL_changes_in_block`: `block_hash`, `changes`).
    pub async fn changes(&self, at: &BlockRef) -> Result<Value, RpcError> {
        self.call("EXPERIMENTAL_changes_in_block", at.to_params()?).await
    }

    /// The gas price at `block`, or at the latest block for `None` (`{"gas_price": "..."}`).
    pub async fn gas_price(&self, block: Option<&BlockId>) -> Result<Value, RpcError> {
        let id = block.map(BlockId::to_json).transpose()?.unwrap_or(Value::Null);
        self.call("gas_price", json!([id])).await
    }

    /// The node's status (version, chain id, sync info, validators).
    pub async fn status(&self) -> Result<Value, RpcError> {
        self.call("status", json!([])).await
    }

    /// The node's network info (peers).
    pub async fn network_info(&self) -> Result<Value, RpcError> {
        self.call("network_info", json!([])).await
    }

    /// The validators of the epoch with base58 id `epoch_id`, or of the latest epoch for `None`.
    pub async fn validators(&self, epoch_id: Option<&str>) -> Result<Value, RpcError> {
        let params = match epoch_id {
            Some(id) => {
                decode_hash("epoch id", id)?;
                json!({ "epoch_id": id })
            }
            None => json!([null]),
        };
        self.call("validators", params).await
    }

    /// A receipt by base58 id (`EXPERIMENTAL_receipt`).
    pub async fn receipt(&self, receipt_id: &str) -> Result<Value, RpcError> {
        decode_hash("receipt id", receipt_id)?;
        self.call("EXPERIMENTAL_receipt", json!({ "receipt_id": receipt_id })).await
    }

    /// The status of transaction `tx_hash` sent by `sender`, waiting up to `wait` (`tx`).
    pub async fn tx_status(&self, tx_hash: &str, sender: &str, wait: TxWait) -> Result<Value, RpcError> {
        decode_hash("transaction hash", tx_hash)?;
        let params = json!({
            "tx_hash": tx_hash,
            "sender_account_id": sender,
            "wait_until": wait.as_str(),
        });
        self.call("tx", params).await
    }

    /// Broadcast a base64 borsh `SignedTransaction` and wait up to `wait` (`send_tx`).
    pub async fn send_tx(&self, signed_tx_base64: &str, wait: TxWait) -> Result<Value, RpcError> {
        BASE64.decode(signed_tx_base64).map_err(|e| RpcError::InvalidArgument(format!("signed transaction is not base64: {e}")))?;
        let params = json!({ "signed_tx_base64": signed_tx_base64, "wait_until": wait.as_str() });
        self.call("send_tx", params).await
    }
}

/// Deserialize a `result` into a typed view.
fn typed<T: serde::de::DeserializeOwned>(result: Value) -> Result<T, RpcError> {
    serde_json::from_value(result).map_err(|e| RpcError::InvalidResponse(e.to_string()))
}
