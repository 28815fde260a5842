//! Per-execution limits: what a guest may consume, with defaults and hard caps.
//!
//! Every limit here is enforced by the host and has a hostile-guest test that runs into it
//! (`host/tests/limits.rs`). Defaults follow OutLayer v0.1 (1e9 instructions, 128 MB, 60 s).

use outlayer_protocol::limits as wire;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Default instruction budget (fuel). Defends against CPU exhaustion by loops.
pub const DEFAULT_MAX_INSTRUCTIONS: u64 = wire::DEFAULT_MAX_INSTRUCTIONS;
/// Highest instruction budget a caller may ask for.
pub const CAP_MAX_INSTRUCTIONS: u64 = wire::MAX_INSTRUCTIONS_CAP;
/// Default linear-memory cap per execution (all memories together). Defends the worker's RAM.
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = wire::DEFAULT_MAX_MEMORY_MB << 20;
/// Highest memory cap a caller may ask for; also the pooling allocator's slot size.
pub const CAP_MAX_MEMORY_BYTES: u64 = wire::MAX_MEMORY_MB_CAP << 20;
/// Default wall-clock limit.
pub const DEFAULT_MAX_WALL: Duration = Duration::from_secs(wire::DEFAULT_MAX_EXECUTION_SECONDS);
/// Highest wall-clock limit a caller may ask for.
pub const CAP_MAX_WALL: Duration = Duration::from_secs(wire::MAX_EXECUTION_SECONDS_CAP);
/// Default cap on stdout bytes (the output returned to the caller). Defends against floods.
pub const DEFAULT_MAX_STDOUT_BYTES: u64 = 4 << 20;
/// Highest stdout cap a caller may ask for.
pub const CAP_MAX_STDOUT_BYTES: u64 = 64 << 20;
/// Default cap on stderr bytes (the guest's log). Defends against log floods.
pub const DEFAULT_MAX_STDERR_BYTES: u64 = 256 << 10;
/// Default cap on input bytes given on stdin or to `run`.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 4 << 20;
/// Highest input cap.
pub const CAP_MAX_INPUT_BYTES: u64 = 64 << 20;
/// Elements any one table may hold. Defends against table-growth bombs.
pub const DEFAULT_MAX_TABLE_ELEMENTS: u64 = 100_000;
/// Core instances a component may create (a Rust wasip2 command needs about 5).
pub const DEFAULT_MAX_INSTANCES: u64 = 32;
/// Tables across all instances of one execution.
pub const DEFAULT_MAX_TABLES: u64 = 32;
/// Linear memories across all instances of one execution.
pub const DEFAULT_MAX_MEMORIES: u64 = 8;
/// Storage calls per execution.
pub const DEFAULT_MAX_STORAGE_CALLS: u32 = 1_000;
/// Secrets calls per execution.
pub const DEFAULT_MAX_SECRETS_CALLS: u32 = 100;
/// NEAR RPC calls per execution (v0.1: 100).
pub const DEFAULT_MAX_RPC_CALLS: u32 = 100;
/// VRF calls per execution (v0.1: 10).
pub const DEFAULT_MAX_VRF_CALLS: u32 = 10;
/// Payment calls per execution.
pub const DEFAULT_MAX_PAYMENT_CALLS: u32 = 10;
/// Outbound HTTP requests per execution (`wasi:http/outgoing-handler.handle` calls, including
/// refused ones past the budget). Defends third parties against a guest used as a request
/// amplifier, and the worker's sockets and file descriptors.
pub const DEFAULT_MAX_HTTP_REQUESTS: u32 = 20;
/// Time to resolve the name, connect and finish the TLS handshake of one request. Defends the
/// execution's wall time against black-holed addresses (SYN never answered).
pub const DEFAULT_HTTP_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time from sending a request to the first byte of the response head. Defends against servers
/// that accept a connection and never answer (the execution's deadline bounds it too).
pub const DEFAULT_HTTP_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(10);
/// Response body bytes one request may receive; the stream is cut past it with
/// `HTTP-response-body-size`. Defends the worker's memory and bandwidth against huge downloads.
pub const DEFAULT_MAX_HTTP_RESPONSE_BYTES: u64 = 8 << 20;
/// Response body bytes all requests of one execution may receive together (cut the same way).
/// Defends against many medium downloads adding up.
pub const DEFAULT_MAX_HTTP_TOTAL_RESPONSE_BYTES: u64 = 32 << 20;
/// Request body bytes one request may send (`HTTP-request-body-size` past it). Defends third
/// parties and the worker's upload bandwidth against floods.
pub const DEFAULT_MAX_HTTP_REQUEST_BYTES: u64 = 1 << 20;

/// The limits of one execution. Build with [`Limits::default`] and override fields, then
/// [`Limits::validate`] against the caps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    pub max_instructions: u64,
    pub max_memory_bytes: u64,
    #[serde(with = "millis")]
    pub max_wall: Duration,
    pub max_stdout_bytes: u64,
    pub max_stderr_bytes: u64,
    pub max_input_bytes: u64,
    pub max_table_elements: u64,
    pub max_instances: u64,
    pub max_tables: u64,
    pub max_memories: u64,
    pub max_storage_calls: u32,
    pub max_secrets_calls: u32,
    pub max_rpc_calls: u32,
    pub max_vrf_calls: u32,
    pub max_payment_calls: u32,
    pub max_http_requests: u32,
    #[serde(with = "millis")]
    pub http_connect_timeout: Duration,
    #[serde(with = "millis")]
    pub http_first_byte_timeout: Duration,
    pub max_http_response_bytes: u64,
    pub max_http_total_response_bytes: u64,
    pub max_http_request_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_instructions: DEFAULT_MAX_INSTRUCTIONS,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
            max_wall: DEFAULT_MAX_WALL,
            max_stdout_bytes: DEFAULT_MAX_STDOUT_BYTES,
            max_stderr_bytes: DEFAULT_MAX_STDERR_BYTES,
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
            max_table_elements: DEFAULT_MAX_TABLE_ELEMENTS,
            max_instances: DEFAULT_MAX_INSTANCES,
            max_tables: DEFAULT_MAX_TABLES,
            max_memories: DEFAULT_MAX_MEMORIES,
            max_storage_calls: DEFAULT_MAX_STORAGE_CALLS,
            max_secrets_calls: DEFAULT_MAX_SECRETS_CALLS,
            max_rpc_calls: DEFAULT_MAX_RPC_CALLS,
            max_vrf_calls: DEFAULT_MAX_VRF_CALLS,
            max_payment_calls: DEFAULT_MAX_PAYMENT_CALLS,
            max_http_requests: DEFAULT_MAX_HTTP_REQUESTS,
            http_connect_timeout: DEFAULT_HTTP_CONNECT_TIMEOUT,
            http_first_byte_timeout: DEFAULT_HTTP_FIRST_BYTE_TIMEOUT,
            max_http_response_bytes: DEFAULT_MAX_HTTP_RESPONSE_BYTES,
            max_http_total_response_bytes: DEFAULT_MAX_HTTP_TOTAL_RESPONSE_BYTES,
            max_http_request_bytes: DEFAULT_MAX_HTTP_REQUEST_BYTES,
        }
    }
}

/// A limit outside what the host allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("limit {name} = {value} is outside the allowed range 1..={cap}")]
pub struct LimitError {
    pub name: &'static str,
    pub value: u64,
    pub cap: u64,
}

impl Limits {
    /// Check every limit is positive and within its cap.
    pub fn validate(&self) -> Result<(), LimitError> {
        let checks: [(&'static str, u64, u64); 5] = [
            ("max_instructions", self.max_instructions, CAP_MAX_INSTRUCTIONS),
            ("max_memory_bytes", self.max_memory_bytes, CAP_MAX_MEMORY_BYTES),
            ("max_wall_ms", self.max_wall.as_millis() as u64, CAP_MAX_WALL.as_millis() as u64),
            ("max_stdout_bytes", self.max_stdout_bytes, CAP_MAX_STDOUT_BYTES),
            ("max_input_bytes", self.max_input_bytes, CAP_MAX_INPUT_BYTES),
        ];
        for (name, value, cap) in checks {
            if value == 0 || value > cap {
                return Err(LimitError { name, value, cap });
            }
        }
        Ok(())
    }
}

/// The one conversion from a job's limits (the wire model) to an execution's: the three limits
/// a caller sets, every other limit at its host default.
impl From<outlayer_protocol::Limits> for Limits {
    fn from(l: outlayer_protocol::Limits) -> Self {
        Self {
            max_instructions: l.max_instructions,
            max_memory_bytes: l.max_memory_mb.saturating_mul(1 << 20),
            max_wall: Duration::from_secs(l.max_execution_seconds),
            ..Limits::default()
        }
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_caps_are_enforced() {
        assert_eq!(Limits::default().validate(), Ok(()));
        let too_much = Limits { max_instructions: CAP_MAX_INSTRUCTIONS + 1, ..Limits::default() };
        let err = too_much.validate().unwrap_err();
        assert_eq!(err.name, "max_instructions");
        let zero_wall = Limits { max_wall: Duration::ZERO, ..Limits::default() };
        assert_eq!(zero_wall.validate().unwrap_err().name, "max_wall_ms");
    }
}
