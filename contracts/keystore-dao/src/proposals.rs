//! Proposals, votes and their execution.

use near_sdk::{AccountId, PublicKey, env, near};
use outlayer_contracts_common::{AttestationError, Measurements, parse_collateral, verify_tee_key};

use crate::events::Event;
use crate::{KeystoreDao, KeystoreDaoExt};

/// What a proposal does when it passes.
#[near(serializers = [borsh, json])]
#[derive(Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProposalKind {
    /// Admit a keystore whose quote verified when the proposal was made.
    RegisterKeystore {
        /// Its ed25519 key.
        public_key: PublicKey,
        /// The measurements its quote carried.
        measurements: Measurements,
    },
    /// Revoke an admitted keystore.
    RevokeKeystore {
        /// Its key.
        public_key: PublicKey,
    },
}

/// Lifecycle of a proposal.
#[near(serializers = [borsh, json])]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposalStatus {
    /// Accepting votes.
    Open,
    /// Passed and executed.
    Executed,
    /// Can no longer pass.
    Rejected,
}

/// A proposal and its votes.
#[near(serializers = [borsh, json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Id.
    pub id: u64,
    /// Who opened it.
    pub proposer: AccountId,
    /// What it does.
    pub kind: ProposalKind,
    /// Members who voted for.
    pub votes_for: Vec<AccountId>,
    /// Members who voted against.
    pub votes_against: Vec<AccountId>,
    /// Current status.
    pub status: ProposalStatus,
    /// Block timestamp of creation, ns.
    pub created_at_ns: u64,
}

/// An admitted keystore.
#[near(serializers = [borsh, json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeystoreRecord {
    /// Its measurements.
    pub measurements: Measurements,
    /// The proposal that admitted it.
    pub proposal_id: u64,
    /// Block timestamp of admission, ns.
    pub approved_at_ns: u64,
}

#[near]
impl KeystoreDao {
    /// Opens a proposal to admit the keystore `public_key`. The quote is verified now (same
    /// checks as worker registration); the proposal records the measurements. Members only.
    pub fn propose_keystore(&mut self, public_key: PublicKey, tdx_quote_hex: String) -> u64 {
        let proposer = self.assert_member();
        if self.keystores.contains_key(&public_key) {
            env::panic_str("Keystore is already registered");
        }
        let collateral = self
            .collateral
            .as_deref()
            .ok_or(AttestationError::NoCollateral)
            .and_then(parse_collateral)
            .unwrap_or_else(|e| env::panic_str(&e.to_string()));
        let approved: Vec<Measurements> = self.approved.iter().cloned().collect();
        let now_secs = env::block_timestamp() / 1_000_000_000;
        let measurements = verify_tee_key(&tdx_quote_hex, &collateral, now_secs, &approved, &public_key)
            .unwrap_or_else(|e| env::panic_str(&e.to_string()));
        self.open(proposer, ProposalKind::RegisterKeystore { public_key, measurements })
    }

    /// Opens a proposal to revoke an admitted keystore. Members only.
    pub fn propose_revocation(&mut self, public_key: PublicKey) -> u64 {
        let proposer = self.assert_member();
        if !self.keystores.contains_key(&public_key) {
            env::panic_str("Keystore is not registered");
        }
        self.open(proposer, ProposalKind::RevokeKeystore { public_key })
    }

    /// Votes on an open proposal, once per member. Executes it when more than half of the
    /// members are for; rejects it when that is no longer possible. Returns the status.
    pub fn vote(&mut self, proposal_id: u64, approve: bool) -> ProposalStatus {
        let member = self.assert_member();
        let members = self.members.len() as usize;
        let mut proposal =
            self.proposals.get(&proposal_id).cloned().unwrap_or_else(|| env::panic_str(&format!("Proposal {proposal_id} not found")));
        if proposal.status != ProposalStatus::Open {
            env::panic_str(&format!("Proposal {proposal_id} is closed"));
        }
        if proposal.votes_for.contains(&member) || proposal.votes_against.contains(&member) {
            env::panic_str("Already voted");
        }
        if approve {
            proposal.votes_for.push(member.clone());
        } else {
            proposal.votes_against.push(member.clone());
        }
        Event::VoteCast { proposal_id, member, approve }.emit();
        let votes_for = proposal.votes_for.iter().filter(|m| self.members.contains(*m)).count();
        let votes_against = proposal.votes_against.iter().filter(|m| self.members.contains(*m)).count();
        if votes_for * 2 > members {
            self.execute(&proposal);
            proposal.status = ProposalStatus::Executed;
            Event::ProposalExecuted { proposal_id }.emit();
        } else if (members - votes_against) * 2 <= members {
            proposal.status = ProposalStatus::Rejected;
            Event::ProposalRejected { proposal_id }.emit();
        }
        let status = proposal.status;
        self.proposals.insert(proposal_id, proposal);
        status
    }
}

impl KeystoreDao {
    fn open(&mut self, proposer: AccountId, kind: ProposalKind) -> u64 {
        let id = self.next_proposal_id;
        self.next_proposal_id += 1;
        Event::ProposalCreated { proposal_id: id, proposer: proposer.clone(), kind: kind.clone() }.emit();
        self.proposals.insert(
            id,
            Proposal {
                id,
                proposer,
                kind,
                votes_for: vec![],
                votes_against: vec![],
                status: ProposalStatus::Open,
                created_at_ns: env::block_timestamp(),
            },
        );
        id
    }

    fn execute(&mut self, proposal: &Proposal) {
        match &proposal.kind {
            ProposalKind::RegisterKeystore { public_key, measurements } => {
                self.keystores.insert(
                    public_key.clone(),
                    KeystoreRecord { measurements: measurements.clone(), proposal_id: proposal.id, approved_at_ns: env::block_timestamp() },
                );
                Event::KeystoreRegistered { public_key: public_key.clone(), measurements: measurements.clone() }.emit();
            }
            ProposalKind::RevokeKeystore { public_key } => {
                self.keystores.remove(public_key);
                Event::KeystoreRevoked { public_key: public_key.clone() }.emit();
            }
        }
    }
}
