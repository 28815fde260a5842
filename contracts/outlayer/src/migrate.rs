//! State migrations. Deploy the new code, then call `migrate` from the contract's own account
//! (a batch `DeployContract` + `FunctionCall migrate` transaction keeps the two together).
//!
//! - 1 → 2: adds the empty [`Contract::project_http_allowlists`] map; nothing else moves (the
//!   collections keep their prefixes, the project records their layout).
//! - 2 → 3 (and 1 → 3): adds the empty [`Contract::request_data`] and [`Contract::project_grants`]
//!   maps and `payment_rate` 0. Requests made before version 3 have no stored input (it lived
//!   in their event only, which workers no longer read), so the migration refuses to run while
//!   any request is pending: pause, let the pending requests settle (a yield times out in about
//!   200 blocks), deploy and migrate, unpause.

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

/// [`Contract`] as of state version 2.
#[near(serializers = [borsh])]
pub(crate) struct ContractV2 {
    pub(crate) v1: ContractV1,
    pub(crate) project_http_allowlists: LookupMap<String, Vec<String>>,
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
        let old = match version {
            Some(STATE_VERSION) => env::panic_str(&format!("The state is already at version {STATE_VERSION}")),
            Some(1) => ContractV2 {
                v1: near_sdk::borsh::from_slice(&raw).unwrap_or_else(|_| env::panic_str("The state does not decode as version 1")),
                project_http_allowlists: LookupMap::new(StorageKey::ProjectHttpAllowlists),
            },
            Some(2) => near_sdk::borsh::from_slice(&raw).unwrap_or_else(|_| env::panic_str("The state does not decode as version 2")),
            Some(other) => env::panic_str(&format!("Cannot migrate from state version {other}")),
            None => env::panic_str("The contract state is too short to hold a version"),
        };
        if !old.v1.requests.is_empty() {
            env::panic_str(&format!(
                "{} requests are pending: pause, let them settle, then migrate (their input is not in state)",
                old.v1.requests.len()
            ));
        }
        let v1 = old.v1;
        Self {
            state_version: STATE_VERSION,
            owner_id: v1.owner_id,
            register_account: v1.register_account,
            worker_account: v1.worker_account,
            paused: v1.paused,
            pricing: v1.pricing,
            stale_timeout_ns: v1.stale_timeout_ns,
            worker_keys: v1.worker_keys,
            next_request_id: v1.next_request_id,
            requests: v1.requests,
            large_outputs: v1.large_outputs,
            projects: v1.projects,
            secrets: v1.secrets,
            secrets_by_owner: v1.secrets_by_owner,
            developer_earnings: v1.developer_earnings,
            payment_keys: v1.payment_keys,
            platform_fees: v1.platform_fees,
            project_http_allowlists: old.project_http_allowlists,
            request_data: LookupMap::new(StorageKey::RequestData),
            project_grants: LookupMap::new(StorageKey::ProjectGrants),
            payment_rate: 0,
        }
    }
}
