//! What an execution's outbound HTTP did, as the report shows it (`host_calls.http`), and the
//! shared meter the request tasks write it to. A leaf module.

use std::sync::{Arc, Mutex};

/// Refusals listed by name in the report, at most (the counters keep counting).
pub const MAX_LISTED_REFUSALS: usize = 16;

/// Outbound HTTP of one execution (one type with the wire model, which carries it to the call
/// view).
pub use outlayer_protocol::http::HttpStats;

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
