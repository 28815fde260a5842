//! Reading, writing and deleting single keys.

use outlayer_storage::Entry;
use outlayer_storage::Quota;

use crate::common::Fixture;

/// get/set/has/delete on one key, including overwrite and a missing key.
pub async fn get_set_has_delete(f: &Fixture) {
    let s = &f.store;
    let scope = f.scope("app", "alice.near");

    assert_eq!(s.get(&scope, "k").await.unwrap(), None);
    assert!(!s.has(&scope, "k").await.unwrap());
    assert!(!s.delete(&scope, "k").await.unwrap(), "deleting a missing key reports false");

    s.set(&scope, "k", b"one", false, Quota::UNLIMITED).await.unwrap();
    assert_eq!(s.get(&scope, "k").await.unwrap(), Some(Entry { value: b"one".to_vec(), public: false }));
    assert!(s.has(&scope, "k").await.unwrap());

    s.set(&scope, "k", b"two", false, Quota::UNLIMITED).await.unwrap();
    assert_eq!(s.get(&scope, "k").await.unwrap().unwrap().value, b"two");

    assert!(s.delete(&scope, "k").await.unwrap());
    assert!(!s.delete(&scope, "k").await.unwrap());
    assert!(!s.has(&scope, "k").await.unwrap());
    assert_eq!(s.get(&scope, "k").await.unwrap(), None);
}

/// Empty values are values (not absence), large values and any UTF-8 key round-trip.
pub async fn values_and_keys_round_trip(f: &Fixture) {
    let s = &f.store;
    let scope = f.scope("app", "alice.near");

    s.set(&scope, "empty", b"", false, Quota::UNLIMITED).await.unwrap();
    assert_eq!(s.get(&scope, "empty").await.unwrap().unwrap().value, b"");
    assert!(s.has(&scope, "empty").await.unwrap());

    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    s.set(&scope, "big", &big, false, Quota::UNLIMITED).await.unwrap();
    assert_eq!(s.get(&scope, "big").await.unwrap().unwrap().value, big);

    let all_bytes: Vec<u8> = (0..=255u8).collect();
    for key in ["with\0nul", "ключ", "emoji 🦀", "a/b/c", "%_\\'\""] {
        s.set(&scope, key, &all_bytes, false, Quota::UNLIMITED).await.unwrap();
        assert_eq!(s.get(&scope, key).await.unwrap().unwrap().value, all_bytes, "key {key:?}");
    }
    assert_eq!(s.get(&scope, "with").await.unwrap(), None, "a NUL in a key does not truncate it");
}

/// The public flag is stored with the value and replaced by the next `set`.
pub async fn public_flag_round_trips(f: &Fixture) {
    let s = &f.store;
    let scope = f.scope("app", outlayer_storage::COMPONENT_OWNER);

    s.set(&scope, "shared", b"v", true, Quota::UNLIMITED).await.unwrap();
    assert!(s.get(&scope, "shared").await.unwrap().unwrap().public);
    s.set(&scope, "shared", b"v", false, Quota::UNLIMITED).await.unwrap();
    assert!(!s.get(&scope, "shared").await.unwrap().unwrap().public);

    assert!(s.set_if_absent(&scope, "fresh", b"v", true, Quota::UNLIMITED).await.unwrap());
    assert!(s.get(&scope, "fresh").await.unwrap().unwrap().public);

    // compare-and-swap and increment keep the flag of an existing entry.
    assert!(s.compare_and_swap(&scope, "fresh", Some(b"v"), b"w", Quota::UNLIMITED).await.unwrap().0);
    assert_eq!(s.get(&scope, "fresh").await.unwrap(), Some(Entry { value: b"w".to_vec(), public: true }));
    s.set(&scope, "count", &5i64.to_le_bytes(), true, Quota::UNLIMITED).await.unwrap();
    assert_eq!(s.increment(&scope, "count", 1, Quota::UNLIMITED).await.unwrap(), 6);
    assert!(s.get(&scope, "count").await.unwrap().unwrap().public);

    // Keys they create are private.
    assert!(s.compare_and_swap(&scope, "new", None, b"x", Quota::UNLIMITED).await.unwrap().0);
    assert!(!s.get(&scope, "new").await.unwrap().unwrap().public);
    s.increment(&scope, "new-count", 1, Quota::UNLIMITED).await.unwrap();
    assert!(!s.get(&scope, "new-count").await.unwrap().unwrap().public);
}

/// `usage` counts keys and the bytes of keys plus values, following writes and deletes.
pub async fn usage_counts_keys_and_bytes(f: &Fixture) {
    let s = &f.store;
    let scope = f.scope("app", "alice.near");

    assert_eq!(s.usage(&scope).await.unwrap(), Default::default());
    s.set(&scope, "k", b"12345", false, Quota::UNLIMITED).await.unwrap(); // 1 + 5
    s.set(&scope, "key2", b"", false, Quota::UNLIMITED).await.unwrap(); // 4 + 0
    let usage = s.usage(&scope).await.unwrap();
    assert_eq!((usage.keys, usage.bytes), (2, 10));

    s.set(&scope, "k", b"1", false, Quota::UNLIMITED).await.unwrap(); // now 1 + 1
    assert_eq!(s.usage(&scope).await.unwrap().bytes, 6);
    s.increment(&scope, "n", 1, Quota::UNLIMITED).await.unwrap(); // 1 + 8
    assert_eq!((s.usage(&scope).await.unwrap().keys, s.usage(&scope).await.unwrap().bytes), (3, 15));

    s.delete(&scope, "key2").await.unwrap();
    let usage = s.usage(&scope).await.unwrap();
    assert_eq!((usage.keys, usage.bytes), (2, 11));
    assert_eq!(s.usage(&f.scope("app", "bob.near")).await.unwrap(), Default::default());
}
