//! # OutLayer worker registration
//!
//! A worker proves it runs the approved OutLayer image inside Intel TDX by calling
//! [`RegisterContract::register_worker_key`] with its ed25519 public key and a TDX quote. The quote
//! must verify with `dcap-qvl` against the collateral the owner stored, at the current block time,
//! with TCB status `UpToDate`, carry one of the approved measurement sets (MRTD, RTMR0–3), and
//! bind the key: `report_data[0..32]` is the raw 32-byte ed25519 public key.
//!
//! On success the key is recorded and handed to the main contract:
//! * if the main contract is this account, a function-call access key limited to
//!   `resolve_execution` is added to it directly;
//! * otherwise the contract calls `add_worker_key(public_key)` on the main contract (which must
//!   list this account as its register account) and that contract adds the access key to
//!   itself.
//!
//! Either way a `worker_key_registered` event is emitted.

mod admin;
mod events;
mod views;
mod workers;

#[cfg(test)]
mod tests;

use near_sdk::store::{IterableMap, Vector};
use near_sdk::{AccountId, BorshStorageKey, PanicOnDefault, PublicKey, env, near};
use outlayer_contracts_common::Measurements;

pub use events::Event;
pub use workers::WorkerRecord;

/// Current layout of [`RegisterContract`].
pub const STATE_VERSION: u32 = 1;

/// Methods a worker's function-call access key may call on the main contract.
pub const WORKER_KEY_METHODS: &str = "resolve_execution";

/// Prefixes of the contract's collections. Never reorder.
#[near(serializers = [borsh])]
#[derive(BorshStorageKey)]
pub enum StorageKey {
    /// [`RegisterContract::approved`].
    Approved,
    /// [`RegisterContract::workers`].
    Workers,
}

/// Registration state.
#[near(contract_state)]
#[derive(PanicOnDefault)]
pub struct RegisterContract {
    /// Layout version, see [`STATE_VERSION`].
    pub(crate) state_version: u32,
    /// Manages collateral, measurements and keys.
    pub(crate) owner_id: AccountId,
    /// The OutLayer main contract the keys are for.
    pub(crate) outlayer_contract: AccountId,
    /// dcap-qvl collateral JSON used to verify quotes.
    pub(crate) collateral: Option<String>,
    /// Approved measurement sets (lowercase hex).
    pub(crate) approved: Vector<Measurements>,
    /// Registered workers.
    pub(crate) workers: IterableMap<PublicKey, WorkerRecord>,
}

#[near]
impl RegisterContract {
    /// Creates the contract for the main contract `outlayer_contract`.
    #[init]
    pub fn new(owner_id: AccountId, outlayer_contract: AccountId) -> Self {
        Self {
            state_version: STATE_VERSION,
            owner_id,
            outlayer_contract,
            collateral: None,
            approved: Vector::new(StorageKey::Approved),
            workers: IterableMap::new(StorageKey::Workers),
        }
    }
}

impl RegisterContract {
    pub(crate) fn assert_owner(&self) {
        if env::predecessor_account_id() != self.owner_id {
            env::panic_str("Only the owner can call this method");
        }
    }
}
