//! Owner settings: collateral and approved measurements.

use near_sdk::{AccountId, env, near};
use outlayer_contracts_common::{Measurements, parse_collateral};

use crate::events::Event;
use crate::{RegisterContract, RegisterContractExt};

#[near]
impl RegisterContract {
    /// Stores dcap-qvl collateral JSON (`QuoteCollateralV3`) used for every verification.
    pub fn set_collateral(&mut self, collateral: String) {
        self.assert_owner();
        if let Err(e) = parse_collateral(&collateral) {
            env::panic_str(&e.to_string());
        }
        Event::CollateralUpdated { bytes: collateral.len() as u64 }.emit();
        self.collateral = Some(collateral);
    }

    /// Approves a measurement set (each register 48 bytes of hex).
    pub fn add_approved_measurements(&mut self, measurements: Measurements) {
        self.assert_owner();
        let measurements = measurements.normalized().unwrap_or_else(|e| env::panic_str(&e.to_string()));
        if self.approved.iter().any(|m| m == &measurements) {
            env::panic_str("Measurements are already approved");
        }
        self.approved.push(measurements.clone());
        Event::MeasurementsApproved { measurements }.emit();
    }

    /// Withdraws a measurement set; new registrations with it fail.
    pub fn remove_approved_measurements(&mut self, measurements: Measurements) {
        self.assert_owner();
        let measurements = measurements.normalized().unwrap_or_else(|e| env::panic_str(&e.to_string()));
        let index =
            self.approved.iter().position(|m| m == &measurements).unwrap_or_else(|| env::panic_str("Measurements are not approved"));
        self.approved.swap_remove(index as u32);
        Event::MeasurementsRemoved { measurements }.emit();
    }

    /// Hands ownership to `new_owner`.
    pub fn set_owner(&mut self, new_owner: AccountId) {
        self.assert_owner();
        self.owner_id = new_owner;
    }
}
