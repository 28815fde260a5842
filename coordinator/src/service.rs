//! The coordinator's operations on [`AppState`]: queueing and waiting for calls, leasing and
//! settling jobs. HTTP handlers are thin wrappers; the embedded mode may call these directly.

use std::time::{Duration, Instant};

use crate::db::{CallRow, Enqueued, Finish, KeyRow, ProjectRow, WorkerRow};
use crate::error::ApiError;
use crate::limits::*;
use crate::model::*;
use crate::notify::Hub;
use crate::pricing;
use crate::state::{AppState, JOB_RECHECK_INTERVAL, now_ms};
use outlayer_protocol::secrets::{JobProof, SealedSecrets, SecretsRef, TICKET_VERSION, Ticket, TicketSecrets};
use outlayer_protocol::{Signer, receipt_of};

/// A lease request records the worker's `last_heartbeat_ms` only when the stored value is older
/// than this (saves one write per job on busy workers).
pub const WORKER_TOUCH_INTERVAL_MS: i64 = 5_000;

/// Where a completion's receipt was signed, as far as the coordinator can know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptOrigin {
    /// Received from a worker over the network: the signature is verified with the worker's
    /// registered key.
    Remote,
    /// Signed by the embedded worker of this process ([`crate::embedded::EmbeddedSource`],
    /// `outlayer serve`) with a key this process holds and registered itself. Verifying it would
    /// check this process against itself: whoever could forge it already runs inside the
    /// coordinator. The receipt is still recomputed and compared field by field; debug builds (the
    /// tests) also verify the signature.
    InProcess,
}

/// Caller-side parameters of a call besides its body.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallMoney {
    /// `X-Compute-Limit` (None = accept the maximum possible cost).
    pub compute_limit: Option<u64>,
    /// `X-Attached-Deposit`.
    pub attached_deposit: u64,
}

/// Resolves defaults and caps; 400 `invalid_limits` when a cap is exceeded or a limit is zero.
pub fn resolve_limits(req: Option<&LimitsRequest>) -> Result<Limits, ApiError> {
    req.cloned().unwrap_or_default().resolve().map_err(|e| ApiError::bad_request("invalid_limits", e.to_string()))
}

impl AppState {
    /// Validates, reserves and queues a call; returns its row (status `queued`).
    /// Errors: 400 `invalid_limits` / `version_not_found`(404) / `no_active_version`(409),
    /// 402 `compute_limit_too_low` / `max_per_call_exceeded` / `insufficient_balance`.
    pub async fn submit_call(&self, key: &KeyRow, project: &ProjectRow, req: &CallRequest, money: CallMoney) -> Result<CallRow, ApiError> {
        let call = self.new_call(key, project, req, money).await?;
        self.enqueue_call(&call).await?;
        Ok(call)
    }

    /// [`AppState::submit_call`] then [`AppState::wait_call`], without reading back the row just
    /// queued: the waiter is registered before the call is queued, so its settlement cannot be
    /// missed, and a call settled in this process hands its row to the waiter directly.
    pub async fn submit_and_wait(
        &self,
        key: &KeyRow,
        project: &ProjectRow,
        req: &CallRequest,
        money: CallMoney,
        timeout: Duration,
    ) -> Result<CallRow, ApiError> {
        let call = self.new_call(key, project, req, money).await?;
        let waiter = self.hub.call_waiter(&call.id);
        if let Err(e) = self.enqueue_call(&call).await {
            self.hub.release_waiter(&call.id, waiter);
            return Err(e);
        }
        let id = call.id.clone();
        self.wait_loop(&id, timeout, Some(call), Some(waiter)).await
    }

    /// Validates a call and builds its row (nothing is written).
    async fn new_call(&self, key: &KeyRow, project: &ProjectRow, req: &CallRequest, money: CallMoney) -> Result<CallRow, ApiError> {
        let input = serde_json::to_string(&req.input).map_err(ApiError::internal)?;
        if input.len() > MAX_INPUT_BYTES {
            return Err(ApiError::too_large(format!("input is {} bytes; the limit is {MAX_INPUT_BYTES}", input.len())));
        }
        let wasm_sha256 = match &req.version_key {
            Some(v) => {
                let known = self.db.versions(&project.id).await?.into_iter().any(|r| &r.wasm_sha256 == v);
                if !known {
                    return Err(ApiError::not_found("version_not_found", format!("{v} is not a version of this project")));
                }
                v.clone()
            }
            None => project
                .active_version
                .clone()
                .ok_or_else(|| ApiError::conflict("no_active_version", "the project has no active version"))?,
        };
        let limits = resolve_limits(req.resource_limits.as_ref())?;
        let mut grants = project.grants.clone();
        if let Some(reference) = &req.secrets_ref {
            self.check_secrets_ref(project, reference).await?;
            // The project's own secrets: reading them needs the capability.
            if !grants.contains(&Capability::Secrets) {
                grants.push(Capability::Secrets);
            }
        }
        let deposit = money.attached_deposit;
        if deposit > MAX_AMOUNT || money.compute_limit.is_some_and(|c| c > MAX_AMOUNT) {
            return Err(ApiError::bad_request("invalid_amount", format!("amounts must be at most {MAX_AMOUNT}")));
        }
        let max_compute = pricing::max_compute_cost(&self.config.pricing, &limits);
        let required = max_compute.saturating_add(deposit);
        if required > MAX_AMOUNT {
            return Err(ApiError::bad_request(
                "invalid_limits",
                format!("these limits may cost {required}, above the {MAX_AMOUNT} per-call maximum"),
            ));
        }
        if let Some(limit) = money.compute_limit
            && limit < required
        {
            return Err(ApiError::payment(
                "compute_limit_too_low",
                format!(
                    "X-Compute-Limit {limit} does not cover the maximum possible cost {required} (compute {max_compute} + deposit {deposit})"
                ),
            ));
        }
        if let Some(max) = key.max_per_call
            && (required as i64) > max
        {
            return Err(ApiError::payment(
                "max_per_call_exceeded",
                format!("this call may cost {required}; the key allows {max} per call"),
            ));
        }
        // The balance itself is checked by the reservation (`key` may come from a cache whose
        // balance fields are stale): 402 `insufficient_balance` from `enqueue_call`.
        let call = CallRow {
            id: uuid::Uuid::now_v7().to_string(),
            request_id: uuid::Uuid::new_v4().to_string(),
            project_id: project.id.clone(),
            project_owner: project.owner.clone(),
            project_name: project.name.clone(),
            wasm_sha256,
            key_owner: key.owner.clone(),
            key_nonce: key.nonce,
            input,
            max_instructions: limits.max_instructions as i64,
            max_memory_mb: limits.max_memory_mb as i64,
            max_execution_seconds: limits.max_execution_seconds as i64,
            grants,
            // Snapshot, like the grants: a job leased later carries the list the call was accepted with.
            http_allowlist: project.http_allowlist.clone(),
            secrets_ref: req.secrets_ref.clone(),
            attached_deposit: deposit as i64,
            compute_limit: money.compute_limit.unwrap_or(required) as i64,
            reserved: required as i64,
            status: CallStatus::Queued,
            lease_id: None,
            worker_id: None,
            lease_expires_ms: None,
            attempts: 0,
            created_ms: now_ms(),
            completed_ms: None,
            result: None,
        };
        Ok(call)
    }

    /// Reserves and queues a call built by [`AppState::new_call`]; wakes a worker. When a lease
    /// request of this process is idle (an embedded worker slot, a worker's long-poll), the call
    /// is inserted already leased to it, in the same transaction, and handed over in memory: no
    /// lease transaction, no wake-up of a waiting slot that then reads the queue. The lease is in
    /// the database like any other: a crash leaves it to expire and be leased again.
    async fn enqueue_call(&self, call: &CallRow) -> Result<(), ApiError> {
        let claim = self.hub.idle.claim();
        let leased = claim.as_ref().map(|c| self.leased_on_enqueue(call, &c.worker_id));
        let (row, deadline) = match &leased {
            Some((row, deadline)) => (row, Some(*deadline)),
            None => (call, None),
        };
        // On an error (or an insufficient balance) the claim is dropped: the slot waits again.
        match self.db.enqueue(row, deadline).await? {
            Enqueued::Queued => {}
            Enqueued::InsufficientBalance => {
                // Re-read the key so the message shows what is available now.
                let available = match self.db.key(&call.key_owner, call.key_nonce).await? {
                    Some(k) => k.balance - k.spent - k.reserved,
                    None => 0,
                };
                return Err(insufficient_balance(call.reserved, available));
            }
        }
        self.metrics.call_accepted();
        match (claim, leased) {
            (Some(claim), Some((row, _))) => {
                if !claim.hand(row) {
                    // The lease request went away after the claim: its lease expires and the job
                    // is leased again.
                    tracing::debug!(call_id = %call.id, "a handed job's lease request was gone");
                }
            }
            _ => {
                self.hub.idle.queued();
                self.hub.job_queued()
            }
        }
        Ok(())
    }

    /// `call` as leased to `worker_id` from now (the values [`crate::db::Backend::lease`] would
    /// write: first attempt, lease until the earlier of the lease duration and the hard
    /// deadline), and that hard deadline.
    fn leased_on_enqueue(&self, call: &CallRow, worker_id: &str) -> (CallRow, i64) {
        let now = now_ms();
        let deadline = now + call.max_execution_seconds * 1000 + self.config.lease_grace.as_millis() as i64;
        let mut row = call.clone();
        row.status = CallStatus::Leased;
        row.lease_id = Some(uuid::Uuid::new_v4().to_string());
        row.worker_id = Some(worker_id.to_owned());
        row.lease_expires_ms = Some((now + self.config.lease_duration.as_millis() as i64).min(deadline));
        row.attempts = 1;
        (row, deadline)
    }

    /// Waits (notification first, re-reading the row as a safety net) until the call is settled,
    /// `timeout` passes or the coordinator shuts down; returns the latest row.
    pub async fn wait_call(&self, call_id: &str, timeout: Duration) -> Result<CallRow, ApiError> {
        self.wait_loop(call_id, timeout, None, None).await
    }

    /// The loop of [`AppState::wait_call`]; `known` is a fresh row to use instead of the first
    /// read, `registered` a waiter registered before that row was written.
    async fn wait_loop(
        &self,
        call_id: &str,
        timeout: Duration,
        mut known: Option<CallRow>,
        mut registered: Option<std::sync::Arc<crate::notify::CallWaiter>>,
    ) -> Result<CallRow, ApiError> {
        let deadline = Instant::now() + timeout;
        let stop = self.hub.shutdown_signal();
        // The latest row seen (answered if a later re-read fails).
        let mut last: Option<CallRow> = None;
        loop {
            let waiter = registered.take().unwrap_or_else(|| self.hub.call_waiter(call_id));
            let outcome: Option<Result<CallRow, ApiError>> = 'step: {
                let notified = waiter.notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let row = match (waiter.settled(), known.take()) {
                    (Some(row), _) | (None, Some(row)) => row,
                    (None, None) => match self.db.call(call_id).await {
                        Ok(Some(row)) => row,
                        Ok(None) => break 'step Some(Err(ApiError::not_found("call_not_found", "no such call"))),
                        // The call is accepted (its reservation is made): answer what is known of
                        // it, so the caller gets its id and polls, rather than a bare 500.
                        Err(e) => {
                            if let Some(suppressed) = crate::logflood::INTERNAL.admit("wait re-read") {
                                tracing::warn!(error = %e, call_id, suppressed, "re-reading a waited call failed; answering its last known state");
                            }
                            break 'step Some(last.take().ok_or_else(|| ApiError::from(e)));
                        }
                    },
                };
                last = Some(row.clone());
                let remaining = deadline.saturating_duration_since(Instant::now());
                if row.status.is_final() || remaining.is_zero() || *stop.borrow() {
                    Some(Ok(row))
                } else {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep(remaining.min(self.recheck_interval())) => {}
                        _ = Hub::until_shutdown(stop.clone()) => {}
                    }
                    // Settled in this process meanwhile: the row came with the wake-up (the next
                    // step answers it without reading it back).
                    known = waiter.settled();
                    None
                }
            };
            self.hub.release_waiter(call_id, waiter);
            if let Some(answer) = outcome {
                return answer;
            }
        }
    }

    /// Leases the next job for `worker`, waiting up to `wait` for one. `None` = nothing to do.
    pub async fn lease_job(&self, worker: &WorkerRow, wait: Duration) -> Result<Option<Job>, ApiError> {
        let deadline = Instant::now() + wait;
        let stop = self.hub.shutdown_signal();
        let lease_ms = self.config.lease_duration.as_millis() as i64;
        let grace_ms = self.config.lease_grace.as_millis() as i64;
        self.touch_if_due(worker).await?;
        // The first lease is skipped when it is known to find nothing (the last one, or the lease
        // of the completion that just ran, found none and nothing was queued since): an embedded
        // worker's slot comes back here after each job.
        let mut skip = self.hears_every_job() && self.hub.idle.known_empty(JOB_RECHECK_INTERVAL);
        loop {
            let leased = if std::mem::take(&mut skip) {
                None
            } else {
                let count = self.hub.idle.queued_count();
                let lease_id = uuid::Uuid::new_v4().to_string();
                let leased =
                    self.db.lease(&worker.id, &lease_id, now_ms(), lease_ms, grace_ms, i64::from(self.config.max_attempts)).await?;
                if leased.is_none() {
                    self.hub.idle.found_empty(count);
                }
                leased
            };
            if let Some(call) = leased {
                self.metrics.leased(call.attempts > 1);
                if self.settle_held_on_lease(&call).await || self.settle_committed_on_lease(&call).await {
                    // Its result is known (held after a failed write, or committed with its
                    // storage writes): settled, not run again.
                    continue;
                }
                let job = self.leased_job(&call, worker).await?;
                self.remember_lease(call);
                return Ok(Some(job));
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() || *stop.borrow() {
                return Ok(None);
            }
            // Idle: a new call may be handed to this request directly (see `enqueue_call`).
            let mut idling = self.hub.idle.register(&worker.id);
            let woken = tokio::select! {
                handed = &mut idling.handed => Some(handed.ok()),
                _ = self.hub.job_wakeup() => None,
                _ = tokio::time::sleep(remaining.min(JOB_RECHECK_INTERVAL)) => None,
                _ = Hub::until_shutdown(stop.clone()) => None,
            };
            let handed = match woken {
                Some(handed) => handed,
                // Claimed by an enqueuer before withdrawing: its job (or nothing, if the enqueue
                // failed) is this request's, never dropped.
                None if !idling.withdraw() => (&mut idling.handed).await.ok(),
                None => None,
            };
            if let Some(call) = handed {
                self.metrics.leased(false);
                let job = self.leased_job(&call, worker).await?;
                self.remember_lease(call);
                return Ok(Some(job));
            }
            if *stop.borrow() {
                return Ok(None);
            }
        }
    }

    /// Whether this process hears of every job queued (so that "no job was queued since a lease
    /// found none" is known here): on SQLite it queues them all itself (one coordinator per
    /// database file); on PostgreSQL while its Redis link is up, other replicas announce theirs.
    /// An announcement lost anyway (Redis restarting) delays its job by at most
    /// [`JOB_RECHECK_INTERVAL`], the bound [`crate::notify::IdleSlots::known_empty`] is given.
    fn hears_every_job(&self) -> bool {
        matches!(self.config.database, crate::config::DatabaseConfig::Sqlite { .. }) || self.hub.redis().is_some_and(|r| r.healthy())
    }

    /// Records the worker's sign of life if the last one is older than
    /// [`WORKER_TOUCH_INTERVAL_MS`].
    async fn touch_if_due(&self, worker: &WorkerRow) -> Result<(), ApiError> {
        let now = now_ms();
        let touched = self.local.touches.lock().expect("touches lock").get(&worker.id).copied().unwrap_or(0);
        if now - worker.last_heartbeat_ms.max(touched) > WORKER_TOUCH_INTERVAL_MS {
            self.db.touch_worker(&worker.id, now).await?;
            let mut touches = self.local.touches.lock().expect("touches lock");
            if touches.len() >= crate::state::MAX_REMEMBERED_LEASES {
                // Entries older than the interval save no write: drop them (bounds the map).
                touches.retain(|_, at| now - *at <= WORKER_TOUCH_INTERVAL_MS);
            }
            touches.insert(worker.id.clone(), now);
        }
        Ok(())
    }

    /// [`AppState::job`] with its keystore ticket, signed for `worker` (when this coordinator
    /// has a ticket key): the job, its project, its component, the caller conditions are
    /// evaluated for, and the sealed secrets of its `secrets_ref` as stored now.
    async fn leased_job(&self, call: &CallRow, worker: &WorkerRow) -> Result<Job, ApiError> {
        let mut job = self.job(call);
        let Some(key) = &self.config.ticket_key else {
            return Ok(job);
        };
        // The keystore releases a project's storage key and a job's secrets: a job granted
        // neither needs no ticket (and the worker asks the keystore nothing).
        if call.secrets_ref.is_none() && !call.grants.contains(&Capability::Storage) {
            return Ok(job);
        }
        let secrets = match &call.secrets_ref {
            Some(reference) => match self.db.secrets(&call.project_id, &reference.profile).await? {
                Some(row) => Some(TicketSecrets {
                    reference: reference.clone(),
                    record: SealedSecrets { sealed: row.sealed, access: serde_json::from_str(&row.access).map_err(ApiError::internal)? },
                }),
                // Deleted since the call was accepted: the guest finds none.
                None => None,
            },
            None => None,
        };
        let ticket = Ticket {
            version: TICKET_VERSION,
            job_id: call.id.clone(),
            project_id: Some(format!("{}/{}", call.project_owner, call.project_name)),
            wasm_sha256: call.wasm_sha256.clone(),
            caller: call.key_owner.clone(),
            worker_key: worker.public_key.clone(),
            expires_at_ms: call.lease_expires_ms.unwrap_or_else(now_ms) + self.config.lease_grace.as_millis() as i64,
            secrets,
        };
        job.keys = Some(JobProof::Ticket(Box::new(ticket.sign(key))));
        Ok(job)
    }

    /// A call's `secrets_ref` must name a record of this project's owner that exists (404
    /// `secrets_not_found`); HTTPS projects keep their owner's secrets only.
    async fn check_secrets_ref(&self, project: &ProjectRow, reference: &SecretsRef) -> Result<(), ApiError> {
        reference.validate().map_err(|e| ApiError::bad_request("invalid_secrets_ref", e.to_string()))?;
        if reference.account_id != project.owner {
            return Err(ApiError::bad_request(
                "invalid_secrets_ref",
                format!(
                    "secrets_ref.account_id must be the project's owner ({}): HTTPS projects keep their owner's secrets",
                    project.owner
                ),
            ));
        }
        if self.db.secrets(&project.id, &reference.profile).await?.is_none() {
            return Err(ApiError::not_found(
                "secrets_not_found",
                format!("project {}/{} has no secrets profile {:?}", project.owner, project.name, reference.profile),
            ));
        }
        Ok(())
    }

    fn job(&self, call: &CallRow) -> Job {
        Job {
            call_id: call.id.clone(),
            lease_id: call.lease_id.clone().unwrap_or_default(),
            lease_expires_at_ms: call.lease_expires_ms.unwrap_or_default(),
            wasm_sha256: call.wasm_sha256.clone(),
            input: call.input.clone(),
            limits: limits_of(call),
            max_output_bytes: MAX_OUTPUT_BYTES as u64,
            grants: call.grants.clone(),
            // Enforced by the host only when `grants` holds http.
            http_allowlist: call.http_allowlist.clone(),
            attached_deposit: call.attached_deposit as u128,
            context: JobContext {
                request_id: call.request_id.clone(),
                kind: ExecutionKind::Https,
                network: self.config.network.clone(),
                caller: Some(call.key_owner.clone()),
                project: Some(ProjectRef {
                    owner: call.project_owner.clone(),
                    name: call.project_name.clone(),
                    id: call.project_id.clone(),
                }),
                call_id: Some(call.id.clone()),
                ..JobContext::default()
            },
            keys: None,
            settles_writes: self.settles_writes(),
        }
    }

    /// Extends the worker's leases; reports which it lost.
    pub async fn heartbeat(&self, worker: &WorkerRow, lease_ids: &[String]) -> Result<HeartbeatResponse, ApiError> {
        if lease_ids.len() > MAX_HEARTBEAT_LEASES {
            return Err(ApiError::too_large(format!("at most {MAX_HEARTBEAT_LEASES} leases per heartbeat")));
        }
        let lease_ms = self.config.lease_duration.as_millis() as i64;
        let extended = self.db.heartbeat(&worker.id, lease_ids, now_ms(), lease_ms).await?;
        let lost = lease_ids.iter().filter(|l| !extended.contains(l)).cloned().collect();
        Ok(HeartbeatResponse { extended, lost })
    }

    /// Verifies and settles a worker's result. Idempotent: completing an already settled call with
    /// its final lease returns the settled view; any other lease gets 409 `lease_lost`.
    pub async fn complete_job(&self, worker: &WorkerRow, req: &Completion) -> Result<CallView, ApiError> {
        self.complete_job_from(worker, req, ReceiptOrigin::Remote).await
    }

    /// [`AppState::complete_job`] of a receipt signed at `origin`.
    pub async fn complete_job_from(&self, worker: &WorkerRow, req: &Completion, origin: ReceiptOrigin) -> Result<CallView, ApiError> {
        // Fast path: this process issued the lease, it has not expired (so nobody else can hold
        // it and the reaper has not failed the call) and the job columns are immutable, so the
        // row need not be read back. The settling statement still requires the lease.
        if let Some(call) = self.remembered_lease(worker, req)
            && let Some(view) = self.verify_and_settle(worker, req, &call, origin).await?
        {
            return Ok(view);
        }
        let call = self.db.call(&req.call_id).await?.ok_or_else(|| ApiError::not_found("call_not_found", "no such call"))?;
        let ours = call.lease_id.as_deref() == Some(req.lease_id.as_str()) && call.worker_id.as_deref() == Some(worker.id.as_str());
        if call.status.is_final() {
            // Only the worker whose result was settled gets the idempotent 200 (a job failed by
            // the reaper keeps the expired lease id, but not that worker's result).
            let settled = view(&call);
            let by_worker = settled.result.as_ref().and_then(|r| r.worker.as_ref()).is_some_and(|w| w.id == worker.id);
            // The same receipt sent again (a worker retrying after a 503, also once its held
            // result settled under a later lease) gets the same answer.
            let same = settled.result.as_ref().and_then(|r| r.receipt.as_ref()).is_some_and(|r| r.signature == req.receipt.signature);
            return if (ours || same) && by_worker { Ok(settled) } else { Err(lease_lost()) };
        }
        if !ours {
            return Err(lease_lost());
        }
        match self.verify_and_settle(worker, req, &call, origin).await? {
            Some(view) => Ok(view),
            None => {
                let now = self.db.call(&call.id).await?.ok_or_else(|| ApiError::not_found("call_not_found", "no such call"))?;
                if now.status.is_final() && now.lease_id.as_deref() == Some(req.lease_id.as_str()) {
                    Ok(view(&now))
                } else {
                    Err(lease_lost())
                }
            }
        }
    }

    /// The remembered leased row of `req.call_id` if it is `req`'s lease, held by `worker` and
    /// not expired.
    fn remembered_lease(&self, worker: &WorkerRow, req: &Completion) -> Option<CallRow> {
        let leases = self.local.leases.lock().expect("leases lock");
        let call = leases.get(&req.call_id)?;
        let valid = call.lease_id.as_deref() == Some(req.lease_id.as_str())
            && call.worker_id.as_deref() == Some(worker.id.as_str())
            && call.lease_expires_ms.is_some_and(|t| t > now_ms());
        valid.then(|| call.clone())
    }

    fn remember_lease(&self, call: CallRow) {
        let mut leases = self.local.leases.lock().expect("leases lock");
        if leases.len() >= crate::state::MAX_REMEMBERED_LEASES {
            let now = now_ms();
            leases.retain(|_, c| c.lease_expires_ms.is_some_and(|t| t > now));
        }
        if leases.len() < crate::state::MAX_REMEMBERED_LEASES {
            leases.insert(call.id.clone(), call);
        }
    }

    /// Checks a result of the leased `call` and settles it; `None` when the lease was no longer
    /// current at settling time.
    async fn verify_and_settle(
        &self,
        worker: &WorkerRow,
        req: &Completion,
        call: &CallRow,
        origin: ReceiptOrigin,
    ) -> Result<Option<CallView>, ApiError> {
        let finish = self.verify(worker, req, call, origin)?;
        let finish = self.commit_writes(call, req, finish).await?;
        let row = self.db.finish(&finish).await.map_err(|e| self.hold(&finish, e))?;
        Ok(self.settled(&finish, row).await)
    }

    /// [`AppState::complete_job`] and then a lease of the next waiting job for the same worker
    /// (never waits), in one database round trip when this process issued the completed lease
    /// (otherwise no job is leased: lease as usual). The job comes back whatever the completion's
    /// outcome.
    pub async fn complete_and_lease(&self, worker: &WorkerRow, req: &Completion) -> (Result<CallView, ApiError>, Option<Job>) {
        self.complete_and_lease_from(worker, req, ReceiptOrigin::Remote).await
    }

    /// [`AppState::complete_and_lease`] of a receipt signed at `origin`.
    pub async fn complete_and_lease_from(
        &self,
        worker: &WorkerRow,
        req: &Completion,
        origin: ReceiptOrigin,
    ) -> (Result<CallView, ApiError>, Option<Job>) {
        let Some(call) = self.remembered_lease(worker, req) else {
            return (self.complete_job_from(worker, req, origin).await, None);
        };
        let finish = match self.verify(worker, req, &call, origin) {
            Ok(f) => f,
            Err(e) => return (Err(e), None),
        };
        let finish = match self.commit_writes(&call, req, finish).await {
            Ok(f) => f,
            Err(e) => return (Err(e), None),
        };
        if let Err(e) = self.touch_if_due(worker).await {
            return (Err(e), None);
        }
        let lease_id = uuid::Uuid::new_v4().to_string();
        let lease_ms = self.config.lease_duration.as_millis() as i64;
        let grace_ms = self.config.lease_grace.as_millis() as i64;
        let max_attempts = i64::from(self.config.max_attempts);
        let count = self.hub.idle.queued_count();
        let finished = self.db.finish_and_lease(&finish, &worker.id, &lease_id, now_ms(), lease_ms, grace_ms, max_attempts).await;
        let (finished, leased) = match finished {
            Ok(x) => x,
            Err(e) => return (Err(self.hold(&finish, e)), None),
        };
        if leased.is_none() {
            // It looked for a job (both backends lease in the settlement's transaction) and found none.
            self.hub.idle.found_empty(count);
        }
        let mut job = None;
        if let Some(c) = leased {
            self.metrics.leased(c.attempts > 1);
            if !self.settle_held_on_lease(&c).await && !self.settle_committed_on_lease(&c).await {
                match self.leased_job(&c, worker).await {
                    Ok(j) => job = Some(j),
                    // The lease expires and the call is leased again.
                    Err(e) => tracing::warn!(call_id = %c.id, error = ?e, "could not prepare the leased job's ticket"),
                }
                self.remember_lease(c);
            }
        }
        let result = match self.settled(&finish, finished).await {
            Some(view) => Ok(view),
            // The lease was lost meanwhile: the full checks, reading the call.
            None => self.complete_job_from(worker, req, origin).await,
        };
        (result, job)
    }

    /// Checks a worker's result for the leased `call` and computes its settlement.
    ///
    /// The receipt is recomputed from the coordinator's own data — the call (id, project, wasm,
    /// stored input, limits), the registered worker (id, attestation digest) — and the numbers
    /// and output the worker reported ([`receipt_of`]); the signature must verify over exactly
    /// that with the worker's registered key. Anything changed after signing (output, wall time,
    /// refund, ...) fails: 400 `receipt_mismatch` when the worker's own receipt differs (naming
    /// the field), else 400 `invalid_signature`. Money is computed from the verified receipt only.
    /// A receipt signed in this process ([`ReceiptOrigin::InProcess`]) is compared but its
    /// signature is verified only in debug builds.
    fn verify(&self, worker: &WorkerRow, req: &Completion, call: &CallRow, origin: ReceiptOrigin) -> Result<Finish, ApiError> {
        let r = &req.result;
        let signer = Signer { worker_id: &worker.id, attestation_sha256: &worker.attestation_sha256 };
        let expected = receipt_of(&self.job(call), r, &signer);
        if let Some(field) = first_difference(&expected, &req.receipt.receipt) {
            return Err(ApiError::bad_request(
                "receipt_mismatch",
                format!("the signed receipt's {field} does not match the coordinator's record and the reported result"),
            ));
        }
        if !req.receipt.public_key.eq_ignore_ascii_case(&worker.public_key) {
            return Err(ApiError::bad_request("invalid_signature", "the receipt names a key other than the worker's registered key"));
        }
        if (origin == ReceiptOrigin::Remote || cfg!(debug_assertions))
            && let Err(e) = expected.verify_signature(&worker.public_key, &req.receipt.signature)
        {
            return Err(ApiError::bad_request("invalid_signature", format!("{e} (with the worker's registered key)")));
        }
        self.check_writes(req, &worker.public_key, call)?;
        let receipt = req.receipt.clone();
        let signed = &receipt.receipt;
        let (parsed, error) = interpret(r);
        let limits = limits_of(call);
        let max_compute = pricing::max_compute_cost(&self.config.pricing, &limits);
        let run = pricing::Run::from_receipt(signed, error.is_none());
        let s = pricing::settle(&self.config.pricing, max_compute, call.attached_deposit as u64, run);
        let output_base64 = (r.output.len() <= MAX_OUTPUT_BYTES).then(|| r.output.clone());
        let settled = SettledResult {
            output: parsed,
            output_base64,
            error: error.clone(),
            cost: s.cost,
            charged: s.charged,
            instructions: signed.instructions,
            time_ms: signed.wall_ms,
            refund: s.refund,
            peak_memory_bytes: signed.peak_memory_bytes,
            http: r.http.clone(),
            worker: Some(WorkerRef { id: worker.id.clone(), public_key: worker.public_key.clone() }),
            receipt: Some(receipt),
        };
        let status = if error.is_none() { CallStatus::Completed } else { CallStatus::Failed };
        Ok(finish_of(call, &req.lease_id, status, settled, s.earnings))
    }

    /// After a settling write: forgets the lease and, if it settled (`row`), counts it and wakes
    /// the waiters with the settled row.
    pub(crate) async fn settled(&self, finish: &Finish, row: Option<CallRow>) -> Option<CallView> {
        self.local.leases.lock().expect("leases lock").remove(&finish.call_id);
        let mut row = row?;
        // The backend's row is the settled one, its result included (`db::with_result`).
        row.status = finish.status;
        row.completed_ms = Some(finish.now_ms);
        let latency = Duration::from_millis((finish.now_ms - row.created_ms).max(0) as u64);
        self.metrics.call_settled(finish.status == CallStatus::Completed, latency);
        self.hub.call_settled(&finish.call_id, Some(&row));
        Some(view(&row))
    }

    /// Fails jobs whose last allowed lease expired (`worker_lost`, nothing charged). Returns how
    /// many it failed.
    pub async fn reap(&self) -> Result<usize, ApiError> {
        // Known results whose write failed first: they settle, never fail as `worker_lost`.
        self.retry_held().await;
        let calls = self.db.exhausted(now_ms(), i64::from(self.config.max_attempts)).await?;
        let mut failed = 0;
        for call in calls {
            if self.settle_held_on_lease(&call).await {
                continue;
            }
            let settled = SettledResult {
                output: None,
                output_base64: None,
                error: Some(ErrorBody {
                    code: "worker_lost".into(),
                    message: format!("no worker finished the job in {} attempts", call.attempts),
                }),
                cost: 0,
                charged: 0,
                instructions: 0,
                time_ms: 0,
                refund: call.attached_deposit as u64,
                peak_memory_bytes: 0,
                http: None,
                worker: None,
                receipt: None,
            };
            let lease = call.lease_id.clone().unwrap_or_default();
            // The failure is first recorded under the call's commit id (or a result committed
            // there first is settled instead): a late completion cannot apply its writes to a
            // call failed here. The guest store unreachable: tried again at the next tick.
            let Ok(finish) = self.claim_outcome(&call, finish_of(&call, &lease, CallStatus::Failed, settled, 0)).await else {
                continue;
            };
            let Ok(row) = self.db.finish(&finish).await else { continue };
            if let Some(view) = self.settled(&finish, row).await
                && view.status == CallStatus::Failed
            {
                failed += 1;
            }
        }
        Ok(failed)
    }
}

/// The settling write of `call`.
fn finish_of(call: &CallRow, lease_id: &str, status: CallStatus, settled: SettledResult, earnings: u64) -> Finish {
    Finish {
        call_id: call.id.clone(),
        lease_id: lease_id.to_owned(),
        status,
        charged: settled.charged as i64,
        result: settled,
        earnings: earnings as i64,
        now_ms: now_ms(),
        rows: Some(call.into()),
    }
}

fn insufficient_balance(required: i64, available: i64) -> ApiError {
    ApiError::payment("insufficient_balance", format!("the call needs {required} reserved; the key has {available} available"))
}

fn lease_lost() -> ApiError {
    ApiError::conflict("lease_lost", "this lease is not (or no longer) the call's lease; the call is settled or re-leased")
}

/// The first field (by name) in which two receipts differ.
fn first_difference(expected: &outlayer_protocol::Receipt, signed: &outlayer_protocol::Receipt) -> Option<&'static str> {
    if expected == signed {
        return None;
    }
    let e = serde_json::to_value(expected).ok()?;
    let s = serde_json::to_value(signed).ok()?;
    const FIELDS: [&str; 15] = [
        "call_id",
        "project",
        "wasm_sha256",
        "input_sha256",
        "output_sha256",
        "outcome",
        "instructions",
        "wall_ms",
        "peak_memory_bytes",
        "refund",
        "max_instructions",
        "max_memory_mb",
        "max_execution_seconds",
        "worker_id",
        "attestation_sha256",
    ];
    FIELDS.into_iter().find(|f| e.get(f) != s.get(f)).or_else(|| (expected != signed).then_some("receipt"))
}

fn limits_of(call: &CallRow) -> Limits {
    Limits {
        max_instructions: call.max_instructions as u64,
        max_memory_mb: call.max_memory_mb as u64,
        max_execution_seconds: call.max_execution_seconds as u64,
    }
}

/// Output value or error of a reported result: the output bytes are parsed as JSON here, once.
fn interpret(r: &ExecutionResult) -> (Option<serde_json::Value>, Option<ErrorBody>) {
    let output = &r.output;
    let fail = |code: &str, message: String| (None, Some(ErrorBody { code: code.to_owned(), message }));
    if !r.outcome.is_ok() {
        let tail = r.stderr_tail.clone().unwrap_or_default();
        let mut start = tail.len().saturating_sub(MAX_STDERR_TAIL_BYTES);
        while !tail.is_char_boundary(start) {
            start += 1;
        }
        let message = if tail.is_empty() { format!("execution ended with {}", r.outcome.kind()) } else { tail[start..].to_owned() };
        return fail(r.outcome.error_code(), message);
    }
    if output.len() > MAX_OUTPUT_BYTES {
        return fail("output_too_large", format!("output is {} bytes; the limit is {MAX_OUTPUT_BYTES}", output.len()));
    }
    match serde_json::from_slice(output) {
        Ok(v) => (Some(v), None),
        Err(e) => fail("invalid_output", format!("guest stdout is not JSON: {e}")),
    }
}

/// The public view of a call.
pub fn view(call: &CallRow) -> CallView {
    CallView {
        call_id: call.id.clone(),
        status: call.status,
        owner: call.project_owner.clone(),
        project: call.project_name.clone(),
        wasm_sha256: call.wasm_sha256.clone(),
        poll_url: CallView::poll_url(&call.id),
        attestation_url: CallView::attestation_url(&call.id, call.result.as_ref()),
        result: call.result.clone(),
    }
}
