//! Read-only methods.

use near_sdk::{AccountId, PublicKey, near};
use outlayer_contracts_common::Measurements;

use crate::workers::WorkerRecord;
use crate::{RegisterContract, RegisterContractExt};

#[near]
impl RegisterContract {
    /// The owner.
    pub fn get_owner(&self) -> AccountId {
        self.owner_id.clone()
    }

    /// The main contract keys are registered with.
    pub fn get_outlayer_contract(&self) -> AccountId {
        self.outlayer_contract.clone()
    }

    /// Whether collateral is stored.
    pub fn has_collateral(&self) -> bool {
        self.collateral.is_some()
    }

    /// Approved measurement sets.
    pub fn get_approved_measurements(&self) -> Vec<Measurements> {
        self.approved.iter().cloned().collect()
    }

    /// The record of a worker key.
    pub fn get_worker(&self, public_key: PublicKey) -> Option<WorkerRecord> {
        self.workers.get(&public_key).cloned()
    }

    /// Registered worker keys, paginated.
    pub fn list_workers(&self, from_index: Option<u32>, limit: Option<u32>) -> Vec<(PublicKey, WorkerRecord)> {
        self.workers
            .iter()
            .skip(from_index.unwrap_or(0) as usize)
            .take(limit.unwrap_or(50).min(100) as usize)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}
