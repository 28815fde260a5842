//! The poll loop: discover, run, resolve, persist.

use outlayer_host::Runtime;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;

use super::chain::{Chain, FinalBlock};
use super::cursor::{Cursor, Resolving};
use super::execute::{self, ExecutionSetting};
use super::fetch::{FetchError, WasmFetcher};
use super::resolve::{self, Sent};
use super::types::{ExecutionResponse, PendingRequest, RequestedEvent};
use super::{EVENT_SEARCH_BLOCKS, NearWorkerConfig, NearWorkerError};
use crate::Backends;
use crate::wasm_store::WasmStore;

/// What one poll did, by request id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollReport {
    /// The final block the poll looked at.
    pub block_height: u64,
    /// Resolutions sent and executed by the node in this poll.
    pub resolved: Vec<u64>,
    /// Resolutions left in flight that the contract shows settled (nothing was sent).
    pub confirmed: Vec<u64>,
    /// Signed resolutions whose send failed without an answer; the same bytes go out next poll.
    pub in_flight: Vec<u64>,
    /// Requests put off to the next poll (their event or wasm could not be read just now).
    pub deferred: Vec<u64>,
    /// Listed requests the contract showed settled or resolved when about to run them.
    pub skipped: Vec<u64>,
}

/// The on-chain worker's state between polls.
pub struct NearWorker {
    config: NearWorkerConfig,
    chain: Chain,
    fetcher: WasmFetcher,
    runtime: Runtime,
    backends: Backends,
    cursor: Cursor,
    /// `execution_requested` events read so far, by request id.
    events: HashMap<u64, RequestedEvent>,
    /// Request block heights already searched for events.
    searched: BTreeSet<u64>,
}

impl NearWorker {
    /// A worker for `config`, resuming from its cursor file.
    pub fn new(
        config: NearWorkerConfig,
        runtime: Runtime,
        backends: Backends,
    ) -> Result<Self, NearWorkerError> {
        let cursor = Cursor::load(&config.cursor_file)?;
        let store = WasmStore::new(&config.wasm_dir).map_err(NearWorkerError::WasmDir)?;
        let chain = Chain {
            client: outlayer_near::RpcClient::new(config.rpc_url.clone()),
            contract: config.contract_id.clone(),
        };
        let fetcher = WasmFetcher::new(store, config.ipfs_gateway.clone());
        Ok(Self {
            config,
            chain,
            fetcher,
            runtime,
            backends,
            cursor,
            events: HashMap::new(),
            searched: BTreeSet::new(),
        })
    }

    /// The persisted state as of the last save.
    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }

    /// One poll: confirm or re-send resolutions in flight, then run and resolve every new
    /// pending request, saving the cursor after each step.
    pub async fn poll_once(&mut self) -> Result<PollReport, NearWorkerError> {
        let head = self.chain.final_block().await?;
        let mut report = PollReport {
            block_height: head.height,
            ..PollReport::default()
        };
        let in_flight: Vec<(u64, Resolving)> = self
            .cursor
            .resolving
            .iter()
            .map(|(id, e)| (*id, e.clone()))
            .collect();
        for (id, entry) in in_flight {
            let waiting = self
                .chain
                .get_request(id)
                .await?
                .is_some_and(|r| !r.resolved);
            if waiting {
                self.send(id, &entry, &mut report).await?;
            } else {
                self.finish(id)?;
                report.confirmed.push(id);
            }
        }
        let pending = self.chain.pending(head.height).await?;
        for request in &pending {
            let id = request.request_id;
            if request.resolved
                || self.cursor.done.contains(&id)
                || self.cursor.resolving.contains_key(&id)
            {
                continue;
            }
            // The list may lag behind: another worker may have resolved it since.
            if self.chain.get_request(id).await?.is_none_or(|r| r.resolved) {
                self.finish(id)?;
                report.skipped.push(id);
                continue;
            }
            let Some(response) = self.execute(request, &head).await? else {
                report.deferred.push(id);
                continue;
            };
            let signed = resolve::sign(
                &self.chain,
                &self.config.signer_account_id,
                &self.config.signer_key,
                id,
                &response,
                self.config.resolve_gas,
            )
            .await?;
            let entry = resolve::resolving(&signed);
            self.cursor.resolving.insert(id, entry.clone());
            self.cursor.save(&self.config.cursor_file)?;
            tracing::info!(request_id = id, tx_hash = %entry.tx_hash, success = response.success, "resolving request");
            self.send(id, &entry, &mut report).await?;
        }
        let listed: BTreeSet<u64> = pending.iter().map(|r| r.request_id).collect();
        self.cursor.done.retain(|id| listed.contains(id));
        self.events.retain(|id, _| listed.contains(id));
        let oldest = pending
            .iter()
            .map(|r| r.block_height)
            .min()
            .unwrap_or(head.height);
        self.searched.retain(|h| *h >= oldest);
        self.cursor.block_height = head.height;
        self.cursor.save(&self.config.cursor_file)?;
        Ok(report)
    }

    /// Send the stored resolution of `id` and record what became of it.
    async fn send(
        &mut self,
        id: u64,
        entry: &Resolving,
        report: &mut PollReport,
    ) -> Result<(), NearWorkerError> {
        match resolve::send(&self.chain, entry).await {
            Sent::Executed { failure } => {
                if let Some(failure) = failure {
                    tracing::warn!(request_id = id, tx_hash = %entry.tx_hash, %failure, "the contract refused the resolution");
                }
                self.finish(id)?;
                report.resolved.push(id);
            }
            Sent::Stale(error) => {
                tracing::warn!(request_id = id, tx_hash = %entry.tx_hash, %error, "resolution not applicable; handled again if the request still waits");
                self.cursor.resolving.remove(&id);
                self.cursor.save(&self.config.cursor_file)?;
            }
            Sent::Unknown(error) => {
                tracing::warn!(request_id = id, tx_hash = %entry.tx_hash, %error, "sending the resolution failed; the same transaction is sent again next poll");
                report.in_flight.push(id);
            }
        }
        Ok(())
    }

    fn finish(&mut self, id: u64) -> Result<(), NearWorkerError> {
        self.cursor.resolving.remove(&id);
        self.cursor.done.insert(id);
        self.cursor.save(&self.config.cursor_file)?;
        Ok(())
    }

    /// The response for `request`, or `None` to try again next poll.
    async fn execute(
        &mut self,
        request: &PendingRequest,
        head: &FinalBlock,
    ) -> Result<Option<ExecutionResponse>, NearWorkerError> {
        let id = request.request_id;
        let event = match self.event(request, head).await {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!(request_id = id, error = %e, "reading the request's event failed; trying next poll");
                return Ok(None);
            }
        };
        let Some(event) = event else {
            return Ok(Some(execute::failure(format!(
                "the worker found no execution_requested event for request {id} within {EVENT_SEARCH_BLOCKS} blocks of block {}",
                request.block_height
            ))));
        };
        if request.secrets_ref.is_some() {
            return Ok(Some(execute::failure(
                "this worker has no keystore: requests with secrets_ref are not run",
            )));
        }
        let source = &request.source;
        let wasm = match self
            .fetcher
            .fetch(&source.wasm_url, &source.wasm_sha256)
            .await
        {
            Ok(wasm) => wasm,
            Err(e @ (FetchError::Transport { .. } | FetchError::Status { status: 500.., .. })) => {
                tracing::warn!(request_id = id, error = %e, "wasm server unavailable; trying next poll");
                return Ok(None);
            }
            Err(e) => return Ok(Some(execute::failure(e.to_string()))),
        };
        let setting = ExecutionSetting {
            contract: &self.config.contract_id,
            network: &self.config.network,
            grants: &self.config.grants,
            backends: &self.backends,
        };
        let host_request = match execute::host_request(request, &event, &setting) {
            Ok(r) => r,
            Err(e) => return Ok(Some(execute::failure(e.to_string()))),
        };
        let runtime = self.runtime.clone();
        let prepared = match tokio::task::spawn_blocking(move || runtime.prepare(&wasm)).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return Ok(Some(execute::failure(format!("invalid component: {e}")))),
            Err(e) => return Ok(Some(execute::failure(format!("compiling panicked: {e}")))),
        };
        Ok(Some(
            match self.runtime.execute(&prepared, host_request).await {
                Ok(report) => execute::response(&report, request.response_format),
                Err(e) => execute::failure(e.to_string()),
            },
        ))
    }

    /// The `execution_requested` event of `request`, searching the blocks up to its height once.
    async fn event(
        &mut self,
        request: &PendingRequest,
        head: &FinalBlock,
    ) -> Result<Option<RequestedEvent>, NearWorkerError> {
        let id = request.request_id;
        if !self.events.contains_key(&id) && self.searched.insert(request.block_height) {
            match self
                .chain
                .events_near(request.block_height, &head.hash)
                .await
            {
                Ok(found) => self.events.extend(found),
                Err(e) => {
                    self.searched.remove(&request.block_height);
                    return Err(e.into());
                }
            }
        }
        Ok(self.events.get(&id).cloned())
    }
}

/// Poll every `config.poll_interval` until `shutdown` resolves. A failed poll is logged and
/// retried; only a cursor that cannot be saved stops the worker (exactly-once needs it).
pub async fn run_near_worker(
    config: NearWorkerConfig,
    runtime: Runtime,
    backends: Backends,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NearWorkerError> {
    let interval = config.poll_interval;
    tracing::info!(contract = %config.contract_id, signer = %config.signer_account_id, key = %config.signer_key.public_key(), "NEAR worker started");
    let mut worker = NearWorker::new(config, runtime, backends)?;
    tokio::pin!(shutdown);
    loop {
        let polled = tokio::select! {
            r = worker.poll_once() => r,
            () = &mut shutdown => break,
        };
        match polled {
            Ok(report) => tracing::debug!(?report, "poll done"),
            Err(NearWorkerError::Cursor(e)) => return Err(NearWorkerError::Cursor(e)),
            Err(e) => tracing::warn!(error = %e, "poll failed; retrying"),
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = &mut shutdown => break,
        }
    }
    tracing::info!("NEAR worker stopped");
    Ok(())
}
