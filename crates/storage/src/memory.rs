//! [`MemoryStorage`]: everything in one process-local map, lost when the last clone is dropped.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::quota::entry_size;
use crate::write_set::{Committed, WriteSet, conflict, expectation_holds};
use crate::{Entry, Quota, Scope, StorageBackend, StorageError, Usage, counter};

/// The keys of one scope, in ascending byte order (`str` orders by its UTF-8 bytes), and what
/// they hold in total.
#[derive(Debug, Default)]
struct Keys {
    entries: BTreeMap<String, Entry>,
    usage: Usage,
}

impl Keys {
    /// Put `entry` under `key` if the scope stays within `quota`.
    fn put(&mut self, key: &str, entry: Entry, quota: Quota) -> Result<(), StorageError> {
        let old = self.entries.get(key).map(|e| entry_size(key, &e.value));
        let after = self.usage.replace(old, Some(entry_size(key, &entry.value)));
        quota.check(self.usage, after)?;
        self.usage = after;
        self.entries.insert(key.to_string(), entry);
        Ok(())
    }
}

/// A backend that keeps everything in memory, for tests and ephemeral runs.
///
/// Clones share the same data. Every call takes one lock, so every call (quota check included)
/// is atomic.
#[derive(Clone, Debug, Default)]
pub struct MemoryStorage {
    scopes: Arc<Mutex<BTreeMap<Scope, Keys>>>,
    /// Applied write sets: id → (record, created ms). Locked before `scopes` when both are.
    commits: Arc<Mutex<Commits>>,
}

/// Applied write sets: id → (record, created ms).
type Commits = HashMap<String, (Vec<u8>, i64)>;

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Scope, Keys>> {
        // No method leaves the map half-updated when it panics, so a poisoned lock is still sound.
        self.scopes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the scope's keys, dropping the scope again if it is left empty.
    fn with_keys<T>(&self, scope: &Scope, f: impl FnOnce(&mut Keys) -> T) -> T {
        let mut scopes = self.lock();
        let keys = scopes.entry(scope.clone()).or_default();
        let result = f(keys);
        if keys.entries.is_empty() {
            scopes.remove(scope);
        }
        result
    }
}

#[async_trait]
impl StorageBackend for MemoryStorage {
    async fn get(&self, scope: &Scope, key: &str) -> Result<Option<Entry>, StorageError> {
        Ok(self.lock().get(scope).and_then(|keys| keys.entries.get(key)).cloned())
    }

    async fn set(&self, scope: &Scope, key: &str, value: &[u8], public: bool, quota: Quota) -> Result<(), StorageError> {
        let entry = Entry { value: value.to_vec(), public };
        self.with_keys(scope, |keys| keys.put(key, entry, quota))
    }

    async fn delete(&self, scope: &Scope, key: &str) -> Result<bool, StorageError> {
        Ok(self.with_keys(scope, |keys| match keys.entries.remove(key) {
            Some(old) => {
                keys.usage = keys.usage.replace(Some(entry_size(key, &old.value)), None);
                true
            }
            None => false,
        }))
    }

    async fn list_keys(&self, scope: &Scope, prefix: &str, after: Option<&str>, limit: u32) -> Result<Vec<String>, StorageError> {
        let scopes = self.lock();
        let Some(keys) = scopes.get(scope) else {
            return Ok(Vec::new());
        };
        let lower = match after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        Ok(keys
            .entries
            .range::<str, _>((lower, Bound::Unbounded))
            .map(|(key, _)| key)
            .take_while(|key| key.starts_with(prefix))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn set_if_absent(&self, scope: &Scope, key: &str, value: &[u8], public: bool, quota: Quota) -> Result<bool, StorageError> {
        self.with_keys(scope, |keys| {
            if keys.entries.contains_key(key) {
                return Ok(false);
            }
            let entry = Entry { value: value.to_vec(), public };
            keys.put(key, entry, quota).map(|()| true)
        })
    }

    async fn compare_and_swap(
        &self,
        scope: &Scope,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        quota: Quota,
    ) -> Result<(bool, Option<Vec<u8>>), StorageError> {
        self.with_keys(scope, |keys| {
            let current = keys.entries.get(key);
            if current.map(|e| e.value.as_slice()) != expected {
                return Ok((false, current.map(|e| e.value.clone())));
            }
            // A replaced entry keeps its public flag; a created one is private.
            let public = current.is_some_and(|e| e.public);
            let entry = Entry { value: new.to_vec(), public };
            keys.put(key, entry, quota)?;
            Ok((true, Some(new.to_vec())))
        })
    }

    async fn increment(&self, scope: &Scope, key: &str, delta: i64, quota: Quota) -> Result<i64, StorageError> {
        self.with_keys(scope, |keys| {
            let current = keys.entries.get(key);
            let (next, bytes) = counter::add(current.map(|e| e.value.as_slice()), delta)?;
            let public = current.is_some_and(|e| e.public);
            keys.put(key, Entry { value: bytes, public }, quota)?;
            Ok(next)
        })
    }

    async fn clear(&self, scope: &Scope) -> Result<u64, StorageError> {
        Ok(self.lock().remove(scope).map_or(0, |keys| keys.entries.len() as u64))
    }

    async fn usage(&self, scope: &Scope) -> Result<Usage, StorageError> {
        Ok(self.lock().get(scope).map_or_else(Usage::default, |keys| keys.usage))
    }

    async fn commit(&self, id: &str, writes: &WriteSet, record: &[u8]) -> Result<Committed, StorageError> {
        writes.validate()?;
        let mut commits = self.commits.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((first, _)) = commits.get(id) {
            return Ok(Committed::Already(first.clone()));
        }
        let mut scopes = self.lock();
        // Check everything first, on the usages as they would evolve, so that nothing is
        // changed when any write fails.
        let mut usages: BTreeMap<&Scope, Usage> = BTreeMap::new();
        for write in &writes.writes {
            let keys = scopes.get(&write.scope);
            let current = keys.and_then(|k| k.entries.get(&write.key));
            if !expectation_holds(write, current.map(|e| e.value.as_slice())) {
                return Ok(conflict(write, "changed"));
            }
            let before = *usages.entry(&write.scope).or_insert_with(|| keys.map_or_else(Usage::default, |k| k.usage));
            let old = current.map(|e| entry_size(&write.key, &e.value));
            let after = before.replace(old, write.value.as_ref().map(|e| entry_size(&write.key, &e.value)));
            if write.value.is_some() && write.quota.check(before, after).is_err() {
                return Ok(conflict(write, "quota_exceeded"));
            }
            usages.insert(&write.scope, after);
        }
        for write in &writes.writes {
            let keys = scopes.entry(write.scope.clone()).or_default();
            let old = match &write.value {
                Some(entry) => keys.entries.insert(write.key.clone(), entry.clone()),
                None => keys.entries.remove(&write.key),
            };
            keys.usage = keys
                .usage
                .replace(old.map(|e| entry_size(&write.key, &e.value)), write.value.as_ref().map(|e| entry_size(&write.key, &e.value)));
            if keys.entries.is_empty() {
                scopes.remove(&write.scope);
            }
        }
        commits.insert(id.to_string(), (record.to_vec(), crate::now_ms()));
        Ok(Committed::Applied)
    }

    async fn committed(&self, id: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.commits.lock().unwrap_or_else(PoisonError::into_inner).get(id).map(|(record, _)| record.clone()))
    }

    async fn forget_commits(&self, before_ms: i64, id: Option<&str>) -> Result<u64, StorageError> {
        let mut commits = self.commits.lock().unwrap_or_else(PoisonError::into_inner);
        let before = commits.len();
        commits.retain(|key, (_, created)| *created >= before_ms && Some(key.as_str()) != id);
        Ok((before - commits.len()) as u64)
    }
}
