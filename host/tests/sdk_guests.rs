//! Guests written with `outlayer-sdk` (`guests/sdk-kv`, `guests/sdk-typed-greeter`), run through
//! the real host: what a caller sees from the SDK's entry points, storage helpers and errors.

mod common;

use common::{guest, runtime};
use outlayer_guest_artifacts as g;
use outlayer_host::caps::storage::StorageGrant;
use outlayer_host::{Capability, ExecutionContext, ExecutionKind, ExecutionReport, ExecutionRequest, Grants, Outcome, Runtime};
use outlayer_storage::{MemoryStorage, StorageBackend};
use serde_json::{Value, json};
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
        (r#"{"op":"drop","key":"k"}"#, "error: invalid input: unknown variant `drop`, expected one of `put`, `get`, `delete`, `list` at line 1 column 12"),
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
