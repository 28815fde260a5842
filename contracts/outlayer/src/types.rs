//! Request and response types shared by the execution, resolution and view modules.

use near_sdk::json_types::{Base64VecU8, U128};
use near_sdk::serde_json::Value;
use near_sdk::{AccountId, CryptoHash, NearToken, PublicKey, env, near};

use crate::limits::*;

/// What to run.
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionSource {
    /// A registered project; `version` is a wasm sha256 among its versions (default: active).
    Project {
        /// `owner/name`.
        project_id: String,
        /// Wasm sha256 (hex) of the version to run; `None` runs the active version.
        version: Option<String>,
    },
    /// Any component, downloaded by the worker from `url` and checked against `sha256`.
    WasmUrl {
        /// Where the worker downloads the component.
        url: String,
        /// Lowercase hex sha256 of the component bytes.
        sha256: String,
    },
    /// A git repository at a commit (OutLayer v0.1's `GitHub`), built by an OutLayer builder
    /// outside the TEE before it runs; the compile time is charged (see `Pricing::compile_cost`).
    #[serde(rename = "GitHub", alias = "git_hub")]
    GitHub {
        /// `https://` URL of the repository.
        repo: String,
        /// Full commit id (40 hex digits).
        commit: String,
        /// `wasm32-wasip1` or `wasm32-wasip2` (default).
        build_target: Option<String>,
    },
}

/// The source after resolution: exactly what the worker must fetch and verify.
#[near(serializers = [borsh, json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedSource {
    /// `owner/name` when the source is a project.
    pub project_id: Option<String>,
    /// Project owner, credited with the developer payment.
    pub project_owner: Option<AccountId>,
    /// Component URL.
    pub wasm_url: String,
    /// Lowercase hex sha256 of the component.
    pub wasm_sha256: String,
}

/// Limits asked for by the caller; missing fields take the defaults.
#[near(serializers = [json])]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceLimits {
    /// WebAssembly instructions (fuel); default 1e9, cap 5e11.
    pub max_instructions: Option<u64>,
    /// Linear memory in MB; default 128, cap 512.
    pub max_memory_mb: Option<u32>,
    /// Wall time in seconds; default 60, cap 180.
    pub max_execution_seconds: Option<u64>,
}

/// Limits after defaults and validation.
#[near(serializers = [borsh, json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedLimits {
    /// WebAssembly instructions (fuel).
    pub max_instructions: u64,
    /// Linear memory in MB.
    pub max_memory_mb: u32,
    /// Wall time in seconds.
    pub max_execution_seconds: u64,
}

impl ResolvedLimits {
    /// The limits stored for a compile-only request: all zero ("no resource limits"; a request
    /// that runs something has every limit at 1 or more).
    pub const COMPILE_ONLY: Self = Self { max_instructions: 0, max_memory_mb: 0, max_execution_seconds: 0 };
}

impl ResourceLimits {
    /// Applies defaults and panics with a clear message when a limit is zero or above its cap.
    pub fn resolve(&self) -> ResolvedLimits {
        let instructions = self.max_instructions.unwrap_or(DEFAULT_MAX_INSTRUCTIONS);
        let memory = self.max_memory_mb.unwrap_or(DEFAULT_MAX_MEMORY_MB);
        let seconds = self.max_execution_seconds.unwrap_or(DEFAULT_MAX_EXECUTION_SECONDS);
        let check = |name: &str, value: u128, cap: u128| {
            if value == 0 || value > cap {
                env::panic_str(&format!("{name} must be between 1 and {cap}, got {value}"));
            }
        };
        check("max_instructions", instructions.into(), MAX_INSTRUCTIONS_CAP.into());
        check("max_memory_mb", memory.into(), MAX_MEMORY_MB_CAP.into());
        check("max_execution_seconds", seconds.into(), MAX_EXECUTION_SECONDS_CAP.into());
        ResolvedLimits { max_instructions: instructions, max_memory_mb: memory, max_execution_seconds: seconds }
    }
}

/// How the guest's stdout is returned (OutLayer v0.1).
#[near(serializers = [borsh, json])]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResponseFormat {
    /// Raw bytes, returned base64-encoded.
    Bytes,
    /// UTF-8 text (default).
    #[default]
    Text,
    /// JSON; output that does not parse fails the execution.
    Json,
}

/// Which stored secrets the worker should ask the keystore to decrypt for this execution.
#[near(serializers = [borsh, json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretsRef {
    /// Owner of the secrets.
    pub account_id: AccountId,
    /// Profile name the secrets were stored under.
    pub profile: String,
}

/// Optional extras of a request.
#[near(serializers = [json])]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecutionParams {
    /// Payment for the project developer, in yoctoNEAR, on top of the cost estimate. Credited to
    /// the project owner on success, minus what the guest refunds; refunded on failure.
    pub developer_payment: Option<U128>,
    /// OutLayer v0.1's `compile_only`: build the `GitHub` source and answer its wasm's sha256
    /// without running it. Such a request takes no `resource_limits`, reserves only the compile
    /// charge (`Pricing::compile_cost` of `COMPILE_MS_CAP`) and answers, as JSON,
    /// `{"wasm_sha256": hex, "compile_time_ms": n}`.
    #[serde(default)]
    pub compile_only: bool,
    /// OutLayer v0.1's `force_rebuild`: the builder rebuilds a `GitHub` source even when it has
    /// it cached (a reproducibility check). Needs a `GitHub` source.
    #[serde(default)]
    pub force_rebuild: bool,
}

/// A request waiting for a worker.
#[near(serializers = [borsh, json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingRequest {
    /// Request id.
    pub request_id: u64,
    /// The yield's data id, resumed by `resolve_execution`.
    pub data_id: CryptoHash,
    /// Account that called `request_execution`.
    pub sender_id: AccountId,
    /// Signer of the transaction.
    pub signer_id: AccountId,
    /// Account refunds go to.
    pub payer_id: AccountId,
    /// What the worker runs.
    pub source: ResolvedSource,
    /// Limits the worker enforces.
    pub limits: ResolvedLimits,
    /// How the output is returned.
    pub response_format: ResponseFormat,
    /// Secrets reference, if any.
    pub secrets_ref: Option<SecretsRef>,
    /// Deposit attached to the request.
    pub attached: NearToken,
    /// Cost estimate reserved from the deposit.
    pub estimate: NearToken,
    /// Developer payment reserved from the deposit.
    pub developer_payment: NearToken,
    /// Block timestamp of the request, ns.
    pub created_at_ns: u64,
    /// Block height of the request.
    pub block_height: u64,
    /// Set once a worker resumed the yield; a second resolution is refused.
    pub resolved: bool,
}

/// The guest's output as carried in a response.
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq, Eq)]
#[serde(tag = "type", content = "value")]
pub enum ExecutionOutput {
    /// Base64 of raw stdout.
    Bytes(Base64VecU8),
    /// UTF-8 stdout.
    Text(String),
    /// Parsed JSON stdout.
    Json(Value),
}

impl ExecutionOutput {
    /// The bytes held in storage when the output is too large for the resume payload.
    pub fn to_stored_bytes(&self) -> Vec<u8> {
        match self {
            Self::Bytes(b) => b.0.clone(),
            Self::Text(s) => s.as_bytes().to_vec(),
            Self::Json(v) => v.to_string().into_bytes(),
        }
    }

    /// Rebuilds an output from stored bytes in the request's format.
    pub fn from_stored_bytes(format: ResponseFormat, bytes: Vec<u8>) -> Result<Self, String> {
        match format {
            ResponseFormat::Bytes => Ok(Self::Bytes(Base64VecU8(bytes))),
            ResponseFormat::Text => String::from_utf8(bytes).map(Self::Text).map_err(|_| "Stored output is not valid UTF-8".to_string()),
            ResponseFormat::Json => {
                near_sdk::serde_json::from_slice(&bytes).map(Self::Json).map_err(|_| "Stored output is not valid JSON".to_string())
            }
        }
    }
}

/// What a worker reports for a request (the argument of `resolve_execution`).
#[near(serializers = [json])]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecutionResponse {
    /// Whether the guest exited successfully within its limits.
    pub success: bool,
    /// The output; `None` on failure, or when `output_stored` is set.
    #[serde(default)]
    pub output: Option<ExecutionOutput>,
    /// Set by the contract when the output was moved to storage (see the README's large-output
    /// flow); workers leave it false.
    #[serde(default)]
    pub output_stored: bool,
    /// Error message of a failed execution (guest stderr or host reason).
    #[serde(default)]
    pub error: Option<String>,
    /// Instructions consumed.
    #[serde(default)]
    pub instructions_used: u64,
    /// Wall time used, ms.
    #[serde(default)]
    pub time_ms: u64,
    /// Time the builder spent compiling a `GitHub` source, ms (0 for a cache hit or another
    /// source); charged at `Pricing::compile_cost`, capped.
    #[serde(default)]
    pub compile_time_ms: u64,
    /// Part of the developer payment the guest gave back to the payer (yoctoNEAR).
    #[serde(default)]
    pub refund_requested: Option<U128>,
    /// Key of the worker; the contract overwrites it with the signing key.
    #[serde(default)]
    pub worker_public_key: Option<PublicKey>,
    /// Worker's signature over the result (hex), checked off-chain against the attested key.
    #[serde(default)]
    pub signature: Option<String>,
}

/// What `request_execution` finally returns to its caller, via the yield callback.
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutionOutcome {
    /// Request id.
    pub request_id: u64,
    /// Whether the execution succeeded.
    pub success: bool,
    /// The guest's output on success.
    pub output: Option<ExecutionOutput>,
    /// Why it failed.
    pub error: Option<String>,
    /// Instructions consumed (0 on timeout).
    pub instructions_used: u64,
    /// Wall time used, ms (0 on timeout).
    pub time_ms: u64,
    /// What was charged, yoctoNEAR.
    pub cost: U128,
    /// What was refunded to the payer, yoctoNEAR.
    pub refund: U128,
    /// What was credited to the project owner, yoctoNEAR.
    pub developer_earnings: U128,
    /// The worker key that signed the resolution.
    pub worker_public_key: Option<PublicKey>,
    /// The worker's signature over the result.
    pub signature: Option<String>,
}
