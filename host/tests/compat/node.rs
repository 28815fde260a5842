//! A local "NEAR node" for the v0.1 rpc tests: it records every JSON-RPC request it receives and
//! answers with the real responses recorded from NEAR's documentation
//! (`crates/near/tests/data/rpc`, see its PROVENANCE.md).
//!
//! Routing is by method (and `request_type` for `query`), not by exact params, so that
//! transactions built by the host (`view_access_key` for the guest's own key, `block` at
//! `final`) get an answer too; the tests compare the recorded *requests* separately.
//! `view_account` of any account but `account.rpc-examples.testnet` gets the recorded
//! `UNKNOWN_ACCOUNT` error. Methods without a recorded answer (`view_code`, `network_info`,
//! `validators`, anything else) get `{"echo": {"method": .., "params": ..}}` as their result, so a
//! test still sees that the request reached the node in NEAR's shape and that the node's answer
//! came back to the guest verbatim.

use axum::{Json, Router, extract::State, routing::post};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The account `view_account` knows (the one of the recorded answer).
pub const KNOWN_ACCOUNT: &str = "account.rpc-examples.testnet";

/// A recorded file of `crates/near/tests/data/rpc` (`name` without `.json`).
pub fn recorded(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/near/tests/data/rpc").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A running node.
pub struct Node {
    pub url: String,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl Node {
    /// Start on a free loopback port.
    pub async fn start() -> Node {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new().route("/", post(handle)).with_state(requests.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Node { url, requests }
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }
}

async fn handle(State(requests): State<Arc<Mutex<Vec<Value>>>>, Json(request): Json<Value>) -> Json<Value> {
    requests.lock().unwrap().push(request.clone());
    let mut answer = answer(&request);
    answer["id"] = request["id"].clone();
    Json(answer)
}

/// The recorded response for `request`, or an echo of it.
fn answer(request: &Value) -> Value {
    let params = &request["params"];
    let name = match (request["method"].as_str().unwrap_or_default(), params["request_type"].as_str()) {
        ("query", Some("view_account")) if params["account_id"] == KNOWN_ACCOUNT => "view_account",
        ("query", Some("view_account")) => "view_account_unknown",
        ("query", Some("call_function")) => "call_function",
        ("query", Some("view_access_key")) => "view_access_key",
        ("query", Some("view_access_key_list")) => "view_access_key_list",
        ("query", Some("view_state")) => "view_state",
        ("block", _) => "block",
        ("chunk", _) => "chunk",
        ("EXPERIMENTAL_changes_in_block", _) => "changes_in_block",
        ("gas_price", _) => "gas_price",
        ("status", _) => "status",
        ("EXPERIMENTAL_receipt", _) => "receipt",
        ("tx", _) => "tx_status",
        ("send_tx", _) => "send_tx",
        _ => return json!({"jsonrpc": "2.0", "result": {"echo": {"method": request["method"], "params": params}}}),
    };
    recorded(&format!("{name}.response"))
}

/// The echo answer the node gives to a method it has no recording for.
pub fn echo(method: &str, params: Value) -> Value {
    json!({"echo": {"method": method, "params": params}})
}

/// `method` and `params` of a request (what a recorded request and a received one must share).
pub fn call_of(request: &Value) -> Value {
    json!({"method": request["method"], "params": request["params"]})
}
