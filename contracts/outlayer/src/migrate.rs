//! State migrations. Deploy the new code, then call `migrate` from the contract's own account
//! (a batch `DeployContract` + `FunctionCall migrate` transaction keeps the two together).
//!
//! - 1 → 2: adds the empty [`Contract::project_http_allowlists`] map; nothing else moves (the
//!   collections keep their prefixes, the project records their layout).

use near_sdk::store::{IterableMap, IterableSet, LookupMap};
use near_sdk::{AccountId, NearToken, PublicKey, env, near};

use crate::pricing::Pricing;
use crate::projects::Project;
use crate::secrets::StoredSecrets;
use crate::types::PendingRequest;
use crate::{Contract, ContractExt, STATE_VERSION, StorageKey};

/// The key near-sdk stores the contract's root state under.
const STATE_KEY: &[u8] = b"STATE";

/// [`Contract`] as of state version 1.
#[near(serializers = [borsh])]
pub(crate) struct ContractV1 {
    pub(crate) state_version: u32,
    pub(crate) owner_id: AccountId,
    pub(crate) register_account: Option<AccountId>,
    pub(crate) worker_account: Option<AccountId>,
    pub(crate) paused: bool,
    pub(crate) pricing: Pricing,
    pub(crate) stale_timeout_ns: u64,
    pub(crate) worker_keys: IterableSet<PublicKey>,
    pub(crate) next_request_id: u64,
    pub(crate) requests: IterableMap<u64, PendingRequest>,
    pub(crate) large_outputs: LookupMap<u64, Vec<u8>>,
    pub(crate) projects: IterableMap<String, Project>,
    pub(crate) secrets: LookupMap<String, StoredSecrets>,
    pub(crate) secrets_by_owner: LookupMap<AccountId, Vec<String>>,
    pub(crate) developer_earnings: LookupMap<AccountId, NearToken>,
    pub(crate) payment_keys: LookupMap<String, NearToken>,
    pub(crate) platform_fees: NearToken,
}

#[near]
impl Contract {
    /// Upgrades the stored state to [`STATE_VERSION`] after a code upgrade. Only the contract's
    /// own account may call it; it panics when the state is already current or of an unknown
    /// version.
    #[private]
    #[init(ignore_state)]
    pub fn migrate() -> Self {
        let raw = env::storage_read(STATE_KEY).unwrap_or_else(|| env::panic_str("No contract state to migrate"));
        let version = raw.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        match version {
            Some(STATE_VERSION) => env::panic_str(&format!("The state is already at version {STATE_VERSION}")),
            Some(1) => {}
            Some(other) => env::panic_str(&format!("Cannot migrate from state version {other}")),
            None => env::panic_str("The contract state is too short to hold a version"),
        }
        let old: ContractV1 =
            near_sdk::borsh::from_slice(&raw).unwrap_or_else(|_| env::panic_str("The state does not decode as version 1"));
        Self {
            state_version: STATE_VERSION,
            owner_id: old.owner_id,
            register_account: old.register_account,
            worker_account: old.worker_account,
            paused: old.paused,
            pricing: old.pricing,
            stale_timeout_ns: old.stale_timeout_ns,
            worker_keys: old.worker_keys,
            next_request_id: old.next_request_id,
            requests: old.requests,
            large_outputs: old.large_outputs,
            projects: old.projects,
            secrets: old.secrets,
            secrets_by_owner: old.secrets_by_owner,
            developer_earnings: old.developer_earnings,
            payment_keys: old.payment_keys,
            platform_fees: old.platform_fees,
            project_http_allowlists: LookupMap::new(StorageKey::ProjectHttpAllowlists),
        }
    }
}
