//! The trait a host implements to be checked by the suite.

use crate::wire::{CaseRequest, CaseResult};

/// A host the suite can run executions on. Called once per step of every case; steps of one
/// case run in order, cases may run concurrently.
#[async_trait::async_trait]
pub trait ConformanceHost: Send + Sync {
    /// A short name for reports (`in-process`, `http://...`).
    fn name(&self) -> String;

    /// Run one execution and report what a user would observe. `Err` means the host could not
    /// run it at all (bad request, transport failure), which fails the case.
    async fn run(&self, request: &CaseRequest) -> Result<CaseResult, HostFailure>;
}

/// The host could not run an execution.
#[derive(Debug, thiserror::Error)]
pub enum HostFailure {
    /// The host refused the request (invalid wasm, limits out of range, bad grant).
    #[error("host refused the request: {0}")]
    Refused(String),
    /// The host could not be reached or answered something that is not a [`CaseResult`].
    #[error("transport: {0}")]
    Transport(String),
}
