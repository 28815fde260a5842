//! Read-only methods.

use near_sdk::{AccountId, PublicKey, near};
use outlayer_contracts_common::Measurements;

use crate::proposals::{KeystoreRecord, Proposal};
use crate::{KeystoreDao, KeystoreDaoExt};

#[near]
impl KeystoreDao {
    /// Voting members.
    pub fn get_members(&self) -> Vec<AccountId> {
        self.members.iter().cloned().collect()
    }

    /// A proposal.
    pub fn get_proposal(&self, proposal_id: u64) -> Option<Proposal> {
        self.proposals.get(&proposal_id).cloned()
    }

    /// Proposals, oldest first, paginated.
    pub fn list_proposals(&self, from_index: Option<u32>, limit: Option<u32>) -> Vec<Proposal> {
        self.proposals.values().skip(from_index.unwrap_or(0) as usize).take(limit.unwrap_or(50).min(100) as usize).cloned().collect()
    }

    /// Whether `public_key` is an admitted keystore (what workers check before trusting one).
    pub fn is_keystore_approved(&self, public_key: PublicKey) -> bool {
        self.keystores.contains_key(&public_key)
    }

    /// Admitted keystores.
    pub fn get_keystores(&self) -> Vec<(PublicKey, KeystoreRecord)> {
        self.keystores.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Approved keystore measurement sets.
    pub fn get_approved_measurements(&self) -> Vec<Measurements> {
        self.approved.iter().cloned().collect()
    }
}
