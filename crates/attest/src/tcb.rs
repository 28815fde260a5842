//! TCB status: dcap-qvl's [`TcbStatus`] enum, re-exported so callers name one type.

pub use dcap_qvl::tcb_info::TcbStatus;

use crate::error::AttestError;

/// The statuses accepted by default: only `UpToDate`. Anything else (`OutOfDate`,
/// `SWHardeningNeeded`, `ConfigurationNeeded`, ...) means the platform needs patching or
/// configuring before it may hold keys.
pub const DEFAULT_ACCEPTED_TCB_STATUSES: [TcbStatus; 1] = [TcbStatus::UpToDate];

/// Parses the status string dcap-qvl's `VerifiedReport` carries (`"UpToDate"`, ...).
pub(crate) fn parse_status(status: &str) -> Result<TcbStatus, AttestError> {
    use serde::Deserialize;
    use serde::de::IntoDeserializer;
    let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> = status.into_deserializer();
    TcbStatus::deserialize(de).map_err(|_| AttestError::invalid(format!("unknown TCB status {status}")))
}
