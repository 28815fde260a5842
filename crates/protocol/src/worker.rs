//! Bodies of the worker API besides jobs and results: register, lease, heartbeat.

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
