//! The retention collector's SQL ([`Retention`]), shared by both backends like `sql.rs`:
//! instantiated inside each backend's module by [`impl_retention!`] (it uses their `read` /
//! `write` connections). Every method deletes at most `limit` rows (or `limit` keys) per call, so
//! one pass never holds the SQLite writer for long.

use async_trait::async_trait;

use crate::error::StoreError;

/// Ledger kinds in the order compacted summary lines are written.
pub const LEDGER_KINDS: [&str; 4] = ["top_up", "reserve", "settle", "release"];

/// Deleting what is no longer needed (see [`crate::retention`]).
#[async_trait]
pub trait Retention: Send + Sync {
    /// Deletes settled (`completed` / `failed`) calls settled before `before_ms`; returns how many.
    async fn delete_finished_calls(&self, before_ms: i64, limit: i64) -> Result<u64, StoreError>;
    /// For at most `max_keys` keys with more than [`LEDGER_KINDS`]`.len()` lines created before
    /// `before_ms`: replaces those lines with one line per kind holding their sum (`call_id`
    /// null, the newest line's time, the smallest ids of the lines replaced, so they stay first).
    /// Every per-kind sum — hence balance, spent and reserved — is unchanged. Returns how many
    /// lines were removed (net).
    async fn compact_ledger(&self, before_ms: i64, max_keys: i64) -> Result<u64, StoreError>;
    /// Deletes wasm blobs created before `before_ms` that no version and no unsettled call names.
    async fn delete_unreferenced_wasm(&self, before_ms: i64, limit: i64) -> Result<u64, StoreError>;
    /// Deletes workers last seen before `before_ms` that no call names (calls keep their worker's
    /// attestation record reachable while they are retained).
    async fn delete_dead_workers(&self, before_ms: i64, limit: i64) -> Result<u64, StoreError>;
}

/// Implements [`Retention`] for `$backend` (inside its module); `begin` starts a write
/// transaction.
macro_rules! impl_retention {
    ($backend:ident, $db:ty, begin = $begin:literal) => {
        #[async_trait::async_trait]
        impl $crate::db::retention::Retention for $backend {
            async fn delete_finished_calls(&self, before_ms: i64, limit: i64) -> Result<u64, $crate::error::StoreError> {
                let done = sqlx::query(
                    "DELETE FROM calls WHERE id IN (SELECT id FROM calls WHERE status IN ('completed', 'failed') \
                     AND completed_ms < $1 ORDER BY completed_ms LIMIT $2)",
                )
                .bind(before_ms)
                .bind(limit)
                .execute(&mut *self.write().await?)
                .await?;
                Ok(done.rows_affected())
            }

            async fn compact_ledger(&self, before_ms: i64, max_keys: i64) -> Result<u64, $crate::error::StoreError> {
                use sqlx::Row as _;
                let kinds = $crate::db::retention::LEDGER_KINDS;
                let keys = sqlx::query(
                    "SELECT owner, nonce FROM ledger WHERE created_ms < $1 GROUP BY owner, nonce HAVING COUNT(*) > $2 LIMIT $3",
                )
                .bind(before_ms)
                .bind(kinds.len() as i64)
                .bind(max_keys)
                .fetch_all(&mut *self.read().await?)
                .await?;
                let mut removed = 0u64;
                for key in keys {
                    let owner: String = key.try_get("owner")?;
                    let nonce: i64 = key.try_get("nonce")?;
                    let mut conn = self.write().await?;
                    let mut tx = sqlx::Connection::begin_with(&mut *conn, $begin).await?;
                    let sums = sqlx::query(
                        "SELECT kind, CAST(SUM(amount) AS BIGINT) AS total, MAX(created_ms) AS at FROM ledger \
                         WHERE owner = $1 AND nonce = $2 AND created_ms < $3 GROUP BY kind",
                    )
                    .bind(&owner)
                    .bind(nonce)
                    .bind(before_ms)
                    .fetch_all(&mut *tx)
                    .await?;
                    let mut lines = Vec::new();
                    for kind in kinds {
                        if let Some(row) = sums.iter().find(|r| r.try_get::<String, _>("kind").ok().as_deref() == Some(kind)) {
                            lines.push((kind, row.try_get::<i64, _>("total")?, row.try_get::<i64, _>("at")?));
                        }
                    }
                    if sums.len() != lines.len() {
                        // A kind this code does not know: leave the key alone.
                        continue;
                    }
                    let ids: Vec<i64> = sqlx::query_scalar(
                        "SELECT id FROM ledger WHERE owner = $1 AND nonce = $2 AND created_ms < $3 ORDER BY id LIMIT $4",
                    )
                    .bind(&owner)
                    .bind(nonce)
                    .bind(before_ms)
                    .bind(lines.len() as i64)
                    .fetch_all(&mut *tx)
                    .await?;
                    let deleted = sqlx::query("DELETE FROM ledger WHERE owner = $1 AND nonce = $2 AND created_ms < $3")
                        .bind(&owner)
                        .bind(nonce)
                        .bind(before_ms)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    for ((kind, total, at), id) in lines.iter().zip(&ids) {
                        sqlx::query(
                            "INSERT INTO ledger (id, owner, nonce, call_id, kind, amount, created_ms) VALUES ($1, $2, $3, NULL, $4, $5, $6)",
                        )
                        .bind(id)
                        .bind(&owner)
                        .bind(nonce)
                        .bind(*kind)
                        .bind(total)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    removed += deleted.saturating_sub(lines.len() as u64);
                }
                Ok(removed)
            }

            async fn delete_unreferenced_wasm(&self, before_ms: i64, limit: i64) -> Result<u64, $crate::error::StoreError> {
                let done = sqlx::query(
                    "DELETE FROM wasm_blobs WHERE sha256 IN (SELECT b.sha256 FROM wasm_blobs b WHERE b.created_ms < $1 \
                     AND NOT EXISTS (SELECT 1 FROM versions v WHERE v.wasm_sha256 = b.sha256) \
                     AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.wasm_sha256 = b.sha256 AND c.status = 'queued') \
                     AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.wasm_sha256 = b.sha256 AND c.status = 'leased') \
                     LIMIT $2)",
                )
                .bind(before_ms)
                .bind(limit)
                .execute(&mut *self.write().await?)
                .await?;
                Ok(done.rows_affected())
            }

            async fn delete_dead_workers(&self, before_ms: i64, limit: i64) -> Result<u64, $crate::error::StoreError> {
                let done = sqlx::query(
                    "DELETE FROM workers WHERE id IN (SELECT w.id FROM workers w WHERE w.last_heartbeat_ms < $1 \
                     AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.worker_id = w.id) LIMIT $2)",
                )
                .bind(before_ms)
                .bind(limit)
                .execute(&mut *self.write().await?)
                .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use impl_retention;
