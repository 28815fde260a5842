//! The storage capability: `outlayer:storage/store@0.2.0` and the frozen `near:storage/api@0.1.0`,
//! both on one [`StorageBackend`], so old and new guests see the same data.
//!
//! Addressing (see `outlayer_storage::Scope`, the only place scopes are formatted): the
//! execution's home is its project's (or, for a bare component, its wasm hash's) component
//! scope; the caller's scope is the same namespace owned by the caller's account (anonymous
//! local runs use [`ANONYMOUS_CALLER`]). v0.1's `get-by-version(key, hash)` reads the caller's
//! data of a bare component ([`Scope::wasm`]); `get-worker(key, some(uuid))` reads another
//! project's component data ([`Scope::project_component`]), only where it was stored public.
//!
//! Quota: every write passes the grant's per-scope [`Quota`] to the backend, which checks it
//! atomically with the write (concurrent executions cannot pass it together).

use super::guard::{CallGuard, Refusal, v01_refusal};
use crate::bindings::near::storage::api as v01;
use crate::bindings::outlayer::storage::store::{self as v02, Error, KeyPage, Scope as WitScope, SwapResult};
use outlayer_protocol::capability::Capability;
use outlayer_storage::{Quota, Scope, StorageBackend, StorageError};
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};

/// Longest key in bytes. Defends index size and listing cost.
pub const MAX_KEY_BYTES: usize = 512;
/// Largest value in bytes. Defends the database and the worker's memory.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// Default bytes (keys + values) one scope may hold (one constant with the coordinator, which
/// caps the quota of the write sets it applies to it).
pub use outlayer_storage::DEFAULT_SCOPE_QUOTA_BYTES;
/// Default page size of `list-keys`, and its cap.
pub const DEFAULT_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 1000;
/// Keys v0.1's `list-keys` returns at most (it has no pagination).
pub const V01_MAX_LIST: usize = 10_000;
/// Owner used for the caller scope when nobody is calling (local runs). NEAR account ids
/// cannot contain `@`, so it never collides with a real account.
pub const ANONYMOUS_CALLER: &str = "@anonymous";

/// Permission to use storage, and where.
#[derive(Clone)]
pub struct StorageGrant {
    pub backend: Arc<dyn StorageBackend>,
    /// Bytes one scope may hold.
    pub scope_quota_bytes: u64,
}

impl StorageGrant {
    /// A grant on `backend` with the default quota.
    pub fn new(backend: Arc<dyn StorageBackend>) -> Self {
        Self { backend, scope_quota_bytes: DEFAULT_SCOPE_QUOTA_BYTES }
    }
}

/// Per-execution storage state.
pub struct StorageCap {
    grant: Option<StorageGrant>,
    pub(crate) guard: CallGuard,
    /// The component-owned scope of the execution; the caller's scope shares its namespace.
    home: Scope,
    caller: String,
}

/// A storage failure before it is shaped for one interface version.
#[derive(Debug)]
enum Fail {
    Refused(Refusal),
    InvalidKey(String),
    ValueTooLarge,
    Quota,
    Backend(StorageError),
    NotPublic,
    Timeout,
}

impl From<StorageError> for Fail {
    fn from(e: StorageError) -> Self {
        Fail::Backend(e)
    }
}

impl From<Fail> for Error {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Refused(Refusal::Denied) => Error::Denied,
            Fail::Refused(Refusal::OverBudget) => Error::LimitExceeded,
            Fail::InvalidKey(why) => Error::InvalidKey(why),
            Fail::ValueTooLarge => Error::ValueTooLarge(MAX_VALUE_BYTES as u64),
            Fail::Quota => Error::QuotaExceeded,
            Fail::Backend(StorageError::NotAnInteger) => Error::NotAnInteger,
            Fail::Backend(StorageError::Overflow) => Error::Overflow,
            Fail::Backend(_) => Error::Other("storage backend failed".into()),
            Fail::NotPublic => Error::Other("that data is not public".into()),
            Fail::Timeout => Error::Other("storage call timed out".into()),
        }
    }
}

fn v01_error(f: Fail) -> String {
    match f {
        Fail::Refused(r) => v01_refusal(Capability::Storage, r),
        Fail::InvalidKey(why) => format!("invalid key: {why}"),
        Fail::ValueTooLarge => format!("value too large: at most {MAX_VALUE_BYTES} bytes"),
        Fail::Quota => "storage quota exceeded".into(),
        Fail::Backend(StorageError::NotAnInteger) => "stored value is not an 8-byte integer".into(),
        Fail::Backend(StorageError::Overflow) => "integer overflow".into(),
        Fail::Backend(_) => "storage backend failed".into(),
        Fail::NotPublic => "that data is not public".into(),
        Fail::Timeout => "storage call timed out".into(),
    }
}

type R<T> = Result<T, Fail>;

impl StorageCap {
    /// State for one execution whose component-owned scope is `home`, on behalf of `caller`.
    pub fn new(grant: Option<StorageGrant>, guard: CallGuard, home: Scope, caller: Option<&str>) -> Self {
        Self { grant, guard, home, caller: caller.unwrap_or(ANONYMOUS_CALLER).to_string() }
    }

    fn scope(&self, scope: WitScope) -> Scope {
        match scope {
            WitScope::Caller => self.home.with_owner(&self.caller),
            WitScope::Component => self.home.clone(),
        }
    }

    /// The grant's per-scope quota.
    fn quota(&self) -> Quota {
        self.grant.as_ref().map_or(Quota::bytes(0), |g| Quota::bytes(g.scope_quota_bytes))
    }

    /// Admit a call and hand out the backend.
    fn admit(&mut self) -> R<Arc<dyn StorageBackend>> {
        let granted = self.grant.is_some();
        self.guard.admit(granted).map_err(Fail::Refused)?;
        Ok(self.grant.as_ref().expect("granted").backend.clone())
    }

    async fn run<T>(&self, fut: impl std::future::Future<Output = Result<T, StorageError>>) -> R<T> {
        match self.guard.bounded(fut).await {
            Some(Ok(v)) => Ok(v),
            Some(Err(StorageError::QuotaExceeded { .. })) => Err(Fail::Quota),
            Some(Err(e)) => {
                if let StorageError::Backend(detail) = &e {
                    tracing::warn!(%detail, namespace = %self.home.namespace, "storage backend error");
                }
                Err(Fail::Backend(e))
            }
            None => Err(Fail::Timeout),
        }
    }

    fn check_key(key: &str) -> R<()> {
        if key.is_empty() {
            return Err(Fail::InvalidKey("key is empty".into()));
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(Fail::InvalidKey(format!("key is longer than {MAX_KEY_BYTES} bytes")));
        }
        Ok(())
    }

    fn check_value(value: &[u8]) -> R<()> {
        if value.len() > MAX_VALUE_BYTES {
            return Err(Fail::ValueTooLarge);
        }
        Ok(())
    }

    async fn get(&mut self, scope: Scope, key: &str) -> R<Option<outlayer_storage::Entry>> {
        let b = self.admit()?;
        Self::check_key(key)?;
        self.run(b.get(&scope, key)).await
    }

    async fn set(&mut self, scope: Scope, key: &str, value: &[u8], public: bool) -> R<()> {
        let b = self.admit()?;
        Self::check_key(key)?;
        Self::check_value(value)?;
        self.run(b.set(&scope, key, value, public, self.quota())).await
    }

    async fn has(&mut self, scope: Scope, key: &str) -> R<bool> {
        let b = self.admit()?;
        Self::check_key(key)?;
        self.run(b.has(&scope, key)).await
    }

    async fn delete(&mut self, scope: Scope, key: &str) -> R<bool> {
        let b = self.admit()?;
        Self::check_key(key)?;
        self.run(b.delete(&scope, key)).await
    }

    async fn list(&mut self, scope: Scope, prefix: &str, after: Option<&str>, limit: u32) -> R<Vec<String>> {
        let b = self.admit()?;
        self.run(b.list_keys(&scope, prefix, after, limit)).await
    }

    async fn set_if_absent(&mut self, scope: Scope, key: &str, value: &[u8]) -> R<bool> {
        let b = self.admit()?;
        Self::check_key(key)?;
        Self::check_value(value)?;
        self.run(b.set_if_absent(&scope, key, value, false, self.quota())).await
    }

    async fn cas(&mut self, scope: Scope, key: &str, expected: Option<&[u8]>, new: &[u8]) -> R<(bool, Option<Vec<u8>>)> {
        let b = self.admit()?;
        Self::check_key(key)?;
        Self::check_value(new)?;
        self.run(b.compare_and_swap(&scope, key, expected, new, self.quota())).await
    }

    async fn increment(&mut self, scope: Scope, key: &str, delta: i64) -> R<i64> {
        let b = self.admit()?;
        Self::check_key(key)?;
        self.run(b.increment(&scope, key, delta, self.quota())).await
    }

    async fn clear(&mut self, scope: Scope) -> R<u64> {
        let b = self.admit()?;
        self.run(b.clear(&scope)).await
    }

    fn caller_scope(&self) -> Scope {
        self.scope(WitScope::Caller)
    }
}

type WResult<T> = wasmtime::Result<Result<T, Error>>;

impl v02::Host for StorageCap {
    async fn get(&mut self, scope: WitScope, key: String) -> WResult<Option<Vec<u8>>> {
        let s = self.scope(scope);
        Ok(StorageCap::get(self, s, &key).await.map(|e| e.map(|e| e.value)).map_err(Error::from))
    }

    async fn set(&mut self, scope: WitScope, key: String, value: Vec<u8>) -> WResult<()> {
        let s = self.scope(scope);
        Ok(StorageCap::set(self, s, &key, &value, false).await.map_err(Error::from))
    }

    async fn has(&mut self, scope: WitScope, key: String) -> WResult<bool> {
        let s = self.scope(scope);
        Ok(StorageCap::has(self, s, &key).await.map_err(Error::from))
    }

    async fn delete(&mut self, scope: WitScope, key: String) -> WResult<bool> {
        let s = self.scope(scope);
        Ok(StorageCap::delete(self, s, &key).await.map_err(Error::from))
    }

    async fn list_keys(&mut self, scope: WitScope, prefix: String, cursor: Option<String>, limit: u32) -> WResult<KeyPage> {
        let s = self.scope(scope);
        let limit = if limit == 0 { DEFAULT_PAGE } else { limit.min(MAX_PAGE) };
        // Ask for one more than the page to learn whether another page follows.
        let result = self.list(s, &prefix, cursor.as_deref(), limit + 1).await.map(|mut keys| {
            let more = keys.len() > limit as usize;
            keys.truncate(limit as usize);
            let next_cursor = if more { keys.last().cloned() } else { None };
            KeyPage { keys, next_cursor }
        });
        Ok(result.map_err(Error::from))
    }

    async fn set_if_absent(&mut self, scope: WitScope, key: String, value: Vec<u8>) -> WResult<bool> {
        let s = self.scope(scope);
        Ok(StorageCap::set_if_absent(self, s, &key, &value).await.map_err(Error::from))
    }

    async fn compare_and_swap(
        &mut self,
        scope: WitScope,
        key: String,
        expected: Option<Vec<u8>>,
        new_value: Vec<u8>,
    ) -> WResult<SwapResult> {
        let s = self.scope(scope);
        let r = self.cas(s, &key, expected.as_deref(), &new_value).await;
        Ok(r.map(|(swapped, current)| SwapResult { swapped, current }).map_err(Error::from))
    }

    async fn increment(&mut self, scope: WitScope, key: String, delta: i64) -> WResult<i64> {
        let s = self.scope(scope);
        Ok(StorageCap::increment(self, s, &key, delta).await.map_err(Error::from))
    }
}

/// v0.1 results: the error string is empty on success.
fn ok_or_string<T: Default>(r: R<T>) -> (T, String) {
    match r {
        Ok(v) => (v, String::new()),
        Err(f) => (T::default(), v01_error(f)),
    }
}

impl v01::Host for StorageCap {
    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<String> {
        let s = self.caller_scope();
        Ok(ok_or_string(StorageCap::set(self, s, &key, &value, false).await).1)
    }

    async fn get(&mut self, key: String) -> wasmtime::Result<(Vec<u8>, String)> {
        let s = self.caller_scope();
        Ok(ok_or_string(StorageCap::get(self, s, &key).await.map(|e| e.map(|e| e.value).unwrap_or_default())))
    }

    async fn has(&mut self, key: String) -> wasmtime::Result<bool> {
        let s = self.caller_scope();
        Ok(StorageCap::has(self, s, &key).await.unwrap_or(false))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<bool> {
        let s = self.caller_scope();
        Ok(StorageCap::delete(self, s, &key).await.unwrap_or(false))
    }

    async fn list_keys(&mut self, prefix: String) -> wasmtime::Result<(String, String)> {
        let s = self.caller_scope();
        let r = self.list(s, &prefix, None, V01_MAX_LIST as u32).await;
        Ok(ok_or_string(r.map(|keys| serde_json::to_string(&keys).expect("strings serialise"))))
    }

    async fn set_if_absent(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<(bool, String)> {
        let s = self.caller_scope();
        Ok(ok_or_string(StorageCap::set_if_absent(self, s, &key, &value).await))
    }

    async fn set_if_equals(&mut self, key: String, expected: Vec<u8>, new_value: Vec<u8>) -> wasmtime::Result<(bool, Vec<u8>, String)> {
        // v0.1 reads a missing key as an empty value, so an empty `expected` means "absent".
        let s = self.caller_scope();
        let expected = if expected.is_empty() { None } else { Some(expected) };
        match self.cas(s, &key, expected.as_deref(), &new_value).await {
            Ok((swapped, current)) => Ok((swapped, current.unwrap_or_default(), String::new())),
            Err(f) => Ok((false, Vec::new(), v01_error(f))),
        }
    }

    async fn increment(&mut self, key: String, delta: i64) -> wasmtime::Result<(i64, String)> {
        let s = self.caller_scope();
        Ok(ok_or_string(StorageCap::increment(self, s, &key, delta).await))
    }

    async fn decrement(&mut self, key: String, delta: i64) -> wasmtime::Result<(i64, String)> {
        let s = self.caller_scope();
        let r = match delta.checked_neg() {
            Some(neg) => StorageCap::increment(self, s, &key, neg).await,
            None => Err(Fail::Backend(StorageError::Overflow)),
        };
        Ok(ok_or_string(r))
    }

    async fn set_worker(&mut self, key: String, value: Vec<u8>, is_encrypted: Option<bool>) -> wasmtime::Result<String> {
        let s = self.scope(WitScope::Component);
        let public = is_encrypted == Some(false);
        Ok(ok_or_string(StorageCap::set(self, s, &key, &value, public).await).1)
    }

    async fn get_worker(&mut self, key: String, project_uuid: Option<String>) -> wasmtime::Result<(Vec<u8>, String)> {
        let r = match project_uuid {
            None => {
                let s = self.scope(WitScope::Component);
                StorageCap::get(self, s, &key).await.map(|e| e.map(|e| e.value).unwrap_or_default())
            }
            Some(uuid) => {
                let s = Scope::project_component(&uuid);
                match StorageCap::get(self, s, &key).await {
                    Ok(Some(e)) if e.public => Ok(e.value),
                    Ok(Some(_)) => Err(Fail::NotPublic),
                    Ok(None) => Ok(Vec::new()),
                    Err(f) => Err(f),
                }
            }
        };
        Ok(ok_or_string(r))
    }

    async fn get_by_version(&mut self, key: String, wasm_hash: String) -> wasmtime::Result<(Vec<u8>, String)> {
        let s = Scope::wasm(&wasm_hash, &self.caller);
        Ok(ok_or_string(StorageCap::get(self, s, &key).await.map(|e| e.map(|e| e.value).unwrap_or_default())))
    }

    async fn clear_all(&mut self) -> wasmtime::Result<String> {
        let s = self.caller_scope();
        Ok(ok_or_string(self.clear(s).await).1)
    }

    async fn clear_version(&mut self, wasm_hash: String) -> wasmtime::Result<String> {
        let s = Scope::wasm(&wasm_hash, &self.caller);
        Ok(ok_or_string(self.clear(s).await).1)
    }
}

/// Link both storage interface versions; `f` finds the state in the store's data.
pub fn add_to_linker<T: Send + 'static>(linker: &mut Linker<T>, f: fn(&mut T) -> &mut StorageCap) -> wasmtime::Result<()> {
    v02::add_to_linker::<T, HasSelf<StorageCap>>(linker, f)?;
    v01::add_to_linker::<T, HasSelf<StorageCap>>(linker, f)?;
    Ok(())
}
