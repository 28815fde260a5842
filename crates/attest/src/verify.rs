//! Verification: dcap-qvl for the quote, then OutLayer's policy (collateral freshness, TCB
//! status, TDX only, measurements allowlist). Binding is checked separately
//! ([`check_binding`](crate::check_binding)) because only the caller knows the key and challenge.

use crate::collateral::{CollateralWindow, QuoteCollateralV3};
use crate::error::AttestError;
use crate::evidence::Evidence;
use crate::measurements::Measurements;
use crate::policy::Policy;
use crate::tcb::{TcbStatus, parse_status};
use crate::verified::{Tee, VerifiedQuote};

/// Verifies a raw TDX quote with its collateral at `now_secs` (unix seconds) under `policy`.
///
/// Checks, in order (the first failure is returned):
/// 1. the collateral's TCB info and QE identity are not past `nextUpdate` → `collateral_expired`;
/// 2. dcap-qvl: quote parse, PCK chain, CRLs, QE report, quote signature, TCB matching, TD
///    attributes (no debug TD) → `attestation_invalid` (or `collateral_expired` for a CRL past
///    its `nextUpdate`);
/// 3. the TCB status is in `policy.accepted_tcb_statuses` → `tcb_out_of_date`;
/// 4. the quote is a TDX quote → `not_tdx`;
/// 5. MRTD and RTMR0–3 are one of `policy.allowed_measurements` → `measurements_not_allowed`.
pub fn verify_quote(quote: &[u8], collateral: &QuoteCollateralV3, policy: &Policy, now_secs: u64) -> Result<VerifiedQuote, AttestError> {
    CollateralWindow::of(collateral)?.check(now_secs)?;
    let report = dcap_qvl::verify::verify(quote, collateral, now_secs).map_err(|e| classify(&format!("{e:#}"), now_secs))?;
    let tcb_status = parse_status(&report.status)?;
    check_tcb(tcb_status, policy)?;
    let td = report.report.as_td10().ok_or(AttestError::NotTdx)?;
    let measurements = Measurements::from_registers(&td.mr_td, [&td.rt_mr0, &td.rt_mr1, &td.rt_mr2, &td.rt_mr3]);
    check_measurements(&measurements, policy)?;
    Ok(VerifiedQuote { tee: Tee::Tdx, measurements, tcb_status, report_data: td.report_data, verified_at: now_secs })
}

/// Verifies evidence under `policy` at `now_secs`: a TDX quote through [`verify_quote`]; dev
/// evidence only when `policy.allow_dev` (else `dev_not_allowed`), with its measurements still
/// checked against the allowlist and `tee: Dev` in the result.
pub fn verify_evidence(evidence: &Evidence, policy: &Policy, now_secs: u64) -> Result<VerifiedQuote, AttestError> {
    match evidence {
        Evidence::Tdx { quote, collateral, .. } => verify_quote(quote, collateral, policy, now_secs),
        Evidence::Dev { report_data, measurements, .. } => {
            if !policy.allow_dev {
                return Err(AttestError::DevNotAllowed);
            }
            check_measurements(measurements, policy)?;
            Ok(VerifiedQuote {
                tee: Tee::Dev,
                measurements: *measurements,
                tcb_status: TcbStatus::UpToDate,
                report_data: *report_data,
                verified_at: now_secs,
            })
        }
    }
}

fn check_tcb(status: TcbStatus, policy: &Policy) -> Result<(), AttestError> {
    if policy.accepted_tcb_statuses.contains(&status) {
        return Ok(());
    }
    Err(AttestError::TcbOutOfDate { status, accepted: policy.accepted_tcb_statuses.clone() })
}

fn check_measurements(measured: &Measurements, policy: &Policy) -> Result<(), AttestError> {
    if policy.allowed_measurements.contains(measured) {
        return Ok(());
    }
    Err(AttestError::MeasurementsNotAllowed { measured: Box::new(*measured) })
}

/// Maps a dcap-qvl error chain to our error: expiry of collateral is told apart from the rest.
fn classify(reason: &str, now: u64) -> AttestError {
    // dcap-qvl-webpki formats its errors with Debug: `CrlExpired { time: UnixTime(..),
    // next_update: UnixTime(N) }`.
    if reason.contains("CrlExpired") {
        let next_update =
            reason.split("next_update: UnixTime(").nth(1).and_then(|rest| rest.split(')').next()).and_then(|n| n.parse().ok()).unwrap_or(0);
        return AttestError::CollateralExpired { what: "crl", next_update, now };
    }
    for (needle, what) in [("TCBInfo expired", "tcb_info"), ("QE Identity expired", "qe_identity")] {
        if reason.contains(needle) {
            return AttestError::CollateralExpired { what, next_update: 0, now };
        }
    }
    AttestError::invalid(reason)
}
