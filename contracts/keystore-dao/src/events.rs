//! NEP-297 events, standard `outlayer`, version `1.0.0`.

use near_sdk::{AccountId, PublicKey, near};
use outlayer_contracts_common::Measurements;

use crate::proposals::ProposalKind;

/// Every event the keystore DAO emits.
#[near(event_json(standard = "outlayer"))]
pub enum Event {
    /// A proposal was opened.
    #[event_version("1.0.0")]
    ProposalCreated {
        /// Proposal id.
        proposal_id: u64,
        /// Proposer.
        proposer: AccountId,
        /// What it does.
        kind: ProposalKind,
    },
    /// A member voted.
    #[event_version("1.0.0")]
    VoteCast {
        /// Proposal id.
        proposal_id: u64,
        /// Voter.
        member: AccountId,
        /// For or against.
        approve: bool,
    },
    /// A proposal reached a majority and was executed.
    #[event_version("1.0.0")]
    ProposalExecuted {
        /// Proposal id.
        proposal_id: u64,
    },
    /// A proposal can no longer reach a majority.
    #[event_version("1.0.0")]
    ProposalRejected {
        /// Proposal id.
        proposal_id: u64,
    },
    /// A keystore was admitted.
    #[event_version("1.0.0")]
    KeystoreRegistered {
        /// Its ed25519 key.
        public_key: PublicKey,
        /// Its measurements.
        measurements: Measurements,
    },
    /// A keystore was revoked.
    #[event_version("1.0.0")]
    KeystoreRevoked {
        /// Its key.
        public_key: PublicKey,
    },
    /// Membership changed.
    #[event_version("1.0.0")]
    MembersChanged {
        /// Members after the change.
        members: Vec<AccountId>,
    },
}
