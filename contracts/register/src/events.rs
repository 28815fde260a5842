//! NEP-297 events, standard `outlayer`, version `1.0.0`.

use near_sdk::{AccountId, PublicKey, near};
use outlayer_contracts_common::Measurements;

/// Every event the register contract emits.
#[near(event_json(standard = "outlayer"))]
pub enum Event {
    /// A worker key passed attestation and was handed to the main contract.
    #[event_version("1.0.0")]
    WorkerKeyRegistered {
        /// The worker's ed25519 key.
        public_key: PublicKey,
        /// Its measurements.
        measurements: Measurements,
        /// The main contract receiving the key.
        outlayer_contract: AccountId,
    },
    /// The owner removed a worker key.
    #[event_version("1.0.0")]
    WorkerKeyRemoved {
        /// The key.
        public_key: PublicKey,
    },
    /// The main contract refused a key change; an added key was unregistered again.
    #[event_version("1.0.0")]
    WorkerKeySyncFailed {
        /// The key.
        public_key: PublicKey,
        /// True for a failed add, false for a failed removal.
        added: bool,
    },
    /// A measurement set was approved.
    #[event_version("1.0.0")]
    MeasurementsApproved {
        /// The set.
        measurements: Measurements,
    },
    /// A measurement set was withdrawn (registered keys stay until removed).
    #[event_version("1.0.0")]
    MeasurementsRemoved {
        /// The set.
        measurements: Measurements,
    },
    /// New collateral was stored.
    #[event_version("1.0.0")]
    CollateralUpdated {
        /// Size of the collateral JSON.
        bytes: u64,
    },
}
