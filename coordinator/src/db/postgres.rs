//! PostgreSQL backend: the production database, shared by several coordinator replicas.

use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Executor, PgPool, Postgres, SqlSafeStr};
use tokio::sync::{mpsc, oneshot};

use super::group::{Done, GroupStats, WriteOp};
use super::pg_group;
use super::pg_listen::{self, SharedLookups};
use super::sql::{
    call_columns, impl_backend, key_columns, lease_candidates, lease_statement, lease_update, settled_call_columns, worker_columns,
};
use crate::error::CoordinatorError;

/// Connections in the PostgreSQL pool.
pub const PG_MAX_CONNECTIONS: u32 = 16;
/// How long a request waits for a pooled connection before it fails with 503
/// `database_unavailable`. While PostgreSQL is unreachable every request waits this long (sqlx
/// retries a refused connection until then), so it is short: 30 s left callers and workers
/// hanging for half a minute per request; a pool that stays exhausted for 5 s is overloaded anyway.
pub const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Reserve / settle operations waiting for the group writer (callers wait when it is full).
const GROUP_QUEUE: usize = 1024;

/// The PostgreSQL implementation of [`crate::db::Backend`].
#[derive(Debug, Clone)]
pub struct PostgresBackend {
    pool: PgPool,
    /// The group writer's queue: every hot write (reserve + enqueue, settle, settle + lease) goes
    /// through it (see [`pg_group`]).
    writer: mpsc::Sender<pg_group::Pending>,
    /// Where the writer connects (also used to run an operation alone when the writer is gone).
    target: Arc<pg_group::Target>,
    stats: Arc<GroupStats>,
    /// The key and project lookups, kept while the lookup listener listens (see [`pg_listen`]).
    lookups: Arc<SharedLookups>,
}

impl PostgresBackend {
    /// Connects, creates `schema` if given (and uses it through `search_path`), and applies the
    /// migrations in `migrations/postgres`.
    pub async fn connect(url: &str, schema: Option<&str>) -> Result<Self, CoordinatorError> {
        let mut options: PgConnectOptions = url.parse()?;
        // The group writer's connection: the same server, database, user and settings.
        let mut writer_config: tokio_postgres::Config =
            url.parse().map_err(|e| CoordinatorError::Config(format!("the PostgreSQL URL: {e}")))?;
        let mut startup = writer_config.get_options().map(str::to_owned).unwrap_or_default();
        if let Some(schema) = schema {
            if schema.is_empty() || !schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(CoordinatorError::Config(format!("schema name {schema:?} must be [A-Za-z0-9_]+")));
            }
            let admin = PgPoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
            // The name was validated above to be alphanumeric / underscore only.
            admin.execute(AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))).await?;
            admin.close().await;
            options = options.options([("search_path", schema)]);
            startup.push_str(&format!(" -c search_path={schema}"));
        }
        // No bitmap scans: every hot statement is a key lookup or an ordered index scan with a
        // LIMIT. The planner took a bitmap heap scan (then a sort) for the lease's sub-select,
        // which visits the heap page of every entry of the queue's index not vacuumed yet — every call
        // settled since the last autovacuum, 500–1,100 pages per lease in the load test. A plain
        // index scan marks those entries dead as it passes them, and later scans skip them
        // (3 pages per lease at 1 connection; see docs/performance.md).
        let options = options.options([("enable_bitmapscan", "off")]);
        startup.push_str(" -c enable_bitmapscan=off");
        writer_config.options(startup.trim_start()).connect_timeout(PG_ACQUIRE_TIMEOUT);
        let pool =
            PgPoolOptions::new().max_connections(PG_MAX_CONNECTIONS).acquire_timeout(PG_ACQUIRE_TIMEOUT).connect_with(options).await?;
        migrator().run(&pool).await?;
        let target = Arc::new(pg_group::Target {
            config: writer_config,
            sql: pg_group::Sql { enqueue: ENQUEUE, finish: FINISH, finish_lease: FINISH_LEASE },
            pid: Arc::default(),
        });
        let (writer, queue) = mpsc::channel(GROUP_QUEUE);
        let stats = Arc::new(GroupStats::default());
        let closed = pool.close_event();
        tokio::spawn(pg_group::write_groups((*target).clone(), queue, stats.clone(), closed));
        let lookups = Arc::new(SharedLookups::new(schema));
        tokio::spawn(pg_listen::listen(target.config.clone(), Arc::downgrade(&lookups), pool.close_event()));
        Ok(Self { pool, writer, target, stats, lookups })
    }

    /// The lookups kept in memory, while this replica hears of every change to them (see
    /// [`pg_listen`]).
    fn lookups(&self) -> Option<&crate::db::LookupCache> {
        self.lookups.live()
    }

    /// Tells every replica (this one's listener too) that `change` commits with `tx`: `NOTIFY`
    /// is delivered when, and only if, the transaction commits.
    async fn announce(&self, tx: &mut sqlx::Transaction<'_, Postgres>, change: &crate::db::LookupChange) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)").bind(&self.lookups.channel).bind(change.payload()).execute(&mut **tx).await?;
        Ok(())
    }

    /// A pooled connection for reading.
    pub(super) async fn read(&self) -> Result<sqlx::pool::PoolConnection<Postgres>, StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// A pooled connection for writing (PostgreSQL handles concurrent writers itself).
    pub(super) async fn write(&self) -> Result<sqlx::pool::PoolConnection<Postgres>, StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// Runs one hot write through the group writer, answered once its group is committed (see
    /// [`pg_group`]).
    async fn group(&self, op: WriteOp) -> Result<Done, StoreError> {
        let (reply, answer) = oneshot::channel();
        match self.writer.send((op, reply)).await {
            // The writer answers every operation it takes; no answer = its runtime is gone.
            Ok(()) => answer.await.unwrap_or(Err(StoreError::Database(sqlx::Error::WorkerCrashed))),
            // The writer task is gone (the runtime that spawned it ended, as between tests): the
            // operation alone, on a connection of its own.
            Err(mpsc::error::SendError((op, _))) => pg_group::run_detached(&self.target, &op).await,
        }
    }

    /// What the group writer did so far: (groups, operations in them, groups that failed and
    /// were run again one operation at a time). A deadlock between replicas would show as a split.
    pub fn group_stats(&self) -> (u64, u64, u64) {
        self.stats.snapshot()
    }

    /// The server process of the group writer's connection (0 before its first group): for tests
    /// that break that connection.
    #[doc(hidden)]
    pub fn group_writer_pid(&self) -> i32 {
        self.target.pid.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The server process of the lookup listener's connection (0 while it has none): for tests
    /// that break that connection.
    #[doc(hidden)]
    pub fn lookup_listener_pid(&self) -> i32 {
        self.lookups.pid.load(std::sync::atomic::Ordering::Relaxed)
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
        // The queue split by what a lease looks for: queued calls by age, expired leases by expiry.
        Migration::new(
            11,
            "lease_indexes".into(),
            MigrationType::Simple,
            include_str!("../../migrations/postgres/0011_lease_indexes.sql").into_sql_str(),
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

/// `finish`'s CTEs: everything hangs off the settled call row `c`, so nothing happens unless the
/// lease was current. The charge is clamped to the call's reservation and the earnings to the
/// charge; ledger lines are settle, then release.
macro_rules! finish_ctes {
    () => {
        concat!(
            "WITH c AS (UPDATE calls SET status = $3, result = $4, completed_ms = $5, lease_expires_ms = NULL \
             WHERE id = $1 AND lease_id = $2 AND status = 'leased' RETURNING ",
            settled_call_columns!(),
            "), \
             k AS (UPDATE payment_keys p SET reserved = p.reserved - c.reserved, \
             spent = p.spent + LEAST(GREATEST($6, 0), c.reserved) FROM c \
             WHERE p.owner = c.key_owner AND p.nonce = c.key_nonce RETURNING 1 AS locked), \
             l AS (INSERT INTO ledger (owner, nonce, call_id, kind, amount, created_ms) \
             SELECT key_owner, key_nonce, id, 'settle', LEAST(GREATEST($6, 0), reserved), $5 FROM c \
             UNION ALL \
             SELECT key_owner, key_nonce, id, 'release', reserved - LEAST(GREATEST($6, 0), reserved), $5 FROM c), \
             e AS (INSERT INTO earnings (owner, project_id, amount, calls) \
             SELECT project_owner, project_id, LEAST(GREATEST($7, 0), LEAST(GREATEST($6, 0), reserved)), 1 FROM c, k \
             WHERE $3 = 'completed' \
             ON CONFLICT (owner, project_id) DO UPDATE SET amount = earnings.amount + excluded.amount, calls = earnings.calls + 1)"
        )
    };
}

/// `finish` as one statement (see [`finish_ctes!`]); the settled row comes back.
const FINISH: &str = concat!(finish_ctes!(), " SELECT * FROM c");

/// `finish_and_lease` as one statement: [`FINISH`], and the lease of the next job for the same
/// worker (binds 8..=13: lease id, worker id, now, lease expiry, max attempts, grace). Both rows
/// come back. The lease never takes the call being settled, whose expired lease would make it a
/// candidate: two updates of one row in one statement, of which PostgreSQL applies one, and
/// which depending on the order the CTEs happen to run in (`id <> $1` makes it not depend on
/// it). Its candidates are locked `SKIP LOCKED`, so it waits for no other replica's lease.
///
/// The settlement's lease in the same transaction as the settlement, through the group writer,
/// saves each call a transaction of its own (a WAL flush) and a round trip: 1,246 → 1,427 calls/s
/// at 32 connections (`scripts/ab.sh`, docs/performance.md "Round five"). It had measured slower
/// (355 vs 520 calls/s) while the lease still walked one index of every queued and leased call.
const FINISH_LEASE: &str = concat!(
    finish_ctes!(),
    ", ",
    lease_candidates!("FOR UPDATE SKIP LOCKED", "$10", "$12", " AND id <> $1"),
    ", n AS (",
    lease_update!("$8", "$9", "$10", "$11", "$13"),
    ") SELECT * FROM c UNION ALL SELECT * FROM n"
);

impl_backend!(PostgresBackend, Postgres, begin = "BEGIN", lock = "FOR UPDATE SKIP LOCKED", grouped);

super::retention::impl_retention!(PostgresBackend, Postgres, begin = "BEGIN");

super::secrets::impl_secrets!(PostgresBackend);

super::signin::impl_signin!(PostgresBackend, begin = "BEGIN");

super::registry::impl_registry!(PostgresBackend, begin = "BEGIN");

super::money::impl_money!(PostgresBackend, Postgres, begin = "BEGIN", lock_owner = "SELECT name FROM owners WHERE name = $1 FOR UPDATE");
