//! `ContractReader`: the pending request and the secrets record decoded from the `outlayer`
//! contract's view answers (the contract's own JSON, `tests/data/PROVENANCE.md`), served by a
//! local NEAR RPC stand-in.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use base64::Engine as _;
use outlayer_keystore::chain::{ChainError, ContractReader, OnChainRequest};
use outlayer_near::RpcClient;
use outlayer_protocol::secrets::{AccessCondition, SecretAccessor, SecretsRef};
use serde_json::{Value, json};

const CONTRACT: &str = "outlayer.near";

fn data(name: &str) -> Value {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// The params of a view call of the contract, with the args decoded.
fn view(method: &str, args: Value) -> Value {
    json!({"request_type": "call_function", "finality": "final", "account_id": CONTRACT, "method_name": method, "args": args})
}

#[derive(Clone)]
struct Node {
    routes: Arc<Vec<(Value, Value)>>,
    seen: Arc<Mutex<Vec<Value>>>,
}

async fn answer(State(node): State<Node>, axum::Json(request): axum::Json<Value>) -> axum::Json<Value> {
    let mut params = request["params"].clone();
    if let Some(b64) = params.get("args_base64").and_then(Value::as_str).map(str::to_owned) {
        let args: Value = serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(b64).unwrap()).unwrap();
        params.as_object_mut().unwrap().remove("args_base64");
        params["args"] = args;
    }
    node.seen.lock().unwrap().push(params.clone());
    let found = node.routes.iter().find(|(p, _)| *p == params).map(|(_, r)| r.clone());
    axum::Json(found.unwrap_or_else(|| {
        json!({"jsonrpc": "2.0", "id": request["id"], "error": {"name": "REQUEST_VALIDATION_ERROR",
            "cause": {"name": "UNEXPECTED_REQUEST", "info": {}}, "code": -32602, "message": format!("no answer for {params}")}})
    }))
}

async fn reader(routes: Vec<(Value, Value)>) -> (ContractReader, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = Node { routes: Arc::new(routes), seen: seen.clone() };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, Router::new().route("/", post(answer)).with_state(state)).await.unwrap() });
    (ContractReader::new(RpcClient::new(url), CONTRACT), seen)
}

fn project() -> SecretAccessor {
    SecretAccessor::Project { project_id: "dev.near/app".into() }
}

fn secrets_args(owner: &str, accessor: &SecretAccessor, profile: &str) -> Value {
    json!({"owner": owner, "accessor": accessor, "profile": profile})
}

/// The contract's `get_secrets` answer with its JSON changed by `edit`.
fn edited_secrets(edit: impl FnOnce(&mut Value)) -> Value {
    let mut response = data("get_secrets.response.json");
    let bytes: Vec<u8> = serde_json::from_value(response["result"]["result"].clone()).unwrap();
    let mut record: Value = serde_json::from_slice(&bytes).unwrap();
    edit(&mut record);
    response["result"]["result"] = json!(serde_json::to_vec(&record).unwrap());
    response
}

#[tokio::test]
async fn a_pending_request_is_decoded_from_get_request() {
    let routes = vec![
        (view("get_request", json!({"request_id": 0})), data("get_request.response.json")),
        (view("get_request", json!({"request_id": 9})), data("view_null.response.json")),
    ];
    let (reader, seen) = reader(routes).await;
    let request = reader.pending_request(0).await.unwrap().expect("request 0 is pending");
    assert_eq!(
        request,
        OnChainRequest {
            request_id: 0,
            sender_id: "alice.near".into(),
            project_id: Some("dev.near/app".into()),
            wasm_sha256: "11".repeat(32),
            secrets_ref: Some(SecretsRef { profile: "default".into(), account_id: "alice.near".into() }),
            resolved: false,
        }
    );
    assert_eq!(reader.pending_request(9).await.unwrap(), None);
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_request_without_project_or_secrets_and_with_new_fields_decodes() {
    let mut response = data("get_request.response.json");
    let bytes: Vec<u8> = serde_json::from_value(response["result"]["result"].clone()).unwrap();
    let mut request: Value = serde_json::from_slice(&bytes).unwrap();
    request["source"]["project_id"] = Value::Null;
    request["secrets_ref"] = Value::Null;
    request["resolved"] = json!(true);
    request["a_field_added_later"] = json!({"x": 1});
    request["source"]["github"] = json!("owner/repo");
    response["result"]["result"] = json!(serde_json::to_vec(&request).unwrap());
    let (reader, _) = reader(vec![(view("get_request", json!({"request_id": 0})), response)]).await;
    let request = reader.pending_request(0).await.unwrap().unwrap();
    assert_eq!((request.project_id, request.secrets_ref, request.resolved), (None, None, true));
}

#[tokio::test]
async fn an_answer_for_another_request_is_refused() {
    let (reader, _) = reader(vec![(view("get_request", json!({"request_id": 5})), data("get_request.response.json"))]).await;
    let err = reader.pending_request(5).await.unwrap_err();
    assert!(matches!(&err, ChainError::BadAnswer(m) if m.contains("answered request 0")), "{err:?}");
}

#[tokio::test]
async fn a_secrets_record_is_decoded_from_get_secrets() {
    let wasm = SecretAccessor::Wasm { sha256: "11".repeat(32) };
    let routes = vec![
        (view("get_secrets", secrets_args("alice.near", &project(), "default")), data("get_secrets.response.json")),
        (view("get_secrets", secrets_args("alice.near", &wasm, "default")), data("view_null.response.json")),
    ];
    let (reader, seen) = reader(routes).await;
    let record = reader.secrets("alice.near", &project(), "default").await.unwrap().expect("a record");
    assert_eq!(record.sealed, vec![7; 10]);
    let expected: AccessCondition = serde_json::from_value(json!({"type": "and", "conditions": [
        {"type": "or", "conditions": [{"type": "whitelist", "accounts": ["alice.near"]}, {"type": "account_pattern", "pattern": "*.dao.near"}]},
        {"type": "near_balance", "min": "10"},
        {"type": "ft_balance", "contract": "usdc.near", "min": "5"},
        {"type": "not", "condition": {"type": "nft_owned", "contract": "nft.near", "token_id": null}},
    ]}))
    .unwrap();
    assert_eq!(record.access, expected);
    assert_eq!(reader.secrets("alice.near", &wasm, "default").await.unwrap(), None);
    // The accessor travels in the contract's JSON form.
    assert_eq!(seen.lock().unwrap()[0]["args"]["accessor"], json!({"project": {"project_id": "dev.near/app"}}));
}

#[tokio::test]
async fn a_record_of_another_scope_or_garbled_is_refused() {
    let args = secrets_args("alice.near", &project(), "default");
    let cases: Vec<(Value, &str)> = vec![
        (edited_secrets(|r| r["owner"] = json!("mallory.near")), "answered the record of mallory.near"),
        (edited_secrets(|r| r["profile"] = json!("prod")), "answered the record of alice.near, project:dev.near/app, prod"),
        (edited_secrets(|r| r["accessor"] = json!({"project": {"project_id": "mallory.near/app"}})), "project:mallory.near/app"),
        (edited_secrets(|r| r["encrypted_data"] = json!("not base64!")), "not base64"),
        (edited_secrets(|r| r["access"] = json!({"type": "sudo"})), "unexpected JSON"),
    ];
    for (response, why) in cases {
        let (reader, _) = reader(vec![(view("get_secrets", args.clone()), response)]).await;
        let err = reader.secrets("alice.near", &project(), "default").await.unwrap_err();
        assert!(matches!(&err, ChainError::BadAnswer(m) if m.contains(why)), "{why}: {err:?}");
    }
}

#[tokio::test]
async fn contract_failures_are_typed() {
    let routes = vec![
        (view("get_request", json!({"request_id": 1})), data("contract_execution_error.response.json")),
        (view("get_request", json!({"request_id": 2})), data("internal_error.response.json")),
    ];
    let (reader, _) = reader(routes).await;
    let err = reader.pending_request(1).await.unwrap_err();
    assert!(matches!(&err, ChainError::ViewFailed { contract, method, .. } if contract == CONTRACT && method == "get_request"), "{err:?}");
    assert!(err.to_string().starts_with("view get_request of outlayer.near failed: wasm execution failed"), "{err}");
    let err = reader.pending_request(2).await.unwrap_err();
    assert!(matches!(&err, ChainError::Rpc(_)), "{err:?}");
    // An unanswered method is a node error too, never "no request".
    let err = reader.pending_request(3).await.unwrap_err();
    assert!(matches!(&err, ChainError::Rpc(m) if m.contains("UNEXPECTED_REQUEST")), "{err:?}");
}
