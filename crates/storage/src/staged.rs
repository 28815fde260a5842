//! [`StagedStorage`]: one execution's view of a store, whose writes wait in a stage until the
//! execution's result is accepted (see [`crate::write_set`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use crate::quota::entry_size;
use crate::write_set::{Write, WriteSet};
use crate::{Entry, Quota, Scope, StorageBackend, StorageError, Usage, counter};

/// Page size used to list a scope's stored keys for `clear`.
const CLEAR_PAGE: u32 = 1000;

/// Most bytes one execution's write set may carry (scopes, keys, new values, the values its
/// writes depend on, and 128 bytes of framing per write): it travels in one completion. A write past it fails like a write
/// past the scope's quota.
pub const MAX_WRITE_SET_BYTES: usize = 4 << 20;

/// What the stage knows of one key.
#[derive(Clone, Debug)]
struct Slot {
    /// The store's entry when the stage first touched the key.
    original: Option<Entry>,
    /// The entry as this execution sees it now.
    current: Option<Entry>,
    /// The guest's result may depend on the original value (it read it, or made a conditional
    /// write): the write is applied only if the key still holds it.
    observed: bool,
    /// The guest wrote the key.
    written: bool,
    /// The quota of the last write.
    quota: Quota,
    /// What this slot added to [`Stage::carried`] when it was last written (what a new write
    /// takes back out: recomputing it would count an original value read since, which was never
    /// added).
    counted: usize,
}

fn size(key: &str, entry: Option<&Entry>) -> Option<u64> {
    entry.map(|e| entry_size(key, &e.value))
}

/// Bytes counted per write for its framing on the wire (field names, quota, base64 padding).
const WRITE_FRAMING: usize = 128;

/// What `slot` of `(scope, key)` adds to the write set: nothing unless written.
fn carried(scope: &Scope, key: &str, slot: &Slot) -> usize {
    if !slot.written {
        return 0;
    }
    let expect = if slot.observed { slot.original.as_ref().map_or(0, |e| e.value.len()) } else { 0 };
    WRITE_FRAMING + scope.namespace.len() + scope.owner.len() + key.len() + slot.current.as_ref().map_or(0, |e| e.value.len()) + expect
}

/// A backend that reads through to `inner` and keeps every write in memory: the writes of one
/// execution, taken out with [`StagedStorage::write_set`] and applied by whoever accepts its
/// result ([`StorageBackend::commit`]). Reads see the execution's own writes. Nothing is ever
/// written to `inner` through it.
///
/// Clones share the stage. Quotas are checked against the store's usage plus the staged changes
/// (and again, atomically, when the set is applied).
#[derive(Clone)]
pub struct StagedStorage {
    inner: Arc<dyn StorageBackend>,
    stage: Arc<Mutex<Stage>>,
}

/// The staged keys and the bytes their writes carry.
#[derive(Default)]
struct Stage {
    slots: BTreeMap<(Scope, String), Slot>,
    carried: usize,
}

impl std::fmt::Debug for StagedStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagedStorage").finish_non_exhaustive()
    }
}

impl StagedStorage {
    /// An empty stage over `inner`.
    pub fn new(inner: Arc<dyn StorageBackend>) -> Self {
        Self { inner, stage: Arc::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Stage> {
        self.stage.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The staged writes, in (scope, key) order: one per key whose entry differs from what the
    /// store held when the stage first touched it.
    pub fn write_set(&self) -> WriteSet {
        let writes = self
            .lock()
            .slots
            .iter()
            .filter(|(_, slot)| slot.written && slot.current != slot.original)
            .map(|((scope, key), slot)| Write {
                scope: scope.clone(),
                key: key.clone(),
                expect: slot.observed.then(|| slot.original.as_ref().map(|e| e.value.clone())),
                value: slot.current.clone(),
                quota: slot.quota,
            })
            .collect();
        WriteSet { writes }
    }

    /// The slot of `key`, reading the store the first time. `observe` marks the original value
    /// as one the execution depends on.
    async fn touch(&self, scope: &Scope, key: &str, observe: bool) -> Result<Slot, StorageError> {
        let id = (scope.clone(), key.to_string());
        {
            let mut guard = self.lock();
            let stage = &mut *guard;
            if let Some(slot) = stage.slots.get_mut(&id) {
                if observe && !slot.observed {
                    slot.observed = true;
                    // A written key read now carries its original value too: count it, so the
                    // next write is judged against what the set really carries (a read itself
                    // is never refused).
                    if slot.written {
                        let counted = carried(scope, key, slot);
                        stage.carried = stage.carried - slot.counted + counted;
                        slot.counted = counted;
                    }
                }
                return Ok(slot.clone());
            }
        }
        let original = self.inner.get(scope, key).await?;
        let mut stage = self.lock();
        let slot = stage.slots.entry(id).or_insert_with(|| Slot {
            current: original.clone(),
            original,
            observed: false,
            written: false,
            quota: Quota::UNLIMITED,
            counted: 0,
        });
        slot.observed |= observe;
        Ok(slot.clone())
    }

    /// Stages `entry` (`None` = delete) for `key`, whose slot is `slot`, if the scope stays
    /// within `quota`.
    async fn put(&self, scope: &Scope, key: &str, slot: &Slot, entry: Option<Entry>, quota: Quota) -> Result<(), StorageError> {
        if entry.is_some() {
            let before = self.usage(scope).await?;
            let after = before.replace(size(key, slot.current.as_ref()), size(key, entry.as_ref()));
            quota.check(before, after)?;
        }
        let mut stage = self.lock();
        let total = stage.carried;
        let staged = stage.slots.get_mut(&(scope.clone(), key.to_string())).expect("touched before put");
        let mut next = staged.clone();
        next.current = entry;
        next.written = true;
        next.quota = quota;
        next.counted = carried(scope, key, &next);
        let after = total - staged.counted + next.counted;
        if after > MAX_WRITE_SET_BYTES && next.current.is_some() {
            return Err(StorageError::QuotaExceeded { max_bytes: MAX_WRITE_SET_BYTES as u64 });
        }
        *staged = next;
        stage.carried = after;
        Ok(())
    }
}

#[async_trait]
impl StorageBackend for StagedStorage {
    async fn get(&self, scope: &Scope, key: &str) -> Result<Option<Entry>, StorageError> {
        Ok(self.touch(scope, key, true).await?.current)
    }

    async fn set(&self, scope: &Scope, key: &str, value: &[u8], public: bool, quota: Quota) -> Result<(), StorageError> {
        let slot = self.touch(scope, key, false).await?;
        self.put(scope, key, &slot, Some(Entry { value: value.to_vec(), public }), quota).await
    }

    async fn delete(&self, scope: &Scope, key: &str) -> Result<bool, StorageError> {
        let slot = self.touch(scope, key, false).await?;
        let existed = slot.current.is_some();
        if existed {
            self.put(scope, key, &slot, None, Quota::UNLIMITED).await?;
        }
        Ok(existed)
    }

    async fn list_keys(&self, scope: &Scope, prefix: &str, after: Option<&str>, limit: u32) -> Result<Vec<String>, StorageError> {
        let in_range = |key: &str| key.starts_with(prefix) && after.is_none_or(|a| key > a);
        let (present, deleted): (BTreeSet<String>, BTreeSet<String>) = {
            let stage = self.lock();
            let staged = stage.slots.iter().filter(|((s, k), slot)| s == scope && slot.written && in_range(k));
            let (present, deleted): (Vec<_>, Vec<_>) = staged.partition(|(_, slot)| slot.current.is_some());
            (present.into_iter().map(|((_, k), _)| k.clone()).collect(), deleted.into_iter().map(|((_, k), _)| k.clone()).collect())
        };
        // Ask the store for enough keys that the staged deletions cannot leave the page short.
        let wanted = limit.saturating_add(u32::try_from(deleted.len()).unwrap_or(u32::MAX));
        let stored = self.inner.list_keys(scope, prefix, after, wanted).await?;
        let exhausted = (stored.len() as u64) < u64::from(wanted);
        let last_stored = stored.last().cloned();
        let mut keys: BTreeSet<String> = stored.into_iter().filter(|k| !deleted.contains(k)).collect();
        // Staged keys past the store's last listed key may only be added when the store listed
        // everything: otherwise stored keys between them could be missing from the page.
        keys.extend(present.into_iter().filter(|k| exhausted || last_stored.as_ref().is_some_and(|last| k <= last)));
        Ok(keys.into_iter().take(limit as usize).collect())
    }

    async fn set_if_absent(&self, scope: &Scope, key: &str, value: &[u8], public: bool, quota: Quota) -> Result<bool, StorageError> {
        let slot = self.touch(scope, key, true).await?;
        if slot.current.is_some() {
            return Ok(false);
        }
        self.put(scope, key, &slot, Some(Entry { value: value.to_vec(), public }), quota).await?;
        Ok(true)
    }

    async fn compare_and_swap(
        &self,
        scope: &Scope,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        quota: Quota,
    ) -> Result<(bool, Option<Vec<u8>>), StorageError> {
        let slot = self.touch(scope, key, true).await?;
        let current = slot.current.as_ref().map(|e| e.value.as_slice());
        if current != expected {
            return Ok((false, current.map(<[u8]>::to_vec)));
        }
        // A replaced entry keeps its public flag; a created one is private.
        let public = slot.current.as_ref().is_some_and(|e| e.public);
        self.put(scope, key, &slot, Some(Entry { value: new.to_vec(), public }), quota).await?;
        Ok((true, Some(new.to_vec())))
    }

    async fn increment(&self, scope: &Scope, key: &str, delta: i64, quota: Quota) -> Result<i64, StorageError> {
        let slot = self.touch(scope, key, true).await?;
        let (next, bytes) = counter::add(slot.current.as_ref().map(|e| e.value.as_slice()), delta)?;
        let public = slot.current.as_ref().is_some_and(|e| e.public);
        self.put(scope, key, &slot, Some(Entry { value: bytes, public }), quota).await?;
        Ok(next)
    }

    async fn clear(&self, scope: &Scope) -> Result<u64, StorageError> {
        let mut keys: BTreeSet<String> = BTreeSet::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.inner.list_keys(scope, "", after.as_deref(), CLEAR_PAGE).await?;
            let full = page.len() == CLEAR_PAGE as usize;
            after = page.last().cloned();
            keys.extend(page);
            if !full {
                break;
            }
        }
        keys.extend(self.lock().slots.iter().filter(|((s, _), slot)| s == scope && slot.current.is_some()).map(|((_, k), _)| k.clone()));
        let mut removed = 0;
        for key in keys {
            if self.delete(scope, &key).await? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn usage(&self, scope: &Scope) -> Result<Usage, StorageError> {
        let stored = self.inner.usage(scope).await?;
        let stage = self.lock();
        Ok(stage
            .slots
            .iter()
            .filter(|((s, _), slot)| s == scope && slot.written)
            .fold(stored, |usage, ((_, key), slot)| usage.replace(size(key, slot.original.as_ref()), size(key, slot.current.as_ref()))))
    }
}
