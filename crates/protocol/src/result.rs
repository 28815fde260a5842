//! What a worker observed ([`ExecutionResult`]) and its signed report ([`Completion`]).

use crate::job::Job;
use crate::outcome::Outcome;
use ed25519_dalek::SigningKey;
use outlayer_attest::receipt::{Receipt, SignedReceipt, sha256_hex};
use outlayer_storage::WriteSet;
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
    /// Outbound HTTP the guest made (requests, refusals, bytes), when it made any. Reported, not
    /// charged: it is not part of the signed receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<crate::http::HttpStats>,
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
            http: None,
        }
    }

    /// A job that did not run because it ended before the guest started with `outcome` (e.g.
    /// [`Outcome::AccessDenied`]): nothing consumed, the outcome's message as the log.
    pub fn not_run(outcome: Outcome) -> Self {
        let stderr_tail = outcome.message().map(str::to_owned);
        Self { outcome, stderr_tail, ..Self::rejected("") }
    }
}

/// Who signs a result: the id the job source registered the worker under and the sha256 (hex)
/// of the attestation evidence it registered with ([`outlayer_attest::evidence_digest`]). Both
/// are signed into every receipt, so a receipt names the attested worker that produced it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signer<'a> {
    /// [`crate::JobSource::worker_id`].
    pub worker_id: &'a str,
    /// [`crate::JobSource::attestation_sha256`].
    pub attestation_sha256: &'a str,
}

/// The receipt (v2) of `result` of `job` by `signer`: the one place that says which value goes
/// into which receipt field. The worker signs it; the coordinator recomputes it from its own copy
/// of the job (call id, project, wasm, input, limits), the registered worker and the reported
/// result, and checks the signature over that — never over fields the worker merely claims.
///
/// `project` is `owner/name` of `job.context.project` (empty without one); `input_sha256` covers
/// the exact input bytes (`job.input`), `output_sha256` the exact output bytes (`result.output`).
pub fn receipt_of(job: &Job, result: &ExecutionResult, signer: &Signer<'_>) -> Receipt {
    Receipt {
        call_id: job.call_id.clone(),
        project: job.context.project.as_ref().map(|p| format!("{}/{}", p.owner, p.name)).unwrap_or_default(),
        wasm_sha256: job.wasm_sha256.clone(),
        input_sha256: sha256_hex(job.input.as_bytes()),
        output_sha256: sha256_hex(&result.output),
        outcome: result.outcome.kind().to_owned(),
        instructions: result.instructions,
        wall_ms: result.wall_ms,
        peak_memory_bytes: result.peak_memory_bytes,
        refund: result.refund,
        max_instructions: job.limits.max_instructions,
        max_memory_mb: job.limits.max_memory_mb,
        max_execution_seconds: job.limits.max_execution_seconds,
        worker_id: signer.worker_id.to_owned(),
        attestation_sha256: signer.attestation_sha256.to_owned(),
    }
}

/// Body of `POST /workers/complete`: a result, the receipt the worker signed over it, and the
/// execution's storage writes, signed with the same key and bound to that receipt.
///
/// Guest storage writes take effect only with the settled result: the worker ran the guest over a
/// stage ([`outlayer_storage::StagedStorage`]) and sends what it wrote; the coordinator applies it
/// ([`outlayer_storage::StorageBackend::commit`]) under the call id when it accepts the result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Completion {
    /// Lease being completed.
    pub lease_id: String,
    /// Call being completed.
    pub call_id: String,
    /// The result.
    pub result: ExecutionResult,
    /// The receipt of `result` ([`receipt_of`]) signed by the worker's key.
    pub receipt: SignedReceipt,
    /// The guest's storage writes (ciphertexts under the project's storage key), empty when it
    /// wrote nothing.
    #[serde(default, skip_serializing_if = "WriteSet::is_empty")]
    pub writes: WriteSet,
    /// ed25519 signature, hex, by the receipt's key over [`writes_message`]; present whenever
    /// `writes` is not empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes_signature: Option<String>,
}

/// What a worker signs to vouch for the write set of a result: the write set's sha256 bound to
/// the call and to the receipt's signature (so a write set cannot be moved to another result).
pub fn writes_message(call_id: &str, receipt_signature: &str, writes: &WriteSet) -> Vec<u8> {
    let json = serde_json::to_vec(writes).unwrap_or_default();
    format!("outlayer-writes:v1:{call_id}:{receipt_signature}:{}", sha256_hex(&json)).into_bytes()
}

/// Why a completion's write set is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WritesError {
    /// Writes without a signature, or a signature that does not verify with the worker's key.
    #[error("the write set's signature is missing or does not verify with the worker's key")]
    BadSignature,
    /// The set is malformed (unsorted, repeated keys, empty scopes).
    #[error("malformed write set: {0}")]
    Malformed(String),
}

impl Completion {
    /// Builds the receipt of `result` of `job` ([`receipt_of`]) and signs it with `key`, once.
    pub fn sign(job: &Job, result: ExecutionResult, signer: &Signer<'_>, key: &SigningKey) -> Self {
        let receipt = receipt_of(job, &result, signer).sign(key);
        Self {
            lease_id: job.lease_id.clone(),
            call_id: job.call_id.clone(),
            result,
            receipt,
            writes: WriteSet::default(),
            writes_signature: None,
        }
    }

    /// The same completion carrying `writes`, signed with `key` (the key that signed the receipt).
    pub fn with_writes(mut self, writes: WriteSet, key: &SigningKey) -> Self {
        use ed25519_dalek::Signer as _;
        self.writes_signature = (!writes.is_empty())
            .then(|| hex::encode(key.sign(&writes_message(&self.call_id, &self.receipt.signature, &writes)).to_bytes()));
        self.writes = writes;
        self
    }

    /// Checks the write set: well formed and signed by `public_key_hex` (the worker's registered
    /// key). An empty set needs no signature.
    pub fn verify_writes(&self, public_key_hex: &str) -> Result<(), WritesError> {
        if self.writes.is_empty() {
            return Ok(());
        }
        self.writes.validate().map_err(|e| WritesError::Malformed(e.to_string()))?;
        let key = outlayer_attest::receipt::parse_public_key(public_key_hex).ok_or(WritesError::BadSignature)?;
        let signature = self.writes_signature.as_deref().ok_or(WritesError::BadSignature)?;
        let bytes: [u8; 64] = hex::decode(signature).ok().and_then(|b| b.try_into().ok()).ok_or(WritesError::BadSignature)?;
        let signature = ed25519_dalek::Signature::from_bytes(&bytes);
        key.verify_strict(&writes_message(&self.call_id, &self.receipt.signature, &self.writes), &signature)
            .map_err(|_| WritesError::BadSignature)
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
            http: None,
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

    #[test]
    fn the_receipt_covers_the_job_the_result_and_the_signer() {
        let job = Job {
            call_id: "c1".into(),
            lease_id: "l1".into(),
            lease_expires_at_ms: 0,
            wasm_sha256: "ab".into(),
            input: "\"in\"".into(),
            limits: crate::Limits::default(),
            max_output_bytes: 1024,
            grants: vec![],
            http_allowlist: vec![],
            attached_deposit: 0,
            context: crate::JobContext {
                project: Some(crate::ProjectRef { owner: "alice".into(), name: "echo".into(), id: "uuid".into() }),
                ..Default::default()
            },
            keys: None,
            settles_writes: false,
        };
        let result = ExecutionResult {
            outcome: Outcome::Ok,
            output: b"\"out\"".to_vec(),
            stderr_tail: None,
            instructions: 7,
            wall_ms: 3,
            peak_memory_bytes: 65536,
            refund: 5,
            http: None,
        };
        let key = SigningKey::from_bytes(&[7; 32]);
        let signer = Signer { worker_id: "w1", attestation_sha256: "ee" };
        let c = Completion::sign(&job, result.clone(), &signer, &key);
        c.receipt.verify().unwrap();
        let r = &c.receipt.receipt;
        assert_eq!((r.project.as_str(), r.worker_id.as_str(), r.attestation_sha256.as_str()), ("alice/echo", "w1", "ee"));
        assert_eq!(r.input_sha256, sha256_hex(b"\"in\""));
        assert_eq!(r.output_sha256, sha256_hex(b"\"out\""));
        assert_eq!((r.wall_ms, r.refund, r.max_execution_seconds), (3, 5, 60));
        // Recomputed by a verifier from its own job and the reported result: the same receipt.
        assert_eq!(receipt_of(&job, &c.result, &signer), *r);
        let forged = ExecutionResult { wall_ms: 39, ..result };
        assert!(receipt_of(&job, &forged, &signer).verify_signature(&c.receipt.public_key, &c.receipt.signature).is_err());
    }
}
