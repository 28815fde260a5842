//! Typed configuration. The binary builds a [`CoordinatorConfig`] (from flags / env); this crate
//! never reads the environment itself.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use outlayer_attest::{Allowlist, DEFAULT_ACCEPTED_TCB_STATUSES, Policy, TcbStatus};

/// Default lease duration: a worker that neither completes nor heartbeats within this time loses
/// the job, which is then handed to the next worker that asks.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(30);
/// Default number of times a job may be leased before it is failed with `worker_lost`; defends
/// against a job that crashes every worker it lands on.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Default time a synchronous `POST /call` waits for the result before answering 202 with the
/// call id (the call keeps running; poll `GET /calls/{id}`). Covers the 180 s wall-time cap.
pub const DEFAULT_SYNC_CALL_TIMEOUT: Duration = Duration::from_secs(200);
/// Default longest time `POST /workers/lease` holds the request open when no job is queued.
pub const DEFAULT_LEASE_LONG_POLL: Duration = Duration::from_secs(20);
/// Default time a lease may outlive its job's wall-time limit (download, compile, report). A
/// lease never lasts longer than `max_execution_seconds` + this, whatever the heartbeats say:
/// defends against a worker that holds a job (and the caller's reservation) forever.
pub const DEFAULT_LEASE_GRACE: Duration = Duration::from_secs(30);
/// Default lifetime of a registration challenge: long enough to produce a quote, short enough
/// that a captured challenge is useless soon.
pub const DEFAULT_CHALLENGE_TTL: Duration = Duration::from_secs(300);
/// Most unexpired, unused challenges remembered at once (defends the challenge table against a
/// client that asks for challenges and never registers).
pub const MAX_PENDING_CHALLENGES: i64 = 10_000;

/// Everything the coordinator needs, passed in by the binary.
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    /// Where projects, keys, the ledger and the job queue live.
    pub database: DatabaseConfig,
    /// Redis URL (`redis://127.0.0.1:6379`) for cross-process wake-ups and rate limits. `None` =
    /// in-process only (the embedded single-process mode). If Redis is unreachable the coordinator
    /// keeps working in a degraded mode (in-process notification plus a short DB re-check).
    pub redis_url: Option<String>,
    /// Prices and the developer share.
    pub pricing: PricingConfig,
    /// Per-payment-key rate limit.
    pub rate_limit: RateLimitConfig,
    /// How long a lease lasts without a heartbeat.
    pub lease_duration: Duration,
    /// How many leases a job gets before it fails with `worker_lost`.
    pub max_attempts: u32,
    /// How long a synchronous call waits for its result.
    pub sync_call_timeout: Duration,
    /// Longest long-poll of `POST /workers/lease`.
    pub lease_long_poll: Duration,
    /// Bearer token of the operator: admin grants (`POST /admin/grants`), settling owners'
    /// withdrawals, and top-ups of any payment key (`None` = no admin routes).
    pub admin_token: Option<String>,
    /// The deposit watcher ([`crate::deposits`]): credits payment keys from the contract's
    /// `payment_key_topped_up` events. `None`: no deposits are credited.
    pub deposits: Option<crate::deposits::DepositsConfig>,
    /// Bearer token required by `POST /workers/challenge` and `POST /workers/register`, an
    /// operator control on top of attestation (`None` = attestation alone decides). An empty
    /// token is a configuration error.
    pub worker_registration_token: Option<String>,
    /// What worker evidence is accepted (measurements, TCB statuses, dev mode).
    pub attestation: AttestationConfig,
    /// How long a lease may outlive its job's wall-time limit ([`DEFAULT_LEASE_GRACE`]).
    pub lease_grace: Duration,
    /// NEAR network id passed to guests in the job context (`mainnet` / `testnet`).
    pub network: String,
    /// Bearer token of builders (`POST /builder/lease`, `/builder/complete`); `None` = no remote
    /// builder may connect (an in-process builder needs none). Empty is a configuration error.
    pub builder_token: Option<String>,
    /// Quotas, per-IP / per-owner rate limits, upload concurrency ([`crate::admission`]).
    pub admission: crate::admission::AdmissionConfig,
    /// How long finished calls are kept, and the collector's schedule ([`crate::retention`]).
    pub retention: crate::retention::RetentionConfig,
    /// Signs the tickets that let a worker get a job's keys from the keystore (the keystore
    /// trusts its public half). `None`: jobs carry no ticket (no secrets, no project storage
    /// keys).
    pub ticket_key: Option<std::sync::Arc<ed25519_dalek::SigningKey>>,
    /// The keystore developers seal secrets for (shown by the secrets endpoints).
    pub keystore_url: Option<String>,
    /// Sign-in with NEAR accounts, and whether unverified dev owners are allowed
    /// ([`crate::signin`]).
    pub signin: crate::signin::SigninConfig,
    /// The OutLayer contract this coordinator reads through NEAR RPC (`--near-rpc`,
    /// `--near-contract`): its projects are synced into this coordinator ([`crate::registry`]).
    /// `None`: no chain; projects exist only as created over HTTPS (`origin = dev`).
    pub near: Option<NearChainConfig>,
    /// The guest store (the database workers read guest storage from): with it, a call's storage
    /// writes travel in its completion and are applied only with its settled result
    /// ([`crate::writes`]). `None`: workers commit their writes themselves.
    pub guest_storage: Option<crate::writes::GuestStorage>,
    /// Directory where verified results whose settling write failed are spooled until they
    /// settle (one 0600 file per call, [`crate::held`]); `None`: held in memory only (lost if
    /// the process dies). `outlayer coordinator` / `serve`: `DATA_DIR/held`.
    pub held_spool: Option<PathBuf>,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        Self {
            database: DatabaseConfig::Sqlite { path: PathBuf::from("outlayer-coordinator.db") },
            redis_url: None,
            pricing: PricingConfig::default(),
            rate_limit: RateLimitConfig::default(),
            lease_duration: DEFAULT_LEASE_DURATION,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            sync_call_timeout: DEFAULT_SYNC_CALL_TIMEOUT,
            lease_long_poll: DEFAULT_LEASE_LONG_POLL,
            admin_token: None,
            deposits: None,
            worker_registration_token: None,
            attestation: AttestationConfig::default(),
            lease_grace: DEFAULT_LEASE_GRACE,
            network: "testnet".to_owned(),
            builder_token: None,
            admission: crate::admission::AdmissionConfig::default(),
            retention: crate::retention::RetentionConfig::default(),
            ticket_key: None,
            keystore_url: None,
            signin: crate::signin::SigninConfig::default(),
            near: None,
            guest_storage: None,
            held_spool: None,
        }
    }
}

impl CoordinatorConfig {
    /// Refuses configurations that look safe but are not: an empty registration token (which
    /// would read as "a token is required" while matching an empty bearer).
    pub fn validate(&self) -> Result<(), String> {
        if self.worker_registration_token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err("the worker registration token is empty: give a secret, or leave it unset".into());
        }
        if self.builder_token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err("the builder token is empty: give a secret, or leave it unset".into());
        }
        if self.attestation.challenge_ttl.is_zero() {
            return Err("the challenge lifetime must be positive".into());
        }
        Ok(())
    }
}

/// Default time between two reads of the contract's project registry.
pub const DEFAULT_REGISTRY_INTERVAL: Duration = Duration::from_secs(10);

/// The OutLayer contract a coordinator reads, and through which NEAR RPC node.
#[derive(Debug, Clone)]
pub struct NearChainConfig {
    /// NEAR JSON-RPC endpoint (read at `final` finality).
    pub rpc_url: String,
    /// The OutLayer contract account.
    pub contract: String,
    /// Time between two syncs of the project registry ([`DEFAULT_REGISTRY_INTERVAL`]).
    pub registry_interval: Duration,
    /// **Tests only**: loopback `ip:port`s a chain version's `source_url` may name (over plain
    /// http); every other URL must be `https://` to a non-loopback host. Empty in production.
    pub wasm_fetch_admit_loopback_for_tests: Vec<std::net::SocketAddr>,
}

impl NearChainConfig {
    /// Reads `contract` through `rpc_url` with the default interval and no test exception.
    pub fn new(rpc_url: impl Into<String>, contract: impl Into<String>) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            contract: contract.into(),
            registry_interval: DEFAULT_REGISTRY_INTERVAL,
            wasm_fetch_admit_loopback_for_tests: Vec::new(),
        }
    }
}

/// The attestation policy for worker registration.
#[derive(Debug, Clone)]
pub struct AttestationConfig {
    /// The MRTD/RTMR0–3 sets a worker's quote must carry (the operator's published allowlist
    /// file, [`Allowlist::from_json`]). Empty = no TDX worker is accepted.
    pub allowed_measurements: Allowlist,
    /// TCB statuses accepted (default only `UpToDate`).
    pub accepted_tcb_statuses: Vec<TcbStatus>,
    /// Accept dev evidence (**not a TEE**, claiming
    /// [`outlayer_protocol::DEV_MEASUREMENTS`]). Off by default; `outlayer serve` turns it on and
    /// says so.
    pub allow_dev: bool,
    /// Lifetime of a challenge ([`DEFAULT_CHALLENGE_TTL`]).
    pub challenge_ttl: Duration,
    /// The clock challenges are issued and evidence verified by.
    pub clock: Clock,
}

impl Default for AttestationConfig {
    fn default() -> Self {
        Self {
            allowed_measurements: Allowlist::default(),
            accepted_tcb_statuses: DEFAULT_ACCEPTED_TCB_STATUSES.to_vec(),
            allow_dev: false,
            challenge_ttl: DEFAULT_CHALLENGE_TTL,
            clock: Clock::System,
        }
    }
}

impl AttestationConfig {
    /// The verification policy: the allowlist (plus the dev measurements when dev evidence is
    /// allowed), the accepted TCB statuses, `allow_dev`.
    pub fn policy(&self) -> Policy {
        let mut allowed = self.allowed_measurements.clone();
        if self.allow_dev && !allowed.contains(&outlayer_protocol::DEV_MEASUREMENTS) {
            allowed.0.push(outlayer_protocol::DEV_MEASUREMENTS);
        }
        Policy { allowed_measurements: allowed, accepted_tcb_statuses: self.accepted_tcb_statuses.clone(), allow_dev: self.allow_dev }
    }
}

/// The time attestation is checked at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// **Tests only**: a fixed unix time (seconds), e.g. when a sample quote's collateral was
    /// valid. Challenges issued under it never expire by time.
    Fixed(u64),
}

impl Clock {
    /// Unix seconds now, by this clock.
    pub fn now_secs(self) -> u64 {
        match self {
            Clock::System => SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            Clock::Fixed(secs) => secs,
        }
    }
}

/// Which database backend to use.
#[derive(Debug, Clone)]
pub enum DatabaseConfig {
    /// A SQLite file (created if missing). The embedded default.
    Sqlite {
        /// Path of the database file.
        path: PathBuf,
    },
    /// A PostgreSQL server.
    Postgres {
        /// Connection URL, e.g. `postgres://postgres@127.0.0.1:5432/test`.
        url: String,
        /// Schema to create (if missing) and use through `search_path`; `None` = the server's
        /// default. Tests use a random schema per run.
        schema: Option<String>,
    },
}

/// Prices, all in micro-USD (1 USD = 1 000 000).
#[derive(Debug, Clone, Copy)]
pub struct PricingConfig {
    /// Charged for every executed call.
    pub base_fee: u64,
    /// Price of one million wasm instructions (rounded up).
    pub per_million_instructions: u64,
    /// Price of one second of wall time (charged per millisecond, rounded up).
    pub per_second: u64,
    /// Share of `cost - base_fee` credited to the project owner, in basis points (10 000 = all).
    pub developer_share_bps: u32,
}

impl Default for PricingConfig {
    fn default() -> Self {
        Self { base_fee: 1_000, per_million_instructions: 1, per_second: 100, developer_share_bps: 10_000 }
    }
}

/// Per-payment-key token bucket: at most `max_calls` per `window`, refilled continuously
/// (in-process) or per fixed window (Redis `INCRBY` + `EXPIRE`, taken by each replica in chunks
/// of 1/64 of `max_calls`: see [`crate::ratelimit`]).
#[derive(Debug, Clone, Copy)]
pub struct RateLimitConfig {
    /// Calls allowed per window (also the burst size).
    pub max_calls: u32,
    /// Window length.
    pub window: Duration,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self { max_calls: 100, window: Duration::from_secs(1) }
    }
}
