//! What an execution's outbound HTTP did, as the report shows it (`host_calls.http`), and the
//! shared meter the request tasks write it to. A leaf module.

use serde::Serialize;
use std::sync::{Arc, Mutex};

/// Refusals listed by name in the report, at most (the counters keep counting).
pub const MAX_LISTED_REFUSALS: usize = 16;

/// Outbound HTTP of one execution.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HttpStats {
    /// Requests that were sent on their way (allowed, within the budget).
    pub calls: u32,
    /// Requests refused with `HTTP-request-denied`: not granted, or a host outside the allowlist.
    pub denied: u32,
    /// Requests refused because the per-execution request budget was used up.
    pub over_budget: u32,
    /// Requests refused because the host resolved to a non-public address (SSRF protection).
    pub prohibited: u32,
    /// Requests that failed on the way: DNS, connect, TLS, protocol, timeouts.
    pub failed: u32,
    /// Of those, the connect or first-byte timeouts (and requests stopped by the deadline).
    pub timeouts: u32,
    /// Responses whose body was cut at a byte cap (per request or in total).
    pub truncated: u32,
    /// Request body bytes sent.
    pub request_bytes: u64,
    /// Response body bytes received (up to the caps).
    pub response_bytes: u64,
    /// The refused requests, by host and reason (`denied https://evil.test:443 (not on the
    /// allowlist)`), at most [`MAX_LISTED_REFUSALS`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
}

/// The stats of one execution, shared by its request tasks (they outlive the host call that
/// started them).
#[derive(Clone, Debug, Default)]
pub struct Meter(Arc<Mutex<HttpStats>>);

impl Meter {
    /// Update the stats.
    pub fn with<R>(&self, f: impl FnOnce(&mut HttpStats) -> R) -> R {
        f(&mut self.0.lock().expect("http stats lock"))
    }

    /// Note a refusal by name (up to [`MAX_LISTED_REFUSALS`]).
    pub fn note_refusal(&self, what: String) {
        self.with(|s| {
            if s.refused.len() < MAX_LISTED_REFUSALS {
                s.refused.push(what);
            }
        });
    }

    /// A copy of the stats.
    pub fn snapshot(&self) -> HttpStats {
        self.with(|s| s.clone())
    }
}
