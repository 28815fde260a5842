//! The one place an execution's [`Grants`] are built: from the capabilities it was granted and
//! the [`Backends`] the binary configured.
//!
//! Every caller (CLI, worker, conformance) calls [`Grants::build`]; none fills [`Grants`] by
//! hand. A capability that is granted but has no backend configured is an error *at build
//! time* ([`GrantError::NoBackend`]): the operator's configuration is wrong, and the execution
//! does not run with a capability silently missing. A capability that is *not granted* is the
//! guest's business: it still links, and every call returns that interface's `denied` error.

use super::http::{Allowlist, AllowlistError, HttpGrant};
use super::payment::PaymentGrant;
use super::rpc::RpcGrant;
use super::secrets::SecretsGrant;
use super::storage::StorageGrant;
use super::vrf::VrfGrant;
use outlayer_attest::vrf::VrfSecretKey;
use outlayer_protocol::capability::Capability;
use outlayer_storage::StorageBackend;
use std::net::SocketAddr;
use std::sync::Arc;

/// What the binary can grant from: one backend per capability, `None` where none is configured.
/// Payment has no backend: its amounts come with each execution (see [`Grants::build`]).
#[derive(Clone, Default)]
pub struct Backends {
    /// Guest storage (any [`StorageBackend`]; each grant gets the default scope quota).
    pub storage: Option<Arc<dyn StorageBackend>>,
    /// NEAR JSON-RPC endpoint for the rpc capability.
    pub rpc_url: Option<String>,
    /// The ECVRF key that proves vrf outputs (the keystore's, or a worker's own).
    pub vrf_key: Option<Arc<VrfSecretKey>>,
    /// The decrypted secrets an execution may read (an empty map is a valid store).
    pub secrets: Option<SecretsGrant>,
    /// **Test-only escape hatch**: loopback `ip:port`s that granted http may reach although the
    /// SSRF rules refuse every non-public address (`outlayer run
    /// --http-admit-loopback-for-tests`). Production configurations leave it empty; a guest
    /// cannot set it. Http itself needs no backend: it is always served.
    pub http_test_admit: Vec<SocketAddr>,
}

impl Backends {
    /// Whether a grant of `capability` can be served. Payment always can.
    pub fn serves(&self, capability: Capability) -> bool {
        match capability {
            Capability::Storage => self.storage.is_some(),
            Capability::Secrets => self.secrets.is_some(),
            Capability::Rpc => self.rpc_url.is_some(),
            Capability::Payment => true,
            Capability::Vrf => self.vrf_key.is_some(),
            Capability::Http => true,
        }
    }
}

/// Why grants could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// The capability was granted, but this host has no backend configured for it.
    #[error("{capability} is granted but this host has no {capability} backend configured")]
    NoBackend { capability: Capability },
    /// An entry of the http allowlist could not be parsed.
    #[error(transparent)]
    HttpAllowlist(#[from] AllowlistError),
}

/// What an execution is allowed to use, each with its backend. `None` = not granted (calls
/// return `denied`). Build with [`Grants::build`]; [`Grants::default`] grants nothing.
#[derive(Clone, Default)]
pub struct Grants {
    pub storage: Option<StorageGrant>,
    pub secrets: Option<SecretsGrant>,
    pub rpc: Option<RpcGrant>,
    pub payment: Option<PaymentGrant>,
    pub vrf: Option<VrfGrant>,
    pub http: Option<HttpGrant>,
}

impl Grants {
    /// The grants of an execution allowed `granted` (duplicates are harmless), drawing each
    /// from `backends`. `payment` (currency, attached deposit, budget) is used only when
    /// [`Capability::Payment`] is granted. Fails, naming the first such capability, when a
    /// granted capability has no backend.
    pub fn build(granted: &[Capability], backends: &Backends, payment: PaymentGrant) -> Result<Self, GrantError> {
        let mut grants = Grants::default();
        for &capability in granted {
            let missing = GrantError::NoBackend { capability };
            match capability {
                Capability::Storage => {
                    grants.storage = Some(StorageGrant::new(backends.storage.clone().ok_or(missing)?));
                }
                Capability::Secrets => grants.secrets = Some(backends.secrets.clone().ok_or(missing)?),
                Capability::Rpc => grants.rpc = Some(RpcGrant::new(backends.rpc_url.as_deref().ok_or(missing)?)),
                Capability::Payment => grants.payment = Some(payment.clone()),
                Capability::Vrf => grants.vrf = Some(VrfGrant { key: backends.vrf_key.clone().ok_or(missing)? }),
                Capability::Http => {
                    grants.http = Some(HttpGrant { allowlist: Arc::default(), test_admit: backends.http_test_admit.clone().into() })
                }
            }
        }
        Ok(grants)
    }

    /// The hosts granted http may reach (the project's allowlist, see
    /// [`crate::caps::http::allowlist`]); without it a granted http reaches no host. Ignored when
    /// http is not granted. Fails on the first entry that does not parse.
    pub fn allow_http<S: AsRef<str>>(mut self, hosts: &[S]) -> Result<Self, GrantError> {
        let allowlist = Allowlist::parse(hosts)?;
        if let Some(http) = &mut self.http {
            http.allowlist = Arc::new(allowlist);
        }
        Ok(self)
    }

    /// The capabilities granted, in [`Capability::ALL`] order.
    pub fn granted(&self) -> Vec<Capability> {
        Capability::ALL
            .into_iter()
            .filter(|c| match c {
                Capability::Storage => self.storage.is_some(),
                Capability::Secrets => self.secrets.is_some(),
                Capability::Rpc => self.rpc.is_some(),
                Capability::Payment => self.payment.is_some(),
                Capability::Vrf => self.vrf.is_some(),
                Capability::Http => self.http.is_some(),
            })
            .collect()
    }
}
