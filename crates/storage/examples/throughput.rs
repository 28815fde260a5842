//! Rough latency and throughput of each backend, for capacity planning (not a test).
//!
//! `cargo run -p outlayer-storage --example throughput [--release]`; PostgreSQL at
//! `OUTLAYER_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`) is skipped
//! when unreachable. Writes go to a random namespace that is cleared afterwards.

use outlayer_storage::Quota;
use std::sync::Arc;
use std::time::{Duration, Instant};

use outlayer_storage::{EncryptedStorage, MemoryStorage, PostgresStorage, Scope, SqliteStorage, StorageBackend};

/// Sequential operations timed per kind.
const SEQUENTIAL: u32 = 500;
/// Tasks incrementing one key at once, and increments per task.
const TASKS: u32 = 8;
const PER_TASK: u32 = 100;

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut backends: Vec<(&str, Arc<dyn StorageBackend>)> = vec![
        ("memory", Arc::new(MemoryStorage::new())),
        ("encrypted(memory)", Arc::new(EncryptedStorage::new(MemoryStorage::new(), [1; 32]))),
    ];
    let sqlite = SqliteStorage::open(&dir.path().join("bench.db")).await.expect("SQLite");
    backends.push(("sqlite", Arc::new(sqlite.clone())));
    backends.push(("encrypted(sqlite)", Arc::new(EncryptedStorage::new(sqlite, [1; 32]))));
    let url = std::env::var("OUTLAYER_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    match PostgresStorage::connect(&url).await {
        Ok(pg) => {
            backends.push(("postgres", Arc::new(pg.clone())));
            backends.push(("encrypted(postgres)", Arc::new(EncryptedStorage::new(pg, [1; 32]))));
        }
        Err(e) => eprintln!("skipping PostgreSQL: {e}"),
    }

    println!("{:<20} {:>9} {:>9} {:>9} {:>9} {:>12}", "backend", "set µs", "get µs", "incr µs", "list µs", "incr/s (x8)");
    for (name, store) in backends {
        let scope = Scope::component(format!("bench:{:016x}", rand::random::<u64>()));
        let value = vec![7u8; 256];
        let set = time(SEQUENTIAL, |i| {
            let (store, scope, value) = (store.clone(), scope.clone(), value.clone());
            async move { store.set(&scope, &format!("key-{i:05}"), &value, false, Quota::UNLIMITED).await.unwrap() }
        })
        .await;
        let get = time(SEQUENTIAL, |i| {
            let (store, scope) = (store.clone(), scope.clone());
            async move {
                store.get(&scope, &format!("key-{i:05}")).await.unwrap().unwrap();
            }
        })
        .await;
        let incr = time(SEQUENTIAL, |_| {
            let (store, scope) = (store.clone(), scope.clone());
            async move {
                store.increment(&scope, "counter", 1, Quota::UNLIMITED).await.unwrap();
            }
        })
        .await;
        let list = time(SEQUENTIAL / 10, |i| {
            let (store, scope) = (store.clone(), scope.clone());
            async move {
                store.list_keys(&scope, &format!("key-{:03}", i % 5), None, 100).await.unwrap();
            }
        })
        .await;

        let start = Instant::now();
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let (store, scope) = (store.clone(), scope.clone());
                tokio::spawn(async move {
                    for _ in 0..PER_TASK {
                        store.increment(&scope, "contended", 1, Quota::UNLIMITED).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let per_second = f64::from(TASKS * PER_TASK) / start.elapsed().as_secs_f64();
        assert_eq!(store.increment(&scope, "contended", 0, Quota::UNLIMITED).await.unwrap(), i64::from(TASKS * PER_TASK));
        store.clear(&scope).await.unwrap();

        println!("{name:<20} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {per_second:>12.0}", micros(set), micros(get), micros(incr), micros(list));
    }
}

/// Mean duration of `n` sequential runs of `op(i)`.
async fn time<F, Fut>(n: u32, op: F) -> Duration
where
    F: Fn(u32) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let start = Instant::now();
    for i in 0..n {
        op(i).await;
    }
    start.elapsed() / n
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
