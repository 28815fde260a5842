//! A local NEAR JSON-RPC node answering with recorded real responses
//! (`crates/near/tests/data/rpc`, from NEAR's RPC documentation), so that rpc cases run without
//! a network and give the same answers on every host.
//!
//! Matching: among the recordings with the request's `method` (and `params.request_type` for
//! `query`), the one whose recorded params all equal the request's wins; otherwise a recorded
//! *error* for that method stands for "not found" (e.g. `UNKNOWN_ACCOUNT`); otherwise the one with
//! the most equal params. A method never recorded gets NEAR's `METHOD_NOT_FOUND` error.

use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

/// A recorded `(request, response)` pair from `crates/near/tests/data/rpc`.
macro_rules! recorded {
    ($name:literal) => {
        recorded!($name, $name)
    };
    ($request:literal, $response:literal) => {
        (
            include_str!(concat!("../../crates/near/tests/data/rpc/", $request, ".request.json")),
            include_str!(concat!("../../crates/near/tests/data/rpc/", $response, ".response.json")),
        )
    };
}

/// (request, response) pairs, embedded so the node works wherever the binary runs.
const RECORDED: &[(&str, &str)] = &[
    recorded!("block"),
    recorded!("call_function"),
    recorded!("changes_in_block"),
    recorded!("chunk_by_block_shard", "chunk"),
    recorded!("chunk_by_hash", "chunk"),
    recorded!("gas_price_height", "gas_price"),
    recorded!("gas_price_latest", "gas_price"),
    recorded!("receipt"),
    recorded!("send_tx"),
    recorded!("status"),
    recorded!("tx_status"),
    recorded!("view_access_key"),
    recorded!("view_access_key_list"),
    recorded!("view_account"),
    recorded!("view_account_unknown"),
    recorded!("view_state"),
];

/// The answer of the recorded node to one JSON-RPC request.
pub fn answer(request: &Value) -> Value {
    let method = &request["method"];
    let request_type = &request["params"]["request_type"];
    let candidates: Vec<(Value, Value)> = RECORDED
        .iter()
        .map(|(q, a)| {
            (serde_json::from_str::<Value>(q).expect("recorded request"), serde_json::from_str::<Value>(a).expect("recorded response"))
        })
        .filter(|(q, _)| &q["method"] == method && &q["params"]["request_type"] == request_type)
        .collect();
    let score = |q: &Value| -> (usize, bool) {
        match (&q["params"], &request["params"]) {
            (Value::Object(rec), Value::Object(got)) => {
                let equal = rec.iter().filter(|(k, v)| got.get(*k) == Some(v)).count();
                (equal, equal == rec.len())
            }
            (rec, got) => (usize::from(rec == got), rec == got),
        }
    };
    let exact = candidates.iter().find(|(q, _)| score(q).1);
    let error = candidates.iter().find(|(_, a)| a.get("error").is_some());
    let best = candidates.iter().max_by_key(|(q, _)| score(q).0);
    let mut response = match exact.or(error).or(best) {
        Some((_, a)) => a.clone(),
        None => json!({
            "jsonrpc": "2.0",
            "error": {
                "code": -32601, "message": "Method not found", "name": "REQUEST_VALIDATION_ERROR",
                "cause": { "name": "METHOD_NOT_FOUND", "info": { "method_name": method } }
            }
        }),
    };
    response["id"] = request["id"].clone();
    response
}

/// Serve the recorded node on a loopback port; returns its URL. The server lives as long as the
/// current tokio runtime.
pub async fn start() -> std::io::Result<String> {
    let app = Router::new().route("/", post(|Json(request): Json<Value>| async move { Json(answer(&request)) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("recorded NEAR RPC node stopped: {e}");
        }
    });
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_match_wins_and_unknown_accounts_get_the_recorded_error() {
        let q = |account: &str| json!({"jsonrpc":"2.0","id":"x","method":"query","params":{"request_type":"view_account","finality":"final","account_id":account}});
        let known = answer(&q("account.rpc-examples.testnet"));
        assert_eq!(known["result"]["amount"], "999788200694421800000000");
        assert_eq!(known["id"], "x");
        let unknown = answer(&q("nobody.testnet"));
        assert_eq!(unknown["error"]["cause"]["name"], "UNKNOWN_ACCOUNT");
        let missing = answer(&json!({"jsonrpc":"2.0","id":1,"method":"no_such_method","params":[]}));
        assert_eq!(missing["error"]["cause"]["name"], "METHOD_NOT_FOUND");
    }
}
