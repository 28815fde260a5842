//! The worker's signed receipt (version 2) on chain: the optional `receipt` argument of
//! `resolve_execution`, checked here and emitted in the `execution_resolved` event.
//!
//! The JSON is `outlayer_attest::receipt::SignedReceipt` as is (the fields flattened, then
//! `digest`, `signature` and `public_key`, all hex): the same object the HTTPS path returns, so
//! one verifier handles both. The digest is recomputed here with the `sha256` host function
//! (cheaper in gas and wasm size than `outlayer-attest`'s wasm sha256; the unit tests check both
//! give the same digest for the same fields):
//!
//! ```text
//! sha256("outlayer-receipt-v2\n" + for each field in order: name + "=" + value + "\n")
//! ```
//!
//! [`SignedReceipt::check`] refuses a receipt unless
//! 1. no field contains a newline, `digest` is the recomputed digest and `signature` verifies
//!    over it (`ed25519_verify`) with `public_key`;
//! 2. `public_key` is the key the resolving transaction is signed with (a registered worker key);
//! 3. it is about this request: `call_id` is the request id, `wasm_sha256` and the three limits
//!    are the request's;
//! 4. it says what the response says: `instructions` and `wall_ms` are what is charged; on
//!    success the outcome is `ok`, `output_sha256` is the sha256 of the output bytes and
//!    `refund` (yoctoNEAR of the developer payment) is the response's `refund_usd` as the same
//!    share of `attached_usd`, rounded down. A failed response may carry an `ok` receipt (the output
//!    was not in the requested format); its output is not stored, so its hash is not compared.

use near_sdk::json_types::U128;
use near_sdk::{CurveType, PublicKey, env, near};

use crate::types::{ExecutionOutput, ExecutionResponse, PendingRequest};

/// Domain separator of the receipt digest, versioned (`outlayer_attest::receipt::RECEIPT_DOMAIN`).
pub const RECEIPT_DOMAIN: &str = "outlayer-receipt-v2";

/// A worker's signed receipt, `outlayer_attest::receipt::SignedReceipt` in JSON.
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedReceipt {
    /// The request id, in decimal.
    pub call_id: String,
    /// `owner/name`, empty for a bare component.
    pub project: String,
    /// Hex sha256 of the wasm that ran.
    pub wasm_sha256: String,
    /// Hex sha256 of the input bytes.
    pub input_sha256: String,
    /// Hex sha256 of the output bytes.
    pub output_sha256: String,
    /// Outcome kind (`ok`, `timeout`, `out-of-instructions`, ...).
    pub outcome: String,
    /// Instructions executed (charged).
    pub instructions: u64,
    /// Wall time, ms (charged).
    pub wall_ms: u64,
    /// Peak linear memory, bytes.
    pub peak_memory_bytes: u64,
    /// Part of the developer payment the guest refunded, yoctoNEAR.
    pub refund: U128,
    /// Instruction limit it ran under.
    pub max_instructions: u64,
    /// Memory limit (MiB) it ran under.
    pub max_memory_mb: u64,
    /// Wall-time limit (s) it ran under.
    pub max_execution_seconds: u64,
    /// The worker's id.
    pub worker_id: String,
    /// Hex sha256 of the worker's attestation evidence.
    pub attestation_sha256: String,
    /// Hex of the digest.
    pub digest: String,
    /// Hex ed25519 signature over the digest.
    pub signature: String,
    /// Hex ed25519 public key (32 bytes).
    pub public_key: String,
}

impl SignedReceipt {
    fn fields(&self) -> [(&'static str, String); 15] {
        [
            ("call_id", self.call_id.clone()),
            ("project", self.project.clone()),
            ("wasm_sha256", self.wasm_sha256.clone()),
            ("input_sha256", self.input_sha256.clone()),
            ("output_sha256", self.output_sha256.clone()),
            ("outcome", self.outcome.clone()),
            ("instructions", self.instructions.to_string()),
            ("wall_ms", self.wall_ms.to_string()),
            ("peak_memory_bytes", self.peak_memory_bytes.to_string()),
            ("refund", self.refund.0.to_string()),
            ("max_instructions", self.max_instructions.to_string()),
            ("max_memory_mb", self.max_memory_mb.to_string()),
            ("max_execution_seconds", self.max_execution_seconds.to_string()),
            ("worker_id", self.worker_id.clone()),
            ("attestation_sha256", self.attestation_sha256.clone()),
        ]
    }

    /// The digest of the fields, or the name of the first field holding a newline.
    pub fn digest(&self) -> Result<[u8; 32], &'static str> {
        let mut text = String::with_capacity(768);
        text.push_str(RECEIPT_DOMAIN);
        text.push('\n');
        for (name, value) in self.fields() {
            if value.contains('\n') {
                return Err(name);
            }
            text.push_str(name);
            text.push('=');
            text.push_str(&value);
            text.push('\n');
        }
        Ok(env::sha256_array(text.as_bytes()))
    }

    /// Panics with `Receipt refused: <reason>` unless the receipt checks out for `request`,
    /// `response` and the transaction's `signer` key (see the module docs).
    pub(crate) fn check(&self, request: &PendingRequest, attached_usd: u128, response: &ExecutionResponse, signer: &PublicKey) {
        let digest = self.digest().unwrap_or_else(|field| refuse(&format!("field {field} contains a newline")));
        if decode_hex::<32>(&self.digest) != Some(digest) {
            refuse("digest is not the sha256 of its fields");
        }
        let key = decode_hex::<32>(&self.public_key).unwrap_or_else(|| refuse("public_key is not 32 bytes of hex"));
        let signature = decode_hex::<64>(&self.signature).unwrap_or_else(|| refuse("signature is not 64 bytes of hex"));
        if !env::ed25519_verify(&signature, digest, &key) {
            refuse("the signature does not verify over its fields");
        }
        if signer.curve_type() != CurveType::ED25519 || signer.as_bytes()[1..] != key {
            refuse("public_key is not the key the resolution is signed with");
        }
        self.expect("call_id", &self.call_id, &request.request_id.to_string());
        if crate::github::is_git(&request.source) {
            // Built from git: the hash is the builder's; the receipt names what ran.
            if decode_hex::<32>(&self.wasm_sha256).is_none() {
                refuse("wasm_sha256 is not 32 bytes of hex");
            }
        } else {
            self.expect("wasm_sha256", &self.wasm_sha256, &request.source.wasm_sha256);
        }
        self.expect("max_instructions", &self.max_instructions, &request.limits.max_instructions);
        self.expect("max_memory_mb", &self.max_memory_mb, &u64::from(request.limits.max_memory_mb));
        self.expect("max_execution_seconds", &self.max_execution_seconds, &request.limits.max_execution_seconds);
        self.expect("instructions", &self.instructions, &response.resources_used.instructions);
        self.expect("wall_ms", &self.wall_ms, &response.resources_used.time_ms);
        if response.success {
            self.expect("outcome", &self.outcome.as_str(), &"ok");
            let bytes = match &response.output {
                Some(ExecutionOutput::Json(_)) => refuse("JSON output must be sent as Text (the exact stdout) with a receipt"),
                Some(output) => output.to_stored_bytes(),
                None => Vec::new(),
            };
            self.expect("output_sha256", &self.output_sha256, &encode_hex(&env::sha256_array(&bytes)));
            // The host signs the refund in yoctoNEAR (out of the developer payment); the response
            // says the same share of `attached_usd` (rounded down).
            let developer = request.developer_payment.as_yoctonear();
            let share = if developer == 0 {
                0
            } else {
                self.refund.0.min(developer).checked_mul(attached_usd).map_or(attached_usd, |p| p / developer)
            };
            let said = u128::from(response.refund_usd.unwrap_or(0));
            if share != said {
                refuse(&format!("refund is {} yoctoNEAR ({share} micro-USD), the resolution says {said}", self.refund.0));
            }
        }
    }

    fn expect<T: PartialEq + std::fmt::Display + ?Sized>(&self, field: &str, receipt: &T, response: &T) {
        if receipt != response {
            refuse(&format!("{field} is {receipt}, the resolution says {response}"));
        }
    }
}

fn refuse(reason: &str) -> ! {
    env::panic_str(&format!("Receipt refused: {reason}"))
}

/// Lowercase hex of `bytes`.
pub fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        text.push(DIGITS[usize::from(b >> 4)] as char);
        text.push(DIGITS[usize::from(b & 15)] as char);
    }
    text
}

/// Exactly `N` bytes from hex (either case), or `None`.
pub fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.as_bytes();
    if text.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; N];
    for (i, pair) in text.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}
