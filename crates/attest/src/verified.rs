//! [`VerifiedQuote`]: what a successful verification established.

use serde::{Deserialize, Serialize};

use crate::measurements::Measurements;
use crate::tcb::TcbStatus;

/// What produced the evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tee {
    /// An Intel TDX quote verified with dcap-qvl.
    Tdx,
    /// Dev evidence: **not a TEE**, nothing was verified. Every consumer must say so.
    Dev,
}

/// The result of [`verify_evidence`](crate::verify_evidence) / [`verify_quote`](crate::verify_quote).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedQuote {
    /// TDX, or Dev (not a TEE).
    pub tee: Tee,
    /// The five registers the evidence carries (allowed by the policy).
    pub measurements: Measurements,
    /// The TCB status dcap-qvl computed (`UpToDate` for dev evidence, which has no TCB).
    pub tcb_status: TcbStatus,
    /// The 64 bytes of report data (hex in JSON); see the [binding format](crate::binding).
    #[serde(with = "crate::hex_serde::array")]
    pub report_data: [u8; 64],
    /// The time (unix seconds) the verification was done for.
    pub verified_at: u64,
}
