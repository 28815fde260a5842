//! What the host knows about an execution: who asked, for which project, on which network.
//!
//! The same facts reach typed guests through `outlayer:context` and v0.1 guests through the
//! environment variables listed in `shared/compat/outlayer-v0.1-abi.md`.

use crate::limits::Limits;
use outlayer_storage::Scope;

pub use outlayer_protocol::job::{ExecutionKind, NearFacts, ProjectRef};

/// Facts about one execution (one type with the wire model's job context). Built by the caller of
/// the runtime (CLI, worker).
pub type ExecutionContext = outlayer_protocol::JobContext;

/// The storage home of an execution: the component-owned scope of its project, else of its
/// component's hash. The caller's scope is the same namespace with the caller as owner
/// ([`Scope::with_owner`]).
pub fn storage_home(context: &ExecutionContext, wasm_hash: &str) -> Scope {
    match &context.project {
        Some(p) => Scope::project_component(&p.id),
        None => Scope::wasm_component(wasm_hash),
    }
}

/// The v0.1 environment variables of an execution (every name is always present; absent values
/// are empty).
pub fn v01_env(
    context: &ExecutionContext,
    limits: &Limits,
    payment: Option<&crate::caps::payment::PaymentGrant>,
    rpc_granted: bool,
) -> Vec<(String, String)> {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    let n = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_default();
    let kind = match context.kind {
        ExecutionKind::Near => "NEAR",
        ExecutionKind::Https => "HTTPS",
        ExecutionKind::Local => "",
    };
    let (yocto, usd) = match payment {
        Some(p) if p.currency == crate::caps::payment::Currency::YoctoNear => (p.attached.to_string(), String::new()),
        Some(p) => (String::new(), p.attached.to_string()),
        None => (String::new(), String::new()),
    };
    let project = context.project.clone().unwrap_or_default();
    let project_id = if context.project.is_some() { format!("{}/{}", project.owner, project.name) } else { String::new() };
    let caller = s(&context.caller);
    let vars = [
        ("NEAR_NETWORK_ID", context.network.clone()),
        ("OUTLAYER_EXECUTION_TYPE", kind.to_string()),
        ("NEAR_SENDER_ID", s(&context.near.sender_id).or_default(&caller)),
        ("NEAR_USER_ACCOUNT_ID", caller.clone()),
        ("NEAR_PREDECESSOR_ID", s(&context.near.predecessor_id)),
        ("NEAR_CONTRACT_ID", s(&context.near.contract_id)),
        ("NEAR_BLOCK_HEIGHT", n(context.block_height)),
        ("NEAR_BLOCK_TIMESTAMP", n(context.block_timestamp_ns)),
        ("NEAR_RECEIPT_ID", s(&context.near.receipt_id)),
        ("NEAR_SIGNER_PUBLIC_KEY", s(&context.near.signer_public_key)),
        ("NEAR_GAS_BURNT", n(context.near.gas_burnt)),
        ("NEAR_TRANSACTION_HASH", s(&context.near.transaction_hash)),
        ("NEAR_REQUEST_ID", context.request_id.clone()),
        ("OUTLAYER_REQUEST_ID", context.request_id.clone()),
        ("NEAR_PAYMENT_YOCTO", yocto),
        ("ATTACHED_USD", usd.clone()),
        ("USD_PAYMENT", usd),
        ("OUTLAYER_CALL_ID", s(&context.call_id)),
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

/// The names a secret may never overwrite.
pub fn is_reserved_env(name: &str) -> bool {
    name.starts_with("NEAR_") || name.starts_with("OUTLAYER_") || matches!(name, "ATTACHED_USD" | "USD_PAYMENT")
}

trait OrDefault {
    fn or_default(self, other: &str) -> String;
}

impl OrDefault for String {
    fn or_default(self, other: &str) -> String {
        if self.is_empty() { other.to_string() } else { self }
    }
}
