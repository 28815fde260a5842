//! What callers of the HTTPS API send and get back.

use crate::limits::LimitsRequest;
use crate::status::CallStatus;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Body of `POST /call/{owner}/{project}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallRequest {
    /// Any JSON value; the guest reads its JSON text on stdin.
    #[serde(default)]
    pub input: Value,
    /// Optional limits.
    #[serde(default)]
    pub resource_limits: Option<LimitsRequest>,
    /// `true` = answer 202 at once and let the caller poll `GET /calls/{id}`.
    #[serde(default, rename = "async")]
    pub is_async: bool,
    /// Run this version (sha256) instead of the active one.
    #[serde(default)]
    pub version: Option<String>,
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
/// `worker.public_key`, and recompute `message` from the other fields
/// ([`crate::receipt::ReceiptFields`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Receipt {
    /// ed25519 signature, hex.
    pub signature: String,
    /// The signed 32-byte digest, hex.
    pub message: String,
    /// Call id.
    pub call_id: String,
    /// Wasm that ran.
    pub wasm_sha256: String,
    /// sha256 of the input bytes, hex.
    pub input_sha256: String,
    /// sha256 of the stdout bytes, hex.
    pub output_sha256: String,
    /// Instructions executed.
    pub instructions: u64,
    /// Outcome kind.
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
    /// Where the call is.
    pub status: CallStatus,
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
