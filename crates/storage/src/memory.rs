//! [`MemoryStorage`]: everything in one process-local map, lost when the last clone is dropped.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::{Entry, Scope, StorageBackend, StorageError, Usage, counter};

/// The keys of one scope, in ascending byte order (`str` orders by its UTF-8 bytes).
type Keys = BTreeMap<String, Entry>;

/// A backend that keeps everything in memory, for tests and ephemeral runs.
///
/// Clones share the same data. Every call takes one lock, so every call is atomic.
#[derive(Clone, Debug, Default)]
pub struct MemoryStorage {
    scopes: Arc<Mutex<BTreeMap<Scope, Keys>>>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Scope, Keys>> {
        // No method leaves the map half-updated when it panics, so a poisoned lock is still sound.
        self.scopes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl StorageBackend for MemoryStorage {
    async fn get(&self, scope: &Scope, key: &str) -> Result<Option<Entry>, StorageError> {
        Ok(self
            .lock()
            .get(scope)
            .and_then(|keys| keys.get(key))
            .cloned())
    }

    async fn set(
        &self,
        scope: &Scope,
        key: &str,
        value: &[u8],
        public: bool,
    ) -> Result<(), StorageError> {
        let entry = Entry {
            value: value.to_vec(),
            public,
        };
        self.lock()
            .entry(scope.clone())
            .or_default()
            .insert(key.to_string(), entry);
        Ok(())
    }

    async fn delete(&self, scope: &Scope, key: &str) -> Result<bool, StorageError> {
        let mut scopes = self.lock();
        let Some(keys) = scopes.get_mut(scope) else {
            return Ok(false);
        };
        let existed = keys.remove(key).is_some();
        if keys.is_empty() {
            scopes.remove(scope);
        }
        Ok(existed)
    }

    async fn list_keys(
        &self,
        scope: &Scope,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, StorageError> {
        let scopes = self.lock();
        let Some(keys) = scopes.get(scope) else {
            return Ok(Vec::new());
        };
        let lower = match after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        Ok(keys
            .range::<str, _>((lower, Bound::Unbounded))
            .map(|(key, _)| key)
            .take_while(|key| key.starts_with(prefix))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn set_if_absent(
        &self,
        scope: &Scope,
        key: &str,
        value: &[u8],
        public: bool,
    ) -> Result<bool, StorageError> {
        let mut scopes = self.lock();
        let keys = scopes.entry(scope.clone()).or_default();
        if keys.contains_key(key) {
            return Ok(false);
        }
        keys.insert(
            key.to_string(),
            Entry {
                value: value.to_vec(),
                public,
            },
        );
        Ok(true)
    }

    async fn compare_and_swap(
        &self,
        scope: &Scope,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<(bool, Option<Vec<u8>>), StorageError> {
        let mut scopes = self.lock();
        let keys = scopes.entry(scope.clone()).or_default();
        let current = keys.get_mut(key);
        match (current, expected) {
            (Some(entry), Some(expected)) if entry.value == expected => {
                entry.value = new.to_vec();
            }
            (None, None) => {
                keys.insert(
                    key.to_string(),
                    Entry {
                        value: new.to_vec(),
                        public: false,
                    },
                );
            }
            (current, _) => {
                let current = current.map(|entry| entry.value.clone());
                if keys.is_empty() {
                    scopes.remove(scope);
                }
                return Ok((false, current));
            }
        }
        Ok((true, Some(new.to_vec())))
    }

    async fn increment(&self, scope: &Scope, key: &str, delta: i64) -> Result<i64, StorageError> {
        let mut scopes = self.lock();
        let keys = scopes.entry(scope.clone()).or_default();
        // A missing key counts as 0 and cannot fail, so no empty scope is left behind on error.
        let (next, bytes) = counter::add(keys.get(key).map(|entry| entry.value.as_slice()), delta)?;
        match keys.get_mut(key) {
            Some(entry) => entry.value = bytes,
            None => {
                keys.insert(
                    key.to_string(),
                    Entry {
                        value: bytes,
                        public: false,
                    },
                );
            }
        }
        Ok(next)
    }

    async fn clear(&self, scope: &Scope) -> Result<u64, StorageError> {
        Ok(self
            .lock()
            .remove(scope)
            .map_or(0, |keys| keys.len() as u64))
    }

    async fn usage(&self, scope: &Scope) -> Result<Usage, StorageError> {
        let scopes = self.lock();
        let Some(keys) = scopes.get(scope) else {
            return Ok(Usage::default());
        };
        let bytes = keys
            .iter()
            .map(|(key, entry)| (key.len() + entry.value.len()) as u64)
            .sum();
        Ok(Usage {
            keys: keys.len() as u64,
            bytes,
        })
    }
}
