//! The client against recorded NEAR answers (from NEAR's RPC documentation) served locally: the
//! mock node checks each request's method and params and answers the recorded response.

mod common;

use common::{Route, data, serve};
use outlayer_near::{BlockId, BlockRef, ChunkRef, RpcClient, RpcError, TxWait};

async fn client_for(routes: Vec<Route>) -> (RpcClient, common::MockNode) {
    let node = serve(routes).await;
    (RpcClient::new(node.url.clone()), node)
}

fn recorded_result(name: &str) -> serde_json::Value {
    data(&format!("rpc/{name}.response.json"))["result"].clone()
}

#[tokio::test]
async fn view_account_parses_the_recorded_account() {
    let (client, node) = client_for(vec![Route::recorded("view_account", "view_account")]).await;
    let account = client.view_account(&BlockRef::Final, "account.rpc-examples.testnet").await.unwrap();
    let want = recorded_result("view_account");
    assert_eq!(account.amount, want["amount"].as_str().unwrap());
    assert_eq!(account.locked, want["locked"].as_str().unwrap());
    assert_eq!(account.code_hash, want["code_hash"].as_str().unwrap());
    assert_eq!(account.storage_usage, want["storage_usage"].as_u64().unwrap());
    assert_eq!(account.block_height, want["block_height"].as_u64().unwrap());
    assert_eq!(account.block_hash, want["block_hash"].as_str().unwrap());
    assert_eq!(node.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn view_call_sends_base64_args_and_returns_bytes() {
    let (client, _node) = client_for(vec![Route::recorded("call_function", "call_function")]).await;
    let view = client.view_call(&BlockRef::Final, "dev-1588039999690", "get_num", b"{}").await.unwrap();
    let want = recorded_result("call_function");
    let bytes: Vec<u8> = serde_json::from_value(want["result"].clone()).unwrap();
    assert_eq!(view.result, bytes);
    assert_eq!(view.json::<u64>().unwrap(), 0, "the recorded answer is the JSON number 0");
    assert!(view.logs.is_empty());
    assert_eq!(view.block_height, want["block_height"].as_u64().unwrap());
    assert_eq!(view.block_hash, want["block_hash"].as_str().unwrap());
}

#[tokio::test]
async fn a_wrong_request_is_refused_by_the_mock_node() {
    // Guards the harness itself: different args must not get the recorded answer.
    let (client, _node) = client_for(vec![Route::recorded("call_function", "call_function")]).await;
    let err = client.view_call(&BlockRef::Final, "dev-1588039999690", "get_num", b"{\"x\":1}").await.unwrap_err();
    assert_eq!(err.node_cause(), Some("UNEXPECTED_REQUEST"), "{err:?}");
}

#[tokio::test]
async fn access_keys_and_state_are_the_recorded_json() {
    let (client, _node) = client_for(vec![
        Route::recorded("view_access_key", "view_access_key"),
        Route::recorded("view_access_key_list", "view_access_key_list"),
        Route::recorded("view_state", "view_state"),
    ])
    .await;
    let key = client
        .view_access_key(&BlockRef::Final, "client.chainlink.testnet", "ed25519:H9k5eiU4xXS3M4z8HzKJSLaZdqGdGwBG49o7orNC4eZW")
        .await
        .unwrap();
    assert_eq!(key, recorded_result("view_access_key"));
    let list = client.view_access_key_list(&BlockRef::Final, "example.testnet").await.unwrap();
    assert_eq!(list, recorded_result("view_access_key_list"));
    let state = client.view_state(&BlockRef::Final, "contract.rpc-examples.testnet", "").await.unwrap();
    assert_eq!(state, recorded_result("view_state"));
}

#[tokio::test]
async fn blocks_chunks_and_changes() {
    let (client, _node) = client_for(vec![
        Route::recorded("block", "block"),
        Route::recorded("chunk_by_hash", "chunk"),
        Route::recorded("chunk_by_block_shard", "chunk"),
        Route::recorded("changes_in_block", "changes_in_block"),
    ])
    .await;
    let at = BlockRef::parse_v01("17821130").unwrap();
    let block = client.block(&at).await.unwrap();
    assert_eq!(block, recorded_result("block"));
    assert_eq!(block["header"]["hash"], "CLo31YCUhzz8ZPtS5vXLFskyZgHV5qWgXinBQHgu9Pyd");

    let by_hash = ChunkRef::parse("EBM2qg5cGr47EjMPtH88uvmXHDHqmWPzKaQadbWhdw22").unwrap();
    assert_eq!(client.chunk(&by_hash).await.unwrap(), recorded_result("chunk"));
    let by_shard = ChunkRef::parse("187310138,0").unwrap();
    assert_eq!(client.chunk(&by_shard).await.unwrap(), recorded_result("chunk"));

    assert_eq!(client.changes(&at).await.unwrap(), recorded_result("changes_in_block"));
}

#[tokio::test]
async fn gas_price_status_and_receipt() {
    let (client, _node) = client_for(vec![
        Route::recorded("gas_price_latest", "gas_price"),
        Route::recorded("gas_price_height", "gas_price"),
        Route::recorded("status", "status"),
        Route::recorded("receipt", "receipt"),
    ])
    .await;
    assert_eq!(client.gas_price(None).await.unwrap()["gas_price"], "100000000");
    let at = BlockId::parse("187310138").unwrap();
    assert_eq!(client.gas_price(Some(&at)).await.unwrap(), recorded_result("gas_price"));

    let status = client.status().await.unwrap();
    assert_eq!(status["chain_id"], "testnet");
    assert_eq!(status["sync_info"]["latest_block_height"], 17774278);

    let receipt = client.receipt("2EbembRPJhREPtmHCrGv3Xtdm3xoc5BMVYHm3b2kjvMY").await.unwrap();
    assert_eq!(receipt, recorded_result("receipt"));
    assert_eq!(receipt["receiver_id"], "frol.testnet");
}

#[tokio::test]
async fn tx_status_and_send_tx() {
    let (client, _node) = client_for(vec![Route::recorded("tx_status", "tx_status"), Route::recorded("send_tx", "send_tx")]).await;
    let status = client.tx_status("6zgh2u9DqHHiXzdy9ouTP7oGky2T4nugqzqt9wJZwNFm", "sender.testnet", TxWait::Executed).await.unwrap();
    assert_eq!(status, recorded_result("tx_status"));

    let request = data("rpc/send_tx.request.json");
    let signed = request["params"]["signed_tx_base64"].as_str().unwrap();
    let wait = TxWait::parse_v01(request["params"]["wait_until"].as_str().unwrap()).unwrap();
    let sent = client.send_tx(signed, wait).await.unwrap();
    assert_eq!(sent, recorded_result("send_tx"));
    assert_eq!(sent["final_execution_status"], "FINAL");
}

#[tokio::test]
async fn unknown_account_is_a_node_error_with_its_cause() {
    let (client, _node) = client_for(vec![Route::recorded("view_account_unknown", "view_account_unknown")]).await;
    let err = client.view_account(&BlockRef::Final, "nosuchaccount.testnet").await.unwrap_err();
    let RpcError::Node { name, cause, message, data } = err else { panic!("{err:?}") };
    assert_eq!(name, "HANDLER_ERROR");
    assert_eq!(cause, "UNKNOWN_ACCOUNT");
    assert_eq!(message, "account nosuchaccount.testnet does not exist while viewing");
    assert_eq!(data["requested_account_id"], "nosuchaccount.testnet");
}

#[tokio::test]
async fn invalid_arguments_are_refused_before_sending() {
    let (client, node) = client_for(vec![]).await;
    let bad_hash = BlockRef::Hash("not-a-hash".into());
    assert!(matches!(client.block(&bad_hash).await, Err(RpcError::InvalidArgument(_))));
    assert!(matches!(client.tx_status("abc", "a.near", TxWait::None).await, Err(RpcError::InvalidArgument(_))));
    assert!(matches!(client.send_tx("%%%", TxWait::None).await, Err(RpcError::InvalidArgument(_))));
    assert!(matches!(client.view_state(&BlockRef::Final, "a.near", "***").await, Err(RpcError::InvalidArgument(_))));
    assert!(node.requests.lock().unwrap().is_empty(), "nothing reached the node");
}

#[tokio::test]
async fn raw_call_returns_the_result_member() {
    let (client, _node) = client_for(vec![Route::recorded("status", "status")]).await;
    let result = client.call("status", serde_json::json!([])).await.unwrap();
    assert_eq!(result, recorded_result("status"));
}
