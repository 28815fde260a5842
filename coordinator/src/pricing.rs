//! Cost arithmetic. All amounts micro-USD; every result is rounded up and saturates.

use crate::config::PricingConfig;
use crate::model::{Limits, Outcome};
use outlayer_protocol::Receipt;

fn ceil_div(a: u128, b: u128) -> u128 {
    a.div_ceil(b)
}

fn clamp_u64(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// Compute cost of a run: base fee + instructions × price + wall ms × price.
pub fn compute_cost(p: &PricingConfig, instructions: u64, wall_ms: u64) -> u64 {
    let instr = ceil_div(instructions as u128 * p.per_million_instructions as u128, 1_000_000);
    let time = ceil_div(wall_ms as u128 * p.per_second as u128, 1_000);
    clamp_u64(p.base_fee as u128 + instr + time)
}

/// Most a run within `limits` can cost (what a timeout is charged).
pub fn max_compute_cost(p: &PricingConfig, limits: &Limits) -> u64 {
    compute_cost(p, limits.max_instructions, limits.max_execution_seconds.saturating_mul(1_000))
}

/// How a settled call moves money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    /// Compute cost.
    pub cost: u64,
    /// Deposit returned.
    pub refund: u64,
    /// Taken from the key: cost + deposit − refund (never above the reservation).
    pub charged: u64,
    /// Credited to the project owner: share of (cost − base fee) + kept deposit.
    pub earnings: u64,
}

/// What a worker signed about a run, as far as money is concerned ([`Run::from_receipt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// Whether it ran into its wall-time limit (charged the whole compute budget).
    pub timed_out: bool,
    /// `true` if the call completes (ok outcome and valid output).
    pub succeeded: bool,
    /// Instructions executed.
    pub instructions: u64,
    /// Wall time in ms.
    pub wall_ms: u64,
    /// Deposit the guest refunded.
    pub refund: u64,
}

impl Run {
    /// The money-relevant fields of a verified receipt — the only source of charges: outcome,
    /// instructions, wall time, refund. `succeeded` is whether the call completes (the output was
    /// valid JSON within the limit).
    pub fn from_receipt(receipt: &Receipt, succeeded: bool) -> Self {
        Self {
            timed_out: receipt.outcome == Outcome::Timeout.kind(),
            succeeded,
            instructions: receipt.instructions,
            wall_ms: receipt.wall_ms,
            refund: u64::try_from(receipt.refund).unwrap_or(u64::MAX),
        }
    }
}

/// Settles a run. `max_compute` is the compute part of the reservation; a timeout is charged all of
/// it. A successful guest keeps `deposit − refund`; a failed one returns the whole deposit.
pub fn settle(p: &PricingConfig, max_compute: u64, deposit: u64, run: Run) -> Settlement {
    let cost = if run.timed_out { max_compute } else { compute_cost(p, run.instructions, run.wall_ms).min(max_compute) };
    let refund = if run.succeeded { run.refund.min(deposit) } else { deposit };
    let kept = deposit - refund;
    let share = (cost.saturating_sub(p.base_fee) as u128 * p.developer_share_bps.min(10_000) as u128 / 10_000) as u64;
    Settlement { cost, refund, charged: cost + kept, earnings: share + kept }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: PricingConfig = PricingConfig { base_fee: 1_000, per_million_instructions: 2, per_second: 100, developer_share_bps: 5_000 };

    #[test]
    fn cost_rounds_up_each_part() {
        // 1.5M instructions at 2/M = 3; 1 ms at 100/s = 0.1 → 1.
        assert_eq!(compute_cost(&P, 1_500_000, 1), 1_000 + 3 + 1);
        assert_eq!(compute_cost(&P, 0, 0), 1_000);
    }

    #[test]
    fn timeout_charges_the_budget_and_returns_the_deposit() {
        let limits = Limits { max_instructions: 1_000_000_000, max_memory_mb: 128, max_execution_seconds: 60 };
        let max = max_compute_cost(&P, &limits);
        assert_eq!(max, 1_000 + 2_000 + 6_000);
        let s = settle(&P, max, 500, Run { timed_out: true, succeeded: false, instructions: 10, wall_ms: 10, refund: 0 });
        assert_eq!(s, Settlement { cost: max, refund: 500, charged: max, earnings: (max - 1_000) / 2 });
    }

    #[test]
    fn refund_is_capped_by_the_deposit_and_kept_deposit_is_earned() {
        let s = settle(&P, 9_000, 500, Run { timed_out: false, succeeded: true, instructions: 0, wall_ms: 0, refund: 200 });
        assert_eq!(s, Settlement { cost: 1_000, refund: 200, charged: 1_300, earnings: 300 });
        let s = settle(&P, 9_000, 500, Run { timed_out: false, succeeded: true, instructions: 0, wall_ms: 0, refund: 10_000 });
        assert_eq!(s.refund, 500);
        assert_eq!(s.charged, 1_000);
    }

    #[test]
    fn a_forged_wall_time_or_refund_never_charges_more_than_the_reservation() {
        // The reservation of a call is max compute + deposit; whatever a receipt says, the charge
        // stays within it (the database clamps it to the reservation once more).
        let limits = Limits { max_instructions: 10_000_000, max_memory_mb: 128, max_execution_seconds: 1 };
        let max = max_compute_cost(&P, &limits);
        let deposit = 500;
        for (wall_ms, refund, timed_out) in [(13_000, 0, false), (u64::MAX, u64::MAX, false), (0, 0, true), (u64::MAX, 0, true)] {
            let run = Run { timed_out, succeeded: true, instructions: u64::MAX, wall_ms, refund };
            let s = settle(&P, max, deposit, run);
            assert!(s.charged <= max + deposit, "{s:?}");
            assert!(s.cost <= max && s.refund <= deposit, "{s:?}");
        }
    }

    #[test]
    fn charges_come_from_the_receipt() {
        let receipt = Receipt {
            call_id: "c".into(),
            project: "a/b".into(),
            wasm_sha256: String::new(),
            input_sha256: String::new(),
            output_sha256: String::new(),
            outcome: "timeout".into(),
            instructions: 3_000_000,
            wall_ms: 40,
            peak_memory_bytes: 0,
            refund: 7,
            max_instructions: 1,
            max_memory_mb: 1,
            max_execution_seconds: 1,
            worker_id: "w".into(),
            attestation_sha256: String::new(),
        };
        let run = Run::from_receipt(&receipt, false);
        assert_eq!(run, Run { timed_out: true, succeeded: false, instructions: 3_000_000, wall_ms: 40, refund: 7 });
        let ok = Receipt { outcome: "ok".into(), refund: u128::MAX, ..receipt };
        assert_eq!(Run::from_receipt(&ok, true).refund, u64::MAX);
        assert!(!Run::from_receipt(&ok, true).timed_out);
    }

    #[test]
    fn cost_never_exceeds_the_reserved_compute() {
        let s = settle(&P, 1_500, 0, Run { timed_out: false, succeeded: true, instructions: u64::MAX, wall_ms: u64::MAX, refund: 0 });
        assert_eq!(s.cost, 1_500);
    }
}
