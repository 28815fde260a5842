//! # OutLayer keystore DAO
//!
//! Keystores hold the key that decrypts user secrets, so admitting one is a governance decision.
//! A member proposes a keystore with [`KeystoreDao::propose_keystore`]: its TDX quote is checked
//! exactly like a worker's (dcap-qvl verification at the block time, TCB `UpToDate`, approved
//! measurements, `report_data[0..32]` = the ed25519 key), then members vote. A proposal executes
//! as soon as more than half of the members voted for it and is rejected as soon as that can no
//! longer happen. Revocation ([`KeystoreDao::propose_revocation`]) goes through the same vote.
//! Each member votes once per proposal.

mod admin;
mod events;
mod proposals;
mod views;

#[cfg(test)]
mod tests;

use near_sdk::store::{IterableMap, IterableSet, Vector};
use near_sdk::{AccountId, BorshStorageKey, PanicOnDefault, PublicKey, env, near};
use outlayer_contracts_common::Measurements;

pub use events::Event;
pub use proposals::{KeystoreRecord, Proposal, ProposalKind, ProposalStatus};

/// Current layout of [`KeystoreDao`].
pub const STATE_VERSION: u32 = 1;

/// Prefixes of the contract's collections. Never reorder.
#[near(serializers = [borsh])]
#[derive(BorshStorageKey)]
pub enum StorageKey {
    /// [`KeystoreDao::members`].
    Members,
    /// [`KeystoreDao::approved`].
    Approved,
    /// [`KeystoreDao::proposals`].
    Proposals,
    /// [`KeystoreDao::keystores`].
    Keystores,
}

/// DAO state.
#[near(contract_state)]
#[derive(PanicOnDefault)]
pub struct KeystoreDao {
    /// Layout version, see [`STATE_VERSION`].
    pub(crate) state_version: u32,
    /// Manages members, collateral and measurements.
    pub(crate) owner_id: AccountId,
    /// Voting members.
    pub(crate) members: IterableSet<AccountId>,
    /// dcap-qvl collateral JSON.
    pub(crate) collateral: Option<String>,
    /// Approved keystore measurement sets.
    pub(crate) approved: Vector<Measurements>,
    /// Proposals by id.
    pub(crate) proposals: IterableMap<u64, Proposal>,
    /// Id of the next proposal.
    pub(crate) next_proposal_id: u64,
    /// Approved keystores.
    pub(crate) keystores: IterableMap<PublicKey, KeystoreRecord>,
}

#[near]
impl KeystoreDao {
    /// Creates the DAO with its first `members` (at least one).
    #[init]
    pub fn new(owner_id: AccountId, members: Vec<AccountId>) -> Self {
        if members.is_empty() {
            env::panic_str("The DAO needs at least one member");
        }
        let mut set = IterableSet::new(StorageKey::Members);
        set.extend(members);
        Self {
            state_version: STATE_VERSION,
            owner_id,
            members: set,
            collateral: None,
            approved: Vector::new(StorageKey::Approved),
            proposals: IterableMap::new(StorageKey::Proposals),
            next_proposal_id: 0,
            keystores: IterableMap::new(StorageKey::Keystores),
        }
    }
}

impl KeystoreDao {
    pub(crate) fn assert_owner(&self) {
        if env::predecessor_account_id() != self.owner_id {
            env::panic_str("Only the owner can call this method");
        }
    }

    pub(crate) fn assert_member(&self) -> AccountId {
        let who = env::predecessor_account_id();
        if !self.members.contains(&who) {
            env::panic_str("Only DAO members can call this method");
        }
        who
    }
}
