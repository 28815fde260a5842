//! [`PostgresStorage`]: the production backend, shared by every worker of a deployment.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use crate::key_range::KeyRange;
use crate::quota::entry_size;
use crate::write_set::{Committed, WriteSet, conflict, expectation_holds};
use crate::{Entry, Quota, Scope, StorageBackend, StorageError, Usage, counter, migrations};

/// Connections `connect` keeps in its pool at most; bounds the load one worker puts on the server.
pub const PG_MAX_CONNECTIONS: u32 = 10;

/// How long a call waits for a free pooled connection (or for a new one) before failing, so a
/// down or saturated server shows up as an error instead of a hung execution.
pub const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A backend keeping everything in PostgreSQL (`storage_entries`, and `storage_usage` with one
/// row per scope).
///
/// Every write runs in a READ COMMITTED transaction that first locks the scope's usage row
/// (`INSERT .. ON CONFLICT DO UPDATE`, which creates it when missing), then reads the entry,
/// checks the [`Quota`], and writes the entry and the usage row. Writers of one scope therefore
/// take turns, across every worker sharing the database, and concurrent writers can never take a
/// scope past its quota; writers of different scopes never wait for each other. Reads take no
/// lock.
#[derive(Clone, Debug)]
pub struct PostgresStorage {
    pool: PgPool,
}

impl PostgresStorage {
    /// Connects to the database at `url` (`postgres://user@host:port/db`) and brings the schema
    /// up to date.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        let options: PgConnectOptions = url.parse().map_err(|e| StorageError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
        // The pool retries a refused connection until its acquire timeout and then reports only
        // "timed out"; one direct connection first fails fast and says why.
        let probe =
            PgConnection::connect_with(&options).await.map_err(|e| StorageError::Backend(format!("connecting to PostgreSQL: {e}")))?;
        probe.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(PG_MAX_CONNECTIONS)
            .acquire_timeout(PG_ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| StorageError::Backend(format!("connecting to PostgreSQL: {e}")))?;
        Self::from_pool(pool).await
    }

    /// Uses an existing pool and brings the schema up to date.
    pub async fn from_pool(pool: PgPool) -> Result<Self, StorageError> {
        migrations::postgres()
            .run(&pool)
            .await
            .map_err(|e| StorageError::Backend(format!("migrating the PostgreSQL storage schema: {e}")))?;
        Ok(Self { pool })
    }

    /// The underlying pool, e.g. to close it or to share it with other tables.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// In one transaction holding the scope's lock: reads the entry under `key` (its value only
    /// when `read_value`) and the scope's usage, asks `decide` for the new value and public flag
    /// (`None`: write nothing), checks `quota`, and writes the entry and the usage. Returns
    /// whether it wrote and the value after the call.
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
        let mut tx = self.pool.begin_with("BEGIN ISOLATION LEVEL READ COMMITTED").await?;
        let before = lock_scope(&mut tx, scope).await?;
        let sql = if read_value {
            "SELECT value, public, (octet_length(key) + octet_length(value))::BIGINT FROM storage_entries WHERE namespace = $1 AND owner = $2 AND key = $3"
        } else {
            "SELECT ''::BYTEA, public, (octet_length(key) + octet_length(value))::BIGINT FROM storage_entries WHERE namespace = $1 AND owner = $2 AND key = $3"
        };
        let current: Option<(Vec<u8>, bool, i64)> =
            sqlx::query_as(sql).bind(&scope.namespace).bind(&scope.owner).bind(key.as_bytes()).fetch_optional(&mut *tx).await?;
        // An early return drops the transaction, which rolls it back.
        let Some((new, public)) = decide(current.as_ref().map(|(v, p, _)| (v.as_slice(), *p)))? else {
            tx.rollback().await?;
            return Ok((false, current.map(|(v, _, _)| v)));
        };
        let old = current.map(|(_, _, size)| size.max(0) as u64);
        let after = before.replace(old, Some(entry_size(key, &new)));
        quota.check(before, after)?;
        put_entry(&mut tx, scope, key, &new, public).await?;
        set_usage(&mut tx, scope, after).await?;
        tx.commit().await?;
        Ok((true, Some(new)))
    }
}

/// Locks the scope's usage row until the end of the transaction (creating it, at zero, when
/// missing) and returns the usage it records. Every writer of the scope calls this first.
async fn lock_scope(conn: &mut PgConnection, scope: &Scope) -> Result<Usage, StorageError> {
    let (keys, bytes): (i64, i64) = sqlx::query_as(
        "INSERT INTO storage_usage (namespace, owner, keys, bytes) VALUES ($1, $2, 0, 0)
         ON CONFLICT (namespace, owner) DO UPDATE SET keys = storage_usage.keys
         RETURNING keys, bytes",
    )
    .bind(&scope.namespace)
    .bind(&scope.owner)
    .fetch_one(conn)
    .await?;
    Ok(crate::usage_from_counts(keys, bytes))
}

/// Stores `value` under `key` (replacing any entry), inside the caller's transaction.
async fn put_entry(conn: &mut PgConnection, scope: &Scope, key: &str, value: &[u8], public: bool) -> Result<(), StorageError> {
    sqlx::query(
        "INSERT INTO storage_entries (namespace, owner, key, value, public) VALUES ($1, $2, $3, $4, $5)
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

/// Records the scope's usage (under the lock of [`lock_scope`]); an empty scope has no row.
async fn set_usage(conn: &mut PgConnection, scope: &Scope, usage: Usage) -> Result<(), StorageError> {
    let query = if usage.keys == 0 {
        sqlx::query("DELETE FROM storage_usage WHERE namespace = $1 AND owner = $2")
    } else {
        sqlx::query("UPDATE storage_usage SET keys = $3, bytes = $4 WHERE namespace = $1 AND owner = $2")
    };
    query.bind(&scope.namespace).bind(&scope.owner).bind(usage.keys as i64).bind(usage.bytes as i64).execute(conn).await?;
    Ok(())
}

#[async_trait]
impl StorageBackend for PostgresStorage {
    async fn get(&self, scope: &Scope, key: &str) -> Result<Option<Entry>, StorageError> {
        let row: Option<(Vec<u8>, bool)> =
            sqlx::query_as("SELECT value, public FROM storage_entries WHERE namespace = $1 AND owner = $2 AND key = $3")
                .bind(&scope.namespace)
                .bind(&scope.owner)
                .bind(key.as_bytes())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(value, public)| Entry { value, public }))
    }

    async fn has(&self, scope: &Scope, key: &str) -> Result<bool, StorageError> {
        let found: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM storage_entries WHERE namespace = $1 AND owner = $2 AND key = $3)")
                .bind(&scope.namespace)
                .bind(&scope.owner)
                .bind(key.as_bytes())
                .fetch_one(&self.pool)
                .await?;
        Ok(found)
    }

    async fn set(&self, scope: &Scope, key: &str, value: &[u8], public: bool, quota: Quota) -> Result<(), StorageError> {
        self.write(scope, key, quota, false, |_| Ok(Some((value.to_vec(), public)))).await?;
        Ok(())
    }

    async fn delete(&self, scope: &Scope, key: &str) -> Result<bool, StorageError> {
        let mut tx = self.pool.begin_with("BEGIN ISOLATION LEVEL READ COMMITTED").await?;
        let before = lock_scope(&mut tx, scope).await?;
        let removed: Option<i64> = sqlx::query_scalar(
            "DELETE FROM storage_entries WHERE namespace = $1 AND owner = $2 AND key = $3
             RETURNING (octet_length(key) + octet_length(value))::BIGINT",
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
        set_usage(&mut tx, scope, before.replace(Some(size.max(0) as u64), None)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn list_keys(&self, scope: &Scope, prefix: &str, after: Option<&str>, limit: u32) -> Result<Vec<String>, StorageError> {
        let range = KeyRange::new(prefix, after);
        let keys: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT key FROM storage_entries WHERE namespace = $1 AND owner = $2 AND key >= $3 AND key < $4
             ORDER BY key LIMIT $5",
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
        let mut tx = self.pool.begin_with("BEGIN ISOLATION LEVEL READ COMMITTED").await?;
        lock_scope(&mut tx, scope).await?;
        let done = sqlx::query("DELETE FROM storage_entries WHERE namespace = $1 AND owner = $2")
            .bind(&scope.namespace)
            .bind(&scope.owner)
            .execute(&mut *tx)
            .await?;
        set_usage(&mut tx, scope, Usage::default()).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn usage(&self, scope: &Scope) -> Result<Usage, StorageError> {
        let row: Option<(i64, i64)> = sqlx::query_as("SELECT keys, bytes FROM storage_usage WHERE namespace = $1 AND owner = $2")
            .bind(&scope.namespace)
            .bind(&scope.owner)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map_or_else(Usage::default, |(keys, bytes)| crate::usage_from_counts(keys, bytes)))
    }

    async fn commit(&self, id: &str, writes: &WriteSet, record: &[u8]) -> Result<Committed, StorageError> {
        writes.validate()?;
        let mut tx = self.pool.begin_with("BEGIN ISOLATION LEVEL READ COMMITTED").await?;
        // The commit's row first: a concurrent commit of the same id waits on it here and then
        // finds it (and applies nothing).
        let claimed: Option<String> = sqlx::query_scalar(
            "INSERT INTO storage_commits (id, record, created_ms) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING RETURNING id",
        )
        .bind(id)
        .bind(record)
        .bind(crate::now_ms())
        .fetch_optional(&mut *tx)
        .await?;
        if claimed.is_none() {
            tx.rollback().await?;
            let first = self.committed(id).await?.ok_or_else(|| StorageError::Backend(format!("commit {id} vanished")))?;
            return Ok(Committed::Already(first));
        }
        // Lock every scope written, in (scope) order — the set is sorted — so two commits
        // never wait for each other crosswise.
        let mut usages: Vec<(Scope, Usage)> = Vec::new();
        for write in &writes.writes {
            if usages.last().is_none_or(|(s, _)| *s != write.scope) {
                let usage = lock_scope(&mut tx, &write.scope).await?;
                usages.push((write.scope.clone(), usage));
            }
        }
        for write in &writes.writes {
            let (scope, key) = (&write.scope, write.key.as_str());
            let current: Option<(Vec<u8>, i64)> = sqlx::query_as(
                "SELECT value, (octet_length(key) + octet_length(value))::BIGINT FROM storage_entries WHERE namespace = $1 AND owner = $2 AND key = $3",
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
            let usage = &mut usages.iter_mut().find(|(s, _)| s == scope).expect("scope locked above").1;
            match &write.value {
                Some(entry) => {
                    let after = usage.replace(old, Some(entry_size(key, &entry.value)));
                    if write.quota.check(*usage, after).is_err() {
                        tx.rollback().await?;
                        return Ok(conflict(write, "quota_exceeded"));
                    }
                    put_entry(&mut tx, scope, key, &entry.value, entry.public).await?;
                    *usage = after;
                }
                None if old.is_some() => {
                    sqlx::query("DELETE FROM storage_entries WHERE namespace = $1 AND owner = $2 AND key = $3")
                        .bind(&scope.namespace)
                        .bind(&scope.owner)
                        .bind(key.as_bytes())
                        .execute(&mut *tx)
                        .await?;
                    *usage = usage.replace(old, None);
                }
                None => {}
            }
        }
        for (scope, usage) in &usages {
            set_usage(&mut tx, scope, *usage).await?;
        }
        tx.commit().await?;
        Ok(Committed::Applied)
    }

    async fn committed(&self, id: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(sqlx::query_scalar("SELECT record FROM storage_commits WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
    }

    async fn forget_commits(&self, before_ms: i64, id: Option<&str>) -> Result<u64, StorageError> {
        let done = sqlx::query("DELETE FROM storage_commits WHERE created_ms < $1 OR id = $2")
            .bind(before_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
