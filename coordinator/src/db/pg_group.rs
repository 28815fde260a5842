//! Group commit on PostgreSQL: the hot writes (reserve + enqueue, settle, settle + lease) of
//! concurrent calls are queued to one writer task, which commits whatever is queued (up to
//! [`GROUP_MAX_OPS`] operations) in one transaction and answers each operation only after its
//! `COMMIT` returned — one WAL flush, and one holder of the hot payment-key and earnings rows'
//! locks, for the whole group.
//!
//! - **Pipelined.** The writer has a connection of its own (tokio-postgres) and sends a group's
//!   statements — `BEGIN`, the lock of its hot rows, each operation's prepared statement,
//!   `COMMIT` — in one go: the server runs them one after another without waiting for the
//!   writer between them. Through sqlx each statement was a round trip (about ten per group),
//!   every one of them a wake-up of the writer and of the server's backend, all of them inside
//!   the critical section that holds the hot key's lock: the groups of one busy key ran one after
//!   another at about one round trip per statement, which capped a coordinator at about 1,450
//!   calls/s whatever the group size (docs/performance.md, "Round six").
//! - **Lock order.** A group first locks every payment key it will update, in key order, then
//!   every earnings row, in key order ([`LOCK_ROWS`]); every writer of every replica takes the
//!   hot rows in this one order, so two groups never each hold a row the other waits for. The
//!   rows come from the operations: a reservation names its key, a settlement its key and earnings
//!   row ([`crate::db::Finish::rows`]). A settlement that does not know them (one replayed from
//!   the spool) is not grouped: alone it locks its call, then its key, then its earnings row,
//!   which is the global order too.
//! - **Kind order.** Reservations run before settlements: a settlement's lease then finds the
//!   calls the group queued, and its slot takes one with its result instead of leasing it later in
//!   a transaction of its own. None of a group's operations was answered, so any order is one the
//!   callers could have seen.
//! - **Failures.** An operation that does nothing (insufficient balance, a lost lease) returns no
//!   row and leaves no trace. An operation that fails with an SQL error aborts the transaction
//!   (the server then answers the rest of the pipeline with errors and turns its `COMMIT` into a
//!   rollback): each operation runs again alone, so only the failing one gets the error. A lost
//!   connection, or a failed `COMMIT`, leaves the outcome unknown (the `COMMIT` may have been
//!   applied): every operation of the group gets the error and none runs again, as for a single
//!   statement whose connection broke. The next group opens a new connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicI32;
use std::sync::atomic::Ordering::Relaxed;
use std::task::Poll;

use tokio::sync::{mpsc, oneshot};
use tokio_postgres::row::RowIndex;
use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::{Client, NoTls, Row, Statement};

use super::group::{Done, GroupStats, WriteOp};
use super::sql::{bind_enqueue, bind_finish, call_row_from};
use super::{CallRow, Finish};
use crate::error::StoreError;

/// Most queued operations the group writer commits in one transaction.
pub const GROUP_MAX_OPS: usize = 64;

/// An operation waiting for the writer, and where its outcome goes.
pub(super) type Pending = (WriteOp, oneshot::Sender<Result<Done, StoreError>>);

/// Locks, before a group's statements run, every payment key they will update in key order
/// (`$1`, `$2`: owners and nonces), then every earnings row in key order (`$3`, `$4`: owners and
/// project ids): the two CTEs run in the order the select list names them (see the module docs).
/// A project's first earnings row does not exist yet: its insert is not ordered, and the rare
/// deadlock that can cause is broken by PostgreSQL and the group run again operation by operation.
/// It reads only the two small tables by their primary keys, so its prepared plan stays good as
/// `calls` grows. (It used to look each settled call up, which had to be planned for every group
/// — a plan cached while `calls` was small scanned it — and took a second statement for the
/// earnings: 50 µs of PostgreSQL planning per call, `pg_stat_statements`.)
const LOCK_ROWS: &str = "WITH k AS MATERIALIZED (SELECT 1 FROM payment_keys \
     WHERE (owner, nonce) IN (SELECT * FROM unnest($1::text[], $2::bigint[])) ORDER BY owner, nonce FOR NO KEY UPDATE), \
     e AS MATERIALIZED (SELECT 1 FROM earnings \
     WHERE (owner, project_id) IN (SELECT * FROM unnest($3::text[], $4::text[])) ORDER BY owner, project_id FOR NO KEY UPDATE) \
     SELECT (SELECT count(*) FROM k) AS keys, (SELECT count(*) FROM e) AS earnings";

/// The parameter types of `ENQUEUE` (`bind_enqueue!`'s order: the call's columns, then its hard
/// lease deadline), given rather than inferred so that each matches the Rust value bound to it.
const ENQUEUE_TYPES: [Type; 27] = [
    Type::TEXT, // id
    Type::TEXT, // request_id
    Type::TEXT, // project_id
    Type::TEXT, // project_owner
    Type::TEXT, // project_name
    Type::TEXT, // wasm_sha256
    Type::TEXT, // key_owner
    Type::INT8, // key_nonce
    Type::TEXT, // input
    Type::INT8, // max_instructions
    Type::INT8, // max_memory_mb
    Type::INT8, // max_execution_seconds
    Type::TEXT, // grants
    Type::INT8, // attached_deposit
    Type::INT8, // compute_limit
    Type::INT8, // reserved
    Type::TEXT, // status
    Type::TEXT, // lease_id
    Type::TEXT, // worker_id
    Type::INT8, // lease_expires_ms
    Type::INT8, // attempts
    Type::INT8, // created_ms
    Type::INT8, // completed_ms
    Type::TEXT, // result
    Type::TEXT, // http_allowlist
    Type::TEXT, // secrets_ref
    Type::INT8, // lease_deadline_ms
];

/// The parameter types of `FINISH_LEASE` (`bind_finish!`'s seven — call id, lease id, status,
/// result, now, charged, earnings — then lease id, worker id, now, lease expiry, max attempts,
/// grace); `FINISH` takes the first seven.
const FINISH_LEASE_TYPES: [Type; 13] = [
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
];

/// The SQL of the three operations (the backend's dialect, see `db/postgres.rs`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Sql {
    /// Reserve + insert the call + its ledger line (binds: [`ENQUEUE_TYPES`]).
    pub enqueue: &'static str,
    /// Settle (binds: the first seven of [`FINISH_LEASE_TYPES`]); the settled row comes back.
    pub finish: &'static str,
    /// Settle, then lease the next job (binds: [`FINISH_LEASE_TYPES`]); both rows come back.
    pub finish_lease: &'static str,
}

/// Where and how the writer connects (`Config`'s `Debug` leaves the password out).
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub config: tokio_postgres::Config,
    pub sql: Sql,
    /// The server process of the writer's current connection (0 before the first; for tests
    /// that break the connection).
    pub pid: Arc<AtomicI32>,
}

/// The writer's connection and its prepared statements.
struct Conn {
    client: Client,
    begin: Statement,
    commit: Statement,
    lock: Statement,
    enqueue: Statement,
    finish: Statement,
    finish_lease: Statement,
}

impl Conn {
    /// Connects (within `connect_timeout` of the target's configuration) and prepares the
    /// statements, all in one round trip.
    async fn open(target: &Target) -> Result<Self, StoreError> {
        let (client, connection) = target.config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "the group writer's PostgreSQL connection ended");
            }
        });
        let (pid, begin, commit, lock, enqueue, finish, finish_lease) = tokio::try_join!(
            client.query_one("SELECT pg_backend_pid()", &[]),
            client.prepare("BEGIN"),
            client.prepare("COMMIT"),
            client.prepare(LOCK_ROWS),
            client.prepare_typed(target.sql.enqueue, &ENQUEUE_TYPES),
            client.prepare_typed(target.sql.finish, &FINISH_LEASE_TYPES[..7]),
            client.prepare_typed(target.sql.finish_lease, &FINISH_LEASE_TYPES),
        )?;
        target.pid.store(pid.try_get(0)?, Relaxed);
        Ok(Self { client, begin, commit, lock, enqueue, finish, finish_lease })
    }

    /// The statement of `op`, and its bound values.
    fn bind<'a>(&self, op: &'a WriteOp) -> (&Statement, Binds<'a>) {
        match op {
            WriteOp::Enqueue { call, lease_deadline_ms } => (&self.enqueue, bind_enqueue!(Binds::default(), &**call, *lease_deadline_ms)),
            WriteOp::Finish(f) => (&self.finish, bind_finish!(Binds::default(), f)),
            WriteOp::FinishLease { finish, worker_id, lease_id, now_ms, expires_ms, max_attempts, grace_ms } => (
                &self.finish_lease,
                bind_finish!(Binds::default(), finish)
                    .bind(lease_id)
                    .bind(worker_id)
                    .bind(*now_ms)
                    .bind(*expires_ms)
                    .bind(*max_attempts)
                    .bind(*grace_ms),
            ),
        }
    }
}

/// Bound values of one statement, collected by the shared binders (`bind_enqueue!`,
/// `bind_finish!`).
#[derive(Default)]
struct Binds<'a>(Vec<Box<dyn ToSql + Sync + Send + 'a>>);

impl<'a> Binds<'a> {
    fn bind<T: ToSql + Sync + Send + 'a>(mut self, value: T) -> Self {
        self.0.push(Box::new(value));
        self
    }

    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0.iter().map(|b| &**b as &(dyn ToSql + Sync)).collect()
    }
}

/// A tokio-postgres row, read by column name like an sqlx row (for [`call_row_from!`]).
struct PgRow<'r>(&'r Row);

impl<'r> PgRow<'r> {
    fn try_get<T: FromSql<'r>, I: RowIndex + std::fmt::Display>(&self, index: I) -> Result<T, tokio_postgres::Error> {
        self.0.try_get(index)
    }
}

fn call_row(r: &Row) -> Result<CallRow, StoreError> {
    call_row_from!(PgRow(r))
}

/// What `op` did, from the rows its statement returned.
fn done(op: &WriteOp, rows: &[Row]) -> Result<Done, StoreError> {
    Ok(match op {
        WriteOp::Enqueue { .. } => Done::Enqueued(!rows.is_empty()),
        WriteOp::Finish(_) => Done::Finished(rows.first().map(call_row).transpose()?.map(Box::new)),
        WriteOp::FinishLease { lease_id, .. } => {
            // The settled row and the leased one (the lease under the new lease id).
            let (mut settled, mut leased) = (None, None);
            for row in rows {
                let call = call_row(row)?;
                if call.lease_id.as_deref() == Some(lease_id.as_str()) && call.status == outlayer_protocol::CallStatus::Leased {
                    leased = Some(call);
                } else {
                    settled = Some(call);
                }
            }
            Done::FinishedLeased(Box::new((settled, leased)))
        }
    })
}

/// The settlement of `op`, if it is one.
fn settlement(op: &WriteOp) -> Option<&Finish> {
    match op {
        WriteOp::Enqueue { .. } => None,
        WriteOp::Finish(f) | WriteOp::FinishLease { finish: f, .. } => Some(f),
    }
}

/// Whether `op` cannot take part in a group's lock order (a settlement that does not name its rows).
fn unordered(op: &WriteOp) -> bool {
    settlement(op).is_some_and(|f| f.rows.is_none())
}

/// The group writer (see the module docs): takes the queued operations (up to
/// [`GROUP_MAX_OPS`] at a time: whatever queued while the previous group committed), commits them
/// in one transaction and answers each. Ends when the queue's senders are gone or `closed` fires
/// (the backend's pool was closed).
pub(super) async fn write_groups(
    target: Target,
    mut queue: mpsc::Receiver<Pending>,
    stats: Arc<GroupStats>,
    closed: impl Future<Output = ()>,
) {
    let mut conn: Option<Conn> = None;
    let mut group: Vec<Pending> = Vec::with_capacity(GROUP_MAX_OPS);
    let mut closed = std::pin::pin!(closed);
    loop {
        tokio::select! {
            taken = queue.recv_many(&mut group, GROUP_MAX_OPS) => if taken == 0 { return },
            _ = &mut closed => return,
        }
        // A caller that stopped waiting (its request was dropped) gets nothing run for it, as if
        // its operation had never been sent.
        group.retain(|(_, reply)| !reply.is_closed());
        if group.is_empty() {
            continue;
        }
        stats.groups.fetch_add(1, Relaxed);
        stats.ops.fetch_add(group.len() as u64, Relaxed);
        for (op, reply) in group.extract_if(.., |(op, _)| unordered(op)) {
            let _ = reply.send(run_alone(&target, &mut conn, &op).await);
        }
        group.sort_by_key(|(op, _)| op.kind());
        match group.len() {
            0 => {}
            // Alone: autocommit, one round trip (no BEGIN / COMMIT).
            1 => {
                let (op, reply) = group.pop().expect("one op");
                let _ = reply.send(run_alone(&target, &mut conn, &op).await);
            }
            _ => commit_group(&target, &mut conn, &mut group, &stats).await,
        }
        group.clear();
    }
}

/// The writer's connection, opened if there is none (or it was closed).
async fn writer_conn<'c>(target: &Target, conn: &'c mut Option<Conn>) -> Result<&'c Conn, StoreError> {
    if conn.as_ref().is_none_or(|c| c.client.is_closed()) {
        *conn = Some(Conn::open(target).await?);
    }
    Ok(conn.as_ref().expect("connection just set"))
}

/// Runs `op` alone, in its own (implicit) transaction: one round trip.
async fn run_alone(target: &Target, conn: &mut Option<Conn>, op: &WriteOp) -> Result<Done, StoreError> {
    let c = writer_conn(target, conn).await?;
    let (statement, binds) = c.bind(op);
    match c.client.query(statement, &binds.refs()).await {
        Ok(rows) => done(op, &rows),
        Err(e) => {
            if suspect(&e) {
                *conn = None;
            }
            Err(e.into())
        }
    }
}

/// Whether the writer's connection may be broken after `e`: an error the server did not answer
/// (lost, timed out, or out of step with the protocol), or one saying it cannot serve. The next
/// operation then opens a new connection.
fn suspect(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_none() || StoreError::is_unavailable_pg(e)
}

/// Runs `op` alone on a connection of its own (the writer task is gone: its runtime ended).
pub(super) async fn run_detached(target: &Target, op: &WriteOp) -> Result<Done, StoreError> {
    run_alone(target, &mut None, op).await
}

/// Commits `group` in one pipelined transaction and answers each operation (see the module docs
/// for what happens on an error).
async fn commit_group(target: &Target, conn: &mut Option<Conn>, group: &mut Vec<Pending>, stats: &GroupStats) {
    let outcome = {
        let c = match writer_conn(target, conn).await {
            Ok(c) => c,
            Err(e) => {
                let shared = shared_error(e.is_unavailable(), e.to_string());
                for (_, reply) in group.drain(..) {
                    let _ = reply.send(Err(shared()));
                }
                return;
            }
        };
        let (mut owners, mut nonces, mut earners, mut projects) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (op, _) in group.iter() {
            match op {
                WriteOp::Enqueue { call, .. } => {
                    owners.push(call.key_owner.as_str());
                    nonces.push(call.key_nonce);
                }
                WriteOp::Finish(f) | WriteOp::FinishLease { finish: f, .. } => {
                    // Every settlement here names its rows (the others ran alone).
                    if let Some(rows) = &f.rows {
                        owners.push(rows.key_owner.as_str());
                        nonces.push(rows.key_nonce);
                        earners.push(rows.project_owner.as_str());
                        projects.push(rows.project_id.as_str());
                    }
                }
            }
        }
        let lock: [&(dyn ToSql + Sync); 4] = [&owners, &nonces, &earners, &projects];
        let bound: Vec<(&Statement, Binds<'_>)> = group.iter().map(|(op, _)| c.bind(op)).collect();
        let refs: Vec<Vec<&(dyn ToSql + Sync)>> = bound.iter().map(|(_, b)| b.refs()).collect();
        let mut requests: Vec<Query<'_>> = Vec::with_capacity(group.len() + 3);
        requests.push(Box::pin(c.client.query(&c.begin, &[])));
        requests.push(Box::pin(c.client.query(&c.lock, &lock)));
        for ((statement, _), params) in bound.iter().zip(&refs) {
            requests.push(Box::pin(c.client.query(*statement, params)));
        }
        requests.push(Box::pin(c.client.query(&c.commit, &[])));
        pipelined(requests).await
    };
    let mut answers = outcome.into_iter();
    let (begun, locked) = (answers.next().expect("BEGIN's answer"), answers.next().expect("the lock's answer"));
    let committed = answers.next_back().expect("COMMIT's answer");
    let ran: Vec<_> = answers.collect();
    let statements = std::iter::once(&begun).chain(std::iter::once(&locked)).chain(ran.iter());
    // The first error the server answered for a statement before the COMMIT (the transaction was
    // aborted there), or one that lost the connection.
    match statements.filter_map(|r| r.as_ref().err()).next() {
        None => {}
        Some(e) if e.as_db_error().is_some() && !StoreError::is_unavailable_pg(e) => {
            // The server refused a statement: the transaction was aborted and its COMMIT rolled
            // it back. Each operation runs again alone, so only the failing one fails.
            stats.split.fetch_add(1, Relaxed);
            tracing::debug!(error = %e, ops = group.len(), "a group failed; its operations run again one by one");
            for (op, reply) in group.drain(..) {
                let _ = reply.send(run_alone(target, conn, &op).await);
            }
            return;
        }
        Some(e) => {
            // The connection was lost: whether the COMMIT took effect is unknown.
            let shared = shared_error(true, e.to_string());
            *conn = None;
            for (_, reply) in group.drain(..) {
                let _ = reply.send(Err(shared()));
            }
            return;
        }
    }
    if let Err(e) = committed {
        let shared = shared_error(StoreError::is_unavailable_pg(&e), e.to_string());
        if suspect(&e) {
            *conn = None;
        }
        for (_, reply) in group.drain(..) {
            let _ = reply.send(Err(shared()));
        }
        return;
    }
    for ((op, reply), rows) in group.drain(..).zip(ran) {
        let rows = rows.expect("checked above");
        let _ = reply.send(done(&op, &rows));
    }
}

/// One pipelined request's answer.
type Query<'a> = Pin<Box<dyn Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send + 'a>>;

/// Awaits `requests`, sending them all first, in order: tokio-postgres sends a request when its
/// future is first polled, so polling each once before awaiting any puts the whole group on the
/// wire at once (the server runs them in the order sent).
async fn pipelined(mut requests: Vec<Query<'_>>) -> Vec<Result<Vec<Row>, tokio_postgres::Error>> {
    let mut answers: Vec<Option<Result<Vec<Row>, tokio_postgres::Error>>> = requests.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (request, answer) in requests.iter_mut().zip(answers.iter_mut()) {
            if let Poll::Ready(a) = request.as_mut().poll(cx) {
                *answer = Some(a);
            }
        }
        Poll::Ready(())
    })
    .await;
    for (request, answer) in requests.iter_mut().zip(answers.iter_mut()) {
        if answer.is_none() {
            *answer = Some(request.await);
        }
    }
    answers.into_iter().map(|a| a.expect("every request answered")).collect()
}

/// The same error for every operation of a group (errors are not `Clone`): a lost connection
/// stays a lost connection ([`StoreError::is_unavailable`] sees what it saw), anything else
/// becomes a protocol error carrying the message.
fn shared_error(unavailable: bool, message: String) -> impl Fn() -> StoreError {
    move || {
        if unavailable {
            StoreError::Database(sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, message.clone())))
        } else {
            StoreError::Database(sqlx::Error::Protocol(message.clone()))
        }
    }
}
