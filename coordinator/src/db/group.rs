//! Group commit on SQLite: the hot writes (reserve + enqueue, settle, settle + lease) of
//! concurrent calls are queued to one writer task, which runs whatever is queued (up to
//! [`MAX_GROUP`] operations) as one transaction and answers each operation only after `COMMIT`
//! returned.
//!
//! - The writer runs a group *inline*, on its own task's thread, through a connection of its own
//!   ([`HotWriter`], rusqlite): no hop to a connection thread and back per statement or per row.
//!   Through sqlx's SQLite driver each group was a round trip to that driver's thread, and every
//!   statement result and row a message back from it: 16 context switches per call at one
//!   connection (`switches_per_call` of `scripts/load.sh`). A group's statements are a few
//!   prepared statements and run in tens of microseconds (the WAL is written, not synced: the
//!   database is in `synchronous = NORMAL`), so holding the runtime's thread for them is cheaper
//!   than handing them off.
//! - The writer holds the backend's write lock (the sqlx write connection's mutex) for each group,
//!   so the group and the other writes (projects, keys, money, retention) never wait for each other
//!   inside SQLite's busy handler. What can still make a group wait there is the background
//!   checkpointer's `TRUNCATE` (past 64 MiB of WAL) and SQLite's automatic checkpoint, which the
//!   writer runs itself past 10,000 WAL pages: that wait, too, now holds a runtime thread (at most
//!   one: the groups take turns on the write lock).
//! - Operations run in kind order (enqueues, then settles, then settles that lease): none of them
//!   has been answered, so any order is one the callers could have seen, and a settle-and-lease of
//!   the group can lease a job the group just queued.
//! - An operation that does nothing (insufficient balance, a lost lease) leaves no trace. An
//!   operation that fails (an SQL error) rolls the whole group back; then each operation runs
//!   again alone, so only the failing one gets the error.
//! - A crash before `COMMIT` loses only operations nobody was answered for: a call is
//!   acknowledged only after its reservation is committed, a result only after its settlement.

use std::path::Path;
use std::sync::{Arc, LazyLock, Weak};

use rusqlite::types::ToSql;
use rusqlite::{OptionalExtension as _, params};
use tokio::sync::{mpsc, oneshot};

use super::sql::{bind_enqueue, call_columns, call_row_from, lease_statement, settled_call_columns};
use super::{CallRow, Finish};
use crate::error::StoreError;
use crate::model::CallStatus;

/// Most operations committed in one transaction.
pub const MAX_GROUP: usize = 32;

/// One hot write, with its own values.
#[derive(Debug)]
pub(crate) enum WriteOp {
    /// Reserve on the key and insert the call (queued, or leased with this hard deadline).
    Enqueue { call: Box<CallRow>, lease_deadline_ms: Option<i64> },
    /// Settle a call.
    Finish(Finish),
    /// Settle a call, then lease the next job for `worker_id`.
    FinishLease { finish: Finish, worker_id: String, lease_id: String, now_ms: i64, expires_ms: i64, max_attempts: i64, grace_ms: i64 },
}

impl WriteOp {
    /// The order operations of one group run in: enqueues, settles, settles that lease.
    pub(crate) fn kind(&self) -> usize {
        match self {
            WriteOp::Enqueue { .. } => 0,
            WriteOp::Finish(_) => 1,
            WriteOp::FinishLease { .. } => 2,
        }
    }
}

/// What an operation did, once its group is committed.
#[derive(Debug)]
pub(crate) enum Done {
    /// `Enqueue`: whether the call was reserved and queued (`false`: the key lacked the balance or
    /// was revoked; nothing was written).
    Enqueued(bool),
    /// `Finish`: the settled call (`None`: the lease was not the call's current one; nothing
    /// was written).
    Finished(Option<Box<CallRow>>),
    /// `FinishLease`: the settled call, and the job leased after it.
    FinishedLeased(Box<(Option<CallRow>, Option<CallRow>)>),
}

/// `enqueue`, first: the reservation (`?1` amount, `?2` key owner, `?3` nonce). The call and its
/// ledger line are written only if it updated the key.
const RESERVE: &str = "UPDATE payment_keys SET reserved = reserved + ?1 WHERE owner = ?2 AND nonce = ?3 \
     AND revoked = 0 AND balance - spent - reserved >= ?1";
/// `enqueue`, then: the call, its columns bound by [`bind_enqueue!`] in order.
const INSERT_CALL: &str = concat!(
    "INSERT INTO calls (",
    call_columns!(),
    ", lease_deadline_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
);
/// `enqueue`, last: the reservation's ledger line (`?1` owner, `?2` nonce, `?3` call, `?4`
/// amount, `?5` time).
const LEDGER_RESERVE: &str = "INSERT INTO ledger (owner, nonce, call_id, kind, amount, created_ms) VALUES (?1, ?2, ?3, 'reserve', ?4, ?5)";
/// `finish`, first: the call, if the lease is still its own (`?1` call, `?2` lease, `?3` status,
/// `?4` result, `?5` now). Nothing else is written unless this returns the call.
const SETTLE_CALL: &str = concat!(
    "UPDATE calls SET status = ?3, result = ?4, completed_ms = ?5, lease_expires_ms = NULL \
     WHERE id = ?1 AND lease_id = ?2 AND status = 'leased' RETURNING ",
    settled_call_columns!()
);
/// `finish`: the key's reservation released and the charge spent (`?1` reserved, `?2` charge,
/// `?3` owner, `?4` nonce).
const SETTLE_KEY: &str = "UPDATE payment_keys SET reserved = reserved - ?1, spent = spent + ?2 WHERE owner = ?3 AND nonce = ?4";
/// `finish`: the ledger lines, settle then release (`?1` owner, `?2` nonce, `?3` call, `?4`
/// charge, `?5` released, `?6` time).
const LEDGER_SETTLE: &str = "INSERT INTO ledger (owner, nonce, call_id, kind, amount, created_ms) \
     VALUES (?1, ?2, ?3, 'settle', ?4, ?6), (?1, ?2, ?3, 'release', ?5, ?6)";
/// `finish` of a completed call: the project owner's earnings (`?1` owner, `?2` project, `?3`
/// amount).
const EARN: &str = "INSERT INTO earnings (owner, project_id, amount, calls) VALUES (?1, ?2, ?3, 1) \
     ON CONFLICT (owner, project_id) DO UPDATE SET amount = earnings.amount + excluded.amount, calls = earnings.calls + 1";
/// The backends' lease statement (`?1` lease id, `?2` worker id, `?3` now, `?4` lease expiry,
/// `?5` max attempts, `?6` grace), in SQLite's numbered `?N` placeholders: SQLite reads `$N` as a
/// *named* parameter, numbered in order of appearance.
static LEASE: LazyLock<String> = LazyLock::new(|| lease_statement!("").replace('$', "?"));

/// Bound values of one statement, collected by the shared binders (`bind_enqueue!`).
#[derive(Default)]
struct Binds<'a>(Vec<Box<dyn ToSql + 'a>>);

impl<'a> Binds<'a> {
    fn bind<T: ToSql + 'a>(mut self, value: T) -> Self {
        self.0.push(Box::new(value));
        self
    }
}

/// The names of [`call_columns!`], in order: the index of each column in every row the writer
/// reads (`RETURNING` [`call_columns!`] or [`settled_call_columns!`]).
static CALL_COLUMNS: LazyLock<Vec<&'static str>> = LazyLock::new(|| call_columns!().split(',').map(str::trim).collect());

/// A row of [`call_columns!`] read by column name like an sqlx row (for [`call_row_from!`]), each
/// name found by its position in [`CALL_COLUMNS`]. rusqlite finds a name by asking SQLite for every
/// column's name and comparing it without case: 26 lookups per row cost 1.7 % of `serve`'s CPU on
/// SQLite at 32 connections. A name not in the list is looked up by rusqlite.
struct CallColumns<'a, 'r>(&'a rusqlite::Row<'r>);

impl CallColumns<'_, '_> {
    fn try_get<T: rusqlite::types::FromSql, N: AsRef<str>>(&self, name: N) -> rusqlite::Result<T> {
        let name = name.as_ref();
        match CALL_COLUMNS.iter().position(|c| *c == name) {
            Some(index) => self.0.get(index),
            None => self.0.get(name),
        }
    }
}

fn call_row(r: &rusqlite::Row<'_>) -> Result<CallRow, StoreError> {
    debug_assert_eq!(r.as_ref().column_count(), CALL_COLUMNS.len(), "a call row has the columns of call_columns!");
    call_row_from!(&CallColumns(r))
}

/// The group writer's own connection to the database file (see the module's documentation).
pub(crate) struct HotWriter {
    conn: rusqlite::Connection,
}

impl HotWriter {
    /// Opens `path` (created and migrated already) with the settings of the backend's write
    /// connection.
    pub(crate) fn open(path: &Path, busy_timeout: std::time::Duration, autocheckpoint_pages: u32) -> Result<Self, rusqlite::Error> {
        let conn = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(busy_timeout)?;
        // The journal mode is the file's (WAL, set when it was created); the rest is per connection.
        conn.execute_batch(&format!(
            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = {autocheckpoint_pages};"
        ))?;
        Ok(Self { conn })
    }

    /// Runs `op` alone, in a transaction of its own.
    pub(crate) fn run_one(&mut self, op: &WriteOp) -> Result<Done, StoreError> {
        only(self.run(&[op])?)
    }

    /// Runs `ops` (in this order) as one transaction: what each did, or the first error (then
    /// nothing of the group was committed).
    pub(crate) fn run(&mut self, ops: &[&WriteOp]) -> Result<Vec<Done>, StoreError> {
        if !self.conn.is_autocommit() {
            // A transaction left open (a group that panicked midway): nothing of it was answered.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let done: Result<Vec<Done>, StoreError> = ops.iter().map(|op| self.op(op)).collect();
        let committed = done.and_then(|done| Ok(self.conn.execute_batch("COMMIT").map(|()| done)?));
        if committed.is_err() && !self.conn.is_autocommit() {
            // An error (or a COMMIT that failed and left the transaction open): nothing of the
            // group stays. A failed ROLLBACK leaves SQLite to roll back the transaction itself.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        committed
    }

    fn op(&self, op: &WriteOp) -> Result<Done, StoreError> {
        Ok(match op {
            WriteOp::Enqueue { call, lease_deadline_ms } => Done::Enqueued(self.enqueue(call, *lease_deadline_ms)?),
            WriteOp::Finish(f) => Done::Finished(self.finish(f)?.map(Box::new)),
            WriteOp::FinishLease { finish, worker_id, lease_id, now_ms, expires_ms, max_attempts, grace_ms } => {
                let settled = self.finish(finish)?;
                let leased = self
                    .conn
                    .prepare_cached(&LEASE)?
                    .query_row(params![lease_id, worker_id, now_ms, expires_ms, max_attempts, grace_ms], |r| Ok(call_row(r)))
                    .optional()?
                    .transpose()?;
                Done::FinishedLeased(Box::new((settled, leased)))
            }
        })
    }

    /// Reserves on the key if it has the balance (and is not revoked), and only then inserts the
    /// call and its ledger line.
    fn enqueue(&self, c: &CallRow, lease_deadline_ms: Option<i64>) -> Result<bool, StoreError> {
        if self.conn.prepare_cached(RESERVE)?.execute(params![c.reserved, c.key_owner, c.key_nonce])? != 1 {
            return Ok(false);
        }
        let binds = bind_enqueue!(Binds::default(), c, lease_deadline_ms);
        self.conn.prepare_cached(INSERT_CALL)?.execute(rusqlite::params_from_iter(binds.0.iter()))?;
        self.conn.prepare_cached(LEDGER_RESERVE)?.execute(params![c.key_owner, c.key_nonce, c.id, c.reserved, c.created_ms])?;
        Ok(true)
    }

    /// Settles the call if the lease is still its own, and only then moves the money (the charge
    /// clamped to the call's reservation, the earnings to the charge), writes the ledger (settle,
    /// then release) and credits the earnings of a completed call.
    fn finish(&self, f: &Finish) -> Result<Option<CallRow>, StoreError> {
        let result = super::to_json_text(&f.result);
        let settled = self
            .conn
            .prepare_cached(SETTLE_CALL)?
            .query_row(params![f.call_id, f.lease_id, f.status.as_str(), result, f.now_ms], |r| Ok(call_row(r)))
            .optional()?
            .transpose()?;
        let Some(call) = settled else { return Ok(None) };
        let charge = f.charged.max(0).min(call.reserved);
        let released = call.reserved - charge;
        let key = params![call.reserved, charge, call.key_owner, call.key_nonce];
        if self.conn.prepare_cached(SETTLE_KEY)?.execute(key)? == 1 {
            let lines = params![call.key_owner, call.key_nonce, call.id, charge, released, f.now_ms];
            self.conn.prepare_cached(LEDGER_SETTLE)?.execute(lines)?;
            if f.status == CallStatus::Completed {
                let earned = f.earnings.max(0).min(charge);
                self.conn.prepare_cached(EARN)?.execute(params![call.project_owner, call.project_id, earned])?;
            }
        }
        Ok(Some(call))
    }
}

/// An operation waiting for the writer, and where its outcome goes.
pub(crate) type Pending = (WriteOp, oneshot::Sender<Result<Done, StoreError>>);

/// What runs a group: the backend (see [`super::sqlite::SqliteBackend`]), which takes its write
/// lock and runs the group on its [`HotWriter`].
#[async_trait::async_trait]
pub(crate) trait GroupConn: Send + Sync + 'static {
    /// Runs `ops` as one transaction (see [`HotWriter::run`]).
    async fn run(&self, ops: &[&WriteOp]) -> Result<Vec<Done>, StoreError>;

    /// Runs `op` alone, in a transaction of its own.
    async fn run_one(&self, op: &WriteOp) -> Result<Done, StoreError> {
        only(self.run(&[op]).await?)
    }
}

/// The outcome of a group of one.
fn only(mut each: Vec<Done>) -> Result<Done, StoreError> {
    each.pop().ok_or_else(|| StoreError::Corrupt("the group writer answered nothing".into()))
}

/// Counters of the writer: groups committed and operations in them.
#[derive(Debug, Default)]
pub struct GroupStats {
    /// Groups run (a group of one included).
    pub groups: std::sync::atomic::AtomicU64,
    /// Operations run in them.
    pub ops: std::sync::atomic::AtomicU64,
    /// Groups that failed and were run again one operation at a time.
    pub split: std::sync::atomic::AtomicU64,
}

impl GroupStats {
    /// (groups, operations, groups split).
    pub fn snapshot(&self) -> (u64, u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.groups.load(Relaxed), self.ops.load(Relaxed), self.split.load(Relaxed))
    }
}

/// The writer task: takes the first queued operation and whatever else is queued (up to
/// [`MAX_GROUP`]), runs them as one group and answers each. Ends when the backend is dropped.
pub(crate) async fn write_groups<C: GroupConn>(conn: Weak<C>, stats: Arc<GroupStats>, mut queue: mpsc::UnboundedReceiver<Pending>) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut group: Vec<Pending> = Vec::with_capacity(MAX_GROUP);
    loop {
        if queue.recv_many(&mut group, MAX_GROUP).await == 0 {
            break;
        }
        let Some(conn) = conn.upgrade() else { break };
        group.sort_by_key(|(op, _)| op.kind());
        stats.groups.fetch_add(1, Relaxed);
        stats.ops.fetch_add(group.len() as u64, Relaxed);
        let ops: Vec<&WriteOp> = group.iter().map(|(op, _)| op).collect();
        match conn.run(&ops).await {
            Ok(done) => {
                for ((_, reply), done) in group.drain(..).zip(done) {
                    let _ = reply.send(Ok(done));
                }
            }
            Err(e) if group.len() == 1 => {
                let (_, reply) = group.pop().expect("one operation");
                let _ = reply.send(Err(e));
            }
            // One operation's error rolled back the group: each runs again alone, so only the
            // failing one fails.
            Err(_) => {
                stats.split.fetch_add(1, Relaxed);
                for (op, reply) in group.drain(..) {
                    let _ = reply.send(conn.run_one(&op).await);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Backend as _;

    /// A queued call of key `key_owner`/1 reserving `reserved`.
    fn test_call(id: &str, key_owner: &str, reserved: i64) -> CallRow {
        CallRow {
            id: id.into(),
            request_id: format!("r-{id}"),
            project_id: "p1".into(),
            project_owner: key_owner.into(),
            project_name: "echo".into(),
            wasm_sha256: "00".repeat(32),
            key_owner: key_owner.into(),
            key_nonce: 1,
            input: "{}".into(),
            max_instructions: 1,
            max_memory_mb: 1,
            max_execution_seconds: 1,
            grants: Vec::new(),
            http_allowlist: Vec::new(),
            secrets_ref: None,
            attached_deposit: 0,
            compute_limit: reserved,
            reserved,
            status: CallStatus::Queued,
            lease_id: None,
            worker_id: None,
            lease_expires_ms: None,
            attempts: 0,
            created_ms: 1,
            completed_ms: None,
            result: None,
        }
    }

    // A full disk (here SQLite's page limit, which fails a write the same way: SQLITE_FULL) is
    // "unavailable" (503 database_unavailable, not 500), and the write it stopped left nothing.
    #[tokio::test]
    async fn a_full_database_is_unavailable_and_the_refused_write_leaves_nothing() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("c.db");
        let backend = crate::db::SqliteBackend::connect(&path).await?;
        backend.create_owner("payer", "token-hash", 1).await?;
        let key = crate::db::KeyRow {
            owner: "payer".into(),
            nonce: 1,
            secret_hash: "h".into(),
            balance: 1_000_000_000,
            spent: 0,
            reserved: 0,
            allowed_projects: Vec::new(),
            max_per_call: None,
            revoked: false,
            created_ms: 1,
        };
        assert!(backend.create_key(&key).await?);
        let mut writer = HotWriter::open(&path, std::time::Duration::from_secs(1), 1_000)?;
        let pages: i64 = writer.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        writer.conn.execute_batch(&format!("PRAGMA max_page_count = {pages}"))?;
        let mut queued = 0;
        let err = loop {
            assert!(queued < 100_000, "the page limit never stopped a write");
            let call = test_call(&format!("call-{queued:06}"), "payer", 10);
            match writer.run_one(&WriteOp::Enqueue { call: Box::new(call), lease_deadline_ms: None }) {
                Ok(Done::Enqueued(true)) => queued += 1,
                Ok(other) => panic!("refused: {other:?}"),
                Err(e) => break e,
            }
        };
        assert!(err.is_unavailable(), "{err}");
        let (calls, reserved): (i64, i64) = writer.conn.query_row(
            "SELECT (SELECT COUNT(*) FROM calls), (SELECT reserved FROM payment_keys WHERE owner = 'payer')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        assert_eq!((calls, reserved), (queued, queued * 10), "the stopped enqueue reserved nothing");
        Ok(())
    }

    #[tokio::test]
    async fn a_transaction_left_open_is_rolled_back_before_the_next_group() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("c.db");
        let _backend = crate::db::SqliteBackend::connect(&path).await?;
        let mut writer = HotWriter::open(&path, std::time::Duration::from_secs(1), 1_000)?;
        // As a group that stopped midway would leave it: a transaction with a write in it.
        writer.conn.execute_batch("BEGIN IMMEDIATE; INSERT INTO owners (name, token_hash, created_ms) VALUES ('ghost', 'h', 1);")?;
        let call = test_call("c1", "nobody", 10);
        let done = writer.run(&[&WriteOp::Enqueue { call: Box::new(call), lease_deadline_ms: None }])?;
        assert!(matches!(done[..], [Done::Enqueued(false)]), "no such key: nothing reserved");
        let ghosts: i64 = writer.conn.query_row("SELECT COUNT(*) FROM owners WHERE name = 'ghost'", [], |r| r.get(0))?;
        assert_eq!(ghosts, 0, "the unanswered write was rolled back");
        Ok(())
    }

    // The writer reads call rows by position (`CallColumns`): every statement it reads them from
    // returns exactly `call_columns!`, in order.
    #[tokio::test]
    async fn the_writer_reads_call_rows_in_the_order_of_call_columns() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("c.db");
        let _backend = crate::db::SqliteBackend::connect(&path).await?;
        let writer = HotWriter::open(&path, std::time::Duration::from_secs(1), 1_000)?;
        for sql in [SETTLE_CALL, LEASE.as_str()] {
            let statement = writer.conn.prepare(sql)?;
            assert_eq!(statement.column_names(), *CALL_COLUMNS, "{sql}");
        }
        assert_eq!(CALL_COLUMNS.len(), 26);
        Ok(())
    }

    #[test]
    fn the_lease_uses_numbered_placeholders() {
        // `$N` would be a named parameter to SQLite, numbered by first appearance.
        assert!(!LEASE.contains('$'));
        assert!(LEASE.contains("lease_id = ?1, worker_id = ?2"));
        assert!(LEASE.contains("attempts < ?5"));
    }
}
