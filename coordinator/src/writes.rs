//! Guest storage writes that take effect only with their call's settled result.
//!
//! A worker runs the guest over a stage and reports the writes in its signed completion
//! ([`outlayer_protocol::Completion::writes`]); jobs say so with `settles_writes` when this
//! coordinator has the guest store ([`GuestStorage`], the database the workers read). On
//! accepting a result, the coordinator:
//! 1. verifies the receipt and the write set's signature (the same worker key);
//! 2. commits the write set to the guest store under the call's commit id, in one storage
//!    transaction together with a record of the verified settlement ([`StorageBackend::commit`]);
//! 3. settles the call in its own database.
//!
//! The guest store may be another database than the ledger (SQLite `serve` keeps it in
//! `storage.db`), so the two commits are ordered rather than shared, and step 2's record makes
//! step 3 exactly-once across crashes: whoever settles the call later — a retried completion, a
//! re-run of the job, the lease of a call whose result was committed, the reaper — finds the
//! record and settles *that* result; the second execution's writes are never applied and a
//! call with a committed result is not handed to a worker again. A write set that conflicts with
//! a change committed since the guest read the key answers 409 [`STORAGE_CONFLICT`]: nothing is
//! recorded and the worker runs the job again on the new state (optimistic concurrency). An
//! execution whose result never arrives commits nothing: its writes vanish with its lease.
//!
//! Each write carries the quota its worker staged it under; the coordinator applies it no looser
//! than its own default scope quota ([`applied_quota`]), so a write set cannot grant itself room.
//!
//! Commit records are kept for the retention period of calls, then forgotten by the retention
//! task.

use std::sync::Arc;

use axum::http::StatusCode;
use outlayer_protocol::source::STORAGE_CONFLICT;
use outlayer_protocol::{CallStatus, Completion, SettledResult};
use outlayer_storage::{CIPHERTEXT_OVERHEAD, Committed, DEFAULT_SCOPE_QUOTA_BYTES, Quota, StorageBackend, WriteSet};
use serde::{Deserialize, Serialize};

use crate::db::{CallRow, Finish};
use crate::error::ApiError;
use crate::state::{AppState, now_ms};

/// The guest store the coordinator applies write sets to: the database its workers read guest
/// storage from (`--storage-database`; by default `serve`'s `DATA_DIR/storage.db`, or the
/// coordinator's PostgreSQL database).
#[derive(Clone)]
pub struct GuestStorage(pub Arc<dyn StorageBackend>);

impl std::fmt::Debug for GuestStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GuestStorage")
    }
}

/// The settlement recorded with a call's committed writes.
#[derive(Serialize, Deserialize)]
struct Recorded {
    status: CallStatus,
    result: SettledResult,
    charged: i64,
    earnings: i64,
}

/// The commit id of a call (the same the worker uses: [`outlayer_protocol::Job::commit_id`]).
pub(crate) fn commit_id(call_id: &str) -> String {
    format!("call:{call_id}")
}

fn storage_unavailable(e: impl std::fmt::Display) -> ApiError {
    if let Some(suppressed) = crate::logflood::INTERNAL.admit("guest storage commit") {
        tracing::error!(error = %e, suppressed, "guest storage commit failed");
    }
    let mut e = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage_unavailable",
        "the guest storage could not be written; nothing was recorded: report the same result again",
    );
    e.retry_after_secs = Some(1);
    e
}

impl AppState {
    /// Whether jobs carry their writes back to this coordinator.
    pub(crate) fn settles_writes(&self) -> bool {
        self.config.guest_storage.is_some()
    }

    /// Checks `req`'s write set for `call`: signed by the worker's key, well formed, only where
    /// this coordinator applies writes, and only in scopes the call's guest may write — its
    /// project's (the caller's and the component's own) and the caller's data of bare components
    /// (`clear-version`) — never another project's or another caller's.
    pub(crate) fn check_writes(&self, req: &Completion, public_key: &str, call: &CallRow) -> Result<(), ApiError> {
        if req.writes.is_empty() {
            return Ok(());
        }
        if !self.settles_writes() {
            return Err(ApiError::bad_request(
                "writes_not_accepted",
                "this coordinator does not apply storage writes: commit them locally",
            ));
        }
        req.verify_writes(public_key).map_err(|e| match e {
            outlayer_protocol::WritesError::BadSignature => ApiError::bad_request("invalid_signature", e.to_string()),
            outlayer_protocol::WritesError::Malformed(_) => ApiError::bad_request("invalid_writes", e.to_string()),
        })?;
        let home = outlayer_storage::Scope::project_component(&format!("{}/{}", call.project_owner, call.project_name));
        let allowed = |scope: &outlayer_storage::Scope| {
            let own = scope.owner == call.key_owner;
            (scope.namespace == home.namespace && (own || scope.owner == home.owner)) || (scope.namespace.starts_with("wasm:") && own)
        };
        match req.writes.writes.iter().find(|w| !allowed(&w.scope)) {
            Some(w) => Err(ApiError::bad_request(
                "invalid_writes",
                format!("the write set writes scope {}|{}, which this call's guest cannot write", w.scope.namespace, w.scope.owner),
            )),
            None => Ok(()),
        }
    }

    /// Step 2 of the module docs for the verified `finish` of `call` reported by `req`: commits
    /// the write set with the settlement, or finds the settlement committed before. Returns the
    /// settlement to write — `finish`, or the one recorded first (under `finish`'s lease).
    pub(crate) async fn commit_writes(&self, call: &CallRow, req: &Completion, finish: Finish) -> Result<Finish, ApiError> {
        let Some(GuestStorage(store)) = &self.config.guest_storage else {
            return Ok(finish);
        };
        let id = commit_id(&call.id);
        if req.writes.is_empty() {
            // A re-run that wrote nothing may still follow a first run whose writes committed.
            if call.attempts > 1
                && let Some(record) = store.committed(&id).await.map_err(storage_unavailable)?
            {
                return recorded(&finish, &record);
            }
            return Ok(finish);
        }
        let record = record_of(&finish)?;
        match store.commit(&id, &capped(&req.writes), &record).await.map_err(storage_unavailable)? {
            Committed::Applied => {
                self.metrics.writes_committed(req.writes.len());
                Ok(finish)
            }
            Committed::Already(first) => recorded(&finish, &first),
            Committed::Conflict { key, reason, .. } => {
                self.metrics.writes_conflicted();
                Err(ApiError::conflict(
                    STORAGE_CONFLICT,
                    format!("the write of key {key:?} conflicts ({reason}) with a change committed since it was read; run the job again"),
                ))
            }
        }
    }

    /// The outcome the reaper may give `call` (`failed`, `finish`): with a guest store it is first
    /// recorded under the call's commit id, with no writes — unless a result was committed there
    /// first, which is returned instead. So a completion arriving while the reaper fails the call
    /// either committed its writes before (and the reaper settles that result) or finds the
    /// reaper's record (and applies nothing): never a failed call whose writes were applied.
    pub(crate) async fn claim_outcome(&self, call: &CallRow, finish: Finish) -> Result<Finish, ApiError> {
        let Some(GuestStorage(store)) = &self.config.guest_storage else { return Ok(finish) };
        let record = record_of(&finish)?;
        match store.commit(&commit_id(&call.id), &WriteSet::default(), &record).await.map_err(storage_unavailable)? {
            Committed::Applied => Ok(finish),
            Committed::Already(first) => recorded(&finish, &first),
            Committed::Conflict { key, reason, .. } => {
                Err(ApiError::internal(format!("an empty write set conflicted on {key:?} ({reason})")))
            }
        }
    }

    /// If `call` (leased here under `call.lease_id`) already has a committed result, settles that
    /// result under this lease and returns `true`: the job must not be handed out again.
    pub(crate) async fn settle_committed_on_lease(&self, call: &CallRow) -> bool {
        let Some(GuestStorage(store)) = &self.config.guest_storage else { return false };
        if call.attempts <= 1 {
            return false;
        }
        let record = match store.committed(&commit_id(&call.id)).await {
            Ok(Some(record)) => record,
            Ok(None) => return false,
            // Unknown: not handed out either (its lease expires and the next lease looks again).
            Err(e) => {
                let _ = storage_unavailable(e);
                return true;
            }
        };
        let lease = call.lease_id.clone().unwrap_or_default();
        let Ok(mut finish) = decode(&call.id, &lease, &record) else {
            tracing::error!(call_id = %call.id, "a committed settlement record does not decode; the call is run again");
            return false;
        };
        finish.rows = Some(call.into());
        match self.db.finish(&finish).await {
            Ok(row) => {
                self.settled(&finish, row).await;
            }
            Err(e) => {
                // Held like any result whose write failed: settled by the reaper's retries.
                let _ = self.hold(&finish, e);
            }
        }
        true
    }

    /// Forgets commit records older than `before_ms` (the retention task).
    pub(crate) async fn forget_commits(&self, before_ms: i64) -> u64 {
        let Some(GuestStorage(store)) = &self.config.guest_storage else { return 0 };
        store.forget_commits(before_ms, None).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not forget old guest storage commit records");
            0
        })
    }
}

/// The most a write set's write may claim: the default scope quota, with the allowance of the
/// encryption every guest store is written through (values are ciphertexts).
pub fn applied_quota() -> Quota {
    Quota::bytes(DEFAULT_SCOPE_QUOTA_BYTES).with_per_key_allowance(CIPHERTEXT_OVERHEAD as u64)
}

/// `writes` with each write's quota capped at [`applied_quota`] (the signature covered what the
/// worker sent; applying a stricter quota than it claimed needs no signature).
fn capped(writes: &WriteSet) -> WriteSet {
    let mut writes = writes.clone();
    for w in &mut writes.writes {
        w.quota = w.quota.capped(applied_quota());
    }
    writes
}

/// `finish` replaced by the settlement recorded in `record` (kept: call, lease, time).
/// The record of a settlement stored with its commit.
fn record_of(finish: &Finish) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(&Recorded {
        status: finish.status,
        result: finish.result.clone(),
        charged: finish.charged,
        earnings: finish.earnings,
    })
    .map_err(ApiError::internal)
}

fn recorded(finish: &Finish, record: &[u8]) -> Result<Finish, ApiError> {
    let mut recorded = decode(&finish.call_id, &finish.lease_id, record).map_err(ApiError::internal)?;
    recorded.rows = finish.rows.clone();
    Ok(recorded)
}

/// The settlement recorded as `record` for `call_id` under `lease_id` (its hot rows unknown:
/// [`Finish::rows`] is `None` until the caller sets it).
fn decode(call_id: &str, lease_id: &str, record: &[u8]) -> Result<Finish, serde_json::Error> {
    let r: Recorded = serde_json::from_slice(record)?;
    Ok(Finish {
        rows: None,
        call_id: call_id.to_owned(),
        lease_id: lease_id.to_owned(),
        status: r.status,
        result: r.result,
        charged: r.charged,
        earnings: r.earnings,
        now_ms: now_ms(),
    })
}
