//! Quote providers (cargo feature `providers`): how a worker obtains [`Evidence`] for the
//! `report_data` it wants signed.
//!
//! - [`QuoteProvider`] is called once per attestation with the 64 bytes of
//!   [`report_data`](crate::report_data) and returns evidence for them.
//! - [`ConfigfsTsm`] (Linux ≥ 6.7 configfs-tsm, `provider` = `tdx_guest`) and [`DstackAgent`]
//!   (dstack / tappd guest agent over its unix socket) return [`Evidence::Tdx`]; [`DevProvider`]
//!   returns [`Evidence::Dev`] (not a TEE).
//! - A TDX quote needs collateral to be verified offline. Fetching it from Intel PCS / a PCCS is
//!   a network call, so it is not done here: a [`CollateralSource`] supplies it, and the only
//!   implementation, [`FileCollateral`], reads dcap-qvl's `QuoteCollateralV3` JSON from a file the
//!   operator refreshes (before its `nextUpdate`, or verification fails `collateral_expired`).

mod configfs;
#[cfg(unix)]
mod dstack;

use std::path::PathBuf;

pub use configfs::{ConfigfsTsm, DEFAULT_TSM_REPORT_ROOT, MAX_GENERATION_ATTEMPTS, TDX_PROVIDER};
#[cfg(unix)]
pub use dstack::{AgentApi, DEFAULT_DSTACK_SOCKET, DEFAULT_TAPPD_SOCKET, DstackAgent, MAX_AGENT_RESPONSE_BYTES};

use crate::collateral::QuoteCollateralV3;
use crate::evidence::Evidence;
use crate::measurements::Measurements;

/// Why a provider could not produce evidence.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// A file or socket operation failed; `what` names the path or step.
    #[error("{what}: {source}")]
    Io {
        /// The path or step that failed.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// configfs-tsm reports a provider other than the expected one (e.g. `sev_guest`).
    #[error("configfs-tsm provider is {found:?}, expected {expected:?}")]
    WrongProvider {
        /// The expected provider.
        expected: String,
        /// What `provider` holds.
        found: String,
    },
    /// Another writer changed the report entry between our `inblob` write and `outblob` read on
    /// every attempt (the `generation` check of the configfs-tsm ABI).
    #[error("configfs-tsm report entry was written concurrently on all {attempts} attempts")]
    Conflict {
        /// How many attempts were made.
        attempts: u32,
    },
    /// The quote does not carry the report data that was asked for.
    #[error("quote report_data is {found}, asked for {expected}")]
    ReportDataMismatch {
        /// Hex of the requested report data.
        expected: String,
        /// Hex of the quote's report data.
        found: String,
    },
    /// The guest agent answered with an error status.
    #[error("guest agent returned HTTP {status}: {body}")]
    Agent {
        /// HTTP status code.
        status: u16,
        /// Response body (truncated).
        body: String,
    },
    /// The output of the kernel or agent could not be understood.
    #[error("bad provider response: {0}")]
    BadResponse(String),
    /// The collateral source failed.
    #[error("collateral: {0}")]
    Collateral(String),
}

impl ProviderError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}

/// Produces attestation evidence for 64 bytes of report data.
pub trait QuoteProvider {
    /// Called once per attestation (worker start, key rotation, a verifier's challenge) with the
    /// exact bytes the TEE must sign; returns evidence whose report data equals them.
    fn evidence(&self, report_data: [u8; 64]) -> Result<Evidence, ProviderError>;
}

/// Supplies the collateral for a TDX quote (offline: no network access here).
pub trait CollateralSource {
    /// Called after each quote is generated, with the raw quote (its FMSPC selects the
    /// collateral); returns dcap-qvl's `QuoteCollateralV3`.
    fn collateral(&self, quote: &[u8]) -> Result<QuoteCollateralV3, ProviderError>;
}

/// Collateral from a dcap-qvl `QuoteCollateralV3` JSON file, re-read on every call so an
/// operator can refresh the file without a restart.
#[derive(Clone, Debug)]
pub struct FileCollateral {
    /// The JSON file.
    pub path: PathBuf,
}

impl FileCollateral {
    /// Collateral read from `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

impl CollateralSource for FileCollateral {
    fn collateral(&self, _quote: &[u8]) -> Result<QuoteCollateralV3, ProviderError> {
        let json = std::fs::read_to_string(&self.path).map_err(ProviderError::io(self.path.display().to_string()))?;
        crate::parse_collateral(&json).map_err(|e| ProviderError::Collateral(e.to_string()))
    }
}

/// Dev mode: evidence that is **not a TEE**, claiming `measurements`. Only a policy with
/// `allow_dev = true` accepts it, and the verified result says `Tee::Dev`.
#[derive(Clone, Debug)]
pub struct DevProvider {
    /// The measurements the dev evidence claims.
    pub measurements: Measurements,
}

impl QuoteProvider for DevProvider {
    fn evidence(&self, report_data: [u8; 64]) -> Result<Evidence, ProviderError> {
        Ok(Evidence::dev(report_data, self.measurements))
    }
}

/// The report data inside a raw TDX quote (v4: TD report body after the 48-byte header; v5:
/// after the header and the 6-byte body descriptor), or `None` for another layout.
pub(crate) fn quote_report_data(quote: &[u8]) -> Option<&[u8]> {
    let version = u16::from_le_bytes([*quote.first()?, *quote.get(1)?]);
    let body = match version {
        4 => 48,
        5 => 54,
        _ => return None,
    };
    quote.get(body + 520..body + 584)
}

/// Refuses a quote whose report data is not `expected` (when the layout is known).
pub(crate) fn check_quote_report_data(quote: &[u8], expected: &[u8; 64]) -> Result<(), ProviderError> {
    match quote_report_data(quote) {
        Some(found) if found == expected => Ok(()),
        Some(found) => Err(ProviderError::ReportDataMismatch { expected: hex::encode(expected), found: hex::encode(found) }),
        None => Err(ProviderError::BadResponse(format!("not a TDX v4/v5 quote ({} bytes)", quote.len()))),
    }
}
