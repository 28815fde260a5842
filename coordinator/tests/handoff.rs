//! The SQLite hot path (issue 16): a call queued while a lease request waits is inserted already
//! leased to it and handed over in memory (the lease shortcut), and the hot writes of concurrent
//! calls commit in groups, one operation's failure failing only that operation.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, ensure};
use ed25519_dalek::SigningKey;
use outlayer_coordinator::db::{Backend, CallRow, Enqueued, Finish, KeyRow, ProjectRow, SqliteBackend, WorkerRow};
use outlayer_coordinator::model::{CallRequest, CallStatus, Completion, Signer};
use outlayer_coordinator::service::CallMoney;
use outlayer_coordinator::state::now_ms;
use outlayer_coordinator::{AppState, build_state};

/// A coordinator on SQLite with a project, a key funded with `balance` and a registered worker.
struct Fixture {
    _dir: tempfile::TempDir,
    state: AppState,
    project: ProjectRow,
    key: KeyRow,
    worker: WorkerRow,
    signing: SigningKey,
}

async fn fixture(balance: i64) -> Result<Fixture> {
    let dir = tempfile::tempdir()?;
    let mut config = common::sqlite_config(&dir);
    // A job handed to nobody would come back only once its lease expired (at its hard deadline,
    // the calls' 1 s limit + the grace): leased a second time.
    config.lease_duration = Duration::from_secs(600);
    let state = build_state(config).await?;
    let (project, key) = seed(&*state.db, balance).await?;
    let signing = SigningKey::from_bytes(&rand::random());
    let worker = common::dev_register_state(&state, &signing).await?;
    Ok(Fixture { _dir: dir, state, project, key, worker, signing })
}

/// An owner, a project with an active version, a key with `balance`.
async fn seed(db: &dyn Backend, balance: i64) -> Result<(ProjectRow, KeyRow)> {
    let now = now_ms();
    db.create_owner("alice", "alice-token-hash", now).await?;
    let project = common::new_project("alice", "echo", now);
    db.create_project(&project).await?;
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(common::EMPTY_MODULE));
    db.add_version(&project.id, &sha, common::EMPTY_MODULE, now).await?;
    db.set_active(&project.id, &sha).await?;
    let project = db.project("alice", "echo").await?.expect("project stored");
    let key = common::funded_key("alice", 1, balance);
    db.create_key(&key).await?;
    Ok((project, key))
}

fn request(n: usize) -> CallRequest {
    serde_json::from_value(serde_json::json!({ "input": { "n": n }, "resource_limits": common::small_limits(), "async": true }))
        .expect("a call request")
}

/// Waits until `n` lease requests of the process wait for a job.
async fn until_waiting(state: &AppState, n: usize) {
    while state.hub.idle.waiting() < n {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_queued_while_a_slot_waits_is_handed_to_it_already_leased() -> Result<()> {
    // Enough for one call, not two.
    let f = fixture(common::SMALL_RESERVE + 100).await?;
    let (state, worker) = (f.state.clone(), f.worker.clone());
    let slot = tokio::spawn(async move { state.lease_job(&worker, Duration::from_secs(30)).await });
    until_waiting(&f.state, 1).await;

    let call = f.state.submit_call(&f.key, &f.project, &request(1), CallMoney::default()).await.map_err(|e| anyhow::anyhow!(e.message))?;
    let job = slot.await?.map_err(|e| anyhow::anyhow!(e.message))?.expect("the waiting slot gets the call");
    assert_eq!(job.call_id, call.id);
    // The lease is in the database, as if leased: a crash leaves it to expire and be leased again.
    let row = f.state.db.call(&call.id).await?.expect("call stored");
    assert_eq!(row.status, CallStatus::Leased);
    assert_eq!(row.lease_id.as_deref(), Some(job.lease_id.as_str()));
    assert_eq!(row.worker_id.as_deref(), Some(f.worker.id.as_str()));
    assert_eq!(row.attempts, 1);
    assert_eq!(row.lease_expires_ms, Some(job.lease_expires_at_ms));
    assert!(job.lease_expires_at_ms > now_ms());
    // Nothing else can lease it while the lease runs.
    assert!(f.state.db.lease("other", "l2", now_ms(), 1_000, 1_000, 3).await?.is_none());

    // A claimed slot whose call then fails (insufficient balance) gets nothing and keeps waiting.
    let (state, worker) = (f.state.clone(), f.worker.clone());
    let slot = tokio::spawn(async move { state.lease_job(&worker, Duration::from_millis(300)).await });
    until_waiting(&f.state, 1).await;
    let refused = f.state.submit_call(&f.key, &f.project, &request(2), CallMoney::default()).await;
    assert_eq!(refused.map(|c| c.id).map_err(|e| e.code), Err("insufficient_balance"));
    assert!(slot.await?.map_err(|e| anyhow::anyhow!(e.message))?.is_none(), "no job for a refused call");

    // The handed job settles like any other.
    let signer = Signer { worker_id: &f.worker.id, attestation_sha256: &f.worker.attestation_sha256 };
    let completion = Completion::sign(&job, common::echo(&job), &signer, &f.signing);
    let view = f.state.complete_job(&f.worker, &completion).await.map_err(|e| anyhow::anyhow!(e.message))?;
    assert_eq!(view.status, CallStatus::Completed);
    let key = f.state.db.key("alice", 1).await?.expect("key");
    assert_eq!((key.reserved, key.spent), (0, common::ECHO_COST));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_settles_once_while_slots_keep_timing_out() -> Result<()> {
    const CALLS: usize = 300;
    let f = Arc::new(fixture(common::SMALL_RESERVE * CALLS as i64).await?);
    let stop = Arc::new(AtomicBool::new(false));
    // Slots whose lease requests give up after 0-2 ms: many give up while an enqueuer claims them.
    let mut slots = Vec::new();
    for i in 0..4u64 {
        let (f, stop) = (f.clone(), stop.clone());
        slots.push(tokio::spawn(async move {
            let signer = Signer { worker_id: &f.worker.id, attestation_sha256: &f.worker.attestation_sha256 };
            let mut wait = i;
            let mut next = None;
            while !stop.load(Ordering::Relaxed) {
                let job = match next.take() {
                    Some(job) => job,
                    None => match f.state.lease_job(&f.worker, Duration::from_millis(wait % 3)).await {
                        Ok(Some(job)) => job,
                        _ => {
                            wait += 1;
                            continue;
                        }
                    },
                };
                let completion = Completion::sign(&job, common::echo(&job), &signer, &f.signing);
                let (done, leased) = f.state.complete_and_lease(&f.worker, &completion).await;
                assert_eq!(done.map(|v| v.status).map_err(|e| e.code), Ok(CallStatus::Completed));
                next = leased;
            }
        }));
    }
    let mut submitters = Vec::new();
    for s in 0..6 {
        let f = f.clone();
        submitters.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in (s..CALLS).step_by(6) {
                let call = f.state.submit_call(&f.key, &f.project, &request(n), CallMoney::default()).await.expect("accepted");
                ids.push(call.id);
                if n % 7 == 0 {
                    // Let the slots go idle now and then.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for s in submitters {
        ids.extend(s.await?);
    }
    // Every call settles, each leased once (a job dropped in a hand-off would wait for its lease
    // to expire, then run under a second lease).
    let settled = tokio::time::timeout(Duration::from_secs(120), async {
        for id in &ids {
            loop {
                let row = f.state.db.call(id).await.expect("read").expect("stored");
                if row.status.is_final() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for s in slots {
        s.await?;
    }
    ensure!(settled.is_ok(), "not every call settled: a job was lost");
    for id in &ids {
        let row = f.state.db.call(id).await?.expect("stored");
        assert_eq!((row.status, row.attempts), (CallStatus::Completed, 1), "call {id} ran once, leased once");
    }
    let ledger = f.state.db.ledger("alice", 1, 0, 10 * CALLS as i64).await?;
    let settles = ledger.iter().filter(|l| l.kind == "settle").count();
    assert_eq!(settles, CALLS, "one settle line per call");
    let key = f.state.db.key("alice", 1).await?.expect("key");
    assert_eq!((key.reserved, key.spent), (0, common::ECHO_COST * CALLS as i64));
    Ok(())
}

fn call_row(project: &ProjectRow, reserved: i64) -> CallRow {
    let version = project.active_version.as_deref().expect("active version");
    common::queued_call((&project.id, &project.owner, &project.name), version, ("alice", 1), reserved, now_ms())
}

fn finish(call_id: &str, lease_id: &str, charged: i64) -> Finish {
    common::completed_finish(call_id, lease_id, charged, now_ms())
}

// One thread: the operations below are all queued before the writer task first runs, so each
// batch is one group.
#[tokio::test]
async fn one_failing_operation_of_a_group_fails_alone() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = SqliteBackend::connect(&dir.path().join("c.db")).await?;
    // (A lone write would run inline, each of these in turn: this is about the writer's groups.)
    db.always_group();
    let (project, _key) = seed(&db, 1_000).await?;

    // A group of four enqueues: one fits, one does not (insufficient balance: no row, nothing
    // written), one repeats the first's id (an SQL error: the group is rolled back and each
    // operation runs again alone), one fits.
    let a = call_row(&project, 400);
    let poor = call_row(&project, 10_000);
    let mut twin = call_row(&project, 100);
    twin.id = a.id.clone();
    let b = call_row(&project, 300);
    let (ra, rpoor, rtwin, rb) = tokio::join!(db.enqueue(&a, None), db.enqueue(&poor, None), db.enqueue(&twin, None), db.enqueue(&b, None));
    assert_eq!(ra?, Enqueued::Queued);
    assert_eq!(rpoor?, Enqueued::InsufficientBalance);
    assert!(rtwin.is_err(), "a second call with the same id fails");
    assert_eq!(rb?, Enqueued::Queued);
    assert_eq!(db.group_stats(), (1, 4, 1), "one group of four, run again one by one");
    let key = db.key("alice", 1).await?.expect("key");
    assert_eq!((key.reserved, key.spent), (700, 0), "the failed and refused calls reserved nothing");

    // A group of settles: one with its lease, one with a lease that is not the call's (lost:
    // nothing happens), one that settles and leases the next job (the call queued in the same
    // group, which runs first).
    let now = now_ms();
    let la = db.lease("w1", "lease-a", now, 60_000, 5_000, 3).await?.expect("a leased");
    let lb = db.lease("w1", "lease-b", now, 60_000, 5_000, 3).await?.expect("b leased");
    assert_eq!((la.id.as_str(), lb.id.as_str()), (a.id.as_str(), b.id.as_str()));
    let c = call_row(&project, 200);
    let fa = finish(&a.id, "lease-a", 100);
    let fb_lost = finish(&b.id, "lease-stale", 50);
    let fb = finish(&b.id, "lease-b", 60);
    let (rc, ra, rb_lost, rbl) = tokio::join!(
        db.enqueue(&c, None),
        db.finish(&fa),
        db.finish(&fb_lost),
        db.finish_and_lease(&fb, "w1", "lease-c", now_ms(), 60_000, 5_000, 3),
    );
    assert_eq!(rc?, Enqueued::Queued);
    assert_eq!(ra?.map(|r| (r.id, r.status)), Some((a.id.clone(), CallStatus::Completed)));
    assert!(rb_lost?.is_none(), "a lost lease settles nothing");
    let (settled, leased) = rbl?;
    assert_eq!(settled.map(|r| r.id), Some(b.id.clone()));
    let leased = leased.expect("the call queued in the same group is leased");
    assert_eq!((leased.id.as_str(), leased.lease_id.as_deref(), leased.attempts), (c.id.as_str(), Some("lease-c"), 1));
    assert_eq!(db.group_stats(), (2, 8, 1));

    let key = db.key("alice", 1).await?.expect("key");
    assert_eq!((key.reserved, key.spent), (200, 160), "a and b settled once each; c reserved");
    let ledger = db.ledger("alice", 1, 0, 100).await?;
    let kinds: Vec<(&str, i64)> = ledger.iter().filter(|l| l.kind != "top_up").map(|l| (l.kind.as_str(), l.amount)).collect();
    assert_eq!(
        kinds,
        [("reserve", 400), ("reserve", 300), ("reserve", 200), ("settle", 100), ("release", 300), ("settle", 60), ("release", 240)]
    );
    let earnings = db.earnings("alice").await?;
    assert_eq!(earnings.iter().map(|e| (e.amount, e.calls)).collect::<Vec<_>>(), [(80, 2)]);
    Ok(())
}

// The group writer moves money as the settlement says, within the call's reservation: the charge
// is clamped to what was reserved (the rest released), the earnings to the charge, a failed call
// earns nothing, and a revoked key reserves nothing.
#[tokio::test]
async fn a_settlement_moves_at_most_the_reservation() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = SqliteBackend::connect(&dir.path().join("c.db")).await?;
    let (project, _key) = seed(&db, 1_000).await?;
    let (over, failed) = (call_row(&project, 100), call_row(&project, 200));
    assert_eq!(db.enqueue(&over, None).await?, Enqueued::Queued);
    assert_eq!(db.enqueue(&failed, None).await?, Enqueued::Queued);
    let now = now_ms();
    db.lease("w1", "lease-over", now, 60_000, 5_000, 3).await?.expect("leased");
    db.lease("w1", "lease-failed", now, 60_000, 5_000, 3).await?.expect("leased");

    let mut greedy = finish(&over.id, "lease-over", 500);
    greedy.earnings = 900;
    let settled = db.finish(&greedy).await?.expect("settled");
    assert_eq!((settled.status, settled.reserved), (CallStatus::Completed, 100));
    let mut failure = finish(&failed.id, "lease-failed", 50);
    failure.status = CallStatus::Failed;
    failure.earnings = 50;
    assert_eq!(db.finish(&failure).await?.map(|c| c.status), Some(CallStatus::Failed));
    assert!(db.finish(&failure).await?.is_none(), "settled once");

    let key = db.key("alice", 1).await?.expect("key");
    assert_eq!((key.reserved, key.spent), (0, 150), "100 (clamped from 500) + 50");
    let ledger = db.ledger("alice", 1, 0, 100).await?;
    let lines: Vec<(&str, i64)> = ledger.iter().filter(|l| l.kind != "top_up").map(|l| (l.kind.as_str(), l.amount)).collect();
    assert_eq!(lines, [("reserve", 100), ("reserve", 200), ("settle", 100), ("release", 0), ("settle", 50), ("release", 150)]);
    let earnings = db.earnings("alice").await?;
    assert_eq!(
        earnings.iter().map(|e| (e.amount, e.calls)).collect::<Vec<_>>(),
        [(100, 1)],
        "clamped to the charge; the failed call earns nothing"
    );

    db.revoke("alice", 1).await?;
    assert_eq!(db.enqueue(&call_row(&project, 10), None).await?, Enqueued::InsufficientBalance, "a revoked key reserves nothing");
    assert_eq!(db.key("alice", 1).await?.map(|k| k.reserved), Some(0));
    Ok(())
}
