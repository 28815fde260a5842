//! What the evidence claims, read without trusting it: the measurements and report data of a
//! TDX quote (parsed, not verified — [`super::authenticity`] says whether to believe them), or
//! of dev evidence.

use crate::evidence::Evidence;
use crate::measurements::Measurements;

/// The claims of one piece of evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// MRTD, RTMR0–3.
    pub measurements: Measurements,
    /// The 64 bytes of report data.
    pub report_data: [u8; 64],
}

impl Claims {
    /// Parses the claims; `Err` says why they cannot be read (not a TD quote, truncated...).
    pub fn of(evidence: &Evidence) -> Result<Self, String> {
        match evidence {
            Evidence::Dev { report_data, measurements, .. } => Ok(Self { measurements: *measurements, report_data: *report_data }),
            Evidence::Tdx { quote, .. } => {
                let parsed = dcap_qvl::quote::Quote::parse(quote).map_err(|e| format!("the quote does not parse: {e:#}"))?;
                let td = parsed.report.as_td10().ok_or("the quote is not a TDX quote (no TD report)")?;
                Ok(Self {
                    measurements: Measurements::from_registers(&td.mr_td, [&td.rt_mr0, &td.rt_mr1, &td.rt_mr2, &td.rt_mr3]),
                    report_data: td.report_data,
                })
            }
        }
    }
}
