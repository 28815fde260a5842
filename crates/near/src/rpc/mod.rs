//! The JSON-RPC 2.0 client: transport, limits and error mapping. Typed methods live in
//! [`methods`](self) and their result types in [`views`].

mod methods;
pub mod views;

pub use methods::{CONTRACT_EXECUTION_ERROR, QUERY_ERROR};

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::error::RpcError;

/// Default time a whole call (connect, send, read the answer) may take. Longer than a NEAR
/// node's own 10 s transaction wait so that a node's `TIMEOUT_ERROR` reaches the caller.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Time allowed to open the TCP/TLS connection; bounds a black-holed node address.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default cap on the size of an answer (4 MiB). Defends the host's memory against a node (or a
/// guest's `raw` call) returning huge bodies; real answers are far smaller except `view_code`
/// / `view_state` of very large contracts.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// The JSON-RPC `id` sent with every request (NEAR echoes it and ignores its value).
const REQUEST_ID: &str = "outlayer";

/// A NEAR JSON-RPC client. Cloning is cheap (the connection pool and settings are shared).
#[derive(Debug, Clone)]
pub struct RpcClient {
    http: reqwest::Client,
    url: Arc<str>,
    timeout: Duration,
    max_response_bytes: usize,
}

impl RpcClient {
    /// A client for the node at `url` (for example `https://rpc.testnet.near.org`), with
    /// [`DEFAULT_TIMEOUT`] and [`MAX_RESPONSE_BYTES`].
    pub fn new(url: impl Into<String>) -> Self {
        let http = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT).build().unwrap_or_default();
        RpcClient { http, url: url.into().into(), timeout: DEFAULT_TIMEOUT, max_response_bytes: MAX_RESPONSE_BYTES }
    }

    /// The same client with a different limit on the duration of a whole call.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same client with a different cap on the size of an answer, in bytes.
    pub fn with_max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }

    /// The node URL this client talks to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Call any JSON-RPC `method` with `params`; returns the answer's `result`.
    ///
    /// Errors: [`RpcError::Node`] when the node answers an `error`, [`RpcError::Timeout`] after
    /// the client's timeout, [`RpcError::ResponseTooLarge`] past the size cap,
    /// [`RpcError::InvalidResponse`] for anything that is not a JSON-RPC answer, and
    /// [`RpcError::Transport`] when the node cannot be reached.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let body = json!({ "jsonrpc": "2.0", "id": REQUEST_ID, "method": method, "params": params });
        tracing::debug!(method, "NEAR RPC call");
        let (status, bytes) = tokio::time::timeout(self.timeout, self.post(&body)).await.map_err(|_| RpcError::Timeout)??;
        parse_answer(status, &bytes)
    }

    /// Send `body` and read the whole answer, enforcing the size cap while reading.
    async fn post(&self, body: &Value) -> Result<(reqwest::StatusCode, Vec<u8>), RpcError> {
        let mut response = self.http.post(&*self.url).json(body).send().await.map_err(transport_error)?;
        let status = response.status();
        let cap = self.max_response_bytes;
        if response.content_length().is_some_and(|len| len > cap as u64) {
            return Err(RpcError::ResponseTooLarge(cap));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if bytes.len() + chunk.len() > cap {
                return Err(RpcError::ResponseTooLarge(cap));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((status, bytes))
    }
}

/// Map a reqwest failure; never includes the URL (it may carry an API key).
fn transport_error(err: reqwest::Error) -> RpcError {
    if err.is_timeout() {
        return RpcError::Timeout;
    }
    let kind = if err.is_connect() {
        "cannot connect to the node"
    } else if err.is_body() || err.is_decode() {
        "reading the answer failed"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    RpcError::Transport(text)
}

/// Turn an HTTP answer into the JSON-RPC `result` or a typed error. NEAR sends structured
/// errors with 4xx/5xx statuses too, so the body is read first and the status only decides when
/// the body is not JSON-RPC.
fn parse_answer(status: reqwest::StatusCode, bytes: &[u8]) -> Result<Value, RpcError> {
    let answer: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) if status.is_success() => {
            return Err(RpcError::InvalidResponse(format!("answer is not JSON: {e}")));
        }
        Err(_) => {
            return Err(RpcError::Transport(format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes[..bytes.len().min(200)]))));
        }
    };
    if let Some(error) = answer.get("error").filter(|e| !e.is_null()) {
        return Err(RpcError::from_error_value(error));
    }
    match answer {
        Value::Object(mut map) if map.contains_key("result") => Ok(map.remove("result").unwrap_or_default()),
        _ if !status.is_success() => Err(RpcError::Transport(format!("HTTP {status}"))),
        _ => Err(RpcError::InvalidResponse("answer has neither result nor error".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    #[test]
    fn result_is_extracted() {
        let v = parse_answer(StatusCode::OK, br#"{"jsonrpc":"2.0","id":"x","result":{"a":1}}"#);
        assert_eq!(v.unwrap(), json!({"a": 1}));
    }

    #[test]
    fn error_with_http_500_is_a_node_error() {
        let body = br#"{"jsonrpc":"2.0","id":"x","error":{"name":"INTERNAL_ERROR","cause":{"name":"INTERNAL_ERROR","info":{"error_message":"boom"}},"code":-32000,"message":"Server error"}}"#;
        let err = parse_answer(StatusCode::INTERNAL_SERVER_ERROR, body).unwrap_err();
        assert_eq!(err.node_cause(), Some("INTERNAL_ERROR"));
    }

    #[test]
    fn non_json_error_page_is_transport() {
        let err = parse_answer(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>").unwrap_err();
        assert!(matches!(err, RpcError::Transport(ref t) if t.contains("502")), "{err:?}");
    }

    #[test]
    fn json_without_result_is_invalid() {
        let err = parse_answer(StatusCode::OK, br#"{"jsonrpc":"2.0","id":"x"}"#).unwrap_err();
        assert!(matches!(err, RpcError::InvalidResponse(_)), "{err:?}");
    }
}
