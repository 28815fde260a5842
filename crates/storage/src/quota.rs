//! [`Quota`]: the most one scope may hold, enforced by every backend inside the write itself.

use crate::{StorageError, Usage};

/// Default bytes (keys + values) one scope may hold: what a worker grants a guest, and the most
/// a coordinator lets a write set it applies claim.
pub const DEFAULT_SCOPE_QUOTA_BYTES: u64 = 64 << 20;

/// The most one [`Scope`](crate::Scope) may hold, in bytes of keys plus values.
///
/// Every writing method of [`StorageBackend`](crate::StorageBackend) takes a quota and checks it
/// atomically with the write (under the same lock or in the same transaction as the write and the
/// scope's usage record), so concurrent writers can never pass it together. A write fails with
/// [`StorageError::QuotaExceeded`], changing nothing, when it would leave the scope above the
/// quota *and* larger than before: shrinking or same-size writes always succeed, so a scope that
/// is over a lowered quota can still be cleaned up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Quota {
    max_bytes: u64,
    per_key_allowance: u64,
}

impl Quota {
    /// No limit.
    pub const UNLIMITED: Quota = Quota { max_bytes: u64::MAX, per_key_allowance: 0 };

    /// At most `max_bytes` bytes of keys plus values.
    pub const fn bytes(max_bytes: u64) -> Self {
        Self { max_bytes, per_key_allowance: 0 }
    }

    /// The limit in bytes.
    pub const fn max_bytes(self) -> u64 {
        self.max_bytes
    }

    /// The same quota, for a wrapper that stores every value with `bytes` extra bytes (such as
    /// [`EncryptedStorage`](crate::EncryptedStorage)): the inner backend does not count those
    /// bytes against the limit, so the quota still applies to what the caller wrote.
    pub const fn with_per_key_allowance(self, bytes: u64) -> Self {
        Self { max_bytes: self.max_bytes, per_key_allowance: bytes }
    }

    /// Bytes per stored key that do not count against the limit (see
    /// [`Quota::with_per_key_allowance`]).
    pub const fn per_key_allowance(self) -> u64 {
        self.per_key_allowance
    }

    /// This quota, no looser than `limit` in either part: the smaller byte limit and the smaller
    /// per-key allowance. For an applier that did not choose the quota itself — a write set
    /// carries the quota its worker staged it under, and the coordinator applying it caps that.
    pub const fn capped(self, limit: Quota) -> Self {
        let max_bytes = if self.max_bytes < limit.max_bytes { self.max_bytes } else { limit.max_bytes };
        let per_key_allowance =
            if self.per_key_allowance < limit.per_key_allowance { self.per_key_allowance } else { limit.per_key_allowance };
        Self { max_bytes, per_key_allowance }
    }

    /// The bytes of `usage` that count against the limit.
    fn counted(self, usage: Usage) -> u64 {
        usage.bytes.saturating_sub(usage.keys.saturating_mul(self.per_key_allowance))
    }

    /// Whether a write that takes a scope from `before` to `after` may go ahead.
    pub fn check(self, before: Usage, after: Usage) -> Result<(), StorageError> {
        let counted = self.counted(after);
        if counted <= self.max_bytes || counted <= self.counted(before) {
            Ok(())
        } else {
            Err(StorageError::QuotaExceeded { max_bytes: self.max_bytes })
        }
    }
}

impl Usage {
    /// The usage after the entry of size `old` (key + value bytes; `None` = absent) becomes one
    /// of size `new`.
    pub(crate) fn replace(self, old: Option<u64>, new: Option<u64>) -> Usage {
        let keys = (self.keys + u64::from(new.is_some())).saturating_sub(u64::from(old.is_some()));
        let bytes = (self.bytes + new.unwrap_or(0)).saturating_sub(old.unwrap_or(0));
        Usage { keys, bytes }
    }
}

/// Bytes an entry takes: its key plus its value.
pub(crate) fn entry_size(key: &str, value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(keys: u64, bytes: u64) -> Usage {
        Usage { keys, bytes }
    }

    #[test]
    fn growth_past_the_limit_is_refused_shrinking_is_not() {
        let q = Quota::bytes(10);
        assert!(q.check(u(0, 0), u(1, 10)).is_ok());
        assert!(matches!(q.check(u(1, 10), u(2, 11)), Err(StorageError::QuotaExceeded { max_bytes: 10 })));
        assert!(q.check(u(2, 20), u(2, 15)).is_ok(), "shrinking a scope over its quota");
        assert!(Quota::UNLIMITED.check(u(0, 0), u(1, u64::MAX)).is_ok());
    }

    #[test]
    fn allowance_discounts_per_key_overhead() {
        let q = Quota::bytes(10).with_per_key_allowance(29);
        assert!(q.check(u(0, 0), u(1, 39)).is_ok());
        assert!(q.check(u(0, 0), u(1, 40)).is_err());
    }

    #[test]
    fn replace_moves_keys_and_bytes() {
        assert_eq!(u(1, 5).replace(None, Some(3)), u(2, 8));
        assert_eq!(u(2, 8).replace(Some(3), Some(4)), u(2, 9));
        assert_eq!(u(2, 9).replace(Some(4), None), u(1, 5));
    }

    #[test]
    fn a_capped_quota_takes_the_stricter_of_each_part() {
        let claimed = Quota::UNLIMITED.with_per_key_allowance(1 << 40);
        let capped = claimed.capped(Quota::bytes(64).with_per_key_allowance(29));
        assert_eq!((capped.max_bytes(), capped.per_key_allowance()), (64, 29));
        let modest = Quota::bytes(10).with_per_key_allowance(5).capped(Quota::bytes(64).with_per_key_allowance(29));
        assert_eq!((modest.max_bytes(), modest.per_key_allowance()), (10, 5));
        // A huge claimed allowance no longer hides the bytes from the limit.
        assert!(capped.check(u(0, 0), u(1, 64 + 29)).is_ok());
        assert!(capped.check(u(0, 0), u(1, 64 + 30)).is_err());
    }
}
