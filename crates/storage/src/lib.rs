//! Storage backends for the OutLayer storage capability.
//!
//! The host's storage capability (both `outlayer:storage/store@0.2.0` and the frozen
//! `near:storage/api@0.1.0`) talks to a [`StorageBackend`]. Backends store bytes and enforce the
//! per-scope [`Quota`] the caller passes with each write (atomically with the write); key and
//! value size limits and grants are the host's business.
//!
//! Data is addressed by a [`Scope`] (namespace + owner) and a key, and scopes are only ever
//! formatted here ([`Scope::project`], [`Scope::wasm`] and their component-owned variants):
//! - the namespace is `project:<project id>` for project executions, `wasm:<sha256>` for bare
//!   components (so `get-by-version` can read what an older, project-less version wrote);
//! - the owner is the calling account id, or [`COMPONENT_OWNER`] for the component's own data.
//!
//! Keys are UTF-8 text compared by their bytes: [`StorageBackend::list_keys`] returns them in
//! ascending byte order (the order of `str`'s `Ord`), identically in every backend.
//!
//! # Backends
//! - [`MemoryStorage`]: a map behind a mutex, for tests and ephemeral runs; clones share data.
//! - [`SqliteStorage`]: the embedded default; one database file in WAL mode, durable across
//!   restarts.
//! - [`PostgresStorage`]: production; many workers can share one database.
//! - [`EncryptedStorage`]: wraps any of them and encrypts values at rest with
//!   ChaCha20-Poly1305 under an operator key.
//!
//! # Schema
//! Both SQL backends create two tables through embedded migrations (`migrations/sqlite`,
//! `migrations/postgres`), recorded in their own migrations table [`MIGRATIONS_TABLE`] so they
//! can share a database with other components:
//!
//! ```text
//! storage_entries (
//!     namespace TEXT,             -- Scope::namespace
//!     owner     TEXT,             -- Scope::owner
//!     key       BLOB / BYTEA,     -- the key's UTF-8 bytes: bytewise order, NUL allowed
//!     value     BLOB / BYTEA,
//!     public    INTEGER / BOOLEAN,
//!     PRIMARY KEY (namespace, owner, key)
//! )
//! storage_usage (                 -- one row per non-empty scope, written in the same
//!     namespace TEXT,             -- transaction as the entries it counts
//!     owner     TEXT,
//!     keys      INTEGER / BIGINT,
//!     bytes     INTEGER / BIGINT, -- sum of key and value lengths
//!     PRIMARY KEY (namespace, owner)
//! )
//! ```
//!
//! # Atomicity
//! Every method is one atomic operation in every backend, also under concurrent callers (and, for
//! the SQL backends, across processes sharing the database):
//! - every write (`set`, `set_if_absent`, `compare_and_swap`, `increment`, `delete`, `clear`)
//!   reads the entry and the scope's usage, decides, checks the [`Quota`] and writes entry and
//!   usage under one lock: the mutex in memory, a `BEGIN IMMEDIATE` transaction in SQLite, and in
//!   PostgreSQL a transaction that first locks the scope's `storage_usage` row (so writers of
//!   one scope take turns; writers of different scopes do not wait for each other).
//!   [`EncryptedStorage`] passes the quota down and swaps ciphertexts with the inner backend's
//!   atomic `compare_and_swap`.
//! - so concurrent increments never lose an update, of concurrent `set_if_absent` calls on one
//!   key exactly one returns `true`, and concurrent writers never take a scope past its quota.
//!
//! # Example
//! ```
//! use outlayer_storage::{MemoryStorage, Quota, Scope, StorageBackend, StorageError};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryStorage::new();
//! let alice = Scope::project("alice.near/app", "alice.near");
//! let quota = Quota::bytes(64);
//!
//! store.set(&alice, "greeting", b"hello", false, quota).await?;
//! assert_eq!(store.get(&alice, "greeting").await?.unwrap().value, b"hello");
//!
//! assert_eq!(store.increment(&alice, "visits", 1, quota).await?, 1);
//! assert_eq!(store.increment(&alice, "visits", 1, quota).await?, 2);
//!
//! // Another caller of the same project sees none of it.
//! let bob = Scope::project("alice.near/app", "bob.near");
//! assert!(!store.has(&bob, "greeting").await?);
//!
//! assert_eq!(store.list_keys(&alice, "", None, 10).await?, ["greeting", "visits"]);
//!
//! // A write that would take the scope past its quota changes nothing.
//! let big = store.set(&alice, "big", &[0; 64], false, quota).await;
//! assert!(matches!(big, Err(StorageError::QuotaExceeded { max_bytes: 64 })));
//! # Ok::<(), outlayer_storage::StorageError>(())
//! # }).unwrap();
//! ```

#![warn(missing_docs)]

use async_trait::async_trait;

mod counter;
mod encrypted;
#[cfg(feature = "backends")]
mod key_range;
mod memory;
#[cfg(feature = "backends")]
mod migrations;
#[cfg(feature = "backends")]
mod postgres;
mod quota;
#[cfg(feature = "backends")]
mod rows;
mod shared;
#[cfg(feature = "backends")]
mod sqlite;
mod staged;
pub mod write_set;

pub use encrypted::{CIPHERTEXT_OVERHEAD, EncryptedStorage, KEY_LEN, SWAP_ATTEMPTS, SWAP_BACKOFF_MAX};
pub use memory::MemoryStorage;
#[cfg(feature = "backends")]
pub use migrations::MIGRATIONS_TABLE;
#[cfg(feature = "backends")]
pub use postgres::{PG_ACQUIRE_TIMEOUT, PG_MAX_CONNECTIONS, PostgresStorage};
pub use quota::{DEFAULT_SCOPE_QUOTA_BYTES, Quota};
#[cfg(feature = "backends")]
pub use sqlite::{SQLITE_BUSY_TIMEOUT, SQLITE_MAX_CONNECTIONS, SqliteStorage};
pub use staged::{MAX_WRITE_SET_BYTES, StagedStorage};
pub use write_set::{Committed, Write, WriteSet};

#[cfg(feature = "backends")]
use rows::{keys_from_bytes, usage_from_counts};

/// Owner name of the component-wide scope. Account ids can never take this value: NEAR account
/// ids cannot contain `@`.
pub const COMPONENT_OWNER: &str = "@component";

/// Where a record lives: a namespace and an owner inside it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Scope {
    /// `project:<id>` or `wasm:<sha256 hex>`.
    pub namespace: String,
    /// A caller's account id, or [`COMPONENT_OWNER`].
    pub owner: String,
}

impl Scope {
    /// The calling account's data in `namespace`.
    pub fn caller(namespace: impl Into<String>, caller: impl Into<String>) -> Self {
        Self { namespace: namespace.into(), owner: caller.into() }
    }

    /// The component's own data in `namespace`.
    pub fn component(namespace: impl Into<String>) -> Self {
        Self { namespace: namespace.into(), owner: COMPONENT_OWNER.to_string() }
    }

    /// `owner`'s data in the project with id `project_id` (namespace `project:<id>`).
    pub fn project(project_id: &str, owner: impl Into<String>) -> Self {
        Self::caller(format!("project:{project_id}"), owner)
    }

    /// The component's own data in the project with id `project_id`.
    pub fn project_component(project_id: &str) -> Self {
        Self::component(format!("project:{project_id}"))
    }

    /// `owner`'s data of a bare component, by the hex sha256 of its wasm (namespace
    /// `wasm:<sha256>`, lowercase whatever the case of `sha256_hex`).
    pub fn wasm(sha256_hex: &str, owner: impl Into<String>) -> Self {
        Self::caller(format!("wasm:{}", sha256_hex.to_ascii_lowercase()), owner)
    }

    /// The component's own data of a bare component, by the hex sha256 of its wasm.
    pub fn wasm_component(sha256_hex: &str) -> Self {
        Self::component(format!("wasm:{}", sha256_hex.to_ascii_lowercase()))
    }

    /// The scope of `owner` in this scope's namespace.
    pub fn with_owner(&self, owner: impl Into<String>) -> Self {
        Self::caller(self.namespace.clone(), owner)
    }
}

/// A stored value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The stored bytes.
    pub value: Vec<u8>,
    /// Readable by other namespaces (v0.1 `set-worker` with `is-encrypted = false`).
    pub public: bool,
}

/// How much a scope holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Number of keys.
    pub keys: u64,
    /// Sum of key and value lengths.
    pub bytes: u64,
}

/// Why a backend call failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// `increment` found a value that is not an 8-byte little-endian integer.
    #[error("stored value is not an 8-byte little-endian integer")]
    NotAnInteger,
    /// `increment` would overflow an i64.
    #[error("increment overflows a 64-bit integer")]
    Overflow,
    /// The write would take the scope past its [`Quota`]; nothing was written.
    #[error("the scope's storage quota of {max_bytes} bytes would be exceeded")]
    QuotaExceeded {
        /// The quota's limit.
        max_bytes: u64,
    },
    /// The database failed, or [`EncryptedStorage`] could not decrypt a stored value (the text
    /// then says "cannot decrypt"). Shown to operators only: may contain paths or connection
    /// details.
    #[error("storage backend: {0}")]
    Backend(String),
}

#[cfg(feature = "backends")]
impl From<sqlx::Error> for StorageError {
    fn from(e: sqlx::Error) -> Self {
        StorageError::Backend(e.to_string())
    }
}

/// A place to keep guest data. Every method is one atomic operation on one scope. Every method
/// that can make a scope larger takes the scope's [`Quota`] (pass [`Quota::UNLIMITED`] for none)
/// and fails with [`StorageError::QuotaExceeded`], writing nothing, when the write would pass it.
#[async_trait]
pub trait StorageBackend: Send + Sync + 'static {
    /// The entry under `key`, if any.
    async fn get(&self, scope: &Scope, key: &str) -> Result<Option<Entry>, StorageError>;
    /// Whether `key` holds a value.
    async fn has(&self, scope: &Scope, key: &str) -> Result<bool, StorageError> {
        Ok(self.get(scope, key).await?.is_some())
    }
    /// Store `value` under `key`, replacing any previous entry.
    async fn set(&self, scope: &Scope, key: &str, value: &[u8], public: bool, quota: Quota) -> Result<(), StorageError>;
    /// Remove `key`; true when it existed.
    async fn delete(&self, scope: &Scope, key: &str) -> Result<bool, StorageError>;
    /// Up to `limit` keys starting with `prefix` and greater than `after`, in ascending byte order
    /// (`limit = 0` returns nothing). Pass the last key of a page as `after` to get the next one.
    async fn list_keys(&self, scope: &Scope, prefix: &str, after: Option<&str>, limit: u32) -> Result<Vec<String>, StorageError>;
    /// Store only if absent; true when stored.
    async fn set_if_absent(&self, scope: &Scope, key: &str, value: &[u8], public: bool, quota: Quota) -> Result<bool, StorageError>;
    /// Replace the value with `new` if it equals `expected` (`None` = absent). Returns whether it
    /// swapped and the value stored after the call (on a mismatch: the current value).
    /// A replaced entry keeps its public flag; a key created by the swap is private.
    async fn compare_and_swap(
        &self,
        scope: &Scope,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        quota: Quota,
    ) -> Result<(bool, Option<Vec<u8>>), StorageError>;
    /// Add `delta` to the i64 (8 bytes, little-endian) under `key`, a missing key counting as 0;
    /// returns the new value. Fails with [`StorageError::NotAnInteger`] when the stored value is
    /// not 8 bytes long and [`StorageError::Overflow`] when the sum leaves the i64 range, leaving
    /// the value unchanged. Keeps the public flag; a created key is private.
    async fn increment(&self, scope: &Scope, key: &str, delta: i64, quota: Quota) -> Result<i64, StorageError>;
    /// Remove every key of the scope; returns how many were removed.
    async fn clear(&self, scope: &Scope) -> Result<u64, StorageError>;
    /// Keys and bytes held by the scope.
    async fn usage(&self, scope: &Scope) -> Result<Usage, StorageError>;

    /// Applies `writes` (an execution's [`WriteSet`]) and stores `record` under `id`, in one
    /// transaction — or does nothing: when a commit with this `id` exists ([`Committed::Already`]
    /// with its record), or when a write's expectation no longer holds or a scope would pass its
    /// quota ([`Committed::Conflict`]). See [`write_set`]. Backends that cannot (a stage, an
    /// unsupported store) refuse with [`StorageError::Backend`].
    async fn commit(&self, id: &str, writes: &WriteSet, record: &[u8]) -> Result<Committed, StorageError> {
        let _ = (id, writes, record);
        Err(StorageError::Backend("this storage backend does not apply write sets".into()))
    }

    /// The record of the commit `id`, if one was applied (and not yet forgotten).
    async fn committed(&self, id: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let _ = id;
        Err(StorageError::Backend("this storage backend does not apply write sets".into()))
    }

    /// Forgets the commit records older than `before_ms` (Unix ms), and the one named `id` if
    /// given: they only matter while their execution may still be retried. Returns how many.
    async fn forget_commits(&self, before_ms: i64, id: Option<&str>) -> Result<u64, StorageError> {
        let _ = (before_ms, id);
        Ok(0)
    }
}

/// Now, in Unix milliseconds (the time commit records are stamped with).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
