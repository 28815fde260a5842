//! The five TDX measurement registers and the allowlist file operators publish.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Length in bytes of each TDX measurement register (SHA-384).
pub const MEASUREMENT_BYTES: usize = 48;

/// One 48-byte measurement register; serialized as 96 hex characters (upper case accepted,
/// lower case written).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Register(pub [u8; MEASUREMENT_BYTES]);

/// A register string that is not 48 bytes of hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("measurement {register} must be 48 bytes of hex")]
pub struct BadRegister {
    /// The register's name (`mrtd`, `rtmr0`...), or `register` when parsed alone.
    pub register: &'static str,
}

impl Register {
    /// Parses 96 hex characters (either case).
    pub fn from_hex(s: &str) -> Result<Self, BadRegister> {
        let mut out = [0u8; MEASUREMENT_BYTES];
        hex::decode_to_slice(s, &mut out).map_err(|_| BadRegister { register: "register" })?;
        Ok(Self(out))
    }

    /// Lowercase hex, 96 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl FromStr for Register {
    type Err = BadRegister;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

impl fmt::Display for Register {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Register {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Register({})", self.to_hex())
    }
}

impl Serialize for Register {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Register {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// MRTD and RTMR0–3 of one TD image. A quote matches a set only when all five are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measurements {
    /// MRTD: the initial TD contents (firmware).
    pub mrtd: Register,
    /// RTMR0: firmware configuration.
    pub rtmr0: Register,
    /// RTMR1: OS loader / kernel.
    pub rtmr1: Register,
    /// RTMR2: kernel command line / initrd.
    pub rtmr2: Register,
    /// RTMR3: application (the OutLayer worker or keystore image).
    pub rtmr3: Register,
}

impl Measurements {
    /// Parses the five registers from hex strings, naming the first one that is not 48 bytes
    /// of hex.
    pub fn from_hex(mrtd: &str, rtmr0: &str, rtmr1: &str, rtmr2: &str, rtmr3: &str) -> Result<Self, BadRegister> {
        let parse = |register: &'static str, value: &str| Register::from_hex(value).map_err(|_| BadRegister { register });
        Ok(Self {
            mrtd: parse("mrtd", mrtd)?,
            rtmr0: parse("rtmr0", rtmr0)?,
            rtmr1: parse("rtmr1", rtmr1)?,
            rtmr2: parse("rtmr2", rtmr2)?,
            rtmr3: parse("rtmr3", rtmr3)?,
        })
    }

    /// Builds the set from raw registers (as dcap-qvl's TD report holds them).
    pub fn from_registers(mrtd: &[u8; 48], rtmrs: [&[u8; 48]; 4]) -> Self {
        Self {
            mrtd: Register(*mrtd),
            rtmr0: Register(*rtmrs[0]),
            rtmr1: Register(*rtmrs[1]),
            rtmr2: Register(*rtmrs[2]),
            rtmr3: Register(*rtmrs[3]),
        }
    }
}

impl fmt::Display for Measurements {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mrtd={} rtmr0={} rtmr1={} rtmr2={} rtmr3={}", self.mrtd, self.rtmr0, self.rtmr1, self.rtmr2, self.rtmr3)
    }
}

/// The allowed measurement sets, in the JSON file format operators publish:
///
/// ```json
/// [{"mrtd": "<96 hex>", "rtmr0": "<96 hex>", "rtmr1": "…", "rtmr2": "…", "rtmr3": "…"}]
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Allowlist(pub Vec<Measurements>);

impl Allowlist {
    /// Parses the allowlist file format.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// Writes the allowlist file format (pretty-printed, one set per object).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("measurements always serialize")
    }

    /// Whether `measured` equals one of the allowed sets.
    pub fn contains(&self, measured: &Measurements) -> bool {
        self.0.contains(measured)
    }
}

impl From<Vec<Measurements>> for Allowlist {
    fn from(sets: Vec<Measurements>) -> Self {
        Self(sets)
    }
}
