//! What an execution may be granted. `context` is always available and is not a capability.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A capability that can be granted to an execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    /// Persistent key-value storage of the project.
    Storage,
    /// The project's secrets.
    Secrets,
    /// NEAR RPC (views, signed calls).
    Rpc,
    /// The attached deposit and refunds.
    Payment,
    /// Verifiable randomness.
    Vrf,
    /// Outbound HTTP (`wasi:http`) to the hosts of the project's allowlist.
    Http,
}

impl Capability {
    /// Every grantable capability.
    pub const ALL: [Capability; 6] = [Self::Storage, Self::Secrets, Self::Rpc, Self::Payment, Self::Vrf, Self::Http];

    /// The lowercase name used on the command line and in APIs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Storage => "storage",
            Self::Secrets => "secrets",
            Self::Rpc => "rpc",
            Self::Payment => "payment",
            Self::Vrf => "vrf",
            Self::Http => "http",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown capability name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown capability {0:?} (expected one of storage, secrets, rpc, payment, vrf, http)")]
pub struct UnknownCapability(pub String);

impl FromStr for Capability {
    type Err = UnknownCapability;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|c| c.name() == s).ok_or_else(|| UnknownCapability(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for c in Capability::ALL {
            assert_eq!(c.name().parse::<Capability>(), Ok(c));
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{}\"", c.name()));
        }
        assert_eq!("random".parse::<Capability>(), Err(UnknownCapability("random".into())));
        assert!(serde_json::from_str::<Capability>("\"Storage\"").is_err());
    }
}
