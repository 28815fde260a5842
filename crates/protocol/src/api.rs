//! What callers of the HTTPS API send and get back.

use crate::limits::LimitsRequest;
use crate::status::CallStatus;
use outlayer_attest::receipt::SignedReceipt;
use outlayer_attest::{Challenge, Evidence, Measurements, TcbStatus, Tee, VerifiedQuote};
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
    /// Run this version (its wasm sha256, OutLayer's `version_key`) instead of the active one.
    #[serde(default)]
    pub version_key: Option<String>,
    /// Secrets the guest reads: the project's sealed record of `account_id` under `profile`
    /// (`PUT /projects/{owner}/{name}/secrets/{profile}`), released by the keystore to the
    /// attested worker only.
    #[serde(default)]
    pub secrets_ref: Option<crate::secrets::SecretsRef>,
}

/// A worker as shown to callers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorkerRef {
    /// Worker id.
    pub id: String,
    /// ed25519 public key, hex.
    pub public_key: String,
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
    /// The exact output bytes the receipt's `output_sha256` covers, base64 (absent when no
    /// worker reported a result, or the output was over the size limit).
    #[serde(skip_serializing_if = "Option::is_none", default, with = "crate::bytes_b64::option")]
    pub output_base64: Option<Vec<u8>>,
    /// Why the call failed (failed calls only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<ErrorBody>,
    /// Compute cost charged (micro-USD): base fee + instructions + time, capped. On the wire
    /// `compute_cost`, a decimal string (OutLayer's name and form; a stored `cost` number is
    /// read too).
    #[serde(rename = "compute_cost", alias = "cost", with = "u64_str")]
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
    /// Outbound HTTP of the run (requests, refusals by host, bytes), when the guest made any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub http: Option<crate::http::HttpStats>,
    /// Worker that produced it (absent if no worker did, e.g. `worker_lost`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub worker: Option<WorkerRef>,
    /// The receipt (v2) the worker signed, exactly as checked by the coordinator.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub receipt: Option<SignedReceipt>,
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
    /// Where to poll it: `/calls/{id}`.
    #[serde(default)]
    pub poll_url: String,
    /// Where its proof is, once it has one: `/calls/{id}/receipt` (the signed receipt, the
    /// worker, and the link to the worker's attestation).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub attestation_url: Option<String>,
    /// The settled result, once there is one (fields inlined).
    #[serde(flatten, default)]
    pub result: Option<SettledResult>,
}

impl CallView {
    /// The poll URL of call `call_id` (`/calls/{id}`).
    pub fn poll_url(call_id: &str) -> String {
        format!("/calls/{call_id}")
    }

    /// The attestation URL of call `call_id` when its result has a receipt (`/calls/{id}/receipt`).
    pub fn attestation_url(call_id: &str, result: Option<&SettledResult>) -> Option<String> {
        result.and_then(|r| r.receipt.as_ref()).map(|_| format!("/calls/{call_id}/receipt"))
    }
}

/// `u64` as a decimal string on the wire; a JSON number is accepted too.
mod u64_str {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Amount {
            Number(u64),
            Text(String),
        }
        match Amount::deserialize(d)? {
            Amount::Number(n) => Ok(n),
            Amount::Text(t) => t.parse().map_err(|_| serde::de::Error::custom(format!("{t:?} is not a decimal amount"))),
        }
    }
}

/// One entry of `GET /workers`: an attested worker as anyone may see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorkerSummary {
    /// Worker id (the `worker_id` of its receipts).
    pub id: String,
    /// ed25519 public key, hex (bound into its attestation's report data).
    pub public_key: String,
    /// `tdx`, or `dev` (not a TEE).
    pub tee: Tee,
    /// The measurements its evidence carried (allowed by the coordinator's policy).
    pub measurements: Measurements,
    /// The TCB status of its quote.
    pub tcb_status: TcbStatus,
    /// When the coordinator verified its evidence (unix seconds).
    pub verified_at: u64,
    /// Its last lease or heartbeat (unix ms).
    pub last_seen_ms: i64,
}

/// `GET /workers`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorkerList {
    /// Workers, most recently seen first.
    pub workers: Vec<WorkerSummary>,
}

/// `GET /workers/{id}/attestation`: everything needed to re-verify a worker's registration
/// offline — the evidence as presented, the challenge it had to bind, and what the coordinator
/// concluded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WorkerAttestation {
    /// Worker id.
    pub worker_id: String,
    /// ed25519 public key, hex.
    pub public_key: String,
    /// `tdx`, or `dev` (not a TEE).
    pub tee: Tee,
    /// The evidence the worker registered with (`sha256` of its canonical JSON is every
    /// receipt's `attestation_sha256`).
    pub evidence: Evidence,
    /// The coordinator's challenge bound into `report_data[32..64]`.
    pub challenge: Challenge,
    /// The verification result.
    pub verified: VerifiedQuote,
    /// Always `accepted` (refused evidence registers no worker).
    pub policy_result: String,
    /// When it was verified (unix seconds).
    pub verified_at: u64,
    /// Hex sha256 of `evidence` ([`outlayer_attest::evidence_digest`]), as receipts carry it.
    pub attestation_sha256: String,
}

/// `GET /calls/{id}/receipt`: the public, data-free proof of a settled call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallReceipt {
    /// Call id.
    pub call_id: String,
    /// Where the call is.
    pub status: CallStatus,
    /// The signed receipt (digests only: no input or output).
    pub receipt: SignedReceipt,
    /// The worker that signed it.
    pub worker: WorkerRef,
    /// Where the worker's attestation is: `/workers/{id}/attestation`.
    pub attestation_url: String,
}
