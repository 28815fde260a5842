//! Reads from the chain: the latest final block, the contract's pending requests, one request
//! (with its input), and a project (its http allowlist and grants).
//!
//! Discovery uses the contract's `list_pending_requests` view at the latest final block: it
//! lists every request still waiting, whoever called (a user's transaction or another
//! contract), and a request that disappears from it is settled or cancelled. The input is read
//! with `get_request` when the request is leased: the contract keeps every input in state until
//! settlement, so no event log is read.

use outlayer_near::{BlockRef, RpcClient, RpcError};
use serde_json::{Value, json};

use super::PENDING_PAGE_SIZE;
use super::types::{PendingRequest, ProjectView};

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

    /// The project `project_id` (`owner/name`) at the latest final block (`get_project`): its
    /// http allowlist as stored and its grants; `None` when there is no such project.
    pub async fn project(&self, project_id: &str) -> Result<Option<ProjectView>, RpcError> {
        self.view(&BlockRef::Final, "get_project", &json!({ "project_id": project_id })).await
    }

    async fn view<T: serde::de::DeserializeOwned>(&self, at: &BlockRef, method: &str, args: &Value) -> Result<T, RpcError> {
        let result = self.client.view_call(at, &self.contract, method, args.to_string().as_bytes()).await?;
        result.json().map_err(|e| RpcError::InvalidResponse(format!("{method} returned unexpected JSON: {e}")))
    }
}
