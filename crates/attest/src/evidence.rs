//! [`Evidence`]: what a worker hands a verifier, and its digest for receipts.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::collateral::QuoteCollateralV3;
use crate::measurements::Measurements;

/// The note every dev evidence carries.
pub const DEV_NOTE: &str = "not a TEE";

/// Attestation evidence, JSON-tagged by `kind`:
///
/// ```json
/// {"kind": "tdx", "quote": "<hex>", "collateral": { …dcap-qvl QuoteCollateralV3… }}
/// {"kind": "dev", "report_data": "<128 hex>", "measurements": {…}, "note": "not a TEE"}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    /// A TDX quote with the collateral to verify it offline.
    Tdx {
        /// The raw quote (hex in JSON).
        #[serde(with = "crate::hex_serde::vec")]
        quote: Vec<u8>,
        /// dcap-qvl's `QuoteCollateralV3` (its own JSON form).
        collateral: QuoteCollateralV3,
        /// The TDX event log the quote provider returned, if any (lets a verifier replay
        /// RTMR3); not verified by this crate.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_log: Option<String>,
    },
    /// Dev mode: nothing is signed. Verifies only under `Policy { allow_dev: true, .. }`.
    Dev {
        /// The report data the worker would have put in a quote (hex in JSON).
        #[serde(with = "crate::hex_serde::array")]
        report_data: [u8; 64],
        /// The measurements the worker claims.
        measurements: Measurements,
        /// Always [`DEV_NOTE`].
        note: String,
    },
}

impl Evidence {
    /// Dev evidence with [`DEV_NOTE`].
    pub fn dev(report_data: [u8; 64], measurements: Measurements) -> Self {
        Self::Dev { report_data, measurements, note: DEV_NOTE.to_owned() }
    }

    /// `tdx` or `dev`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Tdx { .. } => "tdx",
            Self::Dev { .. } => "dev",
        }
    }
}

/// sha256 of the evidence's canonical JSON (`serde_json::to_vec`, field order as declared), the
/// digest a receipt carries for the worker's attestation.
pub fn evidence_digest(evidence: &Evidence) -> [u8; 32] {
    let json = serde_json::to_vec(evidence).expect("evidence always serializes");
    Sha256::digest(json).into()
}
