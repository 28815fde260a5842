//! The on-chain path: the OutLayer contract's pending requests, read through NEAR RPC, as a
//! [`crate::JobSource`] ([`NearSource`]). The one worker loop ([`crate::run_with_source`]) leases
//! them, runs them on the host (its slots, its prepare cache, its job → request and report →
//! result translation, [`crate::job`]) and completes them; completing one resolves it with
//! `resolve_execution` signed by the worker's registered key.
//!
//! One poll ([`NearSource::poll_once`]; with [`NearSource::polling`], whenever the loop's slots
//! find nothing ready and the poll interval has passed):
//! 1. read the latest final block;
//! 2. confirm or re-send the resolutions left in flight ([`resolve`]);
//! 3. list the pending requests at that block (`list_pending_requests`, [`chain`]) and queue
//!    those not resolved, queued, leased, in flight or done;
//! 4. save the cursor ([`cursor`]) atomically.
//!
//! Leasing a queued request reads it with `get_request` (still waiting? its input, kept in
//! contract state), fetches its wasm ([`fetch`]) and checks its limits;
//! it becomes a [`outlayer_protocol::Job`] ([`execute::job`]), or, if it cannot be run, is
//! resolved as a failure at once. Completing a job maps the result to the contract's response
//! ([`execute::response`]), then signs, persists and sends the resolution.
//!
//! See `docs/near-worker.md` for the end-to-end flow and the exactly-once argument.
//!
//! ```no_run
//! # async fn demo(runtime: outlayer_host::Runtime) -> Result<(), outlayer_worker::near::NearWorkerError> {
//! use outlayer_worker::Backends;
//! use outlayer_worker::near::{NearWorkerConfig, run_near_worker};
//! let key: outlayer_near::tx::SecretKey = "ed25519:...".parse().unwrap();
//! let config = NearWorkerConfig::new("https://rpc.testnet.near.org", "outlayer.testnet", "outlayer.testnet", key,
//!     "/var/lib/outlayer/near-cursor.json", "/var/lib/outlayer/wasm");
//! let backends = Backends::new(ed25519_dalek::SigningKey::from_bytes(&[1; 32]));
//! run_near_worker(config, runtime, backends, std::future::pending()).await
//! # }
//! ```

pub mod build;
pub mod chain;
pub mod cursor;
pub mod execute;
pub mod fetch;
pub mod resolve;
pub mod source;
pub mod tx_receipt;
pub mod types;
mod worker;

pub use source::{NearSource, PollReport};
pub use worker::{NearWorker, run_near_worker};

use outlayer_near::tx::SecretKey;
use std::path::PathBuf;
use std::time::Duration;

/// Time between polls when the previous one found nothing to do or failed.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Requests asked for per `list_pending_requests` call (the contract's maximum).
pub const PENDING_PAGE_SIZE: u32 = 100;
/// Gas attached to `resolve_execution` (100 TGas: the call stores up to 32 KiB of output).
pub const RESOLVE_GAS: u64 = 100_000_000_000_000;
/// Prefix of NEP-297 event log lines.
pub const EVENT_LOG_PREFIX: &str = "EVENT_JSON:";
/// The contract method requests are made with.
pub const REQUEST_METHOD: &str = "request_execution";
/// The contract method workers resolve with.
pub const RESOLVE_METHOD: &str = "resolve_execution";

/// Which capabilities the guest of a request without a project (a bare `WasmUrl` or `GitHub`
/// source) gets from this worker; a project's requests get the project's own grants
/// (`set_project_grants` on the contract) instead. Payment (refunds of the developer payment) is
/// always granted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NearGrants {
    /// Durable storage (needs a storage backend in [`crate::Backends::caps`]).
    pub storage: bool,
    /// NEAR RPC (needs an rpc endpoint in [`crate::Backends::caps`]).
    pub rpc: bool,
    /// Verifiable randomness signed with the worker key.
    pub vrf: bool,
}

/// Where and how the on-chain worker works.
#[derive(Clone)]
pub struct NearWorkerConfig {
    /// NEAR RPC node URL.
    pub rpc_url: String,
    /// The OutLayer contract account.
    pub contract_id: String,
    /// The account holding the worker's function-call key (the contract's own account, or its
    /// configured `worker_account`).
    pub signer_account_id: String,
    /// The worker's registered key.
    pub signer_key: SecretKey,
    /// The cursor file (JSON, written atomically).
    pub cursor_file: PathBuf,
    /// Directory of downloaded wasm, by sha256.
    pub wasm_dir: PathBuf,
    /// Pause between polls.
    pub poll_interval: Duration,
    /// Network name given to guests (`NEAR_NETWORK_ID`).
    pub network: String,
    /// Capabilities granted to guests of requests without a project (a project's requests get
    /// the project's grants from the contract).
    pub grants: NearGrants,
    /// IPFS gateway for `ipfs://` sources, e.g. `https://ipfs.io`.
    pub ipfs_gateway: Option<String>,
    /// Gas attached to `resolve_execution`.
    pub resolve_gas: u64,
    /// Requests run at once by the worker loop (resolutions are still sent one at a time: one
    /// key, one nonce sequence).
    pub concurrency: usize,
    /// Whether the worker has a keystore (set from its [`crate::Backends`] when the worker
    /// starts): without one, requests with `secrets_ref` are resolved as failures.
    pub keystore: bool,
    /// Where `GitHub` sources are built ([`build`]); `None`: such requests fail.
    pub builder: Option<build::BuilderLink>,
}

impl std::fmt::Debug for NearWorkerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NearWorkerConfig")
            .field("contract_id", &self.contract_id)
            .field("signer_account_id", &self.signer_account_id)
            .field("signer_public_key", &self.signer_key.public_key())
            .field("cursor_file", &self.cursor_file)
            .finish_non_exhaustive()
    }
}

impl NearWorkerConfig {
    /// Defaults ([`DEFAULT_POLL_INTERVAL`], network `testnet`, no grants, no IPFS gateway,
    /// [`RESOLVE_GAS`], [`crate::DEFAULT_CONCURRENCY`]) for the given node, contract, signer and files.
    pub fn new(
        rpc_url: impl Into<String>,
        contract_id: impl Into<String>,
        signer_account_id: impl Into<String>,
        signer_key: SecretKey,
        cursor_file: impl Into<PathBuf>,
        wasm_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            contract_id: contract_id.into(),
            signer_account_id: signer_account_id.into(),
            signer_key,
            cursor_file: cursor_file.into(),
            wasm_dir: wasm_dir.into(),
            poll_interval: DEFAULT_POLL_INTERVAL,
            network: "testnet".into(),
            grants: NearGrants::default(),
            ipfs_gateway: None,
            resolve_gas: RESOLVE_GAS,
            concurrency: crate::DEFAULT_CONCURRENCY,
            keystore: false,
            builder: None,
        }
    }
}

/// Why the on-chain worker stopped (or a poll failed).
#[derive(Debug, thiserror::Error)]
pub enum NearWorkerError {
    /// The cursor file could not be read or written.
    #[error(transparent)]
    Cursor(#[from] cursor::CursorError),
    /// The wasm directory could not be created.
    #[error("wasm directory: {0}")]
    WasmDir(std::io::Error),
    /// The node failed or answered something unexpected.
    #[error("NEAR RPC: {0}")]
    Rpc(#[from] outlayer_near::RpcError),
    /// The worker loop could not start.
    #[error(transparent)]
    Worker(#[from] crate::WorkerError),
}
