//! A local NEAR node for the on-chain worker's tests (`tests/near.rs`, `tests/near_secrets.rs`):
//! NEAR's recorded RPC answers (`crates/near/tests/data`, `tests/data/PROVENANCE.md`) with the
//! contract's view results placed in the recorded `call_function` envelope, and the
//! `resolve_execution` transactions the worker sends read back.
//!
//! The contract's JSON (pending requests, projects) is the contract's own: see
//! [`contract_request`], which runs `outlayer-contract`'s `request_execution` under near-sdk's
//! mocked blockchain and answers its `get_request` JSON.

#![allow(dead_code)]

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use outlayer_near::tx::{Action, SecretKey, SignedTransaction};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The OutLayer contract's account.
pub const CONTRACT: &str = "outlayer.testnet";
/// The account that calls `request_execution`.
pub const CALLER: &str = "sender.testnet";

/// A file of `crates/near/tests/data` (NEAR's recorded examples) as JSON.
pub fn recorded(path: &str) -> Value {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/near/tests/data").join(path);
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
}

/// The near-api-js test key pair (crates/near/tests/data/PROVENANCE.md) as the worker key.
pub fn worker_key() -> SecretKey {
    recorded("near-api-js-vectors.json")["transfer"]["secret_key"].as_str().unwrap().parse().unwrap()
}

/// The recorded final block.
pub fn final_block() -> Value {
    recorded("rpc/block.response.json")
}

/// Its height.
pub fn final_height() -> u64 {
    final_block()["result"]["header"]["height"].as_u64().unwrap()
}

/// Lowercase hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A `PendingRequest` as the contract's `list_pending_requests` serialises it (the input left
/// out), made in the recorded final block: `outlayer-contract`'s own JSON for a `WasmUrl` request
/// ([`contract_request`]) with `url` and `sha256` put in its resolved source.
pub fn pending_request(id: u64, url: &str, sha256: &str) -> Value {
    let mut request = contract_request(json!({"WasmUrl": {"url": "https://example.com/app.wasm", "hash": "ab".repeat(32)}}), "");
    request["request_id"] = json!(id);
    request["source"]["wasm_url"] = json!(url);
    request["source"]["wasm_sha256"] = json!(sha256);
    request["sender_id"] = json!(CALLER);
    request["signer_id"] = json!(CALLER);
    request["payer_id"] = json!(CALLER);
    request["block_height"] = json!(final_height());
    request["input_data"] = Value::Null;
    request
}

/// The `get_request` JSON of `outlayer-contract` for a request made by [`CALLER`] with the
/// OutLayer v0.1 `source` JSON and `input`: the contract's `request_execution` run under
/// near-sdk's mocked blockchain (1 NEAR attached), its view serialised.
pub fn contract_request(source: Value, input: &str) -> Value {
    use near_sdk::test_utils::VMContextBuilder;
    use near_sdk::{Gas, NearToken, testing_env};
    let mut context = VMContextBuilder::new();
    context
        .current_account_id(CONTRACT.parse().unwrap())
        .predecessor_account_id(CALLER.parse().unwrap())
        .signer_account_id(CALLER.parse().unwrap())
        .attached_deposit(NearToken::from_near(1))
        .prepaid_gas(Gas::from_tgas(300))
        .block_height(final_height())
        .block_timestamp(1_601_280_114_229_875_635);
    testing_env!(context.build());
    let mut contract = outlayer_contract::Contract::new("owner.testnet".parse().unwrap());
    let source: outlayer_contract::ExecutionSource = serde_json::from_value(source).unwrap();
    contract.request_execution(source, None, Some(input.to_owned()), None, None, None, None);
    serde_json::to_value(contract.get_request(0).unwrap()).unwrap()
}

/// `request` (a listed request) as `get_request` answers it: with its input.
pub fn with_input(request: &Value, input: &str) -> Value {
    let mut request = request.clone();
    request["input_data"] = json!(input);
    request
}

/// What the local node knows about the contract.
#[derive(Default)]
pub struct Contract {
    /// `list_pending_requests` answer.
    pub pending: Vec<Value>,
    /// `get_request` answers; a missing id answers `null`.
    pub requests: HashMap<u64, Value>,
    /// How many `send_tx` calls still fail (HTTP 502).
    pub failing_sends: usize,
    /// How many `send_tx` calls still answer `InvalidNonce` (after the failing ones).
    pub stale_sends: usize,
    /// `get_project` answers by project id; a missing project answers `null`.
    pub projects: HashMap<String, Value>,
    /// `get_secrets` answers by `owner|accessor JSON|profile`; a missing one answers `null`.
    pub secrets: HashMap<String, Value>,
}

impl Contract {
    /// A contract listing `requests` (as listed) whose `get_request` answers them with `input`.
    pub fn with_requests(requests: &[Value], input: &str) -> Self {
        Self {
            pending: requests.to_vec(),
            requests: requests.iter().map(|r| (r["request_id"].as_u64().unwrap(), with_input(r, input))).collect(),
            ..Self::default()
        }
    }
}

/// The key [`Contract::secrets`] is looked up by.
pub fn secrets_key(owner: &str, accessor: &Value, profile: &str) -> String {
    format!("{owner}|{accessor}|{profile}")
}

/// A `get_project` answer: `outlayer-contract`'s `Project` JSON with `hosts` and `grants`.
pub fn project(project_id: &str, hosts: &[&str], grants: Value) -> Value {
    let (owner, name) = project_id.split_once('/').unwrap();
    json!({"project_id": project_id, "owner": owner, "name": name, "active_version": null, "versions": [],
           "http_allowlist": hosts, "grants": grants})
}

#[derive(Clone)]
struct NodeState {
    contract: Arc<Mutex<Contract>>,
    requests: Arc<Mutex<Vec<Value>>>,
}

/// A local NEAR node.
pub struct Node {
    /// Its URL.
    pub url: String,
    /// What it knows about the contract (tests may change it between polls).
    pub contract: Arc<Mutex<Contract>>,
    /// Every JSON-RPC request it received.
    pub requests: Arc<Mutex<Vec<Value>>>,
}

impl Node {
    /// Serves `contract`.
    pub async fn start(contract: Contract) -> Self {
        let state = NodeState { contract: Arc::new(Mutex::new(contract)), requests: Arc::default() };
        let node = Node { url: String::new(), contract: state.contract.clone(), requests: state.requests.clone() };
        let url = serve(Router::new().route("/", post(answer)).with_state(state)).await;
        Node { url, ..node }
    }

    /// Every `signed_tx_base64` sent so far.
    pub fn sent_txs(&self) -> Vec<String> {
        let requests = self.requests.lock().unwrap();
        requests.iter().filter(|r| r["method"] == "send_tx").map(|r| r["params"]["signed_tx_base64"].as_str().unwrap().to_owned()).collect()
    }

    /// How many calls of the JSON-RPC `method` it received.
    pub fn calls_of(&self, method: &str) -> usize {
        self.requests.lock().unwrap().iter().filter(|r| r["method"] == method).count()
    }

    /// How many calls of the view `method` it received.
    pub fn views_of(&self, method: &str) -> usize {
        self.requests.lock().unwrap().iter().filter(|r| r["params"]["method_name"] == method).count()
    }

    /// The `resolve_execution` arguments of every transaction sent, by request id (each checked
    /// to verify and to hold one `resolve_execution` call).
    pub fn resolutions(&self) -> HashMap<u64, Value> {
        self.sent_txs()
            .iter()
            .map(|b64| {
                let signed = SignedTransaction::from_base64(b64).unwrap();
                assert!(signed.verify());
                let [Action::FunctionCall { method_name, args, .. }] = signed.transaction.actions.as_slice() else { panic!("one call") };
                assert_eq!(method_name, "resolve_execution");
                let args: Value = serde_json::from_slice(args).unwrap();
                (args["request_id"].as_u64().unwrap(), args)
            })
            .collect()
    }
}

/// Serves `router` on a free local port; its URL.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// A wasm server: `/<name>` answers the bytes registered under that name.
pub async fn wasm_server(files: Vec<(&'static str, Vec<u8>)>) -> String {
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

/// The recorded `call_function` envelope holding `value` as the function's JSON result.
pub fn view_result(value: &Value) -> Value {
    let mut answer = recorded("rpc/call_function.response.json");
    answer["result"]["result"] = json!(serde_json::to_vec(value).unwrap());
    answer
}

/// A node error answer with `cause`.
pub fn node_error(cause: &str, info: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": "dontcare", "error": {"name": "HANDLER_ERROR", "cause": {"name": cause, "info": info}, "code": -32000, "message": "Server error", "data": cause}})
}

async fn answer(State(state): State<NodeState>, body: String) -> Response {
    let request: Value = serde_json::from_str(&body).unwrap();
    state.requests.lock().unwrap().push(request.clone());
    let params = &request["params"];
    let mut contract = state.contract.lock().unwrap();
    let answer = match request["method"].as_str().unwrap() {
        "block" if params["finality"] == "final" => final_block(),
        "tx" => {
            let tx_hash = params["tx_hash"].as_str().unwrap();
            let signed = sent_resolution(&state.requests.lock().unwrap(), tx_hash).expect("tx of a sent resolution");
            assert_eq!(params["sender_account_id"], CONTRACT, "asked with the account that signed the resolution");
            resolution_status(&signed)
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
                "get_project" => {
                    assert_eq!(params["finality"], "final", "projects are read at the final block");
                    view_result(contract.projects.get(args["project_id"].as_str().unwrap()).unwrap_or(&Value::Null))
                }
                "get_secrets" => {
                    assert_eq!(params["finality"], "final", "the keystore reads secrets at the final block");
                    let key = secrets_key(args["owner"].as_str().unwrap(), &args["accessor"], args["profile"].as_str().unwrap());
                    view_result(contract.secrets.get(&key).unwrap_or(&Value::Null))
                }
                other => panic!("unexpected view {other}"),
            }
        }
        "send_tx" => {
            if contract.failing_sends > 0 {
                contract.failing_sends -= 1;
                return (StatusCode::BAD_GATEWAY, "<html>502 Bad Gateway</html>").into_response();
            }
            if contract.stale_sends > 0 {
                contract.stale_sends -= 1;
                let nonce = recorded("rpc/view_access_key.response.json")["result"]["nonce"].as_u64().unwrap();
                let info =
                    json!({"TxExecutionError": {"InvalidTxError": {"InvalidNonce": {"tx_nonce": nonce + 1, "ak_nonce": nonce + 1}}}});
                return axum::Json(node_error("INVALID_TRANSACTION", info)).into_response();
            }
            recorded("rpc/send_tx.response.json")
        }
        other => panic!("unexpected RPC {other} {params}"),
    };
    axum::Json(answer).into_response()
}

/// The resolution the worker sent with hash `tx_hash`, if any.
fn sent_resolution(requests: &[Value], tx_hash: &str) -> Option<SignedTransaction> {
    requests
        .iter()
        .filter(|r| r["method"] == "send_tx")
        .filter_map(|r| SignedTransaction::from_base64(r["params"]["signed_tx_base64"].as_str()?).ok())
        .find(|signed| signed.hash_base58() == tx_hash)
}

/// The `tx` answer for a resolution the worker sent: the recorded `tx` answer with
/// `transaction` = the JSON view of the signed transaction (NEAR's `SignedTransactionView`:
/// `FunctionCall` args in base64) and the contract's receipt outcome logging the
/// `execution_resolved` event the contract writes for those arguments: `outlayer-contract`'s
/// own `Event::to_log`.
pub fn resolution_status(signed: &SignedTransaction) -> Value {
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
    let response: outlayer_contract::ExecutionResponse = serde_json::from_value(args["response"].clone()).unwrap();
    let event = outlayer_contract::Event::ExecutionResolved {
        request_id: args["request_id"].as_u64().unwrap(),
        success: response.success,
        error_message: response.error,
        resources_used: response.resources_used,
        worker_public_key: tx.public_key.to_string().parse().unwrap(),
        receipt: args.get("receipt").filter(|r| !r.is_null()).map(|r| serde_json::from_value(r.clone()).unwrap()),
    };
    result["receipts_outcome"][0]["outcome"]["executor_id"] = json!(CONTRACT);
    result["receipts_outcome"][0]["outcome"]["logs"] = json!([event.to_log()]);
    result["receipts_outcome"][1]["outcome"]["executor_id"] = json!(tx.signer_id);
    status
}
