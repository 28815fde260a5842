//! # OutLayer main contract
//!
//! Verifiable off-chain computation for NEAR smart contracts. A caller asks for a WebAssembly
//! execution with [`Contract::request_execution`]; the contract reserves an estimate of the cost
//! from the attached deposit, creates a NEAR *yield* and emits an `execution_requested` event.
//! An attested worker (a key registered by the `outlayer-register` contract after TDX quote
//! verification) runs the component and calls [`Contract::resolve_execution`], which resumes the
//! yield. The callback [`Contract::on_execution_resolved`] settles the payment, refunds the rest
//! to the payer, credits the project developer, emits `execution_completed` and returns the
//! output to the original caller (OutLayer v0.1: `Bytes` as base64, `Text` as a string, `Json`
//! as the value; `null` on failure).
//!
//! The wire format is OutLayer v0.1's (`request_execution`'s argument names and shapes, the
//! worker's `ExecutionResponse`, events of the standard `near-outlayer`), so a contract written
//! for OutLayer calls this one unchanged.
//!
//! The contract also keeps projects and their versions, encrypted secrets with access
//! conditions, payment-key top-ups for the HTTPS path and the admin settings.
//!
//! A request from a test (the same steps as the unit tests in `src/tests/requests.rs`; not compiled as a
//! doctest: in a `cargo test --workspace` build rustdoc links two near-sdk builds with the
//! unit-testing feature, whose mocked host functions then collide at link time):
//!
//! ```ignore
//! use outlayer_contract::{Contract, ExecutionSource, ResourceLimits};
//! use near_sdk::{test_utils::VMContextBuilder, testing_env, NearToken};
//!
//! let mut context = VMContextBuilder::new();
//! context.predecessor_account_id("alice.near".parse().unwrap());
//! context.attached_deposit(NearToken::from_near(1));
//! testing_env!(context.build());
//! let mut contract = Contract::new("owner.near".parse().unwrap());
//! contract.request_execution(
//!     ExecutionSource::WasmUrl { url: "https://example.com/a.wasm".into(), hash: "ab".repeat(32), build_target: None },
//!     Some(ResourceLimits { max_instructions: Some(1_000_000), ..Default::default() }),
//!     Some("{\"n\":1}".into()), None, None, None, None,
//! );
//! assert!(contract.get_request(0).is_some());
//! ```

mod admin;
mod events;
mod execution;
pub mod github;
mod limits;
mod migrate;
mod payments;
mod pricing;
mod projects;
pub mod receipt;
mod resolution;
mod secrets;
mod storage;
mod types;
mod views;

#[cfg(test)]
mod tests;

use near_sdk::store::{IterableMap, IterableSet, LookupMap};
use near_sdk::{AccountId, BorshStorageKey, NearToken, PanicOnDefault, PublicKey, env, near};

pub use events::{EVENT_STANDARD, EVENT_VERSION, Event};
pub use limits::*;
pub use pricing::Pricing;
pub use projects::{Project, ProjectGrants, ProjectVersion};
pub use receipt::SignedReceipt;
pub use secrets::{AccessCondition, SecretAccessor, StoredSecrets};
pub use types::*;
pub use views::ConfigView;

/// Current layout of [`Contract`]; bump it (and add a migration) when the state changes shape.
/// Version 2 added [`Contract::project_http_allowlists`]; version 3 added
/// [`Contract::request_data`], [`Contract::project_grants`] and [`Contract::payment_rate`]
/// (`migrate` upgrades a version 1 or 2 state).
pub const STATE_VERSION: u32 = 3;

/// Prefixes of the contract's collections. Never reorder: the borsh index is the on-chain prefix.
#[near(serializers = [borsh])]
#[derive(BorshStorageKey)]
pub enum StorageKey {
    /// [`Contract::worker_keys`].
    WorkerKeys,
    /// [`Contract::requests`].
    Requests,
    /// [`Contract::large_outputs`].
    LargeOutputs,
    /// [`Contract::projects`].
    Projects,
    /// [`Contract::secrets`].
    Secrets,
    /// [`Contract::secrets_by_owner`].
    SecretsByOwner,
    /// [`Contract::developer_earnings`].
    DeveloperEarnings,
    /// [`Contract::payment_keys`].
    PaymentKeys,
    /// [`Contract::project_http_allowlists`] (state version 2).
    ProjectHttpAllowlists,
    /// [`Contract::request_data`] (state version 3).
    RequestData,
    /// [`Contract::project_grants`] (state version 3).
    ProjectGrants,
}

/// The OutLayer contract state.
#[near(contract_state)]
#[derive(PanicOnDefault)]
pub struct Contract {
    /// Layout version of this state, see [`STATE_VERSION`].
    pub(crate) state_version: u32,
    /// Account allowed to change settings, pricing and worker keys.
    pub(crate) owner_id: AccountId,
    /// The `outlayer-register` contract, allowed to add and remove worker keys.
    pub(crate) register_account: Option<AccountId>,
    /// Besides this contract's own account, the account whose worker keys may resolve requests.
    pub(crate) worker_account: Option<AccountId>,
    /// While true, new requests, projects and secrets are refused; pending requests still settle.
    pub(crate) paused: bool,
    /// Prices used for estimates and settlement.
    pub(crate) pricing: Pricing,
    /// After this many nanoseconds a pending request may be cancelled with a full refund.
    pub(crate) stale_timeout_ns: u64,
    /// Public keys of attested workers.
    pub(crate) worker_keys: IterableSet<PublicKey>,
    /// Id of the next request.
    pub(crate) next_request_id: u64,
    /// Requests waiting for a worker.
    pub(crate) requests: IterableMap<u64, PendingRequest>,
    /// Outputs too large for the 1024-byte resume payload, keyed by request id until settled.
    pub(crate) large_outputs: LookupMap<u64, Vec<u8>>,
    /// Projects by id (`owner/name`).
    pub(crate) projects: IterableMap<String, Project>,
    /// Encrypted secrets by [`secrets::secret_key`].
    pub(crate) secrets: LookupMap<String, StoredSecrets>,
    /// Secret keys owned by each account, for listing.
    pub(crate) secrets_by_owner: LookupMap<AccountId, Vec<String>>,
    /// Developer payments waiting to be withdrawn.
    pub(crate) developer_earnings: LookupMap<AccountId, NearToken>,
    /// Balances of HTTPS payment keys by `owner:nonce`.
    pub(crate) payment_keys: LookupMap<String, NearToken>,
    /// Execution fees collected and not yet withdrawn by the owner.
    pub(crate) platform_fees: NearToken,
    /// Non-empty http allowlists by project id (`owner/name`), kept apart from [`Project`] so
    /// the project records stored by version 1 keep their layout.
    pub(crate) project_http_allowlists: LookupMap<String, Vec<String>>,
    /// Each pending request's source as given, input and params, by request id (removed with
    /// the request), kept apart from [`PendingRequest`] so its stored layout is unchanged.
    pub(crate) request_data: LookupMap<u64, RequestData>,
    /// Non-default grants by project id (`owner/name`), kept apart from [`Project`].
    pub(crate) project_grants: LookupMap<String, ProjectGrants>,
    /// micro-USD credited per 1 NEAR deposited on a payment key, and the rate `attached_usd` is
    /// reserved at (0: not set).
    pub(crate) payment_rate: u128,
}

#[near]
impl Contract {
    /// Creates the contract with default pricing and limits.
    #[init]
    pub fn new(owner_id: AccountId) -> Self {
        Self {
            state_version: STATE_VERSION,
            owner_id,
            register_account: None,
            worker_account: None,
            paused: false,
            pricing: Pricing::default(),
            stale_timeout_ns: DEFAULT_STALE_TIMEOUT_SECS * 1_000_000_000,
            worker_keys: IterableSet::new(StorageKey::WorkerKeys),
            next_request_id: 0,
            requests: IterableMap::new(StorageKey::Requests),
            large_outputs: LookupMap::new(StorageKey::LargeOutputs),
            projects: IterableMap::new(StorageKey::Projects),
            secrets: LookupMap::new(StorageKey::Secrets),
            secrets_by_owner: LookupMap::new(StorageKey::SecretsByOwner),
            developer_earnings: LookupMap::new(StorageKey::DeveloperEarnings),
            payment_keys: LookupMap::new(StorageKey::PaymentKeys),
            platform_fees: NearToken::from_yoctonear(0),
            project_http_allowlists: LookupMap::new(StorageKey::ProjectHttpAllowlists),
            request_data: LookupMap::new(StorageKey::RequestData),
            project_grants: LookupMap::new(StorageKey::ProjectGrants),
            payment_rate: 0,
        }
    }
}

impl Contract {
    /// Panics unless the predecessor is the owner.
    pub(crate) fn assert_owner(&self) {
        if env::predecessor_account_id() != self.owner_id {
            env::panic_str("Only the owner can call this method");
        }
    }

    /// Panics while the contract is paused.
    pub(crate) fn assert_not_paused(&self) {
        if self.paused {
            env::panic_str("Contract is paused");
        }
    }
}
