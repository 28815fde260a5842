//! [`EncryptedStorage`]: encrypts values at rest on top of any other backend.

mod sealing;

use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;

use crate::{Entry, Quota, Scope, StorageBackend, StorageError, Usage, counter};
use sealing::Sealer;
pub use sealing::{CIPHERTEXT_OVERHEAD, KEY_LEN};

/// How many times one `compare_and_swap` or `increment` retries after another writer changed the
/// key between its read and its swap. Each retry means another write to the key succeeded, so
/// the store as a whole makes progress; the bound keeps one call from looping forever.
pub const SWAP_ATTEMPTS: u32 = 100;

/// Longest pause between two attempts; pauses grow with the attempt number and are randomised
/// so that contending writers spread out.
pub const SWAP_BACKOFF_MAX: Duration = Duration::from_millis(20);

/// Wraps a backend so that it only ever sees encrypted values.
///
/// Values are sealed with ChaCha20-Poly1305 under the operator's 32-byte key, with a fresh
/// random 96-bit nonce per write and associated data binding the namespace, owner, key and
/// public flag: a value copied elsewhere in the database fails to decrypt (a
/// [`StorageError::Backend`] whose text says "cannot decrypt"). Keys, scopes and the public flag
/// stay in clear so that listing, clearing and quotas work unchanged.
///
/// `compare_and_swap` and `increment` decrypt the current value, decide, and then swap the
/// *current ciphertext* for a fresh one with the inner backend's atomic `compare_and_swap`:
/// ciphertexts are unique per write, so the swap succeeds only if nobody wrote in between. A
/// lost race is retried (at most [`SWAP_ATTEMPTS`] times). [`usage`](StorageBackend::usage)
/// reports plaintext sizes, and quotas count plaintext too: every write passes the caller's
/// [`Quota`] to the inner backend with a per-key allowance of [`CIPHERTEXT_OVERHEAD`], so the
/// inner backend checks it atomically with its own write.
///
/// It applies no write sets ([`StorageBackend::commit`] is refused): a stage above it would hold
/// plaintexts. Stage *under* it (`EncryptedStorage::new(StagedStorage::new(store), key)`) and
/// commit the stage's write set — ciphertexts — to the store itself.
#[derive(Clone)]
pub struct EncryptedStorage<B> {
    inner: B,
    sealer: Sealer,
    /// A key values may still be sealed under (see [`EncryptedStorage::with_legacy_key`]).
    legacy: Option<Sealer>,
}

impl<B> std::fmt::Debug for EncryptedStorage<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedStorage").finish_non_exhaustive()
    }
}

impl<B: StorageBackend> EncryptedStorage<B> {
    /// Encrypts everything written to `inner` with `key`. Losing the key loses the data.
    pub fn new(inner: B, key: [u8; KEY_LEN]) -> Self {
        Self { inner, sealer: Sealer::new(key), legacy: None }
    }

    /// Also reads values sealed under `old` (the migration path from one key to another, e.g.
    /// from an operator's storage key to a project key from the keystore). Every write seals
    /// under the new key, so a value moves to it the first time it is written; a
    /// `compare_and_swap` or `increment` of a legacy value works, since it swaps the current
    /// ciphertext whatever key sealed it.
    pub fn with_legacy_key(mut self, old: [u8; KEY_LEN]) -> Self {
        self.legacy = Some(Sealer::new(old));
        self
    }

    /// The wrapped backend (which holds ciphertexts).
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// The inner entry under `key` and its plaintext.
    async fn read(&self, scope: &Scope, key: &str) -> Result<Option<(Entry, Vec<u8>)>, StorageError> {
        let Some(entry) = self.inner.get(scope, key).await? else {
            return Ok(None);
        };
        let plain = match (self.sealer.open(scope, key, entry.public, &entry.value), &self.legacy) {
            (Ok(plain), _) => plain,
            (Err(e), None) => return Err(e),
            (Err(e), Some(legacy)) => legacy.open(scope, key, entry.public, &entry.value).map_err(|_| e)?,
        };
        Ok(Some((entry, plain)))
    }

    /// Reads the plaintext, asks `decide` for a new one, and swaps it in if nobody wrote the key
    /// in between; retries otherwise. Returns whether it wrote and the plaintext after the call.
    async fn update<F>(&self, scope: &Scope, key: &str, quota: Quota, mut decide: F) -> Result<(bool, Option<Vec<u8>>), StorageError>
    where
        F: FnMut(Option<&[u8]>) -> Result<Option<Vec<u8>>, StorageError> + Send,
    {
        for attempt in 0..SWAP_ATTEMPTS {
            let current = self.read(scope, key).await?;
            let plain = current.as_ref().map(|(_, plain)| plain.as_slice());
            let Some(new) = decide(plain)? else {
                return Ok((false, current.map(|(_, plain)| plain)));
            };
            // The inner swap keeps an existing entry's public flag and inserts new keys private.
            let public = current.as_ref().is_some_and(|(entry, _)| entry.public);
            let sealed = self.sealer.seal(scope, key, public, &new)?;
            let expected = current.as_ref().map(|(entry, _)| entry.value.as_slice());
            let (swapped, _) = self.inner.compare_and_swap(scope, key, expected, &sealed, stored_quota(quota)).await?;
            if swapped {
                return Ok((true, Some(new)));
            }
            backoff(attempt).await;
        }
        Err(StorageError::Backend(format!("gave up updating a key after {SWAP_ATTEMPTS} attempts: other writers kept changing it")))
    }
}

/// `quota` as the inner backend, which stores ciphertexts, must count it.
fn stored_quota(quota: Quota) -> Quota {
    quota.with_per_key_allowance(CIPHERTEXT_OVERHEAD as u64)
}

/// Waits a little before retrying after a lost race: a yield first, then random pauses growing
/// with `attempt` up to [`SWAP_BACKOFF_MAX`].
async fn backoff(attempt: u32) {
    if attempt < 2 {
        tokio::task::yield_now().await;
        return;
    }
    let ceiling = Duration::from_micros(100 << attempt.min(10)).min(SWAP_BACKOFF_MAX);
    let pause = rand::thread_rng().gen_range(Duration::ZERO..=ceiling);
    tokio::time::sleep(pause).await;
}

#[async_trait]
impl<B: StorageBackend> StorageBackend for EncryptedStorage<B> {
    async fn get(&self, scope: &Scope, key: &str) -> Result<Option<Entry>, StorageError> {
        Ok(self.read(scope, key).await?.map(|(entry, value)| Entry { value, public: entry.public }))
    }

    async fn has(&self, scope: &Scope, key: &str) -> Result<bool, StorageError> {
        self.inner.has(scope, key).await
    }

    async fn set(&self, scope: &Scope, key: &str, value: &[u8], public: bool, quota: Quota) -> Result<(), StorageError> {
        let sealed = self.sealer.seal(scope, key, public, value)?;
        self.inner.set(scope, key, &sealed, public, stored_quota(quota)).await
    }

    async fn delete(&self, scope: &Scope, key: &str) -> Result<bool, StorageError> {
        self.inner.delete(scope, key).await
    }

    async fn list_keys(&self, scope: &Scope, prefix: &str, after: Option<&str>, limit: u32) -> Result<Vec<String>, StorageError> {
        self.inner.list_keys(scope, prefix, after, limit).await
    }

    async fn set_if_absent(&self, scope: &Scope, key: &str, value: &[u8], public: bool, quota: Quota) -> Result<bool, StorageError> {
        let sealed = self.sealer.seal(scope, key, public, value)?;
        self.inner.set_if_absent(scope, key, &sealed, public, stored_quota(quota)).await
    }

    async fn compare_and_swap(
        &self,
        scope: &Scope,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        quota: Quota,
    ) -> Result<(bool, Option<Vec<u8>>), StorageError> {
        self.update(scope, key, quota, |current| Ok((current == expected).then(|| new.to_vec()))).await
    }

    async fn increment(&self, scope: &Scope, key: &str, delta: i64, quota: Quota) -> Result<i64, StorageError> {
        let (_, stored) = self.update(scope, key, quota, |current| Ok(Some(counter::add(current, delta)?.1))).await?;
        counter::decode(stored.as_deref())
    }

    async fn clear(&self, scope: &Scope) -> Result<u64, StorageError> {
        self.inner.clear(scope).await
    }

    async fn usage(&self, scope: &Scope) -> Result<Usage, StorageError> {
        let stored = self.inner.usage(scope).await?;
        let overhead = stored.keys.saturating_mul(CIPHERTEXT_OVERHEAD as u64);
        Ok(Usage { keys: stored.keys, bytes: stored.bytes.saturating_sub(overhead) })
    }
}
