//! Guests written with `outlayer-sdk` (`guests/sdk-kv`, `guests/sdk-typed-greeter`), run through
//! the real host: what a caller sees from the SDK's entry points, storage helpers and errors.

mod common;

use common::{guest, recorded, runtime};
use outlayer_attest::vrf::VrfSecretKey;
use outlayer_guest_artifacts as g;
use outlayer_host::caps::payment::{Currency, PaymentGrant};
use outlayer_host::caps::rpc::RpcGrant;
use outlayer_host::caps::storage::StorageGrant;
use outlayer_host::caps::vrf::VrfGrant;
use outlayer_host::{Capability, ExecutionContext, ExecutionKind, ExecutionReport, ExecutionRequest, Grants, Outcome, Runtime};
use outlayer_storage::{MemoryStorage, StorageBackend};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

fn ctx(caller: &str) -> ExecutionContext {
    ExecutionContext { request_id: "req-sdk".into(), caller: Some(caller.into()), network: "testnet".into(), ..Default::default() }
}

fn storage(backend: &Arc<dyn StorageBackend>) -> Grants {
    Grants { storage: Some(StorageGrant::new(backend.clone())), ..Default::default() }
}

async fn exec(rt: &Runtime, wasm: &[u8], input: &str, grants: Grants, context: ExecutionContext) -> ExecutionReport {
    let request = ExecutionRequest { input: input.as_bytes().to_vec(), grants, context, ..Default::default() };
    rt.run(wasm, request).await.expect("execute")
}

/// The output of a successful execution, parsed as JSON.
fn ok_json(r: &ExecutionReport) -> Value {
    assert!(r.outcome.is_ok(), "{:?}, stderr: {}", r.outcome, String::from_utf8_lossy(&r.stderr));
    serde_json::from_slice(&r.output).unwrap_or_else(|e| panic!("output is not JSON ({e}): {:?}", String::from_utf8_lossy(&r.output)))
}

fn stderr(r: &ExecutionReport) -> String {
    String::from_utf8_lossy(&r.stderr).trim().to_string()
}

#[tokio::test]
async fn kv_puts_gets_deletes_and_lists_json_values_per_caller() {
    let rt = runtime();
    let wasm = guest(g::SDK_KV);
    let backend: Arc<dyn StorageBackend> = Arc::new(MemoryStorage::new());
    let kv = |input: Value, caller: &'static str| {
        let (rt, wasm, backend) = (&rt, &wasm, &backend);
        async move { ok_json(&exec(rt, wasm, &input.to_string(), storage(backend), ctx(caller)).await) }
    };

    let profile = json!({ "name": "Ada", "langs": ["rust", "wat"], "age": 36 });
    let put = kv(json!({ "op": "put", "key": "user/ada", "value": profile }), "alice.testnet").await;
    assert_eq!(put, json!({ "key": "user/ada", "previous": null }));
    let put = kv(json!({ "op": "put", "key": "user/ada", "value": 7 }), "alice.testnet").await;
    assert_eq!(put, json!({ "key": "user/ada", "previous": profile }), "the previous JSON value comes back intact");
    assert_eq!(kv(json!({ "op": "get", "key": "user/ada" }), "alice.testnet").await, json!({ "key": "user/ada", "value": 7 }));

    // More keys than one page (the guest lists 2 keys per host call), plus a key outside the prefix.
    for k in ["user/bob", "user/cy", "user/dan", "zeta"] {
        kv(json!({ "op": "put", "key": k, "value": k }), "alice.testnet").await;
    }
    let list = kv(json!({ "op": "list", "prefix": "user/" }), "alice.testnet").await;
    assert_eq!(list, json!({ "keys": ["user/ada", "user/bob", "user/cy", "user/dan"] }));
    let everything = kv(json!({ "op": "list" }), "alice.testnet").await;
    assert_eq!(everything["keys"].as_array().unwrap().len(), 5);

    assert_eq!(kv(json!({ "op": "delete", "key": "user/bob" }), "alice.testnet").await, json!({ "key": "user/bob", "existed": true }));
    assert_eq!(kv(json!({ "op": "delete", "key": "user/bob" }), "alice.testnet").await, json!({ "key": "user/bob", "existed": false }));
    assert_eq!(kv(json!({ "op": "get", "key": "user/bob" }), "alice.testnet").await, json!({ "key": "user/bob", "value": null }));

    // Another caller has their own data.
    assert_eq!(kv(json!({ "op": "get", "key": "user/ada" }), "bob.testnet").await, json!({ "key": "user/ada", "value": null }));
    assert_eq!(kv(json!({ "op": "list" }), "bob.testnet").await, json!({ "keys": [] }));
}

#[tokio::test]
async fn kv_list_pages_through_the_host_two_keys_at_a_time() {
    let rt = runtime();
    let wasm = guest(g::SDK_KV);
    let backend: Arc<dyn StorageBackend> = Arc::new(MemoryStorage::new());
    for k in ["a", "b", "c", "d", "e"] {
        let input = json!({ "op": "put", "key": k, "value": 1 }).to_string();
        ok_json(&exec(&rt, &wasm, &input, storage(&backend), ctx("alice.testnet")).await);
    }
    let r = exec(&rt, &wasm, r#"{"op":"list"}"#, storage(&backend), ctx("alice.testnet")).await;
    assert_eq!(ok_json(&r), json!({ "keys": ["a", "b", "c", "d", "e"] }));
    assert_eq!(r.host_calls.storage.calls, 3, "5 keys in pages of 2");
}

#[tokio::test]
async fn kv_without_the_storage_grant_is_denied_with_a_readable_message() {
    let rt = runtime();
    let r = exec(&rt, &guest(g::SDK_KV), r#"{"op":"get","key":"k"}"#, Grants::default(), ctx("alice.testnet")).await;
    assert_eq!(
        r.outcome,
        Outcome::Denied { capabilities: vec![Capability::Storage], message: "error: storage: capability not granted".into() }
    );
    assert!(r.output.is_empty());
}

#[tokio::test]
async fn kv_rejects_bad_json_input_before_any_host_call() {
    let rt = runtime();
    let wasm = guest(g::SDK_KV);
    let backend: Arc<dyn StorageBackend> = Arc::new(MemoryStorage::new());
    let cases = [
        ("not json", "error: invalid input: expected ident at line 1 column 2"),
        (r#"{"op":"put","key":"k"}"#, "error: invalid input: missing field `value`"),
        (
            r#"{"op":"drop","key":"k"}"#,
            "error: invalid input: unknown variant `drop`, expected one of `put`, `get`, `delete`, `list` at line 1 column 12",
        ),
        ("", "error: invalid input: invalid type: null, expected internally tagged enum Request at line 1 column 4"),
    ];
    for (input, message) in cases {
        let r = exec(&rt, &wasm, input, storage(&backend), ctx("alice.testnet")).await;
        assert_eq!(r.outcome, Outcome::Exit { code: 1 }, "input {input:?}");
        assert_eq!(stderr(&r), message, "input {input:?}");
        assert!(r.output.is_empty());
        assert_eq!(r.host_calls.storage.calls, 0);
    }
}

#[tokio::test]
async fn typed_greeter_greets_with_the_execution_context() {
    let rt = runtime();
    let r = exec(&rt, &guest(g::SDK_TYPED_GREETER), r#"{"name":"Ada"}"#, Grants::default(), ctx("alice.testnet")).await;
    assert_eq!(
        ok_json(&r),
        json!({ "greeting": "Hello, Ada!", "caller": "alice.testnet", "network": "testnet", "request_id": "req-sdk", "kind": "local" })
    );

    let near = ExecutionContext { kind: ExecutionKind::Near, caller: None, network: "mainnet".into(), ..ctx("") };
    let r = exec(&rt, &guest(g::SDK_TYPED_GREETER), r#"{"name":"Bob"}"#, Grants::default(), near).await;
    let out = ok_json(&r);
    assert_eq!((out["caller"].clone(), out["network"].clone(), out["kind"].clone()), (Value::Null, json!("mainnet"), json!("near")));
}

#[tokio::test]
async fn typed_greeter_reports_invalid_input_as_a_typed_error() {
    let rt = runtime();
    let wasm = guest(g::SDK_TYPED_GREETER);
    let cases = [
        ("{", "EOF while parsing an object at line 1 column 1"),
        (r#"{"nom":"Ada"}"#, "missing field `name` at line 1 column 13"),
        (r#"{"name":"  "}"#, "name is empty"),
    ];
    for (input, message) in cases {
        let r = exec(&rt, &wasm, input, Grants::default(), ctx("alice.testnet")).await;
        assert_eq!(r.outcome, Outcome::GuestError { kind: "invalid-input".into(), message: message.into() }, "input {input:?}");
        assert!(r.output.is_empty());
    }
}

#[tokio::test]
async fn caps_secrets_are_read_optional_or_required_and_listed() {
    let rt = runtime();
    let wasm = guest(g::SDK_CAPS);
    let map: BTreeMap<String, String> = [("API_KEY", "s3cr3t"), ("B", "x")].into_iter().map(|(k, v)| (k.into(), v.into())).collect();
    let grants = || Grants { secrets: Some(Arc::new(map.clone())), ..Default::default() };
    let run = |input: &'static str, grants: Grants| exec(&rt, &wasm, input, grants, ctx("a"));

    assert_eq!(ok_json(&run(r#"{"op":"secret","name":"API_KEY"}"#, grants()).await), json!({ "value": "s3cr3t" }));
    assert_eq!(ok_json(&run(r#"{"op":"secret","name":"NOPE"}"#, grants()).await), json!({ "value": null }));
    assert_eq!(ok_json(&run(r#"{"op":"secrets"}"#, grants()).await), json!({ "names": ["API_KEY", "B"] }));

    let r = run(r#"{"op":"secret","name":"NOPE","required":true}"#, grants()).await;
    assert_eq!(r.outcome, Outcome::Exit { code: 1 });
    assert_eq!(stderr(&r), r#"error: not found: secret "NOPE""#);

    let r = run(r#"{"op":"secrets"}"#, Grants::default()).await;
    assert_eq!(
        r.outcome,
        Outcome::Denied { capabilities: vec![Capability::Secrets], message: "error: secrets: capability not granted".into() }
    );
}

#[tokio::test]
async fn caps_vrf_roll_is_uniform_over_the_output_and_bound_to_the_request() {
    let rt = runtime();
    let wasm = guest(g::SDK_CAPS);
    let key = Arc::new(VrfSecretKey::from_seed([9u8; 32]));
    let grants = || Grants { vrf: Some(VrfGrant { key: key.clone() }), ..Default::default() };
    let input = r#"{"op":"roll","seed":"d6","min":1,"max":6}"#;

    let first = ok_json(&exec(&rt, &wasm, input, grants(), ctx("a")).await);
    assert_eq!(first["alpha"], "outlayer-vrf:v2:req-sdk:d6");
    let output = hex::decode(first["output"].as_str().unwrap()).unwrap();
    assert_eq!(output.len(), 64);
    // The output as one big-endian integer, reduced modulo 6: what `uniform` promises.
    let expected = 1 + output.iter().fold(0u64, |acc, b| (acc * 256 + u64::from(*b)) % 6);
    assert_eq!(first["value"], expected);

    let again = ok_json(&exec(&rt, &wasm, input, grants(), ctx("a")).await);
    assert_eq!(again, first, "same request and seed: same roll");
    let other_request = ExecutionContext { request_id: "req-other".into(), ..ctx("a") };
    let other = ok_json(&exec(&rt, &wasm, input, grants(), other_request).await);
    assert_ne!(other["output"], first["output"]);

    let r = exec(&rt, &wasm, input, Grants::default(), ctx("a")).await;
    assert_eq!(r.outcome, Outcome::Denied { capabilities: vec![Capability::Vrf], message: "error: vrf: capability not granted".into() });
}

#[tokio::test]
async fn caps_refund_goes_through_once_and_is_bounded() {
    let rt = runtime();
    let wasm = guest(g::SDK_CAPS);
    let grants =
        || Grants { payment: Some(PaymentGrant { currency: Currency::UsdMicro, attached: 1_000, budget: 50_000 }), ..Default::default() };

    let r = exec(&rt, &wasm, r#"{"op":"refund","amount":400}"#, grants(), ctx("a")).await;
    assert_eq!(ok_json(&r), json!({ "attached": "1000", "refunded": "400" }));
    assert_eq!(r.refund, Some(400));

    let r = exec(&rt, &wasm, r#"{"op":"refund","amount":1001}"#, grants(), ctx("a")).await;
    assert_eq!(r.outcome, Outcome::Exit { code: 1 });
    assert_eq!(stderr(&r), "error: payment: refund exceeds the attached deposit");
    assert_eq!(r.refund, None);
}

/// A node answering recorded NEAR responses: `get_num` of `dev-1588039999690` (returns `0`),
/// the account `account.rpc-examples.testnet`, and UNKNOWN_ACCOUNT for anything else.
async fn node() -> String {
    common::node(|req| {
        let p = &req["params"];
        match (p["request_type"].as_str(), p["account_id"].as_str()) {
            (Some("call_function"), Some("dev-1588039999690")) if p["method_name"] == "get_num" && p["args_base64"] == "e30=" => {
                recorded("call_function.response.json")
            }
            (Some("view_account"), Some("account.rpc-examples.testnet")) => recorded("view_account.response.json"),
            _ => recorded("view_account_unknown.response.json"),
        }
    })
    .await
}

#[tokio::test]
async fn caps_rpc_view_json_and_view_account_and_node_errors() {
    let rt = runtime();
    let wasm = guest(g::SDK_CAPS);
    let url = node().await;
    let grants = || Grants { rpc: Some(RpcGrant::new(&url)), ..Default::default() };

    // JSON arguments `{}` go out as args_base64 "e30="; the returned bytes `0` decode as JSON.
    let view = r#"{"op":"view","contract":"dev-1588039999690","method":"get_num","args":{}}"#;
    assert_eq!(ok_json(&exec(&rt, &wasm, view, grants(), ctx("a")).await), json!({ "result": 0 }));

    let account = r#"{"op":"account","id":"account.rpc-examples.testnet"}"#;
    let r = exec(&rt, &wasm, account, grants(), ctx("a")).await;
    assert_eq!(ok_json(&r), json!({ "amount": "999788200694421800000000", "block_height": 187440904 }));

    let r = exec(&rt, &wasm, r#"{"op":"account","id":"nosuchaccount.testnet"}"#, grants(), ctx("a")).await;
    assert_eq!(r.outcome, Outcome::Exit { code: 1 });
    assert!(stderr(&r).starts_with("error: rpc: node error HANDLER_ERROR/UNKNOWN_ACCOUNT: "), "{}", stderr(&r));

    let r = exec(&rt, &wasm, account, Grants::default(), ctx("a")).await;
    assert_eq!(r.outcome, Outcome::Denied { capabilities: vec![Capability::Rpc], message: "error: rpc: capability not granted".into() });
}
