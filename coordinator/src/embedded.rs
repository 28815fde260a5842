//! [`EmbeddedSource`]: the worker protocol against a coordinator in the same process
//! (`outlayer serve`). The same calls as over HTTP — lease, heartbeat, fetch wasm, complete with a
//! signed receipt — without the loopback hop or any encoding: jobs and results stay typed.

use std::time::Duration;

use ed25519_dalek::SigningKey;
use outlayer_protocol::source::{CompleteAndLease, JobSource, SourceError, SourceFuture};
use outlayer_protocol::{Completion, HeartbeatResponse, Job};

use crate::AppState;
use crate::db::WorkerRow;
use crate::error::ApiError;

/// A worker registered with the coordinator `state` of this process.
pub struct EmbeddedSource {
    state: AppState,
    worker: WorkerRow,
}

impl EmbeddedSource {
    /// Registers `key` with the coordinator `state`.
    pub async fn register(state: AppState, key: &SigningKey) -> Result<Self, SourceError> {
        let public = hex::encode(key.verifying_key().to_bytes());
        let (worker, _token) = state.register_worker(&public, None).await.map_err(source_error)?;
        Ok(Self { state, worker })
    }
}

fn source_error(e: ApiError) -> SourceError {
    SourceError(format!("{}: {}", e.code, e.message))
}

impl JobSource for EmbeddedSource {
    fn worker_id(&self) -> &str {
        &self.worker.id
    }
    fn lease(&self, wait: Duration) -> SourceFuture<'_, Option<Job>> {
        Box::pin(async move { self.state.lease_job(&self.worker, wait).await.map_err(source_error) })
    }
    fn heartbeat<'a>(&'a self, lease_ids: &'a [String]) -> SourceFuture<'a, HeartbeatResponse> {
        Box::pin(async move { self.state.heartbeat(&self.worker, lease_ids).await.map_err(source_error) })
    }
    fn wasm<'a>(&'a self, job: &'a Job) -> SourceFuture<'a, Vec<u8>> {
        Box::pin(async move {
            match self.state.db.wasm(&job.wasm_sha256).await {
                Ok(Some(bytes)) => Ok(bytes),
                Ok(None) => Err(SourceError(format!("no wasm {}", job.wasm_sha256))),
                Err(e) => Err(SourceError(e.to_string())),
            }
        })
    }
    fn complete<'a>(&'a self, _job: &'a Job, completion: &'a Completion) -> SourceFuture<'a, ()> {
        Box::pin(async move { self.state.complete_job(&self.worker, completion).await.map(|_| ()).map_err(source_error) })
    }
    fn complete_and_lease<'a>(&'a self, _job: &'a Job, completion: &'a Completion) -> CompleteAndLease<'a> {
        Box::pin(async move {
            let (done, next) = self.state.complete_and_lease(&self.worker, completion).await;
            (done.map(|_| ()).map_err(source_error), next)
        })
    }
}
