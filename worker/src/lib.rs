//! The OutLayer worker: leases jobs from a [`JobSource`] (a coordinator over HTTP, a coordinator
//! in the same process, or the NEAR chain), runs them on the component host under the job's
//! limits and grants, and reports each result signed with the worker's ed25519 key. Concurrency,
//! prepare-caching, signing and result mapping exist once, here, for every source.
//!
//! # Layout
//!
//! - this file: [`run`] (attested registration over HTTP) / [`run_with_source`], the slot loops,
//!   heartbeat, prepare and sign;
//! - [`evidence`]: [`QuoteSource`], where the registration evidence comes from (configfs-tsm,
//!   dstack, dev);
//! - [`job`]: job → host request, host report → result (the one translation);
//! - [`wasm_store`]: wasm on disk by sha256;
//! - [`near`]: the on-chain source (NEAR RPC).
//!
//! - Registration is attested: the worker fetches a challenge, binds its ed25519 key and the
//!   challenge into report data, gets evidence for it from its [`QuoteSource`] and registers
//!   with that; every receipt it signs names its worker id and the sha256 of that evidence.
//! - Several jobs run at once on one [`Runtime`] (one engine), up to
//!   [`WorkerConfig::concurrency`].
//! - Wasm is fetched by sha256 and kept on disk ([`wasm_store`]); the compiled artifact cache
//!   of the runtime makes the second run of a version cheap.
//! - While a job runs its lease is heartbeated; a lease the coordinator reports lost is
//!   abandoned (another worker has it).
//! - Shutdown: stop leasing, let running jobs finish (up to [`SHUTDOWN_GRACE`]); leases of jobs
//!   still running after that expire and the coordinator hands them to another worker.
//!
//! ```no_run
//! # async fn demo(runtime: outlayer_host::Runtime) -> Result<(), outlayer_worker::WorkerError> {
//! use outlayer_worker::{Backends, WorkerConfig, run};
//! let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
//! let mut config = WorkerConfig::new("http://127.0.0.1:8080", std::env::temp_dir().join("wasm"));
//! config.quote = outlayer_worker::QuoteSource::Configfs { collateral: Some("collateral.json".into()) };
//! run(config, runtime, Backends::new(key), std::future::pending()).await
//! # }
//! ```

pub mod evidence;
pub mod job;
pub mod keys;
pub mod near;
pub mod wasm_store;

use ed25519_dalek::SigningKey;
use outlayer_host::Runtime;
use outlayer_protocol::client::{ClientError, WorkerClient};
use outlayer_protocol::logflood::LogGate;
use outlayer_protocol::{Completion, ExecutionResult, Job, JobSource, Signer, SourceError, WriteSet};

pub use evidence::{EvidenceError, QuoteSource};
use outlayer_storage::StorageBackend;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wasm_store::WasmStore;

/// Default number of jobs run at once.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// How long one lease request waits on the coordinator for a job.
pub const LEASE_WAIT: Duration = Duration::from_secs(20);
/// Pause after a failed coordinator request before trying again (defends the coordinator).
pub const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// How long shutdown waits for running jobs.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Shortest heartbeat interval (a lease shorter than 3× this is heartbeated this often).
pub const MIN_HEARTBEAT: Duration = Duration::from_millis(200);
/// How long a finished result is kept and sent again while the coordinator cannot take it
/// (unreachable, or 503: its database is down or full). Retries pause 250 ms doubling up to 4 s;
/// the lease is heartbeated meanwhile, and retrying stops early when the coordinator reports the
/// lease lost or answers with a final error.
pub const COMPLETE_RETRY_BUDGET: Duration = Duration::from_secs(300);

/// The worker's log flood gate: a failure that repeats (coordinator unreachable, keystore
/// unreachable, completions not taken) is logged once per kind per interval, with how many
/// lines of that kind were suppressed since ([`outlayer_protocol::logflood`], as the coordinator
/// does).
static LOG_GATE: std::sync::LazyLock<LogGate> =
    std::sync::LazyLock::new(|| LogGate::new(outlayer_protocol::logflood::DEFAULT_LOG_INTERVAL));

/// The line to log for a failure of `kind` at `now`, if `gate` admits one:
/// `"{kind}: {error}"`, followed by `" (N more since the last line)"` when some were suppressed.
fn limited_line(gate: &LogGate, kind: &str, error: &dyn std::fmt::Display, now: std::time::Instant) -> Option<String> {
    let suppressed = gate.admit_at(kind, now)?;
    Some(if suppressed == 0 { format!("{kind}: {error}") } else { format!("{kind}: {error} ({suppressed} more since the last line)") })
}

/// Logs a repeated failure of `kind` through [`LOG_GATE`].
fn warn_limited(kind: &str, error: &dyn std::fmt::Display) {
    if let Some(line) = limited_line(&LOG_GATE, kind, error, std::time::Instant::now()) {
        tracing::warn!("{line}");
    }
}

/// Where and how to work.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Coordinator base URL, e.g. `http://127.0.0.1:8080`.
    pub coordinator_url: String,
    /// Directory for downloaded wasm.
    pub wasm_dir: PathBuf,
    /// Jobs run at once.
    pub concurrency: usize,
    /// Bearer token the coordinator requires for registration, if any.
    pub registration_token: Option<String>,
    /// How long a lease request waits.
    pub lease_wait: Duration,
    /// Where the registration evidence comes from (default: configfs-tsm, which needs a
    /// collateral file).
    pub quote: QuoteSource,
}

impl WorkerConfig {
    /// Defaults for a coordinator at `url`, keeping wasm in `wasm_dir`.
    pub fn new(url: impl Into<String>, wasm_dir: impl Into<PathBuf>) -> Self {
        Self {
            coordinator_url: url.into(),
            wasm_dir: wasm_dir.into(),
            concurrency: DEFAULT_CONCURRENCY,
            registration_token: None,
            lease_wait: LEASE_WAIT,
            quote: QuoteSource::default(),
        }
    }
}

/// The worker's key and the capability backends it grants from.
#[derive(Clone)]
pub struct Backends {
    /// Signs receipts and vrf proofs.
    pub key: Arc<SigningKey>,
    /// What jobs' grants draw from (the host's one grants builder, [`outlayer_host::Grants::build`]).
    /// A capability a job is granted but this worker has no backend for is denied at call time
    /// (the guest sees `denied`, the report names it).
    pub caps: outlayer_host::Backends,
    /// The keystore: per job the project's storage key and the job's secrets, at start the VRF
    /// key. `None`: no secrets, and storage (if any) under the operator's key in `caps`.
    pub keystore: Option<Arc<keys::KeystoreLink>>,
    /// With a keystore: the unencrypted guest storage that each job's project key encrypts,
    /// and the operator key values written before the keystore may still be sealed under
    /// (read, and moved to the project key on their next write).
    pub project_storage: Option<ProjectStorage>,
}

/// Guest storage encrypted per project with the keystore's keys.
#[derive(Clone)]
pub struct ProjectStorage {
    /// The backend that holds ciphertexts.
    pub inner: Arc<dyn StorageBackend>,
    /// The operator key values written before the keystore may be sealed under.
    pub legacy_key: Option<[u8; 32]>,
    /// Without a keystore: the worker's own key every project's data is sealed under.
    pub operator_key: Option<[u8; 32]>,
}

impl Backends {
    /// Vrf (signed with `key`) and an empty secrets store; no storage, no rpc.
    pub fn new(key: SigningKey) -> Self {
        let key = Arc::new(key);
        let vrf = Arc::new(outlayer_attest::vrf::VrfSecretKey::from_seed(key.to_bytes()));
        let caps = outlayer_host::Backends { vrf_key: Some(vrf), secrets: Some(Default::default()), ..Default::default() };
        Self { key, caps, keystore: None, project_storage: None }
    }

    /// With the keystore at `link`: secrets and per-project storage keys (over `storage`, with
    /// `legacy_key` readable for data written before), and the keystore's VRF key once
    /// [`run_with_source`] opened the session.
    pub fn with_keystore(
        mut self,
        link: keys::KeystoreLink,
        storage: Option<Arc<dyn StorageBackend>>,
        legacy_key: Option<[u8; 32]>,
    ) -> Self {
        self.keystore = Some(Arc::new(link));
        self.project_storage = storage.map(|inner| ProjectStorage { inner, legacy_key, operator_key: None });
        self
    }

    /// With guest storage in `inner` (the deployment's store), every value sealed under this
    /// worker's `key` (no keystore: dev and single-operator setups).
    pub fn with_sealed_storage(mut self, inner: Arc<dyn StorageBackend>, key: [u8; 32]) -> Self {
        self.project_storage = Some(ProjectStorage { inner, legacy_key: None, operator_key: Some(key) });
        self
    }

    /// With guest storage used as it is (no encryption by the worker: tests, in-memory runs).
    pub fn with_storage(mut self, storage: Arc<dyn StorageBackend>) -> Self {
        self.caps.storage = Some(storage);
        self
    }

    /// With a NEAR RPC endpoint for the rpc capability.
    pub fn with_rpc(mut self, url: impl Into<String>) -> Self {
        self.caps.rpc_url = Some(url.into());
        self
    }
}

/// Whether a job proved by `proof` needs anything from the keystore. A coordinator's ticket is
/// only worth a release when the job is granted storage (its project's key) or has secrets; any
/// other proof is always released (it says nothing by itself).
fn needs_keys(job: &Job, proof: &outlayer_protocol::secrets::JobProof) -> bool {
    match proof {
        outlayer_protocol::secrets::JobProof::Ticket(t) => {
            t.ticket.secrets.is_some() || job.grants.contains(&outlayer_protocol::Capability::Storage)
        }
        _ => true,
    }
}

/// Most times one leased job is run again because its storage writes conflicted with writes
/// committed meanwhile (each conflict means another execution's writes were committed).
pub const MAX_CONFLICT_RERUNS: u32 = 64;

/// Commits `writes` of `job` to `store` under the job's commit id (the job's source does not
/// apply them). `Ok(true)`: committed now or by an earlier execution of the same job (whose
/// writes stand; these are dropped); `Ok(false)`: conflict, run again; `Err`: the store failed
/// (logged): the job is abandoned and leased again.
async fn commit_locally(job: &Job, writes: &WriteSet, store: &dyn StorageBackend) -> Result<bool, ()> {
    match store.commit(&job.commit_id(), writes, b"").await {
        Ok(outlayer_storage::Committed::Applied | outlayer_storage::Committed::Already(_)) => Ok(true),
        Ok(outlayer_storage::Committed::Conflict { .. }) => Ok(false),
        Err(e) => {
            warn_limited("committing storage writes failed (the job is left to be leased again)", &format_args!("{}: {e}", job.call_id));
            Err(())
        }
    }
}

/// How long a job waits for an unavailable keystore (its lease is heartbeated meanwhile) before
/// it is abandoned to be leased again.
pub const KEYSTORE_RETRY_BUDGET: Duration = Duration::from_secs(20);

/// [`keys::KeystoreLink::release`], retried with growing pauses (250 ms doubling up to 4 s) while
/// the failure is transient, for at most [`KEYSTORE_RETRY_BUDGET`].
async fn release_with_retries(
    link: &keys::KeystoreLink,
    proof: &outlayer_protocol::secrets::JobProof,
    call_id: &str,
) -> Result<outlayer_protocol::secrets::ReleasedKeys, keys::KeysError> {
    let deadline = tokio::time::Instant::now() + KEYSTORE_RETRY_BUDGET;
    let mut pause = Duration::from_millis(250);
    loop {
        match link.release(proof).await {
            Err(e) if e.is_transient() && tokio::time::Instant::now() + pause < deadline => {
                tracing::debug!(%call_id, error = %e, "keystore unavailable; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(4));
            }
            other => return other,
        }
    }
}

/// Why the worker stopped.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("registering with the coordinator: {0}")]
    Register(ClientError),
    #[error("obtaining attestation evidence: {0}")]
    Evidence(#[from] EvidenceError),
    #[error("wasm directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("opening the keystore session: {0}")]
    Keystore(keys::KeysError),
}

/// Register with the coordinator at `config.coordinator_url` over HTTP, then lease and run jobs
/// until `shutdown` resolves.
pub async fn run(
    config: WorkerConfig,
    runtime: Runtime,
    backends: Backends,
    shutdown: impl Future<Output = ()>,
) -> Result<(), WorkerError> {
    let token = config.registration_token.as_deref();
    let challenge = WorkerClient::challenge(&config.coordinator_url, token).await.map_err(WorkerError::Register)?;
    let report_data = outlayer_attest::report_data(&backends.key.verifying_key().to_bytes(), &challenge);
    let quote = config.quote.clone();
    let evidence = tokio::task::spawn_blocking(move || quote.evidence(report_data))
        .await
        .map_err(|e| std::io::Error::other(format!("quote provider panicked: {e}")))??;
    let client = WorkerClient::register(&config.coordinator_url, &backends.key, &challenge, &evidence, token)
        .await
        .map_err(WorkerError::Register)?;
    tracing::info!(
        worker_id = %client.worker_id,
        coordinator = %config.coordinator_url,
        evidence = evidence.kind(),
        attestation_sha256 = %client.attestation_sha256,
        "worker registered"
    );
    run_with_source(Arc::new(client), &config, runtime, backends, shutdown).await
}

/// Lease and run jobs from `source` until `shutdown` resolves (`config.coordinator_url` and
/// `registration_token` are not used: the source is already registered).
pub async fn run_with_source(
    source: Arc<dyn JobSource>,
    config: &WorkerConfig,
    runtime: Runtime,
    backends: Backends,
    shutdown: impl Future<Output = ()>,
) -> Result<(), WorkerError> {
    let store = WasmStore::new(&config.wasm_dir)?;
    let mut backends = backends;
    if let Some(link) = &backends.keystore {
        let vrf = link.open().await.map_err(WorkerError::Keystore)?;
        backends.caps.vrf_key = Some(Arc::new(vrf));
    }
    let worker = Arc::new(Worker { source, runtime, backends, store });
    // One loop per slot, each leasing and running its own jobs: leasing is a round trip to the
    // coordinator's database, so slots must not wait for each other's leases.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut slots = tokio::task::JoinSet::new();
    for _ in 0..config.concurrency.max(1) {
        let (worker, mut stop, wait) = (worker.clone(), stop_rx.clone(), config.lease_wait);
        slots.spawn(async move {
            // The next job, when reporting the last one already leased it.
            let mut next: Option<Job> = None;
            loop {
                let job = match next.take() {
                    Some(job) => Some(job),
                    None => {
                        let leased = tokio::select! {
                            r = worker.source.lease(wait) => r,
                            _ = stop.wait_for(|s| *s) => return,
                        };
                        match leased {
                            Ok(job) => job,
                            Err(e) => {
                                warn_limited("lease failed (retrying)", &e);
                                tokio::time::sleep(RETRY_PAUSE).await;
                                None
                            }
                        }
                    }
                };
                // A job that started (or was leased) is finished even during shutdown; no new
                // job is leased once stopping.
                if let Some(job) = job {
                    let lease_next = !*stop.borrow();
                    next = worker.handle(job, lease_next).await;
                }
                if next.is_none() && *stop.borrow() {
                    return;
                }
            }
        });
    }
    shutdown.await;
    tracing::info!("worker stopping: waiting for running jobs");
    let _ = stop_tx.send(true);
    if tokio::time::timeout(SHUTDOWN_GRACE, async { while slots.join_next().await.is_some() {} }).await.is_err() {
        tracing::warn!("jobs still running at shutdown; their leases will expire and be re-leased");
    }
    Ok(())
}

struct Worker {
    source: Arc<dyn JobSource>,
    runtime: Runtime,
    backends: Backends,
    store: WasmStore,
}

impl Worker {
    /// Run one job with its lease heartbeated, then report it; with `lease_next`, the report may
    /// lease the next job in the same exchange, which is returned.
    ///
    /// The guest's storage writes take effect only with its result: sent with it when the source
    /// applies them (`job.settles_writes`), else committed here under the job's commit id before
    /// the report. A write set that conflicts with a change committed since the guest read the
    /// key runs the job again (up to [`MAX_CONFLICT_RERUNS`] times; then the lease is left to
    /// expire and the job is leased again).
    async fn handle(&self, job: Job, lease_next: bool) -> Option<Job> {
        let call_id = job.call_id.clone();
        for round in 0..=MAX_CONFLICT_RERUNS {
            let result = tokio::select! {
                r = self.execute(&job) => r,
                () = self.heartbeat(&job) => {
                    tracing::warn!(%call_id, "lease lost; abandoning the job");
                    return None;
                }
            };
            let Some((result, stage)) = result else {
                // Not this job's fault (the keystore is unreachable or busy): no result is reported,
                // the lease runs out and the job is leased again (up to the source's attempt limit).
                return None;
            };
            // A failed execution's writes are dropped with it.
            let (writes, store) = match stage {
                Some(stage) if result.outcome.is_ok() => (stage.staged.write_set(), Some(stage.store)),
                _ => (WriteSet::default(), None),
            };
            let sent = match store {
                Some(store) if !job.settles_writes && !writes.is_empty() => match commit_locally(&job, &writes, store.as_ref()).await {
                    Ok(true) => WriteSet::default(),
                    Ok(false) => continue,
                    Err(()) => return None,
                },
                _ => writes,
            };
            if let Some(next) = self.report_once(&job, result, sent, lease_next, round).await {
                return next;
            }
        }
        warn_limited("storage writes kept conflicting (the job is left to be leased again)", &call_id);
        None
    }

    /// Signs and reports one result; `None` when the source refused it for a storage conflict
    /// (run the job again), else the next job if the report leased one.
    async fn report_once(&self, job: &Job, result: ExecutionResult, writes: WriteSet, lease_next: bool, round: u32) -> Option<Option<Job>> {
        let call_id = job.call_id.clone();
        let outcome = result.outcome.kind();
        let signer = Signer { worker_id: self.source.worker_id(), attestation_sha256: self.source.attestation_sha256() };
        let completion = Completion::sign(job, result, &signer, &self.backends.key).with_writes(writes, &self.backends.key);
        let job = job.clone();
        // The lease stays heartbeated while the result is reported (and reported again).
        let (done, next) = tokio::select! {
            r = self.report(&job, &completion, lease_next) => r,
            () = self.heartbeat(&job) => (Err(SourceError("the lease was lost while reporting the result".into())), None),
        };
        match done {
            Ok(_) => tracing::debug!(%call_id, outcome, "job completed"),
            Err(e) if e.is_storage_conflict() && next.is_none() && round < MAX_CONFLICT_RERUNS => {
                tracing::debug!(%call_id, round, "storage writes conflicted; running the job again");
                return None;
            }
            Err(e) => warn_limited("completing a job failed", &format_args!("{call_id}: {e}")),
        }
        Some(next)
    }

    /// Reports `completion`; a retryable failure (the coordinator unreachable, or 503 because it
    /// could not record the result yet) is retried with the same completion — which the
    /// coordinator accepts idempotently — for up to [`COMPLETE_RETRY_BUDGET`], so a finished
    /// result is not dropped and the job need not run again.
    async fn report(&self, job: &Job, completion: &Completion, lease_next: bool) -> (Result<(), SourceError>, Option<Job>) {
        let deadline = tokio::time::Instant::now() + COMPLETE_RETRY_BUDGET;
        let mut pause = Duration::from_millis(250);
        loop {
            let (done, next) = if lease_next {
                self.source.complete_and_lease(job, completion).await
            } else {
                (self.source.complete(job, completion).await, None)
            };
            match done {
                Err(e) if outlayer_protocol::client::is_retryable(&e) && tokio::time::Instant::now() + pause < deadline => {
                    warn_limited("result not taken yet (sending it again)", &e);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(4));
                }
                done => return (done, next),
            }
        }
    }

    /// Heartbeat the lease; returns only when the coordinator says it is lost.
    async fn heartbeat(&self, job: &Job) {
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        let left = Duration::from_millis(job.lease_expires_at_ms.saturating_sub(now_ms).max(0) as u64);
        let every = (left / 3).max(MIN_HEARTBEAT);
        loop {
            tokio::time::sleep(every).await;
            match self.source.heartbeat(std::slice::from_ref(&job.lease_id)).await {
                Ok(r) if r.lost.contains(&job.lease_id) => return,
                Ok(_) => {}
                Err(e) => warn_limited("heartbeat failed", &e),
            }
        }
    }

    /// The job's result; `None` when it could not be run for a passing reason (the keystore is
    /// unreachable): the job is abandoned, not failed.
    async fn execute(&self, job: &Job) -> Option<(ExecutionResult, Option<job::Stage>)> {
        let keys = match (&job.keys, &self.backends.keystore) {
            // Nothing to release (no storage, no secrets): the job runs as without a ticket.
            (Some(proof), Some(_)) if !needs_keys(job, proof) => None,
            (Some(proof), Some(link)) => match release_with_retries(link, proof, &job.call_id).await {
                Ok(keys) => Some(keys),
                Err(keys::KeysError::Denied { condition, message }) => {
                    return Some((ExecutionResult::not_run(outlayer_protocol::Outcome::AccessDenied { condition, message }), None));
                }
                Err(e) if e.is_transient() => {
                    warn_limited("keystore unavailable (the job is left to be leased again)", &format_args!("{}: {e}", job.call_id));
                    return None;
                }
                Err(e) => return Some((ExecutionResult::rejected(e.to_string()), None)),
            },
            (Some(proof), None) if job::needs_secrets(proof) => {
                return Some((ExecutionResult::rejected("this worker has no keystore: jobs with secrets_ref are not run"), None));
            }
            _ => None,
        };
        Some(self.run(job, keys).await)
    }

    /// Runs the job over a fresh storage stage; the result and the stage (its writes).
    async fn run(&self, job: &Job, keys: Option<outlayer_protocol::secrets::ReleasedKeys>) -> (ExecutionResult, Option<job::Stage>) {
        let (request, stage) = match job::staged_request(job, &self.backends, keys.as_ref()) {
            Ok(r) => r,
            Err(e) => return (ExecutionResult::rejected(e.to_string()), None),
        };
        let prepared = match self.prepare(job).await {
            Ok(p) => p,
            Err(message) => return (ExecutionResult::rejected(message), None),
        };
        match self.runtime.execute(&prepared, request).await {
            Ok(report) => (job::result(report), stage),
            Err(e) => (ExecutionResult::rejected(e.to_string()), None),
        }
    }

    /// The prepared component: from the runtime's memory when this worker already ran it,
    /// else fetched (disk, then coordinator) and compiled off the async threads.
    async fn prepare(&self, job: &Job) -> Result<Arc<outlayer_host::Prepared>, String> {
        if let Some(p) = self.runtime.prepared(&job.wasm_sha256) {
            return Ok(p);
        }
        let wasm = self.wasm(job).await?;
        let runtime = self.runtime.clone();
        match tokio::task::spawn_blocking(move || runtime.prepare(&wasm)).await {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("compiling panicked: {e}")),
        }
    }

    async fn wasm(&self, job: &Job) -> Result<Vec<u8>, String> {
        let sha256 = job.wasm_sha256.as_str();
        if let Some(bytes) = self.store.get(sha256) {
            return Ok(bytes);
        }
        let bytes = self.source.wasm(job).await.map_err(|e| format!("fetching wasm {sha256}: {e}"))?;
        match self.store.put(sha256, &bytes) {
            Ok(true) => Ok(bytes),
            Ok(false) => Err(format!("the job source sent bytes that do not hash to {sha256}")),
            Err(e) => {
                tracing::warn!(error = %e, "could not keep wasm on disk");
                Ok(bytes)
            }
        }
    }
}

#[cfg(test)]
mod log_tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_thousand_identical_failures_log_a_bounded_number_of_lines_with_a_count() {
        let gate = LogGate::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let error = SourceError("coordinator unavailable: http error: connection refused".into());
        // 1,000 failures within 5 s, then one after the interval.
        let mut lines: Vec<String> = (0..1000u64)
            .filter_map(|i| limited_line(&gate, "lease failed (retrying)", &error, t0 + Duration::from_millis(i * 5)))
            .collect();
        lines.extend(limited_line(&gate, "lease failed (retrying)", &error, t0 + Duration::from_secs(11)));
        assert_eq!(
            lines,
            [
                "lease failed (retrying): coordinator unavailable: http error: connection refused".to_owned(),
                "lease failed (retrying): coordinator unavailable: http error: connection refused (999 more since the last line)"
                    .to_owned(),
            ]
        );
        // Another kind is not held back by the first.
        assert!(limited_line(&gate, "heartbeat failed", &error, t0 + Duration::from_secs(12)).is_some());
    }
}
