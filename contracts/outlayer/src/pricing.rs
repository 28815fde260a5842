//! Prices and the cost formula.
//!
//! `cost = base_fee + instructions × per_million_instructions / 1_000_000 + time_ms × per_ms`.
//! The estimate charged up front uses the request's maximum instructions and wall time.

use near_sdk::json_types::U128;
use near_sdk::near;

use crate::types::ResolvedLimits;

/// Contract prices in yoctoNEAR.
#[near(serializers = [borsh, json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pricing {
    /// Charged for every request, including failed and timed-out ones.
    pub base_fee: U128,
    /// Price of one million WebAssembly instructions.
    pub per_million_instructions: U128,
    /// Price of one millisecond of wall time.
    pub per_ms: U128,
}

impl Default for Pricing {
    fn default() -> Self {
        Self {
            base_fee: U128(1_000_000_000_000_000_000_000),           // 0.001 NEAR
            per_million_instructions: U128(100_000_000_000_000_000), // 1e-7 NEAR
            per_ms: U128(100_000_000_000_000_000),                   // 1e-7 NEAR
        }
    }
}

/// Most compile milliseconds charged for a `GitHub` source (5 minutes): a build that runs longer
/// costs the payer no more.
pub const COMPILE_MS_CAP: u64 = 300_000;

impl Pricing {
    /// What compiling a `GitHub` source for `compile_ms` costs: `min(compile_ms,
    /// COMPILE_MS_CAP) × per_ms` (the wall-time price; 0.03 NEAR at most at the default price).
    /// Reserved in full with the estimate of such a request.
    pub fn compile_cost(&self, compile_ms: u64) -> u128 {
        (compile_ms.min(COMPILE_MS_CAP) as u128).saturating_mul(self.per_ms.0)
    }

    /// Cost of `instructions` and `time_ms` at these prices, base fee included.
    pub fn cost(&self, instructions: u64, time_ms: u64) -> u128 {
        let compute = (instructions as u128).saturating_mul(self.per_million_instructions.0) / 1_000_000;
        let time = (time_ms as u128).saturating_mul(self.per_ms.0);
        self.base_fee.0.saturating_add(compute).saturating_add(time)
    }

    /// The most a request with these limits can cost: what is reserved from its deposit.
    pub fn estimate(&self, limits: &ResolvedLimits) -> u128 {
        self.cost(limits.max_instructions, limits.max_execution_seconds.saturating_mul(1000))
    }
}
