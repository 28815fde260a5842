//! Translating between the protocol's job/result and the host's request/report: the one place
//! where a leased job becomes an execution, whichever source it came from.

use outlayer_host::caps::payment::PaymentGrant;
use outlayer_host::{ExecutionReport, ExecutionRequest, GrantError, Grants, Limits};
use outlayer_protocol::{Capability, ExecutionResult, Job};

use crate::Backends;

/// Bytes of stderr reported with a result (the log tail shown as a failed call's message).
pub const STDERR_TAIL_BYTES: usize = 4096;

/// Why a job cannot be run as given.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job's limits are outside the host's caps.
    #[error("limits: {0}")]
    Limits(#[from] outlayer_host::limits::LimitError),
    /// The grants could not be built.
    #[error("grants: {0}")]
    Grants(#[from] GrantError),
}

/// The host request for a leased job: its limits (the output capped at what the receiver of the
/// result accepts), its grants drawn from this worker's backends, its context.
pub fn request(job: &Job, backends: &Backends) -> Result<ExecutionRequest, JobError> {
    let mut limits = Limits::from(job.limits);
    limits.max_stdout_bytes = limits.max_stdout_bytes.min(job.max_output_bytes);
    limits.validate()?;
    // Only what this worker has a backend for: the rest stays ungranted, so the guest's calls
    // are denied (and reported) rather than the whole job refused.
    let granted: Vec<Capability> = job.grants.iter().copied().filter(|c| backends.caps.serves(*c)).collect();
    let payment = PaymentGrant { currency: job.context.kind.currency(), attached: job.attached_deposit, budget: 0 };
    let grants = Grants::build(&granted, &backends.caps, payment)?.allow_http(&job.http_allowlist)?;
    Ok(ExecutionRequest { input: job.input.clone().into_bytes(), limits, grants, context: job.context.clone() })
}

/// What to report for a host report: the output only of a successful run (a failed execution's
/// partial output is not a result), the stderr tail (or the outcome's own message) as the log.
pub fn result(report: ExecutionReport) -> ExecutionResult {
    let mut tail = tail(&report.stderr);
    if tail.is_empty()
        && let Some(message) = report.outcome.message()
    {
        tail = message.to_owned();
    }
    let ok = report.outcome.is_ok();
    ExecutionResult {
        output: if ok { report.output } else { Vec::new() },
        stderr_tail: (!tail.is_empty()).then_some(tail),
        instructions: report.instructions,
        wall_ms: report.wall.as_millis() as u64,
        peak_memory_bytes: report.peak_memory_bytes,
        refund: report.refund.unwrap_or(0),
        http: (!report.host_calls.http.is_idle()).then(|| report.host_calls.http.clone()),
        outcome: report.outcome,
    }
}

/// The last [`STDERR_TAIL_BYTES`] of stderr, as text.
fn tail(stderr: &[u8]) -> String {
    let start = stderr.len().saturating_sub(STDERR_TAIL_BYTES);
    String::from_utf8_lossy(&stderr[start..]).trim().to_string()
}
