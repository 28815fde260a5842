//! Facts about the current execution: who called, on which network, for which project, under
//! which limits. Always available: no grant is needed.
//!
//! ```no_run
//! let ctx = outlayer_sdk::context::get();
//! let who = ctx.caller.as_deref().unwrap_or("anonymous");
//! eprintln!("request {} from {who} on {}", ctx.request_id, ctx.network);
//! ```

use crate::bindings::outlayer::context::context as wit;
use serde::Serialize;

/// Who asked for this execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionKind {
    /// A NEAR contract call, answered through yield/resume.
    Near,
    /// An HTTPS call.
    Https,
    /// A local run (`outlayer run`) or a test.
    Local,
}

/// The project the component belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Project {
    /// The owning account.
    pub owner: String,
    /// The project's name.
    pub name: String,
    /// Stable project id.
    pub id: String,
}

/// The limits this execution runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Instruction budget.
    pub max_instructions: u64,
    /// Linear memory cap in bytes.
    pub max_memory_bytes: u64,
    /// Wall-clock limit in milliseconds.
    pub max_wall_ms: u64,
    /// Cap on output bytes.
    pub max_stdout_bytes: u64,
    /// Cap on input bytes.
    pub max_input_bytes: u64,
}

/// Everything the host knows about the current execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExecutionContext {
    /// Unique id of this request (it also binds [`vrf`](crate::vrf) output).
    pub request_id: String,
    /// Who asked.
    pub kind: ExecutionKind,
    /// `mainnet`, `testnet` or another network name.
    pub network: String,
    /// The NEAR account (or payment-key owner) that asked; `None` for local runs.
    pub caller: Option<String>,
    /// The project, when the component runs as part of one.
    pub project: Option<Project>,
    /// Hex sha256 of the component being run.
    pub wasm_hash: String,
    /// NEAR block height of the request, when it came from the chain.
    pub block_height: Option<u64>,
    /// NEAR block timestamp of the request in nanoseconds, when it came from the chain.
    pub block_timestamp_ns: Option<u64>,
    /// The limits of this execution.
    pub limits: Limits,
}

/// The context of the current execution.
pub fn get() -> ExecutionContext {
    wit::get().into()
}

impl From<wit::ExecutionKind> for ExecutionKind {
    fn from(k: wit::ExecutionKind) -> Self {
        match k {
            wit::ExecutionKind::Near => ExecutionKind::Near,
            wit::ExecutionKind::Https => ExecutionKind::Https,
            wit::ExecutionKind::Local => ExecutionKind::Local,
        }
    }
}

impl From<wit::ExecutionContext> for ExecutionContext {
    fn from(c: wit::ExecutionContext) -> Self {
        ExecutionContext {
            request_id: c.request_id,
            kind: c.kind.into(),
            network: c.network,
            caller: c.caller,
            project: c.project.map(|p| Project { owner: p.owner, name: p.name, id: p.id }),
            wasm_hash: c.wasm_hash,
            block_height: c.block_height,
            block_timestamp_ns: c.block_timestamp_ns,
            limits: Limits {
                max_instructions: c.limits.max_instructions,
                max_memory_bytes: c.limits.max_memory_bytes,
                max_wall_ms: c.limits.max_wall_ms,
                max_stdout_bytes: c.limits.max_stdout_bytes,
                max_input_bytes: c.limits.max_input_bytes,
            },
        }
    }
}
