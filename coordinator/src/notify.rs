//! Wake-ups: "a job was queued" (wakes long-polling workers) and "call X settled" (wakes the
//! synchronous `POST /call` waiting for it). Always delivered in-process; with Redis also
//! published so other coordinator replicas wake their waiters.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, oneshot, watch};

use crate::db::CallRow;
use crate::redis_link::RedisLink;

/// Redis channel carrying ids of settled calls.
pub const CALLS_CHANNEL: &str = "outlayer:calls:settled";
/// Redis channel announcing queued jobs.
pub const JOBS_CHANNEL: &str = "outlayer:jobs:queued";

/// What the waiters of one call share: the wake-up and, when the call was settled in this
/// process, its settled row (so waiters need not read it back from the database).
#[derive(Debug, Default)]
pub struct CallWaiter {
    /// Notified (`notify_waiters`) when the call settles.
    pub notify: Notify,
    settled: Mutex<Option<CallRow>>,
}

impl CallWaiter {
    /// The settled row, if the call was settled in this process after this waiter registered.
    pub fn settled(&self) -> Option<CallRow> {
        self.settled.lock().expect("waiter lock").clone()
    }
}

/// The notification hub of one coordinator process.
#[derive(Debug)]
pub struct Hub {
    jobs: Notify,
    calls: Mutex<HashMap<String, Arc<CallWaiter>>>,
    redis: Option<Arc<RedisLink>>,
    shutdown: watch::Sender<bool>,
    /// Lease requests of this process waiting for a job (the lease shortcut).
    pub idle: IdleSlots,
}

impl Hub {
    /// A hub, optionally bridged through Redis.
    pub fn new(redis: Option<Arc<RedisLink>>) -> Self {
        Self {
            jobs: Notify::new(),
            calls: Mutex::new(HashMap::new()),
            redis,
            shutdown: watch::channel(false).0,
            idle: IdleSlots::default(),
        }
    }

    /// The Redis link, if configured.
    pub fn redis(&self) -> Option<&Arc<RedisLink>> {
        self.redis.as_ref()
    }

    /// Announces a queued job: wakes one local long-poll and, through Redis, the other replicas.
    pub fn job_queued(&self) {
        self.jobs.notify_one();
        if let Some(redis) = &self.redis {
            redis.publish(JOBS_CHANNEL, "1");
        }
    }

    /// Announces a settled call locally (handing local waiters its settled `row`, if given) and
    /// through Redis.
    pub fn call_settled(&self, call_id: &str, row: Option<&CallRow>) {
        self.wake_call(call_id, row);
        if let Some(redis) = &self.redis {
            redis.publish(CALLS_CHANNEL, call_id);
        }
    }

    /// Wakes local waiters of a call (also used by the Redis subscriber).
    pub fn local_call_settled(&self, call_id: &str) {
        self.wake_call(call_id, None);
    }

    fn wake_call(&self, call_id: &str, row: Option<&CallRow>) {
        let waiter = self.calls.lock().expect("calls lock").remove(call_id);
        if let Some(waiter) = waiter {
            if let Some(row) = row {
                *waiter.settled.lock().expect("waiter lock") = Some(row.clone());
            }
            waiter.notify.notify_waiters();
            // A waiter registered but not yet listening (between queueing its call and its first
            // wait) finds this permit when it listens: a settlement announced through Redis, which
            // carries no row, is not missed until the re-check interval.
            waiter.notify.notify_one();
        }
    }

    /// Counts a job another replica queued and wakes one local job waiter (used by the Redis
    /// subscriber).
    pub fn local_job_queued(&self) {
        self.idle.queued();
        self.jobs.notify_one();
    }

    /// Waits until a job may be available (a permit is stored if nobody was waiting).
    pub async fn job_wakeup(&self) {
        self.jobs.notified().await;
    }

    /// The waiter entry of `call_id`: enable its `notify` *before* re-checking the database (or
    /// register it before queueing the call).
    pub fn call_waiter(&self, call_id: &str) -> Arc<CallWaiter> {
        self.calls.lock().expect("calls lock").entry(call_id.to_owned()).or_default().clone()
    }

    /// Drops the waiter entry of a call when its last waiter leaves.
    pub fn release_waiter(&self, call_id: &str, waiter: Arc<CallWaiter>) {
        let mut calls = self.calls.lock().expect("calls lock");
        if let Some(entry) = calls.get(call_id)
            && Arc::ptr_eq(entry, &waiter)
            && Arc::strong_count(&waiter) == 2
        {
            calls.remove(call_id);
        }
    }

    /// Tells long-polls and sync waiters to return now.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// A receiver that turns `true` at shutdown.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Waits until shutdown begins.
    pub async fn until_shutdown(mut rx: watch::Receiver<bool>) {
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

/// Lease requests of this process that wait for a job (an embedded worker's idle slots, or a
/// worker's long-poll): a new call can be queued already leased to one of them and handed over in
/// memory, saving the lease's own transaction and wake-up.
///
/// The hand-off cannot drop a job: a waiter that stops waiting [`IdleSlots::withdraw`]s first;
/// if it was claimed meanwhile, it waits for the claim's outcome (the job, or nothing if the claim
/// is dropped: the enqueue failed or was cancelled) before returning. Only if the waiter itself is
/// cancelled (its request dropped) after a claim is a job leased to nobody: its lease expires and
/// it is leased again, as a job leased to a crashed worker.
#[derive(Debug, Default)]
pub struct IdleSlots {
    inner: Mutex<Idle>,
}

#[derive(Debug, Default)]
struct Idle {
    next: u64,
    slots: VecDeque<IdleSlot>,
    /// Counts jobs queued (not handed) by this process.
    queued: u64,
    /// `queued` before the last lease that found no job, and when it ran.
    empty: Option<(u64, std::time::Instant)>,
}

#[derive(Debug)]
struct IdleSlot {
    id: u64,
    worker_id: String,
    tx: oneshot::Sender<CallRow>,
}

/// An idle lease request taken by an enqueuer: [`Claim::hand`] gives it the call (committed as
/// leased to [`Claim::worker_id`]); dropping the claim unblocks the waiter with nothing.
#[derive(Debug)]
pub struct Claim {
    /// The worker the call is leased to.
    pub worker_id: String,
    tx: oneshot::Sender<CallRow>,
}

impl Claim {
    /// Hands the leased call over; `false` if the waiter is gone (the lease then expires).
    pub fn hand(self, call: CallRow) -> bool {
        self.tx.send(call).is_ok()
    }
}

/// A registered idle lease request (see [`IdleSlots::register`]); withdrawn when dropped.
#[derive(Debug)]
pub struct Idling<'a> {
    slots: &'a IdleSlots,
    id: u64,
    withdrawn: bool,
    /// Resolves with a handed call, or with an error if a claim was dropped.
    pub handed: oneshot::Receiver<CallRow>,
}

impl Idling<'_> {
    /// Stops waiting: `true` if the request was still idle (nothing will be handed to it),
    /// `false` if it was claimed (await [`Idling::handed`] for the outcome).
    pub fn withdraw(&mut self) -> bool {
        self.withdrawn = true;
        self.slots.remove(self.id)
    }
}

impl Drop for Idling<'_> {
    fn drop(&mut self) {
        if !self.withdrawn {
            self.slots.remove(self.id);
        }
    }
}

impl IdleSlots {
    fn lock(&self) -> std::sync::MutexGuard<'_, Idle> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a lease request of `worker_id` waiting for a job.
    pub fn register(&self, worker_id: &str) -> Idling<'_> {
        let (tx, handed) = oneshot::channel();
        let mut idle = self.lock();
        idle.next += 1;
        let id = idle.next;
        idle.slots.push_back(IdleSlot { id, worker_id: worker_id.to_owned(), tx });
        Idling { slots: self, id, withdrawn: false, handed }
    }

    fn remove(&self, id: u64) -> bool {
        let mut idle = self.lock();
        match idle.slots.iter().position(|s| s.id == id) {
            Some(i) => {
                idle.slots.remove(i);
                true
            }
            None => false,
        }
    }

    /// Counts a job queued in the database without a hand-off (call before waking a worker).
    pub fn queued(&self) -> u64 {
        let mut idle = self.lock();
        idle.queued += 1;
        idle.queued
    }

    /// The count of [`IdleSlots::queued`] now: read it before a lease, give it to
    /// [`IdleSlots::found_empty`] if the lease found nothing.
    pub fn queued_count(&self) -> u64 {
        self.lock().queued
    }

    /// A lease that began when [`IdleSlots::queued_count`] was `count` found no job.
    pub fn found_empty(&self, count: u64) {
        let mut idle = self.lock();
        if idle.empty.is_none_or(|(c, _)| c <= count) {
            idle.empty = Some((count, std::time::Instant::now()));
        }
    }

    /// Whether a lease is known to find nothing now: one found nothing less than `within` ago and
    /// no job was queued since. Jobs queued by other processes, and expired leases, are not
    /// counted: only a process that queues every job itself may skip a lease on this (and only
    /// for `within`, after which expired leases are looked for again).
    pub fn known_empty(&self, within: std::time::Duration) -> bool {
        let idle = self.lock();
        idle.empty.is_some_and(|(c, at)| c == idle.queued && at.elapsed() < within)
    }

    /// How many lease requests wait now.
    pub fn waiting(&self) -> usize {
        self.lock().slots.iter().filter(|s| !s.tx.is_closed()).count()
    }

    /// Takes the most recently idle request still waiting, if any.
    pub fn claim(&self) -> Option<Claim> {
        let mut idle = self.lock();
        while let Some(slot) = idle.slots.pop_back() {
            if !slot.tx.is_closed() {
                return Some(Claim { worker_id: slot.worker_id, tx: slot.tx });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_settlement_announced_before_the_waiter_listens_is_not_missed() {
        let hub = Hub::new(None);
        // Registered when the call is queued; the settlement (through Redis: no row) arrives
        // before the waiter starts listening.
        let waiter = hub.call_waiter("call-1");
        hub.local_call_settled("call-1");
        let woken = tokio::time::timeout(Duration::from_millis(200), waiter.notify.notified()).await;
        assert!(woken.is_ok(), "the wake-up was lost: the caller would wait for the re-check interval");
        assert!(waiter.settled().is_none(), "a remote settlement hands no row");
    }

    #[tokio::test]
    async fn a_claimed_slot_that_withdraws_still_gets_its_job_or_nothing() {
        let idle = IdleSlots::default();
        // Claimed, then the slot gives up: it must wait for the claim's outcome.
        let mut a = idle.register("w");
        let claim = idle.claim().expect("an idle slot");
        assert!(!a.withdraw(), "a claimed slot is no longer idle");
        assert!(a.handed.try_recv().is_err(), "nothing handed yet");
        drop(claim);
        assert!((&mut a.handed).await.is_err(), "a dropped claim hands nothing and unblocks the slot");
        // Not claimed: withdrawing leaves nothing to hand to it.
        let mut b = idle.register("w");
        assert!(b.withdraw());
        assert!(idle.claim().is_none(), "a withdrawn slot is never claimed");
        // A slot whose request was dropped is skipped.
        drop(idle.register("gone"));
        let c = idle.register("w");
        drop(idle.register("gone"));
        assert_eq!(idle.claim().map(|c| c.worker_id).as_deref(), Some("w"));
        drop(c);
        assert!(idle.lock().slots.is_empty(), "dropped requests leave nothing behind");
    }
}
