//! The contracts' view of attestation: near-sdk key types and panic messages over
//! `outlayer-attest`, which does all the verification.

use near_sdk::{CurveType, PublicKey};
use outlayer_attest::{AttestError, Policy, QuoteCollateralV3};

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
    /// dcap-qvl rejected the quote (signature, certificate chain, CRL...).
    Verification(String),
    /// The stored collateral is past its next update: the owner must store fresh collateral.
    CollateralExpired(String),
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
            Self::NoCollateral => write!(f, "No collateral stored: the owner must call set_collateral"),
            Self::Verification(e) | Self::CollateralExpired(e) => {
                write!(f, "Quote verification failed: {e}")
            }
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

impl From<AttestError> for AttestationError {
    fn from(e: AttestError) -> Self {
        match e {
            AttestError::AttestationInvalid { reason } => Self::Verification(reason),
            // Formatted here rather than with `AttestError`'s Display, which would pull every
            // variant's formatting into the contract wasm.
            AttestError::CollateralExpired { what, next_update, now } => {
                Self::CollateralExpired(format!("collateral expired: {what} next update was {next_update}, verified at {now}"))
            }
            AttestError::TcbOutOfDate { status, .. } => Self::TcbStatus(status.to_string()),
            AttestError::NotTdx => Self::NotTdx,
            AttestError::MeasurementsNotAllowed { .. } => Self::MeasurementsNotApproved,
            AttestError::BindingMismatch { .. } => Self::ReportDataMismatch,
            // Contracts never see challenges or dev evidence; keep the message if they ever do.
            AttestError::ChallengeExpired { .. } => Self::Verification("challenge expired".into()),
            AttestError::DevNotAllowed => Self::Verification("dev evidence is not allowed".into()),
        }
    }
}

/// Parses collateral in dcap-qvl's JSON form (as published in its `sample/` folder and returned
/// by PCCS helpers).
pub fn parse_collateral(json: &str) -> Result<QuoteCollateralV3, AttestationError> {
    outlayer_attest::parse_collateral(json).map_err(|e| match e {
        AttestError::AttestationInvalid { reason } => AttestationError::BadCollateral(reason),
        other => AttestationError::BadCollateral(other.code().into()),
    })
}

/// Verifies `quote_hex` for `public_key` at `now_secs` and returns the quote's measurements:
/// `outlayer_attest::verify_quote` under the default policy (TDX, `UpToDate` only) with the
/// `approved` sets, then the key half of the binding (`report_data[0..32]`).
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
    let allowed = approved.iter().map(Measurements::to_attest).collect::<Result<Vec<_>, _>>()?;
    let verified = outlayer_attest::verify_quote(&quote, collateral, &Policy::new(allowed), now_secs)?;
    // as_bytes() is the curve byte followed by the 32 key bytes.
    let key: &[u8; 32] = public_key.as_bytes()[1..].try_into().map_err(|_| AttestationError::UnsupportedKey)?;
    outlayer_attest::check_key_binding(&verified.report_data, key)?;
    Ok(verified.measurements.into())
}
