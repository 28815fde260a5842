//! The reference host: `outlayer-host`'s [`Runtime`] in this process.

use crate::host::{ConformanceHost, HostFailure};
use crate::wire::{CaseRequest, CaseResult, GrantsSpec, SeedScope, StorageSpec};
use ed25519_dalek::SigningKey;
use outlayer_host::caps::payment::PaymentGrant;
use outlayer_host::caps::rpc::RpcGrant;
use outlayer_host::caps::storage::{ANONYMOUS_CALLER, StorageGrant};
use outlayer_host::caps::vrf::VrfGrant;
use outlayer_host::engine::EngineSettings;
use outlayer_host::{ExecutionRequest, Grants, Runtime, RuntimeConfig};
use outlayer_storage::{MemoryStorage, Scope, StorageBackend};
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
        let config = RuntimeConfig {
            cache_dir: None,
            engine: EngineSettings {
                max_concurrent: MAX_CONCURRENT_EXECUTIONS,
            },
        };
        Ok(Self::with_runtime(Runtime::new(config)?))
    }

    /// A host around an existing runtime (the worker's own, when serving [`crate::server`]).
    pub fn with_runtime(runtime: Runtime) -> Self {
        Self {
            runtime,
            stores: Mutex::new(Stores::default()),
        }
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
    async fn seed(
        &self,
        spec: &StorageSpec,
        request: &CaseRequest,
        backend: &MemoryStorage,
    ) -> Result<(), HostFailure> {
        let namespace = request
            .context
            .storage_namespace(&outlayer_host::cache::sha256_hex(&request.wasm));
        for entry in &spec.seed {
            let scope = match entry.scope {
                SeedScope::Caller => Scope::caller(
                    &namespace,
                    request
                        .context
                        .caller
                        .as_deref()
                        .unwrap_or(ANONYMOUS_CALLER),
                ),
                SeedScope::Component => Scope::component(&namespace),
            };
            backend
                .set(&scope, &entry.key, &entry.bytes(), false)
                .await
                .map_err(|e| HostFailure::Refused(format!("cannot seed {}: {e}", entry.key)))?;
        }
        Ok(())
    }

    async fn grants(
        &self,
        spec: &GrantsSpec,
        request: &CaseRequest,
    ) -> Result<Grants, HostFailure> {
        let storage = match &spec.storage {
            Some(s) => {
                let backend = self.store(&s.store);
                self.seed(s, request, &backend).await?;
                let backend: Arc<dyn StorageBackend> = backend;
                Some(StorageGrant::new(backend))
            }
            None => None,
        };
        let payment = match &spec.payment {
            Some(p) => {
                let amount = |name: &str, v: &str| {
                    v.parse::<u128>().map_err(|_| {
                        HostFailure::Refused(format!(
                            "payment {name} {v:?} is not a decimal integer"
                        ))
                    })
                };
                Some(PaymentGrant {
                    currency: p.currency,
                    attached: amount("attached", &p.attached)?,
                    budget: amount("budget", &p.budget)?,
                })
            }
            None => None,
        };
        let vrf = match &spec.vrf {
            Some(v) => {
                let seed: [u8; 32] = hex::decode(&v.key_seed_hex)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| {
                        HostFailure::Refused("vrf key_seed_hex must be 32 bytes of hex".into())
                    })?;
                Some(VrfGrant {
                    key: Arc::new(SigningKey::from_bytes(&seed)),
                })
            }
            None => None,
        };
        Ok(Grants {
            storage,
            secrets: spec.secrets.clone().map(Arc::new),
            rpc: spec.rpc.as_ref().map(|r| RpcGrant::new(&r.url)),
            payment,
            vrf,
        })
    }
}

#[async_trait::async_trait]
impl ConformanceHost for InProcessHost {
    fn name(&self) -> String {
        "in-process".into()
    }

    async fn run(&self, request: &CaseRequest) -> Result<CaseResult, HostFailure> {
        let grants = self.grants(&request.grants, request).await?;
        let exec = ExecutionRequest {
            input: request.input.clone(),
            limits: request.limits.clone(),
            grants,
            context: request.context.clone(),
        };
        let report = self
            .runtime
            .run(&request.wasm, exec)
            .await
            .map_err(|e| HostFailure::Refused(e.to_string()))?;
        let json = serde_json::to_value(&report)
            .map_err(|e| HostFailure::Refused(format!("report is not JSON: {e}")))?;
        Ok(CaseResult {
            report: json,
            output: report.output,
            stderr: report.stderr,
        })
    }
}
