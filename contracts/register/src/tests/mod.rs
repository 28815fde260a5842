//! Unit tests with the real dcap-qvl sample quote, verified at its fixed time.

use near_sdk::mock::MockAction;
use near_sdk::serde_json::{self, Value, json};
use near_sdk::test_utils::{VMContextBuilder, get_created_receipts, get_logs};
use near_sdk::{AccountId, testing_env};
use outlayer_contracts_common::testdata::*;

use crate::*;

const CONTRACT: &str = "register.near";
const OWNER: &str = "owner.near";
const OUTLAYER: &str = "outlayer.near";

fn acc(s: &str) -> AccountId {
    s.parse().unwrap()
}

fn set(predecessor: &str, now_ns: u64) {
    let mut c = VMContextBuilder::new();
    c.current_account_id(acc(CONTRACT)).predecessor_account_id(acc(predecessor)).block_timestamp(now_ns);
    testing_env!(c.build());
}

/// A contract with the sample collateral and measurements, for main contract `outlayer`.
fn setup(outlayer: &str) -> RegisterContract {
    set(OWNER, VERIFY_AT_NANOS);
    let mut c = RegisterContract::new(acc(OWNER), acc(outlayer));
    c.set_collateral(COLLATERAL_JSON.to_string());
    c.add_approved_measurements(sample_measurements());
    set("worker.near", VERIFY_AT_NANOS);
    c
}

fn event(name: &str) -> Value {
    let found: Vec<Value> = get_logs()
        .iter()
        .filter_map(|l| l.strip_prefix("EVENT_JSON:"))
        .map(|j| serde_json::from_str::<Value>(j).unwrap())
        .filter(|e| e["event"] == name)
        .collect();
    assert_eq!(found.len(), 1, "expected one {name} event");
    assert_eq!(found[0]["standard"], "outlayer");
    assert_eq!(found[0]["version"], "1.0.0");
    found[0]["data"].clone()
}

#[test]
fn real_quote_registers_the_bound_key_with_the_main_contract() {
    let mut c = setup(OUTLAYER);
    let measured = c.register_worker_key(sample_bound_key(), quote_hex());
    assert_eq!(measured, sample_measurements());
    assert_eq!(
        event("worker_key_registered"),
        json!({
            "public_key": sample_bound_key().to_string(),
            "measurements": serde_json::to_value(sample_measurements()).unwrap(),
            "outlayer_contract": OUTLAYER,
        })
    );
    let receipts = get_created_receipts();
    assert_eq!(receipts.len(), 2);
    assert_eq!(receipts[0].receiver_id, acc(OUTLAYER));
    match &receipts[1].actions[0] {
        MockAction::FunctionCallWeight { method_name, .. } => {
            assert_eq!(method_name, b"on_worker_key_synced")
        }
        other => panic!("unexpected action {other:?}"),
    }
    match &receipts[0].actions[0] {
        MockAction::FunctionCallWeight { method_name, args, .. } => {
            assert_eq!(method_name, b"add_worker_key");
            let args: Value = serde_json::from_slice(args).unwrap();
            assert_eq!(args, json!({"public_key": sample_bound_key().to_string()}));
        }
        other => panic!("unexpected action {other:?}"),
    }
    let record = c.get_worker(sample_bound_key()).unwrap();
    assert_eq!(record.registered_by, acc("worker.near"));
    assert_eq!(c.list_workers(None, None).len(), 1);
}

#[test]
fn same_account_deployment_adds_a_resolve_only_access_key() {
    let mut c = setup(CONTRACT);
    c.register_worker_key(sample_bound_key(), quote_hex());
    let receipts = get_created_receipts();
    assert_eq!(receipts.len(), 1);
    match &receipts[0].actions[0] {
        MockAction::AddKeyWithFunctionCall { receiver_id, method_names, allowance, .. } => {
            assert_eq!(receiver_id, &acc(CONTRACT));
            assert_eq!(method_names, &vec!["resolve_execution".to_string()]);
            assert_eq!(allowance, &None);
        }
        other => panic!("unexpected action {other:?}"),
    }
}

#[test]
#[should_panic(expected = "Quote verification failed")]
fn flipped_byte_in_the_quote_is_refused() {
    let mut c = setup(OUTLAYER);
    c.register_worker_key(sample_bound_key(), tampered_quote_hex());
}

#[test]
#[should_panic(expected = "Measurements are not approved")]
fn unapproved_measurements_are_refused() {
    let mut c = setup(OUTLAYER);
    set(OWNER, VERIFY_AT_NANOS);
    c.remove_approved_measurements(sample_measurements());
    let mut other = sample_measurements();
    other.rtmr3 = "ab".repeat(48);
    c.add_approved_measurements(other);
    c.register_worker_key(sample_bound_key(), quote_hex());
}

#[test]
#[should_panic(expected = "report_data does not bind the public key")]
fn key_not_bound_by_report_data_is_refused() {
    let mut c = setup(OUTLAYER);
    c.register_worker_key(unbound_key(), quote_hex());
}

#[test]
#[should_panic(expected = "Quote verification failed")]
fn expired_collateral_is_refused_at_todays_block_time() {
    let mut c = setup(OUTLAYER);
    set("worker.near", 1_795_600_000 * 1_000_000_000);
    c.register_worker_key(sample_bound_key(), quote_hex());
}

#[test]
#[should_panic(expected = "No collateral stored: the owner must call set_collateral")]
fn registration_needs_collateral() {
    set(OWNER, VERIFY_AT_NANOS);
    let mut c = RegisterContract::new(acc(OWNER), acc(OUTLAYER));
    c.register_worker_key(sample_bound_key(), quote_hex());
}

#[test]
#[should_panic(expected = "Worker key is already registered")]
fn a_key_registers_once() {
    let mut c = setup(OUTLAYER);
    c.register_worker_key(sample_bound_key(), quote_hex());
    c.register_worker_key(sample_bound_key(), quote_hex());
}

#[test]
#[should_panic(expected = "Quote is not valid hex")]
fn non_hex_quotes_are_refused() {
    let mut c = setup(OUTLAYER);
    c.register_worker_key(sample_bound_key(), "not hex".into());
}

#[test]
#[should_panic(expected = "Invalid collateral JSON")]
fn malformed_collateral_is_refused() {
    let mut c = setup(OUTLAYER);
    set(OWNER, VERIFY_AT_NANOS);
    c.set_collateral("{\"tcb_info\": 1}".into());
}

#[test]
#[should_panic(expected = "Only the owner can call this method")]
fn only_the_owner_sets_collateral() {
    let mut c = setup(OUTLAYER);
    c.set_collateral(COLLATERAL_JSON.to_string());
}

#[test]
#[should_panic(expected = "Measurement rtmr1 must be 48 bytes of hex")]
fn malformed_measurements_are_refused() {
    let mut c = setup(OUTLAYER);
    set(OWNER, VERIFY_AT_NANOS);
    let mut bad = sample_measurements();
    bad.rtmr1 = "abc".into();
    c.add_approved_measurements(bad);
}

#[test]
#[should_panic(expected = "Measurements are already approved")]
fn measurements_are_approved_once() {
    let mut c = setup(OUTLAYER);
    set(OWNER, VERIFY_AT_NANOS);
    c.add_approved_measurements(sample_measurements());
}

#[test]
fn measurement_sets_are_listed_and_removed_with_events() {
    let mut c = setup(OUTLAYER);
    set(OWNER, VERIFY_AT_NANOS);
    c.remove_approved_measurements(sample_measurements());
    assert_eq!(event("measurements_removed"), json!({"measurements": serde_json::to_value(sample_measurements()).unwrap()}));
    assert!(c.get_approved_measurements().is_empty());
    assert!(c.has_collateral());
}

#[test]
fn owner_removes_a_worker_key_from_the_main_contract() {
    let mut c = setup(OUTLAYER);
    c.register_worker_key(sample_bound_key(), quote_hex());
    set(OWNER, VERIFY_AT_NANOS);
    c.remove_worker_key(sample_bound_key());
    assert_eq!(event("worker_key_removed"), json!({"public_key": sample_bound_key().to_string()}));
    match &get_created_receipts()[0].actions[0] {
        MockAction::FunctionCallWeight { method_name, .. } => {
            assert_eq!(method_name, b"remove_worker_key")
        }
        other => panic!("unexpected action {other:?}"),
    }
    assert!(c.get_worker(sample_bound_key()).is_none());
}

#[test]
#[should_panic(expected = "Only the owner can call this method")]
fn strangers_cannot_remove_worker_keys() {
    let mut c = setup(OUTLAYER);
    c.register_worker_key(sample_bound_key(), quote_hex());
    c.remove_worker_key(sample_bound_key());
}

#[test]
#[should_panic(expected = "TCB status is ConfigurationAndSWHardeningNeeded, expected UpToDate")]
fn platforms_needing_updates_are_refused() {
    let mut c = setup(OUTLAYER);
    set(OWNER, VERIFY_AT_NANOS);
    c.set_collateral(SGX_COLLATERAL_JSON.to_string());
    set("worker.near", VERIFY_AT_NANOS);
    c.register_worker_key(sample_bound_key(), hex::encode(SGX_QUOTE));
}

#[test]
fn ownership_moves_and_views_report_the_setup() {
    let mut c = setup(OUTLAYER);
    assert_eq!(c.get_owner(), acc(OWNER));
    assert_eq!(c.get_outlayer_contract(), acc(OUTLAYER));
    assert_eq!(c.get_approved_measurements(), vec![sample_measurements()]);
    set(OWNER, VERIFY_AT_NANOS);
    c.set_owner(acc("new.near"));
    assert_eq!(c.get_owner(), acc("new.near"));
}

#[test]
#[should_panic(expected = "Worker key is not registered")]
fn removing_an_unknown_worker_key_fails() {
    let mut c = setup(OUTLAYER);
    set(OWNER, VERIFY_AT_NANOS);
    c.remove_worker_key(unbound_key());
}

#[test]
#[should_panic(expected = "Measurements are not approved")]
fn removing_unknown_measurements_fails() {
    let mut c = setup(OUTLAYER);
    set(OWNER, VERIFY_AT_NANOS);
    let mut other = sample_measurements();
    other.mrtd = "cd".repeat(48);
    c.remove_approved_measurements(other);
}

fn sync_result(result: near_sdk::PromiseResult) {
    let mut c = VMContextBuilder::new();
    c.current_account_id(acc(CONTRACT)).predecessor_account_id(acc(CONTRACT)).block_timestamp(VERIFY_AT_NANOS);
    testing_env!(c.build(), near_sdk::test_vm_config(), near_sdk::RuntimeFeesConfig::test(), Default::default(), vec![result],);
}

#[test]
fn a_refused_sync_undoes_the_registration() {
    let mut c = setup(OUTLAYER);
    c.register_worker_key(sample_bound_key(), quote_hex());
    sync_result(near_sdk::PromiseResult::Failed);
    c.on_worker_key_synced(sample_bound_key(), true);
    assert_eq!(event("worker_key_sync_failed"), json!({"public_key": sample_bound_key().to_string(), "added": true}));
    assert!(c.get_worker(sample_bound_key()).is_none());
    // The worker can register again.
    set("worker.near", VERIFY_AT_NANOS);
    c.register_worker_key(sample_bound_key(), quote_hex());
}

#[test]
fn a_successful_sync_keeps_the_registration() {
    let mut c = setup(OUTLAYER);
    c.register_worker_key(sample_bound_key(), quote_hex());
    sync_result(near_sdk::PromiseResult::Successful(vec![]));
    c.on_worker_key_synced(sample_bound_key(), true);
    assert!(get_logs().is_empty());
    assert!(c.get_worker(sample_bound_key()).is_some());
}
