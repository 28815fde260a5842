//! Reads from the chain: the latest final block, the contract's pending requests, one request,
//! a project's http allowlist, and the `execution_requested` event carrying a request's input.
//!
//! Discovery uses the contract's `list_pending_requests` view at the latest final block: it
//! lists every request still waiting, whoever called (a user's transaction or another
//! contract), and a request that disappears from it is settled or cancelled. The view does not
//! hold the input (it lives only in the event log), so for each new request the worker reads
//! the `execution_requested` event from the blocks around the request's `block_height`:
//! `block` → each `chunk` → transactions and receipts addressed to the contract calling
//! `request_execution` → their execution outcome's logs (`tx` for a transaction,
//! `EXPERIMENTAL_light_client_proof` for a receipt from another contract).

use outlayer_near::{BlockRef, ChunkRef, RpcClient, RpcError, TxWait};
use serde_json::{Value, json};
use std::collections::HashMap;

use super::types::{PendingRequest, RequestedEvent, requested_events};
use super::{EVENT_SEARCH_BLOCKS, PENDING_PAGE_SIZE, REQUEST_METHOD};

/// The contract as seen through one RPC node.
#[derive(Clone, Debug)]
pub struct Chain {
    /// The node.
    pub client: RpcClient,
    /// The OutLayer contract account.
    pub contract: String,
}

/// The latest final block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinalBlock {
    /// Its height.
    pub height: u64,
    /// Its base58 hash.
    pub hash: String,
}

impl Chain {
    /// The latest final block's height and hash.
    pub async fn final_block(&self) -> Result<FinalBlock, RpcError> {
        let block = self.client.block(&BlockRef::Final).await?;
        let height = block.pointer("/header/height").and_then(Value::as_u64);
        let hash = block.pointer("/header/hash").and_then(Value::as_str);
        match (height, hash) {
            (Some(height), Some(hash)) => Ok(FinalBlock { height, hash: hash.to_owned() }),
            _ => Err(RpcError::InvalidResponse("block without header.height / header.hash".into())),
        }
    }

    /// Every pending request at block `height`, oldest first (paged by [`PENDING_PAGE_SIZE`]).
    pub async fn pending(&self, height: u64) -> Result<Vec<PendingRequest>, RpcError> {
        let mut all = Vec::new();
        loop {
            let args = json!({ "from_index": all.len(), "limit": PENDING_PAGE_SIZE });
            let page: Vec<PendingRequest> = self.view(&BlockRef::Height(height), "list_pending_requests", &args).await?;
            let full = page.len() as u64 >= u64::from(PENDING_PAGE_SIZE);
            all.extend(page);
            if !full {
                return Ok(all);
            }
        }
    }

    /// The request `request_id` at the latest final block; `None` once settled or cancelled.
    pub async fn get_request(&self, request_id: u64) -> Result<Option<PendingRequest>, RpcError> {
        self.view(&BlockRef::Final, "get_request", &json!({ "request_id": request_id })).await
    }

    /// The http allowlist the contract stores for the project `project_id` (`owner/name`), as
    /// stored (empty when none), at the latest final block (`get_project_http_allowlist`).
    pub async fn project_http_allowlist(&self, project_id: &str) -> Result<Vec<String>, RpcError> {
        self.view(&BlockRef::Final, "get_project_http_allowlist", &json!({ "project_id": project_id })).await
    }

    async fn view<T: serde::de::DeserializeOwned>(&self, at: &BlockRef, method: &str, args: &Value) -> Result<T, RpcError> {
        let result = self.client.view_call(at, &self.contract, method, args.to_string().as_bytes()).await?;
        result.json().map_err(|e| RpcError::InvalidResponse(format!("{method} returned unexpected JSON: {e}")))
    }

    /// The `execution_requested` events in the [`EVENT_SEARCH_BLOCKS`] blocks up to `height`,
    /// by request id. `head` is a final block hash (the light-client head for receipt proofs).
    /// Heights without a block are skipped.
    pub async fn events_near(&self, height: u64, head: &str) -> Result<HashMap<u64, RequestedEvent>, RpcError> {
        let mut found = HashMap::new();
        for h in (height.saturating_sub(EVENT_SEARCH_BLOCKS - 1)..=height).rev() {
            let block = match self.client.block(&BlockRef::Height(h)).await {
                Ok(b) => b,
                Err(e) if matches!(e.node_cause(), Some("UNKNOWN_BLOCK")) => continue,
                Err(e) => return Err(e),
            };
            let chunks = block["chunks"].as_array().cloned().unwrap_or_default();
            for header in chunks.iter().filter(|c| c["height_included"].as_u64() == Some(h)) {
                let Some(hash) = header["chunk_hash"].as_str() else {
                    continue;
                };
                let chunk = self.client.chunk(&ChunkRef::Hash(hash.to_owned())).await?;
                for event in self.events_in_chunk(&chunk, head).await? {
                    found.insert(event.request_id, event);
                }
            }
        }
        Ok(found)
    }

    async fn events_in_chunk(&self, chunk: &Value, head: &str) -> Result<Vec<RequestedEvent>, RpcError> {
        let mut events = Vec::new();
        for tx in chunk["transactions"].as_array().into_iter().flatten() {
            if tx["receiver_id"] != self.contract.as_str() || !calls_request(&tx["actions"]) {
                continue;
            }
            let (Some(hash), Some(signer)) = (tx["hash"].as_str(), tx["signer_id"].as_str()) else {
                continue;
            };
            let status = self.client.tx_status(hash, signer, TxWait::Final).await?;
            let outcomes = status["receipts_outcome"].as_array().cloned().unwrap_or_default();
            for outcome in outcomes.iter().map(|o| &o["outcome"]).filter(|o| o["executor_id"] == self.contract.as_str()) {
                events.extend(requested_events(logs(outcome)));
            }
        }
        for receipt in chunk["receipts"].as_array().into_iter().flatten() {
            if receipt["receiver_id"] != self.contract.as_str()
                || !calls_request(&receipt.pointer("/receipt/Action/actions").cloned().unwrap_or_default())
            {
                continue;
            }
            let Some(id) = receipt["receipt_id"].as_str() else {
                continue;
            };
            let params = json!({ "type": "receipt", "receipt_id": id, "receiver_id": self.contract, "light_client_head": head });
            let proof = self.client.call("EXPERIMENTAL_light_client_proof", params).await?;
            events.extend(requested_events(logs(&proof["outcome_proof"]["outcome"])));
        }
        Ok(events)
    }
}

/// Whether a JSON list of actions holds a `request_execution` function call.
fn calls_request(actions: &Value) -> bool {
    actions.as_array().into_iter().flatten().any(|a| a.pointer("/FunctionCall/method_name").and_then(Value::as_str) == Some(REQUEST_METHOD))
}

fn logs(outcome: &Value) -> impl Iterator<Item = &str> {
    outcome["logs"].as_array().into_iter().flatten().filter_map(Value::as_str)
}
