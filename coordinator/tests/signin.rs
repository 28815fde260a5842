//! Sign-in with a NEAR account (NEP-413): `POST /auth/challenge`, `POST /auth/signin`, and
//! `POST /owners` only with dev owners. The NEAR RPC is a local JSON-RPC server on 127.0.0.1
//! answering `view_access_key` with recorded answers (crates/near/tests/data/rpc, see
//! PROVENANCE.md there):
//!
//! - function-call key: `view_access_key.response.json` verbatim;
//! - full-access key: the same answer with `permission` = `"FullAccess"`, the form
//!   `view_access_key_list.response.json` shows for full-access keys (assembled);
//! - unknown account: `view_account_unknown.response.json` (the `UNKNOWN_ACCOUNT` error a
//!   `query` answers for a missing account);
//! - unknown key: the `UNKNOWN_ACCESS_KEY` error of NEAR's documented error schema (assembled).
//!
//! The keys are generated here (nobody has the private keys of the recorded accounts), so the
//! fake node answers about the test's public keys.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use common::Server;
use outlayer_coordinator::signin::{RpcAccessKeys, SigninConfig};
use outlayer_near::nep413::{self, Nep413Payload};
use outlayer_near::tx::SecretKey;
use reqwest::StatusCode;
use serde_json::{Value, json};

const RPC_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../crates/near/tests/data/rpc/");

fn recorded(name: &str) -> Value {
    let path = format!("{RPC_DATA}{name}");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

const FULL: &str = "full.testnet";
const FUNCTION_CALL: &str = "client.chainlink.testnet";
const NO_KEY: &str = "nokey.testnet";
const MISSING: &str = "nosuchaccount.testnet";

/// The keys of this test: (account, its secret key).
fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed(&[seed; 32])
}

#[derive(Clone)]
struct Node {
    /// (account_id, public_key) → JSON-RPC answer.
    answers: Arc<Vec<((String, String), Value)>>,
    seen: Arc<Mutex<Vec<Value>>>,
}

async fn answer(State(node): State<Node>, axum::Json(request): axum::Json<Value>) -> axum::Json<Value> {
    node.seen.lock().unwrap().push(request.clone());
    let p = &request["params"];
    if request["method"] != "query" || p["request_type"] != "view_access_key" || p["finality"] != "final" {
        return axum::Json(json!({"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32601, "message": "unexpected request"}}));
    }
    let asked = (p["account_id"].as_str().unwrap_or_default().to_owned(), p["public_key"].as_str().unwrap_or_default().to_owned());
    let found = node.answers.iter().find(|(k, _)| *k == asked).map(|(_, v)| v.clone());
    axum::Json(found.unwrap_or_else(|| recorded("view_account_unknown.response.json")))
}

/// A fake NEAR node with the recorded answers for the test's keys; returns its URL and the
/// requests it saw.
async fn node() -> (String, Arc<Mutex<Vec<Value>>>) {
    let function_call = recorded("view_access_key.response.json");
    assert!(function_call["result"]["permission"]["FunctionCall"].is_object(), "the recording is a function-call key");
    let mut full_access = function_call.clone();
    full_access["result"]["permission"] = json!("FullAccess");
    let mut unknown_key = recorded("view_account_unknown.response.json");
    unknown_key["error"]["cause"] = json!({
        "name": "UNKNOWN_ACCESS_KEY",
        "info": {"public_key": key(3).public_key().to_string(), "block_height": 187440904, "block_hash": "56xEo2LorUFVNbkFhCncFSWNiobdp1kzm14nZ47b5JVW"}
    });
    unknown_key["error"]["data"] = json!(format!("access key {} does not exist while viewing", key(3).public_key()));
    let answers = vec![
        ((FULL.to_owned(), key(1).public_key().to_string()), full_access),
        ((FUNCTION_CALL.to_owned(), key(2).public_key().to_string()), function_call),
        ((NO_KEY.to_owned(), key(3).public_key().to_string()), unknown_key),
    ];
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = Node { answers: Arc::new(answers), seen: seen.clone() };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, Router::new().route("/", post(answer)).with_state(state)).await.unwrap() });
    (url, seen)
}

async fn start(dir: &tempfile::TempDir, rpc: Option<&str>, dev_owners: bool, ttl: Duration) -> Result<Server> {
    let mut config = common::sqlite_config(dir);
    config.signin = SigninConfig {
        dev_owners,
        recipient: "outlayer.test".into(),
        challenge_ttl: ttl,
        access_keys: rpc.map(|url| Arc::new(RpcAccessKeys::new(url)) as _),
    };
    Server::start(config).await
}

fn code(b: &Value) -> &str {
    b["error"]["code"].as_str().unwrap_or("<none>")
}

/// Gets a challenge and signs it as `account` with `key`, as a wallet would.
async fn signed(server: &Server, account: &str, key: &SecretKey) -> Result<Value> {
    let (s, c) = server.post("/auth/challenge", None, &json!({})).await?;
    assert_eq!(s, StatusCode::OK, "{c}");
    Ok(sign(&c, account, key))
}

fn sign(c: &Value, account: &str, key: &SecretKey) -> Value {
    let payload = Nep413Payload {
        message: c["message"].as_str().unwrap().to_owned(),
        nonce: nep413::parse_nonce(c["nonce"].as_str().unwrap()).unwrap(),
        recipient: c["recipient"].as_str().unwrap().to_owned(),
        callback_url: None,
    };
    json!({
        "account_id": account,
        "public_key": key.public_key().to_string(),
        "signature": nep413::encode_signature(&payload.sign(key)),
        "nonce": c["nonce"],
        "message": c["message"],
        "recipient": c["recipient"],
    })
}

#[tokio::test]
async fn full_access_key_signs_in_and_the_token_works() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (rpc, seen) = node().await;
    let server = start(&dir, Some(&rpc), false, Duration::from_secs(300)).await?;

    let (s, c) = server.post("/auth/challenge", None, &json!({})).await?;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(c["recipient"], "outlayer.test");
    assert_eq!(nep413::parse_nonce(c["nonce"].as_str().unwrap())?.len(), 32);
    assert!(c["message"].as_str().unwrap().contains("outlayer.test"), "{c}");
    assert!(c["expires_at_ms"].as_i64().unwrap() > 0);

    let (s, b) = server.post("/auth/signin", None, &sign(&c, FULL, &key(1))).await?;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["owner"], FULL);
    assert_eq!(b["created"], true);
    let token = b["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("olo_"));
    // The node was asked about exactly this key of this account, at final finality.
    let asked = seen.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0]["params"]["account_id"], FULL);
    assert_eq!(asked[0]["params"]["public_key"], key(1).public_key().to_string());
    assert_eq!(asked[0]["params"]["finality"], "final");

    // The token is an owner token: it creates a project under the account's name.
    let (s, b) = server.post("/projects", Some(&token), &json!({ "name": "app" })).await?;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = server.get(&format!("/projects/{FULL}/app"), &[]).await?;
    assert_eq!(s, StatusCode::OK, "{b}");

    // Signing in again: the same owner, a new token; the old one stops working.
    let (s, b) = server.post("/auth/signin", None, &signed(&server, FULL, &key(1)).await?).await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["created"], false);
    let again = b["token"].as_str().unwrap().to_owned();
    assert_ne!(again, token);
    let (s, _) = server.get("/earnings", &[("authorization", &format!("Bearer {again}"))]).await?;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = server.get("/earnings", &[("authorization", &format!("Bearer {token}"))]).await?;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "invalid_token"));
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn sign_in_refusals() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (rpc, _) = node().await;
    let server = start(&dir, Some(&rpc), false, Duration::from_secs(300)).await?;

    // A function-call key of the account (the recorded answer) proves nothing.
    let (s, b) = server.post("/auth/signin", None, &signed(&server, FUNCTION_CALL, &key(2)).await?).await?;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "not_full_access"), "{b}");
    // Nor does a key that is not a key of the account at all.
    let (s, b) = server.post("/auth/signin", None, &signed(&server, NO_KEY, &key(3)).await?).await?;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "not_full_access"), "{b}");
    // An account that does not exist.
    let (s, b) = server.post("/auth/signin", None, &signed(&server, MISSING, &key(1)).await?).await?;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "account_unknown"), "{b}");

    // Signed for another recipient (another site's challenge), with a valid signature.
    let (_, c) = server.post("/auth/challenge", None, &json!({})).await?;
    let mut other = c.clone();
    other["recipient"] = json!("evil.example");
    let (s, b) = server.post("/auth/signin", None, &sign(&other, FULL, &key(1))).await?;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, "wrong_recipient"), "{b}");

    // A bad signature: signed by another key, or over another message.
    let mut body = sign(&c, FULL, &key(1));
    body["signature"] = sign(&c, FULL, &key(9))["signature"].clone();
    let (s, b) = server.post("/auth/signin", None, &body).await?;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "invalid_signature"), "{b}");
    let mut tampered = c.clone();
    tampered["nonce"] = json!(nep413::encode_nonce(&[0; 32]));
    let mut body = sign(&c, FULL, &key(1));
    body["signature"] = sign(&tampered, FULL, &key(1))["signature"].clone();
    let (s, b) = server.post("/auth/signin", None, &body).await?;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "invalid_signature"), "{b}");
    // None of those used the challenge up: it still signs in once...
    let good = sign(&c, FULL, &key(1));
    let (s, b) = server.post("/auth/signin", None, &good).await?;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // ...and only once.
    let (s, b) = server.post("/auth/signin", None, &good).await?;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "nonce_unknown"), "{b}");

    // A nonce the coordinator never issued, correctly signed.
    let forged = json!({ "nonce": nep413::encode_nonce(&[7; 32]), "message": c["message"], "recipient": c["recipient"] });
    let (s, b) = server.post("/auth/signin", None, &sign(&forged, FULL, &key(1))).await?;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "nonce_unknown"), "{b}");
    // A message other than the issued one.
    let mut reworded = c.clone();
    reworded["message"] = json!("transfer everything");
    let (s, b) = server.post("/auth/signin", None, &sign(&reworded, FULL, &key(1))).await?;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, "wrong_message"), "{b}");
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn an_expired_challenge_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (rpc, seen) = node().await;
    let server = start(&dir, Some(&rpc), false, Duration::from_millis(300)).await?;
    let body = signed(&server, FULL, &key(1)).await?;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (s, b) = server.post("/auth/signin", None, &body).await?;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "nonce_unknown"), "{b}");
    assert!(seen.lock().unwrap().is_empty(), "an expired challenge never reaches the chain");
    // A fresh one, used at once, works.
    let (s, b) = server.post("/auth/signin", None, &signed(&server, FULL, &key(1)).await?).await?;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn an_unreachable_chain_is_chain_unavailable() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // A port nothing listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", closed.local_addr()?);
    drop(closed);
    let server = start(&dir, Some(&url), false, Duration::from_secs(300)).await?;
    let (s, b) = server.post("/auth/signin", None, &signed(&server, FULL, &key(1)).await?).await?;
    assert_eq!((s, code(&b)), (StatusCode::SERVICE_UNAVAILABLE, "chain_unavailable"), "{b}");
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn post_owners_needs_dev_owners() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = start(&dir, None, false, Duration::from_secs(300)).await?;
    let (s, b) = server.post("/owners", None, &json!({ "owner": "alice.near" })).await?;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "dev_owners_disabled"), "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("/auth/challenge"), "{b}");
    server.stop().await;

    let dir = tempfile::tempdir()?;
    let server = start(&dir, None, true, Duration::from_secs(300)).await?;
    let (s, b) = server.post("/owners", None, &json!({ "owner": "alice.near" })).await?;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert!(b["token"].as_str().unwrap().starts_with("olo_"));
    // Without an RPC, sign-in cannot check keys (and says so).
    let (s, b) = server.post("/auth/signin", None, &signed(&server, FULL, &key(1)).await?).await?;
    assert_eq!((s, code(&b)), (StatusCode::SERVICE_UNAVAILABLE, "chain_unavailable"), "{b}");
    server.stop().await;
    Ok(())
}
