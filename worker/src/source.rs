//! Where a worker gets its jobs: a coordinator over HTTP ([`HttpSource`], the distributed
//! deployment) or a coordinator in the same process ([`EmbeddedSource`], `outlayer serve`).
//! Both speak the same protocol (lease, heartbeat, fetch wasm, complete with a signed receipt),
//! so the worker loop is one piece of code.

use ed25519_dalek::SigningKey;
use outlayer_coordinator::AppState;
use outlayer_coordinator::client::{Observed, WorkerClient, signed_completion};
use outlayer_coordinator::db::WorkerRow;
use outlayer_coordinator::model::{HeartbeatResponse, Job};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A failed exchange with the coordinator (the text is safe to log).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

type Fut<'a, T> = Pin<Box<dyn Future<Output = Result<T, SourceError>> + Send + 'a>>;

/// The worker's side of the coordinator protocol.
pub trait JobSource: Send + Sync + 'static {
    /// The id the coordinator gave this worker.
    fn worker_id(&self) -> &str;
    /// Wait up to `wait` for a job.
    fn lease(&self, wait: Duration) -> Fut<'_, Option<Job>>;
    /// Extend leases; the answer lists the ones lost.
    fn heartbeat<'a>(&'a self, lease_ids: &'a [String]) -> Fut<'a, HeartbeatResponse>;
    /// The wasm with this sha256.
    fn wasm<'a>(&'a self, sha256: &'a str) -> Fut<'a, Vec<u8>>;
    /// Sign and report a result.
    fn complete<'a>(&'a self, job: &'a Job, observed: &'a Observed) -> Fut<'a, ()>;
    /// Sign and report a result and, in the same exchange where the source can, lease the next
    /// waiting job without waiting for one. The job comes back whatever the report's outcome.
    fn complete_and_lease<'a>(&'a self, job: &'a Job, observed: &'a Observed) -> CompleteAndLease<'a> {
        Box::pin(async move { (self.complete(job, observed).await, None) })
    }
}

/// What [`JobSource::complete_and_lease`] returns: the report's outcome and the next job, if any.
pub type CompleteAndLease<'a> = Pin<Box<dyn Future<Output = (Result<(), SourceError>, Option<Job>)> + Send + 'a>>;

/// A coordinator reached over HTTP.
pub struct HttpSource(pub WorkerClient);

impl JobSource for HttpSource {
    fn worker_id(&self) -> &str {
        &self.0.worker_id
    }
    fn lease(&self, wait: Duration) -> Fut<'_, Option<Job>> {
        Box::pin(async move { self.0.lease(wait).await.map_err(|e| SourceError(e.to_string())) })
    }
    fn heartbeat<'a>(&'a self, lease_ids: &'a [String]) -> Fut<'a, HeartbeatResponse> {
        Box::pin(async move { self.0.heartbeat(lease_ids).await.map_err(|e| SourceError(e.to_string())) })
    }
    fn wasm<'a>(&'a self, sha256: &'a str) -> Fut<'a, Vec<u8>> {
        Box::pin(async move { self.0.wasm(sha256).await.map_err(|e| SourceError(e.to_string())) })
    }
    fn complete<'a>(&'a self, job: &'a Job, observed: &'a Observed) -> Fut<'a, ()> {
        Box::pin(async move { self.0.complete(job, observed).await.map(|_| ()).map_err(|e| SourceError(e.to_string())) })
    }
}

/// A coordinator in this process: the same calls without HTTP.
pub struct EmbeddedSource {
    state: AppState,
    worker: WorkerRow,
    key: SigningKey,
}

impl EmbeddedSource {
    /// Register `key` with the coordinator `state`.
    pub async fn register(state: AppState, key: SigningKey) -> Result<Self, SourceError> {
        let public = hex::encode(key.verifying_key().to_bytes());
        let (worker, _token) = state.register_worker(&public, None).await.map_err(|e| SourceError(e.message))?;
        Ok(Self { state, worker, key })
    }
}

impl JobSource for EmbeddedSource {
    fn worker_id(&self) -> &str {
        &self.worker.id
    }
    fn lease(&self, wait: Duration) -> Fut<'_, Option<Job>> {
        Box::pin(async move { self.state.lease_job(&self.worker, wait).await.map_err(|e| SourceError(e.message)) })
    }
    fn heartbeat<'a>(&'a self, lease_ids: &'a [String]) -> Fut<'a, HeartbeatResponse> {
        Box::pin(async move { self.state.heartbeat(&self.worker, lease_ids).await.map_err(|e| SourceError(e.message)) })
    }
    fn wasm<'a>(&'a self, sha256: &'a str) -> Fut<'a, Vec<u8>> {
        Box::pin(async move {
            match self.state.db.wasm(sha256).await {
                Ok(Some(bytes)) => Ok(bytes),
                Ok(None) => Err(SourceError(format!("no wasm {sha256}"))),
                Err(e) => Err(SourceError(e.to_string())),
            }
        })
    }
    fn complete<'a>(&'a self, job: &'a Job, observed: &'a Observed) -> Fut<'a, ()> {
        Box::pin(async move {
            let request = signed_completion(job, observed, &self.key);
            self.state.complete_job(&self.worker, &request).await.map(|_| ()).map_err(|e| SourceError(e.message))
        })
    }
    fn complete_and_lease<'a>(&'a self, job: &'a Job, observed: &'a Observed) -> CompleteAndLease<'a> {
        Box::pin(async move {
            let request = signed_completion(job, observed, &self.key);
            let (done, next) = self.state.complete_and_lease(&self.worker, &request).await;
            (done.map(|_| ()).map_err(|e| SourceError(e.message)), next)
        })
    }
}
