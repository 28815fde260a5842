//! The integer format of `increment`: an i64 stored as 8 little-endian bytes.

use crate::StorageError;

/// Size in bytes of a stored counter.
pub(crate) const COUNTER_LEN: usize = 8;

/// The counter stored in `value`; a missing value counts as 0.
pub(crate) fn decode(value: Option<&[u8]>) -> Result<i64, StorageError> {
    match value {
        None => Ok(0),
        Some(bytes) => {
            let bytes: [u8; COUNTER_LEN] = bytes.try_into().map_err(|_| StorageError::NotAnInteger)?;
            Ok(i64::from_le_bytes(bytes))
        }
    }
}

/// The new counter after adding `delta` to `value`, as a number and as its stored bytes.
pub(crate) fn add(value: Option<&[u8]>, delta: i64) -> Result<(i64, Vec<u8>), StorageError> {
    let next = decode(value)?.checked_add(delta).ok_or(StorageError::Overflow)?;
    Ok((next, next.to_le_bytes().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_counts_as_zero() {
        assert_eq!(add(None, 5).unwrap().0, 5);
    }

    #[test]
    fn wrong_length_is_not_an_integer() {
        assert!(matches!(add(Some(&[1, 2, 3]), 1), Err(StorageError::NotAnInteger)));
        assert!(matches!(add(Some(&[0; 9]), 1), Err(StorageError::NotAnInteger)));
    }

    #[test]
    fn overflow_is_reported() {
        let max = i64::MAX.to_le_bytes();
        assert!(matches!(add(Some(&max), 1), Err(StorageError::Overflow)));
        let min = i64::MIN.to_le_bytes();
        assert!(matches!(add(Some(&min), -1), Err(StorageError::Overflow)));
    }

    #[test]
    fn bytes_are_little_endian() {
        assert_eq!(add(Some(&1i64.to_le_bytes()), 255).unwrap(), (256, vec![0, 1, 0, 0, 0, 0, 0, 0]));
    }
}
