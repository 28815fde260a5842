//! OutLayer v0.1 compatibility: guests written against the frozen `near:*@0.1.0` WIT with plain
//! `wit-bindgen` (guests `v01-*`) and WASI preview1 core modules (`p1-*`) run unchanged on our
//! host, with real backends: storage on MemoryStorage and SqliteStorage, rpc against a local
//! node answering real recorded NEAR responses (`compat/node.rs`). See `docs/compat-v0.1.md`.

mod common;
#[path = "compat/node.rs"]
mod node;

use common::{guest, runtime};
use node::{KNOWN_ACCOUNT, Node, call_of, echo, recorded};
use outlayer_attest::vrf::VrfSecretKey;
use outlayer_guest_artifacts as g;
use outlayer_host::cache::sha256_hex;
use outlayer_host::caps::payment::{Currency, PaymentGrant};
use outlayer_host::caps::rpc::{DEFAULT_CALL_GAS, RpcGrant};
use outlayer_host::caps::storage::StorageGrant;
use outlayer_host::caps::vrf::VrfGrant;
use outlayer_host::context::NearFacts;
use outlayer_host::limits::{DEFAULT_MAX_RPC_CALLS, DEFAULT_MAX_VRF_CALLS};
use outlayer_host::{ExecutionContext, ExecutionKind, ExecutionReport, ExecutionRequest, Grants, Limits, Outcome, ProjectRef, Runtime};
use outlayer_near::tx::{Action, SignedTransaction};
use outlayer_storage::{MemoryStorage, SqliteStorage, StorageBackend};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const DENIED_STORAGE: &str = "denied: storage not granted to this execution";

fn ctx(caller: &str, project: Option<&ProjectRef>) -> ExecutionContext {
    ExecutionContext {
        request_id: "req-1".into(),
        network: "testnet".into(),
        caller: Some(caller.into()),
        project: project.cloned(),
        ..Default::default()
    }
}

fn project(id: &str) -> ProjectRef {
    ProjectRef { owner: "alice.testnet".into(), name: format!("app-{id}"), id: id.into() }
}

fn storage(backend: &Arc<dyn StorageBackend>) -> Grants {
    Grants { storage: Some(StorageGrant::new(backend.clone())), ..Default::default() }
}

async fn exec(rt: &Runtime, wasm: &[u8], input: &[u8], grants: Grants, context: ExecutionContext, limits: Limits) -> ExecutionReport {
    rt.run(wasm, ExecutionRequest { input: input.to_vec(), limits, grants, context }).await.expect("execute")
}

/// Run a JSON script through a v0.1 guest; the guest must succeed and print a JSON array.
async fn script(
    rt: &Runtime,
    wasm: &[u8],
    ops: Value,
    grants: Grants,
    context: ExecutionContext,
    limits: Limits,
) -> (ExecutionReport, Vec<Value>) {
    let r = exec(rt, wasm, ops.to_string().as_bytes(), grants, context, limits).await;
    assert!(r.outcome.is_ok(), "{:?}: {}", r.outcome, String::from_utf8_lossy(&r.stderr));
    let out: Vec<Value> = serde_json::from_slice(&r.output).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&r.output)));
    assert!(r.output.len() > 2, "empty result");
    (r, out)
}

async fn storage_script(rt: &Runtime, backend: &Arc<dyn StorageBackend>, ops: Value, context: ExecutionContext) -> Vec<Value> {
    script(rt, &guest(g::V01_STORAGE), ops, storage(backend), context, Limits::default()).await.1
}

// ---------------------------------------------------------------------------------------------
// near:storage/api@0.1.0

/// Every function of `near:storage/api@0.1.0`, as one script, on a backend.
async fn every_storage_function(backend: Arc<dyn StorageBackend>) {
    let rt = runtime();
    let p = project("p-all");
    let ops = json!([
        {"op": "set", "key": "a", "value": "apple"},
        {"op": "get", "key": "a"},
        {"op": "get", "key": "missing"},
        {"op": "has", "key": "a"},
        {"op": "has", "key": "missing"},
        {"op": "set-if-absent", "key": "a", "value": "x"},
        {"op": "set-if-absent", "key": "b", "value": "banana"},
        {"op": "list-keys", "prefix": ""},
        {"op": "list-keys", "prefix": "b"},
        {"op": "set-if-equals", "key": "a", "expected": "wrong", "value": "z"},
        {"op": "set-if-equals", "key": "a", "expected": "apple", "value": "avocado"},
        {"op": "set-if-equals", "key": "c", "expected": "", "value": "cherry"},
        {"op": "set-if-equals", "key": "c", "expected": "", "value": "other"},
        {"op": "increment", "key": "n", "delta": 5},
        {"op": "decrement", "key": "n", "delta": 7},
        {"op": "get", "key": "n"},
        {"op": "increment", "key": "a", "delta": 1},
        {"op": "delete", "key": "a"},
        {"op": "delete", "key": "a"},
        {"op": "set-worker", "key": "w", "value": "worker-data"},
        {"op": "get-worker", "key": "w"},
        {"op": "get", "key": "w"},
        {"op": "set", "key": "", "value": "x"},
        {"op": "clear-all"},
        {"op": "list-keys", "prefix": ""},
        {"op": "get-worker", "key": "w", "project_uuid": null},
    ]);
    let r = storage_script(&rt, &backend, ops, ctx("carol.testnet", Some(&p))).await;
    let field = |i: usize, f: &str| r[i][f].clone();
    assert_eq!(field(0, "error"), "", "set");
    assert_eq!((field(1, "value"), field(1, "error")), (json!("apple"), json!("")), "get");
    assert_eq!((field(2, "value"), field(2, "error")), (json!(""), json!("")), "get of a missing key: empty, no error");
    assert_eq!((field(3, "result"), field(4, "result")), (json!(true), json!(false)), "has");
    assert_eq!(field(5, "result"), false, "set-if-absent on an existing key");
    assert_eq!((field(6, "result"), field(6, "error")), (json!(true), json!("")), "set-if-absent inserts");
    assert_eq!(field(7, "keys"), r#"["a","b"]"#, "list-keys is a JSON array of keys");
    assert_eq!(field(8, "keys"), r#"["b"]"#, "list-keys by prefix");
    assert_eq!((field(9, "result"), field(9, "current")), (json!(false), json!("apple")), "failed CAS returns the current value");
    assert_eq!((field(10, "result"), field(10, "error")), (json!(true), json!("")), "CAS with the right expectation");
    assert_eq!(field(11, "result"), true, "empty expected = absent: inserts");
    assert_eq!((field(12, "result"), field(12, "current")), (json!(false), json!("cherry")), "empty expected, key present");
    assert_eq!((field(13, "result"), field(13, "error")), (json!(5), json!("")), "increment from missing starts at 0");
    assert_eq!(field(14, "result"), -2, "decrement");
    assert_eq!(field(15, "value_hex"), hex::encode((-2i64).to_le_bytes()), "counters are 8-byte LE i64");
    assert_eq!(field(16, "error"), "stored value is not an 8-byte integer");
    assert_eq!((field(17, "result"), field(18, "result")), (json!(true), json!(false)), "delete returns whether it existed");
    assert_eq!(field(19, "error"), "", "set-worker");
    assert_eq!(field(20, "value"), "worker-data", "get-worker(none) reads this project's worker data");
    assert_eq!(field(21, "value"), "", "worker data is not in the caller's scope");
    assert_eq!(field(22, "error"), "invalid key: key is empty");
    assert_eq!(field(23, "error"), "", "clear-all");
    assert_eq!(field(24, "keys"), "[]", "clear-all removed the caller's keys");
    assert_eq!(field(25, "value"), "worker-data", "clear-all leaves the worker data");

    // The data outlives the execution; another caller of the same project sees none of it.
    let again = json!([{"op": "get", "key": "c"}, {"op": "get-worker", "key": "w"}, {"op": "set", "key": "c", "value": "mine"}]);
    let r = storage_script(&rt, &backend, again.clone(), ctx("carol.testnet", Some(&p))).await;
    assert_eq!((r[0]["value"].clone(), r[1]["value"].clone()), (json!(""), json!("worker-data")));
    let r = storage_script(&rt, &backend, again, ctx("dave.testnet", Some(&p))).await;
    assert_eq!((r[0]["value"].clone(), r[1]["value"].clone()), (json!(""), json!("worker-data")));
    let r = storage_script(&rt, &backend, json!([{"op": "get", "key": "c"}]), ctx("carol.testnet", Some(&p))).await;
    assert_eq!(r[0]["value"], "mine", "each caller has its own data");
}

#[tokio::test]
async fn v01_storage_every_function_on_memory_storage() {
    every_storage_function(Arc::new(MemoryStorage::new())).await;
}

#[tokio::test]
async fn v01_storage_every_function_on_sqlite_storage() {
    let dir = tempfile::tempdir().unwrap();
    let backend = SqliteStorage::open(&dir.path().join("storage.sqlite")).await.unwrap();
    every_storage_function(Arc::new(backend)).await;
}

#[tokio::test]
async fn v01_and_v02_guests_see_the_same_counter() {
    let rt = runtime();
    let backend: Arc<dyn StorageBackend> = Arc::new(MemoryStorage::new());
    let p = project("p-shared");
    let c = || ctx("carol.testnet", Some(&p));
    let r = storage_script(&rt, &backend, json!([{"op": "increment", "key": "counter", "delta": 5}]), c()).await;
    assert_eq!(r[0]["result"], 5);
    let text = |r: &ExecutionReport| String::from_utf8_lossy(&r.output).into_owned();
    let r = exec(&rt, &guest(g::COUNTER), b"", storage(&backend), c(), Limits::default()).await;
    assert_eq!(text(&r), "6", "the 0.2 command guest continues the v0.1 counter");
    let r = exec(&rt, &guest(g::COUNTER_TYPED), b"", storage(&backend), c(), Limits::default()).await;
    assert_eq!(text(&r), "7", "the 0.2 typed guest too");
    let r = storage_script(&rt, &backend, json!([{"op": "get", "key": "counter"}, {"op": "decrement", "key": "counter", "delta": 1}]), c())
        .await;
    assert_eq!(r[0]["value_hex"], hex::encode(7i64.to_le_bytes()), "v0.1 get sees the 0.2 guest's 8-byte LE value");
    assert_eq!(r[1]["result"], 6);
    let r = storage_script(&rt, &backend, json!([{"op": "get", "key": "counter"}]), ctx("dave.testnet", Some(&p))).await;
    assert_eq!(r[0]["value"], "", "another caller has no counter");
}

#[tokio::test]
async fn get_worker_reads_another_projects_data_only_when_public() {
    let rt = runtime();
    let backend: Arc<dyn StorageBackend> = Arc::new(MemoryStorage::new());
    let (a, b) = (project("uuid-a"), project("uuid-b"));
    let writes = json!([
        {"op": "set-worker", "key": "pub", "value": "hello", "encrypted": false},
        {"op": "set-worker", "key": "enc", "value": "secret", "encrypted": true},
        {"op": "set-worker", "key": "default", "value": "secret too"},
    ]);
    let r = storage_script(&rt, &backend, writes, ctx("alice.testnet", Some(&a))).await;
    assert!(r.iter().all(|x| x["error"] == ""), "{r:?}");

    let reads = json!([
        {"op": "get-worker", "key": "pub", "project_uuid": "uuid-a"},
        {"op": "get-worker", "key": "enc", "project_uuid": "uuid-a"},
        {"op": "get-worker", "key": "default", "project_uuid": "uuid-a"},
        {"op": "get-worker", "key": "missing", "project_uuid": "uuid-a"},
        {"op": "get-worker", "key": "pub"},
    ]);
    let r = storage_script(&rt, &backend, reads, ctx("bob.testnet", Some(&b))).await;
    assert_eq!((r[0]["value"].clone(), r[0]["error"].clone()), (json!("hello"), json!("")), "public data is readable");
    for (i, what) in [(1, "is-encrypted = true"), (2, "the default (encrypted)")] {
        assert_eq!((r[i]["value"].clone(), r[i]["error"].clone()), (json!(""), json!("that data is not public")), "{what}");
    }
    assert_eq!((r[3]["value"].clone(), r[3]["error"].clone()), (json!(""), json!("")), "missing key: empty");
    assert_eq!(r[4]["value"], "", "none reads project B's own worker data, not A's");

    // Project A reads its own private worker data with `none`.
    let r = storage_script(&rt, &backend, json!([{"op": "get-worker", "key": "enc"}]), ctx("eve.testnet", Some(&a))).await;
    assert_eq!(r[0]["value"], "secret");
}

#[tokio::test]
async fn get_by_version_reads_the_namespace_of_a_wasm_hash() {
    let rt = runtime();
    let backend: Arc<dyn StorageBackend> = Arc::new(MemoryStorage::new());
    let hash = sha256_hex(&guest(g::V01_STORAGE));
    // Without a project the namespace is `wasm:<sha256 of the component>`.
    let r = storage_script(&rt, &backend, json!([{"op": "set", "key": "config", "value": "v1-config"}]), ctx("alice.testnet", None)).await;
    assert_eq!(r[0]["error"], "");

    let p = project("p-migrating");
    let ops = json!([
        {"op": "get", "key": "config"},
        {"op": "get-by-version", "key": "config", "wasm_hash": hash},
        {"op": "get-by-version", "key": "config", "wasm_hash": hash.to_uppercase()},
        {"op": "get-by-version", "key": "config", "wasm_hash": "00".repeat(32)},
    ]);
    let r = storage_script(&rt, &backend, ops.clone(), ctx("alice.testnet", Some(&p))).await;
    assert_eq!(r[0]["value"], "", "the project's own namespace is another one");
    assert_eq!(r[1]["value"], "v1-config", "get-by-version reads wasm:<hash>");
    assert_eq!(r[2]["value"], "v1-config", "the hash is case-insensitive");
    assert_eq!((r[3]["value"].clone(), r[3]["error"].clone()), (json!(""), json!("")));
    let r = storage_script(&rt, &backend, ops, ctx("bob.testnet", Some(&p))).await;
    assert_eq!(r[1]["value"], "", "it is still the caller's own data");

    let clear = json!([{"op": "clear-version", "wasm_hash": hash}, {"op": "get-by-version", "key": "config", "wasm_hash": hash}]);
    let r = storage_script(&rt, &backend, clear, ctx("alice.testnet", Some(&p))).await;
    assert_eq!((r[0]["error"].clone(), r[1]["value"].clone()), (json!(""), json!("")), "clear-version removed it");
}

#[tokio::test]
async fn v01_storage_refusals_are_v01_error_strings() {
    let rt = runtime();
    let ops = json!([
        {"op": "set", "key": "a", "value": "1"},
        {"op": "get", "key": "a"},
        {"op": "has", "key": "a"},
        {"op": "increment", "key": "n", "delta": 1},
        {"op": "set-worker", "key": "w", "value": "1"},
        {"op": "clear-all"},
    ]);
    let (report, r) = script(&rt, &guest(g::V01_STORAGE), ops, Grants::default(), ctx("a.testnet", None), Limits::default()).await;
    for i in [0, 1, 3, 4, 5] {
        assert_eq!(r[i]["error"], DENIED_STORAGE, "{}", r[i]);
    }
    assert_eq!(r[2]["result"], false, "has cannot say why: false");
    assert_eq!(report.host_calls.storage.denied, 6);
    assert_eq!(report.outcome, Outcome::Ok, "the guest handled the errors itself");

    let backend: Arc<dyn StorageBackend> = Arc::new(MemoryStorage::new());
    let limits = Limits { max_storage_calls: 2, ..Limits::default() };
    let ops = json!([{"op": "increment", "key": "n", "delta": 1}, {"op": "increment", "key": "n", "delta": 1}, {"op": "increment", "key": "n", "delta": 1}]);
    let (report, r) = script(&rt, &guest(g::V01_STORAGE), ops, storage(&backend), ctx("a.testnet", None), limits).await;
    assert_eq!((r[1]["result"].clone(), r[1]["error"].clone()), (json!(2), json!("")));
    assert_eq!(r[2]["error"], "limit exceeded: too many storage calls in this execution");
    assert_eq!(report.host_calls.storage.over_budget, 1);
}

// ---------------------------------------------------------------------------------------------
// near:rpc/api@0.1.0

fn rpc(node: &Node) -> Grants {
    Grants { rpc: Some(RpcGrant::new(&node.url)), ..Default::default() }
}

async fn rpc_calls(rt: &Runtime, grants: Grants, calls: Value, limits: Limits) -> (ExecutionReport, Vec<(String, String)>) {
    let (report, out) = script(rt, &guest(g::V01_RPC), calls, grants, ctx("a.testnet", None), limits).await;
    let pairs = out.iter().map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_str().unwrap().to_string())).collect();
    (report, pairs)
}

/// A string param of a recorded request.
fn param(request: &str, name: &str) -> String {
    let v = &recorded(&format!("{request}.request"))["params"][name];
    v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
}

#[tokio::test]
async fn v01_rpc_functions_send_nears_documented_requests_and_return_its_answers() {
    let node = Node::start().await;
    let rt = runtime();
    // (function, arguments, the recorded request it must send, the recorded answer it gets)
    let cases: Vec<(&str, Vec<String>, &str, &str)> = vec![
        (
            "view",
            vec![param("call_function", "account_id"), param("call_function", "method_name"), "{}".into(), "final".into()],
            "call_function",
            "call_function",
        ),
        ("view-account", vec![KNOWN_ACCOUNT.into(), "".into()], "view_account", "view_account"),
        (
            "view-access-key",
            vec![param("view_access_key", "account_id"), param("view_access_key", "public_key"), "final".into()],
            "view_access_key",
            "view_access_key",
        ),
        (
            "view-access-key-list",
            vec![param("view_access_key_list", "account_id"), "final".into()],
            "view_access_key_list",
            "view_access_key_list",
        ),
        ("view-state", vec![param("view_state", "account_id"), "".into(), "".into()], "view_state", "view_state"),
        ("block", vec![param("block", "block_id")], "block", "block"),
        ("chunk", vec![param("chunk_by_hash", "chunk_id")], "chunk_by_hash", "chunk"),
        (
            "chunk",
            vec![format!("{},{}", param("chunk_by_block_shard", "block_id"), param("chunk_by_block_shard", "shard_id"))],
            "chunk_by_block_shard",
            "chunk",
        ),
        ("changes", vec![param("changes_in_block", "block_id")], "changes_in_block", "changes_in_block"),
        ("send-tx", vec![param("send_tx", "signed_tx_base64"), "included_final".into()], "send_tx", "send_tx"),
        (
            "tx-status",
            vec![param("tx_status", "tx_hash"), param("tx_status", "sender_account_id"), "EXECUTED".into()],
            "tx_status",
            "tx_status",
        ),
        ("receipt", vec![param("receipt", "receipt_id")], "receipt", "receipt"),
        ("gas-price", vec!["".into()], "gas_price_latest", "gas_price"),
        ("gas-price", vec![recorded("gas_price_height.request")["params"][0].to_string()], "gas_price_height", "gas_price"),
        ("status", vec![], "status", "status"),
        ("raw", vec!["gas_price".into(), "[null]".into()], "gas_price_latest", "gas_price"),
    ];
    let calls: Vec<Value> = cases.iter().map(|(f, args, _, _)| json!({"fn": f, "args": args})).collect();
    let (report, results) = rpc_calls(&rt, rpc(&node), Value::Array(calls), Limits::default()).await;
    let requests = node.requests();
    assert_eq!(requests.len(), cases.len(), "one JSON-RPC request per call");
    for (i, (f, _, request, response)) in cases.iter().enumerate() {
        assert_eq!(call_of(&requests[i]), call_of(&recorded(&format!("{request}.request"))), "{f}: request sent to the node");
        let (result, error) = &results[i];
        assert_eq!(error, "", "{f}");
        let result: Value = serde_json::from_str(result).unwrap_or_else(|e| panic!("{f}: result is not JSON: {e}"));
        let answer = recorded(&format!("{response}.response"))["result"].clone();
        match *f {
            // v0.1 `view` returns the function's result bytes parsed as JSON ("0" here).
            "view" => {
                let bytes: Vec<u8> = serde_json::from_value(answer["result"].clone()).unwrap();
                assert_eq!(result, serde_json::from_slice::<Value>(&bytes).unwrap(), "{f}");
            }
            // v0.1 `view-account` returns the account's fields.
            "view-account" => {
                for field in ["amount", "locked", "code_hash", "storage_usage", "block_height", "block_hash"] {
                    assert_eq!(result[field], answer[field], "{f}.{field}");
                }
            }
            _ => assert_eq!(result, answer, "{f}: the node's answer, verbatim"),
        }
    }
    assert_eq!(report.host_calls.rpc.calls as usize, cases.len());
}

#[tokio::test]
async fn v01_rpc_functions_without_recordings_reach_the_node_in_nears_shape() {
    let node = Node::start().await;
    let rt = runtime();
    let epoch = recorded("block.response")["result"]["header"]["epoch_id"].as_str().unwrap().to_string();
    let calls = json!([
        {"fn": "view-code", "args": [KNOWN_ACCOUNT, "optimistic"]},
        {"fn": "network-info", "args": []},
        {"fn": "validators", "args": [""]},
        {"fn": "validators", "args": [epoch]},
        {"fn": "raw", "args": ["EXPERIMENTAL_genesis_config", "{}"]},
    ]);
    let expected = [
        echo("query", json!({"request_type": "view_code", "finality": "optimistic", "account_id": KNOWN_ACCOUNT})),
        echo("network_info", json!([])),
        echo("validators", json!([null])),
        echo("validators", json!({"epoch_id": epoch})),
        echo("EXPERIMENTAL_genesis_config", json!({})),
    ];
    let (_, results) = rpc_calls(&rt, rpc(&node), calls, Limits::default()).await;
    for (i, want) in expected.iter().enumerate() {
        assert_eq!(results[i].1, "", "call {i}");
        assert_eq!(serde_json::from_str::<Value>(&results[i].0).unwrap(), *want, "call {i}");
    }
}

#[tokio::test]
async fn v01_call_and_transfer_are_signed_with_the_guests_key_only() {
    let node = Node::start().await;
    let rt = runtime();
    let vectors: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../crates/near/tests/data/near-api-js-vectors.json")).unwrap(),
    )
    .unwrap();
    let key = &vectors["transfer"];
    let (secret, public, signer) =
        (key["secret_key"].as_str().unwrap(), key["public_key"].as_str().unwrap(), key["signer_id"].as_str().unwrap());
    let calls = json!([
        {"fn": "call", "args": [signer, secret, "counter.testnet", "increment", "{\"by\":2}", "1", "", ""]},
        {"fn": "transfer", "args": [signer, secret, "receiver.testnet", "1000000000000000000000000", "FINAL"]},
        {"fn": "call", "args": [signer, "ed25519:not-a-key", "counter.testnet", "increment", "{}", "", "", ""]},
    ]);
    let (_, results) = rpc_calls(&rt, rpc(&node), calls, Limits::default()).await;
    let requests = node.requests();
    assert_eq!(requests.len(), 6, "two transactions of three requests; the bad key sends nothing");
    assert!(results[2].1.starts_with("invalid argument: signer-key"), "{:?}", results[2]);

    let nonce = recorded("view_access_key.response")["result"]["nonce"].as_u64().unwrap();
    let block_hash = outlayer_near::decode_hash("block", recorded("block.response")["result"]["header"]["hash"].as_str().unwrap()).unwrap();
    let expectations = [
        (
            "counter.testnet",
            Action::FunctionCall { method_name: "increment".into(), args: br#"{"by":2}"#.to_vec(), gas: DEFAULT_CALL_GAS, deposit: 1 },
            "EXECUTED_OPTIMISTIC",
        ),
        ("receiver.testnet", Action::Transfer { deposit: 10u128.pow(24) }, "FINAL"),
    ];
    for (i, (receiver, action, wait)) in expectations.into_iter().enumerate() {
        let sent = &requests[i * 3..i * 3 + 3];
        let key_query = sent.iter().find(|r| r["params"]["request_type"] == "view_access_key").expect("nonce looked up");
        assert_eq!(key_query["params"]["account_id"], signer);
        assert_eq!(key_query["params"]["public_key"], public, "the nonce of the guest's own key");
        assert!(sent.iter().any(|r| r["method"] == "block" && r["params"]["finality"] == "final"));
        assert_eq!(sent[2]["method"], "send_tx");
        assert_eq!(sent[2]["params"]["wait_until"], wait);
        let tx = SignedTransaction::from_base64(sent[2]["params"]["signed_tx_base64"].as_str().unwrap()).unwrap();
        assert_eq!(tx.transaction.signer_id, signer);
        assert_eq!(tx.transaction.public_key.to_string(), public, "signed with the guest-supplied key");
        assert_eq!(tx.transaction.receiver_id, receiver);
        assert_eq!(tx.transaction.nonce, nonce + 1);
        assert_eq!(tx.transaction.block_hash, block_hash);
        assert_eq!(tx.transaction.actions, vec![action]);
        assert!(tx.verify(), "the signature verifies with the guest key's public key");
        assert_eq!(results[i], (tx.hash_base58(), String::new()), "the guest gets the tx hash");
    }
}

#[tokio::test]
async fn v01_rpc_errors_are_strings_and_bad_arguments_never_reach_the_node() {
    let node = Node::start().await;
    let rt = runtime();
    let calls = json!([
        {"fn": "view-account", "args": ["nosuchaccount.testnet", "final"]},
        {"fn": "block", "args": ["not-a-block"]},
        {"fn": "send-tx", "args": ["AAAA", "SOMETIMES"]},
        {"fn": "raw", "args": ["status", "not json"]},
        {"fn": "transfer", "args": ["a.testnet", "ed25519:x", "b.testnet", "lots", ""]},
    ]);
    let (_, r) = rpc_calls(&rt, rpc(&node), calls, Limits::default()).await;
    assert_eq!(r[0].0, "");
    assert_eq!(r[0].1, "node error HANDLER_ERROR/UNKNOWN_ACCOUNT: account nosuchaccount.testnet does not exist while viewing");
    assert!(r[1].1.starts_with("invalid argument: "), "{:?}", r[1]);
    assert_eq!(r[2].1, "invalid argument: unknown wait-until \"SOMETIMES\"");
    assert!(r[3].1.starts_with("invalid argument: params-json: "), "{:?}", r[3]);
    assert!(r[4].1.starts_with("invalid argument: amount-yocto"), "{:?}", r[4]);
    assert_eq!(node.requests().len(), 1, "only the well-formed call reached the node");
}

#[tokio::test]
async fn v01_rpc_is_denied_without_a_grant_and_limited_to_100_calls() {
    let node = Node::start().await;
    let rt = runtime();
    let (report, r) = rpc_calls(&rt, Grants::default(), json!([{"fn": "status", "args": []}]), Limits::default()).await;
    assert_eq!(r, vec![(String::new(), "denied: rpc not granted to this execution".to_string())]);
    assert_eq!(report.host_calls.rpc.denied, 1);

    let over = DEFAULT_MAX_RPC_CALLS as u64 + 1;
    let (report, r) = rpc_calls(&rt, rpc(&node), json!([{"fn": "status", "args": [], "times": over}]), Limits::default()).await;
    assert_eq!(r.len() as u64, over);
    let status = recorded("status.response")["result"].clone();
    for (result, error) in &r[..DEFAULT_MAX_RPC_CALLS as usize] {
        assert_eq!((serde_json::from_str::<Value>(result).unwrap(), error.as_str()), (status.clone(), ""));
    }
    assert_eq!(r[DEFAULT_MAX_RPC_CALLS as usize], (String::new(), "limit exceeded: too many rpc calls in this execution".to_string()));
    assert_eq!(node.requests().len(), DEFAULT_MAX_RPC_CALLS as usize, "the refused call never reached the node");
    assert_eq!(report.host_calls.rpc.over_budget, 1);
}

// ---------------------------------------------------------------------------------------------
// near:vrf/api@0.1.0 and near:payment/api@0.1.0

#[tokio::test]
async fn v01_vrf_is_verifiable_bound_to_the_request_and_limited_to_10_calls() {
    let rt = runtime();
    let seed: [u8; 32] = Sha256::digest(b"compat test worker key").into();
    let worker_key = Arc::new(VrfSecretKey::from_seed(seed));
    let grants = || Grants { vrf: Some(VrfGrant { key: worker_key.clone() }), ..Default::default() };
    let wasm = guest(g::V01_VRF_PAYMENT);
    let (_, r) = script(&rt, &wasm, json!([{"op": "pubkey"}]), grants(), ctx("a.testnet", None), Limits::default()).await;
    assert_eq!(r[0]["error"], "");
    let public: [u8; 32] = hex::decode(r[0]["public_key"].as_str().unwrap()).unwrap().try_into().unwrap();
    assert_eq!(public, worker_key.public_key());

    let over = DEFAULT_MAX_VRF_CALLS as u64 + 1;
    let ops = json!([{"op": "generate", "seed": "round-1", "times": over}]);
    let (report, r) = script(&rt, &wasm, ops, grants(), ctx("a.testnet", None), Limits::default()).await;
    let first = &r[0];
    assert_eq!(first["error"], "");
    let alpha = first["alpha"].as_str().unwrap();
    assert!(alpha.contains("req-1") && alpha.ends_with(":round-1"), "alpha binds request and seed: {alpha}");
    let proof = hex::decode(first["proof"].as_str().unwrap()).unwrap();
    let beta = outlayer_attest::vrf::verify(&public, alpha.as_bytes(), &proof).expect("the ECVRF proof verifies with the public key");
    assert_eq!(first["output"], hex::encode(beta), "output = beta (hex, 64 bytes)");
    for again in &r[1..DEFAULT_MAX_VRF_CALLS as usize] {
        assert_eq!(again, first, "the same request and seed cannot re-roll");
    }
    let last = &r[DEFAULT_MAX_VRF_CALLS as usize];
    assert_eq!((last["output"].clone(), last["error"].clone()), (json!(""), json!("limit exceeded: too many vrf calls in this execution")));
    assert_eq!(report.host_calls.vrf.over_budget, 1);

    let other = ExecutionContext { request_id: "req-2".into(), ..ctx("a.testnet", None) };
    let (_, r2) = script(&rt, &wasm, json!([{"op": "generate", "seed": "round-1"}]), grants(), other, Limits::default()).await;
    assert_ne!(r2[0]["output"], first["output"], "another request draws other randomness");

    let (_, r) = script(
        &rt,
        &wasm,
        json!([{"op": "generate", "seed": "x"}, {"op": "pubkey"}]),
        Grants::default(),
        ctx("a", None),
        Limits::default(),
    )
    .await;
    assert!(r.iter().all(|x| x["error"] == "denied: vrf not granted to this execution"), "{r:?}");
}

#[tokio::test]
async fn v01_refund_usd_once_and_within_the_attached_amount() {
    let rt = runtime();
    let wasm = guest(g::V01_VRF_PAYMENT);
    let paid = |currency| Grants { payment: Some(PaymentGrant { currency, attached: 1_000, budget: 50_000 }), ..Default::default() };
    let ops = json!([{"op": "refund-usd", "amount": 400}, {"op": "refund-usd", "amount": 1}]);
    let (report, r) = script(&rt, &wasm, ops, paid(Currency::UsdMicro), ctx("a", None), Limits::default()).await;
    assert_eq!((r[0]["error"].clone(), r[1]["error"].clone()), (json!(""), json!("refund already made in this execution")));
    assert_eq!(report.refund, Some(400));

    let (report, r) =
        script(&rt, &wasm, json!([{"op": "refund-usd", "amount": 1001}]), paid(Currency::UsdMicro), ctx("a", None), Limits::default())
            .await;
    assert_eq!(r[0]["error"], "refund exceeds the attached amount");
    assert_eq!(report.refund, None);

    let (report, r) =
        script(&rt, &wasm, json!([{"op": "refund-usd", "amount": 1}]), paid(Currency::YoctoNear), ctx("a", None), Limits::default()).await;
    assert_eq!(r[0]["error"], "refund-usd: this execution was not paid in USD");
    assert_eq!(report.refund, None);

    let (_, r) = script(&rt, &wasm, json!([{"op": "refund-usd", "amount": 1}]), Grants::default(), ctx("a", None), Limits::default()).await;
    assert_eq!(r[0]["error"], "denied: payment not granted to this execution");
}

// ---------------------------------------------------------------------------------------------
// Environment variables, stdin and stdout

#[tokio::test]
async fn v01_environment_variables_carry_the_context() {
    let rt = runtime();
    let node = Node::start().await;
    let context = ExecutionContext {
        request_id: "req-77".into(),
        kind: ExecutionKind::Near,
        network: "testnet".into(),
        caller: Some("alice.testnet".into()),
        project: Some(ProjectRef { owner: "bob.testnet".into(), name: "dice".into(), id: "uuid-7".into() }),
        block_height: Some(187440904),
        block_timestamp_ns: Some(1_700_000_000_000_000_000),
        near: NearFacts {
            sender_id: Some("alice.testnet".into()),
            predecessor_id: Some("caller.testnet".into()),
            contract_id: Some("outlayer.testnet".into()),
            receipt_id: Some("2EbembRPJhREPtmHCrGv3Xtdm3xoc5BMVYHm3b2kjvMY".into()),
            signer_public_key: Some("ed25519:Anu7LYDfpLtkP7E16LT9imXF694BdQaa9ufVkQiwTQxC".into()),
            gas_burnt: Some(2_428_000_000_000),
            transaction_hash: Some("6zgh2u9DqHHiXzdy9ouTP7oGky2T4nugqzqt9wJZwNFm".into()),
        },
        call_id: None,
    };
    let secrets: BTreeMap<String, String> = [("API_KEY", "k-123"), ("NEAR_SENDER_ID", "forged.testnet"), ("ATTACHED_USD", "999")]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let grants = Grants {
        rpc: Some(RpcGrant::new(&node.url)),
        secrets: Some(Arc::new(secrets)),
        payment: Some(PaymentGrant { currency: Currency::YoctoNear, attached: 10u128.pow(22), budget: 10u128.pow(23) }),
        ..Default::default()
    };
    let limits =
        Limits { max_instructions: 2_000_000_000, max_memory_bytes: 64 << 20, max_wall: Duration::from_secs(30), ..Limits::default() };
    let r = exec(&rt, &guest(g::V01_ENV), b"hello", grants, context, limits).await;
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
    assert_eq!(String::from_utf8_lossy(&r.stderr), "input: hello\n", "stdin is the input, stderr a log");
    let env: BTreeMap<String, String> = serde_json::from_slice(&r.output).unwrap();
    let expected = [
        ("NEAR_NETWORK_ID", "testnet"),
        ("OUTLAYER_EXECUTION_TYPE", "NEAR"),
        ("NEAR_SENDER_ID", "alice.testnet"),
        ("NEAR_USER_ACCOUNT_ID", "alice.testnet"),
        ("NEAR_PREDECESSOR_ID", "caller.testnet"),
        ("NEAR_CONTRACT_ID", "outlayer.testnet"),
        ("NEAR_BLOCK_HEIGHT", "187440904"),
        ("NEAR_BLOCK_TIMESTAMP", "1700000000000000000"),
        ("NEAR_RECEIPT_ID", "2EbembRPJhREPtmHCrGv3Xtdm3xoc5BMVYHm3b2kjvMY"),
        ("NEAR_SIGNER_PUBLIC_KEY", "ed25519:Anu7LYDfpLtkP7E16LT9imXF694BdQaa9ufVkQiwTQxC"),
        ("NEAR_GAS_BURNT", "2428000000000"),
        ("NEAR_TRANSACTION_HASH", "6zgh2u9DqHHiXzdy9ouTP7oGky2T4nugqzqt9wJZwNFm"),
        ("NEAR_REQUEST_ID", "req-77"),
        ("OUTLAYER_REQUEST_ID", "req-77"),
        ("NEAR_PAYMENT_YOCTO", "10000000000000000000000"),
        ("ATTACHED_USD", ""),
        ("USD_PAYMENT", ""),
        ("OUTLAYER_CALL_ID", ""),
        ("NEAR_MAX_INSTRUCTIONS", "2000000000"),
        ("NEAR_MAX_MEMORY_MB", "64"),
        ("NEAR_MAX_EXECUTION_SECONDS", "30"),
        ("OUTLAYER_PROJECT_ID", "bob.testnet/dice"),
        ("OUTLAYER_PROJECT_OWNER", "bob.testnet"),
        ("OUTLAYER_PROJECT_NAME", "dice"),
        ("OUTLAYER_PROJECT_UUID", "uuid-7"),
        ("NEAR_RPC_PROXY_AVAILABLE", "1"),
        ("API_KEY", "k-123"),
    ];
    let expected: BTreeMap<String, String> = expected.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
    assert_eq!(env, expected, "exactly the v0.1 variables and the secrets, none of the host's; secrets never overwrite");
}

// ---------------------------------------------------------------------------------------------
// WASI preview1 core modules

#[tokio::test]
async fn preview1_module_echoes_reads_the_environment_and_keeps_its_exit_status() {
    let rt = runtime();
    let wasm = guest(g::P1_ECHO);
    assert_eq!(rt.prepare(&wasm).unwrap().shape(), "preview1");
    let context = ExecutionContext { request_id: "req-p1".into(), ..Default::default() };
    let r = exec(&rt, &wasm, b"preview1 says hi", Grants::default(), context.clone(), Limits::default()).await;
    assert_eq!(r.outcome, Outcome::Ok);
    assert_eq!(r.output, b"preview1 says hi");
    assert_eq!(String::from_utf8_lossy(&r.stderr), "request req-p1\n");
    assert!(r.instructions > 0, "fuel is metered for core modules too");

    let r = exec(&rt, &wasm, b"exit 3", Grants::default(), context, Limits::default()).await;
    assert_eq!(r.outcome, Outcome::Exit { code: 3 }, "preview1 keeps the exact status");
    assert_eq!(r.output, b"exit 3", "output written before the exit is kept");
}

#[tokio::test]
async fn preview1_loop_runs_out_of_instructions() {
    let rt = runtime();
    let limits = Limits { max_instructions: 50_000_000, ..Limits::default() };
    let r = exec(&rt, &guest(g::P1_LOOP), b"", Grants::default(), ExecutionContext::default(), limits).await;
    assert_eq!(r.outcome, Outcome::OutOfInstructions);
    assert_eq!(r.instructions, 50_000_000, "billed exactly its budget");
    assert!(r.output.is_empty());
    common::assert_healthy(&rt).await;
}

#[tokio::test]
async fn preview1_loop_times_out() {
    let rt = runtime();
    let limits =
        Limits { max_instructions: outlayer_host::limits::CAP_MAX_INSTRUCTIONS, max_wall: Duration::from_millis(300), ..Limits::default() };
    let r = exec(&rt, &guest(g::P1_LOOP), b"", Grants::default(), ExecutionContext::default(), limits).await;
    assert_eq!(r.outcome, Outcome::Timeout);
    assert!(r.instructions > 0 && r.instructions < outlayer_host::limits::CAP_MAX_INSTRUCTIONS);
    common::assert_healthy(&rt).await;
}

#[tokio::test]
async fn preview1_memory_is_capped_like_components() {
    // p1-echo's memory grows with its input: 8 MiB of input under a 4 MiB memory cap.
    let rt = runtime();
    let limits = Limits { max_memory_bytes: 4 << 20, max_input_bytes: 16 << 20, max_stdout_bytes: 16 << 20, ..Limits::default() };
    let input = vec![b'x'; 8 << 20];
    let r = exec(&rt, &guest(g::P1_ECHO), &input, Grants::default(), ExecutionContext::default(), limits).await;
    assert_eq!(r.outcome, Outcome::MemoryLimit, "8 MiB cannot be held in 4 MiB");
    assert!(r.peak_memory_bytes <= 4 << 20, "peak {} over the cap", r.peak_memory_bytes);
}
