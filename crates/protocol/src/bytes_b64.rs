//! `Vec<u8>` as standard, padded base64 on the wire (serde `with`). In process the bytes stay
//! bytes; they are encoded only when a message is serialized for HTTP.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serializer};

pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&STANDARD.encode(bytes))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    STANDARD.decode(text.as_bytes()).map_err(|e| serde::de::Error::custom(format!("not base64: {e}")))
}

/// The same for `Option<Vec<u8>>` (`None` is JSON `null`, or an absent field with
/// `#[serde(default)]`).
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => super::serialize(b, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        match <Option<std::borrow::Cow<'de, str>>>::deserialize(d)? {
            Some(text) => STANDARD.decode(text.as_bytes()).map(Some).map_err(|e| serde::de::Error::custom(format!("not base64: {e}"))),
            None => Ok(None),
        }
    }
}
