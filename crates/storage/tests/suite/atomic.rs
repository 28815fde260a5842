//! set-if-absent, compare-and-swap and increment, alone and under concurrency.

use outlayer_storage::Quota;
use std::collections::BTreeSet;

use outlayer_storage::StorageError;

use crate::common::Fixture;

/// Concurrent tasks in the concurrency behaviours.
const TASKS: i64 = 50;

/// Only the first `set_if_absent` stores; later ones leave the value alone.
pub async fn set_if_absent_stores_once(f: &Fixture) {
    let s = &f.store;
    let scope = f.scope("app", "alice.near");
    assert!(s.set_if_absent(&scope, "k", b"first", false, Quota::UNLIMITED).await.unwrap());
    assert!(!s.set_if_absent(&scope, "k", b"second", true, Quota::UNLIMITED).await.unwrap());
    let entry = s.get(&scope, "k").await.unwrap().unwrap();
    assert_eq!((entry.value.as_slice(), entry.public), (&b"first"[..], false));
    s.delete(&scope, "k").await.unwrap();
    assert!(s.set_if_absent(&scope, "k", b"third", false, Quota::UNLIMITED).await.unwrap(), "a deleted key is absent again");
}

/// Swaps on a match (absent or equal) and reports the current value on a mismatch.
pub async fn compare_and_swap_semantics(f: &Fixture) {
    let s = &f.store;
    let scope = f.scope("app", "alice.near");

    assert_eq!(s.compare_and_swap(&scope, "k", Some(b"x"), b"y", Quota::UNLIMITED).await.unwrap(), (false, None));
    assert!(!s.has(&scope, "k").await.unwrap(), "a failed swap on a missing key creates nothing");

    assert_eq!(s.compare_and_swap(&scope, "k", None, b"v1", Quota::UNLIMITED).await.unwrap(), (true, Some(b"v1".to_vec())));
    assert_eq!(s.compare_and_swap(&scope, "k", None, b"v2", Quota::UNLIMITED).await.unwrap(), (false, Some(b"v1".to_vec())));
    assert_eq!(s.compare_and_swap(&scope, "k", Some(b"nope"), b"v2", Quota::UNLIMITED).await.unwrap(), (false, Some(b"v1".to_vec())));
    assert_eq!(s.get(&scope, "k").await.unwrap().unwrap().value, b"v1", "a mismatch leaves the value");

    assert_eq!(s.compare_and_swap(&scope, "k", Some(b"v1"), b"v2", Quota::UNLIMITED).await.unwrap(), (true, Some(b"v2".to_vec())));
    assert_eq!(s.get(&scope, "k").await.unwrap().unwrap().value, b"v2");

    // Empty values are distinct from absence.
    assert_eq!(s.compare_and_swap(&scope, "k", Some(b"v2"), b"", Quota::UNLIMITED).await.unwrap(), (true, Some(Vec::new())));
    assert_eq!(s.compare_and_swap(&scope, "k", None, b"z", Quota::UNLIMITED).await.unwrap(), (false, Some(Vec::new())));
    assert_eq!(s.compare_and_swap(&scope, "k", Some(b""), b"z", Quota::UNLIMITED).await.unwrap(), (true, Some(b"z".to_vec())));
}

/// Missing keys count as 0; sums are stored as 8 little-endian bytes.
pub async fn increment_counts(f: &Fixture) {
    let s = &f.store;
    let scope = f.scope("app", "alice.near");
    assert_eq!(s.increment(&scope, "n", 5, Quota::UNLIMITED).await.unwrap(), 5);
    assert_eq!(s.increment(&scope, "n", 10, Quota::UNLIMITED).await.unwrap(), 15);
    assert_eq!(s.increment(&scope, "n", -20, Quota::UNLIMITED).await.unwrap(), -5);
    assert_eq!(s.get(&scope, "n").await.unwrap().unwrap().value, (-5i64).to_le_bytes());
    assert_eq!(s.increment(&scope, "m", 0, Quota::UNLIMITED).await.unwrap(), 0);
    assert!(s.has(&scope, "m").await.unwrap(), "incrementing by 0 still creates the counter");

    s.set(&scope, "raw", &41i64.to_le_bytes(), false, Quota::UNLIMITED).await.unwrap();
    assert_eq!(s.increment(&scope, "raw", 1, Quota::UNLIMITED).await.unwrap(), 42);
}

/// A value that is not 8 bytes is `NotAnInteger`; leaving the i64 range is `Overflow`; neither
/// changes the stored value.
pub async fn increment_rejects_bad_values(f: &Fixture) {
    let s = &f.store;
    let scope = f.scope("app", "alice.near");

    for bad in [&b"abc"[..], &b""[..], &[0u8; 9][..]] {
        s.set(&scope, "text", bad, false, Quota::UNLIMITED).await.unwrap();
        let result = s.increment(&scope, "text", 1, Quota::UNLIMITED).await;
        assert!(matches!(result, Err(StorageError::NotAnInteger)), "{bad:?}: {result:?}");
        assert_eq!(s.get(&scope, "text").await.unwrap().unwrap().value, bad);
    }

    s.set(&scope, "max", &i64::MAX.to_le_bytes(), false, Quota::UNLIMITED).await.unwrap();
    let result = s.increment(&scope, "max", 1, Quota::UNLIMITED).await;
    assert!(matches!(result, Err(StorageError::Overflow)), "{result:?}");
    assert_eq!(s.get(&scope, "max").await.unwrap().unwrap().value, i64::MAX.to_le_bytes());

    assert_eq!(s.increment(&scope, "min", i64::MIN, Quota::UNLIMITED).await.unwrap(), i64::MIN);
    let result = s.increment(&scope, "min", -1, Quota::UNLIMITED).await;
    assert!(matches!(result, Err(StorageError::Overflow)), "{result:?}");
    assert_eq!(s.increment(&scope, "min", i64::MAX, Quota::UNLIMITED).await.unwrap(), -1);
}

/// 50 tasks incrementing one key at once: none is lost, each sees a different total.
pub async fn concurrent_increments_lose_nothing(f: &Fixture) {
    let scope = f.scope("app", "alice.near");
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (store, scope) = (f.store.clone(), scope.clone());
            tokio::spawn(async move { store.increment(&scope, "hits", 1, Quota::UNLIMITED).await.unwrap() })
        })
        .collect();
    let mut seen = BTreeSet::new();
    for task in tasks {
        seen.insert(task.await.unwrap());
    }
    assert_eq!(seen, (1..=TASKS).collect::<BTreeSet<_>>(), "every increment returned a distinct total");
    assert_eq!(f.store.increment(&scope, "hits", 0, Quota::UNLIMITED).await.unwrap(), TASKS);
}

/// Of 50 concurrent `set_if_absent` calls on one key exactly one wins, and its value stays.
pub async fn concurrent_set_if_absent_has_one_winner(f: &Fixture) {
    let scope = f.scope("app", "alice.near");
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let (store, scope) = (f.store.clone(), scope.clone());
            tokio::spawn(async move {
                let won = store.set_if_absent(&scope, "lock", format!("task {i}").as_bytes(), false, Quota::UNLIMITED).await.unwrap();
                (i, won)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (i, won) = task.await.unwrap();
        if won {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let stored = f.store.get(&scope, "lock").await.unwrap().unwrap().value;
    assert_eq!(stored, format!("task {}", winners[0]).as_bytes());
}

/// Of 50 concurrent `compare_and_swap(None -> mine)` calls exactly one swaps; the others are
/// told the winner's value.
pub async fn concurrent_compare_and_swap_has_one_winner(f: &Fixture) {
    let scope = f.scope("app", "alice.near");
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let (store, scope) = (f.store.clone(), scope.clone());
            tokio::spawn(async move { store.compare_and_swap(&scope, "owner", None, &i.to_le_bytes(), Quota::UNLIMITED).await.unwrap() })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    let stored = f.store.get(&scope, "owner").await.unwrap().unwrap().value;
    assert_eq!(results.iter().filter(|(swapped, _)| *swapped).count(), 1);
    for (_, current) in results {
        assert_eq!(current.as_deref(), Some(stored.as_slice()), "every caller sees the winner's value");
    }
}
