//! `list_keys`: prefixes, byte order and pagination.

use crate::common::Fixture;
use outlayer_storage::Quota;

/// Keys chosen so that byte order differs from any locale collation: upper case before lower
/// case, accented letters after `z`, a NUL and the largest code point.
const KEYS: [&str; 14] = ["b/2", "a", "B", "b", "b/10", "b/1", "ba", "é", "z", "b\0x", "\u{10FFFF}", "e", "b/", "a b"];

fn byte_sorted(keys: &[&str]) -> Vec<String> {
    let mut keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    keys.sort(); // `str` orders by its UTF-8 bytes
    keys
}

/// All keys, and keys under a prefix, come back in ascending byte order.
pub async fn list_keys_prefix_in_byte_order(f: &Fixture) {
    let s = &f.store;
    let scope = f.scope("app", "alice.near");
    for key in KEYS {
        s.set(&scope, key, b"v", false, Quota::UNLIMITED).await.unwrap();
    }

    let all = s.list_keys(&scope, "", None, 100).await.unwrap();
    assert_eq!(all, byte_sorted(&KEYS));
    assert_eq!(all.first().map(String::as_str), Some("B"));
    assert_eq!(&all[all.len() - 2..], ["é", "\u{10FFFF}"]);

    assert_eq!(s.list_keys(&scope, "b/", None, 100).await.unwrap(), ["b/", "b/1", "b/10", "b/2"]);
    assert_eq!(s.list_keys(&scope, "b", None, 100).await.unwrap(), ["b", "b\0x", "b/", "b/1", "b/10", "b/2", "ba"]);
    assert_eq!(s.list_keys(&scope, "é", None, 100).await.unwrap(), ["é"]);
    assert!(s.list_keys(&scope, "nothing", None, 100).await.unwrap().is_empty());
    // `%` and `_` are not wildcards.
    assert!(s.list_keys(&scope, "%", None, 100).await.unwrap().is_empty());
    assert!(s.list_keys(&scope, "_", None, 100).await.unwrap().is_empty());
}

/// Pages of `limit` keys chained with `after` give every key exactly once.
pub async fn list_keys_paginates_with_after(f: &Fixture) {
    let s = &f.store;
    let scope = f.scope("app", "alice.near");
    for key in KEYS {
        s.set(&scope, key, b"v", false, Quota::UNLIMITED).await.unwrap();
    }

    for limit in [1, 3, 5] {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = s.list_keys(&scope, "", after.as_deref(), limit).await.unwrap();
            assert!(page.len() <= limit as usize);
            seen.extend(page.iter().cloned());
            if page.len() < limit as usize {
                break;
            }
            after = page.last().cloned();
        }
        assert_eq!(seen, byte_sorted(&KEYS), "limit {limit}");
    }

    assert_eq!(s.list_keys(&scope, "b/", Some("b/1"), 2).await.unwrap(), ["b/10", "b/2"]);
    // `after` need not be a stored key, and may sort before or past the prefix.
    assert_eq!(s.list_keys(&scope, "b/", Some("b/15"), 10).await.unwrap(), ["b/2"]);
    assert_eq!(s.list_keys(&scope, "b/", Some("a"), 10).await.unwrap(), ["b/", "b/1", "b/10", "b/2"]);
    assert!(s.list_keys(&scope, "b/", Some("c"), 10).await.unwrap().is_empty());
    assert!(s.list_keys(&scope, "", None, 0).await.unwrap().is_empty(), "limit 0 returns nothing");
}
