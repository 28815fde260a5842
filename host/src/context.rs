//! What the host knows about an execution: who asked, for which project, on which network.
//!
//! The same facts reach typed guests through `outlayer:context` and v0.1 guests through the
//! environment variables listed in `shared/compat/outlayer-v0.1-abi.md`.

use crate::limits::Limits;
use serde::{Deserialize, Serialize};

/// Who asked for the execution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionKind {
    /// A NEAR contract, answered through yield/resume.
    Near,
    /// An HTTPS call with a payment key.
    Https,
    /// A local run or a test.
    #[default]
    Local,
}

/// The project an execution belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRef {
    pub owner: String,
    pub name: String,
    /// Stable project id (uuid).
    pub id: String,
}

/// Facts about one execution. Built by the caller of the runtime (CLI, worker).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecutionContext {
    pub request_id: String,
    pub kind: ExecutionKind,
    /// `mainnet`, `testnet`, ...
    pub network: String,
    /// Account (or payment-key owner) that asked.
    pub caller: Option<String>,
    pub project: Option<ProjectRef>,
    pub block_height: Option<u64>,
    pub block_timestamp_ns: Option<u64>,
    /// NEAR-only facts passed through to v0.1 environment variables.
    pub near: NearFacts,
    /// HTTPS-only: the call id.
    pub call_id: Option<String>,
}

/// NEAR transaction facts exposed to v0.1 guests as environment variables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NearFacts {
    pub sender_id: Option<String>,
    pub predecessor_id: Option<String>,
    pub contract_id: Option<String>,
    pub receipt_id: Option<String>,
    pub signer_public_key: Option<String>,
    pub gas_burnt: Option<u64>,
    pub transaction_hash: Option<String>,
}

impl ExecutionContext {
    /// The storage namespace of this execution: the project, else the component's hash.
    pub fn storage_namespace(&self, wasm_hash: &str) -> String {
        match &self.project {
            Some(p) => format!("project:{}", p.id),
            None => format!("wasm:{wasm_hash}"),
        }
    }

    /// The v0.1 environment variables (every name is always present; absent values are empty).
    pub fn v01_env(&self, limits: &Limits, payment: Option<&crate::caps::payment::PaymentGrant>, rpc_granted: bool) -> Vec<(String, String)> {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        let n = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_default();
        let kind = match self.kind {
            ExecutionKind::Near => "NEAR",
            ExecutionKind::Https => "HTTPS",
            ExecutionKind::Local => "",
        };
        let (yocto, usd) = match payment {
            Some(p) if p.currency == crate::caps::payment::Currency::YoctoNear => (p.attached.to_string(), String::new()),
            Some(p) => (String::new(), p.attached.to_string()),
            None => (String::new(), String::new()),
        };
        let project = self.project.clone().unwrap_or_default();
        let project_id = if self.project.is_some() { format!("{}/{}", project.owner, project.name) } else { String::new() };
        let caller = s(&self.caller);
        let vars = [
            ("NEAR_NETWORK_ID", self.network.clone()),
            ("OUTLAYER_EXECUTION_TYPE", kind.to_string()),
            ("NEAR_SENDER_ID", s(&self.near.sender_id).or_default(&caller)),
            ("NEAR_USER_ACCOUNT_ID", caller.clone()),
            ("NEAR_PREDECESSOR_ID", s(&self.near.predecessor_id)),
            ("NEAR_CONTRACT_ID", s(&self.near.contract_id)),
            ("NEAR_BLOCK_HEIGHT", n(self.block_height)),
            ("NEAR_BLOCK_TIMESTAMP", n(self.block_timestamp_ns)),
            ("NEAR_RECEIPT_ID", s(&self.near.receipt_id)),
            ("NEAR_SIGNER_PUBLIC_KEY", s(&self.near.signer_public_key)),
            ("NEAR_GAS_BURNT", n(self.near.gas_burnt)),
            ("NEAR_TRANSACTION_HASH", s(&self.near.transaction_hash)),
            ("NEAR_REQUEST_ID", self.request_id.clone()),
            ("OUTLAYER_REQUEST_ID", self.request_id.clone()),
            ("NEAR_PAYMENT_YOCTO", yocto),
            ("ATTACHED_USD", usd.clone()),
            ("USD_PAYMENT", usd),
            ("OUTLAYER_CALL_ID", s(&self.call_id)),
            ("NEAR_MAX_INSTRUCTIONS", limits.max_instructions.to_string()),
            ("NEAR_MAX_MEMORY_MB", (limits.max_memory_bytes >> 20).to_string()),
            ("NEAR_MAX_EXECUTION_SECONDS", limits.max_wall.as_secs().to_string()),
            ("OUTLAYER_PROJECT_ID", project_id),
            ("OUTLAYER_PROJECT_OWNER", project.owner),
            ("OUTLAYER_PROJECT_NAME", project.name),
            ("OUTLAYER_PROJECT_UUID", project.id),
            ("NEAR_RPC_PROXY_AVAILABLE", if rpc_granted { "1".into() } else { String::new() }),
        ];
        vars.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

/// The names a secret may never overwrite.
pub fn is_reserved_env(name: &str) -> bool {
    name.starts_with("NEAR_")
        || name.starts_with("OUTLAYER_")
        || matches!(name, "ATTACHED_USD" | "USD_PAYMENT")
}

trait OrDefault {
    fn or_default(self, other: &str) -> String;
}

impl OrDefault for String {
    fn or_default(self, other: &str) -> String {
        if self.is_empty() { other.to_string() } else { self }
    }
}
