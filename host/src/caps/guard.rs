//! What every capability shares: the per-execution call budget and deadline ([`CallGuard`]),
//! its statistics ([`CallStats`]), and the refusal a guest sees when a call may not go ahead.
//!
//! A leaf module: the capability modules import it, it imports none of them.

use outlayer_protocol::capability::Capability;
use serde::Serialize;
use std::time::Instant;

/// Host calls of one capability in one execution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CallStats {
    /// Calls that reached the backend (or were answered from state).
    pub calls: u32,
    /// Calls refused because the capability was not granted.
    pub denied: u32,
    /// Calls refused because the per-execution budget was used up.
    pub over_budget: u32,
}

/// Per-execution bookkeeping shared by every capability: a call budget and the deadline that
/// bounds each host call (epoch interruption cannot stop a guest blocked in the host).
#[derive(Debug)]
pub struct CallGuard {
    pub stats: CallStats,
    max_calls: u32,
    deadline: Instant,
}

/// Why a guarded call did not go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Denied,
    OverBudget,
}

impl CallGuard {
    /// A guard allowing `max_calls` calls until `deadline`.
    pub fn new(max_calls: u32, deadline: Instant) -> Self {
        Self { stats: CallStats::default(), max_calls, deadline }
    }

    /// Count a call; refuse it when not granted or over budget.
    pub fn admit(&mut self, granted: bool) -> Result<(), Refusal> {
        if !granted {
            self.stats.denied += 1;
            return Err(Refusal::Denied);
        }
        if self.stats.calls >= self.max_calls {
            self.stats.over_budget += 1;
            return Err(Refusal::OverBudget);
        }
        self.stats.calls += 1;
        Ok(())
    }

    /// Run a backend future, giving up at the execution's deadline.
    pub async fn bounded<F: std::future::Future>(&self, fut: F) -> Option<F::Output> {
        tokio::time::timeout_at(self.deadline.into(), fut).await.ok()
    }
}

/// The v0.1 error string for a refused call.
pub(crate) fn v01_refusal(cap: Capability, r: Refusal) -> String {
    match r {
        Refusal::Denied => format!("denied: {cap} not granted to this execution"),
        Refusal::OverBudget => format!("limit exceeded: too many {cap} calls in this execution"),
    }
}
