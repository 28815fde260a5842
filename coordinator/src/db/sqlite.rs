//! SQLite backend: a file database for the embedded single-process mode.

use std::path::Path;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use sqlx::sqlite::{SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteRow, SqliteSynchronous};
use sqlx::{ConnectOptions as _, Executor as _};
use sqlx::{SqlSafeStr, Sqlite};
use tokio::sync::{Mutex, MutexGuard};

use super::sql::{call_columns, impl_backend, key_columns, worker_columns};
use crate::db::LookupCache;
use crate::error::CoordinatorError;

/// How long a writer waits for SQLite's single write lock before failing; concurrent calls queue
/// here instead of erroring with "database is locked".
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a background connection checkpoints the WAL into the database file.
pub const SQLITE_CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);
/// WAL frames (pages) past which the checkpointer truncates the WAL (16,384 × 4 KiB = 64 MiB):
/// bounds the WAL file under sustained writes, where passive checkpoints never catch up.
pub const WAL_TRUNCATE_FRAMES: i64 = 16_384;
/// WAL size (pages) at which the writer checkpoints by itself: a safety net behind the background
/// checkpoints (SQLite's default, 1000, made the writer stop every ~150 calls).
pub const WRITER_AUTOCHECKPOINT_PAGES: &str = "10000";
/// Read connections (readers run in parallel in WAL mode).
pub const SQLITE_MAX_CONNECTIONS: u32 = 8;

/// The SQLite implementation of [`crate::db::Backend`].
///
/// Connections are held directly rather than through an `sqlx` pool: a pool pings the connection
/// (a round trip to the connection's thread) when lending it and again when it comes back, which
/// tripled the cost of every query. Writes go through one connection: SQLite has one write lock,
/// and several writing connections would wait for it in SQLite's busy handler, which sleeps
/// (1, 2, 5, 10… ms); queueing on an async mutex instead keeps writers in order and awake.
#[derive(Clone)]
pub struct SqliteBackend {
    inner: Arc<Conns>,
}

struct Conns {
    readers: Vec<Mutex<SqliteConnection>>,
    next: AtomicUsize,
    writer: Mutex<SqliteConnection>,
    /// Set (under the writer lock) while a [`SqliteBackend::batch`] runs: if it is still set when
    /// the writer is next taken, the batch was cancelled and may have left its transaction open.
    dirty: AtomicBool,
    lookups: LookupCache,
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
        let mut writer = options.clone().pragma("wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES).connect().await?;
        migrator().run(&mut writer).await?;
        let mut readers = Vec::new();
        for _ in 0..SQLITE_MAX_CONNECTIONS {
            readers.push(Mutex::new(options.connect().await?));
        }
        let inner = Arc::new(Conns {
            readers,
            next: AtomicUsize::new(0),
            writer: Mutex::new(writer),
            dirty: AtomicBool::new(false),
            lookups: LookupCache::default(),
        });
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

    /// The write connection (writers queue here in order).
    pub(super) async fn write(&self) -> Result<MutexGuard<'_, SqliteConnection>, StoreError> {
        let mut conn = self.inner.writer.lock().await;
        if self.inner.dirty.load(Ordering::Acquire) {
            // A cancelled batch: roll back whatever it left open (an error here means it had
            // finished or never began, so there is nothing to roll back).
            let _ = (&mut *conn).execute("ROLLBACK").await;
            self.inner.dirty.store(false, Ordering::Release);
        }
        Ok(conn)
    }

    /// Runs a batch that begins with `BEGIN IMMEDIATE` and ends with `COMMIT` in one round trip
    /// to the connection's thread (an sqlx transaction would add two), returning its rows. On an
    /// error the transaction is rolled back here; if the caller is cancelled midway, by the next
    /// writer (see [`Conns::dirty`]).
    async fn batch(&self, q: sqlx::query::Query<'_, Sqlite, SqliteArguments>) -> Result<Vec<SqliteRow>, StoreError> {
        let mut conn = self.write().await?;
        self.inner.dirty.store(true, Ordering::Release);
        let rows = q.fetch_all(&mut *conn).await;
        if rows.is_err() {
            let _ = (&mut *conn).execute("ROLLBACK").await;
        }
        self.inner.dirty.store(false, Ordering::Release);
        Ok(rows?)
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
    ])
}

/// `enqueue` as one batch (one transaction, one round trip): every statement after the
/// reservation runs only if the statement before it changed what it should (`changes()`); the
/// last returns a row if the call was queued.
const ENQUEUE: &str = concat!(
    "BEGIN IMMEDIATE; \
     UPDATE payment_keys SET reserved = reserved + $16 WHERE owner = $7 AND nonce = $8 \
     AND revoked = 0 AND balance - spent - reserved >= $16; \
     INSERT INTO calls (",
    call_columns!(),
    ") SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26 WHERE changes() = 1; \
     INSERT INTO ledger (owner, nonce, call_id, kind, amount, created_ms) \
     SELECT $7, $8, $1, 'reserve', $16, $22 WHERE changes() = 1; \
     SELECT 1 AS queued WHERE changes() = 1; \
     COMMIT;"
);

/// The statements of `finish`, chained the same way: the call (1 row), its key (1 row), the two
/// ledger lines (2 rows), then the earnings of a completed call. The charge is clamped to the call's
/// reservation and the earnings to the charge.
macro_rules! finish_statements {
    () => {
        concat!(
            "UPDATE calls SET status = $3, result = $4, completed_ms = $5, lease_expires_ms = NULL \
     WHERE id = $1 AND lease_id = $2 AND status = 'leased' RETURNING ",
            call_columns!(),
            "; \
     UPDATE payment_keys SET reserved = reserved - (SELECT reserved FROM calls WHERE id = $1), \
     spent = spent + (SELECT MIN(MAX($6, 0), reserved) FROM calls WHERE id = $1) \
     WHERE changes() = 1 AND (owner, nonce) = (SELECT key_owner, key_nonce FROM calls WHERE id = $1); \
     INSERT INTO ledger (owner, nonce, call_id, kind, amount, created_ms) \
     SELECT key_owner, key_nonce, id, 'settle', MIN(MAX($6, 0), reserved), $5 FROM calls WHERE id = $1 AND changes() = 1 \
     UNION ALL \
     SELECT key_owner, key_nonce, id, 'release', reserved - MIN(MAX($6, 0), reserved), $5 FROM calls WHERE id = $1 AND changes() = 1; \
     INSERT INTO earnings (owner, project_id, amount, calls) \
     SELECT project_owner, project_id, MIN(MAX($7, 0), MIN(MAX($6, 0), reserved)), 1 FROM calls \
     WHERE id = $1 AND changes() = 2 AND $3 = 'completed' \
     ON CONFLICT (owner, project_id) DO UPDATE SET amount = earnings.amount + excluded.amount, calls = earnings.calls + 1;"
        )
    };
}

/// `finish` in one transaction and round trip.
const FINISH: &str = concat!("BEGIN IMMEDIATE; ", finish_statements!(), " COMMIT;");

/// `finish`, then the lease of the next job for the worker that completed (binds 8..=13: lease id,
/// worker id, now, lease expiry, max attempts, grace), in one transaction and round trip. The
/// lease ends at the earlier of the expiry and its hard deadline (as in `lease`).
const FINISH_LEASE: &str = concat!(
    "BEGIN IMMEDIATE; ",
    finish_statements!(),
    " \
     UPDATE calls SET status = 'leased', lease_id = $8, worker_id = $9, \
     lease_deadline_ms = $10 + max_execution_seconds * 1000 + $13, \
     lease_expires_ms = CASE WHEN $11 < $10 + max_execution_seconds * 1000 + $13 THEN $11 \
     ELSE $10 + max_execution_seconds * 1000 + $13 END, \
     attempts = attempts + 1 \
     WHERE id = (SELECT id FROM calls WHERE status IN ('queued', 'leased') \
                 AND (status = 'queued' OR lease_expires_ms < $10) AND attempts < $12 \
                 ORDER BY created_ms LIMIT 1) \
     AND status IN ('queued', 'leased') AND (status = 'queued' OR lease_expires_ms < $10) \
     RETURNING ",
    call_columns!(),
    "; COMMIT;"
);

impl_backend!(
    SqliteBackend,
    Sqlite,
    begin = "BEGIN IMMEDIATE",
    lock = "",
    enqueue = ENQUEUE,
    finish = FINISH,
    finish_lease = Some(FINISH_LEASE)
);

super::retention::impl_retention!(SqliteBackend, Sqlite, begin = "BEGIN IMMEDIATE");

super::secrets::impl_secrets!(SqliteBackend);

super::signin::impl_signin!(SqliteBackend, begin = "BEGIN IMMEDIATE");

super::registry::impl_registry!(SqliteBackend, begin = "BEGIN IMMEDIATE");

super::money::impl_money!(SqliteBackend, Sqlite, begin = "BEGIN IMMEDIATE", lock_owner = "SELECT name FROM owners WHERE name = $1");
