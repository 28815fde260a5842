//! Group commit on SQLite: the hot writes (reserve + enqueue, settle, settle + lease) of
//! concurrent calls are queued to one writer task, which runs whatever is queued (up to
//! [`MAX_GROUP`] operations) in one transaction and one round trip to the connection's thread,
//! and answers each operation only after `COMMIT` returned.
//!
//! - One SQL text per group *shape* (how many operations of each kind): each operation's
//!   statements with its `$n` placeholders renumbered after the previous operations' and its
//!   index in the `op` column of the rows it returns. Operations run in kind order (enqueues,
//!   then settles, then settles that lease): none of them has been answered, so any order is one
//!   the callers could have seen; this keeps the number of shapes (and prepared statements) small,
//!   and lets a settle-and-lease of the group lease a job the group just queued.
//! - An operation that does nothing (insufficient balance, a lost lease) leaves no trace and
//!   returns no row: its statements are chained on `changes()`, each operation's first statement
//!   unconditional. An operation that fails (an SQL error) rolls the whole group back; then each
//!   operation runs again alone, so only the failing one gets the error.
//! - A crash before `COMMIT` loses only operations nobody was answered for: a call is
//!   acknowledged only after its reservation is committed, a result only after its settlement.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{AssertSqlSafe, Row as _, Sqlite};
use tokio::sync::{mpsc, oneshot};

use super::sql::{bind_enqueue, bind_finish, call_columns, lease_statement};
use super::{CallRow, Finish};
use crate::error::StoreError;

/// Most operations committed in one transaction.
pub const MAX_GROUP: usize = 32;
/// Most group SQL texts kept (one per shape seen; emptied when full). A group holds a power of
/// two of each kind (see [`trim_to_shapes`]), so there are at most 205 shapes.
const MAX_SHAPES: usize = 256;

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
    fn kind(&self) -> usize {
        match self {
            WriteOp::Enqueue { .. } => 0,
            WriteOp::Finish(_) => 1,
            WriteOp::FinishLease { .. } => 2,
        }
    }

    fn bind<'q>(&'q self, q: sqlx::query::Query<'q, Sqlite, SqliteArguments>) -> sqlx::query::Query<'q, Sqlite, SqliteArguments> {
        let finish = |q: sqlx::query::Query<'q, Sqlite, SqliteArguments>, f: &'q Finish| bind_finish!(q, f);
        match self {
            WriteOp::Enqueue { call: c, lease_deadline_ms } => bind_enqueue!(q, &**c, *lease_deadline_ms),
            WriteOp::Finish(f) => finish(q, f),
            WriteOp::FinishLease { finish: f, worker_id, lease_id, now_ms, expires_ms, max_attempts, grace_ms } => {
                finish(q, f).bind(lease_id).bind(worker_id).bind(*now_ms).bind(*expires_ms).bind(*max_attempts).bind(*grace_ms)
            }
        }
    }
}

/// Binds of each kind of operation (the highest `$n` of its statements).
const BINDS: [usize; 3] = [27, 7, 13];

/// `enqueue`: every statement after the reservation runs only if the statement before it changed
/// what it should (`changes()`); the last returns a row if the call was queued.
const ENQUEUE: &str = concat!(
    "UPDATE payment_keys SET reserved = reserved + $16 WHERE owner = $7 AND nonce = $8 \
     AND revoked = 0 AND balance - spent - reserved >= $16; \
     INSERT INTO calls (",
    call_columns!(),
    ", lease_deadline_ms) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, \
     $22, $23, $24, $25, $26, $27 WHERE changes() = 1; \
     INSERT INTO ledger (owner, nonce, call_id, kind, amount, created_ms) \
     SELECT $7, $8, $1, 'reserve', $16, $22 WHERE changes() = 1; \
     SELECT 1 AS queued, #OP# AS op WHERE changes() = 1;"
);

/// The statements of `finish`, chained the same way: the call (1 row), its key (1 row), the two
/// ledger lines (2 rows), then the earnings of a completed call. The charge is clamped to the
/// call's reservation and the earnings to the charge.
macro_rules! finish_statements {
    () => {
        concat!(
            "UPDATE calls SET status = $3, result = $4, completed_ms = $5, lease_expires_ms = NULL \
             WHERE id = $1 AND lease_id = $2 AND status = 'leased' RETURNING ",
            call_columns!(),
            ", #OP# AS op; \
             UPDATE payment_keys SET reserved = reserved - (SELECT reserved FROM calls WHERE id = $1), \
             spent = spent + (SELECT MIN(MAX($6, 0), reserved) FROM calls WHERE id = $1) \
             WHERE changes() = 1 AND (owner, nonce) = (SELECT key_owner, key_nonce FROM calls WHERE id = $1); \
             INSERT INTO ledger (owner, nonce, call_id, kind, amount, created_ms) \
             SELECT key_owner, key_nonce, id, 'settle', MIN(MAX($6, 0), reserved), $5 FROM calls WHERE id = $1 AND changes() = 1 \
             UNION ALL \
             SELECT key_owner, key_nonce, id, 'release', reserved - MIN(MAX($6, 0), reserved), $5 FROM calls WHERE id = $1 AND changes() = 1; \
             INSERT INTO earnings (owner, project_id, amount, calls) \
             SELECT project_owner, project_id, MIN(MAX($7, 0), MIN(MAX($6, 0), reserved)), 1 FROM calls \
             WHERE id = $1 AND changes() = 2 AND $3 = 'completed' \
             ON CONFLICT (owner, project_id) DO UPDATE SET amount = earnings.amount + excluded.amount, calls = earnings.calls + 1;"
        )
    };
}

/// `finish`.
const FINISH: &str = finish_statements!();

/// The lease of `finish_lease` (binds 8..=13 of the operation: lease id, worker id, now, lease
/// expiry, max attempts, grace): the backends' lease statement, its `$n` shifted by the
/// [`FINISH`]'s 7.
const LEASE: &str = concat!(lease_statement!(""), ", #OP# AS op;");

/// The statements of each kind of operation: (template, how far its `$n` are shifted within the
/// operation).
const TEMPLATES: [&[(&str, usize)]; 3] = [&[(ENQUEUE, 0)], &[(FINISH, 0)], &[(FINISH, 0), (LEASE, 7)]];

/// `template` with every `$n` shifted by `base` and its `#OP#` marker replaced by `op`.
fn renumber(template: &str, base: usize, op: usize, out: &mut String) {
    let text = template.replace("#OP#", &op.to_string());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '$' {
            let mut n = 0usize;
            while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                n = n * 10 + d as usize;
                chars.next();
            }
            out.push_str(&(base + n).to_string());
        }
    }
}

/// The SQL of a group of `kinds` (in order): one transaction.
fn group_sql(kinds: &[usize]) -> String {
    let mut sql = String::from("BEGIN IMMEDIATE; ");
    let mut base = 0;
    for (i, &kind) in kinds.iter().enumerate() {
        for &(template, shift) in TEMPLATES[kind] {
            renumber(template, base + shift, i, &mut sql);
            sql.push(' ');
        }
        base += BINDS[kind];
    }
    sql.push_str("COMMIT;");
    sql
}

/// An operation waiting for the writer, and where its rows go.
pub(crate) type Pending = (WriteOp, oneshot::Sender<Result<Vec<SqliteRow>, StoreError>>);

/// What runs a group: the write connection of the backend (see [`super::sqlite::SqliteBackend`]).
#[async_trait::async_trait]
pub(crate) trait GroupConn: Send + Sync + 'static {
    /// Runs `q` (a whole transaction) on the write connection, rolling back on an error.
    async fn run(&self, q: sqlx::query::Query<'_, Sqlite, SqliteArguments>) -> Result<Vec<SqliteRow>, StoreError>;
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

/// The SQL texts of the group shapes seen.
#[derive(Default)]
pub(crate) struct Shapes(HashMap<Vec<usize>, Arc<str>>);

impl Shapes {
    fn sql(&mut self, kinds: &[usize]) -> Arc<str> {
        if let Some(sql) = self.0.get(kinds) {
            return sql.clone();
        }
        if self.0.len() >= MAX_SHAPES {
            self.0.clear();
        }
        let sql: Arc<str> = group_sql(kinds).into();
        self.0.insert(kinds.to_vec(), sql.clone());
        sql
    }
}

/// Runs `ops` (in this order) as one transaction; the rows of each, or the error.
pub(crate) async fn run_ops<C: GroupConn + ?Sized>(
    conn: &C,
    shapes: &mut Shapes,
    ops: &[&WriteOp],
) -> Result<Vec<Vec<SqliteRow>>, StoreError> {
    let kinds: Vec<usize> = ops.iter().map(|op| op.kind()).collect();
    let sql = shapes.sql(&kinds);
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for op in ops {
        q = op.bind(q);
    }
    let rows = conn.run(q).await?;
    let mut each: Vec<Vec<SqliteRow>> = ops.iter().map(|_| Vec::new()).collect();
    for row in rows {
        let i: i64 = row.try_get("op")?;
        each.get_mut(i as usize).ok_or_else(|| StoreError::Corrupt(format!("group row of operation {i}")))?.push(row);
    }
    Ok(each)
}

/// Keeps of each kind of operation in `group` (sorted by kind) the largest power of two of them
/// and moves the rest, the latest of each kind, to the front of `carry` (the next group). Every
/// shape is a prepared statement of the write connection, and a big one holds megabytes: with
/// any count of each kind allowed, the thousands of shapes a busy writer met held 370 MB of the
/// process's memory after 20 s at 32 connections (and a small statement cache re-prepared them
/// at half the throughput). Powers of two leave at most 205 shapes (49 without plain settles,
/// which an embedded worker under load does not send).
fn trim_to_shapes<T>(group: &mut Vec<T>, carry: &mut std::collections::VecDeque<T>, kind_of: impl Fn(&T) -> usize) {
    let mut kept = Vec::with_capacity(group.len());
    let mut rest = Vec::new();
    let mut ops = std::mem::take(group).into_iter().peekable();
    while let Some(first) = ops.next() {
        let kind = kind_of(&first);
        let mut same = vec![first];
        while let Some(op) = ops.next_if(|op| kind_of(op) == kind) {
            same.push(op);
        }
        let keep = 1usize << (usize::BITS - 1 - same.len().leading_zeros());
        rest.extend(same.drain(keep..));
        kept.extend(same);
    }
    for op in rest.into_iter().rev() {
        carry.push_front(op);
    }
    *group = kept;
}

/// The writer task: takes the operations carried over from the last group, then the first queued
/// operation and whatever else is queued (up to [`MAX_GROUP`]), runs them as one group and answers
/// each. Ends when the backend is dropped.
pub(crate) async fn write_groups<C: GroupConn>(conn: Weak<C>, stats: Arc<GroupStats>, mut queue: mpsc::UnboundedReceiver<Pending>) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut shapes = Shapes::default();
    let mut group: Vec<Pending> = Vec::with_capacity(MAX_GROUP);
    let mut carry = std::collections::VecDeque::new();
    loop {
        while group.len() < MAX_GROUP
            && let Some(op) = carry.pop_front()
        {
            group.push(op);
        }
        if group.is_empty() {
            match queue.recv().await {
                Some(first) => group.push(first),
                None => break,
            }
        }
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(op) => group.push(op),
                Err(_) => break,
            }
        }
        let Some(conn) = conn.upgrade() else { break };
        group.sort_by_key(|(op, _)| op.kind());
        trim_to_shapes(&mut group, &mut carry, |(op, _)| op.kind());
        stats.groups.fetch_add(1, Relaxed);
        stats.ops.fetch_add(group.len() as u64, Relaxed);
        let ops: Vec<&WriteOp> = group.iter().map(|(op, _)| op).collect();
        match run_ops(&*conn, &mut shapes, &ops).await {
            Ok(rows) => {
                for ((_, reply), rows) in group.drain(..).zip(rows) {
                    let _ = reply.send(Ok(rows));
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
                    let rows = run_ops(&*conn, &mut shapes, &[&op]).await.map(|mut each| each.pop().unwrap_or_default());
                    let _ = reply.send(rows);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_keeps_a_power_of_two_of_each_kind_and_carries_the_latest_rest() {
        // (kind, arrival): 3 enqueues, 6 settles, 1 settle-and-lease, in kind order.
        let mut group: Vec<(usize, u32)> = [(0, 1), (0, 2), (0, 3), (1, 4), (1, 5), (1, 6), (1, 7), (1, 8), (1, 9), (2, 10)].into();
        let mut carry = std::collections::VecDeque::from([(0, 99)]);
        trim_to_shapes(&mut group, &mut carry, |op| op.0);
        assert_eq!(group, [(0, 1), (0, 2), (1, 4), (1, 5), (1, 6), (1, 7), (2, 10)]);
        // The rest goes first into the next group, ahead of what was already carried.
        assert_eq!(carry, [(0, 3), (1, 8), (1, 9), (0, 99)]);
        let mut all_powers: Vec<(usize, u32)> = (0..32).map(|i| (0, i)).collect();
        trim_to_shapes(&mut all_powers, &mut carry, |op| op.0);
        assert_eq!(all_powers.len(), 32, "a full group of one kind is kept whole");
    }

    #[test]
    fn placeholders_are_renumbered_per_operation() {
        let sql = group_sql(&[0, 1]);
        // The enqueue keeps $1..$27, the finish after it uses $28..$34.
        assert!(sql.contains("owner = $7 AND nonce = $8"));
        assert!(sql.contains("WHERE id = $28 AND lease_id = $29"));
        assert!(!sql.contains("$35"));
        assert!(sql.contains("SELECT 1 AS queued, 0 AS op"));
        assert!(sql.contains(", 1 AS op;"));
        assert!(sql.starts_with("BEGIN IMMEDIATE; ") && sql.ends_with("COMMIT;"));
    }
}
