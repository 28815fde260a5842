//! The status of a call.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a call is: waiting for a worker, running, or settled (completed or failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallStatus {
    /// Reserved and waiting for a worker.
    Queued,
    /// A worker holds a lease on it.
    Leased,
    /// Settled with a result.
    Completed,
    /// Settled with an error.
    Failed,
}

impl CallStatus {
    /// The lowercase name (also the database value).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Leased => "leased",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    /// `true` once settled (completed or failed): nothing about the call changes after that.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is none of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown call status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for CallStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Queued, Self::Leased, Self::Completed, Self::Failed]
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in [CallStatus::Queued, CallStatus::Leased, CallStatus::Completed, CallStatus::Failed] {
            assert_eq!(s.as_str().parse::<CallStatus>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!("done".parse::<CallStatus>().is_err());
        assert!(!CallStatus::Leased.is_final());
    }
}
