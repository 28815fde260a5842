//! Wake-ups: "a job was queued" (wakes long-polling workers) and "call X settled" (wakes the
//! synchronous `POST /call` waiting for it). Always delivered in-process; with Redis also
//! published so other coordinator replicas wake their waiters.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, watch};

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
}

impl Hub {
    /// A hub, optionally bridged through Redis.
    pub fn new(redis: Option<Arc<RedisLink>>) -> Self {
        Self { jobs: Notify::new(), calls: Mutex::new(HashMap::new()), redis, shutdown: watch::channel(false).0 }
    }

    /// The Redis link, if configured.
    pub fn redis(&self) -> Option<&Arc<RedisLink>> {
        self.redis.as_ref()
    }

    /// Announces a queued job: wakes one local long-poll and, through Redis, the other replicas.
    pub async fn job_queued(&self) {
        self.jobs.notify_one();
        if let Some(redis) = &self.redis {
            redis.publish(JOBS_CHANNEL, "1").await;
        }
    }

    /// Announces a settled call locally (handing local waiters its settled `row`, if given) and
    /// through Redis.
    pub async fn call_settled(&self, call_id: &str, row: Option<&CallRow>) {
        self.wake_call(call_id, row);
        if let Some(redis) = &self.redis {
            redis.publish(CALLS_CHANNEL, call_id).await;
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

    /// Wakes one local job waiter (used by the Redis subscriber).
    pub fn local_job_queued(&self) {
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
}
