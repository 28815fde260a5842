use near_sdk::json_types::U128;
use near_sdk::serde_json::json;

use super::*;

#[test]
fn request_with_wasm_url_emits_execution_requested() {
    let mut c = setup();
    let id = request(&mut c, "alice.near", NearToken::from_near(1).as_yoctonear());
    assert_eq!(id, 0);
    let pending = c.get_request(0).unwrap();
    let data = event("execution_requested");
    assert_eq!(
        data,
        json!({
            "request_id": 0,
            "data_id": crate::execution::hex_encode(&pending.data_id),
            "sender": "alice.near",
            "signer": "alice.near",
            "payer": "alice.near",
            "source": {
                "project_id": null,
                "project_owner": null,
                "wasm_url": "https://example.com/app.wasm",
                "wasm_sha256": "ab".repeat(32),
            },
            "resource_limits": {"max_instructions": 1_000_000_000u64, "max_memory_mb": 128, "max_execution_seconds": 60},
            "input": "hi",
            "secrets_ref": null,
            "response_format": "Text",
            "attached": NearToken::from_near(1).as_yoctonear().to_string(),
            "developer_payment": "0",
            "compile_only": false,
            "force_rebuild": false,
            "block_height": 1000,
            "block_timestamp": NOW_NS.to_string(),
        })
    );
    assert_eq!(pending.estimate.as_yoctonear(), DEFAULT_ESTIMATE);
}

#[test]
fn request_for_a_project_runs_its_active_version() {
    let mut c = setup();
    set(&ctx("dev.near", NearToken::from_near(1).as_yoctonear()));
    c.create_project("app".into());
    c.add_version("app".into(), "11".repeat(32), "https://x.org/1.wasm".into(), None);
    c.add_version("app".into(), "22".repeat(32), "https://x.org/2.wasm".into(), None);
    set(&ctx("alice.near", NearToken::from_near(1).as_yoctonear()));
    c.request_execution(
        ExecutionSource::Project { project_id: "dev.near/app".into(), version: None },
        None,
        None,
        None,
        Some(ResponseFormat::Json),
        Some(acc("payer.near")),
        None,
    );
    let data = event("execution_requested");
    assert_eq!(data["source"]["project_id"], "dev.near/app");
    assert_eq!(data["source"]["project_owner"], "dev.near");
    assert_eq!(data["source"]["wasm_sha256"], "11".repeat(32));
    assert_eq!(data["source"]["wasm_url"], "https://x.org/1.wasm");
    assert_eq!(data["payer"], "payer.near");
    assert_eq!(data["response_format"], "Json");

    set(&ctx("alice.near", NearToken::from_near(1).as_yoctonear()));
    c.request_execution(
        ExecutionSource::Project { project_id: "dev.near/app".into(), version: Some("22".repeat(32)) },
        None,
        None,
        None,
        None,
        None,
        None,
    );
    assert_eq!(event("execution_requested")["source"]["wasm_url"], "https://x.org/2.wasm");
}

#[test]
#[should_panic(expected = "Project bob.near/x not found")]
fn unknown_project_is_refused() {
    let mut c = setup();
    set(&ctx("alice.near", NearToken::from_near(1).as_yoctonear()));
    c.request_execution(ExecutionSource::Project { project_id: "bob.near/x".into(), version: None }, None, None, None, None, None, None);
}

#[test]
#[should_panic(
    expected = "Attached deposit 7099999999999999999999 yoctoNEAR is less than the required 7100000000000000000000 yoctoNEAR (estimated cost 7100000000000000000000 + developer payment 0)"
)]
fn deposit_below_the_estimate_is_refused() {
    let mut c = setup();
    request(&mut c, "alice.near", DEFAULT_ESTIMATE - 1);
}

#[test]
fn deposit_equal_to_the_estimate_is_enough() {
    let mut c = setup();
    request(&mut c, "alice.near", DEFAULT_ESTIMATE);
    assert!(c.get_request(0).is_some());
}

#[test]
#[should_panic(expected = "max_instructions must be between 1 and 500000000000, got 500000000001")]
fn instructions_above_the_cap_are_refused() {
    let mut c = setup();
    set(&ctx("alice.near", NearToken::from_near(10).as_yoctonear()));
    let limits = ResourceLimits { max_instructions: Some(500_000_000_001), ..Default::default() };
    c.request_execution(wasm_source(), Some(limits), None, None, None, None, None);
}

#[test]
#[should_panic(expected = "max_execution_seconds must be between 1 and 180, got 181")]
fn wall_time_above_the_cap_is_refused() {
    let mut c = setup();
    set(&ctx("alice.near", NearToken::from_near(10).as_yoctonear()));
    let limits = ResourceLimits { max_execution_seconds: Some(181), ..Default::default() };
    c.request_execution(wasm_source(), Some(limits), None, None, None, None, None);
}

#[test]
#[should_panic(expected = "max_memory_mb must be between 1 and 512, got 0")]
fn zero_memory_is_refused() {
    let mut c = setup();
    set(&ctx("alice.near", NearToken::from_near(10).as_yoctonear()));
    let limits = ResourceLimits { max_memory_mb: Some(0), ..Default::default() };
    c.request_execution(wasm_source(), Some(limits), None, None, None, None, None);
}

#[test]
#[should_panic(expected = "Input is 8193 bytes once JSON-escaped; the limit is 8192")]
fn oversized_input_is_refused() {
    let mut c = setup();
    set(&ctx("alice.near", NearToken::from_near(1).as_yoctonear()));
    c.request_execution(wasm_source(), None, Some("x".repeat(8193)), None, None, None, None);
}

#[test]
#[should_panic(expected = "wasm sha256 must be 64 hex characters")]
fn malformed_sha256_is_refused() {
    let mut c = setup();
    set(&ctx("alice.near", NearToken::from_near(1).as_yoctonear()));
    let source = ExecutionSource::WasmUrl { url: "https://a.b/c.wasm".into(), sha256: "xyz".into() };
    c.request_execution(source, None, None, None, None, None, None);
}

#[test]
#[should_panic(expected = "Source URL must start with https:// or ipfs:// and be at most 512 bytes")]
fn plain_http_url_is_refused() {
    let mut c = setup();
    set(&ctx("alice.near", NearToken::from_near(1).as_yoctonear()));
    let source = ExecutionSource::WasmUrl { url: "http://a.b/c.wasm".into(), sha256: "ab".repeat(32) };
    c.request_execution(source, None, None, None, None, None, None);
}

#[test]
#[should_panic(expected = "Contract is paused")]
fn paused_contract_refuses_requests() {
    let mut c = setup();
    c.pause();
    request(&mut c, "alice.near", NearToken::from_near(1).as_yoctonear());
}

#[test]
#[should_panic(expected = "No secrets of alice.near with profile default for this source")]
fn missing_secrets_are_refused() {
    let mut c = setup();
    set(&ctx("alice.near", NearToken::from_near(1).as_yoctonear()));
    let secrets = SecretsRef { account_id: acc("alice.near"), profile: "default".into() };
    c.request_execution(wasm_source(), None, None, Some(secrets), None, None, None);
}

#[test]
#[should_panic(expected = "A developer payment needs a project source")]
fn developer_payment_needs_a_project() {
    let mut c = setup();
    set(&ctx("alice.near", NearToken::from_near(1).as_yoctonear()));
    let params = ExecutionParams { developer_payment: Some(U128(5)), ..Default::default() };
    c.request_execution(wasm_source(), None, None, None, None, None, Some(params));
}

#[test]
#[should_panic(expected = "Attach at least 50 TGas to request_execution")]
fn too_little_gas_is_refused() {
    let mut c = setup();
    let mut context = ctx("alice.near", NearToken::from_near(1).as_yoctonear());
    context.prepaid_gas(Gas::from_tgas(49));
    set(&context);
    c.request_execution(wasm_source(), None, None, None, None, None, None);
}

#[test]
fn estimate_follows_the_pricing_formula() {
    let c = setup();
    assert_eq!(c.estimate_cost(None), U128(DEFAULT_ESTIMATE));
    let limits = ResourceLimits { max_instructions: Some(500_000_000_000), max_memory_mb: None, max_execution_seconds: Some(180) };
    // 1e21 + 500_000 × 1e17 + 180_000 × 1e17
    assert_eq!(c.estimate_cost(Some(limits)), U128(1_000_000_000_000_000_000_000 + 68_000_000_000_000_000_000_000));
}

#[test]
fn request_ids_increase_and_pending_requests_are_listed() {
    let mut c = setup();
    request(&mut c, "alice.near", NearToken::from_near(1).as_yoctonear());
    request(&mut c, "bob.near", NearToken::from_near(1).as_yoctonear());
    let pending = c.list_pending_requests(None, None);
    assert_eq!(pending.iter().map(|r| r.request_id).collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(pending[1].sender_id, acc("bob.near"));
}

#[test]
#[should_panic(expected = "Input is 12000 bytes once JSON-escaped; the limit is 8192")]
fn input_that_escapes_past_the_log_limit_is_refused() {
    let mut c = setup();
    set(&ctx("alice.near", NearToken::from_near(1).as_yoctonear()));
    // 2000 bytes that become "\u0001" (6 bytes each) in the event log.
    c.request_execution(wasm_source(), None, Some("\u{1}".repeat(2000)), None, None, None, None);
}

#[test]
#[should_panic(expected = "Source URL must start with https:// or ipfs:// and be at most 512 bytes")]
fn overlong_wasm_urls_are_refused() {
    let mut c = setup();
    set(&ctx("alice.near", NearToken::from_near(1).as_yoctonear()));
    let url = format!("https://example.com/{}", "a".repeat(500));
    let source = ExecutionSource::WasmUrl { url, sha256: "ab".repeat(32) };
    c.request_execution(source, None, None, None, None, None, None);
}

#[test]
fn input_of_exactly_the_limit_is_accepted() {
    let mut c = setup();
    set(&ctx("alice.near", NearToken::from_near(1).as_yoctonear()));
    c.request_execution(wasm_source(), None, Some("x".repeat(8192)), None, None, None, None);
    assert_eq!(event("execution_requested")["input"].as_str().unwrap().len(), 8192);
}
