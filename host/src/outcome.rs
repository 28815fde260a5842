//! What an execution ended with, as users see it.

use crate::caps::{Capability, HostCalls};
use serde::Serialize;
use std::time::Duration;

/// How an execution ended. Every failure is typed; only `Ok` is a success.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// Finished; the output is the result.
    Ok,
    /// Used up its instruction budget.
    OutOfInstructions,
    /// Ran past its wall-clock limit.
    Timeout,
    /// Asked for more linear memory than allowed.
    MemoryLimit,
    /// Grew a table past its limit.
    TableLimit,
    /// Wrote more than allowed to stdout or stderr.
    OutputTooLarge { stream: String },
    /// The input was larger than allowed; the guest did not run.
    InputTooLarge,
    /// Trapped (wasm trap, panic, stack overflow, host failure).
    Trap { message: String },
    /// A command exited with a non-zero status; stderr explains.
    Exit { code: i32 },
    /// A typed guest returned an error.
    GuestError { kind: String, message: String },
    /// Failed after being denied a capability it was not granted.
    Denied { capabilities: Vec<Capability>, message: String },
}

impl Outcome {
    /// True for [`Outcome::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok)
    }

    /// The kebab-case name of the outcome (`ok`, `timeout`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::OutOfInstructions => "out-of-instructions",
            Outcome::Timeout => "timeout",
            Outcome::MemoryLimit => "memory-limit",
            Outcome::TableLimit => "table-limit",
            Outcome::OutputTooLarge { .. } => "output-too-large",
            Outcome::InputTooLarge => "input-too-large",
            Outcome::Trap { .. } => "trap",
            Outcome::Exit { .. } => "exit",
            Outcome::GuestError { .. } => "guest-error",
            Outcome::Denied { .. } => "denied",
        }
    }
}

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
