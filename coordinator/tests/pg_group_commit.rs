//! PostgreSQL group commit: concurrent reserve / settle statements share transactions, and one
//! failing statement fails only its own operation (the real server on 127.0.0.1, a fresh schema).

mod common;

use anyhow::Result;
use common::{PG_URL, random_name};
use outlayer_coordinator::db::{Backend, CallRow, Enqueued, Finish, KeyRow, PostgresBackend};
use outlayer_coordinator::model::CallStatus;

const RESERVED: i64 = 1_000;

fn call(id: &str) -> CallRow {
    call_of(id, 1, "p")
}

/// A call paid with the key `("payer", nonce)` to the project `project` (owned by "owner-" + it).
fn call_of(id: &str, nonce: i64, project: &str) -> CallRow {
    let owner = format!("owner-{project}");
    let mut c = common::queued_call((project, &owner, "echo"), &"00".repeat(32), ("payer", nonce), RESERVED, 1);
    c.id = id.into();
    c
}

fn key(nonce: i64) -> KeyRow {
    common::funded_key("payer", nonce, 1_000_000_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_statement_fails_only_its_own_call() -> Result<()> {
    common::in_pg_schema(&random_name("group_commit_"), |schema| async move { scenario(&schema).await }).await
}

async fn scenario(schema: &str) -> Result<()> {
    let db = PostgresBackend::connect(PG_URL, Some(schema)).await?;
    db.create_owner("payer", "token-hash", 1).await?;
    assert!(db.create_key(&key(1)).await?);
    let taken = uuid::Uuid::new_v4().to_string();
    assert_eq!(db.enqueue(&call(&taken), None).await?, Enqueued::Queued);

    // 40 reservations at once (they queue up behind each other's commits and share
    // transactions); one of them reuses a call id, which the database refuses.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let db = db.clone();
        let id = if i == 20 { taken.clone() } else { uuid::Uuid::new_v4().to_string() };
        tasks.push(tokio::spawn(async move { (i, db.enqueue(&call(&id), None).await) }));
    }
    let mut queued = 0;
    for task in tasks {
        let (i, outcome) = task.await?;
        match outcome {
            Ok(Enqueued::Queued) => queued += 1,
            Ok(other) => panic!("call {i}: {other:?}"),
            Err(e) => assert_eq!(i, 20, "call {i} failed: {e}"),
        }
    }
    assert_eq!(queued, 39, "every call but the duplicate is queued");
    // Reserved once per queued call: the refused one reserved nothing, none was applied twice.
    let key = db.key("payer", 1).await?.expect("the key");
    assert_eq!(key.reserved, 40 * RESERVED);
    let lines = db.ledger("payer", 1, 0, 1_000).await?;
    assert_eq!(lines.iter().filter(|l| l.kind == "reserve").count(), 40);
    db.close().await;
    Ok(())
}

/// The settlement of the leased `call`, naming its key and earnings row (so that the group writer
/// orders it with the rest of its group).
fn finish(call: &CallRow, charged: i64) -> Finish {
    let lease = call.lease_id.as_deref().expect("a leased call");
    Finish { rows: Some(call.into()), ..common::completed_finish(&call.id, lease, charged, 2) }
}

/// Two replicas (two backends, each with its own group writer) on one database, reserving and
/// settling at the same time on two keys for two projects, crossed (key 1 pays project b and key
/// 2 project a as often as the other way round): every group locks its hot rows in the one global
/// order, so no group ever waits for a row another group holds while holding one that group
/// wants. A deadlock shows as a group split (PostgreSQL aborts one of the two transactions) and a
/// second's wait (`deadlock_timeout`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_groups_do_not_deadlock() -> Result<()> {
    common::in_pg_schema(&random_name("group_order_"), |schema| async move { two_replicas(&schema).await }).await
}

async fn two_replicas(schema: &str) -> Result<()> {
    const ROUNDS: usize = 12;
    const PER_ROUND: usize = 48;
    const CHARGED: i64 = 600;
    let a = PostgresBackend::connect(PG_URL, Some(schema)).await?;
    let b = PostgresBackend::connect(PG_URL, Some(schema)).await?;
    a.create_owner("payer", "token-hash", 1).await?;
    assert!(a.create_key(&key(1)).await? && a.create_key(&key(2)).await?);
    // Each project's earnings row exists before the race (its first insert is not ordered).
    for project in ["a", "b"] {
        let id = uuid::Uuid::new_v4().to_string();
        assert_eq!(a.enqueue(&call_of(&id, 1, project), None).await?, Enqueued::Queued);
        let leased = a.lease("w", "first", 1, 60_000, 5_000, 3).await?.expect("leased");
        assert!(a.finish(&finish(&leased, CHARGED)).await?.is_some());
    }
    let before = (a.group_stats(), b.group_stats());

    // Round r: its calls are reserved while round r - 1's are settled, half through each replica.
    let mut leased: Vec<CallRow> = Vec::new();
    for round in 0..=ROUNDS {
        let mut tasks = Vec::new();
        for i in 0..PER_ROUND {
            let db = if i % 2 == 0 { a.clone() } else { b.clone() };
            if round < ROUNDS {
                let (nonce, project) = [(1, "a"), (2, "b"), (1, "b"), (2, "a")][(i + round) % 4];
                let c = call_of(&uuid::Uuid::new_v4().to_string(), nonce, project);
                tasks.push(tokio::spawn(async move { db.enqueue(&c, None).await.map(|e| e == Enqueued::Queued) }));
            }
            if let Some(call) = leased.pop() {
                let db = if i % 3 == 0 { a.clone() } else { b.clone() };
                tasks.push(tokio::spawn(async move { db.finish(&finish(&call, CHARGED)).await.map(|r| r.is_some()) }));
            }
        }
        for task in tasks {
            assert!(task.await??, "every reservation is queued and every settlement applies");
        }
        while let Some(c) = a.lease("w", &uuid::Uuid::new_v4().to_string(), 1, 60_000, 5_000, 3).await? {
            leased.push(c);
        }
        assert_eq!(leased.len(), if round < ROUNDS { PER_ROUND } else { 0 });
    }

    let (a_now, b_now) = (a.group_stats(), b.group_stats());
    let (groups, ops, split) =
        (a_now.0 + b_now.0 - before.0.0 - before.1.0, a_now.1 + b_now.1 - before.0.1 - before.1.1, a_now.2 + b_now.2);
    assert_eq!(ops as usize, ROUNDS * PER_ROUND * 2, "every reservation and settlement went through a writer");
    assert!(groups < ops, "statements shared transactions ({groups} groups for {ops} statements)");
    assert_eq!(split, 0, "no group failed (a deadlock fails one of the two)");
    // The money adds up: each settled call moved CHARGED from reserved to spent, once.
    let settled = (ROUNDS * PER_ROUND) as i64 + 2;
    let (k1, k2) = (a.key("payer", 1).await?.expect("key 1"), a.key("payer", 2).await?.expect("key 2"));
    assert_eq!((k1.reserved + k2.reserved, k1.spent + k2.spent), (0, settled * CHARGED));
    a.close().await;
    b.close().await;
    Ok(())
}

/// Settlements that name their key and earnings row are grouped (locked in the global order);
/// one that does not (a settlement replayed from the spool) runs alone. Either way each settles
/// once and the money adds up, with reservations committed in the same bursts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settlements_with_and_without_their_rows_settle_once() -> Result<()> {
    common::in_pg_schema(&random_name("group_rows_"), |schema| async move { with_and_without_rows(&schema).await }).await
}

async fn with_and_without_rows(schema: &str) -> Result<()> {
    const CALLS: usize = 24;
    const CHARGED: i64 = 400;
    let db = PostgresBackend::connect(PG_URL, Some(schema)).await?;
    db.create_owner("payer", "token-hash", 1).await?;
    assert!(db.create_key(&key(1)).await?);
    for _ in 0..CALLS {
        assert_eq!(db.enqueue(&call(&uuid::Uuid::new_v4().to_string()), None).await?, Enqueued::Queued);
    }
    let mut leased = Vec::new();
    while let Some(c) = db.lease("w", &uuid::Uuid::new_v4().to_string(), 1, 60_000, 5_000, 3).await? {
        leased.push(c);
    }
    assert_eq!(leased.len(), CALLS);
    let before = db.group_stats();

    let mut tasks = Vec::new();
    for (i, c) in leased.iter().enumerate() {
        let settler = db.clone();
        let mut f = finish(c, CHARGED);
        if i % 2 == 1 {
            f.rows = None;
        }
        tasks.push(tokio::spawn(async move { settler.finish(&f).await.map(|settled| settled.map(|s| s.status)) }));
        let enqueuer = db.clone();
        let next = call(&uuid::Uuid::new_v4().to_string());
        tasks.push(tokio::spawn(async move {
            enqueuer.enqueue(&next, None).await.map(|e| (e == Enqueued::Queued).then_some(CallStatus::Queued))
        }));
    }
    for task in tasks {
        assert!(task.await??.is_some(), "every settlement applies and every reservation is queued");
    }
    let after = db.group_stats();
    assert_eq!(after.1 - before.1, 2 * CALLS as u64, "every operation went through the writer");
    assert_eq!(after.2, 0, "no group failed");

    let key = db.key("payer", 1).await?.expect("the key");
    assert_eq!(
        (key.spent, key.reserved),
        (CALLS as i64 * CHARGED, CALLS as i64 * RESERVED),
        "each settled once, each new call reserved once"
    );
    let lines = db.ledger("payer", 1, 0, 1_000).await?;
    assert_eq!(lines.iter().filter(|l| l.kind == "settle").count(), CALLS);
    // A settlement repeated (its lease is spent) changes nothing, with or without its rows.
    let again = finish(&leased[0], CHARGED);
    assert!(db.finish(&again).await?.is_none());
    assert!(db.finish(&Finish { rows: None, ..again }).await?.is_none());
    assert_eq!(db.key("payer", 1).await?.expect("the key").spent, CALLS as i64 * CHARGED);
    db.close().await;
    Ok(())
}

/// The group writer's connection dies (its server process is terminated, as by a failover or an
/// administrator): at most the next operation fails, as unavailable (503, retry), having
/// changed nothing; the writer opens a new connection and the rest succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_reconnects_after_its_connection_dies() -> Result<()> {
    common::in_pg_schema(&random_name("group_reconnect_"), |schema| async move { reconnects(&schema).await }).await
}

async fn reconnects(schema: &str) -> Result<()> {
    let db = PostgresBackend::connect(PG_URL, Some(schema)).await?;
    db.create_owner("payer", "token-hash", 1).await?;
    assert!(db.create_key(&key(1)).await?);
    assert_eq!(db.enqueue(&call(&uuid::Uuid::new_v4().to_string()), None).await?, Enqueued::Queued);
    let pid = db.group_writer_pid();
    assert_ne!(pid, 0, "the writer has a connection");
    let admin = sqlx::PgPool::connect(PG_URL).await?;
    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)").bind(pid).fetch_one(&admin).await?;
    assert!(terminated);
    admin.close().await;

    let (mut queued, mut failed) = (1, 0);
    for _ in 0..5 {
        match db.enqueue(&call(&uuid::Uuid::new_v4().to_string()), None).await {
            Ok(Enqueued::Queued) => queued += 1,
            Ok(other) => panic!("{other:?}"),
            Err(e) => {
                assert!(e.is_unavailable(), "a lost connection is unavailable (503), not an internal error: {e}");
                failed += 1;
            }
        }
    }
    assert!(failed <= 1, "only the operation that met the dead connection fails ({failed} failed)");
    assert_ne!(db.group_writer_pid(), pid, "a new connection");
    // What failed reserved nothing; what succeeded reserved once.
    let key = db.key("payer", 1).await?.expect("the key");
    assert_eq!(key.reserved, queued * RESERVED);
    db.close().await;
    Ok(())
}
