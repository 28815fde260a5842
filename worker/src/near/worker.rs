//! Running the on-chain source through the worker loop: [`run_near_worker`] for a deployment,
//! [`NearWorker`] to drive one poll at a time (tests, tools).

use outlayer_host::Runtime;
use std::future::Future;
use std::sync::Arc;

use super::cursor::Cursor;
use super::source::{NearSource, PollReport};
use super::{NearWorkerConfig, NearWorkerError};
use crate::{Backends, WorkerConfig};

/// The worker loop's configuration for `config` (the loop keeps wasm in the same directory the
/// source fetches into).
fn loop_config(config: &NearWorkerConfig) -> WorkerConfig {
    let mut worker = WorkerConfig::new(config.rpc_url.clone(), config.wasm_dir.clone());
    worker.concurrency = config.concurrency;
    worker
}

/// An on-chain worker driven one poll at a time: each [`NearWorker::poll_once`] polls the
/// chain, then runs the worker loop over the requests it found until every one is resolved,
/// put off or skipped.
pub struct NearWorker {
    source: Arc<NearSource>,
    worker: WorkerConfig,
    runtime: Runtime,
    backends: Backends,
}

impl NearWorker {
    /// A worker for `config`, resuming from its cursor file.
    pub fn new(config: NearWorkerConfig, runtime: Runtime, backends: Backends) -> Result<Self, NearWorkerError> {
        let worker = loop_config(&config);
        let config = NearWorkerConfig { keystore: backends.keystore.is_some(), ..config };
        Ok(Self { source: Arc::new(NearSource::new(config)?), worker, runtime, backends })
    }

    /// The job source the loop leases from.
    pub fn source(&self) -> &Arc<NearSource> {
        &self.source
    }

    /// The persisted state as of the last save.
    pub fn cursor(&self) -> Cursor {
        self.source.cursor()
    }

    /// One poll ([`NearSource::poll_once`]), then the worker loop
    /// ([`crate::run_with_source`], [`NearWorkerConfig::concurrency`] slots) until nothing is
    /// queued or leased; reports everything that happened.
    pub async fn poll_once(&mut self) -> Result<PollReport, NearWorkerError> {
        self.source.poll_once().await?;
        let source = self.source.clone();
        let idle = async move {
            tokio::select! {
                () = source.idle() => {}
                () = source.failed() => {}
            }
        };
        crate::run_with_source(self.source.clone(), &self.worker, self.runtime.clone(), self.backends.clone(), idle).await?;
        if let Some(e) = self.source.take_failure() {
            return Err(e.into());
        }
        Ok(self.source.report())
    }
}

/// Run the worker loop over a polling [`NearSource`] until `shutdown` resolves: the chain is
/// polled every `config.poll_interval` while no request is ready (a failed poll is logged and
/// retried); running jobs finish after `shutdown`. Only a cursor that cannot be saved stops the
/// worker early (exactly-once needs it).
pub async fn run_near_worker(
    config: NearWorkerConfig,
    runtime: Runtime,
    backends: Backends,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NearWorkerError> {
    tracing::info!(contract = %config.contract_id, signer = %config.signer_account_id, key = %config.signer_key.public_key(), concurrency = config.concurrency, "NEAR worker started");
    let worker = loop_config(&config);
    let config = NearWorkerConfig { keystore: backends.keystore.is_some(), ..config };
    let source = Arc::new(NearSource::new(config)?.polling());
    let failed = source.clone();
    let stop = async move {
        tokio::select! {
            () = shutdown => {}
            () = failed.failed() => {}
        }
    };
    crate::run_with_source(source.clone(), &worker, runtime, backends, stop).await?;
    if let Some(e) = source.take_failure() {
        return Err(e.into());
    }
    tracing::info!("NEAR worker stopped");
    Ok(())
}
