//! PostgreSQL replicas keep the lookups of every call (its payment key, its project) in memory,
//! exact across replicas: a change committed through one replica is announced (`NOTIFY`) and the
//! others forget it; while a replica's listener is not connected, it reads from the database
//! (the real server on 127.0.0.1, a fresh schema).

mod common;

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use common::{PG_URL, random_name};
use outlayer_coordinator::db::{Backend, PostgresBackend};

/// Waits until `db`'s lookup listener listens on a connection other than `not`; returns its pid.
async fn listening(db: &PostgresBackend, not: i32) -> Result<i32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pid = db.lookup_listener_pid();
        if pid != 0 && pid != not {
            return Ok(pid);
        }
        if Instant::now() > deadline {
            bail!("the lookup listener did not connect");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `read` until it returns what `wanted` accepts (an announcement arrives asynchronously).
async fn eventually<T: std::fmt::Debug, F: Future<Output = Result<T>>>(
    mut read: impl FnMut() -> F,
    wanted: impl Fn(&T) -> bool,
) -> Result<T> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let value = read().await?;
        if wanted(&value) {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("still {value:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A project `alice/echo` with two versions (the first active) and alice's key 1.
async fn seed(db: &PostgresBackend) -> Result<(String, String, String)> {
    let now = 1;
    db.create_owner("alice", "alice-token-hash", now).await?;
    let project = common::new_project("alice", "echo", now);
    db.create_project(&project).await?;
    let first = "11".repeat(32);
    let second = "22".repeat(32);
    db.add_version(&project.id, &first, common::EMPTY_MODULE, now).await?;
    db.add_version(&project.id, &second, common::EMPTY_MODULE, now).await?;
    assert!(db.set_active(&project.id, &first).await?);
    assert!(db.create_key(&common::funded_key("alice", 1, 1_000_000)).await?);
    Ok((project.id, first, second))
}

/// Changes alice's key 1 behind every replica's back (no announcement), as only a test does.
async fn quietly_set_max_per_call(schema: &str, max: i64) -> Result<()> {
    let admin = sqlx::PgPool::connect(PG_URL).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE \"{schema}\".payment_keys SET max_per_call = $1 WHERE owner = 'alice' AND nonce = 1")))
        .bind(max)
        .execute(&admin)
        .await?;
    admin.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_replica_reaches_the_others_cache() -> Result<()> {
    common::in_pg_schema(&random_name("lookups_"), |schema| async move { across_replicas(&schema).await }).await
}

async fn across_replicas(schema: &str) -> Result<()> {
    let a = PostgresBackend::connect(PG_URL, Some(schema)).await?;
    let b = PostgresBackend::connect(PG_URL, Some(schema)).await?;
    listening(&a, 0).await?;
    listening(&b, 0).await?;
    let (project_id, first, second) = seed(&b).await?;

    // `a` reads both rows, and keeps them: a change nobody announced is not seen.
    assert_eq!(a.project("alice", "echo").await?.expect("project").active_version.as_deref(), Some(first.as_str()));
    assert_eq!(a.key_for_auth("alice", 1).await?.expect("key").max_per_call, None);
    quietly_set_max_per_call(schema, 7).await?;
    assert_eq!(a.key_for_auth("alice", 1).await?.expect("key").max_per_call, None, "read from memory");
    assert_eq!(a.key("alice", 1).await?.expect("key").max_per_call, Some(7), "the database has the change");

    // Changes through `b` reach `a`: the key revoked (and re-read with the quiet change), the
    // project's active version switched.
    assert!(b.revoke("alice", 1).await?);
    let key = eventually(|| async { Ok(a.key_for_auth("alice", 1).await?.expect("key")) }, |k| k.revoked).await?;
    assert_eq!(key.max_per_call, Some(7));
    assert!(b.set_active(&project_id, &second).await?);
    eventually(
        || async { Ok(a.project("alice", "echo").await?.expect("project").active_version) },
        |v| v.as_deref() == Some(second.as_str()),
    )
    .await?;
    a.close().await;
    b.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_listener_reconnects_forgets_what_it_kept() -> Result<()> {
    common::in_pg_schema(&random_name("lookups_down_"), |schema| async move { listener_down(&schema).await }).await
}

async fn listener_down(schema: &str) -> Result<()> {
    let a = PostgresBackend::connect(PG_URL, Some(schema)).await?;
    let pid = listening(&a, 0).await?;
    seed(&a).await?;
    assert_eq!(a.key_for_auth("alice", 1).await?.expect("key").max_per_call, None);
    quietly_set_max_per_call(schema, 9).await?;
    assert_eq!(a.key_for_auth("alice", 1).await?.expect("key").max_per_call, None, "read from memory");

    // The listener's connection dies: announcements may be missed from then on, so what was
    // kept is dropped, and the lookups are read again once a new connection listens.
    let admin = sqlx::PgPool::connect(PG_URL).await?;
    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)").bind(pid).fetch_one(&admin).await?;
    assert!(terminated);
    admin.close().await;
    listening(&a, pid).await?;
    assert_eq!(a.key_for_auth("alice", 1).await?.expect("key").max_per_call, Some(9));
    a.close().await;
    Ok(())
}

/// A schema name as long as PostgreSQL allows still gets a working channel (cut to 63 bytes, as
/// `pg_notify` requires): changes are announced and reach the other replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_schema_name_still_announces() -> Result<()> {
    let schema = format!("{}{}", random_name("lookups_long_"), "x".repeat(38));
    assert_eq!(schema.len(), 63);
    common::in_pg_schema(&schema, |schema| async move { across_replicas(&schema).await }).await
}
