//! OutLayer v0.1's contract interface as a third-party contract sees it: the JSON shapes of
//! `request_execution`'s arguments, written from the published interface (the OutLayer v0.1
//! wire facts), not from the OutLayer crate's internal types.

use near_sdk::json_types::U128;
use near_sdk::serde_json::Value;
use near_sdk::{AccountId, ext_contract, near};

/// `source` of `request_execution` (externally tagged: `{"Project": {...}}`).
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq)]
pub enum ExecutionSource {
    /// A repository at a commit, built by OutLayer.
    GitHub {
        /// Repository URL.
        repo: String,
        /// Commit id.
        commit: String,
        /// `wasm32-wasip1` or `wasm32-wasip2`.
        build_target: Option<String>,
    },
    /// A component by URL and hex sha256.
    WasmUrl {
        /// Where to download it (`https://`, `ipfs://`).
        url: String,
        /// Its sha256 (hex).
        hash: String,
        /// Its target.
        build_target: Option<String>,
    },
    /// A registered project, the active version unless `version_key` (a wasm hash) is given.
    Project {
        /// `owner.near/name`.
        project_id: String,
        /// A wasm hash, or `None` for the active version.
        version_key: Option<String>,
    },
}

/// `resource_limits` of `request_execution` (absent fields: OutLayer's defaults).
#[near(serializers = [json])]
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResourceLimits {
    /// Instructions.
    pub max_instructions: Option<u64>,
    /// Memory, MB.
    pub max_memory_mb: Option<u32>,
    /// Wall time, seconds.
    pub max_execution_seconds: Option<u64>,
}

/// `secrets_ref` of `request_execution`.
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq)]
pub struct SecretsRef {
    /// Profile name.
    pub profile: String,
    /// Owner of the secrets.
    pub account_id: AccountId,
}

/// `response_format` of `request_execution`.
#[near(serializers = [json])]
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ResponseFormat {
    /// Raw bytes (returned base64).
    Bytes,
    /// UTF-8 text (the default).
    Text,
    /// JSON.
    Json,
}

/// `params` of `request_execution` (all optional).
#[near(serializers = [json])]
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RequestParams {
    /// Rebuild even a cached build (GitHub sources).
    pub force_rebuild: bool,
    /// Store the built wasm on FastFS.
    pub store_on_fastfs: bool,
    /// Build only, run nothing.
    pub compile_only: bool,
    /// The project's UUID.
    pub project_uuid: Option<String>,
    /// Payment to the project developer, micro-USD.
    pub attached_usd: Option<U128>,
    /// Run with the bound identity.
    pub use_bound_identity: bool,
}

/// OutLayer's `request_execution`, as a cross-contract interface. The call resolves (through
/// OutLayer's yield callback) to the output as JSON: a string for `Text`, base64 for `Bytes`,
/// the value for `Json`; `null` on failure.
#[allow(dead_code)]
#[ext_contract(ext_outlayer)]
pub trait OutLayer {
    /// See OutLayer's documentation.
    #[allow(clippy::too_many_arguments)]
    fn request_execution(
        &mut self,
        source: ExecutionSource,
        resource_limits: Option<ResourceLimits>,
        input_data: Option<String>,
        secrets_ref: Option<SecretsRef>,
        response_format: Option<ResponseFormat>,
        payer_account_id: Option<AccountId>,
        params: Option<RequestParams>,
    );
}

/// The output as this example stores it: a string as is, any other JSON value as JSON text.
pub fn output_text(output: Value) -> String {
    match output {
        Value::String(s) => s,
        other => other.to_string(),
    }
}
