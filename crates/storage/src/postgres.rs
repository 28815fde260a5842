//! [`PostgresStorage`]: the production backend, shared by every worker of a deployment.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use crate::key_range::KeyRange;
use crate::{Entry, Scope, StorageBackend, StorageError, Usage, counter, migrations};

/// Connections `connect` keeps in its pool at most; bounds the load one worker puts on the server.
pub const PG_MAX_CONNECTIONS: u32 = 10;

/// How long a call waits for a free pooled connection (or for a new one) before failing, so a
/// down or saturated server shows up as an error instead of a hung execution.
pub const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// How many times one `increment` or `compare_and_swap` re-reads a key that other writers keep
/// creating and deleting between its read and its insert. Each retry means another call
/// completed, so running out takes a pathological workload on one key.
pub const PG_UPDATE_ATTEMPTS: u32 = 16;

/// A backend keeping everything in one PostgreSQL table (`storage_entries`).
///
/// Single-row operations are single statements (`INSERT .. ON CONFLICT`, `DELETE`).
/// `increment` and `compare_and_swap` run in a READ COMMITTED transaction that locks the row
/// (`SELECT .. FOR UPDATE`) from the read to the write, and insert a missing key with
/// `ON CONFLICT DO NOTHING`, so they are atomic across every worker sharing the database.
#[derive(Clone, Debug)]
pub struct PostgresStorage {
    pool: PgPool,
}

impl PostgresStorage {
    /// Connects to the database at `url` (`postgres://user@host:port/db`) and brings the schema
    /// up to date.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e| StorageError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
        // The pool retries a refused connection until its acquire timeout and then reports only
        // "timed out"; one direct connection first fails fast and says why.
        let probe = PgConnection::connect_with(&options)
            .await
            .map_err(|e| StorageError::Backend(format!("connecting to PostgreSQL: {e}")))?;
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
        migrations::postgres().run(&pool).await.map_err(|e| {
            StorageError::Backend(format!("migrating the PostgreSQL storage schema: {e}"))
        })?;
        Ok(Self { pool })
    }

    /// The underlying pool, e.g. to close it or to share it with other tables.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Reads the value under `key` and writes `decide`'s answer, holding the row lock in between.
    /// Returns whether it wrote and the value stored after the call.
    async fn update<F>(
        &self,
        scope: &Scope,
        key: &str,
        mut decide: F,
    ) -> Result<(bool, Option<Vec<u8>>), StorageError>
    where
        F: FnMut(Option<&[u8]>) -> Result<Option<Vec<u8>>, StorageError> + Send,
    {
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await?;
        for _ in 0..PG_UPDATE_ATTEMPTS {
            let current: Option<Vec<u8>> = sqlx::query_scalar(
                "SELECT value FROM storage_entries WHERE namespace = $1 AND owner = $2 AND key = $3 FOR UPDATE",
            )
            .bind(&scope.namespace)
            .bind(&scope.owner)
            .bind(key.as_bytes())
            .fetch_optional(&mut *tx)
            .await?;
            // An early return drops the transaction, which rolls it back.
            let Some(new) = decide(current.as_deref())? else {
                tx.rollback().await?;
                return Ok((false, current));
            };
            let written = if current.is_some() {
                sqlx::query("UPDATE storage_entries SET value = $4 WHERE namespace = $1 AND owner = $2 AND key = $3")
            } else {
                sqlx::query(
                    "INSERT INTO storage_entries (namespace, owner, key, value, public) VALUES ($1, $2, $3, $4, FALSE)
                     ON CONFLICT (namespace, owner, key) DO NOTHING",
                )
            }
            .bind(&scope.namespace)
            .bind(&scope.owner)
            .bind(key.as_bytes())
            .bind(new.as_slice())
            .execute(&mut *tx)
            .await?;
            if written.rows_affected() == 1 {
                tx.commit().await?;
                return Ok((true, Some(new)));
            }
            // Another transaction inserted the key after our read; the next read sees and locks it.
        }
        Err(StorageError::Backend(format!(
            "gave up updating a key after {PG_UPDATE_ATTEMPTS} attempts: other writers kept creating and deleting it"
        )))
    }
}

#[async_trait]
impl StorageBackend for PostgresStorage {
    async fn get(&self, scope: &Scope, key: &str) -> Result<Option<Entry>, StorageError> {
        let row: Option<(Vec<u8>, bool)> = sqlx::query_as(
            "SELECT value, public FROM storage_entries WHERE namespace = $1 AND owner = $2 AND key = $3",
        )
        .bind(&scope.namespace)
        .bind(&scope.owner)
        .bind(key.as_bytes())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(value, public)| Entry { value, public }))
    }

    async fn has(&self, scope: &Scope, key: &str) -> Result<bool, StorageError> {
        let found: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM storage_entries WHERE namespace = $1 AND owner = $2 AND key = $3)",
        )
        .bind(&scope.namespace)
        .bind(&scope.owner)
        .bind(key.as_bytes())
        .fetch_one(&self.pool)
        .await?;
        Ok(found)
    }

    async fn set(
        &self,
        scope: &Scope,
        key: &str,
        value: &[u8],
        public: bool,
    ) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO storage_entries (namespace, owner, key, value, public) VALUES ($1, $2, $3, $4, $5)
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
            "DELETE FROM storage_entries WHERE namespace = $1 AND owner = $2 AND key = $3",
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

    async fn set_if_absent(
        &self,
        scope: &Scope,
        key: &str,
        value: &[u8],
        public: bool,
    ) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "INSERT INTO storage_entries (namespace, owner, key, value, public) VALUES ($1, $2, $3, $4, $5)
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
        let done = sqlx::query("DELETE FROM storage_entries WHERE namespace = $1 AND owner = $2")
            .bind(&scope.namespace)
            .bind(&scope.owner)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn usage(&self, scope: &Scope) -> Result<Usage, StorageError> {
        let (keys, bytes): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(octet_length(key) + octet_length(value)), 0)::BIGINT
             FROM storage_entries WHERE namespace = $1 AND owner = $2",
        )
        .bind(&scope.namespace)
        .bind(&scope.owner)
        .fetch_one(&self.pool)
        .await?;
        Ok(crate::usage_from_counts(keys, bytes))
    }
}
