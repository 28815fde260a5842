//! The rpc capability against a local node that answers with recorded real NEAR responses
//! (`crates/near/tests/data/rpc`, from NEAR's RPC documentation examples).

mod common;

use common::{guest, recorded, runtime};
use outlayer_guest_artifacts as g;
use outlayer_host::caps::rpc::RpcGrant;
use outlayer_host::{Capability, ExecutionContext, ExecutionRequest, Grants, Outcome};
use serde_json::Value;

/// A node that knows one account (answering the recorded view_account) and answers the recorded
/// UNKNOWN_ACCOUNT error for any other.
async fn node() -> String {
    common::node(|req| {
        let known = req["params"]["account_id"] == "account.rpc-examples.testnet";
        let ok = req["method"] == "query" && req["params"]["request_type"] == "view_account" && req["params"]["finality"] == "final";
        match (ok, known) {
            (true, true) => recorded("view_account.response.json"),
            _ => recorded("view_account_unknown.response.json"),
        }
    })
    .await
}

async fn view(url: Option<&str>, account: &str) -> outlayer_host::ExecutionReport {
    let grants = Grants { rpc: url.map(RpcGrant::new), ..Default::default() };
    let request =
        ExecutionRequest { input: account.as_bytes().to_vec(), grants, context: ExecutionContext::default(), ..Default::default() };
    runtime().run(&guest(g::RPC_VIEWER), request).await.unwrap()
}

#[tokio::test]
async fn view_account_returns_the_nodes_answer() {
    let url = node().await;
    let r = view(Some(&url), "account.rpc-examples.testnet").await;
    assert!(r.outcome.is_ok(), "{:?} {}", r.outcome, String::from_utf8_lossy(&r.stderr));
    let v: Value = serde_json::from_slice(&r.output).unwrap();
    assert_eq!(v["amount"], "999788200694421800000000");
    assert_eq!(v["storage_usage"], 410);
    assert_eq!(v["block_height"], 187440904);
    assert_eq!(r.host_calls.rpc.calls, 1);
}

#[tokio::test]
async fn node_errors_reach_the_guest_typed() {
    let url = node().await;
    let r = view(Some(&url), "nobody.testnet").await;
    assert_eq!(r.outcome, Outcome::Exit { code: 1 });
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(stderr.contains("UNKNOWN_ACCOUNT"), "{stderr}");
}

#[tokio::test]
async fn rpc_is_denied_without_a_grant() {
    let r = view(None, "account.rpc-examples.testnet").await;
    assert!(matches!(r.outcome, Outcome::Denied { ref capabilities, .. } if capabilities == &[Capability::Rpc]), "{:?}", r.outcome);
}

#[tokio::test]
async fn an_unreachable_node_is_an_error_not_a_hang() {
    // Port 9 (discard) on loopback: connection refused.
    let r = view(Some("http://127.0.0.1:9"), "account.rpc-examples.testnet").await;
    assert_eq!(r.outcome, Outcome::Exit { code: 1 });
    assert!(String::from_utf8_lossy(&r.stderr).contains("Other"), "{}", String::from_utf8_lossy(&r.stderr));
}
