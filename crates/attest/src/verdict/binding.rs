//! Layer 3, binding: is this receipt, with these payloads, signed by the key the attested TD
//! holds?
//!
//! Checks:
//! - `report_data key`: `report_data[0..32]` is the attested worker's public key.
//! - `report_data challenge`: `report_data[32..64]` is the digest of the recorded challenge
//!   (UNPROVEN when no challenge was recorded).
//! - `receipt key`, `receipt worker_id`, `receipt attestation_sha256`: the receipt names the
//!   attested key, worker and evidence (sha256 of this evidence).
//! - `receipt signature`: ed25519 by the receipt's key over the digest of every field, recomputed
//!   here (a changed field is told apart from a bad signature: the signed digest still verifies).
//! - `call_id`, `project`: the receipt is about the call the caller asked about (when known).
//! - `input_sha256`, `output_sha256`: sha256 of the bytes the caller kept (UNPROVEN when not
//!   given).

use super::claims::Claims;
use super::{Check, Layer, Status, Subject};
use crate::evidence::evidence_digest;
use crate::receipt::{ReceiptError, SignedReceipt, parse_public_key, sha256_hex};

/// The layer's name.
pub const NAME: &str = "binding";

/// Runs the checks of this layer.
pub fn layer(subject: &Subject<'_>, claims: &Result<Claims, String>) -> Layer {
    let (receipt, worker) = (subject.receipt, subject.worker);
    let attested_key = worker.public_key.to_ascii_lowercase();
    let mut checks = Vec::new();

    match claims {
        Ok(claims) => {
            checks.push(Check::compare(
                "report_data key",
                &attested_key,
                hex::encode(&claims.report_data[..32]),
                "report_data[0..32] is not the attested worker key",
            ));
            match &worker.challenge {
                Some(challenge) => checks.push(Check::compare(
                    "report_data challenge",
                    hex::encode(challenge.digest()),
                    hex::encode(&claims.report_data[32..]),
                    &format!(
                        "report_data[32..64] is not the digest of the recorded challenge (nonce {}, issued {}, expires {})",
                        hex::encode(challenge.nonce),
                        challenge.issued_at,
                        challenge.expires_at
                    ),
                )),
                None => checks.push(Check::new(
                    "report_data challenge",
                    Status::Unproven,
                    "the recorded challenge's digest",
                    hex::encode(&claims.report_data[32..]),
                    "no challenge was recorded with the attestation",
                )),
            }
        }
        Err(reason) => checks.push(Check::new("report_data key", Status::Unproven, &attested_key, "unreadable", reason.clone())),
    }

    checks.push(Check::compare(
        "receipt key",
        &attested_key,
        receipt.public_key.to_ascii_lowercase(),
        "the receipt is signed by a key that is not the attested worker's",
    ));
    checks.push(Check::compare("receipt worker_id", &worker.worker_id, &receipt.receipt.worker_id, "the receipt names another worker"));
    checks.push(Check::compare(
        "receipt attestation_sha256",
        hex::encode(evidence_digest(&worker.evidence)),
        &receipt.receipt.attestation_sha256,
        "the receipt names other attestation evidence than this worker's",
    ));
    checks.push(signature(subject));

    if let Some(call_id) = subject.call_id {
        checks.push(Check::compare("call_id", call_id, &receipt.receipt.call_id, "the receipt is about another call"));
    }
    if let Some(project) = subject.project {
        checks.push(Check::compare("project", project, &receipt.receipt.project, "the receipt is about another project"));
    }
    checks.push(payload("input_sha256", subject.input, &receipt.receipt.input_sha256, "input"));
    checks.push(payload("output_sha256", subject.output, &receipt.receipt.output_sha256, "output"));
    Layer::new(NAME, checks)
}

fn signature(subject: &Subject<'_>) -> Check {
    receipt_signature(subject.receipt)
}

/// `receipt signature`: ed25519 by the receipt's own key over the digest of every field,
/// recomputed (a field changed after signing is told apart from a bad signature). Whether that
/// key is an attested one is for the caller to check (the on-chain path compares it with the
/// transaction's signer key).
pub fn receipt_signature(signed: &SignedReceipt) -> Check {
    let recomputed = hex::encode(signed.receipt.digest());
    let expected = format!("ed25519 signature by {} over the digest of every field, {recomputed}", signed.public_key);
    let found = format!("signature {} (digest stated in the receipt {})", signed.signature, signed.digest);
    let reason = match signed.verify() {
        Ok(()) => return Check::new("receipt signature", Status::Pass, expected, found, ""),
        Err(ReceiptError::SignatureMismatch) if signs_stated_digest(signed) => format!(
            "the signature is valid over the stated digest {}, but the receipt's fields hash to {recomputed}: a field was changed after signing",
            signed.digest
        ),
        Err(e) => e.to_string(),
    };
    Check::new("receipt signature", Status::Fail, expected, found, reason)
}

/// Whether the signature verifies over the digest the receipt states (not recomputed).
fn signs_stated_digest(signed: &SignedReceipt) -> bool {
    use ed25519_dalek::{Signature, Verifier};
    let (Some(key), Ok(digest), Ok(sig)) =
        (parse_public_key(&signed.public_key), hex::decode(&signed.digest), hex::decode(&signed.signature))
    else {
        return false;
    };
    let Ok(sig) = <[u8; 64]>::try_from(sig.as_slice()) else { return false };
    key.verify(&digest, &Signature::from_bytes(&sig)).is_ok()
}

/// `name` (`input_sha256` / `output_sha256`): sha256 of `bytes` against the receipt's `stated`
/// digest (UNPROVEN when the bytes were not given); `what` is `input` or `output`.
pub fn payload(name: &str, bytes: Option<&[u8]>, stated: &str, what: &str) -> Check {
    match bytes {
        Some(bytes) => Check::compare(
            name,
            sha256_hex(bytes),
            stated.to_ascii_lowercase(),
            &format!("the {what} bytes the caller kept ({} bytes) are not the ones the receipt signs", bytes.len()),
        ),
        None => Check::new(
            name,
            Status::Unproven,
            format!("sha256 of the caller's {what} bytes"),
            stated,
            format!("the {what} bytes were not given"),
        ),
    }
}
