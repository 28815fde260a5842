//! Owner settings: members, collateral and approved measurements.

use near_sdk::{AccountId, env, near};
use outlayer_contracts_common::{Measurements, parse_collateral};

use crate::events::Event;
use crate::{KeystoreDao, KeystoreDaoExt};

#[near]
impl KeystoreDao {
    /// Adds a voting member. Open proposals count the new member from now on.
    pub fn add_member(&mut self, account_id: AccountId) {
        self.assert_owner();
        if !self.members.insert(account_id) {
            env::panic_str("Already a member");
        }
        Event::MembersChanged { members: self.get_members() }.emit();
    }

    /// Removes a voting member (never the last one).
    pub fn remove_member(&mut self, account_id: AccountId) {
        self.assert_owner();
        if self.members.len() == 1 {
            env::panic_str("The DAO needs at least one member");
        }
        if !self.members.remove(&account_id) {
            env::panic_str("Not a member");
        }
        Event::MembersChanged { members: self.get_members() }.emit();
    }

    /// Stores dcap-qvl collateral JSON used to verify keystore quotes.
    pub fn set_collateral(&mut self, collateral: String) {
        self.assert_owner();
        if let Err(e) = parse_collateral(&collateral) {
            env::panic_str(&e.to_string());
        }
        self.collateral = Some(collateral);
    }

    /// Approves a keystore measurement set.
    pub fn add_approved_measurements(&mut self, measurements: Measurements) {
        self.assert_owner();
        let measurements = measurements.normalized().unwrap_or_else(|e| env::panic_str(&e.to_string()));
        if self.approved.iter().any(|m| m == &measurements) {
            env::panic_str("Measurements are already approved");
        }
        self.approved.push(measurements);
    }

    /// Withdraws a keystore measurement set.
    pub fn remove_approved_measurements(&mut self, measurements: Measurements) {
        self.assert_owner();
        let measurements = measurements.normalized().unwrap_or_else(|e| env::panic_str(&e.to_string()));
        let index =
            self.approved.iter().position(|m| m == &measurements).unwrap_or_else(|| env::panic_str("Measurements are not approved"));
        self.approved.swap_remove(index as u32);
    }
}
