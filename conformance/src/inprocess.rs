//! The reference host: `outlayer-host`'s [`Runtime`] in this process.

use crate::host::{ConformanceHost, HostFailure};
use crate::wire::{CaseRequest, CaseResult, GrantsSpec, SeedScope, StorageSpec};
use outlayer_attest::vrf::VrfSecretKey;
use outlayer_host::caps::Backends;
use outlayer_host::caps::payment::{Currency, PaymentGrant};
use outlayer_host::caps::storage::ANONYMOUS_CALLER;
use outlayer_host::engine::EngineSettings;
use outlayer_host::{Capability, ExecutionRequest, Grants, Runtime, RuntimeConfig};
use outlayer_storage::{MemoryStorage, Quota, StorageBackend};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Executions the in-process host instantiates at once (cases run in parallel).
pub const MAX_CONCURRENT_EXECUTIONS: u32 = 64;

/// Named memory stores kept at once. Defends a long-lived server (every suite run names new
/// stores) against unbounded growth: past this, the oldest store is dropped.
pub const MAX_STORES: usize = 1_000;

/// Runs cases on an [`outlayer_host::Runtime`] without a disk cache, with one in-memory storage
/// backend per store name.
pub struct InProcessHost {
    runtime: Runtime,
    stores: Mutex<Stores>,
}

/// Memory stores by name, oldest first.
#[derive(Default)]
struct Stores {
    by_name: HashMap<String, Arc<MemoryStorage>>,
    order: VecDeque<String>,
}

impl InProcessHost {
    /// A host with a fresh runtime.
    pub fn new() -> Result<Self, outlayer_host::HostError> {
        let config = RuntimeConfig { cache_dir: None, engine: EngineSettings { max_concurrent: MAX_CONCURRENT_EXECUTIONS } };
        Ok(Self::with_runtime(Runtime::new(config)?))
    }

    /// A host around an existing runtime (the worker's own, when serving [`crate::server`]).
    pub fn with_runtime(runtime: Runtime) -> Self {
        Self { runtime, stores: Mutex::new(Stores::default()) }
    }

    fn store(&self, name: &str) -> Arc<MemoryStorage> {
        let mut stores = self.stores.lock().expect("stores lock");
        if let Some(store) = stores.by_name.get(name) {
            return store.clone();
        }
        if stores.order.len() >= MAX_STORES
            && let Some(oldest) = stores.order.pop_front()
        {
            stores.by_name.remove(&oldest);
        }
        let store = Arc::new(MemoryStorage::new());
        stores.by_name.insert(name.to_string(), store.clone());
        stores.order.push_back(name.to_string());
        store
    }

    /// Write the seed entries of `spec` where the guest of `request` will look for them.
    async fn seed(&self, spec: &StorageSpec, request: &CaseRequest, backend: &MemoryStorage) -> Result<(), HostFailure> {
        let home = outlayer_host::context::storage_home(&request.context, &outlayer_host::cache::sha256_hex(&request.wasm));
        for entry in &spec.seed {
            let scope = match entry.scope {
                SeedScope::Caller => home.with_owner(request.context.caller.as_deref().unwrap_or(ANONYMOUS_CALLER)),
                SeedScope::Component => home.clone(),
            };
            backend
                .set(&scope, &entry.key, &entry.bytes(), false, Quota::UNLIMITED)
                .await
                .map_err(|e| HostFailure::Refused(format!("cannot seed {}: {e}", entry.key)))?;
        }
        Ok(())
    }

    /// The case's grants, built like every host builds them ([`Grants::build`]): the spec
    /// names the granted capabilities and configures their backends.
    async fn grants(&self, spec: &GrantsSpec, request: &CaseRequest) -> Result<Grants, HostFailure> {
        let mut granted = Vec::new();
        let mut backends = Backends::default();
        if let Some(s) = &spec.storage {
            let backend = self.store(&s.store);
            self.seed(s, request, &backend).await?;
            let backend: Arc<dyn StorageBackend> = backend;
            backends.storage = Some(backend);
            granted.push(Capability::Storage);
        }
        if let Some(secrets) = &spec.secrets {
            backends.secrets = Some(Arc::new(secrets.clone()));
            granted.push(Capability::Secrets);
        }
        if let Some(r) = &spec.rpc {
            backends.rpc_url = Some(r.url.clone());
            granted.push(Capability::Rpc);
        }
        if let Some(v) = &spec.vrf {
            let seed: [u8; 32] = hex::decode(&v.key_seed_hex)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| HostFailure::Refused("vrf key_seed_hex must be 32 bytes of hex".into()))?;
            backends.vrf_key = Some(Arc::new(VrfSecretKey::from_seed(seed)));
            granted.push(Capability::Vrf);
        }
        // Used only when payment is granted.
        let mut payment = PaymentGrant { currency: Currency::UsdMicro, attached: 0, budget: 0 };
        if let Some(p) = &spec.payment {
            let amount = |name: &str, v: &str| {
                v.parse::<u128>().map_err(|_| HostFailure::Refused(format!("payment {name} {v:?} is not a decimal integer")))
            };
            payment =
                PaymentGrant { currency: p.currency, attached: amount("attached", &p.attached)?, budget: amount("budget", &p.budget)? };
            granted.push(Capability::Payment);
        }
        let mut allow: &[String] = &[];
        if let Some(h) = &spec.http {
            if let Some(bad) = h.admit_loopback_for_tests.iter().find(|a| !a.ip().is_loopback()) {
                return Err(HostFailure::Refused(format!("admit_loopback_for_tests admits loopback addresses only, not {bad}")));
            }
            backends.http_test_admit = h.admit_loopback_for_tests.clone();
            allow = &h.allowlist;
            granted.push(Capability::Http);
        }
        Grants::build(&granted, &backends, payment).and_then(|g| g.allow_http(allow)).map_err(|e| HostFailure::Refused(e.to_string()))
    }
}

#[async_trait::async_trait]
impl ConformanceHost for InProcessHost {
    fn name(&self) -> String {
        "in-process".into()
    }

    async fn run(&self, request: &CaseRequest) -> Result<CaseResult, HostFailure> {
        let grants = self.grants(&request.grants, request).await?;
        let exec =
            ExecutionRequest { input: request.input.clone(), limits: request.limits.clone(), grants, context: request.context.clone() };
        let report = self.runtime.run(&request.wasm, exec).await.map_err(|e| HostFailure::Refused(e.to_string()))?;
        let json = serde_json::to_value(&report).map_err(|e| HostFailure::Refused(format!("report is not JSON: {e}")))?;
        Ok(CaseResult { report: json, output: report.output, stderr: report.stderr })
    }
}
