//! Capabilities: one module per capability, each with its grant (what the caller allowed and
//! with which backend), its per-execution state, the host implementation of every published
//! version of its WIT interfaces, and `add_to_linker`.
//!
//! Every capability module has the same shape and is generic over the store:
//! `add_to_linker<T>(linker, f: fn(&mut T) -> &mut XCap)` (the `crates/wasi-config` shape of
//! wasmtime), so no capability module knows the host's store type; [`crate::state`] wires them
//! to `ExecState` with closures. Shared pieces (call budget, deadline, refusals) are in
//! [`guard`]; grants are built in one place, [`grants`].
//!
//! Deny by default: an execution's state is built only from its [`Grants`]. An interface that
//! was not granted still links (so any guest instantiates), but every call returns the
//! interface's `denied` error (v0.1: the error string `"denied: <capability> not granted"`).

pub mod context;
pub mod grants;
pub mod guard;
pub mod http;
pub mod payment;
pub mod rpc;
pub mod secrets;
pub mod storage;
pub mod vrf;

use serde::Serialize;

pub use grants::{Backends, GrantError, Grants};
pub use guard::{CallGuard, CallStats, Refusal};
pub use outlayer_protocol::capability::{Capability, UnknownCapability};

/// Host-call statistics of an execution, per capability.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HostCalls {
    pub storage: CallStats,
    pub secrets: CallStats,
    pub rpc: CallStats,
    pub payment: CallStats,
    pub vrf: CallStats,
    /// Outbound HTTP: requests, refusals (listed by host), failures, bytes.
    pub http: http::HttpStats,
}

impl HostCalls {
    /// Capabilities the guest asked for but was denied.
    pub fn denied(&self) -> Vec<Capability> {
        let all = [
            (Capability::Storage, self.storage),
            (Capability::Secrets, self.secrets),
            (Capability::Rpc, self.rpc),
            (Capability::Payment, self.payment),
            (Capability::Vrf, self.vrf),
        ];
        let mut denied: Vec<Capability> = all.into_iter().filter(|(_, s)| s.denied > 0).map(|(c, _)| c).collect();
        if self.http.denied > 0 {
            denied.push(Capability::Http);
        }
        denied
    }
}

/// The capability states of one execution.
pub struct Capabilities {
    pub context: context::ContextCap,
    pub storage: storage::StorageCap,
    pub secrets: secrets::SecretsCap,
    pub rpc: rpc::RpcCap,
    pub payment: payment::PaymentCap,
    pub vrf: vrf::VrfCap,
    pub http: http::HttpCap,
}

impl Capabilities {
    /// Statistics of every capability.
    pub fn host_calls(&self) -> HostCalls {
        HostCalls {
            storage: self.storage.guard.stats,
            secrets: self.secrets.guard.stats,
            rpc: self.rpc.guard.stats,
            payment: self.payment.guard.stats,
            vrf: self.vrf.guard.stats,
            http: self.http.stats(),
        }
    }
}
