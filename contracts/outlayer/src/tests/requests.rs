use near_sdk::json_types::U128;
use near_sdk::serde_json::json;

use super::*;

#[test]
fn request_with_wasm_url_emits_execution_requested() {
    let mut c = setup();
    let id = request(&mut c, "alice.near", NearToken::from_near(1).as_yoctonear());
    assert_eq!(id, 0);
    let pending = c.get_request(0).unwrap();
    let logged = event("execution_requested");
    assert_eq!(logged["data_id"], json!(pending.data_id.to_vec()), "32 numbers");
    assert_eq!(logged["timestamp"], NOW_NS);
    assert_eq!(
        request_data(),
        json!({
            "request_id": 0,
            "sender_id": "alice.near",
            "predecessor_id": "alice.near",
            "code_source": {"WasmUrl": {"url": "https://example.com/app.wasm", "hash": "ab".repeat(32), "build_target": null}},
            "resource_limits": {"max_instructions": 1_000_000_000u64, "max_memory_mb": 128, "max_execution_seconds": 60},
            "input_data": "hi",
            "input_data_in_state": false,
            "secrets_ref": null,
            "response_format": "Text",
            "payment": NearToken::from_near(1).as_yoctonear().to_string(),
            "attached_usd": "0",
            "timestamp": NOW_NS,
            "compile_only": false,
            "force_rebuild": false,
            "store_on_fastfs": false,
            "use_bound_identity": false,
            "project_uuid": null,
            "project_id": null,
            "signer_id": "alice.near",
            "payer_account_id": "alice.near",
            "wasm_url": "https://example.com/app.wasm",
            "wasm_sha256": "ab".repeat(32),
            "developer_payment": "0",
            "block_height": 1000,
        })
    );
    assert_eq!(pending.estimate.as_yoctonear(), DEFAULT_ESTIMATE);
    assert_eq!(pending.input_data.as_deref(), Some("hi"), "get_request holds the input");
    assert!(!pending.input_data_in_state);
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
        ExecutionSource::Project { project_id: "dev.near/app".into(), version_key: None },
        None,
        None,
        None,
        Some(ResponseFormat::Json),
        Some(acc("payer.near")),
        None,
    );
    let data = request_data();
    assert_eq!(data["project_id"], "dev.near/app");
    assert_eq!(data["code_source"], json!({"Project": {"project_id": "dev.near/app", "version_key": null}}));
    assert_eq!(data["wasm_sha256"], "11".repeat(32));
    assert_eq!(data["wasm_url"], "https://x.org/1.wasm");
    assert_eq!(data["payer_account_id"], "payer.near");
    assert_eq!(data["response_format"], "Json");
    let pending = c.get_request(0).unwrap();
    assert_eq!(pending.source.project_owner, Some(acc("dev.near")));
    assert_eq!(pending.source.wasm_url, "https://x.org/1.wasm");

    set(&ctx("alice.near", NearToken::from_near(1).as_yoctonear()));
    c.request_execution(
        ExecutionSource::Project { project_id: "dev.near/app".into(), version_key: Some("22".repeat(32)) },
        None,
        None,
        None,
        None,
        None,
        None,
    );
    assert_eq!(request_data()["wasm_url"], "https://x.org/2.wasm");
}

#[test]
#[should_panic(expected = "Project bob.near/x not found")]
fn unknown_project_is_refused() {
    let mut c = setup();
    set(&ctx("alice.near", NearToken::from_near(1).as_yoctonear()));
    c.request_execution(
        ExecutionSource::Project { project_id: "bob.near/x".into(), version_key: None },
        None,
        None,
        None,
        None,
        None,
        None,
    );
}

#[test]
#[should_panic(
    expected = "Attached deposit 7099999999999999999999 yoctoNEAR is less than the required 7100000000000000000000 yoctoNEAR (estimated cost 7100000000000000000000 + developer payment 0 + input storage 0)"
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
#[should_panic(expected = "Input is 65537 bytes; the limit is 65536")]
fn oversized_input_is_refused() {
    let mut c = setup();
    set(&ctx("alice.near", NearToken::from_near(1).as_yoctonear()));
    c.request_execution(wasm_source(), None, Some("x".repeat(65537)), None, None, None, None);
}

#[test]
#[should_panic(expected = "wasm sha256 must be 64 hex characters")]
fn malformed_sha256_is_refused() {
    let mut c = setup();
    set(&ctx("alice.near", NearToken::from_near(1).as_yoctonear()));
    let source = ExecutionSource::WasmUrl { url: "https://a.b/c.wasm".into(), hash: "xyz".into(), build_target: None };
    c.request_execution(source, None, None, None, None, None, None);
}

#[test]
#[should_panic(expected = "Source URL must start with https:// or ipfs:// and be at most 512 bytes")]
fn plain_http_url_is_refused() {
    let mut c = setup();
    set(&ctx("alice.near", NearToken::from_near(1).as_yoctonear()));
    let source = ExecutionSource::WasmUrl { url: "http://a.b/c.wasm".into(), hash: "ab".repeat(32), build_target: None };
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
#[should_panic(expected = "attached_usd (a payment to the project developer) needs a Project source")]
fn attached_usd_needs_a_project() {
    let mut c = setup();
    set(&ctx("alice.near", NearToken::from_near(1).as_yoctonear()));
    let params = RequestParams { attached_usd: Some(U128(5)), ..Default::default() };
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
fn an_input_whose_escaping_would_overflow_the_log_is_kept_in_state() {
    let mut c = setup();
    // 2000 bytes that become "\\u0001" (7 bytes each) once escaped twice in request_data.
    let input = "\u{1}".repeat(2000);
    set(&ctx("alice.near", NearToken::from_near(1).as_yoctonear()));
    c.request_execution(wasm_source(), None, Some(input.clone()), None, None, None, None);
    let data = request_data();
    assert_eq!((data["input_data"].clone(), data["input_data_in_state"].clone()), (json!(""), json!(true)));
    assert_eq!(c.get_request(0).unwrap().input_data, Some(input));
}

#[test]
#[should_panic(expected = "Source URL must start with https:// or ipfs:// and be at most 512 bytes")]
fn overlong_wasm_urls_are_refused() {
    let mut c = setup();
    set(&ctx("alice.near", NearToken::from_near(1).as_yoctonear()));
    let url = format!("https://example.com/{}", "a".repeat(500));
    let source = ExecutionSource::WasmUrl { url, hash: "ab".repeat(32), build_target: None };
    c.request_execution(source, None, None, None, None, None, None);
}

#[test]
fn inputs_of_10000_bytes_or_more_are_kept_in_state_and_read_with_get_request() {
    let mut c = setup();
    set(&ctx("alice.near", NearToken::from_near(1).as_yoctonear()));
    c.request_execution(wasm_source(), None, Some("x".repeat(9999)), None, None, None, None);
    let data = request_data();
    assert_eq!((data["input_data"].as_str().unwrap().len(), data["input_data_in_state"].clone()), (9999, json!(false)));

    set(&ctx("alice.near", NearToken::from_near(1).as_yoctonear()));
    c.request_execution(wasm_source(), None, Some("y".repeat(65536)), None, None, None, None);
    let data = request_data();
    assert_eq!((data["input_data"].clone(), data["input_data_in_state"].clone()), (json!(""), json!(true)));
    let pending = c.get_request(1).unwrap();
    assert_eq!(pending.input_data, Some("y".repeat(65536)));
    assert!(pending.input_data_in_state);
    // The list stays small: no inputs there.
    assert!(c.list_pending_requests(None, None).iter().all(|r| r.input_data.is_none()));
    assert_eq!(c.get_pending_request_ids(None, None), vec![0, 1]);
}

#[test]
#[should_panic(expected = "input storage 100000000000000000000000")]
fn an_input_kept_in_state_needs_its_storage_attached() {
    let mut c = setup();
    set(&ctx("alice.near", DEFAULT_ESTIMATE));
    c.request_execution(wasm_source(), None, Some("x".repeat(10_000)), None, None, None, None);
}

#[test]
fn the_input_is_gone_once_settled() {
    let mut c = setup();
    request(&mut c, "alice.near", NearToken::from_near(1).as_yoctonear());
    set(&ctx(CONTRACT, 0));
    c.on_execution_resolved(0, Err(near_sdk::PromiseError::Failed));
    assert!(c.get_request(0).is_none());
    assert!(c.request_data.get(&0).is_none());
}

#[test]
fn outlayer_v01_arguments_parse() {
    // The JSON an OutLayer client sends, names and shapes of the v0.1 ABI.
    let source: ExecutionSource =
        serde_json::from_value(json!({"WasmUrl": {"url": "https://a.b/c.wasm", "hash": "ab".repeat(32), "build_target": "wasm32-wasip1"}}))
            .unwrap();
    assert_eq!(
        source,
        ExecutionSource::WasmUrl { url: "https://a.b/c.wasm".into(), hash: "ab".repeat(32), build_target: Some("wasm32-wasip1".into()) }
    );
    let source: ExecutionSource = serde_json::from_value(json!({"Project": {"project_id": "dev.near/app"}})).unwrap();
    assert_eq!(source, ExecutionSource::Project { project_id: "dev.near/app".into(), version_key: None });
    let source: ExecutionSource = serde_json::from_value(json!({"GitHub": {"repo": "https://github.com/a/b", "commit": "c"}})).unwrap();
    assert_eq!(source, ExecutionSource::GitHub { repo: "https://github.com/a/b".into(), commit: "c".into(), build_target: None });
    let params: RequestParams = serde_json::from_value(json!({
        "force_rebuild": false, "store_on_fastfs": true, "compile_only": false, "project_uuid": "p-1",
        "attached_usd": "250", "use_bound_identity": true,
    }))
    .unwrap();
    assert_eq!(
        params,
        RequestParams {
            store_on_fastfs: true,
            project_uuid: Some("p-1".into()),
            attached_usd: Some(U128(250)),
            use_bound_identity: true,
            ..Default::default()
        }
    );
    let response: ExecutionResponse = serde_json::from_value(json!({
        "success": true, "output": {"Bytes": [1, 2]}, "error": null,
        "resources_used": {"instructions": 5, "time_ms": 6, "compile_time_ms": 7},
        "compilation_note": "cached", "refund_usd": 3,
    }))
    .unwrap();
    assert_eq!(response.output, Some(ExecutionOutput::Bytes(vec![1, 2])));
    assert_eq!(response.resources_used, ResourcesUsed { instructions: 5, time_ms: 6, compile_time_ms: Some(7) });
    assert_eq!((response.compilation_note.as_deref(), response.refund_usd), (Some("cached"), Some(3)));
}
