//! [`JobSource`]: the worker's side of the protocol, whatever carries it: HTTP to a coordinator,
//! a coordinator in the same process, or the NEAR chain. The worker loop is written once against
//! it.

use crate::job::Job;
use crate::result::Completion;
use crate::worker::HeartbeatResponse;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A failed exchange with the source (the text is safe to log).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// Error code of a completion whose write set conflicts with a change committed since the guest
/// read the key (or would pass a quota now): nothing was recorded; run the job again.
pub const STORAGE_CONFLICT: &str = "storage_conflict";

impl SourceError {
    /// Whether the source refused the report with [`STORAGE_CONFLICT`]: the job is run again.
    pub fn is_storage_conflict(&self) -> bool {
        self.0.contains(STORAGE_CONFLICT)
    }
}

/// The future a [`JobSource`] method returns.
pub type SourceFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, SourceError>> + Send + 'a>>;

/// What [`JobSource::complete_and_lease`] returns: the report's outcome and the next job, if any.
pub type CompleteAndLease<'a> = Pin<Box<dyn Future<Output = (Result<(), SourceError>, Option<Job>)> + Send + 'a>>;

/// Where a worker gets jobs and reports results. Called by the worker's slots concurrently.
pub trait JobSource: Send + Sync + 'static {
    /// The id the source knows this worker by (signed into every receipt).
    fn worker_id(&self) -> &str;
    /// Hex sha256 of the attestation evidence this worker registered with at the source (signed
    /// into every receipt); empty for a source that registers no evidence.
    fn attestation_sha256(&self) -> &str {
        ""
    }
    /// Waits up to `wait` for a job; `None` when there is none.
    fn lease(&self, wait: Duration) -> SourceFuture<'_, Option<Job>>;
    /// Extends leases while their jobs run; the answer lists the ones lost (stop working on them).
    fn heartbeat<'a>(&'a self, lease_ids: &'a [String]) -> SourceFuture<'a, HeartbeatResponse>;
    /// The wasm with this sha256 (the worker checks the hash).
    fn wasm<'a>(&'a self, job: &'a Job) -> SourceFuture<'a, Vec<u8>>;
    /// Reports a signed result of `job`.
    fn complete<'a>(&'a self, job: &'a Job, completion: &'a Completion) -> SourceFuture<'a, ()>;
    /// Reports a result and, where the source can in the same exchange, leases the next waiting
    /// job without waiting for one. The job comes back whatever the report's outcome.
    fn complete_and_lease<'a>(&'a self, job: &'a Job, completion: &'a Completion) -> CompleteAndLease<'a> {
        Box::pin(async move { (self.complete(job, completion).await, None) })
    }
}
