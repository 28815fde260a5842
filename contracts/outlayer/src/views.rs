//! Read-only methods over settings, requests and worker keys (project, secret and payment views
//! live next to their state).

use near_sdk::json_types::U128;
use near_sdk::{AccountId, PublicKey, near};

use crate::limits::*;
use crate::pricing::Pricing;
use crate::types::PendingRequest;
use crate::{Contract, ContractExt};

/// Settings and limits, as returned by `get_config`.
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigView {
    /// State layout version.
    pub state_version: u32,
    /// Owner.
    pub owner_id: AccountId,
    /// Register contract allowed to manage worker keys.
    pub register_account: Option<AccountId>,
    /// Extra account whose worker keys may resolve.
    pub worker_account: Option<AccountId>,
    /// Whether new requests are refused.
    pub paused: bool,
    /// Prices.
    pub pricing: Pricing,
    /// Seconds after which a pending request may be cancelled.
    pub stale_timeout_secs: u64,
    /// Default instruction budget.
    pub default_max_instructions: u64,
    /// Highest instruction budget.
    pub max_instructions_cap: u64,
    /// Default memory, MB.
    pub default_max_memory_mb: u32,
    /// Highest memory, MB.
    pub max_memory_mb_cap: u32,
    /// Default wall time, s.
    pub default_max_execution_seconds: u64,
    /// Highest wall time, s.
    pub max_execution_seconds_cap: u64,
    /// Next request id.
    pub next_request_id: u64,
    /// Collected, unwithdrawn fees (yoctoNEAR).
    pub platform_fees: U128,
    /// micro-USD per NEAR deposited on a payment key, and for `attached_usd` (0: not set).
    pub payment_rate: U128,
}

#[near]
impl Contract {
    /// Settings, prices and limits.
    pub fn get_config(&self) -> ConfigView {
        ConfigView {
            state_version: self.state_version,
            owner_id: self.owner_id.clone(),
            register_account: self.register_account.clone(),
            worker_account: self.worker_account.clone(),
            paused: self.paused,
            pricing: self.pricing.clone(),
            stale_timeout_secs: self.stale_timeout_ns / 1_000_000_000,
            default_max_instructions: DEFAULT_MAX_INSTRUCTIONS,
            max_instructions_cap: MAX_INSTRUCTIONS_CAP,
            default_max_memory_mb: DEFAULT_MAX_MEMORY_MB,
            max_memory_mb_cap: MAX_MEMORY_MB_CAP,
            default_max_execution_seconds: DEFAULT_MAX_EXECUTION_SECONDS,
            max_execution_seconds_cap: MAX_EXECUTION_SECONDS_CAP,
            next_request_id: self.next_request_id,
            platform_fees: U128(self.platform_fees.as_yoctonear()),
            payment_rate: U128(self.payment_rate),
        }
    }

    /// A pending request with its source as given, its params and its input (`input_data`:
    /// where workers read it, whatever its size).
    pub fn get_request(&self, request_id: u64) -> Option<PendingRequest> {
        self.requests.get(&request_id).map(|r| self.request_view(r, true))
    }

    /// Pending requests, oldest first, paginated (for workers catching up), with their source
    /// as given and params; `input_data` is `null` here (read it with `get_request`).
    pub fn list_pending_requests(&self, from_index: Option<u32>, limit: Option<u32>) -> Vec<PendingRequest> {
        self.requests
            .values()
            .skip(from_index.unwrap_or(0) as usize)
            .take(limit.unwrap_or(50).min(100) as usize)
            .map(|r| self.request_view(r, false))
            .collect()
    }

    /// Alias of `list_pending_requests` answering ids only (OutLayer v0.1's view).
    pub fn get_pending_request_ids(&self, from_index: Option<u32>, limit: Option<u32>) -> Vec<u64> {
        self.requests.keys().skip(from_index.unwrap_or(0) as usize).take(limit.unwrap_or(50).min(100) as usize).copied().collect()
    }

    /// All registered worker keys.
    pub fn get_worker_keys(&self) -> Vec<PublicKey> {
        self.worker_keys.iter().cloned().collect()
    }

    /// Whether `public_key` is a registered worker key.
    pub fn is_worker_key(&self, public_key: PublicKey) -> bool {
        self.worker_keys.contains(&public_key)
    }
}

impl Contract {
    fn request_view(&self, request: &PendingRequest, with_input: bool) -> PendingRequest {
        let mut view = request.clone();
        if let Some(data) = self.request_data.get(&request.request_id) {
            view.input_data_in_state = crate::execution::input_in_state(&data.input_data);
            view.code_source = Some(data.code_source.clone());
            view.params = data.params.clone();
            if with_input {
                view.input_data = Some(data.input_data.clone());
            }
        }
        view
    }
}
