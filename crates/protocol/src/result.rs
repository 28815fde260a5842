//! What a worker observed ([`ExecutionResult`]) and its signed report ([`Completion`]).

use crate::job::Job;
use crate::outcome::Outcome;
use crate::receipt::{ReceiptFields, sha256};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

/// What the worker observed. Inside a process the output stays bytes; on the wire it is base64.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExecutionResult {
    /// How it ended (`outcome` and its details, inlined).
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Exact stdout bytes (empty unless the outcome is `ok`).
    #[serde(with = "crate::bytes_b64")]
    pub output: Vec<u8>,
    /// Last bytes of stderr (a log; shown as the error message of failed calls).
    #[serde(default)]
    pub stderr_tail: Option<String>,
    /// Instructions executed.
    pub instructions: u64,
    /// Wall time in ms.
    pub wall_ms: u64,
    /// Peak linear memory.
    #[serde(default)]
    pub peak_memory_bytes: u64,
    /// Part of the attached deposit the guest refunded, in the job's currency.
    #[serde(default, with = "crate::u128_str")]
    pub refund: u128,
}

impl ExecutionResult {
    /// A result for a job that could not be run at all (bad wasm, bad limits): a trap with
    /// `message`, nothing consumed.
    pub fn rejected(message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            outcome: Outcome::Trap { message: message.clone() },
            output: Vec::new(),
            stderr_tail: Some(message),
            instructions: 0,
            wall_ms: 0,
            peak_memory_bytes: 0,
            refund: 0,
        }
    }
}

/// Body of `POST /workers/complete`: a result and the worker's signature over its receipt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Completion {
    /// Lease being completed.
    pub lease_id: String,
    /// Call being completed.
    pub call_id: String,
    /// The result.
    pub result: ExecutionResult,
    /// ed25519 signature (hex) over the receipt digest ([`ReceiptFields::digest`]).
    pub signature: String,
}

impl Completion {
    /// Signs `result` of `job` with `key`: hashes the input and the output once each.
    pub fn sign(job: &Job, result: ExecutionResult, key: &SigningKey) -> Self {
        let fields = ReceiptFields {
            call_id: &job.call_id,
            wasm_sha256: &job.wasm_sha256,
            input_sha256: sha256(job.input.as_bytes()),
            output_sha256: sha256(&result.output),
            instructions: result.instructions,
            outcome: result.outcome.kind(),
        };
        Self { lease_id: job.lease_id.clone(), call_id: job.call_id.clone(), signature: fields.sign(key), result }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_base64_on_the_wire_and_the_outcome_is_inlined() {
        let r = ExecutionResult {
            outcome: Outcome::Exit { code: 2 },
            output: b"\"hi\"".to_vec(),
            stderr_tail: None,
            instructions: 7,
            wall_ms: 1,
            peak_memory_bytes: 65536,
            refund: 10u128.pow(24),
        };
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["outcome"], "exit");
        assert_eq!(json["code"], 2);
        assert_eq!(json["output"], "ImhpIg==");
        assert_eq!(json["refund"], "1000000000000000000000000");
        assert_eq!(serde_json::from_value::<ExecutionResult>(json).unwrap(), r);
        let bad = serde_json::json!({"outcome": "ok", "output": "%%", "instructions": 1, "wall_ms": 1});
        assert!(serde_json::from_value::<ExecutionResult>(bad).unwrap_err().to_string().contains("base64"));
    }
}
