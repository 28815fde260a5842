//! Quotas: every write that can grow a scope is checked atomically with the write.

use std::sync::Arc;

use outlayer_storage::{Quota, Scope, StorageBackend, StorageError, Usage};

use crate::common::Fixture;

/// Concurrent writers racing for the room of a quota.
const WRITERS: usize = 40;
/// Bytes each racing entry takes (key + value).
const ENTRY_BYTES: usize = 100;
/// Entries that fit in the race's quota.
const FIT: usize = 10;

fn over(r: Result<impl std::fmt::Debug, StorageError>) -> bool {
    matches!(r, Err(StorageError::QuotaExceeded { .. }))
}

/// Usage recounted from the entries themselves, to compare with what the backend records.
pub async fn recount(s: &dyn StorageBackend, scope: &Scope) -> Usage {
    let keys = s.list_keys(scope, "", None, 100_000).await.unwrap();
    let mut bytes = 0;
    for k in &keys {
        bytes += (k.len() + s.get(scope, k).await.unwrap().unwrap().value.len()) as u64;
    }
    Usage { keys: keys.len() as u64, bytes }
}

/// Each writing method refuses to grow a scope past its quota, changing nothing; writes that do
/// not grow it still go ahead.
pub async fn quota_refuses_growth_and_changes_nothing(f: &Fixture) {
    let s = &f.store;
    let scope = f.scope("app", "alice.near");
    let q = Quota::bytes(20);

    s.set(&scope, "a", b"123456789", false, q).await.unwrap(); // 10 bytes
    assert!(over(s.set(&scope, "b", b"1234567890", false, q).await), "11 more bytes");
    assert!(over(s.set_if_absent(&scope, "b", b"1234567890", false, q).await));
    assert!(over(s.compare_and_swap(&scope, "b", None, b"1234567890", q).await));
    assert!(over(s.set(&scope, "a", b"12345678901234567890", false, q).await), "growing an entry");
    assert_eq!(s.get(&scope, "a").await.unwrap().unwrap().value, b"123456789");
    assert!(!s.has(&scope, "b").await.unwrap());

    s.set(&scope, "b", b"12345678", false, q).await.unwrap(); // 9 bytes: 19 in all
    assert!(over(s.increment(&scope, "n", 1, q).await), "a counter takes 9 bytes");
    assert_eq!(s.usage(&scope).await.unwrap(), Usage { keys: 2, bytes: 19 });

    // Under a lowered quota, same-size and shrinking writes still succeed, growth does not.
    let low = Quota::bytes(5);
    s.set(&scope, "a", b"abcdefghi", false, low).await.unwrap();
    s.compare_and_swap(&scope, "a", Some(b"abcdefghi"), b"x", low).await.unwrap();
    assert!(over(s.set(&scope, "a", b"xy", false, low).await));
    assert!(s.delete(&scope, "b").await.unwrap());
    assert_eq!(s.usage(&scope).await.unwrap(), Usage { keys: 1, bytes: 2 });
    assert_eq!(s.increment(&scope, "n", 5, low).await.unwrap_err().to_string(), StorageError::QuotaExceeded { max_bytes: 5 }.to_string());
    assert_eq!(s.increment(&scope, "n", 5, q).await.unwrap(), 5);
    assert_eq!(s.usage(&scope).await.unwrap(), recount(s.as_ref(), &scope).await);
}

/// Many writers race for the room of a quota: exactly the entries that fit are stored, the rest
/// fail with `QuotaExceeded`, and usage never passes the quota.
pub async fn concurrent_writers_never_pass_the_quota(f: &Fixture) {
    race(std::slice::from_ref(&f.store), &f.scope("race", "alice.near")).await;
}

/// The race of [`concurrent_writers_never_pass_the_quota`] through any number of handles on
/// the same data (one per process, in the SQL tests).
pub async fn race(stores: &[Arc<dyn StorageBackend>], scope: &Scope) {
    let quota = Quota::bytes((FIT * ENTRY_BYTES) as u64);
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let store = stores[i % stores.len()].clone();
            let scope = scope.clone();
            tokio::spawn(async move {
                let key = format!("k{i:03}"); // 4 bytes
                let value = vec![b'v'; ENTRY_BYTES - key.len()];
                // Half the writers use set, half set-if-absent: both are quota-checked writes.
                if i % 2 == 0 {
                    store.set(&scope, &key, &value, false, quota).await.map(|()| true)
                } else {
                    store.set_if_absent(&scope, &key, &value, false, quota).await
                }
            })
        })
        .collect();
    let mut stored = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(true) => stored += 1,
            Err(StorageError::QuotaExceeded { .. }) => {}
            other => panic!("unexpected result {other:?}"),
        }
    }
    assert_eq!(stored, FIT, "exactly the entries that fit were stored");
    let usage = stores[0].usage(scope).await.unwrap();
    assert_eq!(usage, Usage { keys: FIT as u64, bytes: (FIT * ENTRY_BYTES) as u64 });
    assert_eq!(usage, recount(stores[0].as_ref(), scope).await, "recorded usage matches the entries");
}
