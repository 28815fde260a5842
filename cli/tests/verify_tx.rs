//! `outlayer verify tx HASH` as a process, against a local NEAR node (axum on 127.0.0.1) that
//! answers `tx` with NEAR's recorded `tx` answer (`crates/near/tests/data/rpc/
//! tx_status.response.json`, read at test time) assembled around a `resolve_execution` signed
//! here, exactly as `worker/tests/data/PROVENANCE.md` describes for the worker's own test ("`tx`
//! for a resolution the worker sent"), and the register contract's views in the recorded
//! `call_function` envelope with the JSON `contracts/register/src/{views,workers}.rs` return.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::SigningKey;
use outlayer_attest::Measurements;
use outlayer_attest::receipt::{Receipt, SignedReceipt, sha256_hex};
use outlayer_near::tx::PublicKey;
use serde_json::{Value, json};

const CONTRACT: &str = "outlayer.testnet";
const REGISTER: &str = "register.testnet";
const OUTPUT: &str = "hello near";
const INPUT: &[u8] = b"hello near";
const REQUEST: u64 = 4;

/// A file of `crates/near/tests/data` (NEAR's recorded examples) as JSON.
fn recorded(path: &str) -> Value {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/near/tests/data").join(path);
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
}

fn worker_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn near_key(key: &SigningKey) -> String {
    PublicKey(key.verifying_key().to_bytes()).to_string()
}

/// A base58 32-byte hash, distinct per `n` (a transaction hash the node knows).
fn hash(n: u8) -> String {
    PublicKey([n; 32]).to_string().trim_start_matches("ed25519:").to_owned()
}

fn measurements() -> Measurements {
    Measurements::from_registers(&[1; 48], [&[2; 48], &[3; 48], &[4; 48], &[5; 48]])
}

fn receipt(key: &SigningKey) -> SignedReceipt {
    Receipt {
        call_id: REQUEST.to_string(),
        project: String::new(),
        wasm_sha256: sha256_hex(b"wasm"),
        input_sha256: sha256_hex(INPUT),
        output_sha256: sha256_hex(OUTPUT.as_bytes()),
        outcome: "ok".into(),
        instructions: 2_000_000,
        wall_ms: 15,
        peak_memory_bytes: 1 << 20,
        refund: 0,
        max_instructions: 1_000_000_000,
        max_memory_mb: 128,
        max_execution_seconds: 60,
        worker_id: format!("near:{CONTRACT}:{}", near_key(key)),
        attestation_sha256: sha256_hex(b"evidence"),
    }
    .sign(key)
}

/// The `resolve_execution` arguments a worker sends (contracts/README.md, "Signed receipt").
fn resolve_args(receipt: Option<&SignedReceipt>) -> Value {
    let mut args = json!({"request_id": REQUEST, "response": {
        "success": true, "output": {"Text": OUTPUT}, "error": null,
        "resources_used": {"instructions": 2_000_000, "time_ms": 15}}});
    if let Some(receipt) = receipt {
        args["receipt"] = json!(receipt);
    }
    args
}

/// The node's `tx` answer for a resolution with `args` signed by `key`: the recorded `tx`
/// answer with the transaction's JSON view and the contract's `execution_resolved` log for
/// those arguments (`contracts/outlayer/src/events.rs`).
fn resolution_status(tx_hash: &str, key: &SigningKey, args: &Value) -> Value {
    let mut status = recorded("rpc/tx_status.response.json");
    let result = &mut status["result"];
    let signature = result["transaction"]["signature"].clone();
    result["transaction"] = json!({
        "signer_id": CONTRACT, "public_key": near_key(key), "nonce": 86, "receiver_id": CONTRACT,
        "actions": [{"FunctionCall": {"method_name": "resolve_execution", "args": BASE64.encode(args.to_string()),
            "gas": 100_000_000_000_000u64, "deposit": "0"}}],
        "signature": signature, "hash": tx_hash,
    });
    result["transaction_outcome"]["id"] = json!(tx_hash);
    result["transaction_outcome"]["outcome"]["executor_id"] = json!(CONTRACT);
    let response = &args["response"];
    let event = json!({"standard": "near-outlayer", "version": "1.0.0", "event": "execution_resolved", "data": [{
        "request_id": args["request_id"], "success": response["success"], "error_message": response["error"],
        "resources_used": response["resources_used"],
        "worker_public_key": near_key(key), "receipt": args.get("receipt").cloned().unwrap_or(Value::Null),
    }]});
    result["receipts_outcome"][0]["outcome"]["executor_id"] = json!(CONTRACT);
    result["receipts_outcome"][0]["outcome"]["logs"] = json!([format!("EVENT_JSON:{event}")]);
    result["receipts_outcome"][1]["outcome"]["executor_id"] = json!(CONTRACT);
    status
}

/// The recorded `call_function` envelope holding `value` as the function's JSON result.
fn view_result(value: &Value) -> Value {
    let mut answer = recorded("rpc/call_function.response.json");
    answer["result"]["result"] = json!(serde_json::to_vec(value).unwrap());
    answer
}

/// What the local node knows.
#[derive(Default)]
struct Chain {
    /// `tx` answers by hash (the whole JSON-RPC envelope).
    txs: HashMap<String, Value>,
    /// Worker keys registered with the register contract (`ed25519:…`).
    registered: Vec<String>,
}

async fn answer(State(chain): State<Arc<Chain>>, body: String) -> axum::Json<Value> {
    let request: Value = serde_json::from_str(&body).unwrap();
    let params = &request["params"];
    let answer = match request["method"].as_str().unwrap() {
        "tx" => {
            assert_eq!(params["wait_until"], "FINAL");
            let tx_hash = params["tx_hash"].as_str().unwrap();
            chain.txs.get(tx_hash).cloned().unwrap_or_else(|| {
                json!({"jsonrpc": "2.0", "id": "dontcare", "error": {"name": "HANDLER_ERROR", "cause": {"name": "UNKNOWN_TRANSACTION",
                    "info": {"requested_transaction_hash": tx_hash}}, "code": -32000, "message": "Server error", "data": "UNKNOWN_TRANSACTION"}})
            })
        }
        "query" if params["request_type"] == "call_function" => {
            assert_eq!(params["account_id"], REGISTER);
            let args: Value = serde_json::from_slice(&BASE64.decode(params["args_base64"].as_str().unwrap()).unwrap()).unwrap();
            match params["method_name"].as_str().unwrap() {
                "get_outlayer_contract" => view_result(&json!(CONTRACT)),
                "get_approved_measurements" => view_result(&json!([measurements()])),
                "get_worker" => {
                    let key = args["public_key"].as_str().unwrap();
                    view_result(&if chain.registered.iter().any(|k| k == key) {
                        json!({"measurements": measurements(), "registered_by": "operator.testnet", "registered_at_ns": 1_751_328_000_000_000_000u64})
                    } else {
                        Value::Null
                    })
                }
                other => panic!("unexpected view {other}"),
            }
        }
        other => panic!("unexpected RPC {other} {params}"),
    };
    axum::Json(answer)
}

async fn node(chain: Chain) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new().route("/", post(answer)).with_state(Arc::new(chain));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// The hashes the test chain knows.
struct Txs {
    good: String,
    changed: String,
    no_receipt: String,
    transfer: String,
    other_key: String,
}

/// A chain with: a good resolution, one whose receipt's `wall_ms` was changed after signing, one
/// without a receipt, NEAR's recorded transfer, and a resolution signed by an unregistered key.
async fn chain() -> (String, Txs) {
    let key = worker_key();
    let signed = receipt(&key);
    let mut changed = resolve_args(Some(&signed));
    changed["receipt"]["wall_ms"] = json!(14);
    changed["response"]["resources_used"]["time_ms"] = json!(14);
    let stranger = SigningKey::from_bytes(&[8; 32]);
    let txs = Txs {
        good: hash(1),
        changed: hash(2),
        no_receipt: hash(3),
        transfer: recorded("rpc/tx_status.response.json")["result"]["transaction"]["hash"].as_str().unwrap().to_owned(),
        other_key: hash(5),
    };
    let mut chain = Chain { registered: vec![near_key(&key)], ..Chain::default() };
    chain.txs.insert(txs.good.clone(), resolution_status(&txs.good, &key, &resolve_args(Some(&signed))));
    chain.txs.insert(txs.changed.clone(), resolution_status(&txs.changed, &key, &changed));
    chain.txs.insert(txs.no_receipt.clone(), resolution_status(&txs.no_receipt, &key, &resolve_args(None)));
    chain.txs.insert(txs.transfer.clone(), recorded("rpc/tx_status.response.json"));
    chain.txs.insert(txs.other_key.clone(), resolution_status(&txs.other_key, &stranger, &resolve_args(Some(&receipt(&stranger)))));
    (node(chain).await, txs)
}

fn verify(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_outlayer")).arg("verify").args(args).env("OUTLAYER_LOG", "warn").output().expect("run outlayer verify")
}

/// `verify tx HASH --signer CONTRACT --rpc URL ARGS... --json`.
fn verify_tx(rpc: &str, tx_hash: &str, args: &[&str]) -> Output {
    let mut all = vec!["tx", tx_hash, "--signer", CONTRACT, "--rpc", rpc];
    all.extend_from_slice(args);
    verify(&all)
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit status")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn json_verdict(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

fn layer_status(v: &Value, layer: &str) -> String {
    v["layers"].as_array().unwrap().iter().find(|l| l["name"] == layer).unwrap()["status"].as_str().unwrap().to_owned()
}

fn check<'a>(v: &'a Value, layer: &str, name: &str) -> &'a Value {
    let layer = v["layers"].as_array().unwrap().iter().find(|l| l["name"] == layer).unwrap();
    layer["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no check {name} in {layer}"))
}

/// Every check as `layer/check STATUS`.
fn statuses(v: &Value) -> Vec<String> {
    let layers = v["layers"].as_array().unwrap();
    layers
        .iter()
        .flat_map(|l| l["checks"].as_array().unwrap().iter().map(move |c| format!("{}/{} {}", l["name"], c["name"], c["status"])))
        .collect()
}

fn input_file(dir: &Path) -> String {
    let path = dir.join("input");
    std::fs::write(&path, INPUT).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resolution_is_bound_and_its_bundle_reverifies_offline() {
    let (rpc, txs) = chain().await;
    let dir = tempfile::tempdir().unwrap();
    let input = input_file(dir.path());
    let bundle = dir.path().join("tx.bundle.json").display().to_string();
    let out = verify_tx(&rpc, &txs.good, &["--register-contract", REGISTER, "--input", &input, "--bundle", &bundle, "--json"]);
    let v = json_verdict(&out);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert_eq!(layer_status(&v, "binding"), "PASS", "{v:#}");
    assert_eq!(layer_status(&v, "identity"), "PASS", "{v:#}");
    assert_eq!(layer_status(&v, "authenticity"), "UNPROVEN", "{v:#}");
    // The quote is the only unproven thing, and it says why.
    assert_eq!(check(&v, "authenticity", "worker registration")["status"], "PASS");
    assert_eq!(check(&v, "authenticity", "outlayer contract")["status"], "PASS");
    let quote = check(&v, "authenticity", "quote");
    assert_eq!(quote["status"], "UNPROVEN");
    assert!(quote["reason"].as_str().unwrap().contains("keeps neither quote nor collateral"), "{quote}");
    // Both forms of the key are printed.
    let key = check(&v, "binding", "receipt key");
    let hex_key = hex::encode(worker_key().verifying_key().to_bytes());
    for form in [hex_key.as_str(), near_key(&worker_key()).as_str()] {
        assert!(key["expected"].as_str().unwrap().contains(form) && key["found"].as_str().unwrap().contains(form), "{key}");
    }
    for name in ["transaction status", "receipt signature", "call_id", "instructions", "wall_ms", "outcome", "refund"] {
        assert_eq!(check(&v, "binding", name)["status"], "PASS", "{name}");
    }
    for name in ["output_sha256", "input_sha256", "event receipt", "event worker_public_key"] {
        assert_eq!(check(&v, "binding", name)["status"], "PASS", "{name}");
    }

    // The bundle re-verifies with no network (the node is not asked: --offline, and the node
    // would panic on an unexpected method anyway) and recomputes the same layers.
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&bundle).unwrap()).unwrap();
    assert_eq!(saved["format"], "outlayer-verify-tx-bundle/1");
    let again = verify(&["bundle", &bundle, "--offline", "--json"]);
    assert_eq!(code(&again), 2, "{}", text(&again));
    assert_eq!(statuses(&json_verdict(&again)), statuses(&v), "the same checks with the same answers");

    // A receipt field changed in the recorded transaction arguments fails, naming the check.
    let mut forged = saved.clone();
    let action = &mut forged["tx_status"]["transaction"]["actions"][0]["FunctionCall"]["args"];
    let mut args: Value = serde_json::from_slice(&BASE64.decode(action.as_str().unwrap()).unwrap()).unwrap();
    args["receipt"]["peak_memory_bytes"] = json!(1);
    *action = json!(BASE64.encode(args.to_string()));
    let forged_path = dir.path().join("forged.json");
    std::fs::write(&forged_path, forged.to_string()).unwrap();
    let out = verify(&["bundle", forged_path.to_str().unwrap(), "--offline", "--short"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("binding FAIL: receipt signature: the signature is valid over the stated digest"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_receipt_field_fails_naming_the_check() {
    let (rpc, txs) = chain().await;
    let out = verify_tx(&rpc, &txs.changed, &["--register-contract", REGISTER, "--json"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let v = json_verdict(&out);
    assert_eq!(layer_status(&v, "binding"), "FAIL");
    let signature = check(&v, "binding", "receipt signature");
    assert_eq!(signature["status"], "FAIL");
    assert!(signature["reason"].as_str().unwrap().contains("a field was changed after signing"), "{signature}");
    let short = verify_tx(&rpc, &txs.changed, &["--short"]);
    assert_eq!(code(&short), 1);
    assert!(text(&short).contains("binding FAIL: receipt signature"), "{}", text(&short));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resolution_without_a_receipt_fails() {
    let (rpc, txs) = chain().await;
    let out = verify_tx(&rpc, &txs.no_receipt, &["--short"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("binding FAIL: receipt: the resolution carries no receipt"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_that_is_not_a_resolution_is_a_usage_error() {
    let (rpc, txs) = chain().await;
    let out = verify(&["tx", &txs.transfer, "--signer", "sender.testnet", "--rpc", &rpc]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let message = text(&out);
    assert!(message.contains("verify tx takes the hash of a worker's resolve_execution transaction"), "{message}");
    assert!(message.contains("has 0 resolve_execution calls"), "{message}");
    // An unknown transaction proves nothing (exit 2), naming the node's answer.
    let out = verify_tx(&rpc, &hash(9), &[]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("UNKNOWN_TRANSACTION") && text(&out).contains("nothing was proven"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unregistered_signer_key_fails_authenticity_and_no_register_contract_is_unproven() {
    let (rpc, txs) = chain().await;
    let out = verify_tx(&rpc, &txs.other_key, &["--register-contract", REGISTER, "--json"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let v = json_verdict(&out);
    for name in ["receipt signature", "receipt key", "event receipt"] {
        assert_eq!(check(&v, "binding", name)["status"], "PASS", "the stranger signed its own receipt consistently: {name}");
    }
    assert_eq!(check(&v, "authenticity", "worker registration")["status"], "FAIL");
    assert_eq!(layer_status(&v, "identity"), "UNPROVEN");

    let out = verify_tx(&rpc, &txs.good, &["--json"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let v = json_verdict(&out);
    assert_eq!(layer_status(&v, "authenticity"), "UNPROVEN");
    assert_eq!(layer_status(&v, "identity"), "UNPROVEN");
    assert_eq!(check(&v, "binding", "input_sha256")["status"], "UNPROVEN", "no --input");
}

#[test]
fn usage_errors_exit_3() {
    let out = verify(&["tx", &hash(1), "--signer", CONTRACT]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(text(&out).contains("verify tx needs --rpc URL"), "{}", text(&out));
    let out = verify(&["tx", &hash(1), "--rpc", "http://127.0.0.1:9"]);
    assert_eq!(code(&out), 3, "--signer is required: {}", text(&out));
    let out = verify(&["call", "c1", "--rpc", "http://127.0.0.1:9"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(text(&out).contains("--rpc is only used with --register-contract"), "{}", text(&out));
}
