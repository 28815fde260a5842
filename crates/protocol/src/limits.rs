//! The resource limits of a job, as callers and workers see them, with defaults and caps.
//!
//! The host turns these into its full set of per-execution limits in one place
//! (`outlayer_host::Limits::from`); every other limit of an execution (stdout, tables, host calls)
//! is a host default.

use serde::{Deserialize, Serialize};

/// Instruction budget when the caller gives none (OutLayer v0.1: 10⁹).
pub const DEFAULT_MAX_INSTRUCTIONS: u64 = 1_000_000_000;
/// Highest instruction budget a caller may ask for. Defends workers' CPU.
pub const MAX_INSTRUCTIONS_CAP: u64 = 500_000_000_000;
/// Memory cap (MiB) when the caller gives none.
pub const DEFAULT_MAX_MEMORY_MB: u64 = 128;
/// Highest memory cap (MiB) a caller may ask for. Defends workers' RAM (and sizes the pooling
/// allocator's slots).
pub const MAX_MEMORY_MB_CAP: u64 = 1024;
/// Wall-time cap (s) when the caller gives none.
pub const DEFAULT_MAX_EXECUTION_SECONDS: u64 = 60;
/// Highest wall-time cap (s) a caller may ask for. Bounds how long money stays reserved.
pub const MAX_EXECUTION_SECONDS_CAP: u64 = 180;

/// Effective limits of a job: every field set and within its cap.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Limits {
    /// Instruction budget (fuel).
    pub max_instructions: u64,
    /// Linear-memory cap in MiB.
    pub max_memory_mb: u64,
    /// Wall-time cap in seconds.
    pub max_execution_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_instructions: DEFAULT_MAX_INSTRUCTIONS,
            max_memory_mb: DEFAULT_MAX_MEMORY_MB,
            max_execution_seconds: DEFAULT_MAX_EXECUTION_SECONDS,
        }
    }
}

/// A limit outside its allowed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} = {value} is outside 1..={cap}")]
pub struct LimitError {
    /// Field name.
    pub name: &'static str,
    /// Value given.
    pub value: u64,
    /// Highest allowed.
    pub cap: u64,
}

impl Limits {
    /// Checks every field is positive and within its cap.
    pub fn validate(&self) -> Result<(), LimitError> {
        LimitsRequest {
            max_instructions: Some(self.max_instructions),
            max_memory_mb: Some(self.max_memory_mb),
            max_execution_seconds: Some(self.max_execution_seconds),
        }
        .resolve()
        .map(|_| ())
    }
}

/// Limits a caller may ask for; each absent field takes its default.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitsRequest {
    /// Instruction budget.
    pub max_instructions: Option<u64>,
    /// Memory cap in MiB.
    pub max_memory_mb: Option<u64>,
    /// Wall-time cap in seconds.
    pub max_execution_seconds: Option<u64>,
}

impl LimitsRequest {
    /// The effective limits: defaults for absent fields, an error for a zero or over-cap value.
    pub fn resolve(&self) -> Result<Limits, LimitError> {
        let pick = |v: Option<u64>, default: u64, cap: u64, name: &'static str| match v {
            None => Ok(default),
            Some(v) if (1..=cap).contains(&v) => Ok(v),
            Some(value) => Err(LimitError { name, value, cap }),
        };
        Ok(Limits {
            max_instructions: pick(self.max_instructions, DEFAULT_MAX_INSTRUCTIONS, MAX_INSTRUCTIONS_CAP, "max_instructions")?,
            max_memory_mb: pick(self.max_memory_mb, DEFAULT_MAX_MEMORY_MB, MAX_MEMORY_MB_CAP, "max_memory_mb")?,
            max_execution_seconds: pick(
                self.max_execution_seconds,
                DEFAULT_MAX_EXECUTION_SECONDS,
                MAX_EXECUTION_SECONDS_CAP,
                "max_execution_seconds",
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_fields_default_and_out_of_range_values_are_named() {
        assert_eq!(LimitsRequest::default().resolve(), Ok(Limits::default()));
        let r = LimitsRequest { max_memory_mb: Some(2048), ..Default::default() };
        assert_eq!(r.resolve(), Err(LimitError { name: "max_memory_mb", value: 2048, cap: MAX_MEMORY_MB_CAP }));
        let zero = Limits { max_execution_seconds: 0, ..Limits::default() };
        assert_eq!(zero.validate().unwrap_err().name, "max_execution_seconds");
        assert!(serde_json::from_str::<LimitsRequest>(r#"{"max_cpu": 1}"#).is_err());
    }
}
