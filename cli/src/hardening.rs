//! The coordinator's admission control and retention flags (issue 13), flattened into
//! `CoordinatorOpts`: quotas, per-IP / per-owner rate limits, trusting `X-Forwarded-For`, and how
//! long finished calls and detailed ledger lines are kept.

use std::time::Duration;

use outlayer_coordinator::admission::{DEFAULT_IP_RATE_LIMIT, DEFAULT_OWNER_RATE_LIMIT, Quotas};
use outlayer_coordinator::retention::DEFAULT_RETENTION_INTERVAL;
use outlayer_coordinator::{CoordinatorConfig, RateLimitConfig};

const DAY_SECS: u64 = 24 * 3600;

/// Admission control and retention.
#[derive(clap::Args, Clone, Debug)]
pub struct HardeningOpts {
    /// Most projects an owner may create.
    #[arg(long, env = "OUTLAYER_MAX_PROJECTS_PER_OWNER", default_value_t = Quotas::default().max_projects_per_owner)]
    max_projects_per_owner: u64,
    /// Most versions a project may have.
    #[arg(long, env = "OUTLAYER_MAX_VERSIONS_PER_PROJECT", default_value_t = Quotas::default().max_versions_per_project)]
    max_versions_per_project: u64,
    /// Most bytes of wasm over all versions of an owner's projects.
    #[arg(long, env = "OUTLAYER_MAX_WASM_BYTES_PER_OWNER", default_value_t = Quotas::default().max_wasm_bytes_per_owner)]
    max_wasm_bytes_per_owner: u64,
    /// Requests per second per client IP on every route but calls, the worker protocol, health
    /// and metrics (0 = no per-IP limit).
    #[arg(long, env = "OUTLAYER_IP_RATE_LIMIT", default_value_t = DEFAULT_IP_RATE_LIMIT.max_calls)]
    ip_rate_limit: u32,
    /// Owner-authenticated requests per second per owner (0 = no per-owner limit).
    #[arg(long, env = "OUTLAYER_OWNER_RATE_LIMIT", default_value_t = DEFAULT_OWNER_RATE_LIMIT.max_calls)]
    owner_rate_limit: u32,
    /// Take the client IP from the last X-Forwarded-For address. Only behind a proxy you run that
    /// sets it (otherwise clients choose their IP).
    #[arg(long, env = "OUTLAYER_TRUST_FORWARDED_FOR")]
    trust_forwarded_for: bool,
    /// Seconds a client may take to send a request head (request line and headers); past it the
    /// connection is closed. A connection that sends nothing is closed after it too.
    #[arg(long, env = "OUTLAYER_REQUEST_HEAD_TIMEOUT_SECS", default_value_t = outlayer_coordinator::wire::REQUEST_HEAD_TIMEOUT.as_secs())]
    request_head_timeout_secs: u64,
    /// Days a settled call (input, output, receipt) is kept.
    #[arg(long, env = "OUTLAYER_CALL_RETENTION_DAYS", default_value_t = 7)]
    call_retention_days: u64,
    /// Seconds a settled call is kept, instead of --call-retention-days (load and soak tests).
    #[arg(long, env = "OUTLAYER_CALL_RETENTION_SECS", hide = true)]
    call_retention_secs: Option<u64>,
    /// Seconds between two retention collections.
    #[arg(long, env = "OUTLAYER_RETENTION_INTERVAL_SECS", default_value_t = DEFAULT_RETENTION_INTERVAL.as_secs())]
    retention_interval_secs: u64,
    /// Days after which a payment key's ledger lines are compacted to one line per kind
    /// (sums kept; 0 = never).
    #[arg(long, env = "OUTLAYER_LEDGER_COMPACTION_DAYS", default_value_t = 30)]
    ledger_compaction_days: u64,
    /// Seconds after which ledger lines are compacted, instead of --ledger-compaction-days (load
    /// and soak tests).
    #[arg(long, env = "OUTLAYER_LEDGER_COMPACTION_SECS", hide = true)]
    ledger_compaction_secs: Option<u64>,
}

impl HardeningOpts {
    /// Puts these settings into `config`.
    pub fn apply(&self, config: &mut CoordinatorConfig) {
        let per_second = |n: u32| (n > 0).then_some(RateLimitConfig { max_calls: n, window: Duration::from_secs(1) });
        let admission = &mut config.admission;
        admission.quotas = Quotas {
            max_projects_per_owner: self.max_projects_per_owner,
            max_versions_per_project: self.max_versions_per_project,
            max_wasm_bytes_per_owner: self.max_wasm_bytes_per_owner,
        };
        admission.ip_rate_limit = per_second(self.ip_rate_limit);
        admission.owner_rate_limit = per_second(self.owner_rate_limit);
        admission.trust_forwarded_for = self.trust_forwarded_for;
        admission.request_head_timeout = Duration::from_secs(self.request_head_timeout_secs.max(1));
        config.retention.calls =
            Duration::from_secs(self.call_retention_secs.map_or(self.call_retention_days.max(1) * DAY_SECS, |s| s.max(1)));
        config.retention.interval = Duration::from_secs(self.retention_interval_secs.max(1));
        config.retention.ledger_compaction = match self.ledger_compaction_secs {
            Some(secs) => Some(Duration::from_secs(secs.max(1))),
            None => (self.ledger_compaction_days > 0).then(|| Duration::from_secs(self.ledger_compaction_days * DAY_SECS)),
        };
    }
}
