//! Layer 1, authenticity: is the quote signed by genuine TDX hardware (PCK chain to Intel's
//! root CA, compiled into dcap-qvl — no network), with collateral valid at the time?
//!
//! Checks, in order:
//! 1. `quote format`: the quote parses as a TDX quote.
//! 2. `collateral validity`: [`Options::at`] is within the TCB info's and QE identity's
//!    `nextUpdate` — else UNPROVEN (nothing is wrong with the quote; the collateral is too old
//!    to say at that time).
//! 3. `signature chain`: dcap-qvl over quote + collateral at `at`. When the collateral is
//!    expired at `at`, the chain is still checked at the collateral's last valid second: a
//!    forged quote fails at any time, so a tampered quote is FAIL even with old collateral.
//! 4. `tcb status`: one of [`Options::accepted_tcb_statuses`].
//! 5. `tee`: TDX. Dev evidence is UNPROVEN ("dev attestation: not a TEE") unless
//!    [`Options::allow_dev`], when it is PASS with a note that it is dev.

use super::claims::Claims;
use super::{Check, Layer, Options, Status, fmt_time};
use crate::collateral::{CollateralWindow, QuoteCollateralV3};
use crate::error::AttestError;
use crate::evidence::Evidence;
use crate::policy::Policy;
use crate::tcb::TcbStatus;
use crate::verify::verify_quote;

/// The layer's name.
pub const NAME: &str = "authenticity";

/// Every TCB status dcap-qvl reports: the chain check accepts all, the TCB check judges.
const ALL_TCB_STATUSES: [TcbStatus; 9] = [
    TcbStatus::UpToDate,
    TcbStatus::OutOfDateConfigurationNeeded,
    TcbStatus::OutOfDate,
    TcbStatus::ConfigurationAndSWHardeningNeeded,
    TcbStatus::ConfigurationNeeded,
    TcbStatus::SWHardeningNeeded,
    TcbStatus::Revoked,
    TcbStatus::TDRelaunchAdvised,
    TcbStatus::TDRelaunchAdvisedConfigurationNeeded,
];

/// How often the chain check steps back to an earlier CRL `nextUpdate` when collateral expired.
const MAX_STEPS_BACK: usize = 3;

const CHAIN_EXPECTED: &str = "quote signed by a PCK chain to Intel's root CA; collateral signed, CRLs current";

/// Runs the checks of this layer.
pub fn layer(evidence: &Evidence, claims: &Result<Claims, String>, options: &Options) -> Layer {
    let checks = match evidence {
        Evidence::Dev { note, .. } => vec![dev(note, options.allow_dev)],
        Evidence::Tdx { quote, collateral, .. } => tdx(quote, collateral, claims, options),
    };
    Layer::new(NAME, checks)
}

fn dev(note: &str, allow_dev: bool) -> Check {
    let found = format!("dev ({note})");
    if allow_dev {
        Check::new(
            "tee",
            Status::Pass,
            "tdx, or dev (--allow-dev-attestation)",
            found,
            "dev attestation: not a TEE (accepted because dev was allowed)",
        )
    } else {
        Check::new("tee", Status::Unproven, "tdx", found, "dev attestation: not a TEE")
    }
}

fn tdx(quote: &[u8], collateral: &QuoteCollateralV3, claims: &Result<Claims, String>, options: &Options) -> Vec<Check> {
    let mut checks = Vec::new();
    let claims = match claims {
        Ok(claims) => {
            checks.push(Check::new("quote format", Status::Pass, "a TDX quote", format!("a TDX quote, {} bytes", quote.len()), ""));
            claims
        }
        Err(reason) => {
            checks.push(Check::new("quote format", Status::Fail, "a TDX quote", format!("{} bytes", quote.len()), reason.clone()));
            return checks;
        }
    };

    // 2. collateral window at `at`.
    let window = match CollateralWindow::of(collateral) {
        Ok(window) => window,
        Err(e) => {
            checks.push(Check::new(
                "collateral validity",
                Status::Fail,
                "collateral with readable nextUpdate dates",
                "unreadable",
                e.to_string(),
            ));
            return checks;
        }
    };
    let last_valid = window.tcb_info_next_update.min(window.qe_identity_next_update);
    let expected = format!(
        "verification time <= tcb_info nextUpdate {} and qe_identity nextUpdate {}",
        fmt_time(window.tcb_info_next_update),
        fmt_time(window.qe_identity_next_update)
    );
    let found = format!("verification time {}", fmt_time(options.at));
    let chain_at = match window.check(options.at) {
        Ok(()) => {
            checks.push(Check::new("collateral validity", Status::Pass, expected, found, ""));
            options.at
        }
        Err(e) => {
            let reason = format!(
                "{e}: the collateral cannot vouch for the quote at that time; verify at a time it was valid (--at) or with fresh collateral"
            );
            checks.push(Check::new("collateral validity", Status::Unproven, expected, found, reason));
            last_valid
        }
    };

    // 3. the chain (dcap-qvl), with every TCB status and the quote's own measurements accepted:
    // this layer asks only whether the quote is genuine.
    let probe = Policy {
        allowed_measurements: vec![claims.measurements].into(),
        accepted_tcb_statuses: ALL_TCB_STATUSES.to_vec(),
        allow_dev: false,
    };
    // A CRL may expire before the TCB info: step back to its nextUpdate (a few times at most).
    let mut chain_at = chain_at;
    let mut result = verify_quote(quote, collateral, &probe, chain_at);
    for _ in 0..MAX_STEPS_BACK {
        match &result {
            Err(e @ AttestError::CollateralExpired { next_update, .. }) if *next_update > 0 && *next_update <= chain_at => {
                if chain_at == options.at {
                    checks.push(Check::new(
                        "crl validity",
                        Status::Unproven,
                        format!("verification time <= CRL nextUpdate {}", fmt_time(*next_update)),
                        format!("verification time {}", fmt_time(options.at)),
                        format!("{e}: verify at a time the CRLs were current (--at) or with fresh collateral"),
                    ));
                }
                chain_at = *next_update - 1; // a CRL is expired at its nextUpdate itself
                result = verify_quote(quote, collateral, &probe, chain_at);
            }
            _ => break,
        }
    }
    let at_note = if chain_at == options.at {
        String::new()
    } else {
        format!(" (checked at {}, the collateral's last valid second)", fmt_time(chain_at))
    };
    match result {
        Ok(verified) => {
            checks.push(Check::new(
                "signature chain",
                Status::Pass,
                CHAIN_EXPECTED,
                format!("verified by dcap-qvl{at_note}"),
                at_note.trim().to_owned(),
            ));
            let accepted: Vec<String> = options.accepted_tcb_statuses.iter().map(ToString::to_string).collect();
            let (status, reason) = if options.accepted_tcb_statuses.contains(&verified.tcb_status) {
                (Status::Pass, String::new())
            } else {
                (Status::Fail, "the platform's TCB is not at an accepted level (needs patching or configuring)".to_owned())
            };
            checks.push(Check::new(
                "tcb status",
                status,
                format!("one of {}", accepted.join(", ")),
                verified.tcb_status.to_string(),
                reason,
            ));
            checks.push(Check::new("tee", Status::Pass, "tdx", "tdx", ""));
        }
        Err(e @ AttestError::CollateralExpired { .. }) => {
            checks.push(Check::new("signature chain", Status::Unproven, CHAIN_EXPECTED, format!("not checked{at_note}"), e.to_string()));
        }
        Err(AttestError::NotTdx) => {
            checks.push(Check::new("tee", Status::Fail, "tdx", "not a TDX quote", "the quote is genuine but not from a TDX TD"));
        }
        Err(e) => {
            checks.push(Check::new("signature chain", Status::Fail, CHAIN_EXPECTED, format!("refused{at_note}"), e.to_string()));
        }
    }
    checks
}
