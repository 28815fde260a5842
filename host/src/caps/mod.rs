//! Capabilities: one module per capability, each with its grant (what the caller allowed and
//! with which backend), its per-execution state, the host implementation of every published
//! version of its WIT interfaces, and `add_to_linker`.
//!
//! Deny by default: an execution's state is built only from its [`Grants`]. An interface that
//! was not granted still links (so any guest instantiates), but every call returns the
//! interface's `denied` error (v0.1: the error string `"denied: <capability> not granted"`).

pub mod context;
pub mod payment;
pub mod rpc;
pub mod secrets;
pub mod storage;
pub mod vrf;

use crate::state::ExecState;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;
use std::time::Instant;
use wasmtime::component::Linker;

/// A capability that can be granted to an execution. `context` is always available.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    Storage,
    Secrets,
    Rpc,
    Payment,
    Vrf,
}

impl Capability {
    /// Every grantable capability.
    pub const ALL: [Capability; 5] = [Self::Storage, Self::Secrets, Self::Rpc, Self::Payment, Self::Vrf];

    /// The lowercase name used on the command line and in APIs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Storage => "storage",
            Self::Secrets => "secrets",
            Self::Rpc => "rpc",
            Self::Payment => "payment",
            Self::Vrf => "vrf",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown capability name.
#[derive(Debug, thiserror::Error)]
#[error("unknown capability {0:?} (expected one of storage, secrets, rpc, payment, vrf)")]
pub struct UnknownCapability(pub String);

impl FromStr for Capability {
    type Err = UnknownCapability;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|c| c.name() == s).ok_or_else(|| UnknownCapability(s.to_string()))
    }
}

/// What an execution is allowed to use, each with its backend. `None` = denied.
#[derive(Clone, Default)]
pub struct Grants {
    pub storage: Option<storage::StorageGrant>,
    pub secrets: Option<secrets::SecretsGrant>,
    pub rpc: Option<rpc::RpcGrant>,
    pub payment: Option<payment::PaymentGrant>,
    pub vrf: Option<vrf::VrfGrant>,
}

impl Grants {
    /// The capabilities granted.
    pub fn granted(&self) -> Vec<Capability> {
        let mut v = Vec::new();
        if self.storage.is_some() {
            v.push(Capability::Storage);
        }
        if self.secrets.is_some() {
            v.push(Capability::Secrets);
        }
        if self.rpc.is_some() {
            v.push(Capability::Rpc);
        }
        if self.payment.is_some() {
            v.push(Capability::Payment);
        }
        if self.vrf.is_some() {
            v.push(Capability::Vrf);
        }
        v
    }
}

/// Host calls of one capability in one execution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CallStats {
    /// Calls that reached the backend (or were answered from state).
    pub calls: u32,
    /// Calls refused because the capability was not granted.
    pub denied: u32,
    /// Calls refused because the per-execution budget was used up.
    pub over_budget: u32,
}

/// Per-execution bookkeeping shared by every capability: a call budget and the deadline that
/// bounds each host call (epoch interruption cannot stop a guest blocked in the host).
#[derive(Debug)]
pub struct CallGuard {
    pub stats: CallStats,
    max_calls: u32,
    deadline: Instant,
}

/// Why a guarded call did not go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Denied,
    OverBudget,
}

impl CallGuard {
    /// A guard allowing `max_calls` calls until `deadline`.
    pub fn new(max_calls: u32, deadline: Instant) -> Self {
        Self { stats: CallStats::default(), max_calls, deadline }
    }

    /// Count a call; refuse it when not granted or over budget.
    pub fn admit(&mut self, granted: bool) -> Result<(), Refusal> {
        if !granted {
            self.stats.denied += 1;
            return Err(Refusal::Denied);
        }
        if self.stats.calls >= self.max_calls {
            self.stats.over_budget += 1;
            return Err(Refusal::OverBudget);
        }
        self.stats.calls += 1;
        Ok(())
    }

    /// Run a backend future, giving up at the execution's deadline.
    pub async fn bounded<F: std::future::Future>(&self, fut: F) -> Option<F::Output> {
        tokio::time::timeout_at(self.deadline.into(), fut).await.ok()
    }
}

/// Host-call statistics of an execution, per capability.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HostCalls {
    pub storage: CallStats,
    pub secrets: CallStats,
    pub rpc: CallStats,
    pub payment: CallStats,
    pub vrf: CallStats,
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
        all.into_iter().filter(|(_, s)| s.denied > 0).map(|(c, _)| c).collect()
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
        }
    }
}

/// Link every capability interface, all versions, into `linker`.
pub fn add_to_linker(linker: &mut Linker<ExecState>) -> wasmtime::Result<()> {
    context::add_to_linker(linker)?;
    storage::add_to_linker(linker)?;
    secrets::add_to_linker(linker)?;
    rpc::add_to_linker(linker)?;
    payment::add_to_linker(linker)?;
    vrf::add_to_linker(linker)?;
    // `outlayer:guest/types` has no functions, only the run-error type.
    crate::bindings::outlayer::guest::types::add_to_linker::<ExecState, wasmtime::component::HasSelf<ExecState>>(linker, |s| s)?;
    Ok(())
}

impl crate::bindings::outlayer::guest::types::Host for ExecState {}

/// The v0.1 error string for a refused call.
pub(crate) fn v01_refusal(cap: Capability, r: Refusal) -> String {
    match r {
        Refusal::Denied => format!("denied: {cap} not granted to this execution"),
        Refusal::OverBudget => format!("limit exceeded: too many {cap} calls in this execution"),
    }
}
