//! Bodies of the worker API besides jobs and results: register, lease, heartbeat.

use outlayer_attest::{Challenge, Evidence, Measurements, Register};
use serde::{Deserialize, Serialize};

/// The measurements dev evidence claims (all zero: no TD image has them). A coordinator that
/// allows dev attestation accepts them; nothing else does.
pub const DEV_MEASUREMENTS: Measurements = Measurements {
    mrtd: Register([0; 48]),
    rtmr0: Register([0; 48]),
    rtmr1: Register([0; 48]),
    rtmr2: Register([0; 48]),
    rtmr3: Register([0; 48]),
};

/// Answer of `POST /workers/challenge`: `{ "nonce": hex32, "issued_at": secs, "expires_at": secs }`.
pub type ChallengeResponse = Challenge;

/// Body of `POST /workers/register`. Both fields are required; they are options only so that a
/// missing one is refused with a typed attestation error rather than a JSON error.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// ed25519 public key, hex (32 bytes): bound into `evidence`'s report data.
    pub public_key: String,
    /// The challenge from `POST /workers/challenge` (single use, short-lived).
    #[serde(default)]
    pub challenge: Option<Challenge>,
    /// Attestation evidence whose report data is `report_data(public_key, challenge)`.
    #[serde(default)]
    pub evidence: Option<Evidence>,
}

/// Answer of `POST /workers/register`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterResponse {
    /// Worker id.
    pub worker_id: String,
    /// Bearer token for the worker endpoints (shown once).
    pub token: String,
    /// Hex sha256 of the evidence as registered: what this worker's receipts carry.
    pub attestation_sha256: String,
}

/// Body of `POST /workers/lease`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseRequest {
    /// How long the coordinator may hold the request open waiting for a job (at most, and by
    /// default, its configured long poll).
    #[serde(default)]
    pub wait_seconds: Option<u64>,
}

/// Body of `POST /workers/heartbeat`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    /// Leases the worker still works on.
    pub lease_ids: Vec<String>,
}

/// Answer of `POST /workers/heartbeat`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct HeartbeatResponse {
    /// Leases extended by the lease duration.
    pub extended: Vec<String>,
    /// Leases the worker no longer holds: stop working on them.
    pub lost: Vec<String>,
}
