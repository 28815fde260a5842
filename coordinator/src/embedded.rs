//! [`EmbeddedSource`]: the worker protocol against a coordinator in the same process
//! (`outlayer serve`). The same calls as over HTTP — lease, heartbeat, fetch wasm, complete with a
//! signed receipt — without the loopback hop or any encoding: jobs and results stay typed. The
//! receipt is recomputed and compared as for a remote worker, but its signature, made in this
//! process with a key this process registered, is not verified again in release builds
//! ([`ReceiptOrigin::InProcess`]).
//!
//! Registration goes through the same attestation check as over HTTP ([`AppState::register_worker`]):
//! a challenge, evidence binding the key and the challenge, the configured policy. `outlayer serve`
//! registers with dev evidence ([`EmbeddedSource::register_dev`]), which only a coordinator with
//! dev attestation allowed accepts.

use std::time::Duration;

use ed25519_dalek::SigningKey;
use outlayer_attest::{Evidence, report_data};
use outlayer_protocol::source::{CompleteAndLease, JobSource, SourceError, SourceFuture};
use outlayer_protocol::{Completion, DEV_MEASUREMENTS, HeartbeatResponse, Job, RegisterRequest};

use crate::AppState;
use crate::db::WorkerRow;
use crate::error::ApiError;
use crate::service::ReceiptOrigin;

/// A worker registered with the coordinator `state` of this process.
pub struct EmbeddedSource {
    state: AppState,
    worker: WorkerRow,
}

impl EmbeddedSource {
    /// Registers `key` with the coordinator `state`, proving it with the evidence `evidence_for`
    /// returns for the report data (key and a fresh challenge, [`report_data`]).
    pub async fn register(
        state: AppState,
        key: &SigningKey,
        evidence_for: impl FnOnce([u8; 64]) -> Result<Evidence, String>,
    ) -> Result<Self, SourceError> {
        let challenge = state.issue_challenge().await.map_err(source_error)?;
        let public = key.verifying_key().to_bytes();
        let evidence = evidence_for(report_data(&public, &challenge)).map_err(SourceError)?;
        let req = RegisterRequest { public_key: hex::encode(public), challenge: Some(challenge), evidence: Some(evidence) };
        let (worker, _token) = state.register_worker(&req).await.map_err(source_error)?;
        Ok(Self { state, worker })
    }

    /// [`EmbeddedSource::register`] with dev evidence (**not a TEE**) claiming
    /// [`DEV_MEASUREMENTS`]: refused (`dev_not_allowed`) unless the coordinator allows dev
    /// attestation.
    pub async fn register_dev(state: AppState, key: &SigningKey) -> Result<Self, SourceError> {
        Self::register(state, key, |report_data| Ok(Evidence::dev(report_data, DEV_MEASUREMENTS))).await
    }
}

fn source_error(e: ApiError) -> SourceError {
    SourceError(format!("{}: {}", e.code, e.message))
}

impl JobSource for EmbeddedSource {
    fn worker_id(&self) -> &str {
        &self.worker.id
    }
    fn attestation_sha256(&self) -> &str {
        &self.worker.attestation_sha256
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
        Box::pin(async move {
            self.state.complete_job_from(&self.worker, completion, ReceiptOrigin::InProcess).await.map(|_| ()).map_err(source_error)
        })
    }
    fn complete_and_lease<'a>(&'a self, _job: &'a Job, completion: &'a Completion) -> CompleteAndLease<'a> {
        Box::pin(async move {
            let (done, next) = self.state.complete_and_lease_from(&self.worker, completion, ReceiptOrigin::InProcess).await;
            (done.map(|_| ()).map_err(source_error), next)
        })
    }
}
