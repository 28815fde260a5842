//! NEP-297 events, standard [`EVENT_STANDARD`] (`near-outlayer`, OutLayer v0.1's), version
//! [`EVENT_VERSION`]. Logged as `EVENT_JSON:{"standard":"near-outlayer","version":"1.0.0",
//! "event":"<name>","data":[{...}]}` — `data` is a one-element array, as OutLayer logs it.

use near_sdk::json_types::U128;
use near_sdk::serde_json;
use near_sdk::{AccountId, PublicKey, env, near};

use crate::pricing::Pricing;
use crate::projects::ProjectGrants;
use crate::receipt::SignedReceipt;
use crate::secrets::SecretAccessor;
use crate::types::{ExecutionSource, ResourcesUsed};

/// The NEP-297 `standard` of every event (OutLayer v0.1's).
pub const EVENT_STANDARD: &str = "near-outlayer";
/// The NEP-297 `version` of every event.
pub const EVENT_VERSION: &str = "1.0.0";

/// Every event the contract emits. The variant name in snake_case is the `event` field.
#[near(serializers = [json])]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum Event {
    /// A request waits for a worker (OutLayer v0.1's fields).
    ExecutionRequested {
        /// The request as a JSON *string*: `request_id, sender_id, predecessor_id, code_source,
        /// resource_limits, input_data ("" when in state), input_data_in_state, secrets_ref,
        /// response_format, payment, attached_usd, timestamp, compile_only, force_rebuild,
        /// store_on_fastfs, use_bound_identity, project_uuid, project_id`, plus ours:
        /// `signer_id, payer_account_id, wasm_url, wasm_sha256, developer_payment, block_height`.
        request_data: String,
        /// The yield's data id, resumed by `resolve_execution` (32 numbers).
        data_id: near_sdk::CryptoHash,
        /// Block timestamp of the request, ns.
        timestamp: u64,
    },
    /// A worker resolved a request (logged by `resolve_execution`; `execution_completed` follows
    /// from the yield callback, in the request's own transaction).
    ExecutionResolved {
        /// Request id.
        request_id: u64,
        /// Whether the worker reports success.
        success: bool,
        /// Error message of a failure (at most 512 bytes).
        error_message: Option<String>,
        /// What the worker reports it used (what is charged).
        resources_used: ResourcesUsed,
        /// The key that signed the resolution (a registered worker key).
        worker_public_key: PublicKey,
        /// The worker's signed receipt (checked by the contract), if it sent one.
        receipt: Option<SignedReceipt>,
    },
    /// A request was settled (resolved, failed or timed out). OutLayer v0.1's fields first,
    /// then ours.
    ExecutionCompleted {
        /// Caller of `request_execution`.
        sender_id: AccountId,
        /// The source as the caller gave it.
        code_source: Option<ExecutionSource>,
        /// What the worker reported it used (zero on a timeout).
        resources_used: ResourcesUsed,
        /// Whether the execution succeeded.
        success: bool,
        /// Error message on failure.
        error_message: Option<String>,
        /// Charged (yoctoNEAR).
        payment_charged: U128,
        /// Refunded to the payer (yoctoNEAR).
        payment_refunded: U128,
        /// The build's note, if the worker sent one.
        compilation_note: Option<String>,
        /// Block timestamp of the settlement, ns.
        timestamp: u64,
        /// Request id.
        request_id: u64,
        /// True when no worker resolved the request before the yield timed out.
        timed_out: bool,
        /// Account refunded.
        payer_account_id: AccountId,
        /// Credited to the project owner (yoctoNEAR).
        developer_earnings: U128,
        /// Size of the output in bytes.
        output_bytes: u64,
        /// The worker key that resolved it.
        worker_public_key: Option<PublicKey>,
    },
    /// A stale request was cancelled and fully refunded.
    ExecutionCancelled {
        /// Request id.
        request_id: u64,
        /// Account refunded.
        payer: AccountId,
        /// Refund (yoctoNEAR).
        refund: U128,
    },
    /// A project was created.
    ProjectCreated {
        /// `owner/name`.
        project_id: String,
        /// Project owner.
        owner: AccountId,
    },
    /// A version was added to a project.
    VersionAdded {
        /// `owner/name`.
        project_id: String,
        /// Component sha256.
        wasm_sha256: String,
        /// Component URL.
        source_url: String,
        /// Whether it became the active version.
        active: bool,
    },
    /// The active version of a project changed.
    ActiveVersionSet {
        /// `owner/name`.
        project_id: String,
        /// Component sha256.
        wasm_sha256: String,
    },
    /// A project's http allowlist was replaced (empty: cleared).
    ProjectHttpAllowlistSet {
        /// `owner/name`.
        project_id: String,
        /// The hosts now allowed, as stored.
        hosts: Vec<String>,
    },
    /// A project's grants (storage, rpc, vrf) were replaced.
    ProjectGrantsSet {
        /// `owner/name`.
        project_id: String,
        /// The grants now given to the project's guests by on-chain workers.
        grants: ProjectGrants,
    },
    /// Encrypted secrets were stored or replaced.
    SecretsStored {
        /// Owner.
        owner: AccountId,
        /// Which code may read them.
        accessor: SecretAccessor,
        /// Profile name.
        profile: String,
        /// Storage deposit held (yoctoNEAR).
        storage_deposit: U128,
    },
    /// Encrypted secrets were deleted and their deposit refunded.
    SecretsDeleted {
        /// Owner.
        owner: AccountId,
        /// Which code could read them.
        accessor: SecretAccessor,
        /// Profile name.
        profile: String,
        /// Refunded deposit (yoctoNEAR).
        refund: U128,
    },
    /// A payment key for the HTTPS path was topped up. The coordinator reads this event.
    PaymentKeyToppedUp {
        /// Owner of the payment key.
        owner: AccountId,
        /// Key nonce.
        nonce: u32,
        /// Amount added (yoctoNEAR).
        amount: U128,
        /// Total deposited on this key (yoctoNEAR).
        balance: U128,
        /// Account that paid.
        payer: AccountId,
    },
    /// A developer withdrew earnings.
    DeveloperEarningsWithdrawn {
        /// Developer.
        account_id: AccountId,
        /// Amount (yoctoNEAR).
        amount: U128,
    },
    /// The owner withdrew collected fees.
    PlatformFeesWithdrawn {
        /// Receiver.
        receiver: AccountId,
        /// Amount (yoctoNEAR).
        amount: U128,
    },
    /// A worker key may now resolve requests.
    WorkerKeyAdded {
        /// The key.
        public_key: PublicKey,
    },
    /// A worker key was removed.
    WorkerKeyRemoved {
        /// The key.
        public_key: PublicKey,
    },
    /// New requests are refused.
    Paused {
        /// Who paused.
        by: AccountId,
    },
    /// New requests are accepted again.
    Unpaused {
        /// Who unpaused.
        by: AccountId,
    },
    /// Prices changed.
    PricingUpdated {
        /// The new prices.
        pricing: Pricing,
    },
    /// The payment rate (micro-USD credited per NEAR deposited on a payment key) changed.
    PaymentRateSet {
        /// micro-USD per 1 NEAR (0: not set).
        micro_usd_per_near: U128,
    },
    /// Ownership moved.
    OwnerChanged {
        /// Previous owner.
        old_owner: AccountId,
        /// New owner.
        new_owner: AccountId,
    },
}

impl Event {
    /// Logs the event as `EVENT_JSON:{"standard":"near-outlayer","version":"1.0.0","event":..,"data":[{..}]}`.
    pub fn emit(&self) {
        env::log_str(&self.to_log());
    }

    /// The log line [`Event::emit`] writes.
    pub fn to_log(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_else(|_| env::panic_str("Event does not serialize"));
        let event = value["event"].take();
        let data = value["data"].take();
        let line = serde_json::json!({ "standard": EVENT_STANDARD, "version": EVENT_VERSION, "event": event, "data": [data] });
        format!("EVENT_JSON:{line}")
    }
}
