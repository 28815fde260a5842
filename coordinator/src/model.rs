//! Wire types of the HTTP API, shared by the server, [`crate::client`] and embedders.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Resource limits a caller may ask for (each defaulted and capped, see [`crate::limits`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ResourceLimitsRequest {
    /// Instruction budget.
    pub max_instructions: Option<u64>,
    /// Memory cap in MiB.
    pub max_memory_mb: Option<u64>,
    /// Wall-time cap in seconds.
    pub max_execution_seconds: Option<u64>,
}

/// Body of `POST /call/{owner}/{project}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallRequest {
    /// Any JSON value; the guest reads its JSON text on stdin.
    #[serde(default)]
    pub input: Value,
    /// Optional limits.
    #[serde(default)]
    pub resource_limits: Option<ResourceLimitsRequest>,
    /// `true` = answer 202 at once and let the caller poll `GET /calls/{id}`.
    #[serde(default, rename = "async")]
    pub is_async: bool,
    /// Run this version (sha256) instead of the active one.
    #[serde(default)]
    pub version: Option<String>,
}

/// Effective limits of a job.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Limits {
    /// Instruction budget.
    pub max_instructions: u64,
    /// Memory cap in MiB.
    pub max_memory_mb: u64,
    /// Wall-time cap in seconds.
    pub max_execution_seconds: u64,
}

/// A project reference in a job context.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProjectRef {
    /// Owner account.
    pub owner: String,
    /// Project name.
    pub name: String,
    /// Project UUID.
    pub id: String,
}

/// Execution context handed to the worker (becomes the guest's environment).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobContext {
    /// Request id (`NEAR_REQUEST_ID` / `OUTLAYER_REQUEST_ID`).
    pub request_id: String,
    /// Paying account (owner of the payment key).
    pub caller: String,
    /// The project.
    pub project: ProjectRef,
    /// NEAR network id.
    pub network: String,
    /// Always `https` for calls through this API.
    pub kind: String,
}

/// A leased job (`POST /workers/lease` → 200).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Job {
    /// Call id.
    pub call_id: String,
    /// Lease to quote in heartbeat / complete.
    pub lease_id: String,
    /// When the lease expires unless heartbeated (unix ms).
    pub lease_expires_at_ms: i64,
    /// Wasm to run (fetch with `GET /wasm/{sha256}`).
    pub wasm_sha256: String,
    /// Guest stdin: JSON text.
    pub input: String,
    /// Limits.
    pub limits: Limits,
    /// Granted capabilities (`storage`, `rpc`, `random`, `payment`, ...).
    pub grants: Vec<String>,
    /// micro-USD handed to the guest, refundable through the payment capability.
    pub attached_deposit: u64,
    /// Context.
    pub context: JobContext,
}

/// How an execution ended, as reported by the worker.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Exited 0; output is the result.
    Ok,
    /// Ran out of its instruction budget.
    OutOfInstructions,
    /// Ran out of wall time (charged the full budget).
    Timeout,
    /// Tried to grow memory past the cap.
    MemoryLimit,
    /// Wrote more output than allowed.
    OutputTooLarge,
    /// Trapped.
    Trap,
    /// Used a capability it was not granted, or the host refused.
    Denied,
    /// Exited non-zero.
    Exit,
    /// Grew a table past its limit.
    TableLimit,
    /// The input was larger than the worker accepts; the guest did not run.
    InputTooLarge,
    /// A typed guest returned an error.
    GuestError,
}

impl Outcome {
    /// The wire name (`out-of-instructions`, ...), also used in the signed receipt message.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::OutOfInstructions => "out-of-instructions",
            Outcome::Timeout => "timeout",
            Outcome::MemoryLimit => "memory-limit",
            Outcome::OutputTooLarge => "output-too-large",
            Outcome::Trap => "trap",
            Outcome::Denied => "denied",
            Outcome::Exit => "exit",
            Outcome::TableLimit => "table-limit",
            Outcome::InputTooLarge => "input-too-large",
            Outcome::GuestError => "guest-error",
        }
    }

    /// The stable error code a failed call carries.
    pub fn error_code(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::OutOfInstructions => "out_of_instructions",
            Outcome::Timeout => "timeout",
            Outcome::MemoryLimit => "memory_limit",
            Outcome::OutputTooLarge => "output_too_large",
            Outcome::Trap => "trap",
            Outcome::Denied => "denied",
            Outcome::Exit => "exit",
            Outcome::TableLimit => "table_limit",
            Outcome::InputTooLarge => "input_too_large",
            Outcome::GuestError => "guest_error",
        }
    }
}

/// What the worker observed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExecutionResult {
    /// How it ended.
    pub outcome: Outcome,
    /// stdout, base64 (standard alphabet, padded).
    pub output: String,
    /// Last bytes of stderr (a log; shown as the error message of failed calls).
    #[serde(default)]
    pub stderr_tail: Option<String>,
    /// Instructions executed.
    pub instructions: u64,
    /// Wall time in ms.
    pub wall_ms: u64,
    /// Peak linear memory.
    #[serde(default)]
    pub peak_memory_bytes: u64,
    /// micro-USD of the attached deposit the guest refunded.
    #[serde(default)]
    pub refund: u64,
}

/// Body of `POST /workers/complete`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompleteRequest {
    /// Lease being completed.
    pub lease_id: String,
    /// Call being completed.
    pub call_id: String,
    /// The result.
    pub result: ExecutionResult,
    /// ed25519 signature (hex) over [`crate::receipt::receipt_digest`].
    pub signature: String,
}

/// Body of `POST /workers/register`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// ed25519 public key, hex (32 bytes).
    pub public_key: String,
    /// Attestation (opaque JSON for now).
    #[serde(default)]
    pub attestation: Option<Value>,
}

/// Answer of `POST /workers/register`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterResponse {
    /// Worker id.
    pub worker_id: String,
    /// Bearer token for the worker endpoints (shown once).
    pub token: String,
}

/// Body of `POST /workers/heartbeat`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    /// Leases the worker still works on.
    pub lease_ids: Vec<String>,
}

/// Answer of `POST /workers/heartbeat`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HeartbeatResponse {
    /// Leases extended by the lease duration.
    pub extended: Vec<String>,
    /// Leases the worker no longer holds: stop working on them.
    pub lost: Vec<String>,
}

/// A worker as shown to callers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorkerRef {
    /// Worker id.
    pub id: String,
    /// ed25519 public key, hex.
    pub public_key: String,
}

/// Proof of which worker produced a result: verify `signature` over `message` with
/// `worker.public_key`, and recompute `message` from the other fields.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Receipt {
    /// ed25519 signature, hex.
    pub signature: String,
    /// The signed 32-byte digest, hex (see [`crate::receipt::receipt_digest`]).
    pub message: String,
    /// Call id.
    pub call_id: String,
    /// Wasm that ran.
    pub wasm_sha256: String,
    /// sha256 of the stdin bytes, hex.
    pub input_sha256: String,
    /// sha256 of the stdout bytes, hex.
    pub output_sha256: String,
    /// Instructions executed.
    pub instructions: u64,
    /// Outcome wire name.
    pub outcome: String,
}

/// `{code, message}` of a failed call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// Stable code.
    pub code: String,
    /// Explanation.
    pub message: String,
}

/// The settled part of a call (stored with the call, returned by `/call` and `/calls/{id}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SettledResult {
    /// Guest stdout parsed as JSON (completed calls only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output: Option<Value>,
    /// Why the call failed (failed calls only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<ErrorBody>,
    /// Compute cost charged (micro-USD): base fee + instructions + time, capped.
    pub cost: u64,
    /// Total taken from the key: cost + attached deposit − refund.
    pub charged: u64,
    /// Instructions executed.
    pub instructions: u64,
    /// Wall time in ms.
    pub time_ms: u64,
    /// Deposit returned to the key.
    pub refund: u64,
    /// Peak memory in bytes.
    pub peak_memory_bytes: u64,
    /// Worker that produced it (absent if no worker did, e.g. `worker_lost`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub worker: Option<WorkerRef>,
    /// Its receipt.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub receipt: Option<Receipt>,
}

/// A call as returned by `POST /call` and `GET /calls/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CallView {
    /// Call id.
    pub call_id: String,
    /// `queued`, `leased`, `completed` or `failed`.
    pub status: String,
    /// Project owner.
    pub owner: String,
    /// Project name.
    pub project: String,
    /// Version that runs.
    pub wasm_sha256: String,
    /// The settled result, once there is one (fields inlined).
    #[serde(flatten, default)]
    pub result: Option<SettledResult>,
}
