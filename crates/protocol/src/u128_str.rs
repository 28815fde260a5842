//! `u128` as a decimal string on the wire (yoctoNEAR amounts pass 2⁵³ and u64; NEAR's own JSON
//! writes them as strings). A plain JSON number is accepted too.

use serde::{Deserialize, Deserializer, Serializer};

pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Amount<'a> {
        Number(u64),
        Text(std::borrow::Cow<'a, str>),
    }
    match Amount::deserialize(d)? {
        Amount::Number(n) => Ok(u128::from(n)),
        Amount::Text(t) => t.parse().map_err(|_| serde::de::Error::custom(format!("{t:?} is not a decimal amount"))),
    }
}
