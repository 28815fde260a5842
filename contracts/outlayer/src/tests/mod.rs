//! Unit tests under near-sdk's mocked blockchain. Each test asserts what a user sees: event
//! logs, transfers (refunds), returned values and exact panic messages.

mod admin;
mod github;
mod migrate;
mod payments;
mod projects;
mod receipts;
mod requests;
mod resolution;
mod secrets;

use near_sdk::mock::MockAction;
use near_sdk::serde_json::{self, Value};
use near_sdk::test_utils::{VMContextBuilder, get_created_receipts, get_logs};
use near_sdk::{AccountId, CurveType, Gas, NearToken, PublicKey, testing_env};

use crate::*;

/// The contract's own account.
pub const CONTRACT: &str = "outlayer.near";
/// Its owner.
pub const OWNER: &str = "owner.near";
/// Default estimate at default prices and limits: 1e21 + 1e9/1e6 × 1e17 + 60_000 × 1e17.
pub const DEFAULT_ESTIMATE: u128 = 7_100_000_000_000_000_000_000;
/// Default base fee.
pub const BASE_FEE: u128 = 1_000_000_000_000_000_000_000;
/// A fixed block time (ns).
pub const NOW_NS: u64 = 1_751_328_000_000_000_000;

pub fn acc(s: &str) -> AccountId {
    s.parse().unwrap()
}

pub fn worker_key() -> PublicKey {
    PublicKey::from_parts(CurveType::ED25519, vec![42; 32]).unwrap()
}

pub fn other_key() -> PublicKey {
    PublicKey::from_parts(CurveType::ED25519, vec![9; 32]).unwrap()
}

/// A context where `predecessor` (also the signer) calls with `deposit` yoctoNEAR.
pub fn ctx(predecessor: &str, deposit: u128) -> VMContextBuilder {
    let mut c = VMContextBuilder::new();
    c.current_account_id(acc(CONTRACT))
        .predecessor_account_id(acc(predecessor))
        .signer_account_id(acc(predecessor))
        .attached_deposit(NearToken::from_yoctonear(deposit))
        .block_timestamp(NOW_NS)
        .block_height(1000)
        .prepaid_gas(Gas::from_tgas(300))
        .account_balance(NearToken::from_near(100));
    c
}

pub fn set(c: &VMContextBuilder) {
    testing_env!(c.build());
}

/// A fresh contract owned by [`OWNER`].
pub fn setup() -> Contract {
    set(&ctx(OWNER, 0));
    Contract::new(acc(OWNER))
}

/// A fresh contract with [`worker_key`] registered.
pub fn setup_with_worker() -> Contract {
    let mut c = setup();
    c.add_worker_key(worker_key());
    c
}

/// All NEP-297 events logged in the current context.
pub fn events() -> Vec<Value> {
    get_logs().iter().filter_map(|l| l.strip_prefix("EVENT_JSON:")).map(|j| serde_json::from_str(j).unwrap()).collect()
}

/// The data of the only event named `name`, checked for the `near-outlayer` standard, version
/// and a one-element `data` array (OutLayer v0.1's form).
pub fn event(name: &str) -> Value {
    let found: Vec<Value> = events().into_iter().filter(|e| e["event"] == name).collect();
    assert_eq!(found.len(), 1, "expected one {name} event, got {found:?}");
    assert_eq!(found[0]["standard"], "near-outlayer");
    assert_eq!(found[0]["version"], "1.0.0");
    let data = found[0]["data"].as_array().expect("data is an array");
    assert_eq!(data.len(), 1);
    data[0].clone()
}

/// The `request_data` of the only `execution_requested` event, parsed (it is a JSON string).
pub fn request_data() -> Value {
    serde_json::from_str(event("execution_requested")["request_data"].as_str().expect("request_data is a string")).unwrap()
}

/// Transfers created in the current context as (receiver, yoctoNEAR).
pub fn transfers() -> Vec<(String, u128)> {
    get_created_receipts()
        .iter()
        .flat_map(|r| {
            r.actions.iter().filter_map(|a| match a {
                MockAction::Transfer { deposit, .. } => Some((r.receiver_id.to_string(), deposit.as_yoctonear())),
                _ => None,
            })
        })
        .collect()
}

pub fn wasm_source() -> ExecutionSource {
    ExecutionSource::WasmUrl { url: "https://example.com/app.wasm".into(), hash: "ab".repeat(32), build_target: None }
}

/// `caller` requests the default wasm source with default limits and `deposit`.
pub fn request(c: &mut Contract, caller: &str, deposit: u128) -> u64 {
    set(&ctx(caller, deposit));
    c.request_execution(wasm_source(), None, Some("hi".into()), None, None, None, None);
    c.get_config().next_request_id - 1
}

/// A successful worker response.
pub fn ok_response(output: &str, instructions: u64, time_ms: u64) -> ExecutionResponse {
    ExecutionResponse {
        success: true,
        output: Some(ExecutionOutput::Text(output.into())),
        resources_used: ResourcesUsed { instructions, time_ms, compile_time_ms: None },
        ..Default::default()
    }
}
