use near_sdk::PromiseError;
use near_sdk::json_types::U128;
use near_sdk::serde_json::{self, json};

use super::*;

const ONE_NEAR: u128 = 1_000_000_000_000_000_000_000_000;

/// A context where the worker key signs a transaction on the contract's own account (the
/// function-call access key the register flow adds). Requests made in the same context can be
/// resumed, because the mocked yields live only as long as one `testing_env!`.
fn worker_ctx(deposit: u128) -> VMContextBuilder {
    let mut c = ctx(CONTRACT, deposit);
    c.signer_account_pk(worker_key());
    c
}

/// Creates request 0 (payer alice) and returns the payload `resolve_execution` hands to
/// `promise_yield_resume` for `response` (the mock does not expose resumed payloads).
fn request_and_resolve(c: &mut Contract, response: ExecutionResponse) -> Vec<u8> {
    set(&worker_ctx(ONE_NEAR));
    c.request_execution(wasm_source(), None, None, None, None, Some(acc("alice.near")), None);
    c.prepare_resume(0, response).1
}

#[test]
fn registered_worker_resumes_the_yield() {
    let mut c = setup_with_worker();
    set(&worker_ctx(ONE_NEAR));
    c.request_execution(wasm_source(), None, None, None, None, None, None);
    // Panics with "no longer waiting" if promise_yield_resume returned false.
    c.resolve_execution(0, ok_response(&"x".repeat(2000), 1, 1), None);
    assert!(c.get_request(0).unwrap().resolved);
    assert_eq!(c.large_outputs.get(&0).map(|b| b.len()), Some(2000));
}

#[test]
fn worker_resolution_resumes_the_yield_and_the_callback_settles() {
    let mut c = setup_with_worker();
    let payload = request_and_resolve(&mut c, ok_response("42", 2_000_000, 1500));
    let response: ExecutionResponse = serde_json::from_slice(&payload).unwrap();
    assert_eq!(response.output, Some(ExecutionOutput::Text("42".into())));
    assert_eq!(response.worker_public_key, Some(worker_key()));
    assert!(c.get_request(0).unwrap().resolved);

    set(&ctx(CONTRACT, 0));
    let returned = c.on_execution_resolved(0, Ok(response));
    // 1e21 + 2 × 1e17 + 1500 × 1e17
    let cost = BASE_FEE + 200_000_000_000_000_000 + 150_000_000_000_000_000_000;
    // The caller receives the output itself (OutLayer v0.1): a Text output as a string.
    assert_eq!(returned, Some(json!("42")));
    assert_eq!(transfers(), vec![("alice.near".to_string(), ONE_NEAR - cost)]);
    assert_eq!(
        event("execution_completed"),
        json!({
            "sender_id": "outlayer.near",
            "code_source": {"WasmUrl": {"url": "https://example.com/app.wasm", "hash": "ab".repeat(32), "build_target": null}},
            "resources_used": {"instructions": 2_000_000, "time_ms": 1500},
            "success": true, "error_message": null,
            "payment_charged": cost.to_string(), "payment_refunded": (ONE_NEAR - cost).to_string(),
            "compilation_note": null, "timestamp": NOW_NS,
            "request_id": 0, "timed_out": false, "payer_account_id": "alice.near",
            "developer_earnings": "0", "output_bytes": 2,
            "worker_public_key": worker_key().to_string(),
        })
    );
    assert!(c.get_request(0).is_none());
    assert_eq!(c.get_config().platform_fees, U128(cost));
}

#[test]
fn cost_never_exceeds_the_reserved_estimate() {
    let mut c = setup_with_worker();
    let payload = request_and_resolve(&mut c, ok_response("x", 400_000_000_000, 900_000));
    set(&ctx(CONTRACT, 0));
    c.on_execution_resolved(0, Ok(serde_json::from_slice(&payload).unwrap()));
    assert_eq!(event("execution_completed")["payment_charged"], DEFAULT_ESTIMATE.to_string());
    assert_eq!(transfers(), vec![("alice.near".to_string(), ONE_NEAR - DEFAULT_ESTIMATE)]);
}

#[test]
#[should_panic(expected = "Only registered worker keys can resolve executions")]
fn unregistered_key_cannot_resolve() {
    let mut c = setup_with_worker();
    set(&ctx(CONTRACT, ONE_NEAR).signer_account_pk(other_key()).clone());
    c.request_execution(wasm_source(), None, None, None, None, None, None);
    c.resolve_execution(0, ok_response("x", 1, 1), None);
}

#[test]
#[should_panic(expected = "Only registered worker keys can resolve executions")]
fn worker_key_from_another_account_cannot_resolve() {
    let mut c = setup_with_worker();
    request(&mut c, "alice.near", ONE_NEAR);
    set(&ctx("mallory.near", 0).signer_account_pk(worker_key()).clone());
    c.resolve_execution(0, ok_response("x", 1, 1), None);
}

#[test]
fn configured_worker_account_may_resolve() {
    let mut c = setup_with_worker();
    c.set_worker_account(Some(acc("workers.near")));
    set(&ctx("workers.near", ONE_NEAR).signer_account_pk(worker_key()).clone());
    c.request_execution(wasm_source(), None, None, None, None, None, None);
    c.resolve_execution(0, ok_response("x", 1, 1), None);
    assert!(c.get_request(0).unwrap().resolved);
}

#[test]
#[should_panic(expected = "Request 0 is already resolved")]
fn a_request_is_resolved_once() {
    let mut c = setup_with_worker();
    set(&worker_ctx(ONE_NEAR));
    c.request_execution(wasm_source(), None, None, None, None, None, None);
    c.resolve_execution(0, ok_response("x", 1, 1), None);
    c.resolve_execution(0, ok_response("y", 1, 1), None);
}

#[test]
#[should_panic(expected = "Request 7 not found")]
fn unknown_request_cannot_be_resolved() {
    let mut c = setup_with_worker();
    set(&worker_ctx(0));
    c.resolve_execution(7, ok_response("x", 1, 1), None);
}

#[test]
#[should_panic(expected = "Request 0 is no longer waiting (timed out or resolved)")]
fn expired_yield_cannot_be_resumed() {
    let mut c = setup_with_worker();
    request(&mut c, "alice.near", ONE_NEAR);
    // A new context drops the mocked yield, like a yield that already timed out.
    set(&worker_ctx(0));
    c.resolve_execution(0, ok_response("x", 1, 1), None);
}

#[test]
fn large_output_travels_through_storage() {
    let mut c = setup_with_worker();
    let big = "é".repeat(1500); // 3000 bytes
    let payload = request_and_resolve(&mut c, ok_response(&big, 10, 10));
    assert!(payload.len() <= MAX_RESUME_PAYLOAD_BYTES, "payload {} bytes", payload.len());
    let response: ExecutionResponse = serde_json::from_slice(&payload).unwrap();
    assert!(response.output_stored);
    assert_eq!(response.output, None);

    set(&ctx(CONTRACT, 0));
    let returned = c.on_execution_resolved(0, Ok(response));
    assert_eq!(returned, Some(json!(big)));
    assert_eq!(event("execution_completed")["output_bytes"], 3000);
    assert!(c.large_outputs.get(&0).is_none());
}

#[test]
#[should_panic(expected = "Output is 32769 bytes; the limit is 32768")]
fn output_above_the_limit_is_refused() {
    let mut c = setup_with_worker();
    request_and_resolve(&mut c, ok_response(&"x".repeat(32769), 1, 1));
}

#[test]
fn yield_timeout_charges_the_base_fee_only() {
    let mut c = setup();
    request(&mut c, "alice.near", ONE_NEAR);
    set(&ctx(CONTRACT, 0));
    assert_eq!(c.on_execution_resolved(0, Err(PromiseError::Failed)), None);
    assert_eq!(transfers(), vec![("alice.near".to_string(), ONE_NEAR - BASE_FEE)]);
    let data = event("execution_completed");
    assert_eq!((data["success"].clone(), data["timed_out"].clone()), (json!(false), json!(true)));
    assert_eq!(data["error_message"], "Execution timed out: no worker resolved the request");
    assert_eq!(data["payment_charged"], BASE_FEE.to_string());
}

/// micro-USD per NEAR in these tests ($2 a NEAR).
const RATE: u128 = 2_000_000;

/// Request 0 of project dev.near/app paying `attached_usd` micro-USD to the developer, at
/// [`RATE`]: 1000 micro-USD reserve 5e20 yoctoNEAR.
fn project_request(c: &mut Contract, attached_usd: u128) {
    c.set_payment_rate(U128(RATE));
    set(&ctx("dev.near", ONE_NEAR));
    c.create_project("app".into());
    c.add_version("app".into(), "11".repeat(32), "https://x.org/1.wasm".into(), None);
    set(&worker_ctx(ONE_NEAR));
    c.request_execution(
        ExecutionSource::Project { project_id: "dev.near/app".into(), version_key: None },
        None,
        None,
        None,
        Some(ResponseFormat::Json),
        Some(acc("alice.near")),
        Some(RequestParams { attached_usd: Some(U128(attached_usd)), ..Default::default() }),
    );
}

#[test]
fn failure_charges_the_base_fee_and_returns_the_developer_payment() {
    let mut c = setup_with_worker();
    project_request(&mut c, 1000);
    set(&ctx(CONTRACT, 0));
    let failed = ExecutionResponse {
        success: false,
        error: Some("exit 1".into()),
        resources_used: ResourcesUsed { instructions: 5, ..Default::default() },
        ..Default::default()
    };
    assert_eq!(c.on_execution_resolved(0, Ok(failed)), None);
    let data = event("execution_completed");
    assert_eq!((data["error_message"].clone(), data["developer_earnings"].clone()), (json!("exit 1"), json!("0")));
    assert_eq!(transfers(), vec![("alice.near".to_string(), ONE_NEAR - BASE_FEE)]);
    assert_eq!(c.get_developer_earnings(acc("dev.near")), U128(0));
}

#[test]
fn developer_is_paid_minus_the_guest_refund_and_can_withdraw() {
    let mut c = setup_with_worker();
    project_request(&mut c, 1000);
    set(&ctx(CONTRACT, 0));
    let mut response = ExecutionResponse {
        success: true,
        output: Some(ExecutionOutput::Text("{\"a\":1}".into())),
        refund_usd: Some(300),
        ..Default::default()
    };
    response.worker_public_key = Some(worker_key());
    // 1000 micro-USD at $2 a NEAR reserved 5e20 yocto; the guest gave back 300 of the 1000.
    let earned: u128 = 350_000_000_000_000_000_000;
    assert_eq!(c.on_execution_resolved(0, Ok(response)), Some(json!({"a": 1})));
    let data = event("execution_completed");
    assert_eq!(data["developer_earnings"], earned.to_string());
    assert_eq!(data["payment_charged"], BASE_FEE.to_string());
    assert_eq!(transfers(), vec![("alice.near".to_string(), ONE_NEAR - BASE_FEE - earned)]);

    set(&ctx("dev.near", 0));
    assert_eq!(c.get_developer_earnings(acc("dev.near")), U128(earned));
    assert_eq!(c.withdraw_developer_earnings(), U128(earned));
    assert_eq!(transfers(), vec![("dev.near".to_string(), earned)]);
    assert_eq!(event("developer_earnings_withdrawn"), json!({"account_id": "dev.near", "amount": earned.to_string()}));
}

#[test]
fn guest_refund_is_bounded_by_the_developer_payment() {
    let mut c = setup_with_worker();
    project_request(&mut c, 1000);
    set(&ctx(CONTRACT, 0));
    let response = ExecutionResponse {
        success: true,
        output: Some(ExecutionOutput::Json(json!(1))),
        refund_usd: Some(u64::MAX),
        ..Default::default()
    };
    assert_eq!(c.on_execution_resolved(0, Ok(response)), Some(json!(1)));
    let data = event("execution_completed");
    assert_eq!(data["developer_earnings"], "0");
    assert_eq!(data["payment_refunded"], (ONE_NEAR - BASE_FEE).to_string());
}

#[test]
fn json_format_with_invalid_output_fails() {
    let mut c = setup_with_worker();
    project_request(&mut c, 0);
    set(&ctx(CONTRACT, 0));
    assert_eq!(c.on_execution_resolved(0, Ok(ok_response("not json", 1, 1))), None);
    let data = event("execution_completed");
    assert_eq!((data["success"].clone(), data["error_message"].clone()), (json!(false), json!("Output is not valid JSON")));
    assert_eq!(data["payment_charged"], BASE_FEE.to_string());
}

#[test]
#[should_panic(expected = "Request 0 is not stale yet: wait 900 more seconds")]
fn fresh_requests_cannot_be_cancelled() {
    let mut c = setup();
    request(&mut c, "alice.near", ONE_NEAR);
    set(&ctx("bob.near", 0));
    c.cancel_stale_request(0);
}

#[test]
fn stale_requests_are_cancelled_with_a_full_refund() {
    let mut c = setup();
    request(&mut c, "alice.near", ONE_NEAR);
    let mut later = ctx("bob.near", 0);
    later.block_timestamp(NOW_NS + 900 * 1_000_000_000);
    set(&later);
    assert_eq!(c.cancel_stale_request(0), U128(ONE_NEAR));
    assert_eq!(transfers(), vec![("alice.near".to_string(), ONE_NEAR)]);
    assert_eq!(event("execution_cancelled"), json!({"request_id": 0, "payer": "alice.near", "refund": ONE_NEAR.to_string()}));
    // A callback arriving afterwards pays nothing twice.
    set(&ctx(CONTRACT, 0));
    assert_eq!(c.on_execution_resolved(0, Err(PromiseError::Failed)), None);
    assert!(transfers().is_empty());
    assert!(events().is_empty());
}

#[test]
fn bytes_output_reaches_the_caller_as_base64() {
    let mut c = setup_with_worker();
    set(&worker_ctx(ONE_NEAR));
    c.request_execution(wasm_source(), None, None, None, Some(ResponseFormat::Bytes), None, None);
    let response = ExecutionResponse { success: true, output: Some(ExecutionOutput::Bytes(vec![0, 255, 1])), ..Default::default() };
    let payload = c.prepare_resume(0, response);
    set(&ctx(CONTRACT, 0));
    assert_eq!(c.on_execution_resolved(0, Ok(serde_json::from_slice(&payload.1).unwrap())), Some(json!("AP8B")));
}

#[test]
#[should_panic(expected = "attached_usd needs a payment rate: the owner has not set one (set_payment_rate)")]
fn attached_usd_needs_a_payment_rate() {
    let mut c = setup_with_worker();
    set(&ctx("dev.near", ONE_NEAR));
    c.create_project("app".into());
    c.add_version("app".into(), "11".repeat(32), "https://x.org/1.wasm".into(), None);
    set(&ctx("alice.near", ONE_NEAR));
    let params = RequestParams { attached_usd: Some(U128(5)), ..Default::default() };
    let source = ExecutionSource::Project { project_id: "dev.near/app".into(), version_key: None };
    c.request_execution(source, None, None, None, None, None, Some(params));
}
