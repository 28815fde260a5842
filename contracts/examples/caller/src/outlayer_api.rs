//! The parts of OutLayer's JSON interface this example uses.

use near_sdk::json_types::{Base64VecU8, U128};
use near_sdk::serde_json::Value;
use near_sdk::{AccountId, ext_contract, near};

/// `source` argument of `request_execution`.
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionSource {
    /// A registered project, active version unless `version` (a wasm sha256) is given.
    Project {
        /// `owner/name`.
        project_id: String,
        /// Wasm sha256 or `None`.
        version: Option<String>,
    },
    /// A component by URL and sha256.
    WasmUrl {
        /// Where to download it.
        url: String,
        /// Its sha256 (hex).
        sha256: String,
    },
}

/// The guest's output as OutLayer returns it.
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq)]
#[serde(tag = "type", content = "value")]
pub enum ExecutionOutput {
    /// Base64 of raw bytes.
    Bytes(Base64VecU8),
    /// Text.
    Text(String),
    /// JSON.
    Json(Value),
}

impl ExecutionOutput {
    /// The output as a string: text as is, JSON as JSON text, bytes as base64.
    pub fn into_text(self) -> String {
        match self {
            Self::Text(s) => s,
            Self::Json(v) => v.to_string(),
            Self::Bytes(b) => near_sdk::serde_json::to_value(b).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
        }
    }
}

/// What `request_execution` resolves to (fields this example reads).
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutionOutcome {
    /// OutLayer's request id.
    pub request_id: u64,
    /// Whether the execution succeeded.
    pub success: bool,
    /// Output on success.
    pub output: Option<ExecutionOutput>,
    /// Error on failure.
    pub error: Option<String>,
    /// What was charged (yoctoNEAR).
    pub cost: U128,
    /// What was refunded to the payer (yoctoNEAR).
    pub refund: U128,
}

/// OutLayer's `request_execution`, as a cross-contract interface.
#[allow(dead_code)]
#[ext_contract(ext_outlayer)]
pub trait OutLayer {
    /// See the OutLayer README.
    #[allow(clippy::too_many_arguments)]
    fn request_execution(
        &mut self,
        source: ExecutionSource,
        resource_limits: Option<Value>,
        input: Option<String>,
        secrets_ref: Option<Value>,
        response_format: Option<String>,
        payer: Option<AccountId>,
        params: Option<Value>,
    );
}
