//! Quote verification: dcap-qvl signature/TCB checks plus OutLayer's measurement and key-binding
//! policy.

use dcap_qvl::QuoteCollateralV3;
use near_sdk::{CurveType, PublicKey};

use crate::measurements::Measurements;

/// The only TCB status accepted: anything else (`OutOfDate`, `SWHardeningNeeded`,
/// `ConfigurationNeeded`, ...) means the platform needs patching before it may hold keys.
pub const APPROVED_TCB_STATUS: &str = "UpToDate";

/// Why a TEE key was refused. `Display` gives the exact panic message the contracts use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttestationError {
    /// The quote is not valid hex.
    QuoteNotHex,
    /// The stored collateral is not dcap-qvl's `QuoteCollateralV3` JSON.
    BadCollateral(String),
    /// No collateral has been stored yet.
    NoCollateral,
    /// dcap-qvl rejected the quote (signature, certificate chain, CRL, expiry...).
    Verification(String),
    /// The quote verified but its TCB status is not `UpToDate`.
    TcbStatus(String),
    /// The quote is an SGX quote, not a TDX one.
    NotTdx,
    /// The measurements are not one of the approved sets.
    MeasurementsNotApproved,
    /// A measurement register given by the owner is not 48 bytes of hex.
    BadMeasurements(String),
    /// Only ed25519 keys can be bound (they fit the 32 bytes of report_data).
    UnsupportedKey,
    /// `report_data[0..32]` is not the public key.
    ReportDataMismatch,
}

impl std::fmt::Display for AttestationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::QuoteNotHex => write!(f, "Quote is not valid hex"),
            Self::BadCollateral(e) => write!(f, "Invalid collateral JSON: {e}"),
            Self::NoCollateral => write!(
                f,
                "No collateral stored: the owner must call set_collateral"
            ),
            Self::Verification(e) => write!(f, "Quote verification failed: {e}"),
            Self::TcbStatus(s) => write!(f, "TCB status is {s}, expected {APPROVED_TCB_STATUS}"),
            Self::NotTdx => write!(f, "Quote is not a TDX quote"),
            Self::MeasurementsNotApproved => write!(f, "Measurements are not approved"),
            Self::BadMeasurements(r) => write!(f, "Measurement {r} must be 48 bytes of hex"),
            Self::UnsupportedKey => write!(f, "Only ed25519 keys can be registered"),
            Self::ReportDataMismatch => {
                write!(f, "report_data does not bind the public key")
            }
        }
    }
}

impl std::error::Error for AttestationError {}

/// Parses collateral in dcap-qvl's JSON form (as published in its `sample/` folder and returned
/// by PCCS helpers).
pub fn parse_collateral(json: &str) -> Result<QuoteCollateralV3, AttestationError> {
    near_sdk::serde_json::from_str(json).map_err(|e| AttestationError::BadCollateral(e.to_string()))
}

/// Verifies `quote_hex` for `public_key` at `now_secs` and returns the quote's measurements.
///
/// `approved` lists the accepted measurement sets (already normalised to lowercase hex).
pub fn verify_tee_key(
    quote_hex: &str,
    collateral: &QuoteCollateralV3,
    now_secs: u64,
    approved: &[Measurements],
    public_key: &PublicKey,
) -> Result<Measurements, AttestationError> {
    if public_key.curve_type() != CurveType::ED25519 {
        return Err(AttestationError::UnsupportedKey);
    }
    let quote = hex::decode(quote_hex.trim()).map_err(|_| AttestationError::QuoteNotHex)?;
    let verified = dcap_qvl::verify::verify(&quote, collateral, now_secs)
        .map_err(|e| AttestationError::Verification(format!("{e:#}")))?;
    if verified.status != APPROVED_TCB_STATUS {
        return Err(AttestationError::TcbStatus(verified.status));
    }
    let td = verified.report.as_td10().ok_or(AttestationError::NotTdx)?;
    let measured =
        Measurements::from_registers(&td.mr_td, [&td.rt_mr0, &td.rt_mr1, &td.rt_mr2, &td.rt_mr3]);
    if !approved.contains(&measured) {
        return Err(AttestationError::MeasurementsNotApproved);
    }
    // as_bytes() is the curve byte followed by the 32 key bytes.
    let key_bytes = &public_key.as_bytes()[1..];
    if td.report_data[..32] != *key_bytes {
        return Err(AttestationError::ReportDataMismatch);
    }
    Ok(measured)
}
