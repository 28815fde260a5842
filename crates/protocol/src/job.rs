//! What a worker leases: a [`Job`], with the facts about its execution in [`JobContext`].

use crate::capability::Capability;
use crate::limits::Limits;
use serde::{Deserialize, Serialize};

/// Who asked for an execution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

impl ExecutionKind {
    /// The currency of this kind's attached deposit and refunds: yoctoNEAR on chain, micro-USD
    /// otherwise.
    pub fn currency(self) -> Currency {
        match self {
            ExecutionKind::Near => Currency::YoctoNear,
            ExecutionKind::Https | ExecutionKind::Local => Currency::UsdMicro,
        }
    }
}

/// The currency of an attached deposit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Currency {
    /// yoctoNEAR (on-chain requests).
    YoctoNear,
    /// micro-USD (HTTPS calls).
    UsdMicro,
}

/// The project an execution belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRef {
    /// Owner account.
    pub owner: String,
    /// Project name.
    pub name: String,
    /// Stable project id (UUID on the HTTPS path, `owner/name` on chain).
    pub id: String,
}

/// NEAR transaction facts exposed to v0.1 guests as environment variables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NearFacts {
    /// `NEAR_SENDER_ID`.
    pub sender_id: Option<String>,
    /// `NEAR_PREDECESSOR_ID`.
    pub predecessor_id: Option<String>,
    /// `NEAR_CONTRACT_ID`.
    pub contract_id: Option<String>,
    /// `NEAR_RECEIPT_ID`.
    pub receipt_id: Option<String>,
    /// `NEAR_SIGNER_PUBLIC_KEY`.
    pub signer_public_key: Option<String>,
    /// `NEAR_GAS_BURNT`.
    pub gas_burnt: Option<u64>,
    /// `NEAR_TRANSACTION_HASH`.
    pub transaction_hash: Option<String>,
}

/// Facts about one execution: who asked, for which project, on which network. The guest sees
/// them through `outlayer:context` (and v0.1 guests as environment variables).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobContext {
    /// Request id (`NEAR_REQUEST_ID` / `OUTLAYER_REQUEST_ID`).
    pub request_id: String,
    /// Who asked.
    pub kind: ExecutionKind,
    /// NEAR network id (`mainnet`, `testnet`, ...).
    pub network: String,
    /// The paying account (payment-key owner, or the signer on chain).
    pub caller: Option<String>,
    /// The project, if the execution belongs to one.
    pub project: Option<ProjectRef>,
    /// Block of the request (on chain).
    pub block_height: Option<u64>,
    /// Timestamp of that block, ns (on chain).
    pub block_timestamp_ns: Option<u64>,
    /// NEAR-only facts.
    pub near: NearFacts,
    /// The HTTPS call id.
    pub call_id: Option<String>,
}

/// A leased job (`POST /workers/lease` → 200).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Job {
    /// Call id (the coordinator's, or the on-chain request id).
    pub call_id: String,
    /// Lease to quote in heartbeat / complete.
    pub lease_id: String,
    /// When the lease expires unless heartbeated (unix ms).
    pub lease_expires_at_ms: i64,
    /// Wasm to run (`GET /wasm/{sha256}`).
    pub wasm_sha256: String,
    /// The guest's input (stdin, or `run`'s argument): JSON text on the HTTPS path.
    pub input: String,
    /// Resource limits.
    pub limits: Limits,
    /// Largest output the receiver of the result accepts; the guest's stdout is capped to it.
    pub max_output_bytes: u64,
    /// Capabilities granted (deny by default).
    pub grants: Vec<Capability>,
    /// Hosts the `http` capability may reach (the project's setting: `api.example.com`,
    /// `*.example.org`, optional `:port`, `http://` prefix to allow plain http); used only when
    /// `grants` has `http`. Absent on the wire from older coordinators: empty.
    #[serde(default)]
    pub http_allowlist: Vec<String>,
    /// Deposit handed to the guest, refundable through the payment capability, in the currency
    /// of `context.kind` (a decimal string on the wire).
    #[serde(with = "crate::u128_str")]
    pub attached_deposit: u128,
    /// Who, what, where.
    pub context: JobContext,
    /// How the worker proves to the keystore that this job is its own, to get the project's
    /// storage key and the job's secrets: the coordinator's signed ticket (HTTPS) or the
    /// on-chain request. `None`: no keystore keys (no secrets; storage under the worker's own
    /// key, dev only).
    #[serde(default)]
    pub keys: Option<crate::secrets::JobProof>,
    /// The source applies the guest's storage writes together with the result: they travel in
    /// the [`crate::Completion`] and take effect only if it is accepted. `false` (the on-chain
    /// path, a coordinator without guest storage): the worker commits them to its own store
    /// under [`Job::commit_id`] before reporting.
    #[serde(default)]
    pub settles_writes: bool,
}

impl Job {
    /// The id an execution of this job commits its storage writes under: the same for every
    /// execution of the job, so a second commit applies nothing
    /// ([`outlayer_storage::Committed::Already`]). The call id on the HTTPS path; the network,
    /// contract and request id on the chain path.
    pub fn commit_id(&self) -> String {
        match self.context.kind {
            crate::ExecutionKind::Https => format!("call:{}", self.call_id),
            _ => format!(
                "chain:{}:{}:{}",
                self.context.network,
                self.context.near.contract_id.as_deref().unwrap_or_default(),
                self.context.request_id
            ),
        }
    }
}
