//! The contract's JSON shapes the worker reads and writes, mirrored from `outlayer-contract`
//! (`contracts/outlayer/src/types.rs`, `events.rs`): a pending request as `get_request` /
//! `list_pending_requests` return it, the `execution_requested` event, and the
//! `ExecutionResponse` argument of `resolve_execution`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `ResolvedSource`: what the worker fetches. Project sources are already resolved by the
/// contract to the version's URL and sha256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedSource {
    /// `owner/name` when the source is a project.
    pub project_id: Option<String>,
    /// Project owner.
    pub project_owner: Option<String>,
    /// Component URL (`https://` or `ipfs://`).
    pub wasm_url: String,
    /// Lowercase hex sha256 of the component.
    pub wasm_sha256: String,
}

/// `ResolvedLimits`: the limits the contract validated (its caps are below the host's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedLimits {
    /// Instructions (fuel).
    pub max_instructions: u64,
    /// Linear memory, MB.
    pub max_memory_mb: u32,
    /// Wall time, seconds.
    pub max_execution_seconds: u64,
}

/// `ResponseFormat`: how the guest's stdout is returned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseFormat {
    /// Raw bytes, base64 in JSON.
    Bytes,
    /// UTF-8 text.
    #[default]
    Text,
    /// JSON; output that does not parse fails the execution.
    Json,
}

/// `SecretsRef`: secrets the keystore would decrypt for the execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretsRef {
    /// Owner of the secrets.
    pub account_id: String,
    /// Profile name.
    pub profile: String,
}

/// `PendingRequest` as the contract's views return it. The input is not stored on chain: it
/// travels only in the `execution_requested` event ([`RequestedEvent`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRequest {
    /// Request id, the argument of `resolve_execution`.
    pub request_id: u64,
    /// Account that called `request_execution` (the predecessor).
    pub sender_id: String,
    /// Signer of the transaction.
    pub signer_id: String,
    /// Account refunds go to.
    pub payer_id: String,
    /// What to run.
    pub source: ResolvedSource,
    /// Limits to enforce.
    pub limits: ResolvedLimits,
    /// Output format.
    pub response_format: ResponseFormat,
    /// Secrets reference, if any.
    pub secrets_ref: Option<SecretsRef>,
    /// Deposit attached, yoctoNEAR (a decimal string).
    pub attached: String,
    /// Developer payment reserved, yoctoNEAR (a decimal string); the most a guest may refund.
    pub developer_payment: String,
    /// Block timestamp of the request, ns.
    pub created_at_ns: u64,
    /// Block height the request was made in.
    pub block_height: u64,
    /// True once a worker resumed the yield (the request waits only for its callback).
    pub resolved: bool,
}

/// The `data` of an `execution_requested` event (the fields the worker uses).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestedEvent {
    /// Request id.
    pub request_id: u64,
    /// Input for the guest's stdin.
    pub input: Option<String>,
    /// Block timestamp of the request, ns, as a decimal string.
    pub block_timestamp: String,
    /// OutLayer v0.1's `compile_only`: build the `GitHub` source and answer its hash, run
    /// nothing (absent in events of contracts before it: false).
    #[serde(default)]
    pub compile_only: bool,
    /// OutLayer v0.1's `force_rebuild`: ask the builder to rebuild even a cached build.
    #[serde(default)]
    pub force_rebuild: bool,
}

/// The guest's output in a response: `{"type": "Text", "value": "..."}`, `Json` with any
/// value, `Bytes` with base64.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value")]
pub enum ExecutionOutput {
    /// Base64 of raw stdout.
    Bytes(String),
    /// UTF-8 stdout.
    Text(String),
    /// Parsed JSON stdout.
    Json(Value),
}

/// `ExecutionResponse`, the `response` argument of `resolve_execution`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionResponse {
    /// Whether the guest exited successfully within its limits.
    pub success: bool,
    /// The output on success.
    pub output: Option<ExecutionOutput>,
    /// Why it failed (guest stderr tail or host reason).
    pub error: Option<String>,
    /// Instructions consumed.
    pub instructions_used: u64,
    /// Wall time, ms.
    pub time_ms: u64,
    /// Compile time of a `GitHub` source, ms (charged by the contract, capped).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub compile_time_ms: u64,
    /// Part of the developer payment the guest gave back, yoctoNEAR (a decimal string).
    pub refund_requested: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Parse every `execution_requested` event of the standard `outlayer` in `logs`.
pub fn requested_events<'a>(logs: impl IntoIterator<Item = &'a str>) -> Vec<RequestedEvent> {
    logs.into_iter()
        .filter_map(|log| log.strip_prefix(super::EVENT_LOG_PREFIX))
        .filter_map(|json| serde_json::from_str::<Value>(json).ok())
        .filter(|event| event["standard"] == "outlayer" && event["event"] == "execution_requested")
        .filter_map(|mut event| serde_json::from_value(event["data"].take()).ok())
        .collect()
}
