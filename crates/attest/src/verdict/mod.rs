//! The verdict of a sceptical caller: "the same checks as `outlayer verify`", as data.
//!
//! Pure (no network, no clock, no files): give it a [`Subject`] (a signed receipt, the attested
//! worker record with its evidence and challenge, and the payload bytes the caller kept) and
//! [`Options`] (time of verification, measurement policy, whether dev evidence counts), and it
//! answers three questions, each a [`Layer`] of [`Check`]s:
//!
//! - **authenticity** ([`authenticity`]): the quote's signature chain to Intel's root CA (compiled
//!   into dcap-qvl), against collateral valid at [`Options::at`]; the TCB status; TDX, not dev.
//! - **identity** ([`identity`]): MRTD/RTMR0–3 against the [`MeasurementPolicy`].
//! - **binding** ([`binding`]): `report_data` binds the receipt's key and the recorded challenge;
//!   the receipt's signature covers every field; receipt key, worker id and attestation digest
//!   are the attested ones; the input/output digests match the caller's bytes.
//!
//! Every check is [`Status::Pass`], [`Status::Fail`] or [`Status::Unproven`] (a question that
//! could not be answered, with the reason — never a softened failure), and carries both compared
//! values (`expected` is what the verifier knows or requires, `found` what the evidence or
//! receipt says). A layer fails if one of its checks fails, else is unproven if one is; the
//! [`Verdict::exit_code`] is 0 (all proven), 1 (a failure), 2 (unproven, nothing failed).
//!
//! Why here and not in the CLI: the coordinator, the dashboard and `outlayer verify` must run
//! the same checks over the same data, and this crate is already the one implementation of
//! quote verification, binding and receipts that all of them link. Fetching, bundles and
//! rendering stay in the binary.
//!
//! # Layout
//!
//! - this file: the verdict types and [`verify`].
//! - [`claims`]: what the evidence claims (measurements, report data), read without trusting it.
//! - [`authenticity`], [`identity`], [`binding`]: one layer each.
//! - `tests`: real dcap-qvl sample data and dev evidence with receipts signed in the test.
//!
//! # Example
//!
//! ```
//! use outlayer_attest::receipt::{Receipt, sha256_hex};
//! use outlayer_attest::verdict::{AttestedWorker, MeasurementPolicy, Options, Status, Subject, verify};
//! use outlayer_attest::*;
//!
//! let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
//! let public_key = key.verifying_key().to_bytes();
//! let challenge = Challenge::new([9; 32], 1_800_000_000, 60);
//! let measurements = Measurements::from_registers(&[1; 48], [&[2; 48], &[3; 48], &[4; 48], &[5; 48]]);
//! let evidence = Evidence::dev(report_data(&public_key, &challenge), measurements);
//! let receipt = Receipt {
//!     call_id: "c1".into(), project: "alice/echo".into(), wasm_sha256: sha256_hex(b"wasm"),
//!     input_sha256: sha256_hex(b"1"), output_sha256: sha256_hex(b"2"), outcome: "ok".into(),
//!     instructions: 1, wall_ms: 1, peak_memory_bytes: 1, refund: 0, max_instructions: 10,
//!     max_memory_mb: 1, max_execution_seconds: 1, worker_id: "w1".into(),
//!     attestation_sha256: hex::encode(evidence_digest(&evidence)),
//! }
//! .sign(&key);
//! let worker = AttestedWorker { worker_id: "w1".into(), public_key: hex::encode(public_key), evidence, challenge: Some(challenge) };
//! let subject = Subject { receipt: &receipt, worker: &worker, input: Some(b"1"), output: Some(b"2"), call_id: None, project: None };
//! let policy = MeasurementPolicy::Allowlist { source: "test".into(), allowlist: vec![measurements].into() };
//!
//! // Dev evidence is not a TEE: unproven unless the verifier says dev counts.
//! let strict = Options { at: 1_800_000_010, allow_dev: false, accepted_tcb_statuses: DEFAULT_ACCEPTED_TCB_STATUSES.to_vec(), policy };
//! let verdict = verify(&subject, &strict);
//! assert_eq!((verdict.status, verdict.exit_code()), (Status::Unproven, 2));
//! let dev = Options { allow_dev: true, ..strict };
//! assert_eq!(verify(&subject, &dev).exit_code(), 0);
//! ```

pub mod authenticity;
pub mod binding;
pub mod claims;
pub mod identity;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::binding::Challenge;
use crate::evidence::Evidence;
use crate::measurements::Allowlist;
use crate::receipt::SignedReceipt;
use crate::tcb::TcbStatus;

/// The answer to one question.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Proven.
    Pass,
    /// Disproven: the data contradicts the claim.
    Fail,
    /// Could not be answered with what was given (the reason says why).
    Unproven,
}

impl Status {
    /// `PASS`, `FAIL` or `UNPROVEN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Fail => "FAIL",
            Self::Unproven => "UNPROVEN",
        }
    }

    /// The combined status of several: FAIL beats UNPROVEN beats PASS (PASS when empty).
    pub fn combine(statuses: impl IntoIterator<Item = Status>) -> Status {
        statuses.into_iter().fold(Status::Pass, |acc, s| match (acc, s) {
            (Status::Fail, _) | (_, Status::Fail) => Status::Fail,
            (Status::Unproven, _) | (_, Status::Unproven) => Status::Unproven,
            _ => Status::Pass,
        })
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One comparison, with both values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// What is compared, e.g. `receipt signature`.
    pub name: String,
    /// The outcome.
    pub status: Status,
    /// What the verifier knows or requires.
    pub expected: String,
    /// What the evidence or receipt says.
    pub found: String,
    /// Why (always set for FAIL and UNPROVEN; a note or empty for PASS).
    pub reason: String,
}

impl Check {
    /// A check whose status is whether `expected == found`.
    pub fn compare(name: &str, expected: impl Into<String>, found: impl Into<String>, fail_reason: &str) -> Self {
        let (expected, found) = (expected.into(), found.into());
        let (status, reason) = if expected == found { (Status::Pass, String::new()) } else { (Status::Fail, fail_reason.to_owned()) };
        Self { name: name.to_owned(), status, expected, found, reason }
    }

    /// A check with an explicit status.
    pub fn new(name: &str, status: Status, expected: impl Into<String>, found: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { name: name.to_owned(), status, expected: expected.into(), found: found.into(), reason: reason.into() }
    }
}

/// One question (authenticity, identity, binding) and its checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// `authenticity`, `identity` or `binding`.
    pub name: String,
    /// FAIL if a check failed, else UNPROVEN if one is unproven, else PASS.
    pub status: Status,
    /// The comparisons, in the order they were made.
    pub checks: Vec<Check>,
}

impl Layer {
    /// A layer whose status is combined from `checks`.
    pub fn new(name: &str, checks: Vec<Check>) -> Self {
        Self { name: name.to_owned(), status: Status::combine(checks.iter().map(|c| c.status)), checks }
    }

    /// The first check with this layer's status (the one a one-line summary names), if not PASS.
    pub fn first_problem(&self) -> Option<&Check> {
        if self.status == Status::Pass {
            return None;
        }
        self.checks.iter().find(|c| c.status == self.status)
    }
}

/// The whole answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Combined over the layers.
    pub status: Status,
    /// The time (unix seconds) the checks were made for (collateral validity).
    pub verified_at: u64,
    /// authenticity, identity, binding.
    pub layers: Vec<Layer>,
}

impl Verdict {
    /// A verdict over these layers.
    pub fn new(verified_at: u64, layers: Vec<Layer>) -> Self {
        Self { status: Status::combine(layers.iter().map(|l| l.status)), verified_at, layers }
    }

    /// 0 all proven, 1 a layer failed, 2 something unproven and nothing failed.
    pub fn exit_code(&self) -> u8 {
        match self.status {
            Status::Pass => 0,
            Status::Fail => 1,
            Status::Unproven => 2,
        }
    }

    /// The layer named `name`.
    pub fn layer(&self, name: &str) -> Option<&Layer> {
        self.layers.iter().find(|l| l.name == name)
    }

    /// The check named `check` of the layer `layer`.
    pub fn check(&self, layer: &str, check: &str) -> Option<&Check> {
        self.layer(layer)?.checks.iter().find(|c| c.name == check)
    }
}

/// The attested worker as the verifier recorded it (`GET /workers/{id}/attestation`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestedWorker {
    /// The id the worker was registered under.
    pub worker_id: String,
    /// Its ed25519 public key, hex.
    pub public_key: String,
    /// The evidence it presented (quote + collateral, or dev).
    pub evidence: Evidence,
    /// The challenge the registering verifier issued, if recorded.
    pub challenge: Option<Challenge>,
}

/// What is verified.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// The signed receipt of the call.
    pub receipt: &'a SignedReceipt,
    /// The attested worker that is said to have signed it.
    pub worker: &'a AttestedWorker,
    /// The exact input bytes the caller sent, if kept.
    pub input: Option<&'a [u8]>,
    /// The exact output bytes the caller received, if kept.
    pub output: Option<&'a [u8]>,
    /// The call id the caller asked about, if any.
    pub call_id: Option<&'a str>,
    /// The project (`owner/name`) the caller called, if known.
    pub project: Option<&'a str>,
}

/// Where the allowed measurements come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MeasurementPolicy {
    /// No policy given: identity is unproven.
    None,
    /// An allowlist, and where it came from (a file, a register contract).
    Allowlist {
        /// e.g. `file measurements.json` or `register contract reg.near via https://rpc…`.
        source: String,
        /// The allowed sets.
        allowlist: Allowlist,
    },
    /// A policy was asked for but could not be obtained (identity is unproven).
    Unavailable {
        /// Where it was asked for.
        source: String,
        /// Why it could not be obtained.
        reason: String,
    },
}

impl MeasurementPolicy {
    /// The same policy, its source labelled as recorded in a bundle (re-verification reads it
    /// from there, not from where it first came).
    pub fn recorded_in_bundle(&self) -> Self {
        match self {
            MeasurementPolicy::Allowlist { source, allowlist } => {
                MeasurementPolicy::Allowlist { source: format!("the bundle (recorded from {source})"), allowlist: allowlist.clone() }
            }
            other => other.clone(),
        }
    }
}

/// What the verifier decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The time (unix seconds) to verify at: the collateral must be valid then.
    pub at: u64,
    /// Whether dev evidence (not a TEE) counts as authentic (reported as PASS, noted as dev).
    pub allow_dev: bool,
    /// The TCB statuses accepted (default [`DEFAULT_ACCEPTED_TCB_STATUSES`](crate::DEFAULT_ACCEPTED_TCB_STATUSES)).
    pub accepted_tcb_statuses: Vec<TcbStatus>,
    /// The measurement policy.
    pub policy: MeasurementPolicy,
}

/// Runs every check.
pub fn verify(subject: &Subject<'_>, options: &Options) -> Verdict {
    let claims = claims::Claims::of(&subject.worker.evidence);
    Verdict::new(
        options.at,
        vec![
            authenticity::layer(&subject.worker.evidence, &claims, options),
            identity::layer(&claims, &options.policy),
            binding::layer(subject, &claims),
        ],
    )
}

/// `YYYY-MM-DDTHH:MM:SSZ (N)` for unix seconds `secs`: both forms, so nobody converts by hand.
pub fn fmt_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z ({secs})", rem / 3600, rem % 3600 / 60, rem % 60)
}
