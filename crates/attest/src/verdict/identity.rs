//! Layer 2, identity: are the measurements (MRTD, RTMR0–3) ones the policy allows?
//!
//! Checks: `allowlist` (one of the allowed sets, naming the policy's source), then one check per
//! register against the closest allowed set (the one with most equal registers), so a failure
//! names the register that differs and shows both values.

use super::claims::Claims;
use super::{Check, Layer, MeasurementPolicy, Status};
use crate::measurements::{Measurements, Register};

/// The layer's name.
pub const NAME: &str = "identity";

/// Runs the checks of this layer.
pub fn layer(claims: &Result<Claims, String>, policy: &MeasurementPolicy) -> Layer {
    match claims {
        Ok(claims) => of_measurements(&claims.measurements, policy),
        Err(reason) => {
            Layer::new(NAME, vec![Check::new("measurements", Status::Unproven, "readable measurements", "unreadable", reason.clone())])
        }
    }
}

/// The layer for measurements known from elsewhere than a quote read here (e.g. the record a
/// register contract kept when it verified the quote): the same checks against `policy`.
pub fn of_measurements(measured: &Measurements, policy: &MeasurementPolicy) -> Layer {
    let measured = *measured;
    let checks = match policy {
        MeasurementPolicy::None => vec![Check::new(
            "measurements",
            Status::Unproven,
            "a measurement policy (--measurements FILE or --register-contract ACCOUNT --rpc URL)",
            measured.to_string(),
            "no measurement policy given",
        )],
        MeasurementPolicy::Unavailable { source, reason } => vec![Check::new(
            "measurements",
            Status::Unproven,
            format!("the allowlist of {source}"),
            measured.to_string(),
            format!("the measurement policy could not be obtained: {reason}"),
        )],
        MeasurementPolicy::Allowlist { source, allowlist } => against(&measured, &allowlist.0, source),
    };
    Layer::new(NAME, checks)
}

fn registers(m: &Measurements) -> [(&'static str, Register); 5] {
    [("mrtd", m.mrtd), ("rtmr0", m.rtmr0), ("rtmr1", m.rtmr1), ("rtmr2", m.rtmr2), ("rtmr3", m.rtmr3)]
}

fn against(measured: &Measurements, allowed: &[Measurements], source: &str) -> Vec<Check> {
    let expected = format!("one of the {} allowed set(s) of {source}", allowed.len());
    let Some((index, closest)) = allowed
        .iter()
        .enumerate()
        .max_by_key(|(i, set)| (registers(set).iter().zip(registers(measured)).filter(|(a, b)| a.1 == b.1).count(), std::cmp::Reverse(*i)))
    else {
        return vec![Check::new("allowlist", Status::Fail, expected, measured.to_string(), "the policy allows no measurements at all")];
    };
    let mut checks = Vec::new();
    if closest == measured {
        checks.push(Check::new("allowlist", Status::Pass, expected, format!("allowed set #{}", index + 1), ""));
    } else {
        checks.push(Check::new("allowlist", Status::Fail, expected, "no allowed set matches", "the TD image is not one the policy allows"));
    }
    let set = index + 1;
    for ((name, want), (_, have)) in registers(closest).into_iter().zip(registers(measured)) {
        let reason = format!("{name} differs from allowed set #{set} (the closest)");
        checks.push(Check::compare(name, want.to_hex(), have.to_hex(), &reason));
    }
    checks
}
