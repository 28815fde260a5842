//! [`Policy`]: what a verifier accepts.

use serde::{Deserialize, Serialize};

use crate::measurements::Allowlist;
use crate::tcb::{DEFAULT_ACCEPTED_TCB_STATUSES, TcbStatus};

/// What a verifier accepts. `Policy::default()` accepts nothing but `UpToDate` TDX quotes with
/// measurements in an (empty) allowlist, so every caller must fill `allowed_measurements`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// The allowed MRTD/RTMR0–3 sets (also applied to dev evidence).
    pub allowed_measurements: Allowlist,
    /// TCB statuses accepted; default only `UpToDate`.
    #[serde(default = "default_statuses")]
    pub accepted_tcb_statuses: Vec<TcbStatus>,
    /// Whether dev evidence (not a TEE) is accepted; default false.
    #[serde(default)]
    pub allow_dev: bool,
}

fn default_statuses() -> Vec<TcbStatus> {
    DEFAULT_ACCEPTED_TCB_STATUSES.to_vec()
}

impl Default for Policy {
    fn default() -> Self {
        Self { allowed_measurements: Allowlist::default(), accepted_tcb_statuses: default_statuses(), allow_dev: false }
    }
}

impl Policy {
    /// The default policy (TDX only, `UpToDate` only) with these allowed measurements.
    pub fn new(allowed_measurements: impl Into<Allowlist>) -> Self {
        Self { allowed_measurements: allowed_measurements.into(), ..Self::default() }
    }
}
