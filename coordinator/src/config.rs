//! Typed configuration. The binary builds a [`CoordinatorConfig`] (from flags / env); this crate
//! never reads the environment itself.

use std::path::PathBuf;
use std::time::Duration;

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
    /// Bearer token that may top up any payment key (`None` = owners only).
    pub admin_token: Option<String>,
    /// Bearer token required by `POST /workers/register` (`None` = open registration, for the
    /// embedded mode and development only).
    pub worker_registration_token: Option<String>,
    /// NEAR network id passed to guests in the job context (`mainnet` / `testnet`).
    pub network: String,
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
            worker_registration_token: None,
            network: "testnet".to_owned(),
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
/// (in-process) or per fixed window (Redis `INCR` + `EXPIRE`).
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
