//! A local stand-in for a NEAR RPC node that answers from recorded documentation examples.
//!
//! Each [`Route`] names the JSON-RPC method and the exact params the client must send; the
//! node answers the recorded response, or a JSON-RPC error naming the mismatch, so a client
//! that sends the wrong request fails its test with that text.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};

/// Read `tests/data/<path>` as JSON.
pub fn data(path: &str) -> Value {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(path);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// One request the node accepts and its answer.
#[derive(Clone)]
pub struct Route {
    /// The JSON-RPC method.
    pub method: String,
    /// The exact params expected; `None` accepts any params.
    pub params: Option<Value>,
    /// The whole JSON-RPC answer.
    pub response: Value,
}

impl Route {
    /// The recorded pair `rpc/<request>.request.json` and `rpc/<response>.response.json`.
    pub fn recorded(request: &str, response: &str) -> Self {
        let req = data(&format!("rpc/{request}.request.json"));
        Route {
            method: req["method"].as_str().unwrap().to_owned(),
            params: Some(req["params"].clone()),
            response: data(&format!("rpc/{response}.response.json")),
        }
    }

    /// `method` with exactly `params`, answered with `rpc/<response>.response.json`.
    pub fn expect(method: &str, params: Value, response: &str) -> Self {
        Route { method: method.to_owned(), params: Some(params), response: data(&format!("rpc/{response}.response.json")) }
    }
}

/// A running mock node.
pub struct MockNode {
    /// `http://127.0.0.1:<port>/`.
    pub url: String,
    /// Every request body received, in order.
    pub requests: Arc<Mutex<Vec<Value>>>,
}

#[derive(Clone)]
struct NodeState {
    routes: Arc<Vec<Route>>,
    requests: Arc<Mutex<Vec<Value>>>,
}

async fn answer(State(state): State<NodeState>, body: String) -> axum::Json<Value> {
    let Ok(request) = serde_json::from_str::<Value>(&body) else {
        return axum::Json(mismatch(Value::Null, "request body is not JSON"));
    };
    state.requests.lock().unwrap().push(request.clone());
    if request["jsonrpc"] != "2.0" || request.get("id").is_none() {
        return axum::Json(mismatch(request, "not a JSON-RPC 2.0 request with an id"));
    }
    let found =
        state.routes.iter().find(|r| request["method"] == r.method.as_str() && r.params.as_ref().is_none_or(|p| *p == request["params"]));
    match found {
        Some(route) => axum::Json(route.response.clone()),
        None => axum::Json(mismatch(request, "no recorded answer for this method and params")),
    }
}

fn mismatch(request: Value, why: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": request.get("id").cloned().unwrap_or(Value::Null),
        "error": {
            "name": "REQUEST_VALIDATION_ERROR",
            "cause": {"name": "UNEXPECTED_REQUEST", "info": {"request": request}},
            "code": -32602,
            "message": why,
            "data": format!("{why}: {request}"),
        }
    })
}

/// Serve `router` on 127.0.0.1:0; returns its URL.
pub async fn serve_router(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}/")
}

/// Start a mock node answering `routes`.
pub async fn serve(routes: Vec<Route>) -> MockNode {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let state = NodeState { routes: Arc::new(routes), requests: requests.clone() };
    let router = Router::new().route("/", post(answer)).with_state(state);
    MockNode { url: serve_router(router).await, requests }
}
