//! [`AttestError`]: why evidence was refused, one variant per API error code.

use crate::measurements::Measurements;
use crate::tcb::TcbStatus;

/// Why attestation evidence was refused.
///
/// Each variant maps to exactly one stable API error code ([`AttestError::code`]) that the
/// coordinator returns; `Display` carries the detail (both compared values where there are two).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestError {
    /// The evidence could not be parsed or dcap-qvl refused it: bad hex, bad collateral JSON,
    /// signature, certificate chain, revoked TCB, debug TD... `reason` is dcap-qvl's message.
    #[error("attestation invalid: {reason}")]
    AttestationInvalid {
        /// What failed, as reported by the parser or dcap-qvl.
        reason: String,
    },
    /// The collateral (TCB info, QE identity or a CRL) is past its `nextUpdate` at the time of
    /// verification: the operator must refresh it from Intel PCS / a PCCS.
    #[error("collateral expired: {what} next update was {next_update}, verified at {now}")]
    CollateralExpired {
        /// Which part of the collateral expired (`tcb_info`, `qe_identity`, `crl`).
        what: &'static str,
        /// The part's `nextUpdate` (unix seconds; 0 when dcap-qvl did not say).
        next_update: u64,
        /// The verification time (unix seconds).
        now: u64,
    },
    /// The quote verified but its TCB status is not one the policy accepts.
    #[error("TCB status is {status}, accepted: {accepted:?}")]
    TcbOutOfDate {
        /// The status dcap-qvl computed.
        status: TcbStatus,
        /// The statuses the policy accepts.
        accepted: Vec<TcbStatus>,
    },
    /// The quote is genuine but not a TDX quote (e.g. SGX).
    #[error("quote is not a TDX quote")]
    NotTdx,
    /// MRTD/RTMR0–3 are not one of the allowed sets.
    #[error("measurements are not allowed: {measured}")]
    MeasurementsNotAllowed {
        /// The five registers the evidence carries.
        measured: Box<Measurements>,
    },
    /// `report_data` does not bind the expected key or challenge.
    #[error("report_data[{range}] does not bind the {part}: expected {expected}, found {found}")]
    BindingMismatch {
        /// `public_key` or `challenge`.
        part: &'static str,
        /// The byte range of report_data compared, e.g. `0..32`.
        range: &'static str,
        /// Expected bytes, hex.
        expected: String,
        /// Bytes in the evidence, hex.
        found: String,
    },
    /// The verifier's challenge is past its expiry (or issued in the future).
    #[error("challenge expired: valid {issued_at}..{expires_at}, now {now}")]
    ChallengeExpired {
        /// Issue time of the challenge (unix seconds).
        issued_at: u64,
        /// Expiry of the challenge (unix seconds).
        expires_at: u64,
        /// The time of the check (unix seconds).
        now: u64,
    },
    /// Dev evidence (not a TEE) was presented to a policy with `allow_dev = false`.
    #[error("dev evidence (not a TEE) is not allowed by this policy")]
    DevNotAllowed,
}

impl AttestError {
    /// The stable API error code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::AttestationInvalid { .. } => "attestation_invalid",
            Self::CollateralExpired { .. } => "collateral_expired",
            Self::TcbOutOfDate { .. } => "tcb_out_of_date",
            Self::NotTdx => "not_tdx",
            Self::MeasurementsNotAllowed { .. } => "measurements_not_allowed",
            Self::BindingMismatch { .. } => "binding_mismatch",
            Self::ChallengeExpired { .. } => "challenge_expired",
            Self::DevNotAllowed => "dev_not_allowed",
        }
    }

    /// Every code [`AttestError::code`] can return, for API documentation and tests.
    pub const CODES: [&'static str; 8] = [
        "attestation_invalid",
        "collateral_expired",
        "tcb_out_of_date",
        "not_tdx",
        "measurements_not_allowed",
        "binding_mismatch",
        "challenge_expired",
        "dev_not_allowed",
    ];

    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        Self::AttestationInvalid { reason: reason.into() }
    }
}
