//! The receipt checks shown on a call's page, server-side, in the shape of `outlayer verify`:
//! each check is PASS, FAIL or UNPROVEN with the reason and both compared values.
//!
//! What is checked: the ed25519 signature over the recomputed receipt digest with the key the
//! worker **registered here** (not the key the receipt names), and that every signed field
//! matches the call as this coordinator recorded it (ids, project, wasm, input and output
//! hashes, limits, billed instructions and time, worker id). What is **not** checked here: the
//! worker's attestation (the TDX quote behind `attestation_sha256`, its measurements and TCB
//! status) — that is `outlayer verify`'s job, and the page says so.

use outlayer_protocol::receipt::sha256_hex;

use crate::db::{CallRow, WorkerRow};

/// The result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Holds.
    Pass,
    /// Does not hold.
    Fail,
    /// Could not be decided here.
    Unproven,
}

impl Verdict {
    /// `PASS`, `FAIL` or `UNPROVEN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Fail => "FAIL",
            Self::Unproven => "UNPROVEN",
        }
    }
}

/// One check with its working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What is checked.
    pub name: &'static str,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, with the compared values.
    pub detail: String,
}

fn compare(name: &'static str, receipt: &str, recorded: &str) -> Check {
    let verdict = if receipt == recorded { Verdict::Pass } else { Verdict::Fail };
    Check { name, verdict, detail: format!("receipt: {receipt} · recorded: {recorded}") }
}

/// The checks of a settled call's receipt. `worker` is the worker registered under the
/// receipt's worker id (None if there is none). Empty if the call has no receipt.
pub fn receipt_checks(call: &CallRow, worker: Option<&WorkerRow>) -> Vec<Check> {
    let Some(result) = &call.result else { return Vec::new() };
    let Some(signed) = &result.receipt else { return Vec::new() };
    let r = &signed.receipt;
    let mut checks = Vec::new();
    match worker {
        Some(w) => {
            let verdict = match r.verify_signature(&w.public_key, &signed.signature) {
                Ok(()) => Check {
                    name: "signature",
                    verdict: Verdict::Pass,
                    detail: format!(
                        "ed25519 signature verifies over the recomputed digest with worker {}'s registered key {}",
                        w.id, w.public_key
                    ),
                },
                Err(e) => Check { name: "signature", verdict: Verdict::Fail, detail: format!("{e} (registered key {})", w.public_key) },
            };
            checks.push(verdict);
            checks.push(compare("public key", &signed.public_key, &w.public_key));
            checks.push(compare("attestation digest", &r.attestation_sha256, &w.attestation_sha256));
        }
        None => checks.push(Check {
            name: "signature",
            verdict: Verdict::Unproven,
            detail: format!("no worker {} is registered here, so there is no trusted key to check the signature with", r.worker_id),
        }),
    }
    checks.push(compare("digest", &signed.digest, &hex::encode(r.digest())));
    checks.push(compare("call id", &r.call_id, &call.id));
    checks.push(compare("project", &r.project, &format!("{}/{}", call.project_owner, call.project_name)));
    checks.push(compare("wasm sha256", &r.wasm_sha256, &call.wasm_sha256));
    checks.push(compare("input sha256", &r.input_sha256, &sha256_hex(call.input.as_bytes())));
    match &result.output_base64 {
        Some(out) => checks.push(compare("output sha256", &r.output_sha256, &sha256_hex(out))),
        None => checks.push(Check {
            name: "output sha256",
            verdict: Verdict::Unproven,
            detail: "the exact output bytes were not kept (no output, or over the size limit)".into(),
        }),
    }
    let limits = |i: u64, m: u64, s: u64| format!("{i} instructions, {m} MiB, {s} s");
    checks.push(compare(
        "limits",
        &limits(r.max_instructions, r.max_memory_mb, r.max_execution_seconds),
        &limits(call.max_instructions as u64, call.max_memory_mb as u64, call.max_execution_seconds as u64),
    ));
    checks.push(compare(
        "billed usage",
        &format!("{} instructions, {} ms", r.instructions, r.wall_ms),
        &format!("{} instructions, {} ms", result.instructions, result.time_ms),
    ));
    let worker_id = result.worker.as_ref().map(|w| w.id.as_str()).unwrap_or("none");
    checks.push(compare("worker id", &r.worker_id, worker_id));
    checks.push(Check {
        name: "attestation",
        verdict: Verdict::Unproven,
        detail: format!(
            "the evidence (sha256 {}) was verified by this coordinator when the worker registered (see Workers); its quote, measurements and TCB status are not re-verified on this page: `outlayer verify` does that",
            r.attestation_sha256
        ),
    });
    checks
}
