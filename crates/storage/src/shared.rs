//! A shared backend is a backend: lets the binary pick one at run time as
//! `Arc<dyn StorageBackend>` and still wrap it (e.g. in [`crate::EncryptedStorage`]).

use std::sync::Arc;

use async_trait::async_trait;

use crate::{Entry, Quota, Scope, StorageBackend, StorageError, Usage};

#[async_trait]
impl<T: StorageBackend + ?Sized> StorageBackend for Arc<T> {
    async fn get(&self, scope: &Scope, key: &str) -> Result<Option<Entry>, StorageError> {
        (**self).get(scope, key).await
    }

    async fn has(&self, scope: &Scope, key: &str) -> Result<bool, StorageError> {
        (**self).has(scope, key).await
    }

    async fn set(&self, scope: &Scope, key: &str, value: &[u8], public: bool, quota: Quota) -> Result<(), StorageError> {
        (**self).set(scope, key, value, public, quota).await
    }

    async fn delete(&self, scope: &Scope, key: &str) -> Result<bool, StorageError> {
        (**self).delete(scope, key).await
    }

    async fn list_keys(&self, scope: &Scope, prefix: &str, after: Option<&str>, limit: u32) -> Result<Vec<String>, StorageError> {
        (**self).list_keys(scope, prefix, after, limit).await
    }

    async fn set_if_absent(&self, scope: &Scope, key: &str, value: &[u8], public: bool, quota: Quota) -> Result<bool, StorageError> {
        (**self).set_if_absent(scope, key, value, public, quota).await
    }

    async fn compare_and_swap(
        &self,
        scope: &Scope,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        quota: Quota,
    ) -> Result<(bool, Option<Vec<u8>>), StorageError> {
        (**self).compare_and_swap(scope, key, expected, new, quota).await
    }

    async fn increment(&self, scope: &Scope, key: &str, delta: i64, quota: Quota) -> Result<i64, StorageError> {
        (**self).increment(scope, key, delta, quota).await
    }

    async fn clear(&self, scope: &Scope) -> Result<u64, StorageError> {
        (**self).clear(scope).await
    }

    async fn usage(&self, scope: &Scope) -> Result<Usage, StorageError> {
        (**self).usage(scope).await
    }

    async fn commit(&self, id: &str, writes: &crate::WriteSet, record: &[u8]) -> Result<crate::Committed, StorageError> {
        (**self).commit(id, writes, record).await
    }

    async fn committed(&self, id: &str) -> Result<Option<Vec<u8>>, StorageError> {
        (**self).committed(id).await
    }

    async fn forget_commits(&self, before_ms: i64, id: Option<&str>) -> Result<u64, StorageError> {
        (**self).forget_commits(before_ms, id).await
    }
}
