//! Results that are known but could not be recorded: a worker's verified result whose settling
//! write failed (disk full, database gone) is held in memory and settled later — by the reaper's
//! retry, or when the call's lease expires and this process leases it again (the held result is
//! then settled under the new lease instead of handing the job out). So a result that reached
//! this coordinator is never executed a second time because writing it failed.
//!
//! Limits: held results live in this process's memory (a coordinator killed while holding some
//! loses them: those calls run again after their leases expire), at most [`MAX_HELD`] at once;
//! on PostgreSQL another replica that re-leases the call does not know the held result.

use axum::http::StatusCode;

use crate::db::{CallRow, Finish};
use crate::error::ApiError;
use crate::state::{AppState, now_ms};

/// Most results held at once (beyond: the write error is returned as before and the call runs
/// again after its lease expires).
pub const MAX_HELD: usize = 10_000;

impl AppState {
    /// Holds `finish` (its write failed with `cause`) and answers the worker 503
    /// `settle_pending`: its result is kept and will be settled; it need not run the job again.
    pub(crate) fn hold(&self, finish: &Finish, cause: impl std::fmt::Display) -> ApiError {
        let mut held = self.local.held.lock().expect("held lock");
        if held.len() >= MAX_HELD && !held.contains_key(&finish.call_id) {
            return ApiError::internal(cause);
        }
        held.insert(finish.call_id.clone(), finish.clone());
        drop(held);
        let kind = crate::logflood::kind_of(&cause.to_string()).to_owned();
        if let Some(suppressed) = crate::logflood::INTERNAL.admit(&format!("hold {kind}")) {
            tracing::error!(error = %cause, call_id = %finish.call_id, suppressed, "settling failed; result held for a retry");
        }
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "settle_pending",
            "the result was received and verified but could not be recorded yet; it is kept and will be settled (do not run the job again)",
        );
        e.retry_after_secs = Some(1);
        e
    }

    /// Number of results held.
    pub fn held_results(&self) -> usize {
        self.local.held.lock().expect("held lock").len()
    }

    /// Retries every held result (the reaper calls this each tick). Returns how many settled.
    pub async fn retry_held(&self) -> usize {
        let held: Vec<Finish> = self.local.held.lock().expect("held lock").values().cloned().collect();
        let mut settled = 0;
        for finish in held {
            match self.db.finish(&finish).await {
                Ok(Some(row)) => {
                    self.local.held.lock().expect("held lock").remove(&finish.call_id);
                    self.settled(&finish, Some(row)).await;
                    settled += 1;
                }
                // Its lease is no longer current: settled, or leased by another replica.
                Ok(None) => {
                    self.local.held.lock().expect("held lock").remove(&finish.call_id);
                }
                Err(_) => {}
            }
        }
        settled
    }

    /// If `call` (leased by this process under `call.lease_id`) has a held result, settles that
    /// result under this lease and returns `true`: the job must not be handed out.
    pub(crate) async fn settle_held_on_lease(&self, call: &CallRow) -> bool {
        let Some(mut finish) = self.local.held.lock().expect("held lock").get(&call.id).cloned() else { return false };
        finish.lease_id = call.lease_id.clone().unwrap_or_default();
        finish.now_ms = now_ms();
        // Still failing: the call stays leased here (its lease expires again, and the reaper keeps
        // retrying the held result).
        if let Ok(row) = self.db.finish(&finish).await {
            self.local.held.lock().expect("held lock").remove(&call.id);
            self.settled(&finish, row).await;
        }
        true
    }
}
