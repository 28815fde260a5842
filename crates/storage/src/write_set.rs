//! Write sets: the storage writes of one execution, applied all at once or not at all.
//!
//! A worker runs a guest over a [`StagedStorage`](crate::StagedStorage): reads go to the store
//! (the guest reads its own writes), writes stay in the stage. When the execution's result is
//! accepted, its [`WriteSet`] is applied with [`StorageBackend::commit`](crate::StorageBackend::commit)
//! in one transaction, together with a *commit record* under the execution's id (the call id).
//! So a guest's writes take effect exactly when its result does:
//! - an execution whose result is lost (worker killed, lease expired) never commits: its writes
//!   vanish with it;
//! - a second commit under the same id changes nothing and returns the first one's record
//!   ([`Committed::Already`]): whoever settles the call settles that recorded result, so a
//!   re-run of a call whose first result is known has no effect;
//! - a write that depends on what the guest read (`compare_and_swap`, `increment`,
//!   `set_if_absent`, or any write to a key the guest read first) carries that value as its
//!   [`Write::expect`]; if another commit changed the key since, nothing is applied and the commit
//!   answers [`Committed::Conflict`] — the caller runs the execution again on the new state
//!   (optimistic concurrency: no lost update, no double increment). Writes to keys the guest
//!   never read are blind: the last commit wins. Reads of keys the guest does not write are not
//!   re-validated (snapshot reads, as in snapshot isolation).
//!
//! Values are whatever the stage saw: under [`EncryptedStorage`](crate::EncryptedStorage) they are
//! ciphertexts, so whoever applies a write set (the coordinator) learns nothing of the plaintext,
//! and comparing ciphertexts is an exact version check (each write seals with a fresh nonce).

use serde::{Deserialize, Serialize};

use crate::{Entry, Quota, Scope};

/// One key's change in a [`WriteSet`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Write {
    /// Where the key lives.
    pub scope: Scope,
    /// The key.
    pub key: String,
    /// What the key must still hold for the write to apply: `None` = a blind write (no check),
    /// `Some(None)` = the key must be absent, `Some(Some(v))` = it must hold exactly `v`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "expect_b64")]
    pub expect: Option<Option<Vec<u8>>>,
    /// The entry after the write; `None` deletes the key.
    #[serde(default, with = "entry_b64")]
    pub value: Option<Entry>,
    /// The scope's quota at the time of the write, checked again when applied.
    #[serde(default = "unlimited")]
    pub quota: Quota,
}

fn unlimited() -> Quota {
    Quota::UNLIMITED
}

/// The writes of one execution, at most one per key, in (scope, key) order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteSet {
    /// The writes.
    pub writes: Vec<Write>,
}

impl WriteSet {
    /// No writes.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Number of writes.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// Bytes of keys and values the set carries (what it costs to ship and apply).
    pub fn size(&self) -> usize {
        self.writes
            .iter()
            .map(|w| {
                w.key.len()
                    + w.value.as_ref().map_or(0, |e| e.value.len())
                    + w.expect.as_ref().and_then(|e| e.as_ref()).map_or(0, Vec::len)
                    + w.scope.namespace.len()
                    + w.scope.owner.len()
            })
            .sum()
    }

    /// Checks the set's shape: at most one write per (scope, key), sorted, keys and scopes
    /// non-empty. Appliers refuse a malformed set before touching the store.
    pub fn validate(&self) -> Result<(), crate::StorageError> {
        for pair in self.writes.windows(2) {
            if (&pair[0].scope, &pair[0].key) >= (&pair[1].scope, &pair[1].key) {
                return Err(crate::StorageError::Backend("write set is not sorted by (scope, key) or repeats a key".into()));
            }
        }
        if self.writes.iter().any(|w| w.scope.namespace.is_empty() || w.scope.owner.is_empty()) {
            return Err(crate::StorageError::Backend("write set names an empty scope".into()));
        }
        Ok(())
    }
}

/// What [`StorageBackend::commit`](crate::StorageBackend::commit) did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Committed {
    /// Every write applied and the record stored, in one transaction.
    Applied,
    /// A commit with this id was applied before; nothing changed. Carries that commit's record.
    Already(Vec<u8>),
    /// A write's expectation failed (another commit changed the key since the guest read it) or
    /// the writes would take a scope past its quota now; nothing changed.
    Conflict {
        /// The scope of the first failing write.
        scope: Scope,
        /// Its key.
        key: String,
        /// Why: `changed` or `quota_exceeded`.
        reason: &'static str,
    },
}

/// Whether the stored `current` value satisfies `write`'s expectation.
pub(crate) fn expectation_holds(write: &Write, current: Option<&[u8]>) -> bool {
    match &write.expect {
        None => true,
        Some(expected) => expected.as_deref() == current,
    }
}

/// The conflict of `write` for `reason`.
pub(crate) fn conflict(write: &Write, reason: &'static str) -> Committed {
    Committed::Conflict { scope: write.scope.clone(), key: write.key.clone(), reason }
}

mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    pub fn encode(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    pub fn decode<E: serde::de::Error>(text: &str) -> Result<Vec<u8>, E> {
        STANDARD.decode(text).map_err(E::custom)
    }
}

/// `expect` on the wire: absent = blind, `null` = must be absent, a base64 string = the value.
mod expect_b64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Option<Vec<u8>>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            None | Some(None) => s.serialize_none(),
            Some(Some(bytes)) => s.serialize_str(&super::b64::encode(bytes)),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Vec<u8>>>, D::Error> {
        // Only called when the field is present (absent = `default` = blind).
        let text: Option<String> = Option::deserialize(d)?;
        Ok(Some(text.map(|t| super::b64::decode(&t)).transpose()?))
    }
}

/// `value` on the wire: `null` = delete, `{"value": base64, "public": bool}` = the entry.
mod entry_b64 {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::Entry;

    #[derive(Serialize, Deserialize)]
    struct Wire {
        value: String,
        #[serde(default)]
        public: bool,
    }

    pub fn serialize<S: Serializer>(v: &Option<Entry>, s: S) -> Result<S::Ok, S::Error> {
        v.as_ref().map(|e| Wire { value: super::b64::encode(&e.value), public: e.public }).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Entry>, D::Error> {
        let wire: Option<Wire> = Option::deserialize(d)?;
        wire.map(|w| Ok(Entry { value: super::b64::decode(&w.value)?, public: w.public })).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(key: &str, expect: Option<Option<&[u8]>>, value: Option<&[u8]>) -> Write {
        Write {
            scope: Scope::project("alice/app", "bob.near"),
            key: key.into(),
            expect: expect.map(|e| e.map(<[u8]>::to_vec)),
            value: value.map(|v| Entry { value: v.to_vec(), public: false }),
            quota: Quota::bytes(100),
        }
    }

    #[test]
    fn the_three_expectations_survive_json() {
        let set = WriteSet {
            writes: vec![write("a", None, Some(b"1")), write("b", Some(None), Some(b"\0\xff")), write("c", Some(Some(b"old")), None)],
        };
        let json = serde_json::to_string(&set).unwrap();
        let back: WriteSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back, set);
        // Blind writes carry no `expect` at all; "must be absent" is an explicit null.
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(value["writes"][0].get("expect").is_none());
        assert!(value["writes"][1]["expect"].is_null());
        assert_eq!(value["writes"][2]["expect"], "b2xk");
        assert!(value["writes"][2]["value"].is_null());
        assert_eq!(back.writes[1].quota.max_bytes(), 100);
    }

    #[test]
    fn unsorted_or_repeated_keys_are_refused() {
        let ok = WriteSet { writes: vec![write("a", None, None), write("b", None, None)] };
        assert!(ok.validate().is_ok());
        let repeated = WriteSet { writes: vec![write("a", None, None), write("a", None, None)] };
        assert!(repeated.validate().is_err());
        let unsorted = WriteSet { writes: vec![write("b", None, None), write("a", None, None)] };
        assert!(unsorted.validate().is_err());
    }

    #[test]
    fn expectations_compare_exact_bytes() {
        assert!(expectation_holds(&write("k", None, None), Some(b"x")));
        assert!(expectation_holds(&write("k", Some(None), None), None));
        assert!(!expectation_holds(&write("k", Some(None), None), Some(b"x")));
        assert!(expectation_holds(&write("k", Some(Some(b"x")), None), Some(b"x")));
        assert!(!expectation_holds(&write("k", Some(Some(b"x")), None), Some(b"y")));
        assert!(!expectation_holds(&write("k", Some(Some(b"x")), None), None));
    }
}
