//! The contract's JSON shapes the worker reads and writes, mirrored from `outlayer-contract`
//! (`contracts/outlayer/src/types.rs`, `projects.rs`): a pending request as `get_request` /
//! `list_pending_requests` return it (with its input and params), a project as `get_project`
//! returns it, and OutLayer v0.1's `ExecutionResponse`, the argument of `resolve_execution`.
//! `worker/tests/near.rs` round-trips these through the contract's own types.

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

/// OutLayer v0.1's `RequestParams` as the contract stores them (the fields the worker uses).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestParams {
    /// The builder rebuilds a `GitHub` source even when it has it cached.
    #[serde(default)]
    pub force_rebuild: bool,
    /// Build the `GitHub` source and answer its hash, run nothing.
    #[serde(default)]
    pub compile_only: bool,
    /// OutLayer's project UUID (`OUTLAYER_PROJECT_UUID`), as given.
    #[serde(default)]
    pub project_uuid: Option<String>,
    /// Payment to the developer in micro-USD (a decimal string): `ATTACHED_USD` for the guest
    /// and the most it may refund (`refund_usd`).
    #[serde(default)]
    pub attached_usd: Option<String>,
}

impl RequestParams {
    /// `attached_usd` as a number (0 when absent or not a number).
    pub fn attached_usd(&self) -> u64 {
        self.attached_usd.as_deref().and_then(|u| u.parse().ok()).unwrap_or(0)
    }
}

/// `PendingRequest` as the contract's views return it. `get_request` holds the input
/// (`input_data`); `list_pending_requests` leaves it out (`None`).
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
    /// Developer payment reserved, yoctoNEAR (a decimal string): `attached_usd` at the rate.
    pub developer_payment: String,
    /// Block timestamp of the request, ns.
    pub created_at_ns: u64,
    /// Block height the request was made in.
    pub block_height: u64,
    /// True once a worker resumed the yield (the request waits only for its callback).
    pub resolved: bool,
    /// The guest's stdin (`get_request` only).
    #[serde(default)]
    pub input_data: Option<String>,
    /// The request's params.
    #[serde(default)]
    pub params: RequestParams,
}

/// OutLayer v0.1's `ExecutionOutput`, externally tagged: `{"Bytes": [u8, ...]}`,
/// `{"Text": "..."}` or `{"Json": value}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecutionOutput {
    /// Raw stdout.
    Bytes(Vec<u8>),
    /// UTF-8 stdout.
    Text(String),
    /// Parsed JSON stdout.
    Json(Value),
}

/// `resources_used` of a response.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourcesUsed {
    /// Instructions consumed.
    pub instructions: u64,
    /// Wall time, ms.
    pub time_ms: u64,
    /// Compile time of a `GitHub` source, ms (charged by the contract, capped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compile_time_ms: Option<u64>,
}

/// OutLayer v0.1's `ExecutionResponse`, the `response` argument of `resolve_execution`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionResponse {
    /// Whether the guest exited successfully within its limits.
    pub success: bool,
    /// The output on success.
    pub output: Option<ExecutionOutput>,
    /// Why it failed (guest stderr tail or host reason).
    pub error: Option<String>,
    /// What was used (what is charged).
    pub resources_used: ResourcesUsed,
    /// A note from the build of a `GitHub` source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compilation_note: Option<String>,
    /// Part of `attached_usd` the guest gave back, micro-USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_usd: Option<u64>,
}

/// Host interfaces the contract lets a project's guests have (`set_project_grants`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectGrants {
    /// `near:storage`.
    #[serde(default)]
    pub storage: bool,
    /// `near:rpc`.
    #[serde(default)]
    pub rpc: bool,
    /// `near:vrf`.
    #[serde(default)]
    pub vrf: bool,
}

/// A project as `get_project` returns it (the fields the worker uses).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectView {
    /// `owner/name`.
    pub project_id: String,
    /// Hosts its guests may reach over http, as stored.
    #[serde(default)]
    pub http_allowlist: Vec<String>,
    /// Its grants.
    #[serde(default)]
    pub grants: ProjectGrants,
}
