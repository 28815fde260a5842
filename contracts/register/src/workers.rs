//! Worker key registration and removal.

use near_sdk::serde_json::json;
use near_sdk::{AccountId, Allowance, Gas, NearToken, Promise, PromiseError, PublicKey, env, near};
use outlayer_contracts_common::{AttestationError, Measurements, parse_collateral, verify_tee_key};

use crate::events::Event;
use crate::{RegisterContract, RegisterContractExt, WORKER_KEY_METHODS};

/// Gas for the `add_worker_key` / `remove_worker_key` call on the main contract.
const KEY_SYNC_TGAS: u64 = 15;
/// Gas for [`RegisterContract::on_worker_key_synced`].
const SYNC_CALLBACK_TGAS: u64 = 5;

/// A registered worker.
#[near(serializers = [borsh, json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerRecord {
    /// The measurements its quote carried.
    pub measurements: Measurements,
    /// Account that submitted the registration.
    pub registered_by: AccountId,
    /// Block timestamp of the registration, ns.
    pub registered_at_ns: u64,
}

#[near]
impl RegisterContract {
    /// Verifies `tdx_quote_hex` for `public_key` (an ed25519 key whose 32 bytes are
    /// `report_data[0..32]`) at the current block time and, on success, registers the key with
    /// the main contract. Panics with the reason when the quote is refused.
    pub fn register_worker_key(&mut self, public_key: PublicKey, tdx_quote_hex: String) -> Measurements {
        if self.workers.contains_key(&public_key) {
            env::panic_str("Worker key is already registered");
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
        self.workers.insert(
            public_key.clone(),
            WorkerRecord {
                measurements: measurements.clone(),
                registered_by: env::predecessor_account_id(),
                registered_at_ns: env::block_timestamp(),
            },
        );
        self.sync_key(&public_key, true);
        Event::WorkerKeyRegistered { public_key, measurements: measurements.clone(), outlayer_contract: self.outlayer_contract.clone() }
            .emit();
        measurements
    }

    /// Removes a worker key here and from the main contract.
    pub fn remove_worker_key(&mut self, public_key: PublicKey) {
        self.assert_owner();
        if self.workers.remove(&public_key).is_none() {
            env::panic_str("Worker key is not registered");
        }
        self.sync_key(&public_key, false);
        Event::WorkerKeyRemoved { public_key }.emit();
    }

    /// Result of the key sync with the main contract. A failed `add_worker_key` (for example,
    /// this account is not the main contract's register account) undoes the registration here
    /// so it can be retried; either failure emits `worker_key_sync_failed`.
    #[private]
    pub fn on_worker_key_synced(&mut self, public_key: PublicKey, added: bool) {
        if !matches!(env::promise_result_checked(0, 64), Err(PromiseError::Failed)) {
            return;
        }
        if added {
            self.workers.remove(&public_key);
        }
        Event::WorkerKeySyncFailed { public_key, added }.emit();
    }
}

impl RegisterContract {
    /// Adds (or deletes) the key on the main contract: directly when it is this account,
    /// through `add_worker_key`/`remove_worker_key` otherwise.
    fn sync_key(&self, public_key: &PublicKey, add: bool) {
        let me = env::current_account_id();
        if self.outlayer_contract == me {
            let promise = Promise::new(me.clone());
            let promise = if add {
                promise.add_access_key_allowance(public_key.clone(), Allowance::Unlimited, me, WORKER_KEY_METHODS)
            } else {
                promise.delete_key(public_key.clone())
            };
            promise.detach();
        } else {
            let method = if add { "add_worker_key" } else { "remove_worker_key" };
            Promise::new(self.outlayer_contract.clone())
                .function_call(
                    method.to_string(),
                    json!({ "public_key": public_key }).to_string().into_bytes(),
                    NearToken::from_yoctonear(0),
                    Gas::from_tgas(KEY_SYNC_TGAS),
                )
                .then(Self::ext(me).with_static_gas(Gas::from_tgas(SYNC_CALLBACK_TGAS)).on_worker_key_synced(public_key.clone(), add))
                .detach();
        }
    }
}
