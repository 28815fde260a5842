//! Where a worker gets the attestation evidence it registers with: the [`QuoteSource`] chosen by
//! the operator, turned into one of `outlayer-attest`'s quote providers.

use std::path::PathBuf;

use outlayer_attest::Evidence;
use outlayer_attest::providers::{ConfigfsTsm, DevProvider, FileCollateral, QuoteProvider};
use outlayer_protocol::DEV_MEASUREMENTS;

/// Which quote provider proves this worker's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuoteSource {
    /// Linux configfs-tsm inside a TDX guest; the collateral (dcap-qvl `QuoteCollateralV3` JSON)
    /// is read from `collateral`, refreshed by the operator before its `nextUpdate`.
    Configfs {
        /// The collateral file (required).
        collateral: Option<PathBuf>,
    },
    /// The dstack / tappd guest agent over its unix socket; collateral as for configfs.
    Dstack {
        /// The collateral file (required).
        collateral: Option<PathBuf>,
    },
    /// Dev evidence: **not a TEE**, claiming [`DEV_MEASUREMENTS`]. Only a coordinator started
    /// with dev attestation allowed accepts it.
    Dev,
}

impl Default for QuoteSource {
    fn default() -> Self {
        Self::Configfs { collateral: None }
    }
}

/// Why evidence could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// configfs and dstack quotes need a collateral file.
    #[error("a {0} quote needs --collateral FILE (dcap-qvl QuoteCollateralV3 JSON)")]
    NoCollateral(&'static str),
    /// The provider failed.
    #[error("quote provider: {0}")]
    Provider(#[from] outlayer_attest::providers::ProviderError),
    /// The dstack provider exists only on unix.
    #[error("the dstack quote provider is only available on unix")]
    Unsupported,
}

impl QuoteSource {
    /// Evidence for `report_data` (blocking: file and socket I/O; call it off the async threads).
    pub fn evidence(&self, report_data: [u8; 64]) -> Result<Evidence, EvidenceError> {
        match self {
            Self::Configfs { collateral } => {
                let file = collateral.clone().ok_or(EvidenceError::NoCollateral("configfs"))?;
                Ok(ConfigfsTsm::new(FileCollateral::new(file)).evidence(report_data)?)
            }
            #[cfg(unix)]
            Self::Dstack { collateral } => {
                let file = collateral.clone().ok_or(EvidenceError::NoCollateral("dstack"))?;
                Ok(outlayer_attest::providers::DstackAgent::new(FileCollateral::new(file)).evidence(report_data)?)
            }
            #[cfg(not(unix))]
            Self::Dstack { .. } => Err(EvidenceError::Unsupported),
            Self::Dev => Ok(DevProvider { measurements: DEV_MEASUREMENTS }.evidence(report_data)?),
        }
    }
}
