//! PostgreSQL backend: the production database, shared by several coordinator replicas.

use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Executor, PgPool, Postgres, SqlSafeStr};

use super::sql::{call_columns, impl_backend, key_columns, worker_columns};
use crate::error::CoordinatorError;

/// Connections in the PostgreSQL pool.
pub const PG_MAX_CONNECTIONS: u32 = 16;
/// How long a request waits for a pooled connection before it fails with 503
/// `database_unavailable`. While PostgreSQL is unreachable every request waits this long (sqlx
/// retries a refused connection until then), so it is short: 30 s left callers and workers
/// hanging for half a minute per request; a pool that stays exhausted for 5 s is overloaded anyway.
pub const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The PostgreSQL implementation of [`crate::db::Backend`].
#[derive(Debug, Clone)]
pub struct PostgresBackend {
    pool: PgPool,
}

impl PostgresBackend {
    /// Connects, creates `schema` if given (and uses it through `search_path`), and applies the
    /// migrations in `migrations/postgres`.
    pub async fn connect(url: &str, schema: Option<&str>) -> Result<Self, CoordinatorError> {
        let mut options: PgConnectOptions = url.parse()?;
        if let Some(schema) = schema {
            if schema.is_empty() || !schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(CoordinatorError::Config(format!("schema name {schema:?} must be [A-Za-z0-9_]+")));
            }
            let admin = PgPoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
            // The name was validated above to be alphanumeric / underscore only.
            admin.execute(AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))).await?;
            admin.close().await;
            options = options.options([("search_path", schema)]);
        }
        let pool =
            PgPoolOptions::new().max_connections(PG_MAX_CONNECTIONS).acquire_timeout(PG_ACQUIRE_TIMEOUT).connect_with(options).await?;
        migrator().run(&pool).await?;
        Ok(Self { pool })
    }

    /// No rows are kept in memory: several replicas write the same database.
    fn lookups(&self) -> Option<&crate::db::LookupCache> {
        None
    }

    /// A pooled connection for reading.
    pub(super) async fn read(&self) -> Result<sqlx::pool::PoolConnection<Postgres>, crate::error::StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// A pooled connection for writing (PostgreSQL handles concurrent writers itself).
    pub(super) async fn write(&self) -> Result<sqlx::pool::PoolConnection<Postgres>, crate::error::StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// Runs one (atomic) statement, returning its rows.
    async fn batch(
        &self,
        q: sqlx::query::Query<'_, Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<Vec<sqlx::postgres::PgRow>, crate::error::StoreError> {
        Ok(q.fetch_all(&mut *self.write().await?).await?)
    }

    /// Closes the pool (used by tests that restart the coordinator).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn migrator() -> Migrator {
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            "init".into(),
            MigrationType::Simple,
            include_str!("../../migrations/postgres/0001_init.sql").into_sql_str(),
            false,
        ),
        // Attested workers, single-use challenges, the hard end of a lease.
        Migration::new(
            2,
            "attestation".into(),
            MigrationType::Simple,
            include_str!("../../migrations/postgres/0002_attestation.sql").into_sql_str(),
            false,
        ),
        // Outbound HTTP: the project's http allowlist, and the one each call was accepted with.
        Migration::new(
            3,
            "http_allowlist".into(),
            MigrationType::Simple,
            include_str!("../../migrations/postgres/0003_http_allowlist.sql").into_sql_str(),
            false,
        ),
        // The dashboard's indexes (calls by project / by key, ledger by call).
        Migration::new(
            4,
            "dashboard".into(),
            MigrationType::Simple,
            include_str!("../../migrations/postgres/0004_dashboard.sql").into_sql_str(),
            false,
        ),
        // Sealed project secrets, and the secrets_ref of each call.
        Migration::new(
            5,
            "secrets".into(),
            MigrationType::Simple,
            include_str!("../../migrations/postgres/0005_secrets.sql").into_sql_str(),
            false,
        ),
        // Builds from source (issue 15).
        Migration::new(
            6,
            "builds".into(),
            MigrationType::Simple,
            include_str!("../../migrations/postgres/0006_builds.sql").into_sql_str(),
            false,
        ),
        // Retention: finished calls by settle time, calls by worker, ledger by age.
        Migration::new(
            7,
            "retention".into(),
            MigrationType::Simple,
            include_str!("../../migrations/postgres/0007_retention.sql").into_sql_str(),
            false,
        ),
        // Sign-in with a NEAR account: single-use NEP-413 challenges.
        Migration::new(
            8,
            "signin".into(),
            MigrationType::Simple,
            include_str!("../../migrations/postgres/0008_signin.sql").into_sql_str(),
            false,
        ),
        // Money has a source: credit sources on ledger lines, deposits, chain cursors, withdrawals.
        Migration::new(
            9,
            "money".into(),
            MigrationType::Simple,
            include_str!("../../migrations/postgres/0009_money.sql").into_sql_str(),
            false,
        ),
        // One project registry: where a project comes from, where a chain version was fetched from.
        Migration::new(
            10,
            "registry".into(),
            MigrationType::Simple,
            include_str!("../../migrations/postgres/0010_registry.sql").into_sql_str(),
            false,
        ),
    ])
}

/// `enqueue` as one statement (one round trip, atomic): the call and its ledger line are inserted
/// only if the reservation updated the key.
const ENQUEUE: &str = concat!(
    "WITH k AS (UPDATE payment_keys SET reserved = reserved + $16 WHERE owner = $7 AND nonce = $8 \
     AND revoked = 0 AND balance - spent - reserved >= $16 RETURNING owner), \
     c AS (INSERT INTO calls (",
    call_columns!(),
    ", lease_deadline_ms) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27 FROM k RETURNING id) \
     INSERT INTO ledger (owner, nonce, call_id, kind, amount, created_ms) \
     SELECT $7, $8, id, 'reserve', $16, $22 FROM c RETURNING id"
);

/// `finish` as one statement: everything hangs off the settled call row `c`, so nothing happens
/// unless the lease was current. The charge is clamped to the call's reservation and the
/// earnings to the charge; ledger lines are settle, then release.
const FINISH: &str = concat!(
    "WITH c AS (UPDATE calls SET status = $3, result = $4, completed_ms = $5, lease_expires_ms = NULL \
     WHERE id = $1 AND lease_id = $2 AND status = 'leased' RETURNING ",
    call_columns!(),
    "), \
     k AS (UPDATE payment_keys p SET reserved = p.reserved - c.reserved, \
     spent = p.spent + LEAST(GREATEST($6, 0), c.reserved) FROM c \
     WHERE p.owner = c.key_owner AND p.nonce = c.key_nonce RETURNING 1), \
     l AS (INSERT INTO ledger (owner, nonce, call_id, kind, amount, created_ms) \
     SELECT key_owner, key_nonce, id, 'settle', LEAST(GREATEST($6, 0), reserved), $5 FROM c \
     UNION ALL \
     SELECT key_owner, key_nonce, id, 'release', reserved - LEAST(GREATEST($6, 0), reserved), $5 FROM c), \
     e AS (INSERT INTO earnings (owner, project_id, amount, calls) \
     SELECT project_owner, project_id, LEAST(GREATEST($7, 0), LEAST(GREATEST($6, 0), reserved)), 1 FROM c \
     WHERE $3 = 'completed' \
     ON CONFLICT (owner, project_id) DO UPDATE SET amount = earnings.amount + excluded.amount, calls = earnings.calls + 1) \
     SELECT * FROM c"
);

impl_backend!(
    PostgresBackend,
    Postgres,
    begin = "BEGIN",
    lock = "FOR UPDATE SKIP LOCKED",
    enqueue = ENQUEUE,
    finish = FINISH,
    finish_lease = None::<&'static str>
);

super::retention::impl_retention!(PostgresBackend, Postgres, begin = "BEGIN");

super::secrets::impl_secrets!(PostgresBackend);

super::signin::impl_signin!(PostgresBackend, begin = "BEGIN");

super::registry::impl_registry!(PostgresBackend, begin = "BEGIN");

super::money::impl_money!(PostgresBackend, Postgres, begin = "BEGIN", lock_owner = "SELECT name FROM owners WHERE name = $1 FOR UPDATE");
