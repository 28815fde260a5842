//! Retention: storage stays bounded under sustained load. A background task (started by
//! [`crate::spawn_background`]) runs [`AppState::collect`] every [`RetentionConfig::interval`]:
//!
//! * settled calls (`completed` / `failed`) are deleted [`RetentionConfig::calls`] after they
//!   settled (default 7 days) — with their input, output and receipt;
//! * the ledger is the money record and is kept, but each key's lines older than
//!   [`RetentionConfig::ledger_compaction`] (default 30 days; `None` = never) are replaced by one
//!   line per kind (`top_up`, `reserve`, `settle`, `release`) carrying their sum, with `call_id`
//!   null: every per-kind sum, hence `balance = Σ top_up`, `spent = Σ settle` and
//!   `reserved = Σ reserve − Σ settle − Σ release`, is unchanged;
//! * wasm blobs that no version and no unsettled call names are deleted (after an hour);
//! * workers not seen for [`RetentionConfig::workers`] (default 7 days) that no retained call
//!   names are deleted (a retained call's receipt keeps its worker's attestation reachable);
//! * the in-process worker liveness map drops entries too old to save a write.
//!
//! Rows deleted per kind, runs and the last run's time are in `/metrics`
//! (`outlayer_retention_*`).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::error::ApiError;
use crate::service::WORKER_TOUCH_INTERVAL_MS;
use crate::state::AppState;

/// Default time a settled call is kept.
pub const DEFAULT_CALL_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// Default age after which a key's ledger lines are compacted.
pub const DEFAULT_LEDGER_COMPACTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// Default time a worker that no call names is kept after it was last seen.
pub const DEFAULT_WORKER_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// Default interval between two collections.
pub const DEFAULT_RETENTION_INTERVAL: Duration = Duration::from_secs(600);
/// Age an unreferenced wasm blob must reach before it is deleted (an upload in progress writes
/// the blob and its version in one transaction; this keeps clear of it on every backend).
pub const WASM_GRACE: Duration = Duration::from_secs(3600);
/// Rows (or ledger keys) per statement: one statement never holds the SQLite writer for long.
pub const RETENTION_BATCH: i64 = 1_000;
/// Most statements per kind per collection (bounds one run; the next run continues).
pub const MAX_BATCHES_PER_RUN: usize = 100;

/// Retention settings (part of [`crate::CoordinatorConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionConfig {
    /// How long a settled call is kept.
    pub calls: Duration,
    /// Age after which ledger lines are compacted per key (`None` = never).
    pub ledger_compaction: Option<Duration>,
    /// How long a worker that no call names is kept after it was last seen.
    pub workers: Duration,
    /// Interval between collections (`Duration::ZERO` = no background collection).
    pub interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            calls: DEFAULT_CALL_RETENTION,
            ledger_compaction: Some(DEFAULT_LEDGER_COMPACTION),
            workers: DEFAULT_WORKER_RETENTION,
            interval: DEFAULT_RETENTION_INTERVAL,
        }
    }
}

/// What one collection removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Settled calls deleted.
    pub calls: u64,
    /// Ledger lines removed by compaction (net).
    pub ledger_lines: u64,
    /// Wasm blobs deleted.
    pub wasm_blobs: u64,
    /// Workers deleted.
    pub workers: u64,
    /// Liveness-map entries dropped.
    pub liveness_entries: u64,
}

/// Totals since start (rendered in `/metrics`).
#[derive(Debug, Default)]
pub struct RetentionStats {
    calls: AtomicU64,
    ledger_lines: AtomicU64,
    wasm_blobs: AtomicU64,
    workers: AtomicU64,
    liveness_entries: AtomicU64,
    runs: AtomicU64,
    failures: AtomicU64,
    last_run_ms: AtomicI64,
}

impl RetentionStats {
    fn add(&self, c: &Collected, at_ms: i64) {
        self.calls.fetch_add(c.calls, Ordering::Relaxed);
        self.ledger_lines.fetch_add(c.ledger_lines, Ordering::Relaxed);
        self.wasm_blobs.fetch_add(c.wasm_blobs, Ordering::Relaxed);
        self.workers.fetch_add(c.workers, Ordering::Relaxed);
        self.liveness_entries.fetch_add(c.liveness_entries, Ordering::Relaxed);
        self.runs.fetch_add(1, Ordering::Relaxed);
        self.last_run_ms.store(at_ms, Ordering::Relaxed);
    }

    /// The Prometheus lines of these totals.
    pub fn render(&self) -> String {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "# HELP outlayer_retention_deleted_total Rows removed by the retention collector, per kind.\n\
             # TYPE outlayer_retention_deleted_total counter\n\
             outlayer_retention_deleted_total{{kind=\"calls\"}} {}\n\
             outlayer_retention_deleted_total{{kind=\"ledger_lines\"}} {}\n\
             outlayer_retention_deleted_total{{kind=\"wasm_blobs\"}} {}\n\
             outlayer_retention_deleted_total{{kind=\"workers\"}} {}\n\
             outlayer_retention_deleted_total{{kind=\"liveness_entries\"}} {}\n\
             # HELP outlayer_retention_runs_total Retention collections (failed: ended by an error).\n\
             # TYPE outlayer_retention_runs_total counter\n\
             outlayer_retention_runs_total{{result=\"ok\"}} {}\n\
             outlayer_retention_runs_total{{result=\"failed\"}} {}\n\
             # HELP outlayer_retention_last_run_timestamp_seconds When the last collection ended.\n\
             # TYPE outlayer_retention_last_run_timestamp_seconds gauge\n\
             outlayer_retention_last_run_timestamp_seconds {}\n",
            get(&self.calls),
            get(&self.ledger_lines),
            get(&self.wasm_blobs),
            get(&self.workers),
            get(&self.liveness_entries),
            get(&self.runs),
            get(&self.failures),
            self.last_run_ms.load(Ordering::Relaxed) as f64 / 1000.0,
        )
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Repeats a batched delete until a batch comes back short (or the per-run bound).
async fn drain<F, Fut>(mut batch: F) -> Result<u64, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, crate::error::StoreError>>,
{
    let mut total = 0;
    for _ in 0..MAX_BATCHES_PER_RUN {
        let n = batch().await?;
        total += n;
        if n < RETENTION_BATCH as u64 {
            break;
        }
    }
    Ok(total)
}

impl AppState {
    /// One collection as of `now_ms` (unix ms; the background task passes the clock, tests a
    /// fixed time). Counts what it removed in [`RetentionStats`].
    pub async fn collect(&self, now_ms: i64) -> Result<Collected, ApiError> {
        let result = self.collect_inner(now_ms).await;
        match &result {
            Ok(c) => self.retention.add(c, now_ms),
            Err(_) => {
                self.retention.failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }

    async fn collect_inner(&self, now_ms: i64) -> Result<Collected, ApiError> {
        let config = self.config.retention;
        let db = &self.db;
        let calls_before = now_ms.saturating_sub(ms(config.calls));
        let calls = drain(|| db.delete_finished_calls(calls_before, RETENTION_BATCH)).await?;
        let ledger_lines = match config.ledger_compaction {
            Some(age) => {
                let before = now_ms.saturating_sub(ms(age));
                drain(|| db.compact_ledger(before, RETENTION_BATCH)).await?
            }
            None => 0,
        };
        let wasm_before = now_ms.saturating_sub(ms(WASM_GRACE));
        let wasm_blobs = drain(|| db.delete_unreferenced_wasm(wasm_before, RETENTION_BATCH)).await?;
        let workers_before = now_ms.saturating_sub(ms(config.workers));
        let workers = drain(|| db.delete_dead_workers(workers_before, RETENTION_BATCH)).await?;
        // Guest storage commit records only matter while their calls may still be settled.
        self.forget_commits(calls_before).await;
        let liveness_entries = {
            let mut touches = self.local.touches.lock().expect("touches lock");
            let before = touches.len();
            touches.retain(|_, at| now_ms - *at <= WORKER_TOUCH_INTERVAL_MS);
            (before - touches.len()) as u64
        };
        Ok(Collected { calls, ledger_lines, wasm_blobs, workers, liveness_entries })
    }

    /// Number of entries in the worker liveness map (tests and diagnostics).
    pub fn liveness_entries(&self) -> usize {
        self.local.touches.lock().expect("touches lock").len()
    }
}
