//! MemoryStorage-specific behaviour.

use outlayer_storage::Quota;
use outlayer_storage::{MemoryStorage, Scope, StorageBackend};

#[tokio::test]
async fn clones_share_data() {
    let store = MemoryStorage::new();
    let clone = store.clone();
    let scope = Scope::component("wasm:abc");
    store.set(&scope, "k", b"v", false, Quota::UNLIMITED).await.unwrap();
    assert_eq!(clone.get(&scope, "k").await.unwrap().unwrap().value, b"v");
    assert!(!MemoryStorage::default().has(&scope, "k").await.unwrap(), "a new store starts empty");
}
