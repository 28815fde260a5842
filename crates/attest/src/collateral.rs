//! Collateral: parsing dcap-qvl's `QuoteCollateralV3` JSON and reading its validity window, so
//! expired collateral is told apart from an invalid quote.

pub use dcap_qvl::QuoteCollateralV3;
use serde::Deserialize;

use crate::error::AttestError;

/// Parses collateral in dcap-qvl's JSON form (its `sample/` files, PCCS helpers).
pub fn parse_collateral(json: &str) -> Result<QuoteCollateralV3, AttestError> {
    serde_json::from_str(json).map_err(|e| AttestError::invalid(format!("collateral JSON: {e}")))
}

/// When the signed parts of a collateral stop being valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CollateralWindow {
    /// `nextUpdate` of the TCB info (unix seconds).
    pub tcb_info_next_update: u64,
    /// `nextUpdate` of the QE identity (unix seconds).
    pub qe_identity_next_update: u64,
}

impl CollateralWindow {
    /// Reads the window from the collateral's TCB info and QE identity JSON (the CRLs' own
    /// `nextUpdate` is checked by dcap-qvl and reported as `CrlExpired`).
    pub fn of(collateral: &QuoteCollateralV3) -> Result<Self, AttestError> {
        Ok(Self {
            tcb_info_next_update: next_update(&collateral.tcb_info, "tcb_info")?,
            qe_identity_next_update: next_update(&collateral.qe_identity, "qe_identity")?,
        })
    }

    /// `Err(CollateralExpired)` when `now_secs` is past either `nextUpdate`.
    pub fn check(&self, now_secs: u64) -> Result<(), AttestError> {
        for (what, next_update) in [("tcb_info", self.tcb_info_next_update), ("qe_identity", self.qe_identity_next_update)] {
            if now_secs > next_update {
                return Err(AttestError::CollateralExpired { what, next_update, now: now_secs });
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct Dates {
    #[serde(rename = "nextUpdate")]
    next_update: String,
}

fn next_update(signed_json: &str, what: &str) -> Result<u64, AttestError> {
    let dates: Dates = serde_json::from_str(signed_json).map_err(|e| AttestError::invalid(format!("collateral {what}: {e}")))?;
    parse_rfc3339_utc(&dates.next_update).ok_or_else(|| AttestError::invalid(format!("collateral {what}: bad date {}", dates.next_update)))
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (the form Intel's collateral uses) to unix seconds.
pub(crate) fn parse_rfc3339_utc(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !s.ends_with('Z') {
        return None;
    }
    let num = |r: core::ops::Range<usize>| s.get(r)?.parse::<u64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 || y < 1970 {
        return None;
    }
    // Days from civil (Howard Hinnant), for years >= 1970.
    let (y, mo) = (y as i64, mo as i64);
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as u64 * 86_400 + h * 3600 + mi * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::parse_rfc3339_utc;

    #[test]
    fn parses_intel_dates() {
        assert_eq!(parse_rfc3339_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_utc("2025-07-01T00:00:00Z"), Some(1_751_328_000));
        assert_eq!(parse_rfc3339_utc("2024-02-29T12:34:56.789Z"), Some(1_709_210_096));
        assert_eq!(parse_rfc3339_utc("2025-07-01T00:00:00+02:00"), None);
        assert_eq!(parse_rfc3339_utc("not a date"), None);
    }
}
