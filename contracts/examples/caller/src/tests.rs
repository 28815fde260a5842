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
                    "source": {"Project": {"project_id": "dev.near/echo", "version_key": null}},
                    "resource_limits": null,
                    "input_data": "hello",
                    "secrets_ref": null,
                    "response_format": "Text",
                    "payer_account_id": "alice.near",
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
    let out = c.on_outlayer_result(0, Ok(Some(json!("HELLO"))));
    assert_eq!(out.as_deref(), Some("HELLO"));
    assert_eq!(c.get_job(0).unwrap().status, JobStatus::Done { output: "HELLO".into() });
}

#[test]
fn json_outputs_are_kept_as_json_text() {
    let mut c = setup();
    set("alice.near", DEPOSIT);
    let _ = c.run("x".into());
    set("caller.near", 0);
    let out = c.on_outlayer_result(0, Ok(Some(json!({"n": 1}))));
    assert_eq!(out.as_deref(), Some("{\"n\":1}"));
}

#[test]
fn failure_records_the_error() {
    let mut c = setup();
    set("alice.near", DEPOSIT);
    let _ = c.run("hello".into());
    set("caller.near", 0);
    let out = c.on_outlayer_result(0, Ok(None));
    assert_eq!(out, None);
    assert_eq!(
        c.get_job(0).unwrap().status,
        JobStatus::Failed { error: "the execution failed or timed out (see OutLayer's execution_completed event)".into() }
    );
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

/// The arguments this OutLayer v0.1 client sends (every field set, built with its own types)
/// are accepted by our contract: `request_execution` runs with them, and its `get_request`
/// answer holds what was sent.
#[test]
fn what_an_outlayer_client_sends_is_accepted_by_the_contract() {
    let args = json!({
        "source": ExecutionSource::WasmUrl { url: "https://example.com/a.wasm".into(), hash: "AB".repeat(32), build_target: Some("wasm32-wasip1".into()) },
        "resource_limits": ResourceLimits { max_instructions: Some(2_000_000), max_memory_mb: Some(64), max_execution_seconds: Some(10) },
        "input_data": "{\"q\":1}",
        "secrets_ref": null,
        "response_format": ResponseFormat::Json,
        "payer_account_id": "alice.near",
        "params": RequestParams { store_on_fastfs: true, project_uuid: Some("p-7".into()), use_bound_identity: true, ..Default::default() },
    });
    let mut context = VMContextBuilder::new();
    context
        .current_account_id(acc("outlayer.near"))
        .predecessor_account_id(acc("caller.near"))
        .signer_account_id(acc("alice.near"))
        .attached_deposit(NearToken::from_near(1))
        .prepaid_gas(near_sdk::Gas::from_tgas(300));
    testing_env!(context.build());
    let mut outlayer = outlayer_contract::Contract::new(acc("owner.near"));
    // The contract's own argument types, read from the JSON as near-sdk's generated code does.
    let arg = |name: &str| args[name].clone();
    outlayer.request_execution(
        serde_json::from_value(arg("source")).unwrap(),
        serde_json::from_value(arg("resource_limits")).unwrap(),
        serde_json::from_value(arg("input_data")).unwrap(),
        serde_json::from_value(arg("secrets_ref")).unwrap(),
        serde_json::from_value(arg("response_format")).unwrap(),
        serde_json::from_value(arg("payer_account_id")).unwrap(),
        serde_json::from_value(arg("params")).unwrap(),
    );
    let request = serde_json::to_value(outlayer.get_request(0).unwrap()).unwrap();
    assert_eq!(request["input_data"], "{\"q\":1}");
    assert_eq!(request["source"]["wasm_sha256"], "ab".repeat(32));
    assert_eq!(request["limits"], json!({"max_instructions": 2_000_000, "max_memory_mb": 64, "max_execution_seconds": 10}));
    assert_eq!((request["response_format"].clone(), request["payer_id"].clone()), (json!("Json"), json!("alice.near")));
    assert_eq!(request["params"]["project_uuid"], "p-7");
    assert_eq!(request["code_source"], args["source"], "the source as sent");
}

/// What our contract's callback returns reaches this client's callback as it expects: a string
/// for Text (and base64 Bytes), the value for Json, `null` on failure.
#[test]
fn the_contracts_answers_parse_in_the_client() {
    for (output, stored) in [
        (outlayer_contract::ExecutionOutput::Text("hi".into()), "hi"),
        (outlayer_contract::ExecutionOutput::Bytes(vec![1, 2, 3]), "AQID"),
        (outlayer_contract::ExecutionOutput::Json(json!({"n": [1]})), "{\"n\":[1]}"),
    ] {
        let returned: Option<Value> = serde_json::from_value(json!(output.to_caller_value())).unwrap();
        assert_eq!(returned.map(output_text).as_deref(), Some(stored));
    }
}
