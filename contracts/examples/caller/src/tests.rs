use near_sdk::json_types::U128;
use near_sdk::mock::MockAction;
use near_sdk::serde_json::{self, Value, json};
use near_sdk::test_utils::{VMContextBuilder, get_created_receipts};
use near_sdk::{AccountId, NearToken, PromiseError, testing_env};

use super::*;

const DEPOSIT: u128 = 10_000_000_000_000_000_000_000;

fn acc(s: &str) -> AccountId {
    s.parse().unwrap()
}

fn set(predecessor: &str, deposit: u128) {
    let mut c = VMContextBuilder::new();
    c.current_account_id(acc("caller.near")).predecessor_account_id(acc(predecessor)).attached_deposit(NearToken::from_yoctonear(deposit));
    testing_env!(c.build());
}

fn setup() -> Caller {
    set("caller.near", 0);
    Caller::new(acc("outlayer.near"), "dev.near/echo".into())
}

fn outcome(success: bool, output: Option<ExecutionOutput>, error: Option<&str>) -> ExecutionOutcome {
    ExecutionOutcome { request_id: 0, success, output, error: error.map(String::from), cost: U128(1), refund: U128(2) }
}

#[test]
fn run_forwards_the_deposit_to_request_execution_and_chains_the_callback() {
    let mut c = setup();
    set("alice.near", DEPOSIT);
    let _ = c.run("hello".into());
    let receipts = get_created_receipts();
    assert_eq!(receipts.len(), 2);
    assert_eq!(receipts[0].receiver_id, acc("outlayer.near"));
    match &receipts[0].actions[0] {
        MockAction::FunctionCallWeight { method_name, args, attached_deposit, prepaid_gas, .. } => {
            assert_eq!(method_name, b"request_execution");
            assert_eq!(attached_deposit.as_yoctonear(), DEPOSIT);
            assert_eq!(prepaid_gas.as_tgas(), REQUEST_TGAS);
            let args: Value = serde_json::from_slice(args).unwrap();
            assert_eq!(
                args,
                json!({
                    "source": {"project": {"project_id": "dev.near/echo", "version": null}},
                    "resource_limits": null,
                    "input": "hello",
                    "secrets_ref": null,
                    "response_format": "Text",
                    "payer": "alice.near",
                    "params": null,
                })
            );
        }
        other => panic!("unexpected action {other:?}"),
    }
    assert_eq!(receipts[1].receiver_id, acc("caller.near"));
    match &receipts[1].actions[0] {
        MockAction::FunctionCallWeight { method_name, args, .. } => {
            assert_eq!(method_name, b"on_outlayer_result");
            assert_eq!(serde_json::from_slice::<Value>(args).unwrap(), json!({"job_id": 0}));
        }
        other => panic!("unexpected action {other:?}"),
    }
    assert_eq!(c.get_job(0).unwrap().status, JobStatus::Pending);
}

#[test]
fn success_stores_and_returns_the_output() {
    let mut c = setup();
    set("alice.near", DEPOSIT);
    let _ = c.run("hello".into());
    set("caller.near", 0);
    let out = c.on_outlayer_result(0, Ok(outcome(true, Some(ExecutionOutput::Text("HELLO".into())), None)));
    assert_eq!(out.as_deref(), Some("HELLO"));
    assert_eq!(c.get_job(0).unwrap().status, JobStatus::Done { output: "HELLO".into() });
}

#[test]
fn json_outputs_are_kept_as_json_text() {
    let mut c = setup();
    set("alice.near", DEPOSIT);
    let _ = c.run("x".into());
    set("caller.near", 0);
    let out = c.on_outlayer_result(0, Ok(outcome(true, Some(ExecutionOutput::Json(json!({"n": 1}))), None)));
    assert_eq!(out.as_deref(), Some("{\"n\":1}"));
}

#[test]
fn failure_records_the_error() {
    let mut c = setup();
    set("alice.near", DEPOSIT);
    let _ = c.run("hello".into());
    set("caller.near", 0);
    let out = c.on_outlayer_result(0, Ok(outcome(false, None, Some("Execution timed out: no worker resolved the request"))));
    assert_eq!(out, None);
    assert_eq!(c.get_job(0).unwrap().status, JobStatus::Failed { error: "Execution timed out: no worker resolved the request".into() });
    assert!(get_created_receipts().is_empty());
}

#[test]
fn a_failed_outlayer_call_returns_the_deposit() {
    let mut c = setup();
    set("alice.near", DEPOSIT);
    let _ = c.run("hello".into());
    set("caller.near", 0);
    assert_eq!(c.on_outlayer_result(0, Err(PromiseError::Failed)), None);
    let receipts = get_created_receipts();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].receiver_id, acc("alice.near"));
    assert!(matches!(receipts[0].actions[0], MockAction::Transfer { deposit, .. } if deposit.as_yoctonear() == DEPOSIT));
    assert!(matches!(c.get_job(0).unwrap().status, JobStatus::Failed { .. }));
}

#[test]
#[should_panic(expected = "Attach a deposit for OutLayer's execution fee")]
fn run_needs_a_deposit() {
    let mut c = setup();
    set("alice.near", 0);
    let _ = c.run("hello".into());
}

#[test]
fn job_status_has_a_tagged_json_shape() {
    let done = serde_json::to_value(JobStatus::Done { output: "a".into() }).unwrap();
    assert_eq!(done, json!({"status": "done", "output": "a"}));
}

/// The arguments `run` sends parse as the real contract's argument types, and the real
/// contract's outcome parses as this example's `ExecutionOutcome`.
#[test]
fn json_matches_the_outlayer_contract() {
    let source: outlayer_contract::ExecutionSource =
        serde_json::from_value(json!({"project": {"project_id": "dev.near/echo", "version": null}})).unwrap();
    assert_eq!(source, outlayer_contract::ExecutionSource::Project { project_id: "dev.near/echo".into(), version: None });
    let format: outlayer_contract::ResponseFormat = serde_json::from_value(json!("Text")).unwrap();
    assert_eq!(format, outlayer_contract::ResponseFormat::Text);

    let real = outlayer_contract::ExecutionOutcome {
        request_id: 4,
        success: true,
        output: Some(outlayer_contract::ExecutionOutput::Json(json!([1, 2]))),
        error: None,
        instructions_used: 10,
        time_ms: 3,
        cost: U128(5),
        refund: U128(6),
        developer_earnings: U128(0),
        worker_public_key: None,
        signature: Some("ab".into()),
    };
    let ours: ExecutionOutcome = serde_json::from_value(serde_json::to_value(real).unwrap()).unwrap();
    assert_eq!(ours.request_id, 4);
    assert_eq!(ours.output, Some(ExecutionOutput::Json(json!([1, 2]))));
    assert_eq!(ours.refund, U128(6));
}
