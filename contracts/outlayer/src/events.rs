//! NEP-297 events, standard `outlayer`, version `1.0.0`. Logged as `EVENT_JSON:{...}`.

use near_sdk::json_types::{U64, U128};
use near_sdk::{AccountId, PublicKey, near};

use crate::pricing::Pricing;
use crate::receipt::SignedReceipt;
use crate::secrets::SecretAccessor;
use crate::types::{ResolvedLimits, ResolvedSource, ResponseFormat, SecretsRef};

/// Resources a worker reports (OutLayer v0.1's `resources_used`).
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourcesUsed {
    /// Instructions executed.
    pub instructions: u64,
    /// Wall time, ms.
    pub time_ms: u64,
}

/// Every event the contract emits. The variant name in snake_case is the `event` field.
#[near(event_json(standard = "outlayer"))]
pub enum Event {
    /// A request waits for a worker. The worker watches this event.
    #[event_version("1.0.0")]
    ExecutionRequested {
        /// Request id, the argument of `resolve_execution`.
        request_id: u64,
        /// Hex of the yield's data id.
        data_id: String,
        /// Caller of `request_execution` (predecessor; `NEAR_PREDECESSOR_ID` / `NEAR_SENDER_ID`).
        sender: AccountId,
        /// Signer of the transaction (`NEAR_USER_ACCOUNT_ID`).
        signer: AccountId,
        /// Account receiving refunds.
        payer: AccountId,
        /// The component to run.
        source: ResolvedSource,
        /// Limits to enforce.
        resource_limits: ResolvedLimits,
        /// Input for the guest's stdin.
        input: Option<String>,
        /// Secrets to fetch from the keystore.
        secrets_ref: Option<SecretsRef>,
        /// Output format.
        response_format: ResponseFormat,
        /// Deposit attached (yoctoNEAR).
        attached: U128,
        /// Developer payment reserved (yoctoNEAR), `NEAR_PAYMENT_YOCTO` for the guest.
        developer_payment: U128,
        /// OutLayer v0.1's `compile_only`: build the `GitHub` source, run nothing, answer
        /// `{"wasm_sha256", "compile_time_ms"}` (`resource_limits` are then all zero).
        compile_only: bool,
        /// OutLayer v0.1's `force_rebuild`: the builder rebuilds even a cached build.
        force_rebuild: bool,
        /// Block height of the request.
        block_height: u64,
        /// Block timestamp of the request, ns.
        block_timestamp: U64,
    },
    /// A worker resolved a request (logged by `resolve_execution`; `execution_completed` follows
    /// from the yield callback, in the request's own transaction).
    #[event_version("1.0.0")]
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
    /// A request was settled (resolved, failed or timed out).
    #[event_version("1.0.0")]
    ExecutionCompleted {
        /// Request id.
        request_id: u64,
        /// Whether the execution succeeded.
        success: bool,
        /// True when no worker resolved the request before the yield timed out.
        timed_out: bool,
        /// Error message on failure.
        error: Option<String>,
        /// Account refunded.
        payer: AccountId,
        /// Instructions consumed.
        instructions_used: u64,
        /// Wall time used, ms.
        time_ms: u64,
        /// Charged (yoctoNEAR).
        cost: U128,
        /// Refunded to the payer (yoctoNEAR).
        refund: U128,
        /// Credited to the project owner (yoctoNEAR).
        developer_earnings: U128,
        /// Size of the output in bytes.
        output_bytes: u64,
        /// The worker key that resolved it.
        worker_public_key: Option<PublicKey>,
    },
    /// A stale request was cancelled and fully refunded.
    #[event_version("1.0.0")]
    ExecutionCancelled {
        /// Request id.
        request_id: u64,
        /// Account refunded.
        payer: AccountId,
        /// Refund (yoctoNEAR).
        refund: U128,
    },
    /// A project was created.
    #[event_version("1.0.0")]
    ProjectCreated {
        /// `owner/name`.
        project_id: String,
        /// Project owner.
        owner: AccountId,
    },
    /// A version was added to a project.
    #[event_version("1.0.0")]
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
    #[event_version("1.0.0")]
    ActiveVersionSet {
        /// `owner/name`.
        project_id: String,
        /// Component sha256.
        wasm_sha256: String,
    },
    /// A project's http allowlist was replaced (empty: cleared).
    #[event_version("1.0.0")]
    ProjectHttpAllowlistSet {
        /// `owner/name`.
        project_id: String,
        /// The hosts now allowed, as stored.
        hosts: Vec<String>,
    },
    /// Encrypted secrets were stored or replaced.
    #[event_version("1.0.0")]
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
    #[event_version("1.0.0")]
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
    #[event_version("1.0.0")]
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
    #[event_version("1.0.0")]
    DeveloperEarningsWithdrawn {
        /// Developer.
        account_id: AccountId,
        /// Amount (yoctoNEAR).
        amount: U128,
    },
    /// The owner withdrew collected fees.
    #[event_version("1.0.0")]
    PlatformFeesWithdrawn {
        /// Receiver.
        receiver: AccountId,
        /// Amount (yoctoNEAR).
        amount: U128,
    },
    /// A worker key may now resolve requests.
    #[event_version("1.0.0")]
    WorkerKeyAdded {
        /// The key.
        public_key: PublicKey,
    },
    /// A worker key was removed.
    #[event_version("1.0.0")]
    WorkerKeyRemoved {
        /// The key.
        public_key: PublicKey,
    },
    /// New requests are refused.
    #[event_version("1.0.0")]
    Paused {
        /// Who paused.
        by: AccountId,
    },
    /// New requests are accepted again.
    #[event_version("1.0.0")]
    Unpaused {
        /// Who unpaused.
        by: AccountId,
    },
    /// Prices changed.
    #[event_version("1.0.0")]
    PricingUpdated {
        /// The new prices.
        pricing: Pricing,
    },
    /// Ownership moved.
    #[event_version("1.0.0")]
    OwnerChanged {
        /// Previous owner.
        old_owner: AccountId,
        /// New owner.
        new_owner: AccountId,
    },
}
