//! Prometheus metrics, rendered by hand in the text exposition format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the call latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 14] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0];

/// Counters of one coordinator process.
#[derive(Debug, Default)]
pub struct Metrics {
    accepted: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    rejected: AtomicU64,
    lease_expiries: AtomicU64,
    leases: AtomicU64,
    writes_committed: AtomicU64,
    write_conflicts: AtomicU64,
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
}

impl Metrics {
    /// A call was accepted (queued).
    pub fn call_accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }
    /// A call request was refused before queueing (4xx).
    pub fn call_rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }
    /// A call settled; `latency` = accept to settle.
    pub fn call_settled(&self, completed: bool, latency: Duration) {
        if completed { &self.completed } else { &self.failed }.fetch_add(1, Ordering::Relaxed);
        let secs = latency.as_secs_f64();
        for (bucket, bound) in self.buckets.iter().zip(LATENCY_BUCKETS) {
            if secs <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros.fetch_add(latency.as_micros() as u64, Ordering::Relaxed);
    }
    /// A job was leased; `expired` = it had been leased before and that lease expired.
    pub fn leased(&self, expired: bool) {
        self.leases.fetch_add(1, Ordering::Relaxed);
        if expired {
            self.lease_expiries.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A call's guest storage write set (of `writes` keys) was committed with its result.
    pub fn writes_committed(&self, writes: usize) {
        self.writes_committed.fetch_add(writes as u64, Ordering::Relaxed);
    }

    /// A write set conflicted with a change committed since its guest read the key (re-run).
    pub fn writes_conflicted(&self) {
        self.write_conflicts.fetch_add(1, Ordering::Relaxed);
    }

    /// Renders everything; queue depth comes from the database at scrape time.
    pub fn render(&self, queued: i64, leased: i64) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::new();
        let _ = writeln!(out, "# HELP outlayer_calls_total Calls by final status (accepted counts every queued call).");
        let _ = writeln!(out, "# TYPE outlayer_calls_total counter");
        for (status, v) in
            [("accepted", &self.accepted), ("completed", &self.completed), ("failed", &self.failed), ("rejected", &self.rejected)]
        {
            let _ = writeln!(out, "outlayer_calls_total{{status=\"{status}\"}} {}", g(v));
        }
        let _ = writeln!(out, "# HELP outlayer_queue_depth Jobs waiting or running.");
        let _ = writeln!(out, "# TYPE outlayer_queue_depth gauge");
        let _ = writeln!(out, "outlayer_queue_depth{{state=\"queued\"}} {queued}");
        let _ = writeln!(out, "outlayer_queue_depth{{state=\"leased\"}} {leased}");
        let _ = writeln!(out, "# HELP outlayer_leases_total Leases handed to workers.");
        let _ = writeln!(out, "# TYPE outlayer_leases_total counter");
        let _ = writeln!(out, "outlayer_leases_total {}", g(&self.leases));
        let _ = writeln!(out, "# HELP outlayer_lease_expiries_total Jobs re-leased after their previous lease expired.");
        let _ = writeln!(out, "# TYPE outlayer_lease_expiries_total counter");
        let _ = writeln!(out, "outlayer_lease_expiries_total {}", g(&self.lease_expiries));
        let _ = writeln!(out, "# HELP outlayer_storage_writes_committed_total Guest storage keys written with settled results.");
        let _ = writeln!(out, "# TYPE outlayer_storage_writes_committed_total counter");
        let _ = writeln!(out, "outlayer_storage_writes_committed_total {}", g(&self.writes_committed));
        let _ = writeln!(out, "# HELP outlayer_storage_write_conflicts_total Results refused because their writes conflicted (run again).");
        let _ = writeln!(out, "# TYPE outlayer_storage_write_conflicts_total counter");
        let _ = writeln!(out, "outlayer_storage_write_conflicts_total {}", g(&self.write_conflicts));
        let _ = writeln!(out, "# HELP outlayer_call_latency_seconds Accept-to-settle latency of calls.");
        let _ = writeln!(out, "# TYPE outlayer_call_latency_seconds histogram");
        for (bucket, bound) in self.buckets.iter().zip(LATENCY_BUCKETS) {
            let _ = writeln!(out, "outlayer_call_latency_seconds_bucket{{le=\"{bound}\"}} {}", g(bucket));
        }
        let count = g(&self.latency_count);
        let _ = writeln!(out, "outlayer_call_latency_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "outlayer_call_latency_seconds_sum {}", g(&self.latency_sum_micros) as f64 / 1e6);
        let _ = writeln!(out, "outlayer_call_latency_seconds_count {count}");
        out
    }
}
