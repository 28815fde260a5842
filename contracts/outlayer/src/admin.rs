//! Owner settings: ownership, pause, pricing, worker keys and the accounts allowed to manage
//! them.

use near_sdk::{AccountId, Allowance, Promise, PublicKey, env, near};

use crate::events::Event;
use crate::pricing::Pricing;
use crate::{Contract, ContractExt};

/// The methods a worker's function-call access key may call on this contract.
pub const WORKER_KEY_METHODS: &str = "resolve_execution";

#[near]
impl Contract {
    /// Hands ownership to `new_owner`.
    pub fn set_owner(&mut self, new_owner: AccountId) {
        self.assert_owner();
        let old_owner = std::mem::replace(&mut self.owner_id, new_owner.clone());
        Event::OwnerChanged { old_owner, new_owner }.emit();
    }

    /// Refuses new requests, projects and secrets until `unpause`.
    pub fn pause(&mut self) {
        self.assert_owner();
        self.paused = true;
        Event::Paused { by: env::predecessor_account_id() }.emit();
    }

    /// Accepts new requests again.
    pub fn unpause(&mut self) {
        self.assert_owner();
        self.paused = false;
        Event::Unpaused { by: env::predecessor_account_id() }.emit();
    }

    /// Replaces the prices (used by requests made from now on and by settlements).
    pub fn set_pricing(&mut self, pricing: Pricing) {
        self.assert_owner();
        self.pricing = pricing.clone();
        Event::PricingUpdated { pricing }.emit();
    }

    /// Sets the window after which pending requests may be cancelled.
    pub fn set_stale_timeout(&mut self, seconds: u64) {
        self.assert_owner();
        if seconds < 300 {
            env::panic_str("Stale timeout must be at least 300 seconds (the yield timeout)");
        }
        self.stale_timeout_ns = seconds * 1_000_000_000;
    }

    /// Sets the `outlayer-register` contract that may add and remove worker keys.
    pub fn set_register_account(&mut self, account_id: Option<AccountId>) {
        self.assert_owner();
        self.register_account = account_id;
    }

    /// Sets an extra account whose worker keys may resolve requests (besides this account).
    pub fn set_worker_account(&mut self, account_id: Option<AccountId>) {
        self.assert_owner();
        self.worker_account = account_id;
    }

    /// Adds an attested worker key (called by the register contract after quote verification,
    /// or by the owner) and gives it a function-call access key on this account limited to
    /// `resolve_execution`.
    pub fn add_worker_key(&mut self, public_key: PublicKey) {
        self.assert_key_manager();
        if !self.worker_keys.insert(public_key.clone()) {
            env::panic_str("Worker key is already registered");
        }
        let me = env::current_account_id();
        Promise::new(me.clone()).add_access_key_allowance(public_key.clone(), Allowance::Unlimited, me, WORKER_KEY_METHODS).detach();
        Event::WorkerKeyAdded { public_key }.emit();
    }

    /// Removes a worker key and deletes its access key from this account.
    pub fn remove_worker_key(&mut self, public_key: PublicKey) {
        self.assert_key_manager();
        if !self.worker_keys.remove(&public_key) {
            env::panic_str("Worker key is not registered");
        }
        Promise::new(env::current_account_id()).delete_key(public_key.clone()).detach();
        Event::WorkerKeyRemoved { public_key }.emit();
    }
}

impl Contract {
    fn assert_key_manager(&self) {
        let predecessor = env::predecessor_account_id();
        if predecessor != self.owner_id && self.register_account.as_ref() != Some(&predecessor) {
            env::panic_str("Only the owner or the register contract can manage worker keys");
        }
    }
}
