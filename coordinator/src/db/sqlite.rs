//! SQLite backend: a file database for the embedded single-process mode.

use std::path::Path;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::ConnectOptions as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sqlx::{SqlSafeStr, Sqlite};
use tokio::sync::{Mutex, MutexGuard};

use super::sql::{call_columns, impl_backend, key_columns, worker_columns};
use crate::error::CoordinatorError;

/// How long a writer waits for SQLite's single write lock before failing; concurrent calls queue
/// here instead of erroring with "database is locked".
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);
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
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .foreign_keys(true);
        let mut writer = options.connect().await?;
        migrator().run(&mut writer).await?;
        let mut readers = Vec::new();
        for _ in 0..SQLITE_MAX_CONNECTIONS {
            readers.push(Mutex::new(options.connect().await?));
        }
        Ok(Self { inner: Arc::new(Conns { readers, next: AtomicUsize::new(0), writer: Mutex::new(writer) }) })
    }

    /// A read connection: a free one if any, else the next in turn.
    async fn read(&self) -> Result<MutexGuard<'_, SqliteConnection>, StoreError> {
        let readers = &self.inner.readers;
        if let Some(free) = readers.iter().find_map(|c| c.try_lock().ok()) {
            return Ok(free);
        }
        let i = self.inner.next.fetch_add(1, Ordering::Relaxed) % readers.len();
        Ok(readers[i].lock().await)
    }

    /// The write connection (writers queue here in order).
    async fn write(&self) -> Result<MutexGuard<'_, SqliteConnection>, StoreError> {
        Ok(self.inner.writer.lock().await)
    }
}

fn migrator() -> Migrator {
    Migrator::with_migrations(vec![Migration::new(
        1,
        "init".into(),
        MigrationType::Simple,
        include_str!("../../migrations/sqlite/0001_init.sql").into_sql_str(),
        false,
    )])
}

impl_backend!(SqliteBackend, Sqlite, begin = "BEGIN IMMEDIATE", lock = "");
