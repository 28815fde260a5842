//! PostgreSQL backend: the production database, shared by several coordinator replicas.

use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Execute as _, Executor, PgPool, Postgres, SqlSafeStr};
use tokio::sync::{mpsc, oneshot};

use super::HotRows;
use super::group::GroupStats;
use super::sql::{call_columns, impl_backend, key_columns, lease_candidates, lease_statement, lease_update, worker_columns};
use crate::error::CoordinatorError;

/// Connections in the PostgreSQL pool.
pub const PG_MAX_CONNECTIONS: u32 = 16;
/// How long a request waits for a pooled connection before it fails with 503
/// `database_unavailable`. While PostgreSQL is unreachable every request waits this long (sqlx
/// retries a refused connection until then), so it is short: 30 s left callers and workers
/// hanging for half a minute per request; a pool that stays exhausted for 5 s is overloaded anyway.
pub const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Most queued reserve / settle statements the group writer commits in one transaction.
pub const GROUP_MAX_OPS: usize = 64;
/// Reserve / settle statements waiting for the group writer (callers wait when it is full).
const GROUP_QUEUE: usize = 1024;

/// The PostgreSQL implementation of [`crate::db::Backend`].
#[derive(Debug, Clone)]
pub struct PostgresBackend {
    pool: PgPool,
    /// The group writer's queue: every [`PostgresBackend::batch`] (reserve + enqueue, settle)
    /// goes through it (see [`group::write_groups`]).
    writer: mpsc::Sender<group::GroupOp>,
    stats: Arc<GroupStats>,
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
        // No bitmap scans: every hot statement is a key lookup or an ordered index scan with a
        // LIMIT. The planner took a bitmap heap scan (then a sort) for the lease's sub-select,
        // which visits the heap page of every entry of the queue's index not vacuumed yet — every call
        // settled since the last autovacuum, 500–1,100 pages per lease in the load test. A plain
        // index scan marks those entries dead as it passes them, and later scans skip them
        // (3 pages per lease at 1 connection; see docs/performance.md).
        let options = options.options([("enable_bitmapscan", "off")]);
        let pool =
            PgPoolOptions::new().max_connections(PG_MAX_CONNECTIONS).acquire_timeout(PG_ACQUIRE_TIMEOUT).connect_with(options).await?;
        migrator().run(&pool).await?;
        let (writer, queue) = mpsc::channel(GROUP_QUEUE);
        let stats = Arc::new(GroupStats::default());
        tokio::spawn(group::write_groups(pool.clone(), queue, stats.clone()));
        Ok(Self { pool, writer, stats })
    }

    /// No rows are kept in memory: several replicas write the same database.
    fn lookups(&self) -> Option<&crate::db::LookupCache> {
        None
    }

    /// A pooled connection for reading.
    pub(super) async fn read(&self) -> Result<sqlx::pool::PoolConnection<Postgres>, StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// A pooled connection for writing (PostgreSQL handles concurrent writers itself).
    pub(super) async fn write(&self) -> Result<sqlx::pool::PoolConnection<Postgres>, StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// Runs one (atomic) statement, returning its rows once it is committed: through the group
    /// writer, which commits the statements queued meanwhile by other calls in the same
    /// transaction (one WAL flush, and one holder of the hot payment-key and earnings rows' locks,
    /// for the whole group). `hot` names the rows it locks, so that a group can lock them all in
    /// one global order first.
    async fn batch(&self, mut q: sqlx::query::Query<'_, Postgres, PgArguments>, hot: HotRows) -> Result<Vec<PgRow>, StoreError> {
        let args = q.take_arguments().map_err(sqlx::Error::Encode)?.unwrap_or_default();
        let (reply, answer) = oneshot::channel();
        match self.writer.send(group::GroupOp { sql: q.sql(), args, hot, reply }).await {
            // The writer answers every operation it takes; no answer = its runtime is gone.
            Ok(()) => answer.await.unwrap_or(Err(StoreError::Database(sqlx::Error::WorkerCrashed))),
            // The writer task is gone (the runtime that spawned it ended, as between tests): the
            // statement alone is atomic too.
            Err(mpsc::error::SendError(op)) => Ok(sqlx::query_with(op.sql, op.args).fetch_all(&self.pool).await?),
        }
    }

    /// What the group writer did so far: (groups, statements in them, groups that failed and
    /// were run again one statement at a time). A deadlock between replicas would show as a split.
    pub fn group_stats(&self) -> (u64, u64, u64) {
        self.stats.snapshot()
    }

    /// Closes the pool (used by tests that restart the coordinator).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The group writer (see [`group::write_groups`]).
mod group {
    use std::sync::Arc;
    use std::sync::atomic::Ordering::Relaxed;

    use sqlx::postgres::{PgArguments, PgRow};
    use sqlx::{Executor as _, PgPool, Postgres, SqlStr};
    use tokio::sync::{mpsc, oneshot};

    use super::GROUP_MAX_OPS;
    use crate::db::HotRows;
    use crate::db::group::GroupStats;
    use crate::error::{StoreError, unavailable_code};

    /// One queued statement for the group writer, the hot row it locks first (a reservation its
    /// payment key; a settlement its call, then the call's payment key, then the earnings row of
    /// its project), and where its rows go once committed.
    pub(super) struct GroupOp {
        pub(super) sql: SqlStr,
        pub(super) args: PgArguments,
        pub(super) hot: HotRows,
        pub(super) reply: oneshot::Sender<Result<Vec<PgRow>, StoreError>>,
    }

    /// Locks, before a group's statements run, every payment key they will update in key order
    /// (`$1`, `$2`: owners and nonces), then every earnings row (`$3`, `$4`: owners and project
    /// ids) in key order: the CTEs run in the order the select list names them. Every writer of
    /// every replica takes the hot rows in this one order (all keys sorted, then all earnings rows
    /// sorted; a statement run alone takes one key, then one earnings row), so two groups cannot
    /// each hold a row the other waits for. Without it two replicas' groups deadlocked all the
    /// time: one group's reservation locked the key and then wanted the earnings row its
    /// settlement updates, while the other's settlement held that earnings row and waited for the
    /// key; PostgreSQL broke each cycle after `deadlock_timeout`.
    ///
    /// A project's first earnings row does not exist yet: its insert is not ordered, and the rare
    /// deadlock that can cause is broken by PostgreSQL and the group run again statement by
    /// statement. The rows come from the operations ([`HotRows`]), not from the calls: this
    /// statement reads only the two small tables by their primary keys, so its prepared plan
    /// stays good as `calls` grows. (It used to look each settled call up, which had to be
    /// planned on every group — a plan cached while `calls` was small scanned it — and took a
    /// second statement for the earnings: 50 µs of PostgreSQL planning per call and one round
    /// trip per group more, `pg_stat_statements`, docs/performance.md "Round six".)
    const LOCK_ROWS: &str = "WITH k AS MATERIALIZED (SELECT 1 FROM payment_keys \
         WHERE (owner, nonce) IN (SELECT * FROM unnest($1::text[], $2::bigint[])) ORDER BY owner, nonce FOR NO KEY UPDATE), \
         e AS MATERIALIZED (SELECT 1 FROM earnings \
         WHERE (owner, project_id) IN (SELECT * FROM unnest($3::text[], $4::text[])) ORDER BY owner, project_id FOR NO KEY UPDATE) \
         SELECT (SELECT count(*) FROM k) AS keys, (SELECT count(*) FROM e) AS earnings";

    /// The group writer: takes the queued statements (up to [`GROUP_MAX_OPS`] at a time: whatever
    /// queued while the previous group committed) and commits them in one transaction on its own
    /// connection, then answers each. An answer is sent only after the `COMMIT` returned, so a call is
    /// acknowledged only once its reservation is committed and a result only once its settlement is.
    /// Each statement is one atomic operation (a CTE that changes nothing unless all of it applies),
    /// so grouping changes no operation's outcome, only how many operations one commit carries.
    pub(super) async fn write_groups(pool: PgPool, mut queue: mpsc::Receiver<GroupOp>, stats: Arc<GroupStats>) {
        let mut conn = None;
        let mut group = Vec::with_capacity(GROUP_MAX_OPS);
        // `PgPool::close` waits for every lent connection: the writer returns its own when the
        // pool closes (then its queue is dropped, and later statements fail on the closed pool).
        let mut closed = std::pin::pin!(pool.close_event());
        loop {
            tokio::select! {
                taken = queue.recv_many(&mut group, GROUP_MAX_OPS) => if taken == 0 { return },
                _ = &mut closed => return,
            }
            // A caller that stopped waiting (its request was dropped) gets nothing run for it, as if
            // its statement had never been sent.
            group.retain(|op| !op.reply.is_closed());
            if !group.is_empty() {
                stats.groups.fetch_add(1, Relaxed);
                stats.ops.fetch_add(group.len() as u64, Relaxed);
            }
            // A settlement whose hot rows are unknown cannot be ordered with the others: alone,
            // it locks its call, its key, then its earnings row, which is the global order too.
            for op in group.extract_if(.., |op| matches!(op.hot, HotRows::Settle(None))) {
                let rows = run_alone(&pool, &mut conn, &op).await;
                let _ = op.reply.send(rows);
            }
            // Reservations first, then settlements: a settlement's lease (`FINISH_LEASE`) then
            // finds the calls queued in the same transaction, and its slot takes one with its
            // result instead of leasing it later in a transaction of its own. Any order of one
            // group's operations is a valid one: none of them was answered yet.
            group.sort_by_key(|op| matches!(op.hot, HotRows::Settle(_)));
            match group.len() {
                0 => {}
                // Alone: autocommit, one round trip (no BEGIN / COMMIT).
                1 => {
                    let op = group.pop().expect("one op");
                    let rows = run_alone(&pool, &mut conn, &op).await;
                    let _ = op.reply.send(rows);
                }
                _ => commit_group(&pool, &mut conn, &mut group, &stats).await,
            }
            group.clear();
        }
    }

    /// The writer's connection, held across groups (a pooled connection is pinged each time it is
    /// lent; holding it saves that round trip per group).
    async fn writer_conn<'c>(
        pool: &PgPool,
        conn: &'c mut Option<sqlx::pool::PoolConnection<Postgres>>,
    ) -> Result<&'c mut sqlx::pool::PoolConnection<Postgres>, sqlx::Error> {
        if conn.is_none() {
            *conn = Some(pool.acquire().await?);
        }
        Ok(conn.as_mut().expect("connection just set"))
    }

    /// Forgets the writer's connection after an error that may have broken it (the next group takes
    /// a fresh one from the pool, which tests it).
    fn drop_if_broken(conn: &mut Option<sqlx::pool::PoolConnection<Postgres>>, err: &sqlx::Error) {
        if StoreError::Database(copy_error(err)).is_unavailable()
            && let Some(mut c) = conn.take()
        {
            c.close_on_drop();
        }
    }

    /// One statement in its own (implicit) transaction.
    async fn run_alone(
        pool: &PgPool,
        conn: &mut Option<sqlx::pool::PoolConnection<Postgres>>,
        op: &GroupOp,
    ) -> Result<Vec<PgRow>, StoreError> {
        let c = writer_conn(pool, conn).await?;
        let rows = sqlx::query_with(op.sql.clone(), op.args.clone()).fetch_all(&mut **c).await;
        if let Err(e) = &rows {
            drop_if_broken(conn, e);
        }
        Ok(rows?)
    }

    /// Commits `group` in one transaction and answers each operation. If a statement fails, nothing
    /// of the group is committed: each operation then runs alone and gets its own outcome (the
    /// failing one its error, the others their rows). If the `COMMIT` itself fails, whether it took
    /// effect is unknown (as for a single statement whose connection broke): every operation gets
    /// the error, none is run again.
    async fn commit_group(
        pool: &PgPool,
        conn: &mut Option<sqlx::pool::PoolConnection<Postgres>>,
        group: &mut Vec<GroupOp>,
        stats: &GroupStats,
    ) {
        let mut results = Vec::with_capacity(group.len());
        let (mut owners, mut nonces, mut earners, mut projects) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for op in group.iter() {
            match &op.hot {
                HotRows::Key { owner, nonce } => {
                    owners.push(owner.as_str());
                    nonces.push(*nonce);
                }
                HotRows::Settle(Some(rows)) => {
                    owners.push(rows.key_owner.as_str());
                    nonces.push(rows.key_nonce);
                    earners.push(rows.project_owner.as_str());
                    projects.push(rows.project_id.as_str());
                }
                // Taken out of the group by the writer (run alone).
                HotRows::Settle(None) => {}
            }
        }
        let together: Result<(), sqlx::Error> = async {
            let c = writer_conn(pool, conn).await?;
            c.execute("BEGIN").await?;
            let locked = sqlx::query(LOCK_ROWS).bind(&owners).bind(&nonces).bind(&earners).bind(&projects).execute(&mut **c).await;
            if let Err(e) = locked {
                let _ = c.execute("ROLLBACK").await;
                return Err(e);
            }
            for op in group.iter() {
                match sqlx::query_with(op.sql.clone(), op.args.clone()).fetch_all(&mut **c).await {
                    Ok(rows) => results.push(rows),
                    Err(e) => {
                        // The transaction is aborted: end it (a broken connection is dropped below).
                        let _ = c.execute("ROLLBACK").await;
                        return Err(e);
                    }
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = together {
            stats.split.fetch_add(1, Relaxed);
            tracing::debug!(error = %e, ops = group.len(), "a group failed; its statements run again one by one");
            drop_if_broken(conn, &e);
            for op in group.drain(..) {
                let rows = run_alone(pool, conn, &op).await;
                let _ = op.reply.send(rows);
            }
            return;
        }
        let c = conn.as_mut().expect("the group ran on it");
        if let Err(e) = c.execute("COMMIT").await {
            drop_if_broken(conn, &e);
            for op in group.drain(..) {
                let _ = op.reply.send(Err(StoreError::Database(copy_error(&e))));
            }
            return;
        }
        for (op, rows) in group.drain(..).zip(results) {
            let _ = op.reply.send(Ok(rows));
        }
    }

    /// The same failure for another operation of a group whose `COMMIT` failed (`sqlx::Error` is not
    /// `Clone`): a lost connection stays a lost connection ([`StoreError::is_unavailable`] sees what
    /// it saw), anything else becomes a protocol error carrying the message.
    fn copy_error(err: &sqlx::Error) -> sqlx::Error {
        match err {
            sqlx::Error::Io(e) => sqlx::Error::Io(std::io::Error::new(e.kind(), e.to_string())),
            sqlx::Error::PoolTimedOut => sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
            sqlx::Error::Database(d) if d.code().is_some_and(|c| unavailable_code(&c)) => {
                sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, d.to_string()))
            }
            other => sqlx::Error::Protocol(other.to_string()),
        }
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
            call_columns!(),
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

impl_backend!(
    PostgresBackend,
    Postgres,
    begin = "BEGIN",
    lock = "FOR UPDATE SKIP LOCKED",
    enqueue = ENQUEUE,
    finish = FINISH,
    finish_lease = FINISH_LEASE
);

super::retention::impl_retention!(PostgresBackend, Postgres, begin = "BEGIN");

super::secrets::impl_secrets!(PostgresBackend);

super::signin::impl_signin!(PostgresBackend, begin = "BEGIN");

super::registry::impl_registry!(PostgresBackend, begin = "BEGIN");

super::money::impl_money!(PostgresBackend, Postgres, begin = "BEGIN", lock_owner = "SELECT name FROM owners WHERE name = $1 FOR UPDATE");
