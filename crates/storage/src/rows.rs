//! Conversions from SQL rows shared by the SQL backends.

use crate::{StorageError, Usage};

/// Keys read back from a BLOB/BYTEA column. Keys are only ever written from `&str`, so invalid
/// UTF-8 means the table was edited by hand.
pub(crate) fn keys_from_bytes(keys: Vec<Vec<u8>>) -> Result<Vec<String>, StorageError> {
    keys.into_iter()
        .map(|key| String::from_utf8(key).map_err(|_| StorageError::Backend("a stored key is not valid UTF-8".into())))
        .collect()
}

/// A [`Usage`] from SQL `COUNT`/`SUM` results, which are never negative.
pub(crate) fn usage_from_counts(keys: i64, bytes: i64) -> Usage {
    Usage { keys: keys.max(0) as u64, bytes: bytes.max(0) as u64 }
}
