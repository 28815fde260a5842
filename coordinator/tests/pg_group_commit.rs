//! PostgreSQL group commit: concurrent reserve / settle statements share transactions, and one
//! failing statement fails only its own operation (the real server on 127.0.0.1, a fresh schema).

mod common;

use anyhow::Result;
use common::{PG_URL, random_name};
use outlayer_coordinator::db::{Backend, CallRow, Enqueued, Finish, KeyRow, PostgresBackend};

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
    let schema = random_name("group_commit_");
    let result = scenario(&schema).await;
    common::drop_pg_schema(&schema).await;
    result
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
    let schema = random_name("group_order_");
    let result = two_replicas(&schema).await;
    common::drop_pg_schema(&schema).await;
    result
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
