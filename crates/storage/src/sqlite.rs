//! [`SqliteStorage`]: the embedded, durable backend (one database file, WAL mode).

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::key_range::KeyRange;
use crate::{Entry, Scope, StorageBackend, StorageError, Usage, counter, migrations};

/// How long a connection waits for another connection's write lock before failing with
/// "database is locked". Writers hold the lock for one short statement or transaction, so this
/// only runs out when the file is stuck (e.g. held by another process).
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections `open` keeps in its pool. SQLite has one writer at a time whatever this is; more
/// connections only let reads run next to a write (WAL) without holding threads idle.
pub const SQLITE_MAX_CONNECTIONS: u32 = 4;

/// A backend keeping everything in one SQLite database file.
///
/// The file is opened in WAL mode with `synchronous = FULL`: a call that returned `Ok` survives
/// a crash of the process or of the machine. `increment` and `compare_and_swap` run in a
/// `BEGIN IMMEDIATE` transaction (holding the write lock from the read to the write), so they
/// are atomic against every other connection, including other processes using the same file.
#[derive(Clone, Debug)]
pub struct SqliteStorage {
    pool: SqlitePool,
}

impl SqliteStorage {
    /// Opens (creating it when missing) the database file at `path` and brings its schema up to
    /// date. The parent directory must exist.
    pub async fn open(path: &Path) -> Result<Self, StorageError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(SQLITE_BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(SQLITE_MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|e| {
                StorageError::Backend(format!("opening SQLite database {}: {e}", path.display()))
            })?;
        Self::from_pool(pool).await
    }

    /// Uses an existing pool (which should set a busy timeout) and brings its schema up to date.
    pub async fn from_pool(pool: SqlitePool) -> Result<Self, StorageError> {
        migrations::sqlite().run(&pool).await.map_err(|e| {
            StorageError::Backend(format!("migrating the SQLite storage schema: {e}"))
        })?;
        Ok(Self { pool })
    }

    /// The underlying pool, e.g. to close it or to share the file with other tables.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Reads the value under `key` and writes `decide`'s answer, holding the database's write lock
    /// in between. Returns whether it wrote and the value stored after the call.
    async fn update<F>(
        &self,
        scope: &Scope,
        key: &str,
        decide: F,
    ) -> Result<(bool, Option<Vec<u8>>), StorageError>
    where
        F: FnOnce(Option<&[u8]>) -> Result<Option<Vec<u8>>, StorageError> + Send,
    {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let current: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT value FROM storage_entries WHERE namespace = ?1 AND owner = ?2 AND key = ?3",
        )
        .bind(&scope.namespace)
        .bind(&scope.owner)
        .bind(key.as_bytes())
        .fetch_optional(&mut *tx)
        .await?;
        // On an early return the transaction is dropped, which rolls it back.
        let Some(new) = decide(current.as_deref())? else {
            tx.rollback().await?;
            return Ok((false, current));
        };
        sqlx::query(
            "INSERT INTO storage_entries (namespace, owner, key, value, public) VALUES (?1, ?2, ?3, ?4, 0)
             ON CONFLICT (namespace, owner, key) DO UPDATE SET value = excluded.value",
        )
        .bind(&scope.namespace)
        .bind(&scope.owner)
        .bind(key.as_bytes())
        .bind(new.as_slice())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((true, Some(new)))
    }
}

#[async_trait]
impl StorageBackend for SqliteStorage {
    async fn get(&self, scope: &Scope, key: &str) -> Result<Option<Entry>, StorageError> {
        let row: Option<(Vec<u8>, bool)> =
            sqlx::query_as("SELECT value, public FROM storage_entries WHERE namespace = ?1 AND owner = ?2 AND key = ?3")
                .bind(&scope.namespace)
                .bind(&scope.owner)
                .bind(key.as_bytes())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(value, public)| Entry { value, public }))
    }

    async fn has(&self, scope: &Scope, key: &str) -> Result<bool, StorageError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM storage_entries WHERE namespace = ?1 AND owner = ?2 AND key = ?3",
        )
        .bind(&scope.namespace)
        .bind(&scope.owner)
        .bind(key.as_bytes())
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    async fn set(
        &self,
        scope: &Scope,
        key: &str,
        value: &[u8],
        public: bool,
    ) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO storage_entries (namespace, owner, key, value, public) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (namespace, owner, key) DO UPDATE SET value = excluded.value, public = excluded.public",
        )
        .bind(&scope.namespace)
        .bind(&scope.owner)
        .bind(key.as_bytes())
        .bind(value)
        .bind(public)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete(&self, scope: &Scope, key: &str) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "DELETE FROM storage_entries WHERE namespace = ?1 AND owner = ?2 AND key = ?3",
        )
        .bind(&scope.namespace)
        .bind(&scope.owner)
        .bind(key.as_bytes())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_keys(
        &self,
        scope: &Scope,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, StorageError> {
        let range = KeyRange::new(prefix, after);
        let keys: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT key FROM storage_entries WHERE namespace = ?1 AND owner = ?2 AND key >= ?3 AND key < ?4
             ORDER BY key LIMIT ?5",
        )
        .bind(&scope.namespace)
        .bind(&scope.owner)
        .bind(range.lower.as_slice())
        .bind(range.upper.as_slice())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        crate::keys_from_bytes(keys)
    }

    async fn set_if_absent(
        &self,
        scope: &Scope,
        key: &str,
        value: &[u8],
        public: bool,
    ) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "INSERT INTO storage_entries (namespace, owner, key, value, public) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (namespace, owner, key) DO NOTHING",
        )
        .bind(&scope.namespace)
        .bind(&scope.owner)
        .bind(key.as_bytes())
        .bind(value)
        .bind(public)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn compare_and_swap(
        &self,
        scope: &Scope,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<(bool, Option<Vec<u8>>), StorageError> {
        self.update(scope, key, |current| {
            Ok((current == expected).then(|| new.to_vec()))
        })
        .await
    }

    async fn increment(&self, scope: &Scope, key: &str, delta: i64) -> Result<i64, StorageError> {
        let (_, stored) = self
            .update(scope, key, |current| {
                Ok(Some(counter::add(current, delta)?.1))
            })
            .await?;
        counter::decode(stored.as_deref())
    }

    async fn clear(&self, scope: &Scope) -> Result<u64, StorageError> {
        let done = sqlx::query("DELETE FROM storage_entries WHERE namespace = ?1 AND owner = ?2")
            .bind(&scope.namespace)
            .bind(&scope.owner)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn usage(&self, scope: &Scope) -> Result<Usage, StorageError> {
        let (keys, bytes): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(key) + LENGTH(value)), 0)
             FROM storage_entries WHERE namespace = ?1 AND owner = ?2",
        )
        .bind(&scope.namespace)
        .bind(&scope.owner)
        .fetch_one(&self.pool)
        .await?;
        Ok(crate::usage_from_counts(keys, bytes))
    }
}
