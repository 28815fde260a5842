//! SQLite-specific behaviour: durability across reopening, WAL mode, several pools on one file.

use outlayer_storage::Quota;
mod common;

use std::sync::Arc;

use outlayer_storage::{Scope, SqliteStorage, StorageBackend, StorageError};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn data_survives_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.db");
    assert!(!path.exists());
    let scope = Scope::caller("project:p", "alice.near");
    {
        let store = SqliteStorage::open(&path).await.unwrap();
        assert!(path.exists(), "open creates the file");
        store.set(&scope, "k", b"persisted", true, Quota::UNLIMITED).await.unwrap();
        store.increment(&scope, "n", 7, Quota::UNLIMITED).await.unwrap();
        store.pool().close().await;
    }
    let store = SqliteStorage::open(&path).await.unwrap();
    let entry = store.get(&scope, "k").await.unwrap().unwrap();
    assert_eq!((entry.value.as_slice(), entry.public), (&b"persisted"[..], true));
    assert_eq!(store.increment(&scope, "n", 1, Quota::UNLIMITED).await.unwrap(), 8);
    assert_eq!(store.list_keys(&scope, "", None, 10).await.unwrap(), ["k", "n"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn open_uses_wal_mode() {
    let (store, _dir) = common::sqlite_store().await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(store.pool()).await.unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn open_in_a_missing_directory_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/storage.db");
    match SqliteStorage::open(&path).await {
        Err(StorageError::Backend(message)) => {
            assert!(message.contains("no/such/dir/storage.db"), "{message}");
        }
        other => panic!("expected a backend error, got {other:?}"),
    }
}

/// Two pools on one file stand for two processes: increments through both are never lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn increments_from_two_pools_on_one_file_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let first: Arc<dyn StorageBackend> = Arc::new(SqliteStorage::open(&path).await.unwrap());
    let second: Arc<dyn StorageBackend> = Arc::new(SqliteStorage::open(&path).await.unwrap());
    let scope = Scope::component("project:p");
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = if i % 2 == 0 { first.clone() } else { second.clone() };
            let scope = scope.clone();
            tokio::spawn(async move { store.increment(&scope, "n", 1, Quota::UNLIMITED).await.unwrap() })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(first.increment(&scope, "n", 0, Quota::UNLIMITED).await.unwrap(), 40);
}

#[allow(dead_code)]
#[path = "suite/quota.rs"]
mod quota;

/// Writers in two pools on one file (two processes) race for the room of a quota: usage never
/// passes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quota_holds_across_two_pools_on_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let first: Arc<dyn StorageBackend> = Arc::new(SqliteStorage::open(&path).await.unwrap());
    let second: Arc<dyn StorageBackend> = Arc::new(SqliteStorage::open(&path).await.unwrap());
    quota::race(&[first, second], &Scope::project("p", "alice.near")).await;
}

/// A database written before usage was recorded gets its usage counted by the migration.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migration_counts_the_usage_of_existing_entries() {
    let dir = tempfile::tempdir().unwrap();
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(dir.path().join("old.db")).create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::raw_sql(include_str!("../migrations/sqlite/0001_storage_entries.sql")).execute(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO storage_entries (namespace, owner, key, value, public)
         VALUES ('project:p', 'alice.near', x'6b31', x'010203', 0), ('project:p', 'alice.near', x'6b32', x'', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let store = SqliteStorage::from_pool(pool).await.unwrap();
    let scope = Scope::project("p", "alice.near");
    let usage = store.usage(&scope).await.unwrap();
    assert_eq!((usage.keys, usage.bytes), (2, 7));
    assert!(matches!(store.set(&scope, "k3", b"x", false, Quota::bytes(8)).await, Err(StorageError::QuotaExceeded { max_bytes: 8 })));
}
