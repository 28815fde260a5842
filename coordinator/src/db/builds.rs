//! Builds from source in the database (migration 0006): [`BuildStore`], a supertrait of
//! [`super::Backend`], implemented here for both backends with the same SQL.

use async_trait::async_trait;

use crate::error::StoreError;

/// A build (see `outlayer_protocol::build::BuildView` for the meaning of the fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRow {
    /// Build id (UUID).
    pub id: String,
    /// Project the version goes to (`None`: a chain build, `POST /builds`).
    pub project_id: Option<String>,
    /// Its owner.
    pub project_owner: Option<String>,
    /// Its name.
    pub project_name: Option<String>,
    /// Repository URL.
    pub git: String,
    /// Full commit id.
    pub commit: String,
    /// Crate directory in the repository.
    pub path: Option<String>,
    /// `wasm32-wasip1` / `wasm32-wasip2`.
    pub build_target: String,
    /// Rebuild even if cached.
    pub force_rebuild: bool,
    /// `queued`, `running`, `succeeded`, `failed`.
    pub status: String,
    /// End of the current lease.
    pub lease_expires_ms: Option<i64>,
    /// Times leased.
    pub attempts: i64,
    /// Built wasm's sha256.
    pub wasm_sha256: Option<String>,
    /// Toolchain.
    pub toolchain: Option<String>,
    /// Served from the builder's cache.
    pub cache_hit: bool,
    /// Reproducibility check of a forced rebuild.
    pub reproducible: Option<bool>,
    /// Hash cached before a forced rebuild.
    pub previous_sha256: Option<String>,
    /// Failure code.
    pub error_code: Option<String>,
    /// Failure message.
    pub error_message: Option<String>,
    /// Build log.
    pub log: String,
    /// Build time, ms.
    pub duration_ms: Option<i64>,
    /// Asked for at.
    pub created_ms: i64,
    /// Finished at.
    pub finished_ms: Option<i64>,
}

/// What a finished build records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOutcome {
    /// `succeeded` or `failed`.
    pub status: String,
    /// Built wasm's sha256 (success).
    pub wasm_sha256: Option<String>,
    /// Toolchain (success).
    pub toolchain: Option<String>,
    /// Cache hit (success).
    pub cache_hit: bool,
    /// Reproducibility (forced rebuild).
    pub reproducible: Option<bool>,
    /// Hash cached before (forced rebuild).
    pub previous_sha256: Option<String>,
    /// Failure code.
    pub error_code: Option<String>,
    /// Failure message.
    pub error_message: Option<String>,
    /// Log.
    pub log: String,
    /// Duration, ms.
    pub duration_ms: i64,
    /// Now.
    pub finished_ms: i64,
}

/// Builds in the database.
#[async_trait]
pub trait BuildStore: Send + Sync {
    /// Inserts a queued build.
    async fn create_build(&self, build: &BuildRow) -> Result<(), StoreError>;
    /// A build by id.
    async fn build(&self, id: &str) -> Result<Option<BuildRow>, StoreError>;
    /// Fails running builds whose last allowed lease expired, then leases the oldest queued (or
    /// expired) build until `expires_ms`.
    async fn lease_build(&self, now_ms: i64, expires_ms: i64, max_attempts: i64) -> Result<Option<BuildRow>, StoreError>;
    /// Records the outcome of a running build; `None` when it is not running (already finished).
    async fn finish_build(&self, id: &str, outcome: &BuildOutcome) -> Result<Option<BuildRow>, StoreError>;
    /// Keeps a wasm that belongs to no project (a chain build), served by `GET /builds/{id}/wasm`.
    async fn put_wasm(&self, sha256: &str, bytes: &[u8], now_ms: i64) -> Result<(), StoreError>;
}

macro_rules! build_columns {
    () => {
        "id, project_id, project_owner, project_name, git, commit_sha, path, build_target, force_rebuild, status, \
         lease_expires_ms, attempts, wasm_sha256, toolchain, cache_hit, reproducible, previous_sha256, error_code, \
         error_message, log, duration_ms, created_ms, finished_ms"
    };
}

fn flag(v: bool) -> i64 {
    i64::from(v)
}

macro_rules! impl_store {
    ($backend:ty, $db:ty, lock = $lock:literal) => {
        #[async_trait]
        impl BuildStore for $backend {
            async fn create_build(&self, b: &BuildRow) -> Result<(), StoreError> {
                sqlx::query(concat!("INSERT INTO builds (", build_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"))
                    .bind(&b.id)
                    .bind(&b.project_id)
                    .bind(&b.project_owner)
                    .bind(&b.project_name)
                    .bind(&b.git)
                    .bind(&b.commit)
                    .bind(&b.path)
                    .bind(&b.build_target)
                    .bind(flag(b.force_rebuild))
                    .bind(&b.status)
                    .bind(b.lease_expires_ms)
                    .bind(b.attempts)
                    .bind(&b.wasm_sha256)
                    .bind(&b.toolchain)
                    .bind(flag(b.cache_hit))
                    .bind(b.reproducible.map(flag))
                    .bind(&b.previous_sha256)
                    .bind(&b.error_code)
                    .bind(&b.error_message)
                    .bind(&b.log)
                    .bind(b.duration_ms)
                    .bind(b.created_ms)
                    .bind(b.finished_ms)
                    .execute(&mut *self.write().await?)
                    .await?;
                Ok(())
            }

            async fn build(&self, id: &str) -> Result<Option<BuildRow>, StoreError> {
                let row = sqlx::query(concat!("SELECT ", build_columns!(), " FROM builds WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&mut *self.read().await?)
                    .await?;
                row.as_ref().map(build_row::<$db>).transpose()
            }

            async fn lease_build(&self, now_ms: i64, expires_ms: i64, max_attempts: i64) -> Result<Option<BuildRow>, StoreError> {
                let mut conn = self.write().await?;
                sqlx::query(
                    "UPDATE builds SET status = 'failed', error_code = 'internal', \
                     error_message = 'no builder finished this build (its leases expired)', finished_ms = $1, lease_expires_ms = NULL \
                     WHERE status = 'running' AND lease_expires_ms < $1 AND attempts >= $2",
                )
                .bind(now_ms)
                .bind(max_attempts)
                .execute(&mut *conn)
                .await?;
                let row = sqlx::query(concat!(
                    "UPDATE builds SET status = 'running', lease_expires_ms = $2, attempts = attempts + 1 \
                     WHERE id = (SELECT id FROM builds WHERE (status = 'queued' OR (status = 'running' AND lease_expires_ms < $1)) \
                     AND attempts < $3 ORDER BY created_ms LIMIT 1 ",
                    $lock,
                    ") AND (status = 'queued' OR (status = 'running' AND lease_expires_ms < $1)) RETURNING ",
                    build_columns!()
                ))
                .bind(now_ms)
                .bind(expires_ms)
                .bind(max_attempts)
                .fetch_optional(&mut *conn)
                .await?;
                row.as_ref().map(build_row::<$db>).transpose()
            }

            async fn put_wasm(&self, sha256: &str, bytes: &[u8], now_ms: i64) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO wasm_blobs (sha256, size, bytes, created_ms) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
                    .bind(sha256)
                    .bind(bytes.len() as i64)
                    .bind(bytes)
                    .bind(now_ms)
                    .execute(&mut *self.write().await?)
                    .await?;
                Ok(())
            }

            async fn finish_build(&self, id: &str, o: &BuildOutcome) -> Result<Option<BuildRow>, StoreError> {
                let row = sqlx::query(concat!(
                    "UPDATE builds SET status = $2, wasm_sha256 = $3, toolchain = $4, cache_hit = $5, reproducible = $6, \
                     previous_sha256 = $7, error_code = $8, error_message = $9, log = $10, duration_ms = $11, finished_ms = $12, \
                     lease_expires_ms = NULL WHERE id = $1 AND status = 'running' RETURNING ",
                    build_columns!()
                ))
                .bind(id)
                .bind(&o.status)
                .bind(&o.wasm_sha256)
                .bind(&o.toolchain)
                .bind(flag(o.cache_hit))
                .bind(o.reproducible.map(flag))
                .bind(&o.previous_sha256)
                .bind(&o.error_code)
                .bind(&o.error_message)
                .bind(&o.log)
                .bind(o.duration_ms)
                .bind(o.finished_ms)
                .fetch_optional(&mut *self.write().await?)
                .await?;
                row.as_ref().map(build_row::<$db>).transpose()
            }
        }
    };
}

fn build_row<DB: sqlx::Database>(r: &DB::Row) -> Result<BuildRow, StoreError>
where
    for<'r> String: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'r> i64: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'c> &'c str: sqlx::ColumnIndex<DB::Row>,
{
    use sqlx::Row as _;
    let b = |v: i64| v != 0;
    Ok(BuildRow {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        project_owner: r.try_get("project_owner")?,
        project_name: r.try_get("project_name")?,
        git: r.try_get("git")?,
        commit: r.try_get("commit_sha")?,
        path: r.try_get("path")?,
        build_target: r.try_get("build_target")?,
        force_rebuild: b(r.try_get("force_rebuild")?),
        status: r.try_get("status")?,
        lease_expires_ms: r.try_get("lease_expires_ms")?,
        attempts: r.try_get("attempts")?,
        wasm_sha256: r.try_get("wasm_sha256")?,
        toolchain: r.try_get("toolchain")?,
        cache_hit: b(r.try_get("cache_hit")?),
        reproducible: r.try_get::<Option<i64>, _>("reproducible")?.map(b),
        previous_sha256: r.try_get("previous_sha256")?,
        error_code: r.try_get("error_code")?,
        error_message: r.try_get("error_message")?,
        log: r.try_get("log")?,
        duration_ms: r.try_get("duration_ms")?,
        created_ms: r.try_get("created_ms")?,
        finished_ms: r.try_get("finished_ms")?,
    })
}

impl_store!(super::SqliteBackend, sqlx::Sqlite, lock = "");
impl_store!(super::PostgresBackend, sqlx::Postgres, lock = "FOR UPDATE SKIP LOCKED");
