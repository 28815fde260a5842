//! PostgreSQL-specific behaviour: connection errors, several workers on one database.

use outlayer_storage::Quota;
mod common;

use outlayer_storage::{PostgresStorage, StorageBackend, StorageError};

#[tokio::test]
async fn unreachable_server_is_a_backend_error() {
    // Port 1 on localhost refuses connections.
    match PostgresStorage::connect("postgres://postgres@127.0.0.1:1/test").await {
        Err(StorageError::Backend(message)) => {
            assert!(message.contains("connecting to PostgreSQL"), "{message}");
            assert!(message.contains("refused"), "the cause is kept: {message}");
        }
        other => panic!("expected a backend error, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_url_is_a_backend_error() {
    match PostgresStorage::connect("not a url").await {
        Err(StorageError::Backend(message)) => {
            assert!(message.contains("invalid PostgreSQL URL"), "{message}")
        }
        other => panic!("expected a backend error, got {other:?}"),
    }
}

/// Two pools stand for two workers sharing the database: what one writes the other reads,
/// and increments through both are never lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_share_one_database() {
    let Some(fixture) = common::postgres().await else {
        return;
    };
    let Some(second) = common::pg_store().await else {
        return;
    };
    let scope = fixture.scope("app", "alice.near");

    fixture.store.set(&scope, "k", b"from the first", false, Quota::UNLIMITED).await.unwrap();
    assert_eq!(second.get(&scope, "k").await.unwrap().unwrap().value, b"from the first");

    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let first = fixture.store.clone();
            let second = second.clone();
            let scope = scope.clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    first.increment(&scope, "n", 1, Quota::UNLIMITED).await
                } else {
                    second.increment(&scope, "n", 1, Quota::UNLIMITED).await
                }
                .unwrap()
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(second.increment(&scope, "n", 0, Quota::UNLIMITED).await.unwrap(), 40);
}

#[allow(dead_code)]
#[path = "suite/quota.rs"]
mod quota;

/// Writers through two pools (two workers) race for the room of a quota: usage never passes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quota_holds_across_two_workers() {
    let Some(fixture) = common::postgres().await else {
        return;
    };
    let Some(second) = common::pg_store().await else {
        return;
    };
    let second: std::sync::Arc<dyn StorageBackend> = std::sync::Arc::new(second);
    quota::race(&[fixture.store.clone(), second], &fixture.scope("race", "alice.near")).await;
}
