//! The Redis connection: publishing, the subscriber task, and health. Every operation has a
//! timeout; failures mark the link unhealthy and the coordinator degrades to in-process
//! notification, a short database re-check and in-process rate limiting.
//!
//! Announcements ("a job was queued", "a call settled") are best effort: [`RedisLink::publish`]
//! queues them and returns, and one publisher task sends whatever queued meanwhile in one
//! pipelined round trip. A call's path never waits for Redis to hear it (it did, twice per call
//! under load), and a busy coordinator sends one batch per round trip rather than a command per
//! message.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use redis::aio::ConnectionManager;
use tokio::sync::{RwLock, mpsc};

use crate::notify::{CALLS_CHANNEL, Hub, JOBS_CHANNEL};

/// Longest a single Redis command may take before the caller falls back.
pub const REDIS_OP_TIMEOUT: Duration = Duration::from_millis(500);
/// Pause between reconnection attempts while Redis is down.
pub const REDIS_RETRY_INTERVAL: Duration = Duration::from_secs(2);
/// Announcements waiting for the publisher; more are dropped (they are best effort, and the
/// waiters they would wake re-check the database).
pub const PUBLISH_QUEUE: usize = 4096;
/// Most announcements sent in one pipelined round trip.
const PUBLISH_BATCH: usize = 256;

/// A Redis client that may be down.
#[derive(Debug)]
pub struct RedisLink {
    client: redis::Client,
    conn: RwLock<Option<ConnectionManager>>,
    healthy: AtomicBool,
    /// This process's id, sent as the payload of its "job queued" announcements: the subscriber
    /// ignores its own (the process already woke one of its own long-polls when it queued the
    /// job; waking a second one for the same job cost an empty lease statement per call).
    origin: String,
    /// Announcements for the publisher task: (channel, payload).
    outbox: mpsc::Sender<(&'static str, String)>,
    /// The publisher's end, until [`RedisLink::run`] starts it.
    outbox_rx: std::sync::Mutex<Option<mpsc::Receiver<(&'static str, String)>>>,
}

impl RedisLink {
    /// Parses the URL; does not connect (see [`RedisLink::run`]).
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        let (outbox, outbox_rx) = mpsc::channel(PUBLISH_QUEUE);
        Ok(Self {
            client: redis::Client::open(url)?,
            conn: RwLock::new(None),
            healthy: AtomicBool::new(false),
            origin: uuid::Uuid::new_v4().to_string(),
            outbox,
            outbox_rx: std::sync::Mutex::new(Some(outbox_rx)),
        })
    }

    /// `true` while connected and subscribed.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// A command connection, if one is up.
    pub async fn connection(&self) -> Option<ConnectionManager> {
        if !self.healthy() {
            return None;
        }
        self.conn.read().await.clone()
    }

    /// Marks the link down after a failed command.
    pub fn mark_down(&self, err: &dyn std::fmt::Display) {
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(error = %err, "redis unavailable; degrading to in-process mode");
        }
    }

    /// Queues an announcement for the publisher task, best effort: nothing while Redis is down,
    /// dropped if [`PUBLISH_QUEUE`] are already waiting. On [`JOBS_CHANNEL`] the payload is
    /// replaced by this process's origin id (receivers of any version treat any payload there as
    /// "a job was queued").
    pub fn publish(&self, channel: &'static str, payload: &str) {
        if !self.healthy() {
            return;
        }
        let payload = if channel == JOBS_CHANNEL { self.origin.as_str() } else { payload };
        if self.outbox.try_send((channel, payload.to_owned())).is_err() {
            tracing::debug!(channel, "redis announcement dropped: the publisher is behind");
        }
    }

    /// The publisher task: sends the queued announcements, as many as are waiting (up to
    /// [`PUBLISH_BATCH`]) in one pipeline, until the link is dropped or shuts down.
    async fn publish_queued(
        self: Arc<Self>,
        mut outbox: mpsc::Receiver<(&'static str, String)>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut batch = Vec::with_capacity(PUBLISH_BATCH);
        loop {
            tokio::select! {
                taken = outbox.recv_many(&mut batch, PUBLISH_BATCH) => if taken == 0 { return },
                _ = stop.wait_for(|s| *s) => return,
            }
            if let Some(mut conn) = self.connection().await {
                let mut pipe = redis::pipe();
                for (channel, payload) in &batch {
                    pipe.cmd("PUBLISH").arg(*channel).arg(payload).ignore();
                }
                match tokio::time::timeout(REDIS_OP_TIMEOUT, pipe.query_async::<()>(&mut conn)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => self.mark_down(&e),
                    Err(_) => self.mark_down(&"publish timed out"),
                }
            }
            batch.clear();
        }
    }

    /// Connects, subscribes and forwards messages to `hub` until shutdown; reconnects every
    /// [`REDIS_RETRY_INTERVAL`] while Redis is down.
    pub async fn run(self: Arc<Self>, hub: Arc<Hub>) {
        let mut stop = hub.shutdown_signal();
        if let Some(outbox) = self.outbox_rx.lock().expect("outbox lock").take() {
            tokio::spawn(self.clone().publish_queued(outbox, stop.clone()));
        }
        loop {
            if *stop.borrow() {
                return;
            }
            tokio::select! {
                _ = self.session(&hub) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            self.healthy.store(false, Ordering::Relaxed);
            tokio::select! {
                _ = tokio::time::sleep(REDIS_RETRY_INTERVAL) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    async fn session(&self, hub: &Hub) {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_OP_TIMEOUT))
            .set_response_timeout(Some(REDIS_OP_TIMEOUT))
            .set_number_of_retries(1);
        let manager = match tokio::time::timeout(REDIS_OP_TIMEOUT * 2, self.client.get_connection_manager_with_config(config)).await {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => return tracing::debug!(error = %e, "redis connect failed"),
            Err(_) => return tracing::debug!("redis connect timed out"),
        };
        let mut pubsub = match tokio::time::timeout(REDIS_OP_TIMEOUT * 2, self.client.get_async_pubsub()).await {
            Ok(Ok(p)) => p,
            _ => return,
        };
        if pubsub.subscribe(CALLS_CHANNEL).await.is_err() || pubsub.subscribe(JOBS_CHANNEL).await.is_err() {
            return;
        }
        *self.conn.write().await = Some(manager);
        self.healthy.store(true, Ordering::Relaxed);
        tracing::info!("redis connected");
        let mut messages = pubsub.on_message();
        while let Some(msg) = messages.next().await {
            match msg.get_channel_name() {
                CALLS_CHANNEL => {
                    if let Ok(id) = msg.get_payload::<String>() {
                        hub.local_call_settled(&id);
                    }
                }
                JOBS_CHANNEL if msg.get_payload::<String>().map_or(true, |from| from != self.origin) => hub.local_job_queued(),
                _ => {}
            }
        }
        tracing::warn!("redis subscription ended");
    }
}
