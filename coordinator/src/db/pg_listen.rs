//! The lookups every call makes (its payment key, its project) kept in memory on PostgreSQL too,
//! exact across replicas: a write that changes a cached row announces it with `NOTIFY` in its own
//! transaction (so the announcement goes out exactly when the change commits), and every
//! replica's listener — a connection of its own that `LISTEN`s — forgets what changed.
//!
//! The cache is used only while the listener is connected and listening: when its connection
//! ends, the cache is switched off and emptied (an announcement may have been missed), and it is
//! switched on again, empty, once a new connection listens. A read that raced a change cannot
//! cache what it read before the change ([`LookupCache`]'s generation). What stays possible is a
//! read on one replica in the instant between another replica's commit and the arrival of its
//! announcement, as if the read had come a moment earlier; the writes that matter re-check inside
//! their own statement anyway (the reservation checks that the key is not revoked and holds the
//! balance).
//!
//! Reading both rows from the pool cost a call about a third of everything it costs on
//! PostgreSQL: `scripts/ab.sh`, 1 connection 476 → 648 calls/s, 32 connections 1,453 → 1,876,
//! both processes' CPU per call −35 % (docs/performance.md, "Round six").

use std::future::Future;
use std::sync::Weak;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicI32;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::time::Duration;

use futures::StreamExt as _;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use super::{LookupCache, LookupChange};

/// The longest PostgreSQL identifier (`NAMEDATALEN` − 1).
const MAX_CHANNEL: usize = 63;

/// How long the listener waits before connecting again after its connection ended.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// The cache and whether it may be used (see the module docs).
#[derive(Debug, Default)]
pub(super) struct SharedLookups {
    cache: LookupCache,
    live: AtomicBool,
    /// The notification channel: `outlayer_lookups`, or `outlayer_lookups_<schema>`.
    pub channel: String,
    /// The server process of the listener's connection (0 when there is none; for tests).
    pub pid: AtomicI32,
}

impl SharedLookups {
    /// `schema` is a validated schema name ([A-Za-z0-9_]+).
    pub fn new(schema: Option<&str>) -> Self {
        let mut channel = match schema {
            Some(s) => format!("outlayer_lookups_{s}"),
            None => "outlayer_lookups".into(),
        };
        // A channel is an identifier: at most 63 bytes (`pg_notify` refuses a longer one, `LISTEN`
        // would cut it). Two schemas sharing a 46-character prefix then share a channel, which
        // only costs each the other's announcements.
        channel.truncate(MAX_CHANNEL);
        Self { channel, ..Self::default() }
    }

    /// The cache, while the listener listens.
    pub fn live(&self) -> Option<&LookupCache> {
        self.live.load(Acquire).then_some(&self.cache)
    }

    fn switch_off(&self) {
        self.live.store(false, Release);
        self.pid.store(0, Relaxed);
        self.cache.forget_all();
    }
}

/// The listener task: connects, listens, forgets what each announcement names; after its
/// connection ends, switches the cache off and connects again. Ends when the backend is dropped
/// or `closed` fires.
pub(super) async fn listen(config: tokio_postgres::Config, lookups: Weak<SharedLookups>, closed: impl Future<Output = ()>) {
    let mut closed = std::pin::pin!(closed);
    loop {
        let Some(channel) = lookups.upgrade().map(|l| l.channel.clone()) else { return };
        tokio::select! {
            ended = session(&config, &channel, &lookups) => {
                if let Err(e) = ended {
                    tracing::warn!(error = %e, "the lookup listener's PostgreSQL connection failed; lookups are read from the database until it is back");
                }
            }
            _ = &mut closed => return,
        }
        let Some(l) = lookups.upgrade() else { return };
        l.switch_off();
        drop(l);
        tokio::select! {
            _ = tokio::time::sleep(RECONNECT_AFTER) => {}
            _ = &mut closed => return,
        }
    }
}

/// One connection's life: `LISTEN`, switch the cache on (empty), forget what each announcement
/// names until the connection ends.
async fn session(config: &tokio_postgres::Config, channel: &str, lookups: &Weak<SharedLookups>) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (notes, mut received) = mpsc::unbounded_channel();
    // The connection is driven here (not spawned as a plain future) to see its notifications.
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if notes.send(n.payload().to_owned()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the lookup listener's PostgreSQL connection ended");
                    return;
                }
            }
        }
    });
    // The channel name is `outlayer_lookups` plus a schema name validated as [A-Za-z0-9_]+.
    client.batch_execute(&format!("LISTEN \"{channel}\"")).await?;
    let pid: i32 = client.query_one("SELECT pg_backend_pid()", &[]).await?.try_get(0)?;
    match lookups.upgrade() {
        Some(l) => {
            l.cache.forget_all();
            l.pid.store(pid, Relaxed);
            l.live.store(true, Release);
        }
        None => return Ok(()),
    }
    while let Some(payload) = received.recv().await {
        let Some(l) = lookups.upgrade() else { return Ok(()) };
        match LookupChange::parse(&payload) {
            Some(change) => l.cache.forget(&change),
            None => l.cache.forget_all(),
        }
    }
    // The connection ended (the driver task returned).
    drop(client);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_is_a_postgresql_identifier() {
        assert_eq!(SharedLookups::new(None).channel, "outlayer_lookups");
        assert_eq!(SharedLookups::new(Some("tenant_1")).channel, "outlayer_lookups_tenant_1");
        let long = "s".repeat(63);
        assert_eq!(SharedLookups::new(Some(&long)).channel.len(), 63);
    }

    #[test]
    fn announcements_round_trip() {
        for change in [LookupChange::Projects, LookupChange::Key { owner: "alice:x.near".into(), nonce: 7 }] {
            assert_eq!(LookupChange::parse(&change.payload()), Some(change));
        }
        assert_eq!(LookupChange::parse("k:x:alice"), None);
        assert_eq!(LookupChange::parse("something else"), None);
    }
}
