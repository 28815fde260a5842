//! `sign_and_send` / `build_signed` against a local node that serves the recorded access key and
//! block and captures the transaction sent.

mod common;

use common::{Route, data, serve};
use outlayer_near::tx::{Action, SecretKey, SignedTransaction};
use outlayer_near::{RpcClient, RpcError, TxWait, build_signed, send_signed, sign_and_send};
use serde_json::json;

/// The near-api-js test key pair (tests/data/PROVENANCE.md).
fn key() -> SecretKey {
    data("near-api-js-vectors.json")["transfer"]["secret_key"].as_str().unwrap().parse().unwrap()
}

fn key_and_block_routes(key: &SecretKey) -> Vec<Route> {
    vec![
        Route::expect(
            "query",
            json!({
                "request_type": "view_access_key",
                "finality": "final",
                "account_id": "worker.testnet",
                "public_key": key.public_key().to_string(),
            }),
            "view_access_key",
        ),
        Route::expect("block", json!({"finality": "final"}), "block"),
    ]
}

#[tokio::test]
async fn sign_and_send_builds_signs_and_broadcasts() {
    let key = key();
    let mut routes = key_and_block_routes(&key);
    routes.push(Route { params: None, ..Route::recorded("send_tx", "send_tx") });
    let node = serve(routes).await;
    let client = RpcClient::new(node.url.clone());

    let action = Action::function_call_json("resolve_execution", &json!({"request_id": 7, "output": "ok"}), 100_000_000_000_000, 1);
    let outcome =
        sign_and_send(&client, "worker.testnet", &key, "outlayer.testnet", vec![action.clone()], TxWait::IncludedFinal).await.unwrap();
    assert_eq!(outcome.result, data("rpc/send_tx.response.json")["result"]);

    let requests = node.requests.lock().unwrap().clone();
    let sent = requests.iter().find(|r| r["method"] == "send_tx").expect("send_tx was called");
    assert_eq!(sent["params"]["wait_until"], "INCLUDED_FINAL");
    let signed = SignedTransaction::from_base64(sent["params"]["signed_tx_base64"].as_str().unwrap()).unwrap();

    let recorded_key = &data("rpc/view_access_key.response.json")["result"];
    let recorded_block = &data("rpc/block.response.json")["result"];
    let tx = &signed.transaction;
    assert_eq!(tx.signer_id, "worker.testnet");
    assert_eq!(tx.receiver_id, "outlayer.testnet");
    assert_eq!(tx.public_key, key.public_key());
    assert_eq!(tx.nonce, recorded_key["nonce"].as_u64().unwrap() + 1);
    assert_eq!(bs58::encode(tx.block_hash).into_string(), recorded_block["header"]["hash"].as_str().unwrap());
    assert_eq!(tx.actions, vec![action]);
    assert!(key.public_key().verify(&signed.hash(), &signed.signature));
    assert_eq!(outcome.hash, signed.hash_base58());
}

#[tokio::test]
async fn build_signed_does_not_send_and_resending_reuses_the_transaction() {
    let key = key();
    let mut routes = key_and_block_routes(&key);
    routes.push(Route { params: None, ..Route::recorded("send_tx", "send_tx") });
    let node = serve(routes).await;
    let client = RpcClient::new(node.url.clone());

    let signed = build_signed(&client, "worker.testnet", &key, "receiver.testnet", vec![Action::Transfer { deposit: 5 }]).await.unwrap();
    let methods = |node: &common::MockNode| -> Vec<String> {
        node.requests.lock().unwrap().iter().map(|r| r["method"].as_str().unwrap().to_owned()).collect()
    };
    assert!(!methods(&node).contains(&"send_tx".to_owned()), "build_signed must not send");

    let first = send_signed(&client, &signed, TxWait::None).await.unwrap();
    let second = send_signed(&client, &signed, TxWait::None).await.unwrap();
    assert_eq!(first.hash, second.hash);
    let sent: Vec<String> = node
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "send_tx")
        .map(|r| r["params"]["signed_tx_base64"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sent, vec![signed.to_base64(), signed.to_base64()]);
}

#[tokio::test]
async fn an_unknown_access_key_stops_before_sending() {
    let key = key();
    let routes = vec![
        Route { method: "query".into(), params: None, response: data("rpc/view_account_unknown.response.json") },
        Route::expect("block", json!({"finality": "final"}), "block"),
    ];
    let node = serve(routes).await;
    let client = RpcClient::new(node.url.clone());
    let err = sign_and_send(&client, "nosuchaccount.testnet", &key, "x.testnet", vec![], TxWait::None).await.unwrap_err();
    assert!(matches!(&err, RpcError::Node { cause, .. } if cause == "UNKNOWN_ACCOUNT"), "{err:?}");
    assert!(node.requests.lock().unwrap().iter().all(|r| r["method"] != "send_tx"));
}
