//! The evidence bundle: one self-contained JSON file that re-verifies years later with no
//! network — the signed receipt, the worker's attestation record as served (evidence with its
//! collateral, challenge, key), both payloads (base64), the measurement policy used, and the
//! verdict at the time.
//!
//! Re-verification ([`Bundle::case`]) recomputes every check from this data; the stored
//! `verdict` is never read back as an answer. The time defaults to `verified_at` (when the
//! collateral was current), the policy to the recorded one unless the flags give another.

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use outlayer_attest::receipt::SignedReceipt;
use outlayer_attest::verdict::{MeasurementPolicy, Options, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Case;
use super::fetch::WorkerRecord;

/// The format tag of version 1.
pub const FORMAT: &str = "outlayer-verify-bundle/1";

/// The file's content.
#[derive(Serialize, Deserialize)]
pub struct Bundle {
    /// [`FORMAT`].
    pub format: String,
    /// The time (unix seconds) the bundle's verdict was computed for.
    pub verified_at: u64,
    /// The coordinator the data came from.
    pub source: String,
    /// The call asked about.
    pub call_id: Option<String>,
    /// The project called, when known.
    pub project: Option<String>,
    /// The signed receipt.
    pub receipt: SignedReceipt,
    /// The worker's attestation record, as served (evidence + collateral + challenge).
    pub attestation: Value,
    /// The exact input bytes, base64.
    pub input_base64: Option<String>,
    /// The exact output bytes, base64.
    pub output_base64: Option<String>,
    /// The measurement policy the verdict used.
    pub policy: MeasurementPolicy,
    /// Whether dev attestation was allowed for the verdict (re-verification takes the flag).
    pub allow_dev_attestation: bool,
    /// The verdict when written. Informative only: re-verification recomputes it.
    pub verdict: Verdict,
}

impl Bundle {
    /// A bundle of `case`, verified with `options` into `verdict`.
    pub fn new(case: &Case, options: &Options, verdict: &Verdict) -> Self {
        Self {
            format: FORMAT.to_owned(),
            verified_at: options.at,
            source: case.source.clone(),
            call_id: case.call_id.clone(),
            project: case.project.clone(),
            receipt: case.receipt.clone(),
            attestation: case.worker.raw.clone(),
            input_base64: case.input.as_ref().map(|b| BASE64.encode(b)),
            output_base64: case.output.as_ref().map(|b| BASE64.encode(b)),
            policy: options.policy.clone(),
            allow_dev_attestation: options.allow_dev,
            verdict: verdict.clone(),
        }
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("bundles serialize")
    }

    /// Parses a bundle file.
    pub fn from_json(bytes: &[u8]) -> anyhow::Result<Self> {
        let bundle: Self = serde_json::from_slice(bytes).context("not an outlayer verify bundle")?;
        if bundle.format != FORMAT {
            bail!("bundle format {:?} is not {FORMAT:?}", bundle.format);
        }
        Ok(bundle)
    }

    /// The recorded policy, labelled as coming from the bundle.
    pub fn recorded_policy(&self) -> MeasurementPolicy {
        self.policy.recorded_in_bundle()
    }

    /// The data to verify, decoded.
    pub fn case(&self) -> anyhow::Result<Case> {
        let decode = |b64: &Option<String>, what: &str| -> anyhow::Result<Option<Vec<u8>>> {
            b64.as_ref().map(|s| BASE64.decode(s).with_context(|| format!("the bundle's {what} is not base64"))).transpose()
        };
        Ok(Case {
            receipt: self.receipt.clone(),
            worker: WorkerRecord::from_value(self.attestation.clone())?,
            input: decode(&self.input_base64, "input_base64")?,
            output: decode(&self.output_base64, "output_base64")?,
            call_id: self.call_id.clone(),
            project: self.project.clone(),
            source: self.source.clone(),
        })
    }
}
