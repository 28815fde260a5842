//! The byte range of keys a `list_keys` page may return, for the SQL backends.
//!
//! Keys are stored as the bytes of their UTF-8 text, so a page is one half-open byte range
//! `lower <= key < upper` that an index on `(namespace, owner, key)` answers directly.

/// A byte that never occurs in UTF-8 text: every stored key sorts below a string starting with it.
const NOT_UTF8: u8 = 0xFF;

/// `lower <= key < upper`, both as raw bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct KeyRange {
    /// Smallest key of the page (inclusive).
    pub lower: Vec<u8>,
    /// First key past every key starting with the prefix (exclusive).
    pub upper: Vec<u8>,
}

impl KeyRange {
    /// Keys starting with `prefix` and strictly greater than `after`.
    pub(crate) fn new(prefix: &str, after: Option<&str>) -> Self {
        let prefix = prefix.as_bytes();
        let lower = match after {
            // The smallest byte string greater than `after` is `after` followed by a NUL byte.
            Some(after) if after.as_bytes() >= prefix => {
                let mut lower = after.as_bytes().to_vec();
                lower.push(0);
                lower
            }
            _ => prefix.to_vec(),
        };
        // UTF-8 never contains 0xFF, so the last byte can always be incremented, and a lone 0xFF
        // is above every key when the prefix is empty.
        let upper = match prefix.split_last() {
            Some((last, head)) => {
                let mut upper = head.to_vec();
                upper.push(last + 1);
                upper
            }
            None => vec![NOT_UTF8],
        };
        Self { lower, upper }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contains(range: &KeyRange, key: &str) -> bool {
        range.lower.as_slice() <= key.as_bytes() && key.as_bytes() < range.upper.as_slice()
    }

    #[test]
    fn prefix_bounds_keys_that_start_with_it() {
        let range = KeyRange::new("ab", None);
        for key in ["ab", "ab\0", "abc", "ab\u{10FFFF}"] {
            assert!(contains(&range, key), "{key:?} should be in range");
        }
        for key in ["a", "aa\u{10FFFF}", "ac", "b", ""] {
            assert!(!contains(&range, key), "{key:?} should be out of range");
        }
    }

    #[test]
    fn empty_prefix_covers_everything() {
        let range = KeyRange::new("", None);
        for key in ["", "\0", "z", "\u{10FFFF}\u{10FFFF}"] {
            assert!(contains(&range, key), "{key:?} should be in range");
        }
    }

    #[test]
    fn after_is_exclusive() {
        let range = KeyRange::new("k", Some("k2"));
        assert!(!contains(&range, "k2"));
        assert!(contains(&range, "k2\0"));
        assert!(contains(&range, "k3"));
        assert!(!contains(&range, "k1"));
    }

    #[test]
    fn after_below_prefix_is_ignored() {
        assert_eq!(KeyRange::new("m", Some("a")), KeyRange::new("m", None));
    }
}
