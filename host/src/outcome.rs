//! What an execution ended with, as users see it.

use crate::caps::HostCalls;
use serde::Serialize;
use std::time::Duration;

pub use outlayer_protocol::Outcome;

/// Everything the host reports about one execution.
#[derive(Clone, Debug, Serialize)]
pub struct ExecutionReport {
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The result: stdout of a command, the returned bytes of a typed guest.
    #[serde(skip)]
    pub output: Vec<u8>,
    /// The guest's log (stderr), up to its cap.
    #[serde(skip)]
    pub stderr: Vec<u8>,
    /// Instructions consumed (fuel), exact: this is what is billed.
    pub instructions: u64,
    #[serde(rename = "wall_ms", serialize_with = "millis")]
    pub wall: Duration,
    /// Highest linear memory held at once, in bytes.
    pub peak_memory_bytes: u64,
    /// Refund the guest asked for, in the execution's currency.
    #[serde(serialize_with = "opt_u128")]
    pub refund: Option<u128>,
    /// Hex sha256 of the component that ran.
    pub wasm_hash: String,
    pub host_calls: HostCalls,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

fn opt_u128<S: serde::Serializer>(v: &Option<u128>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(&v.to_string()),
        None => s.serialize_none(),
    }
}
