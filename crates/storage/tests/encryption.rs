//! What `EncryptedStorage` guarantees beyond the shared suite: the inner backend only holds
//! ciphertext, and a ciphertext read anywhere but where it was written fails to decrypt.

use outlayer_storage::Quota;
mod common;

use outlayer_storage::{CIPHERTEXT_OVERHEAD, EncryptedStorage, Entry, MemoryStorage, Scope, StorageBackend, StorageError};

const PLAINTEXT: &[u8] = b"the launch code is 0000";

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

fn assert_decrypt_error<T: std::fmt::Debug>(result: Result<T, StorageError>) {
    match result {
        Err(StorageError::Backend(message)) => assert!(message.contains("decrypt"), "{message}"),
        other => panic!("expected a decrypt error, got {other:?}"),
    }
}

#[tokio::test]
async fn inner_backend_never_sees_plaintext() {
    let inner = MemoryStorage::new();
    let store = EncryptedStorage::new(inner.clone(), common::TEST_KEY);
    let scope = Scope::caller("project:p", "alice.near");

    store.set(&scope, "set", PLAINTEXT, false, Quota::UNLIMITED).await.unwrap();
    store.set(&scope, "public", PLAINTEXT, true, Quota::UNLIMITED).await.unwrap();
    store.set_if_absent(&scope, "absent", PLAINTEXT, false, Quota::UNLIMITED).await.unwrap();
    store.compare_and_swap(&scope, "swapped", None, b"x", Quota::UNLIMITED).await.unwrap();
    store.compare_and_swap(&scope, "swapped", Some(b"x"), PLAINTEXT, Quota::UNLIMITED).await.unwrap();
    store.increment(&scope, "counter", 0x0102_0304_0506_0708, Quota::UNLIMITED).await.unwrap();

    let keys = inner.list_keys(&scope, "", None, 100).await.unwrap();
    assert_eq!(keys, ["absent", "counter", "public", "set", "swapped"]);
    for key in &keys {
        let stored = inner.get(&scope, key).await.unwrap().unwrap().value;
        let plain = store.get(&scope, key).await.unwrap().unwrap().value;
        assert_eq!(stored.len(), plain.len() + CIPHERTEXT_OVERHEAD, "{key}");
        assert!(!contains(&stored, &plain), "{key}: plaintext visible in {stored:?}");
    }
    assert_eq!(store.get(&scope, "set").await.unwrap().unwrap().value, PLAINTEXT);
}

#[tokio::test]
async fn equal_values_give_different_ciphertexts() {
    let inner = MemoryStorage::new();
    let store = EncryptedStorage::new(inner.clone(), common::TEST_KEY);
    let scope = Scope::component("project:p");
    store.set(&scope, "a", PLAINTEXT, false, Quota::UNLIMITED).await.unwrap();
    let first = inner.get(&scope, "a").await.unwrap().unwrap().value;
    store.set(&scope, "a", PLAINTEXT, false, Quota::UNLIMITED).await.unwrap();
    let second = inner.get(&scope, "a").await.unwrap().unwrap().value;
    assert_ne!(first, second, "a fresh nonce per write");
}

#[tokio::test]
async fn ciphertext_moved_elsewhere_fails_to_decrypt() {
    let inner = MemoryStorage::new();
    let store = EncryptedStorage::new(inner.clone(), common::TEST_KEY);
    let alice = Scope::caller("project:p", "alice.near");
    store.set(&alice, "k", PLAINTEXT, false, Quota::UNLIMITED).await.unwrap();
    let sealed = inner.get(&alice, "k").await.unwrap().unwrap().value;

    let bob = Scope::caller("project:p", "bob.near");
    let other_project = Scope::caller("project:q", "alice.near");
    for (scope, key) in [(&alice, "k2"), (&bob, "k"), (&other_project, "k")] {
        inner.set(scope, key, &sealed, false, Quota::UNLIMITED).await.unwrap();
        assert_decrypt_error(store.get(scope, key).await);
        // Atomic operations refuse to act on it too.
        assert_decrypt_error(store.compare_and_swap(scope, key, Some(PLAINTEXT), b"new", Quota::UNLIMITED).await);
        assert_decrypt_error(store.increment(scope, key, 1, Quota::UNLIMITED).await);
    }

    // Making a private value public in the database does not make it readable.
    inner.set(&alice, "k", &sealed, true, Quota::UNLIMITED).await.unwrap();
    assert_decrypt_error(store.get(&alice, "k").await);
    inner.set(&alice, "k", &sealed, false, Quota::UNLIMITED).await.unwrap();
    assert_eq!(store.get(&alice, "k").await.unwrap(), Some(Entry { value: PLAINTEXT.to_vec(), public: false }));
}

#[tokio::test]
async fn tampered_or_foreign_values_fail_to_decrypt() {
    let inner = MemoryStorage::new();
    let store = EncryptedStorage::new(inner.clone(), common::TEST_KEY);
    let scope = Scope::component("project:p");
    store.set(&scope, "k", PLAINTEXT, false, Quota::UNLIMITED).await.unwrap();

    let other_key = EncryptedStorage::new(inner.clone(), [0x43; 32]);
    assert_decrypt_error(other_key.get(&scope, "k").await);

    let mut sealed = inner.get(&scope, "k").await.unwrap().unwrap().value;
    let last = sealed.len() - 1;
    sealed[last] ^= 1;
    inner.set(&scope, "k", &sealed, false, Quota::UNLIMITED).await.unwrap();
    assert_decrypt_error(store.get(&scope, "k").await);

    inner.set(&scope, "plain", PLAINTEXT, false, Quota::UNLIMITED).await.unwrap();
    assert_decrypt_error(store.get(&scope, "plain").await);
}

/// At rest in PostgreSQL: the table's value column holds no plaintext.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_table_holds_only_ciphertext() {
    let Some(fixture) = common::encrypted_postgres().await else {
        return;
    };
    let scope = fixture.scope("app", "alice.near");
    fixture.store.set(&scope, "k", PLAINTEXT, false, Quota::UNLIMITED).await.unwrap();
    let pg = common::pg_store().await.unwrap();
    let stored: Vec<u8> = sqlx::query_scalar("SELECT value FROM storage_entries WHERE namespace = $1 AND owner = $2 AND key = $3")
        .bind(&scope.namespace)
        .bind(&scope.owner)
        .bind(&b"k"[..])
        .fetch_one(pg.pool())
        .await
        .unwrap();
    assert_eq!(stored.len(), PLAINTEXT.len() + CIPHERTEXT_OVERHEAD);
    assert!(!contains(&stored, PLAINTEXT));
    assert_eq!(fixture.store.get(&scope, "k").await.unwrap().unwrap().value, PLAINTEXT);
}

#[tokio::test]
async fn data_under_a_legacy_key_stays_readable_and_moves_to_the_new_key_on_write() {
    let inner = MemoryStorage::new();
    let scope = Scope::caller("project:p", "alice.near");
    let old_key = common::TEST_KEY;
    let new_key = [0x77; 32];
    let old = EncryptedStorage::new(inner.clone(), old_key);
    old.set(&scope, "kept", PLAINTEXT, false, Quota::UNLIMITED).await.unwrap();
    old.increment(&scope, "counter", 41, Quota::UNLIMITED).await.unwrap();

    // Without the legacy key the new key reads nothing of it.
    assert_decrypt_error(EncryptedStorage::new(inner.clone(), new_key).get(&scope, "kept").await);

    let migrating = EncryptedStorage::new(inner.clone(), new_key).with_legacy_key(old_key);
    assert_eq!(migrating.get(&scope, "kept").await.unwrap().unwrap().value, PLAINTEXT);
    // An increment of a legacy value swaps it for one under the new key.
    assert_eq!(migrating.increment(&scope, "counter", 1, Quota::UNLIMITED).await.unwrap(), 42);
    let moved = EncryptedStorage::new(inner.clone(), new_key);
    assert_eq!(moved.increment(&scope, "counter", 0, Quota::UNLIMITED).await.unwrap(), 42, "now under the new key alone");
    // The untouched value is still under the old key only.
    assert_decrypt_error(moved.get(&scope, "kept").await);
}
