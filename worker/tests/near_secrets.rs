//! On-chain requests with `secrets_ref`, end to end: the on-chain worker
//! (`outlayer_worker::near::NearWorker`) with a keystore link, the keystore served in process
//! (dev attestation allowed) reading the same local NEAR node as the worker, and the real
//! `secret-reader` guest.
//!
//! The node answers as in `tests/near.rs` (NEAR's recorded envelopes, `tests/data/PROVENANCE.md`)
//! and, for the keystore, the contract's `get_secrets` JSON (the shape of
//! `keystore/tests/data/get_secrets.response.json`, the contract's own output) holding a record
//! sealed here to the keystore's key for the project's accessor.

use anyhow::Result;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::SigningKey;
use outlayer_attest::{Policy, seal};
use outlayer_host::{Runtime, RuntimeConfig};
use outlayer_keystore::chain::ContractReader;
use outlayer_keystore::derive::{HkdfDerivation, KeyDerivation, Purpose};
use outlayer_keystore::master::MasterSecret;
use outlayer_keystore::{Keystore, KeystoreConfig};
use outlayer_near::RpcClient;
use outlayer_near::tx::{Action, SecretKey, SignedTransaction};
use outlayer_protocol::DEV_MEASUREMENTS;
use outlayer_worker::Backends;
use outlayer_worker::evidence::QuoteSource;
use outlayer_worker::keys::KeystoreLink;
use outlayer_worker::near::{NearWorker, NearWorkerConfig};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

const CONTRACT: &str = "outlayer.testnet";
const CALLER: &str = "sender.testnet";
/// The developer who stored the secrets, and their project.
const OWNER: &str = "dev.testnet";
const PROJECT: &str = "dev.testnet/app";
const MASTER: [u8; 32] = [0x42; 32];
const SECRET: &str = "s3cr3t-on-chain-4711";

/// A file of `crates/near/tests/data` (NEAR's recorded examples) as JSON.
fn recorded(path: &str) -> Value {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/near/tests/data").join(path);
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
}

/// The near-api-js test key pair as the worker's NEAR key (as in `tests/near.rs`).
fn worker_key() -> SecretKey {
    recorded("near-api-js-vectors.json")["transfer"]["secret_key"].as_str().unwrap().parse().unwrap()
}

fn final_block() -> Value {
    recorded("rpc/block.response.json")
}

fn final_height() -> u64 {
    final_block()["result"]["header"]["height"].as_u64().unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A `PendingRequest` of `PROJECT` as the contract's views serialise it (see `tests/near.rs`),
/// asking for the secrets of `OWNER` under `profile`.
fn pending_request(id: u64, url: &str, sha256: &str, profile: &str) -> Value {
    json!({
        "request_id": id,
        "data_id": vec![7u8; 32],
        "sender_id": CALLER,
        "signer_id": CALLER,
        "payer_id": CALLER,
        "source": {"project_id": PROJECT, "project_owner": OWNER, "wasm_url": url, "wasm_sha256": sha256},
        "limits": {"max_instructions": 1_000_000_000u64, "max_memory_mb": 128, "max_execution_seconds": 60},
        "response_format": "Text",
        "secrets_ref": {"account_id": OWNER, "profile": profile},
        "attached": "10000000000000000000000",
        "estimate": "7100000000000000000000",
        "developer_payment": "0",
        "created_at_ns": 1601280114229875635u64,
        "block_height": final_height(),
        "resolved": false,
    })
}

/// The `EVENT_JSON` line `request_execution` logs.
fn requested_log(request: &Value, input: &str) -> String {
    let event = json!({
        "standard": "outlayer", "version": "1.0.0", "event": "execution_requested",
        "data": {
            "request_id": request["request_id"], "data_id": "07".repeat(32),
            "sender": CALLER, "signer": CALLER, "payer": CALLER,
            "source": request["source"], "resource_limits": request["limits"],
            "input": input, "secrets_ref": request["secrets_ref"], "response_format": "Text",
            "attached": request["attached"], "developer_payment": "0",
            "block_height": request["block_height"], "block_timestamp": "1601280114229875635",
        }
    });
    format!("EVENT_JSON:{event}")
}

/// The contract's `StoredSecrets` JSON for `OWNER`'s record of `PROJECT` under `profile`:
/// `map` sealed to the keystore's key for the project (master [`MASTER`]) with the scope as
/// associated data, and `access`. Field names and the other fields are those of the contract's
/// `get_secrets` answer in `keystore/tests/data/get_secrets.response.json`.
fn stored_secrets(profile: &str, map: &Value, access: Value) -> Value {
    let derivation = HkdfDerivation::new(MasterSecret::from_bytes(MASTER));
    let public = seal::public_key(&derivation.derive(Purpose::Seal, &format!("project:{PROJECT}")));
    let sealed = seal::seal(&public, &format!("project:{PROJECT}|{OWNER}|{profile}"), &serde_json::to_vec(map).unwrap()).unwrap();
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../keystore/tests/data/get_secrets.response.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let bytes: Vec<u8> = serde_json::from_value(fixture["result"]["result"].clone()).unwrap();
    let mut record: Value = serde_json::from_slice(&bytes).unwrap();
    record["owner"] = json!(OWNER);
    record["accessor"] = json!({"project": {"project_id": PROJECT}});
    record["profile"] = json!(profile);
    record["encrypted_data"] = json!(BASE64.encode(sealed));
    record["access"] = access;
    record
}

/// What the local node knows about the contract.
#[derive(Default)]
struct Contract {
    pending: Vec<Value>,
    requests: HashMap<u64, Value>,
    /// `request_execution` transactions in the recorded chunk, with their outcome logs.
    calls: Vec<Vec<String>>,
    /// `get_secrets` answers by profile (owner and accessor are checked).
    secrets: HashMap<String, Value>,
}

#[derive(Clone)]
struct NodeState {
    contract: Arc<Mutex<Contract>>,
    requests: Arc<Mutex<Vec<Value>>>,
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

fn view_result(value: &Value) -> Value {
    let mut answer = recorded("rpc/call_function.response.json");
    answer["result"]["result"] = json!(serde_json::to_vec(value).unwrap());
    answer
}

fn call_transaction(index: usize) -> Value {
    let mut tx = recorded("rpc/tx_status.response.json")["result"]["transaction"].clone();
    tx["receiver_id"] = json!(CONTRACT);
    tx["hash"] = json!(bs58_hash(index));
    tx["actions"] = json!([{"FunctionCall": {"method_name": "request_execution", "args": BASE64.encode(b"{}"), "gas": 100_000_000_000_000u64, "deposit": "10000000000000000000000"}}]);
    tx
}

fn bs58_hash(index: usize) -> String {
    let recorded_hash = recorded("rpc/tx_status.response.json")["result"]["transaction"]["hash"].as_str().unwrap().to_owned();
    if index == 0 {
        recorded_hash
    } else {
        outlayer_near::tx::PublicKey([index as u8; 32]).to_string().trim_start_matches("ed25519:").to_owned()
    }
}

async fn answer(State(state): State<NodeState>, body: String) -> axum::Json<Value> {
    let request: Value = serde_json::from_str(&body).unwrap();
    state.requests.lock().unwrap().push(request.clone());
    let params = &request["params"];
    let contract = state.contract.lock().unwrap();
    let answer = match request["method"].as_str().unwrap() {
        "block" if params["finality"] == "final" || params["block_id"] == final_height() => final_block(),
        // Heights around the request's block: no block there.
        "block" => json!({"jsonrpc": "2.0", "id": "dontcare", "error": {"name": "HANDLER_ERROR",
            "cause": {"name": "UNKNOWN_BLOCK", "info": {"block_reference": {"block_id": params["block_id"]}}},
            "code": -32000, "message": "Server error", "data": "UNKNOWN_BLOCK"}}),
        "chunk" if params["chunk_id"] == final_block()["result"]["chunks"][0]["chunk_hash"] => {
            let mut chunk = recorded("rpc/chunk.response.json");
            chunk["result"]["transactions"] = (0..contract.calls.len()).map(call_transaction).collect();
            chunk["result"]["receipts"] = json!([]);
            chunk
        }
        "tx" => {
            let index = (0..contract.calls.len()).find(|i| params["tx_hash"] == bs58_hash(*i)).expect("tx of a recorded call");
            let mut status = recorded("rpc/tx_status.response.json");
            status["result"]["transaction"] = call_transaction(index);
            status["result"]["receipts_outcome"][0]["outcome"]["executor_id"] = json!(CONTRACT);
            status["result"]["receipts_outcome"][0]["outcome"]["logs"] = json!(contract.calls[index]);
            status
        }
        "query" if params["request_type"] == "view_access_key" => recorded("rpc/view_access_key.response.json"),
        "query" if params["request_type"] == "call_function" => {
            assert_eq!(params["account_id"], CONTRACT);
            let args: Value = serde_json::from_slice(&BASE64.decode(params["args_base64"].as_str().unwrap()).unwrap()).unwrap();
            match params["method_name"].as_str().unwrap() {
                "list_pending_requests" => {
                    let from = args["from_index"].as_u64().unwrap() as usize;
                    let limit = args["limit"].as_u64().unwrap() as usize;
                    view_result(&json!(contract.pending.iter().skip(from).take(limit).collect::<Vec<_>>()))
                }
                "get_request" => view_result(contract.requests.get(&args["request_id"].as_u64().unwrap()).unwrap_or(&Value::Null)),
                "get_project_http_allowlist" => view_result(&json!([])),
                "get_secrets" => {
                    assert_eq!(params["finality"], "final", "the keystore reads secrets at the final block");
                    let found = (args["owner"] == OWNER && args["accessor"] == json!({"project": {"project_id": PROJECT}}))
                        .then(|| contract.secrets.get(args["profile"].as_str().unwrap()))
                        .flatten();
                    view_result(found.unwrap_or(&Value::Null))
                }
                other => panic!("unexpected view {other}"),
            }
        }
        "send_tx" => recorded("rpc/send_tx.response.json"),
        other => panic!("unexpected RPC {other} {params}"),
    };
    axum::Json(answer)
}

/// The local node; returns its URL and every JSON-RPC request it received.
async fn node(contract: Contract) -> (String, Arc<Mutex<Vec<Value>>>) {
    let state = NodeState { contract: Arc::new(Mutex::new(contract)), requests: Arc::default() };
    let requests = state.requests.clone();
    (serve(Router::new().route("/", post(answer)).with_state(state)).await, requests)
}

/// The keystore (dev attestation allowed), reading the contract through `rpc_url`.
async fn keystore(rpc_url: &str) -> String {
    let config = KeystoreConfig {
        policy: Policy { allow_dev: true, ..Policy::new(vec![DEV_MEASUREMENTS]) },
        contract: Some(Arc::new(ContractReader::new(RpcClient::new(rpc_url), CONTRACT))),
        ..KeystoreConfig::default()
    };
    let keystore = Arc::new(Keystore::new(Arc::new(HkdfDerivation::new(MasterSecret::from_bytes(MASTER))), config));
    serve(outlayer_keystore::api::router(keystore)).await
}

async fn wasm_server(name: &'static str, bytes: Vec<u8>) -> String {
    let server = serve(Router::new().route(&format!("/{name}"), get(move || async move { bytes.clone() }))).await;
    format!("{server}/{name}")
}

/// The `resolve_execution` arguments of every transaction sent, by request id.
fn resolutions(requests: &Mutex<Vec<Value>>) -> HashMap<u64, Value> {
    let requests = requests.lock().unwrap();
    requests
        .iter()
        .filter(|r| r["method"] == "send_tx")
        .map(|r| {
            let signed = SignedTransaction::from_base64(r["params"]["signed_tx_base64"].as_str().unwrap()).unwrap();
            assert!(signed.verify());
            let [Action::FunctionCall { method_name, args, .. }] = signed.transaction.actions.as_slice() else { panic!("one call") };
            assert_eq!(method_name, "resolve_execution");
            let args: Value = serde_json::from_slice(args).unwrap();
            (args["request_id"].as_u64().unwrap(), args)
        })
        .collect()
}

#[tokio::test]
async fn a_pending_requests_secret_reaches_the_guest_and_a_failed_condition_denies_it() -> Result<()> {
    let wasm = outlayer_guest_artifacts::read(outlayer_guest_artifacts::SECRET_READER);
    let url = wasm_server("secret-reader.wasm", wasm.clone()).await;
    let sha = sha256_hex(&wasm);
    let open = pending_request(1, &url, &sha, "default");
    let guarded = pending_request(2, &url, &sha, "guarded");
    let contract = Contract {
        pending: vec![open.clone(), guarded.clone()],
        requests: HashMap::from([(1, open.clone()), (2, guarded.clone())]),
        calls: vec![vec![requested_log(&open, "\"API_KEY\"")], vec![requested_log(&guarded, "\"API_KEY\"")]],
        secrets: HashMap::from([
            ("default".to_owned(), stored_secrets("default", &json!({"API_KEY": SECRET}), json!({"type": "allow_all"}))),
            (
                "guarded".to_owned(),
                stored_secrets("guarded", &json!({"API_KEY": SECRET}), json!({"type": "whitelist", "accounts": ["someone-else.testnet"]})),
            ),
        ]),
    };
    let (rpc_url, requests) = node(contract).await;
    let keystore_url = keystore(&rpc_url).await;

    let key = Arc::new(SigningKey::from_bytes(&[9; 32]));
    let link = KeystoreLink::new(&keystore_url, key.clone(), QuoteSource::Dev)?;
    let backends = Backends::new((*key).clone()).with_keystore(link, None, None);
    let dir = tempfile::tempdir()?;
    let config = NearWorkerConfig::new(&rpc_url, CONTRACT, CONTRACT, worker_key(), dir.path().join("cursor.json"), dir.path().join("wasm"));
    let mut worker = NearWorker::new(config, Runtime::new(RuntimeConfig::default())?, backends)?;

    let mut report = worker.poll_once().await?;
    report.resolved.sort();
    assert_eq!(report.resolved, vec![1, 2], "{report:?}");
    let sent = resolutions(&requests);
    assert_eq!(sent.len(), 2);

    // The guest read the secret the keystore released for the project.
    let response = &sent[&1]["response"];
    assert_eq!(response["success"], true, "{response}");
    assert_eq!(response["output"], json!({"type": "Text", "value": format!("\"{SECRET}\"")}), "{response}");

    // The other record's whitelist does not hold the caller: a failure naming the condition,
    // without running the guest.
    let response = &sent[&2]["response"];
    assert_eq!(response["success"], false, "{response}");
    assert_eq!(response["output"], Value::Null);
    let error = response["error"].as_str().unwrap();
    assert!(error.starts_with("access-denied: whitelist: "), "{error}");
    assert!(error.contains(CALLER), "{error}");
    assert!(!error.contains(SECRET), "{error}");
    assert_eq!(response["instructions_used"], 0, "never executed: {response}");

    // The keystore read each request and its record from the node itself.
    let views: Vec<(String, Value)> = requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r["params"]["method_name"] == "get_secrets")
        .map(|r| {
            let args: Value = serde_json::from_slice(&BASE64.decode(r["params"]["args_base64"].as_str().unwrap()).unwrap()).unwrap();
            (args["profile"].as_str().unwrap().to_owned(), args["accessor"].clone())
        })
        .collect();
    assert_eq!(views.len(), 2, "{views:?}");
    Ok(())
}
