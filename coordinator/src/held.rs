//! Results that are known but could not be recorded: a worker's verified result whose settling
//! write failed (disk full, database gone) is held and settled later — by the reaper's retry
//! (every [`crate::state::REAPER_INTERVAL`]), or when the call's lease expires and this process
//! leases it again (the held result is then settled instead of handing the job out). So a result
//! that reached this coordinator is not executed a second time because writing it failed.
//!
//! Held results are kept in memory and, with [`CoordinatorConfig::held_spool`]
//! (`DATA_DIR/held` for `outlayer coordinator` and `serve`), in a spool: one file per call
//! (`<call id>.json`, mode 0600, fsynced with its directory) written *before* the worker is
//! answered, removed once the settlement is committed (or the call is found settled). Files left
//! by a coordinator that died are loaded by the next one's reaper and settled — under the call's
//! lease of the moment, so a call re-leased meanwhile is still settled with the known result,
//! once (the settling statement requires the call to be unsettled).
//!
//! Answers to the worker: 503 `settle_pending` when the result is held durably (spooled, or no
//! spool is configured: memory only); 503 `result_not_recorded` when even the spool cannot be
//! written (or [`MAX_HELD`] are held): then the worker keeps the result and sends the same
//! completion again, which the coordinator accepts idempotently.
//!
//! Limits: at most [`MAX_HELD`] at once; on PostgreSQL the spool is per replica (another replica
//! that re-leases the call does not know the held result until this one settles it).
//!
//! [`CoordinatorConfig::held_spool`]: crate::config::CoordinatorConfig::held_spool

use std::io::Write;
use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::db::{CallRow, Finish};
use crate::error::ApiError;
use crate::model::{CallStatus, SettledResult};
use crate::state::{AppState, now_ms};

/// Most results held at once (beyond: the worker is answered 503 `result_not_recorded` and
/// keeps the result).
pub const MAX_HELD: usize = 10_000;

/// A held result as spooled (the fields of [`Finish`]).
#[derive(Serialize, Deserialize)]
struct Spooled {
    call_id: String,
    lease_id: String,
    status: CallStatus,
    result: SettledResult,
    charged: i64,
    earnings: i64,
    now_ms: i64,
}

impl From<&Finish> for Spooled {
    fn from(f: &Finish) -> Self {
        Self {
            call_id: f.call_id.clone(),
            lease_id: f.lease_id.clone(),
            status: f.status,
            result: f.result.clone(),
            charged: f.charged,
            earnings: f.earnings,
            now_ms: f.now_ms,
        }
    }
}

impl From<Spooled> for Finish {
    fn from(s: Spooled) -> Self {
        Self {
            call_id: s.call_id,
            lease_id: s.lease_id,
            status: s.status,
            result: s.result,
            charged: s.charged,
            earnings: s.earnings,
            now_ms: s.now_ms,
            // Not spooled: a replayed settlement runs alone.
            rows: None,
        }
    }
}

/// A call id usable as a file name (the coordinator's ids are UUIDs).
fn safe_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

fn spool_path(dir: &Path, call_id: &str) -> PathBuf {
    dir.join(format!("{call_id}.json"))
}

/// Writes `finish` to `dir` durably: a temporary file (0600), fsynced, renamed into place, and
/// the directory fsynced.
fn spool_write(dir: &Path, finish: &Finish) -> std::io::Result<()> {
    if !safe_id(&finish.call_id) {
        return Err(std::io::Error::other("call id is not a file name"));
    }
    std::fs::create_dir_all(dir)?;
    let text = serde_json::to_vec(&Spooled::from(finish)).map_err(std::io::Error::other)?;
    let tmp = dir.join(format!(".{}.tmp", finish.call_id));
    let written = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(&text)?;
        file.sync_all()?;
        std::fs::rename(&tmp, spool_path(dir, &finish.call_id))?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Removes the spool file of `call_id` (settled or found settled).
fn spool_remove(dir: &Path, call_id: &str) {
    if safe_id(call_id) {
        match std::fs::remove_file(spool_path(dir, call_id)) {
            Ok(()) => {
                let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(call_id, error = %e, "could not remove a settled result's spool file"),
        }
    }
}

/// Every result spooled in `dir` (unreadable files are skipped and logged).
fn spool_read(dir: &Path) -> Vec<Finish> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(id) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".json")) else { continue };
        if !safe_id(id) {
            continue;
        }
        match std::fs::read(&path).map_err(|e| e.to_string()).and_then(|b| serde_json::from_slice::<Spooled>(&b).map_err(|e| e.to_string()))
        {
            Ok(s) if s.call_id == id => found.push(Finish::from(s)),
            Ok(_) => tracing::warn!(path = %path.display(), "spooled result names another call; skipped"),
            Err(e) => {
                if let Some(suppressed) = crate::logflood::BACKGROUND.admit("held spool read") {
                    tracing::warn!(path = %path.display(), error = %e, suppressed, "unreadable spooled result; skipped");
                }
            }
        }
    }
    found
}

impl AppState {
    /// Holds `finish` (its write failed with `cause`): spooled, then kept in memory. Answers the
    /// worker 503 `settle_pending` (held: it will be settled, the job need not run again), or 503
    /// `result_not_recorded` when it could not be spooled or too many are held (the worker keeps
    /// the result and sends it again).
    pub(crate) fn hold(&self, finish: &Finish, cause: impl std::fmt::Display) -> ApiError {
        let kind = crate::logflood::kind_of(&cause.to_string()).to_owned();
        let spooled = match &self.config.held_spool {
            Some(dir) => spool_write(dir, finish).map_err(|e| e.to_string()),
            None => Ok(()),
        };
        let mut held = self.local.held.lock().expect("held lock");
        let full = held.len() >= MAX_HELD && !held.contains_key(&finish.call_id);
        if !full {
            held.insert(finish.call_id.clone(), finish.clone());
        }
        drop(held);
        let retry = |code: &'static str, message: &str| {
            let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message);
            e.retry_after_secs = Some(1);
            e
        };
        if let Err(spool_error) = spooled {
            if let Some(suppressed) = crate::logflood::INTERNAL.admit(&format!("hold unspooled {kind}")) {
                tracing::error!(error = %cause, %spool_error, call_id = %finish.call_id, suppressed, "settling failed and the result could not be spooled; the worker is asked to send it again");
            }
            return retry(
                "result_not_recorded",
                "the result was verified but could neither be recorded nor kept durably; send the same completion again",
            );
        }
        if full {
            return retry("result_not_recorded", "the result was verified but could not be recorded yet; send the same completion again");
        }
        if let Some(suppressed) = crate::logflood::INTERNAL.admit(&format!("hold {kind}")) {
            tracing::error!(error = %cause, call_id = %finish.call_id, suppressed, "settling failed; result held for a retry");
        }
        retry(
            "settle_pending",
            "the result was received and verified but could not be recorded yet; it is kept and will be settled (do not run the job again)",
        )
    }

    /// Number of results held.
    pub fn held_results(&self) -> usize {
        self.local.held.lock().expect("held lock").len()
    }

    /// Forgets the held result of `call_id` (memory and spool).
    fn unhold(&self, call_id: &str) {
        self.local.held.lock().expect("held lock").remove(call_id);
        if let Some(dir) = &self.config.held_spool {
            spool_remove(dir, call_id);
        }
    }

    /// The result of `call` spooled by an earlier process, if the reaper has not loaded it yet
    /// (it loads the spool on its first tick, a second after start): a call whose lease expired
    /// while no coordinator ran is leased again at once, and must not be handed out. Only a call
    /// leased before can have one (`attempts > 1`): first leases read nothing.
    fn spooled_by_earlier_process(&self, call: &CallRow) -> Option<Finish> {
        let dir = self.config.held_spool.as_ref()?;
        if call.attempts <= 1 || !safe_id(&call.id) {
            return None;
        }
        let bytes = std::fs::read(spool_path(dir, &call.id)).ok()?;
        let spooled: Spooled = serde_json::from_slice(&bytes).ok().filter(|s: &Spooled| s.call_id == call.id)?;
        let finish = Finish::from(spooled);
        let mut held = self.local.held.lock().expect("held lock");
        if held.len() < MAX_HELD {
            held.entry(finish.call_id.clone()).or_insert_with(|| finish.clone());
        }
        Some(finish)
    }

    /// Retries every held result, including results spooled by an earlier process (the reaper
    /// calls this each tick). Each is settled under the call's current lease, whatever it is
    /// now; a call found settled is forgotten. Returns how many settled.
    pub async fn retry_held(&self) -> usize {
        if let Some(dir) = &self.config.held_spool {
            let spooled = spool_read(dir);
            let mut held = self.local.held.lock().expect("held lock");
            for finish in spooled {
                if held.len() < MAX_HELD {
                    held.entry(finish.call_id.clone()).or_insert(finish);
                }
            }
        }
        let held: Vec<Finish> = self.local.held.lock().expect("held lock").values().cloned().collect();
        let mut settled = 0;
        for mut finish in held {
            let call = match self.db.call(&finish.call_id).await {
                Ok(Some(call)) => call,
                Ok(None) => {
                    self.unhold(&finish.call_id);
                    continue;
                }
                Err(_) => continue,
            };
            if call.status.is_final() {
                self.unhold(&finish.call_id);
                continue;
            }
            // Re-leased since (by this process's lease of a held call, or another replica): the
            // known result settles the call under the lease it has now.
            if let Some(lease) = &call.lease_id {
                finish.lease_id = lease.clone();
            }
            match self.db.finish(&finish).await {
                Ok(Some(row)) => {
                    self.unhold(&finish.call_id);
                    self.settled(&finish, Some(row)).await;
                    settled += 1;
                }
                // The lease moved between the read and the write: the next tick tries again.
                Ok(None) => {}
                Err(_) => {}
            }
        }
        settled
    }

    /// If `call` (leased by this process under `call.lease_id`) has a held result, settles that
    /// result under this lease and returns `true`: the job must not be handed out.
    pub(crate) async fn settle_held_on_lease(&self, call: &CallRow) -> bool {
        let held = self.local.held.lock().expect("held lock").get(&call.id).cloned();
        let Some(mut finish) = held.or_else(|| self.spooled_by_earlier_process(call)) else { return false };
        finish.lease_id = call.lease_id.clone().unwrap_or_default();
        finish.now_ms = now_ms();
        match self.db.finish(&finish).await {
            Ok(row) => {
                self.unhold(&call.id);
                self.settled(&finish, row).await;
            }
            // Still failing: the call stays leased here; the held result now names this lease
            // (the reaper keeps retrying it, under whatever lease the call has then).
            Err(_) => {
                if let Some(h) = self.local.held.lock().expect("held lock").get_mut(&call.id) {
                    h.lease_id = finish.lease_id.clone();
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finish(call_id: &str) -> Finish {
        Finish {
            call_id: call_id.into(),
            lease_id: "lease-1".into(),
            status: CallStatus::Completed,
            result: SettledResult {
                output: Some(serde_json::json!(7)),
                output_base64: Some("Nw==".into()),
                error: None,
                cost: 10,
                charged: 12,
                instructions: 1,
                time_ms: 1,
                refund: 0,
                peak_memory_bytes: 0,
                http: None,
                worker: None,
                receipt: None,
            },
            charged: 12,
            earnings: 3,
            now_ms: 5,
            rows: None,
        }
    }

    #[test]
    fn spooled_results_survive_as_private_files_and_go_when_removed() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("held");
        let id = "0b7c8d2e-1111-4222-8333-944455556666";
        spool_write(&spool, &finish(id)).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(spool_path(&spool, id)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let read = spool_read(&spool);
        assert_eq!(read.len(), 1);
        assert_eq!((read[0].call_id.as_str(), read[0].lease_id.as_str(), read[0].charged, read[0].earnings), (id, "lease-1", 12, 3));
        assert_eq!(read[0].result, finish(id).result);
        spool_remove(&spool, id);
        assert!(spool_read(&spool).is_empty());
        // Not a file name: refused, nothing written.
        assert!(spool_write(&spool, &finish("../x")).is_err());
        assert!(std::fs::read_dir(&spool).unwrap().next().is_none());
    }
}
