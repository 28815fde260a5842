//! Which job a lease takes, on both backends: the oldest of the queued jobs and the jobs whose
//! lease expired, never one still leased, never one out of attempts (which the reaper fails); and
//! the lease a settlement takes in its own transaction, never of the call it settles.

mod common;

use anyhow::Result;
use common::{PG_URL, random_name};
use outlayer_coordinator::db::{Backend, Enqueued, PostgresBackend, SqliteBackend};
use outlayer_coordinator::model::CallStatus;

const LEASE_MS: i64 = 100;
const GRACE_MS: i64 = 50;
const MAX_ATTEMPTS: i64 = 2;

/// Leases for `worker` at `now`; the leased call's id and attempts.
async fn lease(db: &dyn Backend, now: i64) -> Result<Option<(String, i64)>> {
    let lease_id = uuid::Uuid::new_v4().to_string();
    let row = db.lease("worker", &lease_id, now, LEASE_MS, GRACE_MS, MAX_ATTEMPTS).await?;
    Ok(row.map(|r| {
        assert_eq!(r.lease_id.as_deref(), Some(lease_id.as_str()));
        assert_eq!(r.lease_expires_ms, Some(now + LEASE_MS), "the lease ends before the hard deadline");
        (r.id, r.attempts)
    }))
}

async fn lease_order(db: &dyn Backend) -> Result<()> {
    db.create_owner("payer", "token-hash", 1).await?;
    assert!(db.create_key(&common::funded_key("payer", 1, 1_000_000)).await?);
    let mut ids = Vec::new();
    for created in [100, 200, 300] {
        let call = common::queued_call(("p", "owner-p", "echo"), &"00".repeat(32), ("payer", 1), 1_000, created);
        assert_eq!(db.enqueue(&call, None).await?, Enqueued::Queued);
        ids.push(call.id);
    }
    let (a, b, c) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    assert_eq!(db.queue_depth().await?, (3, 0));

    // Queued jobs go oldest first.
    assert_eq!(lease(db, 1_000).await?, Some((a.clone(), 1)));
    assert_eq!(lease(db, 1_000).await?, Some((b.clone(), 1)));
    assert_eq!(db.queue_depth().await?, (1, 2));
    // A's lease expired (at 1,100) and A is older than the queued C: A goes first.
    assert_eq!(lease(db, 1_200).await?, Some((a.clone(), 2)));
    // At 1,400 A's second lease expired too, but A is out of attempts; B's expired and B is
    // older than C.
    assert_eq!(lease(db, 1_400).await?, Some((b.clone(), 2)));
    assert_eq!(lease(db, 1_400).await?, Some((c.clone(), 1)));
    // Nothing else: B and C are leased until 1,500, A waits for the reaper.
    assert_eq!(lease(db, 1_400).await?, None);
    assert_eq!(db.queue_depth().await?, (0, 3));
    let exhausted: Vec<String> = db.exhausted(1_400, MAX_ATTEMPTS).await?.into_iter().map(|r| r.id).collect();
    assert_eq!(exhausted, [a]);
    Ok(())
}

/// `$scenario` as two tests: `$sqlite` on a fresh SQLite file, `$postgres` in a fresh PostgreSQL
/// schema (dropped afterwards).
macro_rules! on_both_backends {
    ($scenario:ident, $sqlite:ident, $postgres:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() -> Result<()> {
            let dir = tempfile::tempdir()?;
            let db = SqliteBackend::connect(&dir.path().join("outlayer.db")).await?;
            $scenario(&db).await
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() -> Result<()> {
            let schema = random_name(concat!(stringify!($scenario), "_"));
            let db = PostgresBackend::connect(PG_URL, Some(&schema)).await?;
            let result = $scenario(&db).await;
            db.close().await;
            common::drop_pg_schema(&schema).await;
            result
        }
    };
}

on_both_backends!(lease_order, sqlite_leases_the_oldest_queued_or_expired_job, postgres_leases_the_oldest_queued_or_expired_job);

/// A settlement that leases the next job: the oldest ready job other than the one it settles, even
/// when that one's lease had expired (and so is a candidate of a plain lease); nothing when no job
/// is ready; the money of both settlements moved once.
async fn settle_and_lease(db: &dyn Backend) -> Result<()> {
    db.create_owner("payer", "token-hash", 1).await?;
    assert!(db.create_key(&common::funded_key("payer", 1, 1_000_000)).await?);
    let project = ("p", "owner-p", "echo");
    let a = common::queued_call(project, &"00".repeat(32), ("payer", 1), 1_000, 100);
    let b = common::queued_call(project, &"00".repeat(32), ("payer", 1), 2_000, 200);
    assert_eq!(db.enqueue(&a, None).await?, Enqueued::Queued);
    assert_eq!(db.enqueue(&b, None).await?, Enqueued::Queued);
    let a_lease = db.lease("worker", "lease-a", 1_000, LEASE_MS, GRACE_MS, MAX_ATTEMPTS).await?.expect("A leased");
    assert_eq!(a_lease.id, a.id);

    // At 1,200 A's lease has expired (1,100) but nobody took A again: its result still settles,
    // and the lease that comes with it takes B, not the older A.
    let finish_a = common::completed_finish(&a.id, "lease-a", 600, 1_200);
    let (settled, leased) = db.finish_and_lease(&finish_a, "worker", "lease-b", 1_200, LEASE_MS, GRACE_MS, MAX_ATTEMPTS).await?;
    let settled = settled.expect("A settled");
    assert_eq!((settled.id.as_str(), settled.status), (a.id.as_str(), CallStatus::Completed));
    let leased = leased.expect("B leased");
    assert_eq!((leased.id.as_str(), leased.lease_id.as_deref(), leased.status), (b.id.as_str(), Some("lease-b"), CallStatus::Leased));
    assert_eq!(db.call(&a.id).await?.map(|c| c.status), Some(CallStatus::Completed), "A stays settled");
    // The settled row is read back without its result (the settlement wrote it) and comes back
    // with it: as it is stored.
    assert!(settled.result.is_some(), "the settled row carries its result");
    assert_eq!(db.call(&a.id).await?.as_ref(), Some(&settled), "the settled row is the stored one");

    // B's settlement finds nothing to lease.
    let finish_b = common::completed_finish(&b.id, "lease-b", 700, 1_250);
    let (settled, leased) = db.finish_and_lease(&finish_b, "worker", "lease-c", 1_250, LEASE_MS, GRACE_MS, MAX_ATTEMPTS).await?;
    assert_eq!(settled.as_ref().map(|c| c.id.clone()), Some(b.id.clone()));
    assert!(leased.is_none(), "no job is ready");
    assert_eq!(db.call(&b.id).await?, settled, "the settled row is the stored one, its result included");
    let key = db.key("payer", 1).await?.expect("key");
    assert_eq!((key.reserved, key.spent), (0, 1_300));
    assert_eq!(db.queue_depth().await?, (0, 0));
    Ok(())
}

on_both_backends!(
    settle_and_lease,
    sqlite_settle_and_lease_takes_the_next_job_not_the_settled_one,
    postgres_settle_and_lease_takes_the_next_job_not_the_settled_one
);
