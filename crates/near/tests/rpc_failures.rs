//! How the client fails: a node that never answers, oversize and malformed answers, legacy
//! in-result errors, an unreachable node.

mod common;

use std::time::Duration;

use axum::Router;
use axum::routing::post;
use common::serve_router;
use outlayer_near::rpc::{CONTRACT_EXECUTION_ERROR, MAX_RESPONSE_BYTES};
use outlayer_near::{BlockRef, RpcClient, RpcError};
use serde_json::json;

#[tokio::test]
async fn a_node_that_never_answers_times_out() {
    let router = Router::new().route(
        "/",
        post(|| async {
            std::future::pending::<()>().await;
            ""
        }),
    );
    let client = RpcClient::new(serve_router(router).await).with_timeout(Duration::from_millis(200));
    let err = client.status().await.unwrap_err();
    assert!(matches!(err, RpcError::Timeout), "{err:?}");
}

#[tokio::test]
async fn an_answer_over_the_default_cap_is_refused() {
    let router = Router::new().route(
        "/",
        post(|| async {
            let filler = "x".repeat(MAX_RESPONSE_BYTES);
            format!(r#"{{"jsonrpc":"2.0","id":"x","result":"{filler}"}}"#)
        }),
    );
    let client = RpcClient::new(serve_router(router).await);
    let err = client.status().await.unwrap_err();
    assert!(matches!(err, RpcError::ResponseTooLarge(MAX_RESPONSE_BYTES)), "{err:?}");
}

#[tokio::test]
async fn a_streamed_answer_without_length_is_cut_at_the_cap() {
    let router = Router::new().route(
        "/",
        post(|| async {
            let chunks = (0..64).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024]));
            axum::body::Body::from_stream(futures::stream::iter(chunks))
        }),
    );
    let client = RpcClient::new(serve_router(router).await).with_max_response_bytes(16 * 1024);
    let err = client.status().await.unwrap_err();
    assert!(matches!(err, RpcError::ResponseTooLarge(16384)), "{err:?}");
}

#[tokio::test]
async fn malformed_json_is_an_invalid_response() {
    let router = Router::new().route("/", post(|| async { "{\"jsonrpc\": \"2.0\", \"result\": " }));
    let client = RpcClient::new(serve_router(router).await);
    let err = client.status().await.unwrap_err();
    assert!(matches!(err, RpcError::InvalidResponse(_)), "{err:?}");
}

#[tokio::test]
async fn a_result_of_the_wrong_shape_is_an_invalid_response() {
    let router = Router::new().route("/", post(|| async { axum::Json(json!({"jsonrpc": "2.0", "id": "x", "result": {"amount": 5}})) }));
    let client = RpcClient::new(serve_router(router).await);
    let err = client.view_account(&BlockRef::Final, "a.near").await.unwrap_err();
    assert!(matches!(err, RpcError::InvalidResponse(_)), "{err:?}");
}

#[tokio::test]
async fn a_legacy_in_result_error_of_a_view_call_is_a_node_error() {
    // nearcore's legacy form for a failing view function: an `error` string inside `result`.
    let router = Router::new().route(
        "/",
        post(|| async {
            axum::Json(json!({"jsonrpc": "2.0", "id": "x", "result": {
                "error": "wasm execution failed with error: FunctionCallError(MethodResolveError(MethodNotFound))",
                "logs": [], "block_height": 1, "block_hash": "11111111111111111111111111111111"
            }}))
        }),
    );
    let client = RpcClient::new(serve_router(router).await);
    let err = client.view_call(&BlockRef::Final, "a.near", "nope", b"{}").await.unwrap_err();
    let RpcError::Node { cause, message, .. } = err else { panic!("{err:?}") };
    assert_eq!(cause, CONTRACT_EXECUTION_ERROR);
    assert!(message.contains("MethodNotFound"), "{message}");
}

#[tokio::test]
async fn an_unreachable_node_is_a_transport_error() {
    // Bind then drop a listener so the port is (almost certainly) closed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = RpcClient::new(format!("http://127.0.0.1:{port}/"));
    let err = client.status().await.unwrap_err();
    assert!(matches!(err, RpcError::Transport(_)), "{err:?}");
}
