//! SQLite backend: a file database for the embedded single-process mode.

use std::path::Path;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::ConnectOptions as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sqlx::{SqlSafeStr, Sqlite};
use tokio::sync::{Mutex, MutexGuard, mpsc, oneshot};

use super::group::{Done, GroupConn, GroupStats, HotWriter, Pending, WriteOp};
use super::sql::{call_columns, impl_backend, key_columns, lease_statement, worker_columns};
use crate::db::LookupCache;
use crate::error::CoordinatorError;

/// How long a writer waits for SQLite's single write lock before failing; concurrent calls queue
/// here instead of erroring with "database is locked".
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a background connection checkpoints the WAL into the database file. Often enough
/// that the WAL never reaches [`WRITER_AUTOCHECKPOINT_PAGES`] under load (≈ 20 pages a call), so
/// the group writer, which runs on a runtime thread, does not stop to checkpoint by itself: every
/// 100 ms it did, and p99 at 1 connection was 12.0 ms; every 25 ms it is 3.2 ms (19.2 → 12.0 ms at
/// 32 connections; calls/s unchanged, docs/performance.md "Round five").
pub const SQLITE_CHECKPOINT_INTERVAL: Duration = Duration::from_millis(25);
/// WAL frames (pages) past which the checkpointer truncates the WAL (16,384 × 4 KiB = 64 MiB):
/// bounds the WAL file under sustained writes, where passive checkpoints never catch up.
pub const WAL_TRUNCATE_FRAMES: i64 = 16_384;
/// WAL size (pages) at which a writer checkpoints by itself: a safety net behind the background
/// checkpoints (SQLite's default, 1000, made the writer stop every ~150 calls).
pub const WRITER_AUTOCHECKPOINT_PAGES: u32 = 10_000;
/// Read connections (readers run in parallel in WAL mode).
pub const SQLITE_MAX_CONNECTIONS: u32 = 8;

/// The SQLite implementation of [`crate::db::Backend`].
///
/// Connections are held directly rather than through an `sqlx` pool: a pool pings the connection
/// (a round trip to the connection's thread) when lending it and again when it comes back, which
/// tripled the cost of every query. Writes queue on one async mutex (the sqlx write connection's):
/// SQLite has one write lock, and several writing connections would wait for it in SQLite's busy
/// handler, which sleeps (1, 2, 5, 10… ms); queueing on the mutex keeps writers in order and
/// awake. The group writer's own connection ([`HotWriter`], for the hot writes) is used only
/// under that mutex too.
#[derive(Clone)]
pub struct SqliteBackend {
    inner: Arc<Conns>,
}

struct Conns {
    readers: Vec<Mutex<SqliteConnection>>,
    next: AtomicUsize,
    writer: Mutex<SqliteConnection>,
    /// The group writer's connection: used only while `writer` is held.
    hot: std::sync::Mutex<HotWriter>,
    lookups: LookupCache,
    /// The group writer's queue (see `group.rs`): enqueue, finish, finish and lease.
    ops: mpsc::UnboundedSender<Pending>,
    stats: Arc<GroupStats>,
    /// Hot writes sent to the group writer and not answered yet (see [`InFlight`]).
    in_flight: AtomicUsize,
    /// Whether a lone hot write may run inline (see [`SqliteBackend::group`]).
    inline: std::sync::atomic::AtomicBool,
}

/// Counts a hot write from when it is handed to the group writer until its answer arrives or its
/// caller stops waiting.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBackend").field("readers", &self.inner.readers.len()).finish()
    }
}

impl SqliteBackend {
    /// Opens (creating if missing) the database file and applies the migrations in
    /// `migrations/sqlite`.
    pub async fn connect(path: &Path) -> Result<Self, CoordinatorError> {
        // Call inputs and outputs live here: the file (and so its -wal and -shm) is 0600 from
        // creation, never created by SQLite under the process umask.
        crate::files::create_private_file(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .foreign_keys(true);
        let mut writer = options.clone().pragma("wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES.to_string()).connect().await?;
        migrator().run(&mut writer).await?;
        let hot = HotWriter::open(path, SQLITE_BUSY_TIMEOUT, WRITER_AUTOCHECKPOINT_PAGES)?;
        let mut readers = Vec::new();
        for _ in 0..SQLITE_MAX_CONNECTIONS {
            readers.push(Mutex::new(options.connect().await?));
        }
        let (ops, queue) = mpsc::unbounded_channel();
        let stats = Arc::new(GroupStats::default());
        let inner = Arc::new(Conns {
            readers,
            next: AtomicUsize::new(0),
            writer: Mutex::new(writer),
            hot: std::sync::Mutex::new(hot),
            lookups: LookupCache::default(),
            ops,
            stats: stats.clone(),
            in_flight: AtomicUsize::new(0),
            inline: std::sync::atomic::AtomicBool::new(true),
        });
        // The group writer: ends when the backend is dropped (its queue's sender with it).
        tokio::spawn(super::group::write_groups(Arc::downgrade(&inner), stats, queue));
        // Checkpoint the WAL from a connection of its own, so the writer does not stop to copy
        // pages back and sync the file (PASSIVE: never waits for, nor blocks, readers and the
        // writer). Ends when the backend is dropped.
        let mut checkpointer = options.connect().await?;
        let alive = Arc::downgrade(&inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SQLITE_CHECKPOINT_INTERVAL);
            loop {
                tick.tick().await;
                if alive.strong_count() == 0 {
                    break;
                }
                // (busy, frames in the WAL, frames checkpointed)
                let passive: Result<(i64, i64, i64), _> =
                    sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&mut checkpointer).await;
                let result = match passive {
                    // Readers kept the checkpoint from ever reaching the end of a WAL that passed
                    // its bound (sustained load): one TRUNCATE (waits for them, briefly holding
                    // writers back) copies it all back and empties the file.
                    Ok((_, frames, _)) if frames > WAL_TRUNCATE_FRAMES => {
                        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut checkpointer).await.map(|_| ())
                    }
                    other => other.map(|_| ()),
                };
                if let Err(e) = result
                    && let Some(suppressed) = crate::logflood::BACKGROUND.admit("wal checkpoint")
                {
                    tracing::warn!(error = %e, suppressed, "WAL checkpoint failed");
                }
            }
        });
        Ok(Self { inner })
    }

    /// A read connection: a free one if any, else the next in turn.
    pub(super) async fn read(&self) -> Result<MutexGuard<'_, SqliteConnection>, StoreError> {
        let readers = &self.inner.readers;
        if let Some(free) = readers.iter().find_map(|c| c.try_lock().ok()) {
            return Ok(free);
        }
        let i = self.inner.next.fetch_add(1, Ordering::Relaxed) % readers.len();
        Ok(readers[i].lock().await)
    }

    /// Projects and keys kept in memory: every write to this database file goes through this
    /// process (the embedded mode runs one coordinator per file).
    fn lookups(&self) -> Option<&LookupCache> {
        Some(&self.inner.lookups)
    }

    /// Other replicas to tell of a change to cached rows: none (one coordinator process per
    /// database file forgets them itself).
    async fn announce(&self, _tx: &mut sqlx::Transaction<'_, Sqlite>, _change: &crate::db::LookupChange) -> Result<(), StoreError> {
        Ok(())
    }

    /// The write connection (writers queue here in order).
    pub(super) async fn write(&self) -> Result<MutexGuard<'_, SqliteConnection>, StoreError> {
        Ok(self.inner.write().await)
    }

    /// Runs a hot write; what it did, once committed. When nothing else is being written it runs
    /// here and now, as a group of one (one connection, one request: no hand-off to the writer task
    /// and no wake-up back); otherwise it joins the group writer's next group.
    async fn group(&self, op: WriteOp) -> Result<Done, StoreError> {
        let inner = &*self.inner;
        if inner.inline.load(Ordering::Relaxed)
            && inner.in_flight.load(Ordering::Acquire) == 0
            && let Ok(_writer) = inner.writer.try_lock()
        {
            inner.stats.groups.fetch_add(1, Ordering::Relaxed);
            inner.stats.ops.fetch_add(1, Ordering::Relaxed);
            return inner.hot.lock().unwrap_or_else(|e| e.into_inner()).run_one(&op);
        }
        let _counted = InFlight::new(&inner.in_flight);
        let (reply, answer) = oneshot::channel();
        match inner.ops.send((op, reply)) {
            // The writer answers every operation it takes; no answer = its runtime is gone.
            Ok(()) => answer.await.unwrap_or(Err(StoreError::Database(sqlx::Error::WorkerCrashed))),
            // The writer task is gone (the runtime that started it ended): the operation alone.
            Err(mpsc::error::SendError((op, _))) => inner.run_one(&op).await,
        }
    }

    /// Sends every hot write through the group writer, even when nothing else is being written
    /// (for tests of the writer's groups; the default runs a lone write inline).
    #[doc(hidden)]
    pub fn always_group(&self) {
        self.inner.inline.store(false, Ordering::Relaxed);
    }

    /// What the group writer did so far: (groups, operations in them, groups that failed and
    /// ran again one operation at a time).
    pub fn group_stats(&self) -> (u64, u64, u64) {
        self.inner.stats.snapshot()
    }
}

impl Conns {
    /// The write connection (writers queue here in order).
    async fn write(&self) -> MutexGuard<'_, SqliteConnection> {
        self.writer.lock().await
    }
}

#[async_trait::async_trait]
impl GroupConn for Conns {
    /// Under the write lock, on the [`HotWriter`], on this thread (see `group.rs`).
    async fn run(&self, ops: &[&WriteOp]) -> Result<Vec<Done>, StoreError> {
        let _writer = self.write().await;
        self.hot.lock().unwrap_or_else(|e| e.into_inner()).run(ops)
    }
}

fn migrator() -> Migrator {
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            "init".into(),
            MigrationType::Simple,
            include_str!("../../migrations/sqlite/0001_init.sql").into_sql_str(),
            false,
        ),
        // Attested workers, single-use challenges, the hard end of a lease.
        Migration::new(
            2,
            "attestation".into(),
            MigrationType::Simple,
            include_str!("../../migrations/sqlite/0002_attestation.sql").into_sql_str(),
            false,
        ),
        // Outbound HTTP: the project's http allowlist, and the one each call was accepted with.
        Migration::new(
            3,
            "http_allowlist".into(),
            MigrationType::Simple,
            include_str!("../../migrations/sqlite/0003_http_allowlist.sql").into_sql_str(),
            false,
        ),
        // The dashboard's indexes (calls by project / by key, ledger by call).
        Migration::new(
            4,
            "dashboard".into(),
            MigrationType::Simple,
            include_str!("../../migrations/sqlite/0004_dashboard.sql").into_sql_str(),
            false,
        ),
        // Sealed project secrets, and the secrets_ref of each call.
        Migration::new(
            5,
            "secrets".into(),
            MigrationType::Simple,
            include_str!("../../migrations/sqlite/0005_secrets.sql").into_sql_str(),
            false,
        ),
        // Builds from source (issue 15).
        Migration::new(
            6,
            "builds".into(),
            MigrationType::Simple,
            include_str!("../../migrations/sqlite/0006_builds.sql").into_sql_str(),
            false,
        ),
        // Retention: finished calls by settle time, calls by worker, ledger by age.
        Migration::new(
            7,
            "retention".into(),
            MigrationType::Simple,
            include_str!("../../migrations/sqlite/0007_retention.sql").into_sql_str(),
            false,
        ),
        // Sign-in with a NEAR account: single-use NEP-413 challenges.
        Migration::new(
            8,
            "signin".into(),
            MigrationType::Simple,
            include_str!("../../migrations/sqlite/0008_signin.sql").into_sql_str(),
            false,
        ),
        // Money has a source: credit sources on ledger lines, deposits, chain cursors, withdrawals.
        Migration::new(
            9,
            "money".into(),
            MigrationType::Simple,
            include_str!("../../migrations/sqlite/0009_money.sql").into_sql_str(),
            false,
        ),
        // One project registry: where a project comes from, where a chain version was fetched from.
        Migration::new(
            10,
            "registry".into(),
            MigrationType::Simple,
            include_str!("../../migrations/sqlite/0010_registry.sql").into_sql_str(),
            false,
        ),
        // The queue split by what a lease looks for: queued calls by age, expired leases by expiry.
        Migration::new(
            11,
            "lease_indexes".into(),
            MigrationType::Simple,
            include_str!("../../migrations/sqlite/0011_lease_indexes.sql").into_sql_str(),
            false,
        ),
    ])
}

// The hot writes (enqueue, finish, finish and lease) go through the group writer (`group.rs`).
impl_backend!(SqliteBackend, Sqlite, begin = "BEGIN IMMEDIATE", lock = "", grouped);

super::retention::impl_retention!(SqliteBackend, Sqlite, begin = "BEGIN IMMEDIATE");

super::secrets::impl_secrets!(SqliteBackend);

super::signin::impl_signin!(SqliteBackend, begin = "BEGIN IMMEDIATE");

super::registry::impl_registry!(SqliteBackend, begin = "BEGIN IMMEDIATE");

super::money::impl_money!(SqliteBackend, Sqlite, begin = "BEGIN IMMEDIATE", lock_owner = "SELECT name FROM owners WHERE name = $1");
