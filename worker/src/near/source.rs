//! [`NearSource`]: the OutLayer contract's pending requests as a [`JobSource`], so the worker
//! loop ([`crate::run_with_source`]) runs them like any other job — its slots, its prepare
//! cache, its result mapping — and the source resolves each result on chain.
//!
//! - [`NearSource::poll_once`] (or, with [`NearSource::polling`], `lease` every
//!   [`NearWorkerConfig::poll_interval`] while nothing is ready): confirm or re-send the
//!   resolutions left in flight, then queue every listed request not yet handled.
//! - `lease`: take the next queued request, read it with `get_request` (still waiting? its
//!   input and params, kept in contract state), fetch its wasm, check its limits, and hand it
//!   out as a [`Job`]. A `GitHub` source is built first ([`build`], `params.force_rebuild`
//!   passed on); a compile-only request (`params.compile_only`) is resolved right there with the
//!   built hash ([`execute::compiled`]), nothing run, no receipt. A request that cannot be run
//!   is resolved as a failure here, by the source; one whose wasm cannot be read just now is put
//!   off to the next poll. A request of a project gets the project's grants (storage, rpc, vrf)
//!   and http to the hosts of its allowlist, read from the contract (`get_project`) once per
//!   project per poll ([`execute::valid_http_allowlist`] drops the entries the host refuses).
//! - `wasm`: the request's component through the [`WasmFetcher`] (already on disk after the
//!   lease's fetch).
//! - `heartbeat`: a lease is lost once the contract shows its request resolved or gone.
//! - `complete`: the result becomes the contract's `ExecutionResponse`
//!   ([`execute::response`]); with the run's signed receipt ([`execute::chain_receipt`]) it is
//!   signed, persisted and sent ([`resolve`]).
//!
//! Every request this worker knows is in one place at a time or more, never in none: queued,
//! leased (`active`), being resolved (the cursor's `resolving`), or done (the cursor's `done`).
//! A poll queues only requests in none of them, so no two slots ever handle one request.
//! Cursor changes are made under one lock and saved before it is released; signing, persisting
//! and sending a resolution (and re-sending those in flight) happen under one more, so the
//! worker key's transactions go out one at a time, each built on the nonce of the last.

use outlayer_protocol::{Completion, HeartbeatResponse, Job, JobSource, SourceError, SourceFuture};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Mutex as AsyncMutex, Notify, watch};
use tokio::time::Instant;

use super::build;
use super::chain::{Chain, FinalBlock};
use super::cursor::{Cursor, CursorError, Resolving};
use super::execute::{self, ExecutionSetting};
use super::fetch::{FetchError, WasmFetcher};
use super::resolve::{self, Resolution, Sent};
use super::types::PendingRequest;
use super::{NearGrants, NearWorkerConfig, NearWorkerError};
use crate::wasm_store::WasmStore;

/// How long a leased request's lease lasts; the worker loop heartbeats it every third of this,
/// which asks the contract whether the request still waits.
pub const LEASE_DURATION: Duration = Duration::from_secs(30);

/// What happened to requests, by request id, since the last poll began (a poll and the jobs it
/// handed out).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollReport {
    /// The final block the poll looked at.
    pub block_height: u64,
    /// Resolutions sent and executed by the node.
    pub resolved: Vec<u64>,
    /// Resolutions left in flight that the contract shows settled (nothing was sent).
    pub confirmed: Vec<u64>,
    /// Signed resolutions whose send failed without an answer; the same bytes go out next poll.
    pub in_flight: Vec<u64>,
    /// Requests put off to the next poll (their wasm or build could not be had just now).
    pub deferred: Vec<u64>,
    /// Requests the contract showed settled or resolved when about to run them, or while they
    /// ran (their lease was reported lost).
    pub skipped: Vec<u64>,
    /// Requests whose handling failed on an RPC error (logged); handled again next poll.
    pub failed: Vec<u64>,
}

struct State {
    cursor: Cursor,
    /// Requests listed and not yet leased, oldest first.
    queue: VecDeque<PendingRequest>,
    /// Requests leased (being checked, run or resolved), by id.
    active: HashMap<u64, PendingRequest>,
    /// The final block of the last poll.
    head: Option<FinalBlock>,
    /// When the next poll is due (`None`: now).
    next_poll: Option<Instant>,
    report: PollReport,
}

/// What a project's requests get, read from the contract once per project per poll.
#[derive(Clone, Debug, Default)]
struct ProjectSetting {
    /// The valid entries of its http allowlist.
    http_allowlist: Vec<String>,
    /// Its grants.
    grants: NearGrants,
}

#[derive(Default)]
struct Events {
    /// Project settings by project id, read this poll.
    projects: HashMap<String, ProjectSetting>,
    /// Compile time of leased `GitHub` requests, by request id, until completed.
    compile_ms: HashMap<u64, u64>,
}

/// The contract's pending requests as jobs. Shared by the worker loop's slots.
pub struct NearSource {
    config: NearWorkerConfig,
    worker_id: String,
    chain: Chain,
    fetcher: WasmFetcher,
    /// Client of the builder API (`GitHub` sources).
    http: reqwest::Client,
    /// Whether `lease` polls the chain itself.
    polling: bool,
    state: Mutex<State>,
    events: AsyncMutex<Events>,
    /// One poll at a time.
    poll_lock: AsyncMutex<()>,
    /// One resolution (sign, persist, send) at a time.
    send_lock: AsyncMutex<()>,
    /// Woken when requests are queued.
    ready: Notify,
    /// Requests queued or leased.
    outstanding: watch::Sender<usize>,
    /// The first cursor save that failed (the worker must stop: exactly-once needs the file).
    failure: Mutex<Option<CursorError>>,
    failed: watch::Sender<bool>,
}

/// A leased request, released from `active` when dropped unless kept (handed out as a job).
struct Claim<'a> {
    source: &'a NearSource,
    request: PendingRequest,
    keep: bool,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if !self.keep {
            let mut state = self.source.lock();
            state.active.remove(&self.request.request_id);
            self.source.changed(&state);
        }
    }
}

impl NearSource {
    /// A source for `config`, resuming from its cursor file. It polls only when
    /// [`NearSource::poll_once`] is called; see [`NearSource::polling`].
    pub fn new(config: NearWorkerConfig) -> Result<Self, NearWorkerError> {
        let cursor = Cursor::load(&config.cursor_file)?;
        let store = WasmStore::new(&config.wasm_dir).map_err(NearWorkerError::WasmDir)?;
        let chain = Chain { client: outlayer_near::RpcClient::new(config.rpc_url.clone()), contract: config.contract_id.clone() };
        let fetcher = WasmFetcher::new(store, config.ipfs_gateway.clone());
        Ok(Self {
            worker_id: format!("near:{}:{}", config.signer_account_id, config.signer_key.public_key()),
            chain,
            fetcher,
            http: reqwest::Client::new(),
            polling: false,
            state: Mutex::new(State {
                cursor,
                queue: VecDeque::new(),
                active: HashMap::new(),
                head: None,
                next_poll: None,
                report: PollReport::default(),
            }),
            events: AsyncMutex::new(Events::default()),
            poll_lock: AsyncMutex::new(()),
            send_lock: AsyncMutex::new(()),
            ready: Notify::new(),
            outstanding: watch::Sender::new(0),
            failure: Mutex::new(None),
            failed: watch::Sender::new(false),
            config,
        })
    }

    /// The same source polling by itself: `lease` polls the chain whenever nothing is queued
    /// and [`NearWorkerConfig::poll_interval`] has passed since the last poll (at once the
    /// first time).
    pub fn polling(mut self) -> Self {
        self.polling = true;
        self
    }

    /// The persisted state as of the last save.
    pub fn cursor(&self) -> Cursor {
        self.lock().cursor.clone()
    }

    /// What happened since the last poll began.
    pub fn report(&self) -> PollReport {
        self.lock().report.clone()
    }

    /// One poll: start a new [`PollReport`], confirm or re-send the resolutions in flight, then
    /// queue every listed request not yet handled (leased by the next `lease` calls). Returns
    /// the report as of the end of the poll.
    pub async fn poll_once(&self) -> Result<PollReport, NearWorkerError> {
        let _poll = self.poll_lock.lock().await;
        self.poll_locked().await
    }

    /// Resolves once nothing is queued or leased.
    pub async fn idle(&self) {
        let mut outstanding = self.outstanding.subscribe();
        let _ = outstanding.wait_for(|n| *n == 0).await;
    }

    /// Resolves once a cursor save has failed ([`NearSource::take_failure`] says why).
    pub async fn failed(&self) {
        let mut failed = self.failed.subscribe();
        let _ = failed.wait_for(|f| *f).await;
    }

    /// The cursor error that stopped this source, if any.
    pub fn take_failure(&self) -> Option<CursorError> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn changed(&self, state: &State) {
        self.outstanding.send_replace(state.queue.len() + state.active.len());
    }

    fn record(&self, f: impl FnOnce(&mut PollReport)) {
        f(&mut self.lock().report);
    }

    /// Change the state and save the cursor before anyone else sees the change.
    fn update(&self, f: impl FnOnce(&mut State)) -> Result<(), NearWorkerError> {
        let mut state = self.lock();
        f(&mut state);
        self.changed(&state);
        match state.cursor.save(&self.config.cursor_file) {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::error!(error = %e, "cannot save the cursor; stopping");
                let copy = match &e {
                    CursorError::Io { path, source } => {
                        CursorError::Io { path: path.clone(), source: std::io::Error::new(source.kind(), source.to_string()) }
                    }
                    CursorError::Invalid { path, .. } => {
                        CursorError::Io { path: path.clone(), source: std::io::Error::other(e.to_string()) }
                    }
                };
                self.failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(copy);
                self.failed.send_replace(true);
                Err(e.into())
            }
        }
    }

    /// Mark `id` done (resolved by this worker, or found resolved).
    fn finish(&self, id: u64) -> Result<(), NearWorkerError> {
        self.update(|state| {
            state.cursor.resolving.remove(&id);
            state.cursor.done.insert(id);
        })
    }

    async fn poll_if_due(&self) -> Result<(), NearWorkerError> {
        let _poll = self.poll_lock.lock().await;
        // Another slot may have polled while this one waited for the lock.
        if self.lock().next_poll.is_some_and(|due| due > Instant::now()) {
            return Ok(());
        }
        // A failure is logged by the loop ("lease failed"); the next poll is due an interval on.
        self.poll_locked().await.map(|_| ())
    }

    async fn poll_locked(&self) -> Result<PollReport, NearWorkerError> {
        let polled = self.discover().await;
        self.lock().next_poll = Some(Instant::now() + self.config.poll_interval);
        polled
    }

    async fn discover(&self) -> Result<PollReport, NearWorkerError> {
        let head = self.chain.final_block().await?;
        {
            let mut state = self.lock();
            let previous = std::mem::replace(&mut state.report, PollReport { block_height: head.height, ..PollReport::default() });
            if previous != PollReport::default() {
                tracing::debug!(report = ?previous, "since the previous poll");
            }
            state.head = Some(head.clone());
        }
        {
            let _send = self.send_lock.lock().await;
            let in_flight: Vec<(u64, Resolving)> = self.lock().cursor.resolving.iter().map(|(id, e)| (*id, e.clone())).collect();
            for (id, entry) in in_flight {
                let waiting = self.chain.get_request(id).await?.is_some_and(|r| !r.resolved);
                if waiting {
                    self.send(id, &entry).await?;
                } else {
                    self.finish(id)?;
                    self.record(|r| r.confirmed.push(id));
                }
            }
        }
        let pending = self.chain.pending(head.height).await?;
        let listed: BTreeSet<u64> = pending.iter().map(|r| r.request_id).collect();
        self.update(|state| {
            for request in pending {
                let id = request.request_id;
                let known = request.resolved
                    || state.cursor.done.contains(&id)
                    || state.cursor.resolving.contains_key(&id)
                    || state.active.contains_key(&id)
                    || state.queue.iter().any(|q| q.request_id == id);
                if !known {
                    state.queue.push_back(request);
                }
            }
            state.cursor.done.retain(|id| listed.contains(id));
            state.cursor.block_height = head.height;
        })?;
        // A project's allowlist and grants may change between polls.
        self.events.lock().await.projects.clear();
        self.ready.notify_waiters();
        Ok(self.report())
    }

    fn claim_next(&self) -> Option<Claim<'_>> {
        let mut state = self.lock();
        let request = state.queue.pop_front()?;
        state.active.insert(request.request_id, request.clone());
        self.changed(&state);
        Some(Claim { source: self, request, keep: false })
    }

    /// The job for a leased request, or `None` when it was skipped, put off, or resolved here
    /// as a failure.
    async fn prepare(&self, listed: &PendingRequest) -> Result<Option<Job>, NearWorkerError> {
        let id = listed.request_id;
        // The list may lag behind: another worker may have resolved it since. `get_request`
        // also holds the input, which the list leaves out.
        let fresh = match self.chain.get_request(id).await? {
            Some(fresh) if !fresh.resolved => fresh,
            _ => {
                self.finish(id)?;
                self.record(|r| r.skipped.push(id));
                return Ok(None);
            }
        };
        let request = &fresh;
        let params = &request.params;
        if request.secrets_ref.is_some() && !self.config.keystore {
            let error = "this worker has no keystore: requests with secrets_ref are not run";
            self.reject(id, error).await?;
            return Ok(None);
        }
        // A `GitHub` source: built by the builder, kept by hash like a download.
        let git = build::GitRef::parse(&request.source.wasm_url).filter(|_| request.source.wasm_sha256.is_empty());
        if params.compile_only && git.is_none() {
            self.reject(id, "compile_only needs a GitHub source: only a GitHub source is built").await?;
            return Ok(None);
        }
        let built_request;
        let request = match git {
            None => request,
            Some(git) => match self.build(id, &git, params.force_rebuild).await? {
                // Compile-only: resolved with the built hash, nothing run (no receipt).
                Some(built) if params.compile_only => {
                    tracing::info!(request_id = id, wasm_sha256 = %built.sha256, compile_ms = built.compile_ms, "compile-only request built");
                    let response = execute::compiled(&built.sha256, built.compile_ms);
                    self.resolve(Resolution { request_id: id, response, receipt: None }).await?;
                    return Ok(None);
                }
                Some(built) => {
                    self.fetcher.keep(&built.sha256, &built.wasm);
                    self.events.lock().await.compile_ms.insert(id, built.compile_ms);
                    let mut with_hash = request.clone();
                    with_hash.source.wasm_sha256 = built.sha256;
                    built_request = with_hash;
                    &built_request
                }
                None => return Ok(None),
            },
        };
        let source = &request.source;
        match self.fetcher.fetch(&source.wasm_url, &source.wasm_sha256).await {
            Ok(_) => {}
            Err(e @ (FetchError::Transport { .. } | FetchError::Status { status: 500.., .. })) => {
                tracing::warn!(request_id = id, error = %e, "wasm server unavailable; trying next poll");
                self.record(|r| r.deferred.push(id));
                return Ok(None);
            }
            Err(e) => {
                self.reject(id, e.to_string()).await?;
                return Ok(None);
            }
        }
        if let Err(e) = execute::check_limits(request) {
            self.reject(id, e.to_string()).await?;
            return Ok(None);
        }
        // A project's requests get the project's grants; the others the worker's defaults.
        let project = match &source.project_id {
            Some(project_id) => self.project_setting(project_id).await?,
            None => ProjectSetting { http_allowlist: Vec::new(), grants: self.config.grants },
        };
        let setting = ExecutionSetting {
            contract: &self.config.contract_id,
            network: &self.config.network,
            grants: &project.grants,
            http_allowlist: &project.http_allowlist,
        };
        let mut job = execute::job(request, &setting);
        job.lease_expires_at_ms = now_ms() + LEASE_DURATION.as_millis() as i64;
        Ok(Some(job))
    }

    /// Builds a `GitHub` request's source (`force_rebuild` passed to the builder): the checked
    /// build, or `None` when the request was put off (builder unavailable) or resolved as a
    /// failure (`build failed: <code>: <message>`, with the failed build's duration as its
    /// compile time).
    async fn build(&self, id: u64, git: &build::GitRef, force_rebuild: bool) -> Result<Option<build::Built>, NearWorkerError> {
        let Some(link) = &self.config.builder else {
            self.reject(id, "this worker has no builder: GitHub sources are not run").await?;
            return Ok(None);
        };
        match build::build(&self.http, link, git, force_rebuild).await {
            Ok(built) => Ok(Some(built)),
            Err(e @ build::BuildFetchError::Unavailable(_)) => {
                tracing::warn!(request_id = id, error = %e, "builder unavailable; trying next poll");
                self.record(|r| r.deferred.push(id));
                Ok(None)
            }
            Err(e @ build::BuildFetchError::Failed { compile_ms, .. }) => {
                let mut response = execute::failure(e.to_string());
                response.resources_used.compile_time_ms = Some(compile_ms);
                self.resolve(Resolution { request_id: id, response, receipt: None }).await?;
                Ok(None)
            }
        }
    }

    /// The setting of `project_id`'s requests, read from the contract (`get_project`) once per
    /// poll: the valid entries of its http allowlist and its grants (none for a project the
    /// contract does not know).
    async fn project_setting(&self, project_id: &str) -> Result<ProjectSetting, NearWorkerError> {
        if let Some(setting) = self.events.lock().await.projects.get(project_id) {
            return Ok(setting.clone());
        }
        let setting = match self.chain.project(project_id).await? {
            Some(project) => ProjectSetting {
                http_allowlist: execute::valid_http_allowlist(project_id, &project.http_allowlist),
                grants: NearGrants { storage: project.grants.storage, rpc: project.grants.rpc, vrf: project.grants.vrf },
            },
            None => ProjectSetting::default(),
        };
        self.events.lock().await.projects.insert(project_id.to_owned(), setting.clone());
        Ok(setting)
    }

    /// Resolve `id` as a failure without running it (no receipt: nothing ran).
    async fn reject(&self, id: u64, error: impl Into<String>) -> Result<(), NearWorkerError> {
        self.resolve(Resolution { request_id: id, response: execute::failure(error), receipt: None }).await
    }

    /// Sign `resolve_execution(id, response, receipt?)`, persist it, send it.
    async fn resolve(&self, resolution: Resolution) -> Result<(), NearWorkerError> {
        let _send = self.send_lock.lock().await;
        let config = &self.config;
        let id = resolution.request_id;
        let response = &resolution.response;
        let signed = resolve::sign(&self.chain, &config.signer_account_id, &config.signer_key, &resolution, config.resolve_gas).await?;
        let entry = resolve::resolving(&signed);
        self.update(|state| {
            state.cursor.resolving.insert(id, entry.clone());
        })?;
        tracing::info!(request_id = id, tx_hash = %entry.tx_hash, success = response.success, "resolving request");
        self.send(id, &entry).await
    }

    /// Send the stored resolution of `id` and record what became of it (the caller holds the
    /// send lock).
    async fn send(&self, id: u64, entry: &Resolving) -> Result<(), NearWorkerError> {
        match resolve::send(&self.chain, entry).await {
            Sent::Executed { failure } => {
                if let Some(failure) = failure {
                    tracing::warn!(request_id = id, tx_hash = %entry.tx_hash, %failure, "the contract refused the resolution");
                }
                self.finish(id)?;
                self.record(|r| r.resolved.push(id));
            }
            Sent::Stale(error) => {
                tracing::warn!(request_id = id, tx_hash = %entry.tx_hash, %error, "resolution not applicable; handled again if the request still waits");
                self.update(|state| {
                    state.cursor.resolving.remove(&id);
                })?;
            }
            Sent::Unknown(error) => {
                tracing::warn!(request_id = id, tx_hash = %entry.tx_hash, %error, "sending the resolution failed; the same transaction is sent again next poll");
                self.record(|r| r.in_flight.push(id));
            }
        }
        Ok(())
    }

    fn failed_request(&self, id: u64, error: NearWorkerError) -> SourceError {
        tracing::warn!(request_id = id, %error, "handling the request failed; trying next poll");
        self.record(|r| r.failed.push(id));
        SourceError(error.to_string())
    }

    fn leased(&self, job_id: &str) -> Result<PendingRequest, SourceError> {
        let id = request_id(job_id)?;
        self.lock().active.get(&id).cloned().ok_or_else(|| SourceError(format!("request {id} is not leased by this worker")))
    }
}

impl JobSource for NearSource {
    fn worker_id(&self) -> &str {
        &self.worker_id
    }

    fn lease(&self, wait: Duration) -> SourceFuture<'_, Option<Job>> {
        Box::pin(async move {
            let deadline = Instant::now() + wait;
            loop {
                let ready = self.ready.notified();
                tokio::pin!(ready);
                ready.as_mut().enable();
                if let Some(mut claim) = self.claim_next() {
                    let id = claim.request.request_id;
                    match self.prepare(&claim.request).await {
                        Ok(Some(job)) => {
                            claim.keep = true;
                            return Ok(Some(job));
                        }
                        Ok(None) => continue,
                        Err(e) => return Err(self.failed_request(id, e)),
                    }
                }
                let now = Instant::now();
                let mut until = deadline;
                if self.polling {
                    let due = self.lock().next_poll.unwrap_or(now);
                    if due <= now {
                        self.poll_if_due().await.map_err(|e| SourceError(e.to_string()))?;
                        continue;
                    }
                    until = until.min(due);
                }
                if now >= deadline {
                    return Ok(None);
                }
                tokio::select! {
                    () = ready => {}
                    () = tokio::time::sleep_until(until) => {}
                }
            }
        })
    }

    fn heartbeat<'a>(&'a self, lease_ids: &'a [String]) -> SourceFuture<'a, HeartbeatResponse> {
        Box::pin(async move {
            let mut answer = HeartbeatResponse::default();
            for lease_id in lease_ids {
                let id = request_id(lease_id)?;
                let leased = self.lock().active.contains_key(&id);
                let waiting =
                    leased && self.chain.get_request(id).await.map_err(|e| SourceError(e.to_string()))?.is_some_and(|r| !r.resolved);
                if waiting {
                    answer.extended.push(lease_id.clone());
                    continue;
                }
                if leased {
                    // Resolved or gone while it ran: another worker answered it.
                    tracing::info!(request_id = id, "request settled elsewhere while running; abandoning it");
                    let finished = self.update(|state| {
                        state.active.remove(&id);
                        state.cursor.done.insert(id);
                    });
                    finished.map_err(|e| SourceError(e.to_string()))?;
                    self.record(|r| r.skipped.push(id));
                }
                answer.lost.push(lease_id.clone());
            }
            Ok(answer)
        })
    }

    fn wasm<'a>(&'a self, job: &'a Job) -> SourceFuture<'a, Vec<u8>> {
        Box::pin(async move {
            let request = self.leased(&job.call_id)?;
            self.fetcher.fetch(&request.source.wasm_url, &job.wasm_sha256).await.map_err(|e| SourceError(e.to_string()))
        })
    }

    fn complete<'a>(&'a self, job: &'a Job, completion: &'a Completion) -> SourceFuture<'a, ()> {
        Box::pin(async move {
            let request = self.leased(&job.call_id)?;
            let id = request.request_id;
            // Released from `active` when done, whatever happens: by then the request is done,
            // in flight, or (stale or failed) listed again by the next poll.
            let _claim = Claim { source: self, request, keep: false };
            let mut response = execute::response(&completion.result, _claim.request.response_format);
            if response.success {
                response.refund_usd = execute::refund_usd(completion.result.refund, &_claim.request);
            }
            response.resources_used.compile_time_ms = self.events.lock().await.compile_ms.remove(&id);
            let receipt = Some(execute::chain_receipt(&completion.receipt, &self.config.signer_key));
            self.resolve(Resolution { request_id: id, response, receipt }).await.map_err(|e| self.failed_request(id, e))
        })
    }
}

fn request_id(job_id: &str) -> Result<u64, SourceError> {
    job_id.parse().map_err(|_| SourceError(format!("{job_id:?} is not a request id of this source")))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
