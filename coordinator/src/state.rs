//! Shared state: backend, notification hub, limiter, metrics; `build_state` connects and migrates.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::{CoordinatorConfig, DatabaseConfig};
use crate::db::{Backend, PostgresBackend, SqliteBackend};
use crate::error::CoordinatorError;
use crate::metrics::Metrics;
use crate::notify::Hub;
use crate::ratelimit::RateLimiter;
use crate::redis_link::RedisLink;

/// How often a synchronous call re-reads its row while waiting, as a safety net behind the
/// notification (which normally arrives first).
pub const CALL_RECHECK_INTERVAL: Duration = Duration::from_secs(5);
/// The same while Redis is configured but down: results settled by another replica are then only
/// seen by re-reading, so re-read often.
pub const DEGRADED_RECHECK_INTERVAL: Duration = Duration::from_millis(250);
/// How often a long-polling worker re-reads the queue (expired leases become available by time,
/// not by notification).
pub const JOB_RECHECK_INTERVAL: Duration = Duration::from_millis(500);
/// How often the reaper fails jobs whose last allowed lease expired.
pub const REAPER_INTERVAL: Duration = Duration::from_secs(1);

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Shared parts.
    pub inner: Arc<Inner>,
}

/// The parts of [`AppState`].
pub struct Inner {
    /// Storage.
    pub db: Arc<dyn Backend>,
    /// Configuration.
    pub config: CoordinatorConfig,
    /// Wake-ups.
    pub hub: Arc<Hub>,
    /// Per-key rate limit.
    pub limiter: RateLimiter,
    /// Metrics.
    pub metrics: Metrics,
    /// Per-IP / per-owner limits and the upload gate.
    pub admission: crate::admission::Admission,
    /// What the retention collector did (shown in `/metrics`).
    pub retention: crate::retention::RetentionStats,
    /// Hot-path memory of this process (see [`LocalCache`]).
    pub(crate) local: LocalCache,
}

/// Most leases remembered by [`LocalCache`] before expired ones are dropped (bounds memory when
/// calls are settled by another replica).
pub const MAX_REMEMBERED_LEASES: usize = 10_000;

/// What this process remembers to save database round trips on the hot path. Nothing here is
/// trusted beyond what the database re-checks: a remembered lease only replaces re-reading the
/// (immutable) job columns of its call while the lease is unexpired, and the settling statement
/// still requires the lease to be current.
#[derive(Debug, Default)]
pub(crate) struct LocalCache {
    /// Call id → the row as this process leased it (latest lease only).
    pub leases: Mutex<HashMap<String, crate::db::CallRow>>,
    /// Worker id → when this process last recorded its sign of life.
    pub touches: Mutex<HashMap<String, i64>>,
    /// Call id → a verified settlement whose write failed ([`crate::held`]).
    pub held: Mutex<HashMap<String, crate::db::Finish>>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl AppState {
    /// State over an already-connected backend (lets embedders and tests pick the backend).
    pub fn new(db: Arc<dyn Backend>, config: CoordinatorConfig) -> Result<Self, CoordinatorError> {
        config.validate().map_err(CoordinatorError::Config)?;
        let redis = match &config.redis_url {
            Some(url) => Some(Arc::new(RedisLink::new(url).map_err(|e| CoordinatorError::Config(format!("redis url: {e}")))?)),
            None => None,
        };
        let hub = Arc::new(Hub::new(redis.clone()));
        let admission = crate::admission::Admission::new(&config.admission, redis.clone());
        let limiter = RateLimiter::new(config.rate_limit, redis);
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                config,
                hub,
                limiter,
                metrics: Metrics::default(),
                admission,
                retention: crate::retention::RetentionStats::default(),
                local: LocalCache::default(),
            }),
        })
    }

    /// How long a waiter may sleep between re-reads of its call.
    pub(crate) fn recheck_interval(&self) -> Duration {
        match self.hub.redis() {
            Some(redis) if !redis.healthy() => DEGRADED_RECHECK_INTERVAL,
            _ => CALL_RECHECK_INTERVAL,
        }
    }
}

/// Connects the configured database, applies migrations and builds the state. Redis is
/// connected in the background by [`crate::run`] (the coordinator starts even if Redis is down).
pub async fn build_state(config: CoordinatorConfig) -> Result<AppState, CoordinatorError> {
    config.validate().map_err(CoordinatorError::Config)?;
    let db: Arc<dyn Backend> = match &config.database {
        DatabaseConfig::Sqlite { path } => Arc::new(SqliteBackend::connect(path).await?),
        DatabaseConfig::Postgres { url, schema } => Arc::new(PostgresBackend::connect(url, schema.as_deref()).await?),
    };
    AppState::new(db, config)
}

/// Milliseconds since the unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
