//! serde helpers: byte arrays and vectors as lowercase hex strings.

use serde::{Deserialize, Deserializer, Serializer};

/// `#[serde(with = "hex_serde::array")]` for `[u8; N]`.
pub(crate) mod array {
    use super::*;

    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<[u8; N], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; N];
        hex::decode_to_slice(s.trim(), &mut out).map_err(|_| serde::de::Error::custom(format!("expected {N} bytes of hex")))?;
        Ok(out)
    }
}

/// `#[serde(with = "hex_serde::vec")]` for `Vec<u8>`.
pub(crate) mod vec {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s.trim()).map_err(serde::de::Error::custom)
    }
}
