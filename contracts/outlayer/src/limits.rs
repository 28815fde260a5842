//! Named limits. Each one defends the contract or the workers against a hostile caller.

/// Instructions granted when the caller gives none (OutLayer v0.1 default).
pub const DEFAULT_MAX_INSTRUCTIONS: u64 = 1_000_000_000;
/// Highest instruction budget a request may ask for: bounds worker time and the estimate.
pub const MAX_INSTRUCTIONS_CAP: u64 = 500_000_000_000;
/// Memory granted when the caller gives none, in MB.
pub const DEFAULT_MAX_MEMORY_MB: u32 = 128;
/// Highest memory a request may ask for, in MB: workers reserve it per execution.
pub const MAX_MEMORY_MB_CAP: u32 = 512;
/// Wall time granted when the caller gives none, in seconds.
pub const DEFAULT_MAX_EXECUTION_SECONDS: u64 = 60;
/// Highest wall time a request may ask for: a yield times out after about 200 blocks.
pub const MAX_EXECUTION_SECONDS_CAP: u64 = 180;
/// Largest `input_data`, in bytes. Kept in state until settlement (`get_request`).
pub const MAX_INPUT_BYTES: usize = 64 * 1024;
/// OutLayer's rule: an input of this many bytes or more is not logged in `execution_requested`
/// (`input_data` is `""`, `input_data_in_state` true); workers read every input from state.
/// Below it, the `request_data` string (the input escaped twice) stays under NEAR's 16 KiB log
/// limit for text inputs; an input whose escaping would not fit is kept out of the event too.
pub const EVENT_INPUT_MAX_BYTES: usize = 10_000;
/// Most bytes an input may take in the `execution_requested` log once escaped twice (it is a
/// string inside the `request_data` string); above it the input is kept out of the event.
pub const EVENT_INPUT_MAX_ESCAPED_BYTES: usize = 12 * 1024;
/// yoctoNEAR in one NEAR.
pub const ONE_NEAR_YOCTO: u128 = 1_000_000_000_000_000_000_000_000;
/// Largest output a worker may return, in bytes: above the resume limit it is held in storage
/// (paid by the contract until settlement) and returned to the caller.
pub const MAX_OUTPUT_BYTES: usize = 32 * 1024;
/// NEAR's limit on a `promise_yield_resume` payload.
pub const MAX_RESUME_PAYLOAD_BYTES: usize = 1024;
/// Largest error message kept from a worker response.
pub const MAX_ERROR_BYTES: usize = 512;
/// Seconds after which a pending request may be cancelled by anyone, refunding the payer.
pub const DEFAULT_STALE_TIMEOUT_SECS: u64 = 15 * 60;
/// Largest ciphertext of one secrets record.
pub const MAX_SECRET_CIPHERTEXT_BYTES: usize = 16 * 1024;
/// Deepest nesting of an access condition tree.
pub const MAX_CONDITION_DEPTH: usize = 6;
/// Most nodes (leaves and operators) in an access condition tree.
pub const MAX_CONDITION_NODES: usize = 32;
/// Most accounts in one whitelist condition.
pub const MAX_WHITELIST_ACCOUNTS: usize = 100;
/// Most versions kept per project.
pub const MAX_VERSIONS_PER_PROJECT: usize = 64;
/// Most entries in a project's http allowlist (as the coordinator's project settings).
pub const MAX_HTTP_ALLOWLIST_ENTRIES: usize = 64;
/// Longest http allowlist entry, in bytes: a 253-byte host with a scheme, `*.` and a port fits.
pub const MAX_HTTP_ALLOWLIST_ENTRY_BYTES: usize = 300;
/// Smallest payment-key top-up (0.01 NEAR): keeps the coordinator's event stream meaningful.
pub const MIN_PAYMENT_KEY_TOP_UP_YOCTO: u128 = 10_000_000_000_000_000_000_000;
/// Gas reserved for `on_execution_resolved` when the yield is created.
pub const RESOLVE_CALLBACK_TGAS: u64 = 30;
/// Least gas `request_execution` must be called with (yield callback + own work).
pub const MIN_REQUEST_TGAS: u64 = 50;
