//! Persistent key-value storage (`outlayer:storage/store`; needs the `storage` grant).
//!
//! Every call names a [`Scope`]: [`Scope::Caller`] is the calling account's own data,
//! [`Scope::Component`] the component's data shared by all its callers. Values are bytes;
//! [`get_json`] / [`set_json`] store any serde type as JSON, [`Counter`] is an atomic integer,
//! and [`keys`] iterates over keys page by page.
//!
//! ```no_run
//! use outlayer_sdk::storage::{self, Counter, Scope};
//!
//! #[derive(serde::Serialize, serde::Deserialize, Default)]
//! struct Profile { nickname: String }
//!
//! let mut profile: Profile = storage::get_json(Scope::Caller, "profile")?.unwrap_or_default();
//! profile.nickname = "ada".into();
//! storage::set_json(Scope::Caller, "profile", &profile)?;
//!
//! let visits = Counter::new(Scope::Component, "visits").increment(1)?;
//! for key in storage::keys(Scope::Caller, "todo/") {
//!     println!("{}", key?);
//! }
//! # Ok::<(), outlayer_sdk::Error>(())
//! ```

mod counter;
mod keys;

pub use counter::Counter;
pub use keys::{Keys, keys};

use crate::bindings::outlayer::storage::store as wit;
use crate::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Whose data a call addresses: `Scope::Caller` (the calling account's) or
/// `Scope::Component` (the component's own, shared by every caller).
pub use wit::Scope;

/// One page of keys, as returned by [`list_keys`].
pub use wit::KeyPage;

/// What [`compare_and_swap`] did: `swapped`, and the `current` value after the call.
pub use wit::SwapResult;

/// The value stored under `key`, or `None`.
pub fn get(scope: Scope, key: &str) -> Result<Option<Vec<u8>>> {
    Ok(wit::get(scope, key)?)
}

/// Store `value` under `key`, replacing any previous value.
pub fn set(scope: Scope, key: &str, value: impl AsRef<[u8]>) -> Result<()> {
    Ok(wit::set(scope, key, value.as_ref())?)
}

/// Whether `key` holds a value.
pub fn has(scope: Scope, key: &str) -> Result<bool> {
    Ok(wit::has(scope, key)?)
}

/// Remove `key`; `true` when it existed.
pub fn delete(scope: Scope, key: &str) -> Result<bool> {
    Ok(wit::delete(scope, key)?)
}

/// Store `value` only if `key` holds nothing; `true` when it was stored.
pub fn set_if_absent(scope: Scope, key: &str, value: impl AsRef<[u8]>) -> Result<bool> {
    Ok(wit::set_if_absent(scope, key, value.as_ref())?)
}

/// Atomically replace the value of `key` by `new_value` if it currently equals `expected`
/// (`None` = the key is absent). The result says whether it swapped and what is stored now.
///
/// ```no_run
/// use outlayer_sdk::storage::{self, Scope};
/// let r = storage::compare_and_swap(Scope::Component, "owner", None, "alice.near")?;
/// if !r.swapped {
///     println!("already owned by {:?}", r.current);
/// }
/// # Ok::<(), outlayer_sdk::Error>(())
/// ```
pub fn compare_and_swap(scope: Scope, key: &str, expected: Option<&[u8]>, new_value: impl AsRef<[u8]>) -> Result<SwapResult> {
    Ok(wit::compare_and_swap(scope, key, expected, new_value.as_ref())?)
}

/// Atomically add `delta` to the 8-byte little-endian integer under `key` (a missing key counts
/// as 0) and return the new value. See also [`Counter`].
pub fn increment(scope: Scope, key: &str, delta: i64) -> Result<i64> {
    Ok(wit::increment(scope, key, delta)?)
}

/// One page of at most `limit` keys starting with `prefix`, after `cursor` (the host caps
/// `limit` at 1000; 0 means its default of 100). Prefer the [`keys`] iterator.
pub fn list_keys(scope: Scope, prefix: &str, cursor: Option<&str>, limit: u32) -> Result<KeyPage> {
    Ok(wit::list_keys(scope, prefix, cursor, limit)?)
}

/// The JSON value stored under `key` decoded as `T`, or `None` when the key is absent.
/// [`Error::Decode`] when the stored bytes are not JSON of that shape.
pub fn get_json<T: DeserializeOwned>(scope: Scope, key: &str) -> Result<Option<T>> {
    get(scope, key)?.map(|bytes| decode_json(key, &bytes)).transpose()
}

/// Store `value` as JSON under `key`.
pub fn set_json<T: Serialize + ?Sized>(scope: Scope, key: &str, value: &T) -> Result<()> {
    set(scope, key, encode_json(value)?)
}

/// `bytes` (the value of `key`) decoded as JSON.
///
/// ```
/// # use outlayer_sdk::storage::decode_json;
/// assert_eq!(decode_json::<Vec<u8>>("k", b"[1,2]").unwrap(), vec![1, 2]);
/// let err = decode_json::<u8>("k", b"oops").unwrap_err();
/// assert_eq!(err.to_string(), "cannot decode storage value \"k\": expected value at line 1 column 1");
/// ```
pub fn decode_json<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::decode(format!("storage value {key:?}"), e))
}

/// `value` as JSON bytes, the encoding [`set_json`] stores.
///
/// ```
/// # use outlayer_sdk::storage::encode_json;
/// assert_eq!(encode_json(&("a", 1)).unwrap(), br#"["a",1]"#);
/// ```
pub fn encode_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::other(format!("cannot encode storage value as JSON: {e}")))
}
