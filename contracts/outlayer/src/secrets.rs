//! Encrypted secrets with access conditions.
//!
//! The contract stores ciphertext (encrypted to the keystore's key) and the condition tree; the
//! keystore, running in a TEE, evaluates the conditions against chain state and decrypts for the
//! worker. The owner pays a storage deposit for the bytes stored, refunded on delete.

use near_sdk::json_types::{Base64VecU8, U128};
use near_sdk::{AccountId, NearToken, Promise, env, near};

use crate::events::Event;
use crate::limits::*;
use crate::storage::{charge, storage_cost};
use crate::{Contract, ContractExt};

/// Which code may receive the secrets.
#[near(serializers = [borsh, json])]
#[derive(Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SecretAccessor {
    /// Any version of a project (`owner/name`).
    Project {
        /// `owner/name`.
        project_id: String,
    },
    /// One exact component.
    Wasm {
        /// Lowercase hex sha256.
        sha256: String,
    },
}

impl SecretAccessor {
    fn storage_part(&self) -> String {
        match self {
            Self::Project { project_id } => format!("project:{project_id}"),
            Self::Wasm { sha256 } => format!("wasm:{sha256}"),
        }
    }
}

/// Who may use the secrets, as a tree the keystore evaluates for the calling account.
#[near(serializers = [borsh, json])]
#[derive(Clone, Debug, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AccessCondition {
    /// Anyone.
    AllowAll,
    /// Only these accounts.
    Whitelist {
        /// Allowed accounts.
        accounts: Vec<AccountId>,
    },
    /// Accounts matching a glob where `*` matches any run of characters, e.g. `*.alice.near`.
    AccountPattern {
        /// The glob.
        pattern: String,
    },
    /// Accounts holding at least `min` yoctoNEAR.
    NearBalance {
        /// Minimum balance.
        min: U128,
    },
    /// Accounts holding at least `min` of the NEP-141 token `contract`.
    FtBalance {
        /// Token contract.
        contract: AccountId,
        /// Minimum balance in the token's smallest unit.
        min: U128,
    },
    /// Accounts owning an NFT of `contract` (a given `token_id`, or any).
    NftOwned {
        /// NEP-171 contract.
        contract: AccountId,
        /// Specific token, or any token of the contract.
        token_id: Option<String>,
    },
    /// All conditions hold.
    And {
        /// Operands.
        conditions: Vec<AccessCondition>,
    },
    /// At least one condition holds.
    Or {
        /// Operands.
        conditions: Vec<AccessCondition>,
    },
    /// The condition does not hold.
    Not {
        /// Operand.
        condition: Box<AccessCondition>,
    },
}

impl AccessCondition {
    /// Panics with a clear message when the tree is too deep, too large or malformed.
    pub fn validate(&self) {
        let mut nodes = 0;
        self.walk(1, &mut nodes);
    }

    fn walk(&self, depth: usize, nodes: &mut usize) {
        *nodes += 1;
        if depth > MAX_CONDITION_DEPTH {
            env::panic_str(&format!("Access condition is deeper than {MAX_CONDITION_DEPTH} levels"));
        }
        if *nodes > MAX_CONDITION_NODES {
            env::panic_str(&format!("Access condition has more than {MAX_CONDITION_NODES} nodes"));
        }
        match self {
            Self::Whitelist { accounts } if accounts.is_empty() || accounts.len() > MAX_WHITELIST_ACCOUNTS => {
                env::panic_str(&format!("A whitelist holds 1 to {MAX_WHITELIST_ACCOUNTS} accounts"))
            }
            Self::AccountPattern { pattern } if pattern.is_empty() || pattern.len() > 64 => {
                env::panic_str("An account pattern is 1 to 64 characters")
            }
            Self::And { conditions } | Self::Or { conditions } => {
                if conditions.is_empty() {
                    env::panic_str("And/Or need at least one condition");
                }
                conditions.iter().for_each(|c| c.walk(depth + 1, nodes));
            }
            Self::Not { condition } => condition.walk(depth + 1, nodes),
            _ => {}
        }
    }
}

/// One stored secrets record.
#[near(serializers = [borsh, json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSecrets {
    /// Owner, who pays the deposit.
    pub owner: AccountId,
    /// Which code may receive them.
    pub accessor: SecretAccessor,
    /// Profile name (several sets per accessor, e.g. `default`, `prod`).
    pub profile: String,
    /// Ciphertext for the keystore (opaque to the contract).
    pub encrypted_data: Base64VecU8,
    /// Who may use them.
    pub access: AccessCondition,
    /// Storage deposit held, refunded on delete.
    pub storage_deposit: U128,
    /// Block timestamp of the last update, ns.
    pub updated_at_ns: u64,
}

/// Storage key of a record.
pub(crate) fn secret_key(owner: &AccountId, accessor: &SecretAccessor, profile: &str) -> String {
    format!("{owner}|{}|{profile}", accessor.storage_part())
}

fn validate_profile(profile: &str) {
    if profile.is_empty() || profile.len() > 64 || profile.contains('|') {
        env::panic_str("Profile must be 1-64 characters without '|'");
    }
}

#[near]
impl Contract {
    /// Stores (or replaces) the caller's secrets for `accessor`/`profile`. Attach the storage
    /// deposit for the bytes stored; on replacement the old deposit counts towards it. The
    /// surplus is refunded.
    #[payable]
    pub fn store_secrets(
        &mut self,
        accessor: SecretAccessor,
        profile: String,
        encrypted_data: Base64VecU8,
        access: AccessCondition,
    ) -> U128 {
        self.assert_not_paused();
        validate_profile(&profile);
        access.validate();
        if encrypted_data.0.is_empty() || encrypted_data.0.len() > MAX_SECRET_CIPHERTEXT_BYTES {
            env::panic_str(&format!("Encrypted data must be 1 to {MAX_SECRET_CIPHERTEXT_BYTES} bytes"));
        }
        let accessor = match accessor {
            SecretAccessor::Wasm { sha256 } => SecretAccessor::Wasm { sha256: crate::projects::normalize_sha256(&sha256) },
            other => other,
        };
        let owner = env::predecessor_account_id();
        let key = secret_key(&owner, &accessor, &profile);
        let mut available = env::attached_deposit();
        let mut keys = self.secrets_by_owner.get(&owner).cloned().unwrap_or_default();
        if let Some(old) = self.secrets.remove(&key) {
            available = available.saturating_add(NearToken::from_yoctonear(old.storage_deposit.0));
            keys.retain(|k| k != &key);
            // Drop an emptied index entry so the baseline below excludes it.
            if keys.is_empty() {
                self.secrets_by_owner.remove(&owner);
            } else {
                self.secrets_by_owner.insert(owner.clone(), keys.clone());
            }
        }
        self.secrets.flush();
        self.secrets_by_owner.flush();
        let before = env::storage_usage();
        keys.push(key.clone());
        self.secrets_by_owner.insert(owner.clone(), keys);
        let record = StoredSecrets {
            owner: owner.clone(),
            accessor: accessor.clone(),
            profile: profile.clone(),
            encrypted_data,
            access,
            storage_deposit: U128(0),
            updated_at_ns: env::block_timestamp(),
        };
        self.secrets.insert(key.clone(), record);
        self.secrets.flush();
        self.secrets_by_owner.flush();
        let cost = storage_cost(before, env::storage_usage());
        charge(cost, available, &owner);
        // Same size as the placeholder: the measured cost stays exact.
        if let Some(stored) = self.secrets.get_mut(&key) {
            stored.storage_deposit = U128(cost.as_yoctonear());
        }
        Event::SecretsStored { owner, accessor, profile, storage_deposit: U128(cost.as_yoctonear()) }.emit();
        U128(cost.as_yoctonear())
    }

    /// Deletes the caller's secrets for `accessor`/`profile` and refunds their storage deposit.
    pub fn delete_secrets(&mut self, accessor: SecretAccessor, profile: String) -> U128 {
        let owner = env::predecessor_account_id();
        let key = secret_key(&owner, &accessor, &profile);
        let old = self.secrets.remove(&key).unwrap_or_else(|| env::panic_str("Secrets not found"));
        let mut keys = self.secrets_by_owner.get(&owner).cloned().unwrap_or_default();
        keys.retain(|k| k != &key);
        if keys.is_empty() {
            self.secrets_by_owner.remove(&owner);
        } else {
            self.secrets_by_owner.insert(owner.clone(), keys);
        }
        let refund = NearToken::from_yoctonear(old.storage_deposit.0);
        if !refund.is_zero() {
            Promise::new(owner.clone()).transfer(refund).detach();
        }
        Event::SecretsDeleted { owner, accessor, profile, refund: old.storage_deposit }.emit();
        old.storage_deposit
    }

    /// The record of `owner` for `accessor`/`profile`, or `null` (what the keystore reads for an
    /// on-chain job). A wasm accessor's sha256 is matched case-insensitively, as `store_secrets`
    /// stores it lowercase.
    pub fn get_secrets(&self, owner: AccountId, accessor: SecretAccessor, profile: String) -> Option<StoredSecrets> {
        let accessor = match accessor {
            SecretAccessor::Wasm { sha256 } => SecretAccessor::Wasm { sha256: sha256.to_ascii_lowercase() },
            other => other,
        };
        self.secrets.get(&secret_key(&owner, &accessor, &profile)).cloned()
    }

    /// All records of `owner`.
    pub fn list_secrets(&self, owner: AccountId) -> Vec<StoredSecrets> {
        self.secrets_by_owner.get(&owner).map(|keys| keys.iter().filter_map(|k| self.secrets.get(k).cloned()).collect()).unwrap_or_default()
    }
}
