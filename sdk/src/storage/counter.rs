//! [`Counter`]: an atomic 64-bit integer under one key.

use super::{Scope, wit};
use crate::{Error, Result};

/// An atomic signed 64-bit integer stored under one key (as 8 little-endian bytes, the format
/// of `increment`). A missing key reads as 0.
///
/// ```no_run
/// use outlayer_sdk::storage::{Counter, Scope};
/// let likes = Counter::new(Scope::Component, "likes");
/// let now = likes.increment(1)?;
/// assert_eq!(likes.get()?, now);
/// # Ok::<(), outlayer_sdk::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter<'k> {
    scope: Scope,
    key: &'k str,
}

impl<'k> Counter<'k> {
    /// The counter under `key` in `scope`. Makes no host call.
    pub fn new(scope: Scope, key: &'k str) -> Self {
        Counter { scope, key }
    }

    /// The current value (0 when the key is absent).
    pub fn get(&self) -> Result<i64> {
        match wit::get(self.scope, self.key)? {
            None => Ok(0),
            Some(bytes) => decode(&bytes),
        }
    }

    /// Atomically add `delta` (which may be negative) and return the new value.
    pub fn increment(&self, delta: i64) -> Result<i64> {
        Ok(wit::increment(self.scope, self.key, delta)?)
    }

    /// Atomically subtract `delta` and return the new value.
    pub fn decrement(&self, delta: i64) -> Result<i64> {
        let delta = delta.checked_neg().ok_or(Error::Overflow)?;
        self.increment(delta)
    }

    /// Overwrite the value.
    pub fn set(&self, value: i64) -> Result<()> {
        Ok(wit::set(self.scope, self.key, &value.to_le_bytes())?)
    }
}

/// The integer in a counter's stored bytes.
fn decode(bytes: &[u8]) -> Result<i64> {
    let bytes: [u8; 8] = bytes.try_into().map_err(|_| Error::NotAnInteger)?;
    Ok(i64::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_bytes_are_little_endian_i64() {
        assert_eq!(decode(&(-5i64).to_le_bytes()).unwrap(), -5);
        assert_eq!(decode(b"12"), Err(Error::NotAnInteger));
    }
}
