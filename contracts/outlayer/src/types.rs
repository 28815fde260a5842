//! Request and response types shared by the execution, resolution and view modules.

use near_sdk::json_types::U128;
use near_sdk::serde_json::Value;
use near_sdk::{AccountId, CryptoHash, NearToken, PublicKey, env, near};

use crate::limits::*;

/// What to run (OutLayer v0.1's `ExecutionSource`, externally tagged: `{"WasmUrl": {...}}`).
#[near(serializers = [borsh, json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecutionSource {
    /// A git repository at a commit, built by an OutLayer builder outside the TEE before it runs;
    /// the compile time is charged (see `Pricing::compile_cost`).
    GitHub {
        /// `https://` URL of the repository.
        repo: String,
        /// Full commit id (40 hex digits).
        commit: String,
        /// `wasm32-wasip1` or `wasm32-wasip2` (default).
        #[serde(default)]
        build_target: Option<String>,
    },
    /// Any component, downloaded by the worker from `url` and checked against `hash`.
    WasmUrl {
        /// Where the worker downloads the component (`https://` or `ipfs://`).
        url: String,
        /// Hex sha256 of the component bytes.
        hash: String,
        /// The component's target (`wasm32-wasip1` or `wasm32-wasip2`); informative, the host
        /// runs either.
        #[serde(default)]
        build_target: Option<String>,
    },
    /// A registered project; `version_key` is a wasm sha256 among its versions (default: the
    /// active version).
    Project {
        /// `owner/name`.
        project_id: String,
        /// Wasm sha256 (hex) of the version to run; `None` runs the active version.
        #[serde(default)]
        version_key: Option<String>,
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

/// Optional extras of a request (OutLayer v0.1's `RequestParams`; every field optional).
#[near(serializers = [borsh, json])]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestParams {
    /// The builder rebuilds a `GitHub` source even when it has it cached (a reproducibility
    /// check). Needs a `GitHub` source.
    #[serde(default)]
    pub force_rebuild: bool,
    /// OutLayer's FastFS upload of the built wasm. Accepted and passed on to workers; this
    /// network has no FastFS, so it changes nothing.
    #[serde(default)]
    pub store_on_fastfs: bool,
    /// Build the `GitHub` source and answer its wasm's sha256 without running it. Such a request
    /// takes no `resource_limits`, reserves only the compile charge (`Pricing::compile_cost` of
    /// `COMPILE_MS_CAP`) and answers, as JSON, `{"wasm_sha256": hex, "compile_time_ms": n}`.
    #[serde(default)]
    pub compile_only: bool,
    /// OutLayer's project UUID (`OUTLAYER_PROJECT_UUID` for the guest), passed on as given.
    #[serde(default)]
    pub project_uuid: Option<String>,
    /// Payment to the project developer in micro-USD (6 decimals), Project sources only. The
    /// contract reserves its NEAR value at the owner's `payment_rate` (micro-USD per NEAR) on top
    /// of the cost estimate; credited to the project owner on success minus what the guest
    /// refunds (`refund_usd`), refunded on failure.
    #[serde(default)]
    pub attached_usd: Option<U128>,
    /// OutLayer's bound-identity flag, passed on to workers as given.
    #[serde(default)]
    pub use_bound_identity: bool,
}

/// What a request holds besides [`PendingRequest`]'s stored record (state version 3, kept apart
/// so that records stored before keep their layout): the caller's source as given, the input
/// and the params.
#[near(serializers = [borsh])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestData {
    /// The source as the caller gave it (`code_source` of the events).
    pub code_source: ExecutionSource,
    /// The guest's stdin (empty when none).
    pub input_data: String,
    /// The request's params.
    pub params: RequestParams,
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
    /// The source as the caller gave it. Not part of the stored record (kept in
    /// `Contract::request_data` since state version 3); filled in by the views.
    #[borsh(skip)]
    #[serde(default)]
    pub code_source: Option<ExecutionSource>,
    /// The guest's stdin. Filled in by `get_request` (where workers read it); `None` in
    /// `list_pending_requests`, which stays small. Not part of the stored record.
    #[borsh(skip)]
    #[serde(default)]
    pub input_data: Option<String>,
    /// Whether the input was too large for the `execution_requested` event (OutLayer's rule:
    /// 10,000 bytes or more), which then carries `""`. Not part of the stored record.
    #[borsh(skip)]
    #[serde(default)]
    pub input_data_in_state: bool,
    /// The request's params (`compile_only`, `force_rebuild`, `attached_usd`, ...). Not part of
    /// the stored record.
    #[borsh(skip)]
    #[serde(default)]
    pub params: RequestParams,
}

/// The guest's output as carried in a response (OutLayer v0.1's `ExecutionOutput`, externally
/// tagged): `{"Bytes": [u8, ...]}`, `{"Text": "..."}` or `{"Json": value}`.
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecutionOutput {
    /// Raw stdout, as a JSON array of numbers.
    Bytes(Vec<u8>),
    /// UTF-8 stdout.
    Text(String),
    /// Parsed JSON stdout.
    Json(Value),
}

impl ExecutionOutput {
    /// The bytes held in storage when the output is too large for the resume payload.
    pub fn to_stored_bytes(&self) -> Vec<u8> {
        match self {
            Self::Bytes(b) => b.clone(),
            Self::Text(s) => s.as_bytes().to_vec(),
            Self::Json(v) => v.to_string().into_bytes(),
        }
    }

    /// Rebuilds an output from stored bytes in the request's format.
    pub fn from_stored_bytes(format: ResponseFormat, bytes: Vec<u8>) -> Result<Self, String> {
        match format {
            ResponseFormat::Bytes => Ok(Self::Bytes(bytes)),
            ResponseFormat::Text => String::from_utf8(bytes).map(Self::Text).map_err(|_| "Stored output is not valid UTF-8".to_string()),
            ResponseFormat::Json => {
                near_sdk::serde_json::from_slice(&bytes).map(Self::Json).map_err(|_| "Stored output is not valid JSON".to_string())
            }
        }
    }

    /// What the caller of `request_execution` receives (OutLayer v0.1): `Bytes` as a base64
    /// string, `Text` as a string, `Json` as the value.
    pub fn to_caller_value(&self) -> Value {
        match self {
            Self::Bytes(b) => Value::String(near_sdk::base64::Engine::encode(&near_sdk::base64::engine::general_purpose::STANDARD, b)),
            Self::Text(s) => Value::String(s.clone()),
            Self::Json(v) => v.clone(),
        }
    }
}

/// What a worker reports it used (OutLayer v0.1's `resources_used`).
#[near(serializers = [json])]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourcesUsed {
    /// Instructions executed.
    pub instructions: u64,
    /// Wall time, ms.
    pub time_ms: u64,
    /// Time the builder spent compiling a `GitHub` source, ms (0 or absent for a cache hit or
    /// another source); charged at `Pricing::compile_cost`, capped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compile_time_ms: Option<u64>,
}

/// What a worker reports for a request (the `response` argument of `resolve_execution`,
/// OutLayer v0.1's `ExecutionResponse`).
#[near(serializers = [json])]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecutionResponse {
    /// Whether the guest exited successfully within its limits.
    pub success: bool,
    /// The output; `None` on failure, or when `output_stored` is set.
    #[serde(default)]
    pub output: Option<ExecutionOutput>,
    /// Error message of a failed execution (guest stderr or host reason).
    #[serde(default)]
    pub error: Option<String>,
    /// What was used (what is charged).
    #[serde(default)]
    pub resources_used: ResourcesUsed,
    /// A note from the build of a `GitHub` source (e.g. a cache hit), passed on in
    /// `execution_completed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compilation_note: Option<String>,
    /// Part of the request's `attached_usd` the guest gave back (micro-USD), at most what was
    /// attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_usd: Option<u64>,
    /// Set by the contract in the resume payload when the output was moved to storage (see the
    /// README's large-output flow); workers leave it out.
    #[serde(default, skip_serializing_if = "is_false")]
    pub output_stored: bool,
    /// Set by the contract in the resume payload: the key that signed the resolution. Workers
    /// leave it out (a value sent is overwritten).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_public_key: Option<PublicKey>,
}

fn is_false(b: &bool) -> bool {
    !*b
}
