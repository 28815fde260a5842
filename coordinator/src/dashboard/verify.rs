//! The checks shown on a call's page: **the same checks as `outlayer verify`**
//! ([`outlayer_attest::verdict::verify`]), run by this server over its own records, plus the
//! few checks about this coordinator's bookkeeping that a caller's verifier cannot make.
//!
//! The [`Subject`] is built as `outlayer verify` builds it from what a caller fetches, but from
//! the coordinator's records directly: the call's signed receipt, the attestation record of the
//! worker the receipt names (the evidence and the challenge it registered with, its public key —
//! what `GET /workers/{id}/attestation` publishes), the input bytes the worker was given (the
//! JSON text of the request's `input`, as hashed into the receipt), the exact output bytes (when
//! kept), the call id and the project. The [`Options`] are this coordinator's configuration
//! ([`options`]): its registration allowlist as the measurement policy (or none when empty),
//! `--allow-dev-attestation`, its accepted TCB statuses and its clock.
//!
//! The verdict covers the signature, digest, key, worker, attestation digest, call id, project and
//! payload hashes; [`record_checks`] adds what only the coordinator's records can say: the
//! version that ran, the limits the call was given, the usage it was billed for and the worker
//! that reported the result.

use outlayer_attest::verdict::{AttestedWorker, Check, MeasurementPolicy, Options, Status, Subject, Verdict, verify};
use outlayer_attest::{Challenge, Evidence};
use outlayer_protocol::SignedReceipt;

use crate::config::AttestationConfig;
use crate::db::{CallRow, WorkerRow};

/// Where the measurement policy of the page's verdict comes from.
pub const POLICY_SOURCE: &str = "this coordinator's policy";

/// The verification options of this coordinator's configuration, at `at` (unix seconds).
pub fn options(config: &AttestationConfig, at: u64) -> Options {
    let policy = config.policy();
    let measurements = if policy.allowed_measurements.0.is_empty() {
        MeasurementPolicy::None
    } else {
        MeasurementPolicy::Allowlist { source: POLICY_SOURCE.to_owned(), allowlist: policy.allowed_measurements }
    };
    Options { at, allow_dev: policy.allow_dev, accepted_tcb_statuses: policy.accepted_tcb_statuses, policy: measurements }
}

/// The attested worker from its stored row, evidence JSON and challenge JSON (as
/// [`crate::db::Backend::worker_attestation`] returns them); `Err` says what could not be read.
pub fn attested_worker(row: &WorkerRow, evidence: &str, challenge: &str) -> Result<AttestedWorker, String> {
    let evidence: Evidence =
        serde_json::from_str(evidence).map_err(|e| format!("the stored evidence of worker {} is unreadable: {e}", row.id))?;
    let challenge: Challenge =
        serde_json::from_str(challenge).map_err(|e| format!("the stored challenge of worker {} is unreadable: {e}", row.id))?;
    Ok(AttestedWorker { worker_id: row.id.clone(), public_key: row.public_key.clone(), evidence, challenge: Some(challenge) })
}

/// The project of a call as receipts name it (`owner/name`).
pub fn project_of(call: &CallRow) -> String {
    format!("{}/{}", call.project_owner, call.project_name)
}

/// The verdict on `signed`, the receipt of `call`, signed by `worker` (as recorded here).
pub fn call_verdict(call: &CallRow, signed: &SignedReceipt, worker: &AttestedWorker, options: &Options) -> Verdict {
    let project = project_of(call);
    let output = call.result.as_ref().and_then(|r| r.output_base64.as_deref());
    let subject =
        Subject { receipt: signed, worker, input: Some(call.input.as_bytes()), output, call_id: Some(&call.id), project: Some(&project) };
    verify(&subject, options)
}

/// The checks of the receipt against this coordinator's own records that the verdict does not
/// make (a caller has no such records). Empty if the call has no receipt.
pub fn record_checks(call: &CallRow) -> Vec<Check> {
    let Some(result) = &call.result else { return Vec::new() };
    let Some(signed) = &result.receipt else { return Vec::new() };
    let r = &signed.receipt;
    let limits = |i: u64, m: u64, s: u64| format!("{i} instructions, {m} MiB, {s} s");
    let usage = |i: u64, ms: u64| format!("{i} instructions, {ms} ms");
    vec![
        Check::compare("wasm_sha256", &call.wasm_sha256, &r.wasm_sha256, "the receipt names another version than the one this call ran"),
        Check::compare(
            "limits",
            limits(call.max_instructions as u64, call.max_memory_mb as u64, call.max_execution_seconds as u64),
            limits(r.max_instructions, r.max_memory_mb, r.max_execution_seconds),
            "the receipt's limits are not the ones this call was given",
        ),
        Check::compare(
            "billed usage",
            usage(result.instructions, result.time_ms),
            usage(r.instructions, r.wall_ms),
            "the usage billed here is not the usage the receipt signs",
        ),
        Check::compare(
            "reporting worker",
            result.worker.as_ref().map(|w| w.id.as_str()).unwrap_or("none"),
            &r.worker_id,
            "the worker that reported the result is not the one the receipt names",
        ),
    ]
}

/// A stand-in verdict when there is no attested worker to verify against: every layer
/// UNPROVEN with `reason` (nothing was proven, nothing was disproven).
pub fn unverifiable(at: u64, reason: &str) -> Verdict {
    use outlayer_attest::verdict::Layer;
    let layer = |name: &str, what: &str| {
        Layer::new(name, vec![Check::new(what, Status::Unproven, "the attested worker the receipt names", "none", reason)])
    };
    Verdict::new(at, vec![layer("authenticity", "evidence"), layer("identity", "measurements"), layer("binding", "receipt key")])
}

#[cfg(test)]
mod tests {
    use super::*;
    use outlayer_attest::Measurements;

    #[test]
    fn options_follow_the_configuration() {
        let dev = AttestationConfig { allow_dev: true, ..AttestationConfig::default() };
        let o = options(&dev, 42);
        assert!(o.allow_dev && o.at == 42);
        assert!(matches!(&o.policy, MeasurementPolicy::Allowlist { source, allowlist }
            if source == POLICY_SOURCE && allowlist.contains(&outlayer_protocol::DEV_MEASUREMENTS)));
        let strict = options(&AttestationConfig::default(), 1);
        assert!(!strict.allow_dev && strict.policy == MeasurementPolicy::None);
        let m = Measurements::from_registers(&[1; 48], [&[2; 48], &[3; 48], &[4; 48], &[5; 48]]);
        let listed = AttestationConfig { allowed_measurements: outlayer_attest::Allowlist(vec![m]), ..AttestationConfig::default() };
        assert!(matches!(options(&listed, 1).policy, MeasurementPolicy::Allowlist { .. }));
    }

    #[test]
    fn unverifiable_is_unproven() {
        let v = unverifiable(1, "no worker");
        assert_eq!(v.status, Status::Unproven);
        assert_eq!(v.layers.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["authenticity", "identity", "binding"]);
    }
}
