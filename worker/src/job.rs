//! Translating between the coordinator's job/result shapes and the host's request/report.

use outlayer_coordinator::client::Observed;
use outlayer_coordinator::model::{Job, Outcome as WireOutcome};
use outlayer_host::caps::payment::{Currency, PaymentGrant};
use outlayer_host::caps::rpc::RpcGrant;
use outlayer_host::caps::storage::StorageGrant;
use outlayer_host::caps::vrf::VrfGrant;
use outlayer_host::{ExecutionContext, ExecutionKind, ExecutionReport, ExecutionRequest, Grants, Limits, Outcome, ProjectRef};
use std::time::Duration;

use crate::Backends;

/// Bytes of stderr reported with a result (the log tail shown as a failed call's message).
pub const STDERR_TAIL_BYTES: usize = 4096;

/// Why a job cannot be run as given.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("unknown capability {0:?} in job grants")]
    UnknownGrant(String),
    #[error("limits: {0}")]
    Limits(#[from] outlayer_host::limits::LimitError),
}

/// The host request for a leased job.
pub fn request(job: &Job, backends: &Backends) -> Result<ExecutionRequest, JobError> {
    let limits = Limits {
        max_instructions: job.limits.max_instructions,
        max_memory_bytes: job.limits.max_memory_mb << 20,
        max_wall: Duration::from_secs(job.limits.max_execution_seconds),
        ..Limits::default()
    };
    limits.validate()?;
    let mut grants = Grants::default();
    for g in &job.grants {
        match g.as_str() {
            "storage" => grants.storage = backends.storage.clone().map(StorageGrant::new),
            "rpc" => grants.rpc = backends.rpc_url.as_deref().map(RpcGrant::new),
            "vrf" | "random" => grants.vrf = Some(VrfGrant { key: backends.key.clone() }),
            "payment" => {
                grants.payment = Some(PaymentGrant { currency: Currency::UsdMicro, attached: job.attached_deposit.into(), budget: 0 })
            }
            "secrets" => grants.secrets = Some(Default::default()),
            other => return Err(JobError::UnknownGrant(other.to_string())),
        }
    }
    let c = &job.context;
    let context = ExecutionContext {
        request_id: c.request_id.clone(),
        kind: if c.kind == "near" { ExecutionKind::Near } else { ExecutionKind::Https },
        network: c.network.clone(),
        caller: Some(c.caller.clone()),
        project: Some(ProjectRef { owner: c.project.owner.clone(), name: c.project.name.clone(), id: c.project.id.clone() }),
        call_id: Some(job.call_id.clone()),
        ..Default::default()
    };
    Ok(ExecutionRequest { input: job.input.clone().into_bytes(), limits, grants, context })
}

/// The wire outcome of a host outcome.
pub fn wire_outcome(outcome: &Outcome) -> WireOutcome {
    match outcome {
        Outcome::Ok => WireOutcome::Ok,
        Outcome::OutOfInstructions => WireOutcome::OutOfInstructions,
        Outcome::Timeout => WireOutcome::Timeout,
        Outcome::MemoryLimit => WireOutcome::MemoryLimit,
        Outcome::TableLimit => WireOutcome::TableLimit,
        Outcome::OutputTooLarge { .. } => WireOutcome::OutputTooLarge,
        Outcome::InputTooLarge => WireOutcome::InputTooLarge,
        Outcome::Trap { .. } => WireOutcome::Trap,
        Outcome::Denied { .. } => WireOutcome::Denied,
        Outcome::Exit { .. } => WireOutcome::Exit,
        Outcome::GuestError { .. } => WireOutcome::GuestError,
    }
}

/// What to report for a host report.
pub fn observed(report: &ExecutionReport) -> Observed {
    let outcome = wire_outcome(&report.outcome);
    let mut tail = tail(&report.stderr);
    if let Outcome::Trap { message } | Outcome::GuestError { message, .. } | Outcome::Denied { message, .. } = &report.outcome {
        if tail.is_empty() {
            tail = message.clone();
        }
    }
    Observed {
        outcome,
        // A failed execution's partial output is not a result.
        output: if outcome == WireOutcome::Ok { report.output.clone() } else { Vec::new() },
        stderr_tail: (!tail.is_empty()).then_some(tail),
        instructions: report.instructions,
        wall_ms: report.wall.as_millis() as u64,
        peak_memory_bytes: report.peak_memory_bytes,
        refund: report.refund.map(|r| u64::try_from(r).unwrap_or(u64::MAX)).unwrap_or(0),
    }
}

/// The last [`STDERR_TAIL_BYTES`] of stderr, as text.
fn tail(stderr: &[u8]) -> String {
    let start = stderr.len().saturating_sub(STDERR_TAIL_BYTES);
    String::from_utf8_lossy(&stderr[start..]).trim().to_string()
}

/// An observation for a job that could not be run at all (bad wasm, bad limits).
pub fn rejected(message: String) -> Observed {
    Observed {
        outcome: WireOutcome::Trap,
        output: Vec::new(),
        stderr_tail: Some(message),
        instructions: 0,
        wall_ms: 0,
        peak_memory_bytes: 0,
        refund: 0,
    }
}
