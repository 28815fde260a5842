//! SQLite backend: a file database for the embedded single-process mode.

use std::path::Path;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqlSafeStr, Sqlite, SqlitePool};

use super::sql::{call_columns, impl_backend, key_columns, worker_columns};
use crate::error::CoordinatorError;

/// How long a writer waits for SQLite's single write lock before failing; concurrent calls queue
/// here instead of erroring with "database is locked".
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections in the SQLite pool (readers run in parallel in WAL mode; writers serialise).
pub const SQLITE_MAX_CONNECTIONS: u32 = 8;

/// The SQLite implementation of [`crate::db::Backend`].
#[derive(Debug, Clone)]
pub struct SqliteBackend {
    pool: SqlitePool,
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
        let pool = SqlitePoolOptions::new().max_connections(SQLITE_MAX_CONNECTIONS).connect_with(options).await?;
        migrator().run(&pool).await?;
        Ok(Self { pool })
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
