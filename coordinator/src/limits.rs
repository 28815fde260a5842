//! Every limit the coordinator enforces, with what it defends against.

/// Largest wasm upload (20 MiB): bounds database rows and worker downloads.
pub const MAX_WASM_BYTES: usize = 20 * 1024 * 1024;
/// Largest `POST /call` body: bounds memory per request before parsing.
pub const MAX_CALL_BODY_BYTES: usize = 1024 * 1024;
/// Largest call input (the JSON text of `input` given to the guest on stdin).
pub const MAX_INPUT_BYTES: usize = 512 * 1024;
/// Largest guest output a worker may report (decoded); larger results settle as
/// `output_too_large`.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// Largest `POST /workers/complete` body: the base64 output plus metadata, and the base64 write
/// set of the guest's storage writes (at most [`outlayer_storage::MAX_WRITE_SET_BYTES`] before
/// encoding).
pub const MAX_COMPLETE_BODY_BYTES: usize = 2 * MAX_OUTPUT_BYTES + 2 * outlayer_storage::MAX_WRITE_SET_BYTES;
/// Largest body of the small JSON endpoints (owners, projects, keys, workers).
pub const MAX_SMALL_BODY_BYTES: usize = 64 * 1024;
/// Largest `POST /workers/register` body: a hex TDX quote (~10 KB) with its collateral (CRLs,
/// certificate chains, TCB info: ~20 KB) and an event log fit many times over; bounds memory per
/// unauthenticated request.
pub const MAX_REGISTER_BODY_BYTES: usize = 256 * 1024;
/// Longest stderr tail kept with a failed call (bytes).
pub const MAX_STDERR_TAIL_BYTES: usize = 4 * 1024;
/// Largest amount (micro-USD) accepted in any field: 10^15 = one billion USD; keeps all ledger
/// arithmetic far from `i64` overflow.
pub const MAX_AMOUNT: u64 = 1_000_000_000_000_000;
/// Largest balance a key may hold (micro-USD, 4·10¹⁸ ≈ i64::MAX / 2): with `spent + reserved <=
/// balance` enforced, no ledger sum can overflow (SQLite would silently turn it into a float).
pub const MAX_BALANCE: i64 = 4_000_000_000_000_000_000;
/// Most heartbeated lease ids per request.
pub const MAX_HEARTBEAT_LEASES: usize = 256;

/// Per-call resource limits (defaults and caps) are the wire model's:
/// [`outlayer_protocol::limits`].
pub use outlayer_protocol::limits::{
    DEFAULT_MAX_EXECUTION_SECONDS, DEFAULT_MAX_INSTRUCTIONS, DEFAULT_MAX_MEMORY_MB, MAX_EXECUTION_SECONDS_CAP, MAX_INSTRUCTIONS_CAP,
    MAX_MEMORY_MB_CAP,
};

/// Owner and project names: 2..=64 chars of `[a-z0-9._-]` (NEAR account alphabet, no `:` or `/`
/// so keys `owner:nonce:secret` and paths `owner/name` stay unambiguous).
pub const MAX_NAME_LEN: usize = 64;

/// `true` if `bytes` start like a wasm module or component: the `\0asm` magic and a version
/// (8 bytes at least). The one upload check of the API and the dashboard.
pub fn looks_like_wasm(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes.starts_with(b"\0asm")
}

/// `true` if `name` is a valid owner / project name.
pub fn valid_name(name: &str) -> bool {
    (2..=MAX_NAME_LEN).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
}
