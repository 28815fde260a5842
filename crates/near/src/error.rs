//! The error type of every RPC operation.

use serde_json::Value;

/// Why an RPC call (or a transaction built from RPC answers) failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The node answered with a JSON-RPC error.
    ///
    /// NEAR nodes answer `{"error": {"name", "cause": {"name", "info"}, "code", "message", "data"}}`.
    #[error("node error {name}/{cause}: {message}")]
    Node {
        /// `error.name`, for example `HANDLER_ERROR` (empty when the node sent none).
        name: String,
        /// `error.cause.name`, for example `UNKNOWN_ACCOUNT` (empty when the node sent none).
        cause: String,
        /// Human-readable text: the legacy `error.data` string when present (it is the most
        /// specific, e.g. "account x does not exist while viewing"), else `error.message`.
        message: String,
        /// Structured details: `error.cause.info` when present, else the raw `error.data`,
        /// else `null`. Boxed: it keeps every `Result<_, RpcError>` small.
        data: Box<Value>,
    },
    /// The node did not answer within the client's timeout.
    #[error("the NEAR RPC node did not answer in time")]
    Timeout,
    /// Connecting to or talking to the node failed (or it answered a non-JSON HTTP error).
    #[error("transport error: {0}")]
    Transport(String),
    /// The node's answer was not the JSON-RPC shape expected.
    #[error("invalid response from the node: {0}")]
    InvalidResponse(String),
    /// An argument was rejected before anything was sent (the text says which).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The answer was larger than the client's response size cap (the cap, in bytes).
    #[error("the node's answer exceeds the limit of {0} bytes")]
    ResponseTooLarge(usize),
}

impl RpcError {
    /// The cause name of a [`RpcError::Node`] error (`UNKNOWN_ACCOUNT`, ...), if this is one.
    pub fn node_cause(&self) -> Option<&str> {
        match self {
            RpcError::Node { cause, .. } => Some(cause),
            _ => None,
        }
    }

    /// Build a [`RpcError::Node`] from the `error` member of a JSON-RPC answer.
    pub(crate) fn from_error_value(error: &Value) -> Self {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
        let name = text(error.get("name"));
        let cause = text(error.get("cause").and_then(|c| c.get("name")));
        let legacy_data = error.get("data").filter(|d| !d.is_null());
        let message = match legacy_data {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => match error.get("message") {
                Some(Value::String(s)) => s.clone(),
                Some(other) if !other.is_null() => other.to_string(),
                _ => String::new(),
            },
        };
        let data = error.get("cause").and_then(|c| c.get("info")).filter(|i| !i.is_null()).or(legacy_data).cloned().unwrap_or(Value::Null);
        RpcError::Node { name, cause, message, data: Box::new(data) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn structured_error_keeps_cause_and_info() {
        let err = RpcError::from_error_value(&json!({
            "name": "HANDLER_ERROR",
            "cause": {"name": "UNKNOWN_BLOCK", "info": {"block_reference": {"block_id": 1}}},
            "code": -32000, "message": "Server error", "data": "DB Not Found Error"
        }));
        let RpcError::Node { name, cause, message, data } = err else { panic!("not a node error") };
        assert_eq!(name, "HANDLER_ERROR");
        assert_eq!(cause, "UNKNOWN_BLOCK");
        assert_eq!(message, "DB Not Found Error");
        assert_eq!(*data, json!({"block_reference": {"block_id": 1}}));
    }

    #[test]
    fn plain_json_rpc_error_uses_message() {
        let err = RpcError::from_error_value(&json!({"code": -32601, "message": "Method not found"}));
        let RpcError::Node { name, cause, message, data } = err else { panic!("not a node error") };
        assert_eq!((name.as_str(), cause.as_str()), ("", ""));
        assert_eq!(message, "Method not found");
        assert_eq!(*data, Value::Null);
    }
}
