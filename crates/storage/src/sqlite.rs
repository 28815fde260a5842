//! [`SqliteStorage`]: the embedded, durable backend (one database file, WAL mode).

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::key_range::KeyRange;
use crate::quota::entry_size;
use crate::write_set::{Committed, WriteSet, conflict, expectation_holds};
use crate::{Entry, Quota, Scope, StorageBackend, StorageError, Usage, counter, migrations};

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
/// a crash of the process or of the machine. Every write runs in a `BEGIN IMMEDIATE`
/// transaction (holding the write lock from the read to the write) that also reads, checks
/// against the [`Quota`] and updates the scope's `storage_usage` row, so writes and quotas are
/// atomic against every other connection, including other processes using the same file.
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
            .map_err(|e| StorageError::Backend(format!("opening SQLite database {}: {e}", path.display())))?;
        Self::from_pool(pool).await
    }

    /// Uses an existing pool (which should set a busy timeout) and brings its schema up to date.
    pub async fn from_pool(pool: SqlitePool) -> Result<Self, StorageError> {
        migrations::sqlite().run(&pool).await.map_err(|e| StorageError::Backend(format!("migrating the SQLite storage schema: {e}")))?;
        Ok(Self { pool })
    }

    /// The underlying pool, e.g. to close it or to share the file with other tables.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// In one `BEGIN IMMEDIATE` transaction (holding the database's write lock throughout):
    /// reads the entry under `key` (its value only when `read_value`) and the scope's usage, asks
    /// `decide` for the new value and public flag (`None`: write nothing), checks `quota`, and
    /// writes the entry and the usage. Returns whether it wrote and the value after the call.
    async fn write<F>(
        &self,
        scope: &Scope,
        key: &str,
        quota: Quota,
        read_value: bool,
        decide: F,
    ) -> Result<(bool, Option<Vec<u8>>), StorageError>
    where
        F: FnOnce(Option<(&[u8], bool)>) -> Result<Option<(Vec<u8>, bool)>, StorageError> + Send,
    {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let sql = if read_value {
            "SELECT value, public, LENGTH(key) + LENGTH(value) FROM storage_entries WHERE namespace = ?1 AND owner = ?2 AND key = ?3"
        } else {
            "SELECT x'', public, LENGTH(key) + LENGTH(value) FROM storage_entries WHERE namespace = ?1 AND owner = ?2 AND key = ?3"
        };
        let current: Option<(Vec<u8>, bool, i64)> =
            sqlx::query_as(sql).bind(&scope.namespace).bind(&scope.owner).bind(key.as_bytes()).fetch_optional(&mut *tx).await?;
        // On an early return the transaction is dropped, which rolls it back.
        let Some((new, public)) = decide(current.as_ref().map(|(v, p, _)| (v.as_slice(), *p)))? else {
            tx.rollback().await?;
            return Ok((false, current.map(|(v, _, _)| v)));
        };
        let before = usage(&mut tx, scope).await?;
        let old = current.map(|(_, _, size)| size.max(0) as u64);
        let after = before.replace(old, Some(entry_size(key, &new)));
        quota.check(before, after)?;
        put_entry(&mut tx, scope, key, &new, public).await?;
        set_usage(&mut tx, scope, after).await?;
        tx.commit().await?;
        Ok((true, Some(new)))
    }
}

/// The scope's usage row (zero when it has none).
async fn usage(conn: &mut SqliteConnection, scope: &Scope) -> Result<Usage, StorageError> {
    let row: Option<(i64, i64)> = sqlx::query_as("SELECT keys, bytes FROM storage_usage WHERE namespace = ?1 AND owner = ?2")
        .bind(&scope.namespace)
        .bind(&scope.owner)
        .fetch_optional(conn)
        .await?;
    Ok(row.map_or_else(Usage::default, |(keys, bytes)| crate::usage_from_counts(keys, bytes)))
}

/// Stores `value` under `key` (replacing any entry), inside the caller's transaction.
async fn put_entry(conn: &mut SqliteConnection, scope: &Scope, key: &str, value: &[u8], public: bool) -> Result<(), StorageError> {
    sqlx::query(
        "INSERT INTO storage_entries (namespace, owner, key, value, public) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (namespace, owner, key) DO UPDATE SET value = excluded.value, public = excluded.public",
    )
    .bind(&scope.namespace)
    .bind(&scope.owner)
    .bind(key.as_bytes())
    .bind(value)
    .bind(public)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the scope's usage; an empty scope has no row.
async fn set_usage(conn: &mut SqliteConnection, scope: &Scope, usage: Usage) -> Result<(), StorageError> {
    let query = if usage.keys == 0 {
        sqlx::query("DELETE FROM storage_usage WHERE namespace = ?1 AND owner = ?2")
    } else {
        sqlx::query(
            "INSERT INTO storage_usage (namespace, owner, keys, bytes) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (namespace, owner) DO UPDATE SET keys = excluded.keys, bytes = excluded.bytes",
        )
    };
    query.bind(&scope.namespace).bind(&scope.owner).bind(usage.keys as i64).bind(usage.bytes as i64).execute(conn).await?;
    Ok(())
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
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM storage_entries WHERE namespace = ?1 AND owner = ?2 AND key = ?3")
            .bind(&scope.namespace)
            .bind(&scope.owner)
            .bind(key.as_bytes())
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    async fn set(&self, scope: &Scope, key: &str, value: &[u8], public: bool, quota: Quota) -> Result<(), StorageError> {
        self.write(scope, key, quota, false, |_| Ok(Some((value.to_vec(), public)))).await?;
        Ok(())
    }

    async fn delete(&self, scope: &Scope, key: &str) -> Result<bool, StorageError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let removed: Option<i64> = sqlx::query_scalar(
            "DELETE FROM storage_entries WHERE namespace = ?1 AND owner = ?2 AND key = ?3
             RETURNING LENGTH(key) + LENGTH(value)",
        )
        .bind(&scope.namespace)
        .bind(&scope.owner)
        .bind(key.as_bytes())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(size) = removed else {
            tx.rollback().await?;
            return Ok(false);
        };
        let before = usage(&mut tx, scope).await?;
        set_usage(&mut tx, scope, before.replace(Some(size.max(0) as u64), None)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn list_keys(&self, scope: &Scope, prefix: &str, after: Option<&str>, limit: u32) -> Result<Vec<String>, StorageError> {
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

    async fn set_if_absent(&self, scope: &Scope, key: &str, value: &[u8], public: bool, quota: Quota) -> Result<bool, StorageError> {
        let (stored, _) = self.write(scope, key, quota, false, |current| Ok(current.is_none().then(|| (value.to_vec(), public)))).await?;
        Ok(stored)
    }

    async fn compare_and_swap(
        &self,
        scope: &Scope,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        quota: Quota,
    ) -> Result<(bool, Option<Vec<u8>>), StorageError> {
        self.write(scope, key, quota, true, |current| {
            let value = current.map(|(value, _)| value);
            let public = current.is_some_and(|(_, public)| public);
            Ok((value == expected).then(|| (new.to_vec(), public)))
        })
        .await
    }

    async fn increment(&self, scope: &Scope, key: &str, delta: i64, quota: Quota) -> Result<i64, StorageError> {
        let (_, stored) = self
            .write(scope, key, quota, true, |current| {
                let (_, bytes) = counter::add(current.map(|(value, _)| value), delta)?;
                Ok(Some((bytes, current.is_some_and(|(_, public)| public))))
            })
            .await?;
        counter::decode(stored.as_deref())
    }

    async fn clear(&self, scope: &Scope) -> Result<u64, StorageError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query("DELETE FROM storage_entries WHERE namespace = ?1 AND owner = ?2")
            .bind(&scope.namespace)
            .bind(&scope.owner)
            .execute(&mut *tx)
            .await?;
        set_usage(&mut tx, scope, Usage::default()).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn usage(&self, scope: &Scope) -> Result<Usage, StorageError> {
        let mut conn = self.pool.acquire().await?;
        usage(&mut conn, scope).await
    }

    async fn commit(&self, id: &str, writes: &WriteSet, record: &[u8]) -> Result<Committed, StorageError> {
        writes.validate()?;
        // BEGIN IMMEDIATE: the write lock from the id check to the commit, so two commits of one
        // id (or of one key) cannot interleave, in this process or another.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let first: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT record FROM storage_commits WHERE id = ?1").bind(id).fetch_optional(&mut *tx).await?;
        if let Some(first) = first {
            tx.rollback().await?;
            return Ok(Committed::Already(first));
        }
        for write in &writes.writes {
            let (scope, key) = (&write.scope, write.key.as_str());
            let current: Option<(Vec<u8>, i64)> = sqlx::query_as(
                "SELECT value, LENGTH(key) + LENGTH(value) FROM storage_entries WHERE namespace = ?1 AND owner = ?2 AND key = ?3",
            )
            .bind(&scope.namespace)
            .bind(&scope.owner)
            .bind(key.as_bytes())
            .fetch_optional(&mut *tx)
            .await?;
            if !expectation_holds(write, current.as_ref().map(|(v, _)| v.as_slice())) {
                tx.rollback().await?;
                return Ok(conflict(write, "changed"));
            }
            let old = current.map(|(_, size)| size.max(0) as u64);
            let before = usage(&mut tx, scope).await?;
            match &write.value {
                Some(entry) => {
                    let after = before.replace(old, Some(entry_size(key, &entry.value)));
                    if write.quota.check(before, after).is_err() {
                        tx.rollback().await?;
                        return Ok(conflict(write, "quota_exceeded"));
                    }
                    put_entry(&mut tx, scope, key, &entry.value, entry.public).await?;
                    set_usage(&mut tx, scope, after).await?;
                }
                None if old.is_some() => {
                    sqlx::query("DELETE FROM storage_entries WHERE namespace = ?1 AND owner = ?2 AND key = ?3")
                        .bind(&scope.namespace)
                        .bind(&scope.owner)
                        .bind(key.as_bytes())
                        .execute(&mut *tx)
                        .await?;
                    set_usage(&mut tx, scope, before.replace(old, None)).await?;
                }
                None => {}
            }
        }
        sqlx::query("INSERT INTO storage_commits (id, record, created_ms) VALUES (?1, ?2, ?3)")
            .bind(id)
            .bind(record)
            .bind(crate::now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Committed::Applied)
    }

    async fn committed(&self, id: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(sqlx::query_scalar("SELECT record FROM storage_commits WHERE id = ?1").bind(id).fetch_optional(&self.pool).await?)
    }

    async fn forget_commits(&self, before_ms: i64, id: Option<&str>) -> Result<u64, StorageError> {
        let done = sqlx::query("DELETE FROM storage_commits WHERE created_ms < ?1 OR id = ?2")
            .bind(before_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
