//! The on-chain worker (`outlayer_worker::near`) against a local NEAR node that answers with
//! NEAR's recorded RPC responses (`crates/near/tests/data/rpc`) and, for the contract's views
//! and the request's event, the same recorded envelopes holding what the OutLayer contract
//! returns and logs (`tests/data/PROVENANCE.md`). Guests are real components run by the real
//! host through the worker loop (`NearWorker::poll_once`: one poll of the `NearSource`, then
//! `run_with_source` until its requests are handled); wasm is served by a local HTTP server.

use anyhow::Result;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use outlayer_host::{Runtime, RuntimeConfig};
use outlayer_near::tx::{Action, SecretKey, SignedTransaction};
use outlayer_protocol::job::ExecutionKind;
use outlayer_protocol::receipt::SignedReceipt;
use outlayer_protocol::{Capability, JobSource};
use outlayer_worker::Backends;
use outlayer_worker::near::cursor::Cursor;
use outlayer_worker::near::tx_receipt::fetch_resolution;
use outlayer_worker::near::{NearSource, NearWorker, NearWorkerConfig, run_near_worker};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const CONTRACT: &str = "outlayer.testnet";
const CALLER: &str = "sender.testnet";
const INPUT: &str = "hello near";

/// A file of `crates/near/tests/data` (NEAR's recorded examples) as JSON.
fn recorded(path: &str) -> Value {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/near/tests/data").join(path);
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
}

/// The near-api-js test key pair (crates/near/tests/data/PROVENANCE.md) as the worker key.
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

/// A `PendingRequest` as the contract's `get_request` / `list_pending_requests` serialise it
/// (field names and JSON types of `contracts/outlayer/src/types.rs`: `CryptoHash` as 32
/// numbers, `NearToken` as a decimal string), made in the recorded final block.
fn pending_request(id: u64, url: &str, sha256: &str) -> Value {
    json!({
        "request_id": id,
        "data_id": vec![7u8; 32],
        "sender_id": CALLER,
        "signer_id": CALLER,
        "payer_id": CALLER,
        "source": {"project_id": null, "project_owner": null, "wasm_url": url, "wasm_sha256": sha256},
        "limits": {"max_instructions": 1_000_000_000u64, "max_memory_mb": 128, "max_execution_seconds": 60},
        "response_format": "Text",
        "secrets_ref": null,
        "attached": "10000000000000000000000",
        "estimate": "7100000000000000000000",
        "developer_payment": "0",
        "created_at_ns": 1601280114229875635u64,
        "block_height": final_height(),
        "resolved": false,
    })
}

/// The `EVENT_JSON` line `request_execution` logs (README "Events", `events.rs`).
fn requested_log(request: &Value, input: &str) -> String {
    let event = json!({
        "standard": "outlayer", "version": "1.0.0", "event": "execution_requested",
        "data": {
            "request_id": request["request_id"], "data_id": "07".repeat(32),
            "sender": CALLER, "signer": CALLER, "payer": CALLER,
            "source": request["source"], "resource_limits": request["limits"],
            "input": input, "secrets_ref": null, "response_format": "Text",
            "attached": request["attached"], "developer_payment": "0",
            "block_height": request["block_height"], "block_timestamp": "1601280114229875635",
        }
    });
    format!("EVENT_JSON:{event}")
}

/// What the local node knows about the contract.
#[derive(Default)]
struct Contract {
    /// `list_pending_requests` answer.
    pending: Vec<Value>,
    /// `get_request` answers; a missing id answers `null`.
    requests: HashMap<u64, Value>,
    /// `request_execution` transactions in the recorded chunk, with their outcome logs.
    calls: Vec<Vec<String>>,
    /// `request_execution` receipts from other contracts in the recorded chunk, with their
    /// outcome logs.
    receipts: Vec<Vec<String>>,
    /// How many `send_tx` calls still fail (HTTP 502).
    failing_sends: usize,
    /// How many `send_tx` calls still answer `InvalidNonce` (after the failing ones).
    stale_sends: usize,
    /// `get_project_http_allowlist` answers by project id; a missing project answers `[]`.
    http_allowlists: HashMap<String, Vec<String>>,
}

#[derive(Clone)]
struct NodeState {
    contract: Arc<Mutex<Contract>>,
    requests: Arc<Mutex<Vec<Value>>>,
    sent: tokio::sync::mpsc::UnboundedSender<String>,
}

/// A local NEAR node.
struct Node {
    url: String,
    contract: Arc<Mutex<Contract>>,
    requests: Arc<Mutex<Vec<Value>>>,
    sent: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Node {
    async fn start(contract: Contract) -> Self {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let state = NodeState { contract: Arc::new(Mutex::new(contract)), requests: Arc::default(), sent: tx };
        let node = Node { url: String::new(), contract: state.contract.clone(), requests: state.requests.clone(), sent: rx };
        let url = serve(Router::new().route("/", post(answer)).with_state(state)).await;
        Node { url, ..node }
    }

    /// Every `signed_tx_base64` sent so far.
    fn sent_txs(&self) -> Vec<String> {
        let requests = self.requests.lock().unwrap();
        requests.iter().filter(|r| r["method"] == "send_tx").map(|r| r["params"]["signed_tx_base64"].as_str().unwrap().to_owned()).collect()
    }

    fn calls_of(&self, method: &str) -> usize {
        self.requests.lock().unwrap().iter().filter(|r| r["method"] == method).count()
    }
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// The recorded `call_function` envelope holding `value` as the function's JSON result.
fn view_result(value: &Value) -> Value {
    let mut answer = recorded("rpc/call_function.response.json");
    answer["result"]["result"] = json!(serde_json::to_vec(value).unwrap());
    answer
}

/// The recorded chunk of the recorded block, holding one transaction per `request_execution`
/// call, each shaped like the recorded `tx` answer's `transaction`.
fn chunk_with_calls(calls: usize, receipts: usize) -> Value {
    let mut chunk = recorded("rpc/chunk.response.json");
    chunk["result"]["transactions"] = (0..calls).map(call_transaction).collect();
    chunk["result"]["receipts"] = (0..receipts).map(call_receipt).collect();
    chunk
}

/// A `request_execution` receipt from a contract, shaped like the recorded `EXPERIMENTAL_receipt`
/// answer.
fn call_receipt(index: usize) -> Value {
    let mut receipt = recorded("rpc/receipt.response.json")["result"].clone();
    receipt["receiver_id"] = json!(CONTRACT);
    receipt["predecessor_id"] = json!("caller-contract.testnet");
    receipt["receipt_id"] = json!(bs58_hash(index + 100));
    receipt["receipt"]["Action"]["actions"] = call_transaction(0)["actions"].clone();
    receipt
}

/// `EXPERIMENTAL_light_client_proof` for a receipt: `outcome_proof` is the recorded `tx`
/// answer's receipt outcome (the same `ExecutionOutcomeWithIdView`) holding `logs`; the other
/// members follow NEAR's published schema with values of the recorded block.
fn receipt_proof(receipt_id: &str, logs: &[String]) -> Value {
    let mut outcome = recorded("rpc/tx_status.response.json")["result"]["receipts_outcome"][0].clone();
    outcome["id"] = json!(receipt_id);
    outcome["outcome"]["executor_id"] = json!(CONTRACT);
    outcome["outcome"]["logs"] = json!(logs);
    let header = &final_block()["result"]["header"];
    json!({"jsonrpc": "2.0", "id": "dontcare", "result": {
        "outcome_proof": outcome,
        "outcome_root_proof": [],
        "block_header_lite": {
            "prev_block_hash": header["prev_hash"],
            "inner_rest_hash": header["hash"],
            "inner_lite": {
                "height": header["height"], "epoch_id": header["epoch_id"], "next_epoch_id": header["next_epoch_id"],
                "prev_state_root": header["prev_state_root"], "outcome_root": header["outcome_root"],
                "timestamp": header["timestamp"], "timestamp_nanosec": header["timestamp_nanosec"],
                "next_bp_hash": header["next_bp_hash"], "block_merkle_root": header["block_merkle_root"],
            }
        },
        "block_proof": [],
    }})
}

fn call_transaction(index: usize) -> Value {
    let mut tx = recorded("rpc/tx_status.response.json")["result"]["transaction"].clone();
    tx["receiver_id"] = json!(CONTRACT);
    tx["hash"] = json!(bs58_hash(index));
    tx["actions"] = json!([{"FunctionCall": {"method_name": "request_execution", "args": BASE64.encode(b"{}"), "gas": 100_000_000_000_000u64, "deposit": "10000000000000000000000"}}]);
    tx
}

/// A distinct 32-byte base58 hash per transaction: the recorded hash for the first.
fn bs58_hash(index: usize) -> String {
    let recorded_hash = recorded("rpc/tx_status.response.json")["result"]["transaction"]["hash"].as_str().unwrap().to_owned();
    if index == 0 {
        recorded_hash
    } else {
        outlayer_near::tx::PublicKey([index as u8; 32]).to_string().trim_start_matches("ed25519:").to_owned()
    }
}

fn node_error(cause: &str, info: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": "dontcare", "error": {"name": "HANDLER_ERROR", "cause": {"name": cause, "info": info}, "code": -32000, "message": "Server error", "data": cause}})
}

async fn answer(State(state): State<NodeState>, body: String) -> Response {
    let request: Value = serde_json::from_str(&body).unwrap();
    state.requests.lock().unwrap().push(request.clone());
    let params = &request["params"];
    let mut contract = state.contract.lock().unwrap();
    let answer = match request["method"].as_str().unwrap() {
        "block" if params["finality"] == "final" || params["block_id"] == final_height() => final_block(),
        "block" => node_error("UNKNOWN_BLOCK", json!({"block_reference": {"block_id": params["block_id"]}})),
        "chunk" if params["chunk_id"] == final_block()["result"]["chunks"][0]["chunk_hash"] => {
            chunk_with_calls(contract.calls.len(), contract.receipts.len())
        }
        "EXPERIMENTAL_light_client_proof" => {
            assert_eq!(params["type"], "receipt");
            assert_eq!(params["receiver_id"], CONTRACT);
            assert_eq!(params["light_client_head"], final_block()["result"]["header"]["hash"], "proved against the final head");
            let index = (0..contract.receipts.len()).find(|i| params["receipt_id"] == bs58_hash(i + 100)).expect("a recorded receipt");
            receipt_proof(params["receipt_id"].as_str().unwrap(), &contract.receipts[index])
        }
        "tx" if sent_resolution(&state, params["tx_hash"].as_str().unwrap()).is_some() => {
            assert_eq!(params["sender_account_id"], CONTRACT, "asked with the account that signed the resolution");
            resolution_status(&sent_resolution(&state, params["tx_hash"].as_str().unwrap()).unwrap())
        }
        "tx" => {
            let index = (0..contract.calls.len()).find(|i| params["tx_hash"] == bs58_hash(*i)).expect("tx of a recorded call");
            assert_eq!(params["sender_account_id"], CALLER);
            let mut status = recorded("rpc/tx_status.response.json");
            status["result"]["transaction"] = call_transaction(index);
            status["result"]["receipts_outcome"][0]["outcome"]["executor_id"] = json!(CONTRACT);
            status["result"]["receipts_outcome"][0]["outcome"]["logs"] = json!(contract.calls[index]);
            status
        }
        "query" if params["request_type"] == "view_access_key" => {
            assert_eq!(params["account_id"], CONTRACT);
            assert_eq!(params["public_key"], worker_key().public_key().to_string());
            recorded("rpc/view_access_key.response.json")
        }
        "query" if params["request_type"] == "call_function" => {
            assert_eq!(params["account_id"], CONTRACT);
            let args: Value = serde_json::from_slice(&BASE64.decode(params["args_base64"].as_str().unwrap()).unwrap()).unwrap();
            match params["method_name"].as_str().unwrap() {
                "list_pending_requests" => {
                    assert_eq!(params["block_id"], final_height(), "pending requests are read at the final block");
                    let from = args["from_index"].as_u64().unwrap() as usize;
                    view_result(&json!(
                        contract.pending.iter().skip(from).take(args["limit"].as_u64().unwrap() as usize).collect::<Vec<_>>()
                    ))
                }
                "get_request" => view_result(contract.requests.get(&args["request_id"].as_u64().unwrap()).unwrap_or(&Value::Null)),
                "get_project_http_allowlist" => {
                    assert_eq!(params["finality"], "final", "the allowlist is read at the final block");
                    let hosts = contract.http_allowlists.get(args["project_id"].as_str().unwrap()).cloned().unwrap_or_default();
                    view_result(&json!(hosts))
                }
                other => panic!("unexpected view {other}"),
            }
        }
        "send_tx" => {
            state.sent.send(params["signed_tx_base64"].as_str().unwrap().to_owned()).unwrap();
            if contract.failing_sends > 0 {
                contract.failing_sends -= 1;
                return (StatusCode::BAD_GATEWAY, "<html>502 Bad Gateway</html>").into_response();
            }
            if contract.stale_sends > 0 {
                contract.stale_sends -= 1;
                let nonce = recorded("rpc/view_access_key.response.json")["result"]["nonce"].clone();
                let info = json!({"TxExecutionError": {"InvalidTxError": {"InvalidNonce": {"tx_nonce": nonce.as_u64().unwrap() + 1, "ak_nonce": nonce.as_u64().unwrap() + 1}}}});
                return axum::Json(node_error("INVALID_TRANSACTION", info)).into_response();
            }
            recorded("rpc/send_tx.response.json")
        }
        other => panic!("unexpected RPC {other} {params}"),
    };
    axum::Json(answer).into_response()
}

/// The resolution the worker sent with hash `tx_hash`, if any.
fn sent_resolution(state: &NodeState, tx_hash: &str) -> Option<SignedTransaction> {
    let requests = state.requests.lock().unwrap();
    requests
        .iter()
        .filter(|r| r["method"] == "send_tx")
        .filter_map(|r| SignedTransaction::from_base64(r["params"]["signed_tx_base64"].as_str()?).ok())
        .find(|signed| signed.hash_base58() == tx_hash)
}

/// The `tx` answer for a resolution the worker sent: the recorded `tx` answer with
/// `transaction` = the JSON view of the signed transaction (NEAR's `SignedTransactionView`:
/// `FunctionCall` args in base64) and the contract's receipt outcome logging the
/// `execution_resolved` event the contract writes for those arguments (`events.rs`).
fn resolution_status(signed: &SignedTransaction) -> Value {
    let tx = &signed.transaction;
    let actions: Vec<Value> = tx
        .actions
        .iter()
        .map(|action| match action {
            Action::FunctionCall { method_name, args, gas, deposit } => json!({"FunctionCall": {
                "method_name": method_name, "args": BASE64.encode(args), "gas": gas, "deposit": deposit.to_string()}}),
            other => panic!("a resolution has only a function call: {other:?}"),
        })
        .collect();
    let hash = signed.hash_base58();
    let mut status = recorded("rpc/tx_status.response.json");
    let result = &mut status["result"];
    result["transaction"] = json!({
        "signer_id": tx.signer_id, "public_key": tx.public_key.to_string(), "nonce": tx.nonce,
        "receiver_id": tx.receiver_id, "actions": actions, "signature": signed.signature.to_string(), "hash": hash,
    });
    result["transaction_outcome"]["id"] = json!(hash);
    result["transaction_outcome"]["outcome"]["executor_id"] = json!(tx.signer_id);
    let [Action::FunctionCall { args, .. }] = tx.actions.as_slice() else { unreachable!() };
    let args: Value = serde_json::from_slice(args).unwrap();
    let response = &args["response"];
    let event = json!({"standard": "outlayer", "version": "1.0.0", "event": "execution_resolved", "data": {
        "request_id": args["request_id"], "success": response["success"], "error_message": response["error"],
        "resources_used": {"instructions": response["instructions_used"], "time_ms": response["time_ms"]},
        "worker_public_key": tx.public_key.to_string(), "receipt": args.get("receipt").cloned().unwrap_or(Value::Null),
    }});
    result["receipts_outcome"][0]["outcome"]["executor_id"] = json!(CONTRACT);
    result["receipts_outcome"][0]["outcome"]["logs"] = json!([format!("EVENT_JSON:{event}")]);
    result["receipts_outcome"][1]["outcome"]["executor_id"] = json!(tx.signer_id);
    status
}

/// A wasm server: `/<name>` answers the bytes registered under that name.
async fn wasm_server(files: Vec<(&'static str, Vec<u8>)>) -> String {
    let files: Arc<HashMap<String, Vec<u8>>> = Arc::new(files.into_iter().map(|(n, b)| (format!("/{n}"), b)).collect());
    let router =
        Router::new().fallback(get(move |uri: axum::http::Uri| {
            let files = files.clone();
            async move {
                files.get(uri.path()).cloned().map(IntoResponse::into_response).unwrap_or_else(|| StatusCode::NOT_FOUND.into_response())
            }
        }));
    serve(router).await
}

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).unwrap()
}

fn config(node: &Node, dir: &Path) -> NearWorkerConfig {
    NearWorkerConfig::new(node.url.clone(), CONTRACT, CONTRACT, worker_key(), dir.join("cursor.json"), dir.join("wasm"))
}

fn backends() -> Backends {
    Backends::new(ed25519_dalek::SigningKey::from_bytes(&[9; 32]))
}

/// A node with one pending request for the ECHO guest served at `url`.
async fn echo_request_node(wasm_url: &str, sha256: &str) -> Node {
    let request = pending_request(0, wasm_url, sha256);
    Node::start(Contract {
        pending: vec![request.clone()],
        requests: HashMap::from([(0, request.clone())]),
        calls: vec![vec!["some other log".into(), requested_log(&request, INPUT)]],
        receipts: vec![],
        failing_sends: 0,
        stale_sends: 0,
        http_allowlists: HashMap::new(),
    })
    .await
}

/// The `resolve_execution` call inside a sent transaction, after checking who signed it.
fn resolve_call(signed_base64: &str) -> Value {
    let signed = SignedTransaction::from_base64(signed_base64).unwrap();
    assert!(signed.verify(), "the signature verifies with the transaction's public key");
    let tx = &signed.transaction;
    assert_eq!(tx.public_key, worker_key().public_key());
    assert_eq!(tx.signer_id, CONTRACT, "signed by the account holding the worker's function-call key");
    assert_eq!(tx.receiver_id, CONTRACT);
    let recorded_nonce = recorded("rpc/view_access_key.response.json")["result"]["nonce"].as_u64().unwrap();
    assert_eq!(tx.nonce, recorded_nonce + 1);
    let block_hash = final_block()["result"]["header"]["hash"].as_str().unwrap().to_owned();
    assert_eq!(bs58::encode(tx.block_hash).into_string(), block_hash);
    let [Action::FunctionCall { method_name, args, deposit, .. }] = tx.actions.as_slice() else {
        panic!("one function call: {:?}", tx.actions)
    };
    assert_eq!(method_name, "resolve_execution");
    assert_eq!(*deposit, 0);
    serde_json::from_slice(args).unwrap()
}

fn echo_wasm() -> Vec<u8> {
    outlayer_guest_artifacts::read(outlayer_guest_artifacts::ECHO)
}

#[tokio::test]
async fn request_is_discovered_executed_and_resolved() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let node = echo_request_node(&format!("{server}/echo.wasm"), &sha256_hex(&wasm)).await;
    let dir = tempfile::tempdir()?;
    let mut worker = NearWorker::new(config(&node, dir.path()), runtime(), backends())?;

    let report = worker.poll_once().await?;
    assert_eq!(report.resolved, vec![0]);
    assert_eq!(report.block_height, final_height());

    let sent = node.sent_txs();
    assert_eq!(sent.len(), 1);
    let call = resolve_call(&sent[0]);
    assert_eq!(call["request_id"], 0);
    let response = &call["response"];
    assert_eq!(response["success"], true);
    assert_eq!(response["output"], json!({"type": "Text", "value": INPUT}), "the guest's output: ECHO prints its input");
    assert_eq!(response["error"], Value::Null);
    assert!(response["instructions_used"].as_u64().unwrap() > 0);

    // The run's signed receipt goes with it, signed by the key signing the transaction (the
    // loop's key, `backends()`, is another one: the near source signs the same fields again).
    let receipt: SignedReceipt = serde_json::from_value(call["receipt"].clone())?;
    receipt.verify()?;
    assert_eq!(receipt.public_key, hex::encode(worker_key().public_key().as_bytes()));
    let r = &receipt.receipt;
    assert_eq!((r.call_id.as_str(), r.project.as_str(), r.outcome.as_str()), ("0", "", "ok"));
    assert_eq!(r.wasm_sha256, sha256_hex(&wasm));
    assert_eq!((r.input_sha256.clone(), r.output_sha256.clone()), (sha256_hex(INPUT.as_bytes()), sha256_hex(INPUT.as_bytes())));
    assert_eq!((r.instructions, r.wall_ms), (response["instructions_used"].as_u64().unwrap(), response["time_ms"].as_u64().unwrap()));
    assert_eq!((r.max_instructions, r.max_memory_mb, r.max_execution_seconds, r.refund), (1_000_000_000, 128, 60, 0));
    assert_eq!(r.worker_id, format!("near:{CONTRACT}:{}", worker_key().public_key()));

    let cursor = Cursor::load(&dir.path().join("cursor.json"))?;
    assert_eq!(cursor.block_height, final_height());
    assert!(cursor.done.contains(&0));
    assert!(cursor.resolving.is_empty());
    Ok(())
}

#[tokio::test]
async fn restarted_worker_does_not_resolve_the_same_request_twice() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let node = echo_request_node(&format!("{server}/echo.wasm"), &sha256_hex(&wasm)).await;
    let dir = tempfile::tempdir()?;
    let first = NearWorker::new(config(&node, dir.path()), runtime(), backends())?.poll_once().await?;
    assert_eq!(first.resolved, vec![0]);

    // The node still lists the request (its callback has not run yet); a new process with the
    // same cursor file polls again.
    let mut restarted = NearWorker::new(config(&node, dir.path()), runtime(), backends())?;
    let second = restarted.poll_once().await?;
    assert!(second.resolved.is_empty() && second.confirmed.is_empty(), "{second:?}");
    assert_eq!(node.sent_txs().len(), 1, "one resolution in total");
    assert_eq!(node.calls_of("tx"), 1, "the restarted worker did not look the request up again");
    Ok(())
}

#[tokio::test]
async fn failed_send_is_retried_with_the_identical_signed_transaction() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let node = echo_request_node(&format!("{server}/echo.wasm"), &sha256_hex(&wasm)).await;
    node.contract.lock().unwrap().failing_sends = 1;
    let dir = tempfile::tempdir()?;
    let mut worker = NearWorker::new(config(&node, dir.path()), runtime(), backends())?;

    let first = worker.poll_once().await?;
    assert_eq!(first.in_flight, vec![0]);
    let cursor = Cursor::load(&dir.path().join("cursor.json"))?;
    let stored = cursor.resolving.get(&0).expect("the signed transaction was persisted").clone();
    assert_eq!(node.sent_txs(), vec![stored.signed_tx_base64.clone()]);

    // A restart in between changes nothing: the persisted bytes are what is sent again.
    let mut restarted = NearWorker::new(config(&node, dir.path()), runtime(), backends())?;
    let second = restarted.poll_once().await?;
    assert_eq!(second.resolved, vec![0]);
    let sent = node.sent_txs();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1], sent[0], "the retry sends the same signed bytes (same nonce, same hash)");
    assert_eq!(SignedTransaction::from_base64(&sent[1])?.hash_base58(), stored.tx_hash);
    assert_eq!(node.calls_of("tx"), 1, "the request was looked up and run once");
    let cursor = Cursor::load(&dir.path().join("cursor.json"))?;
    assert!(cursor.resolving.is_empty() && cursor.done.contains(&0));
    Ok(())
}

#[tokio::test]
async fn stale_nonce_drops_the_transaction_and_a_waiting_request_is_handled_again() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let node = echo_request_node(&format!("{server}/echo.wasm"), &sha256_hex(&wasm)).await;
    node.contract.lock().unwrap().stale_sends = 1;
    let dir = tempfile::tempdir()?;
    let mut worker = NearWorker::new(config(&node, dir.path()), runtime(), backends())?;

    // The nonce was spent by another transaction of the key: these bytes will never apply,
    // and InvalidNonce alone does not say the request was resolved.
    let first = worker.poll_once().await?;
    assert!(first.resolved.is_empty() && first.in_flight.is_empty(), "{first:?}");
    let cursor = Cursor::load(&dir.path().join("cursor.json"))?;
    assert!(cursor.resolving.is_empty() && !cursor.done.contains(&0), "{cursor:?}");

    // The final state still shows it waiting: it is handled again.
    let second = worker.poll_once().await?;
    assert_eq!(second.resolved, vec![0]);
    assert_eq!(node.sent_txs().len(), 2);
    Ok(())
}

#[tokio::test]
async fn in_flight_resolution_of_a_settled_request_is_not_sent_again() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let node = echo_request_node(&format!("{server}/echo.wasm"), &sha256_hex(&wasm)).await;
    node.contract.lock().unwrap().failing_sends = 1;
    let dir = tempfile::tempdir()?;
    let first = NearWorker::new(config(&node, dir.path()), runtime(), backends())?.poll_once().await?;
    assert_eq!(first.in_flight, vec![0]);

    // The transaction did land: the request is settled and gone (get_request → null).
    {
        let mut contract = node.contract.lock().unwrap();
        contract.pending.clear();
        contract.requests.clear();
    }
    let second = NearWorker::new(config(&node, dir.path()), runtime(), backends())?.poll_once().await?;
    assert_eq!(second.confirmed, vec![0]);
    assert_eq!(node.sent_txs().len(), 1, "nothing re-sent for a settled request");
    let cursor = Cursor::load(&dir.path().join("cursor.json"))?;
    assert!(cursor.resolving.is_empty());
    assert!(cursor.done.is_empty(), "ids the contract no longer lists are forgotten");
    Ok(())
}

#[tokio::test]
async fn wasm_not_matching_its_sha256_is_refused_and_resolved_as_a_failure() -> Result<()> {
    let echo = echo_wasm();
    let other = outlayer_guest_artifacts::read(outlayer_guest_artifacts::COUNTER);
    let server = wasm_server(vec![("echo.wasm", other.clone())]).await;
    let node = echo_request_node(&format!("{server}/echo.wasm"), &sha256_hex(&echo)).await;
    let dir = tempfile::tempdir()?;
    let report = NearWorker::new(config(&node, dir.path()), runtime(), backends())?.poll_once().await?;
    assert_eq!(report.resolved, vec![0]);

    let call = resolve_call(&node.sent_txs()[0]);
    let response = &call["response"];
    assert_eq!(response["success"], false);
    assert_eq!(response["output"], Value::Null);
    let error = response["error"].as_str().unwrap();
    assert!(error.contains(&format!("has sha256 {}, expected {}", sha256_hex(&other), sha256_hex(&echo))), "{error}");
    assert!(error.contains("not executed"), "{error}");
    assert_eq!(response["instructions_used"], 0, "never executed");
    assert!(call.get("receipt").is_none(), "nothing ran, so there is no receipt");
    assert!(std::fs::read_dir(dir.path().join("wasm"))?.next().is_none(), "the bytes were not kept");
    Ok(())
}

#[tokio::test]
async fn request_already_resolved_is_skipped() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let url = format!("{server}/echo.wasm");
    let mut resolved = pending_request(1, &url, &sha256_hex(&wasm));
    resolved["resolved"] = json!(true);
    let settled = pending_request(2, &url, &sha256_hex(&wasm));
    // 1 waits only for its callback; 2 is still listed by the final block but already gone.
    let node = Node::start(Contract {
        pending: vec![resolved.clone(), settled.clone()],
        requests: HashMap::from([(1, resolved.clone())]),
        calls: vec![vec![requested_log(&resolved, INPUT)], vec![requested_log(&settled, INPUT)]],
        receipts: vec![],
        failing_sends: 0,
        stale_sends: 0,
        http_allowlists: HashMap::new(),
    })
    .await;
    let dir = tempfile::tempdir()?;
    let report = NearWorker::new(config(&node, dir.path()), runtime(), backends())?.poll_once().await?;
    assert_eq!(report.skipped, vec![2]);
    assert!(report.resolved.is_empty());
    assert!(node.sent_txs().is_empty());
    assert_eq!(node.calls_of("tx"), 0, "nothing was run");
    Ok(())
}

#[tokio::test]
async fn request_without_an_event_is_resolved_as_a_failure_naming_the_gap() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let request = pending_request(5, &format!("{server}/echo.wasm"), &sha256_hex(&wasm));
    let node = Node::start(Contract {
        pending: vec![request.clone()],
        requests: HashMap::from([(5, request.clone())]),
        calls: vec![],
        receipts: vec![],
        failing_sends: 0,
        stale_sends: 0,
        http_allowlists: HashMap::new(),
    })
    .await;
    let dir = tempfile::tempdir()?;
    let report = NearWorker::new(config(&node, dir.path()), runtime(), backends())?.poll_once().await?;
    assert_eq!(report.resolved, vec![5]);
    let call = resolve_call(&node.sent_txs()[0]);
    assert_eq!(call["response"]["success"], false);
    let error = call["response"]["error"].as_str().unwrap();
    assert!(error.contains("no execution_requested event for request 5"), "{error}");
    Ok(())
}

#[tokio::test]
async fn request_from_another_contract_is_read_through_its_receipt() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let mut request = pending_request(3, &format!("{server}/echo.wasm"), &sha256_hex(&wasm));
    request["sender_id"] = json!("caller-contract.testnet");
    let node = Node::start(Contract {
        pending: vec![request.clone()],
        requests: HashMap::from([(3, request.clone())]),
        calls: vec![],
        receipts: vec![vec![requested_log(&request, "from a contract")]],
        failing_sends: 0,
        stale_sends: 0,
        http_allowlists: HashMap::new(),
    })
    .await;
    let dir = tempfile::tempdir()?;
    let report = NearWorker::new(config(&node, dir.path()), runtime(), backends())?.poll_once().await?;
    assert_eq!(report.resolved, vec![3]);
    let call = resolve_call(&node.sent_txs()[0]);
    assert_eq!(call["request_id"], 3);
    assert_eq!(call["response"]["output"], json!({"type": "Text", "value": "from a contract"}));
    Ok(())
}

#[tokio::test]
async fn two_pending_requests_are_both_resolved_through_the_worker_loop() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let url = format!("{server}/echo.wasm");
    let first = pending_request(1, &url, &sha256_hex(&wasm));
    let second = pending_request(2, &url, &sha256_hex(&wasm));
    let node = Node::start(Contract {
        pending: vec![first.clone(), second.clone()],
        requests: HashMap::from([(1, first.clone()), (2, second.clone())]),
        calls: vec![vec![requested_log(&first, "first input")], vec![requested_log(&second, "second input")]],
        receipts: vec![],
        failing_sends: 0,
        stale_sends: 0,
        http_allowlists: HashMap::new(),
    })
    .await;
    let dir = tempfile::tempdir()?;
    let mut config = config(&node, dir.path());
    config.concurrency = 2;
    let mut worker = NearWorker::new(config, runtime(), backends())?;

    let mut report = worker.poll_once().await?;
    report.resolved.sort();
    assert_eq!(report.resolved, vec![1, 2], "{report:?}");
    assert!(report.deferred.is_empty() && report.failed.is_empty(), "{report:?}");
    let outputs: HashMap<u64, Value> = node
        .sent_txs()
        .iter()
        .map(|tx| {
            let call = resolve_call(tx);
            (call["request_id"].as_u64().unwrap(), call["response"]["output"].clone())
        })
        .collect();
    assert_eq!(outputs.len(), 2, "one resolution each");
    assert_eq!(outputs[&1], json!({"type": "Text", "value": "first input"}));
    assert_eq!(outputs[&2], json!({"type": "Text", "value": "second input"}));
    assert_eq!(node.calls_of("chunk"), 1, "one event search found both requests");
    let cursor = Cursor::load(&dir.path().join("cursor.json"))?;
    assert_eq!(cursor.done, [1, 2].into());
    assert!(cursor.resolving.is_empty());
    assert_eq!(worker.cursor(), cursor);
    Ok(())
}

#[tokio::test]
async fn the_source_leases_a_request_as_a_job_and_loses_it_once_settled_elsewhere() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let node = echo_request_node(&format!("{server}/echo.wasm"), &sha256_hex(&wasm)).await;
    let dir = tempfile::tempdir()?;
    let source = NearSource::new(config(&node, dir.path()))?;
    source.poll_once().await?;

    let job = source.lease(std::time::Duration::ZERO).await?.expect("the pending request is leased");
    assert_eq!(job.call_id, "0");
    assert_eq!(job.input, INPUT);
    assert_eq!(job.wasm_sha256, sha256_hex(&wasm));
    assert_eq!(job.max_output_bytes, 32 * 1024, "the contract's output limit");
    assert_eq!(job.limits.max_instructions, 1_000_000_000);
    assert_eq!(job.grants, vec![Capability::Payment], "payment is always granted");
    assert_eq!(job.context.kind, ExecutionKind::Near);
    assert_eq!(job.context.block_height, Some(final_height()));
    assert_eq!(job.context.near.contract_id.as_deref(), Some(CONTRACT));
    assert_eq!(source.wasm(&job).await?, wasm);
    assert!(source.lease(std::time::Duration::ZERO).await?.is_none(), "a leased request is not leased twice");

    let beat = source.heartbeat(std::slice::from_ref(&job.lease_id)).await?;
    assert_eq!((beat.extended, beat.lost), (vec![job.lease_id.clone()], vec![]));
    // Another worker resolved it meanwhile.
    node.contract.lock().unwrap().requests.clear();
    let beat = source.heartbeat(std::slice::from_ref(&job.lease_id)).await?;
    assert_eq!((beat.extended, beat.lost), (vec![], vec![job.lease_id.clone()]));
    assert_eq!(source.report().skipped, vec![0]);
    assert!(source.cursor().done.contains(&0));
    tokio::time::timeout(std::time::Duration::from_secs(1), source.idle()).await?;
    assert!(node.sent_txs().is_empty(), "nothing resolved by this worker");
    Ok(())
}

/// `request` as a request of the project `project_id` (the contract resolves the project to its
/// active version's URL and sha256).
fn of_project(mut request: Value, project_id: &str) -> Value {
    request["source"]["project_id"] = json!(project_id);
    request["source"]["project_owner"] = json!(project_id.split_once('/').unwrap().0);
    request
}

#[tokio::test]
async fn a_project_request_gets_http_to_the_hosts_of_the_project_allowlist() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let url = format!("{server}/echo.wasm");
    let sha = sha256_hex(&wasm);
    let first = of_project(pending_request(1, &url, &sha), "dev.testnet/app");
    let second = of_project(pending_request(2, &url, &sha), "dev.testnet/app");
    let closed = of_project(pending_request(3, &url, &sha), "dev.testnet/closed");
    let plain = pending_request(4, &url, &sha);
    let all = [first, second, closed, plain];
    // The contract checks entries only roughly: a port out of range gets through and is
    // skipped by the worker.
    let stored = vec!["api.example.com".to_owned(), "x.org:99999".into(), "*.example.org:8443".into()];
    let node = Node::start(Contract {
        pending: all.to_vec(),
        requests: all.iter().map(|r| (r["request_id"].as_u64().unwrap(), r.clone())).collect(),
        calls: all.iter().map(|r| vec![requested_log(r, INPUT)]).collect(),
        receipts: vec![],
        failing_sends: 0,
        stale_sends: 0,
        http_allowlists: HashMap::from([("dev.testnet/app".to_owned(), stored)]),
    })
    .await;
    let dir = tempfile::tempdir()?;
    let source = NearSource::new(config(&node, dir.path()))?;
    source.poll_once().await?;

    let mut jobs = HashMap::new();
    while let Some(job) = source.lease(std::time::Duration::ZERO).await? {
        jobs.insert(job.call_id.clone(), job);
    }
    assert_eq!(jobs.len(), 4, "every request is leased");
    for id in ["1", "2"] {
        let job = &jobs[id];
        assert_eq!(job.grants, vec![Capability::Payment, Capability::Http], "request {id}");
        assert_eq!(job.http_allowlist, vec!["api.example.com".to_owned(), "*.example.org:8443".into()], "request {id}");
        assert_eq!(job.context.project.as_ref().map(|p| p.id.as_str()), Some("dev.testnet/app"));
    }
    for id in ["3", "4"] {
        let job = &jobs[id];
        assert_eq!(job.grants, vec![Capability::Payment], "no allowlist or no project: no http (request {id})");
        assert!(job.http_allowlist.is_empty(), "request {id}");
    }
    let views = node.requests.lock().unwrap().iter().filter(|r| r["params"]["method_name"] == "get_project_http_allowlist").count();
    assert_eq!(views, 2, "one read per project per poll, none for a request without a project");
    Ok(())
}

/// Resolve one request for `wasm` with `input`, changed by `edit`; returns the sent response.
async fn resolve_one(wasm: Vec<u8>, input: &str, edit: impl FnOnce(&mut Value)) -> Result<Value> {
    let server = wasm_server(vec![("guest.wasm", wasm.clone())]).await;
    let mut request = pending_request(0, &format!("{server}/guest.wasm"), &sha256_hex(&wasm));
    edit(&mut request);
    let node = Node::start(Contract {
        pending: vec![request.clone()],
        requests: HashMap::from([(0, request.clone())]),
        calls: vec![vec![requested_log(&request, input)]],
        receipts: vec![],
        failing_sends: 0,
        stale_sends: 0,
        http_allowlists: HashMap::new(),
    })
    .await;
    let dir = tempfile::tempdir()?;
    let report = NearWorker::new(config(&node, dir.path()), runtime(), backends())?.poll_once().await?;
    assert_eq!(report.resolved, vec![0]);
    Ok(resolve_call(&node.sent_txs()[0])["response"].clone())
}

#[tokio::test]
async fn bytes_format_returns_the_output_as_base64() -> Result<()> {
    let response = resolve_one(echo_wasm(), "raw \u{1} bytes", |r| r["response_format"] = json!("Bytes")).await?;
    assert_eq!(response["success"], true);
    assert_eq!(response["output"], json!({"type": "Bytes", "value": BASE64.encode("raw \u{1} bytes")}));
    Ok(())
}

#[tokio::test]
async fn json_format_parses_the_output_and_refuses_what_is_not_json() -> Result<()> {
    // Valid JSON goes as the exact text printed (the receipt's output hash covers those bytes);
    // the contract's callback parses it.
    let ok = resolve_one(echo_wasm(), r#"{"n": [1, 2]}"#, |r| r["response_format"] = json!("Json")).await?;
    assert_eq!(ok["output"], json!({"type": "Text", "value": r#"{"n": [1, 2]}"#}));
    let bad = resolve_one(echo_wasm(), "not json", |r| r["response_format"] = json!("Json")).await?;
    assert_eq!(bad["success"], false);
    assert_eq!(bad["output"], Value::Null);
    assert!(bad["error"].as_str().unwrap().starts_with("output is not valid JSON"), "{bad}");
    Ok(())
}

#[tokio::test]
async fn the_request_limits_are_enforced() -> Result<()> {
    const BUDGET: u64 = 5_000_000;
    let wasm = outlayer_guest_artifacts::read(outlayer_guest_artifacts::LOOP_FOREVER);
    let response = resolve_one(wasm, "", |r| r["limits"]["max_instructions"] = json!(BUDGET)).await?;
    assert_eq!(response["success"], false);
    assert_eq!(response["error"], "out-of-instructions");
    assert_eq!(response["instructions_used"], BUDGET, "the request's budget, all of it");
    Ok(())
}

#[tokio::test]
async fn run_near_worker_resolves_then_stops_on_shutdown() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let mut node = echo_request_node(&format!("{server}/echo.wasm"), &sha256_hex(&wasm)).await;
    let dir = tempfile::tempdir()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(run_near_worker(config(&node, dir.path()), runtime(), backends(), async {
        let _ = stopped.await;
    }));
    let sent = node.sent.recv().await.expect("a resolution is sent");
    assert_eq!(resolve_call(&sent)["response"]["output"]["value"], INPUT);
    stop.send(()).unwrap();
    worker.await??;
    Ok(())
}

#[tokio::test]
async fn the_resolution_and_its_receipt_are_read_back_from_the_transaction() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let node = echo_request_node(&format!("{server}/echo.wasm"), &sha256_hex(&wasm)).await;
    let dir = tempfile::tempdir()?;
    NearWorker::new(config(&node, dir.path()), runtime(), backends())?.poll_once().await?;
    let sent = SignedTransaction::from_base64(&node.sent_txs()[0])?;
    let hash = sent.hash_base58();

    let found = fetch_resolution(&node.url, &hash, CONTRACT).await?;
    let asked = node.requests.lock().unwrap().iter().rev().find(|r| r["method"] == "tx").cloned().unwrap();
    assert_eq!(asked["params"], json!({"tx_hash": hash, "sender_account_id": CONTRACT, "wait_until": "FINAL"}));
    assert_eq!((found.tx_hash.as_str(), found.signer_id.as_str(), found.contract_id.as_str()), (hash.as_str(), CONTRACT, CONTRACT));
    assert_eq!(found.signer_public_key, worker_key().public_key().to_string());
    assert_eq!(found.request_id, 0);
    assert_eq!(serde_json::to_value(&found.response)?, resolve_call(&node.sent_txs()[0])["response"]);
    assert_eq!(found.failure, None);
    let receipt = found.receipt.clone().expect("the resolution carried a receipt");
    receipt.verify()?;
    assert_eq!(receipt.public_key, hex::encode(worker_key().public_key().as_bytes()), "signed by the transaction's key");
    assert_eq!(receipt.receipt.output_sha256, sha256_hex(INPUT.as_bytes()));
    let event = found.event.expect("the contract's execution_resolved event");
    assert_eq!(event.receipt.as_ref(), Some(&receipt));
    assert_eq!((event.request_id, event.success), (0, true));
    assert_eq!(event.worker_public_key, found.signer_public_key);
    Ok(())
}

/// A builder API (`POST /builds`, `GET /builds/{id}`, `GET /builds/{id}/wasm`) that has built
/// `wasm` in `duration_ms`; records the build requests it received.
async fn builder_api(wasm: Vec<u8>, duration_ms: u64, asked: Arc<Mutex<Vec<(String, Value)>>>) -> String {
    let view = json!({"id": "b1", "status": "succeeded", "wasm_sha256": sha256_hex(&wasm), "cache_hit": false, "duration_ms": duration_ms});
    builder_api_answering(view, wasm, asked).await
}

/// The same API whose build `b1` is `view` (what `GET /builds/b1` answers).
async fn builder_api_answering(view: Value, wasm: Vec<u8>, asked: Arc<Mutex<Vec<(String, Value)>>>) -> String {
    let router = Router::new()
        .route(
            "/builds",
            post(move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
                let asked = asked.clone();
                async move {
                    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    asked.lock().unwrap().push((auth, body));
                    (StatusCode::ACCEPTED, axum::Json(json!({"build_id": "b1", "status": "queued", "poll_url": "/builds/b1"})))
                }
            }),
        )
        .route(
            "/builds/b1",
            get(move || {
                let view = view.clone();
                async move { axum::Json(view) }
            }),
        )
        .route("/builds/b1/wasm", get(move || async move { wasm.clone() }));
    serve(router).await
}

#[tokio::test]
async fn a_github_request_is_built_by_the_builder_and_executed() -> Result<()> {
    let wasm = echo_wasm();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let builder = builder_api(wasm.clone(), 4321, asked.clone()).await;
    // As the contract resolves `GitHub {repo, commit, build_target: None}` (contracts/outlayer/src/github.rs).
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let node = echo_request_node(&format!("git+https://github.com/alice/echo@{commit}#wasm32-wasip2"), "").await;
    let dir = tempfile::tempdir()?;
    let mut config = config(&node, dir.path());
    config.builder = Some(outlayer_worker::near::build::BuilderLink { url: builder, token: "owner-token".into() });
    let mut worker = NearWorker::new(config, runtime(), backends())?;

    let report = worker.poll_once().await?;
    assert_eq!(report.resolved, vec![0]);
    let asked = asked.lock().unwrap().clone();
    assert_eq!(
        asked,
        vec![(
            "Bearer owner-token".to_owned(),
            json!({"source": {"git": "https://github.com/alice/echo", "commit": commit, "build_target": "wasm32-wasip2"}})
        )]
    );
    let call = resolve_call(&node.sent_txs()[0]);
    let response = &call["response"];
    assert_eq!(response["success"], true, "{response}");
    assert_eq!(response["output"], json!({"type": "Text", "value": INPUT}));
    assert_eq!(response["compile_time_ms"], 4321, "the compile time is reported for the contract to charge");
    let receipt: SignedReceipt = serde_json::from_value(call["receipt"].clone())?;
    assert_eq!(receipt.receipt.wasm_sha256, sha256_hex(&wasm), "the receipt names the built wasm");
    Ok(())
}

#[tokio::test]
async fn a_github_request_without_a_builder_is_resolved_as_a_failure() -> Result<()> {
    let node = echo_request_node(&format!("git+https://github.com/alice/echo@{}#wasm32-wasip2", "a".repeat(40)), "").await;
    let dir = tempfile::tempdir()?;
    let mut worker = NearWorker::new(config(&node, dir.path()), runtime(), backends())?;
    assert_eq!(worker.poll_once().await?.resolved, vec![0]);
    let call = resolve_call(&node.sent_txs()[0]);
    assert_eq!(call["response"]["success"], false);
    assert_eq!(call["response"]["error"], "this worker has no builder: GitHub sources are not run");
    Ok(())
}

/// A compile-only request as the contract stores and logs it (`params: {compile_only: true,
/// force_rebuild: true}` on `GitHub {repo, commit, build_target: None}`; the fields of
/// contracts/outlayer/src/tests/github.rs): a git source without hash, every limit 0, a JSON
/// answer, `compile_only` and `force_rebuild` in the event.
async fn compile_only_node(commit: &str) -> Node {
    let mut request = pending_request(0, &format!("git+https://github.com/alice/echo@{commit}#wasm32-wasip2"), "");
    request["limits"] = json!({"max_instructions": 0, "max_memory_mb": 0, "max_execution_seconds": 0});
    request["response_format"] = json!("Json");
    request["estimate"] = json!("30000000000000000000000");
    let log = requested_log(&request, "");
    let mut event: Value = serde_json::from_str(log.strip_prefix("EVENT_JSON:").unwrap()).unwrap();
    event["data"]["response_format"] = json!("Json");
    event["data"]["compile_only"] = json!(true);
    event["data"]["force_rebuild"] = json!(true);
    Node::start(Contract {
        pending: vec![request.clone()],
        requests: HashMap::from([(0, request)]),
        calls: vec![vec![format!("EVENT_JSON:{event}")]],
        ..Contract::default()
    })
    .await
}

#[tokio::test]
async fn a_compile_only_request_is_built_and_resolved_with_the_hash_without_running() -> Result<()> {
    // A guest that never ends: had it run (with every limit 0, or any), the request would fail.
    let wasm = outlayer_guest_artifacts::read(outlayer_guest_artifacts::LOOP_FOREVER);
    let asked = Arc::new(Mutex::new(Vec::new()));
    let builder = builder_api(wasm.clone(), 2500, asked.clone()).await;
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let node = compile_only_node(commit).await;
    let dir = tempfile::tempdir()?;
    let mut config = config(&node, dir.path());
    config.builder = Some(outlayer_worker::near::build::BuilderLink { url: builder, token: "owner-token".into() });
    let mut worker = NearWorker::new(config, runtime(), backends())?;

    let report = worker.poll_once().await?;
    assert_eq!(report.resolved, vec![0]);
    let asked = asked.lock().unwrap().clone();
    let source = json!({"git": "https://github.com/alice/echo", "commit": commit, "build_target": "wasm32-wasip2"});
    assert_eq!(
        asked,
        vec![("Bearer owner-token".to_owned(), json!({"source": source, "force_rebuild": true}))],
        "force_rebuild passed through"
    );
    let sent = node.sent_txs();
    assert_eq!(sent.len(), 1);
    let call = resolve_call(&sent[0]);
    let response = &call["response"];
    assert_eq!(response["success"], true, "{response}");
    assert_eq!(response["output"], json!({"type": "Json", "value": {"wasm_sha256": sha256_hex(&wasm), "compile_time_ms": 2500}}));
    assert_eq!(response["compile_time_ms"], 2500, "the compile time is reported for the contract to charge");
    assert_eq!((response["instructions_used"].clone(), response["time_ms"].clone()), (json!(0), json!(0)), "nothing ran");
    assert_eq!(call.get("receipt"), None, "no receipt: nothing ran");
    Ok(())
}

#[tokio::test]
async fn a_compile_only_request_whose_build_fails_is_resolved_as_a_failure_with_the_code() -> Result<()> {
    let view = json!({
        "id": "b1", "status": "failed", "duration_ms": 800,
        "error": {"code": "build_failed", "message": "error[E0425]: cannot find value `x` in this scope"},
    });
    let builder = builder_api_answering(view, Vec::new(), Arc::default()).await;
    let node = compile_only_node(&"b".repeat(40)).await;
    let dir = tempfile::tempdir()?;
    let mut config = config(&node, dir.path());
    config.builder = Some(outlayer_worker::near::build::BuilderLink { url: builder, token: "owner-token".into() });
    let mut worker = NearWorker::new(config, runtime(), backends())?;

    assert_eq!(worker.poll_once().await?.resolved, vec![0]);
    let call = resolve_call(&node.sent_txs()[0]);
    let response = &call["response"];
    assert_eq!(response["success"], false);
    assert_eq!(response["output"], Value::Null);
    assert_eq!(response["error"], "build failed: build_failed: error[E0425]: cannot find value `x` in this scope");
    assert_eq!(response["compile_time_ms"], 800, "the failed build's time is charged too");
    assert_eq!(call.get("receipt"), None);
    Ok(())
}
