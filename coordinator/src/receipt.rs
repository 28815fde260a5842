//! The signed receipt: what a worker signs when it completes a job, and how it is checked.
//!
//! Message (a 32-byte digest; the ed25519 signature is over these 32 bytes):
//!
//! ```text
//! sha256("outlayer-receipt-v1\n" + call_id + "\n" + wasm_sha256 + "\n"
//!        + hex(sha256(input)) + "\n" + hex(sha256(output)) + "\n"
//!        + decimal(instructions) + "\n" + outcome)
//! ```
//!
//! `input` is the exact stdin bytes from the job, `output` the exact stdout bytes reported,
//! `outcome` the wire name (`ok`, `out-of-instructions`, ...), hashes lowercase hex.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::model::Outcome;

/// Domain separator, versioned.
pub const RECEIPT_DOMAIN: &str = "outlayer-receipt-v1";

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The digest a worker signs for a result.
pub fn receipt_digest(call_id: &str, wasm_sha256: &str, input: &[u8], output: &[u8], instructions: u64, outcome: Outcome) -> [u8; 32] {
    let text = format!(
        "{RECEIPT_DOMAIN}\n{call_id}\n{wasm_sha256}\n{}\n{}\n{instructions}\n{}",
        sha256_hex(input),
        sha256_hex(output),
        outcome.as_str()
    );
    Sha256::digest(text.as_bytes()).into()
}

/// Signs a digest; returns the signature as hex.
pub fn sign_digest(key: &SigningKey, digest: &[u8; 32]) -> String {
    hex::encode(key.sign(digest).to_bytes())
}

/// Parses a hex ed25519 public key.
pub fn parse_public_key(hex_key: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(hex_key).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// `true` if `signature_hex` is `public_key_hex`'s signature of `digest`.
pub fn verify_digest(public_key_hex: &str, digest: &[u8; 32], signature_hex: &str) -> bool {
    let Some(key) = parse_public_key(public_key_hex) else { return false };
    let Some(sig) = hex::decode(signature_hex).ok().and_then(|b| <[u8; 64]>::try_from(b).ok()) else { return false };
    key.verify(digest, &Signature::from_bytes(&sig)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_verifies_and_any_changed_field_breaks_it() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let public = hex::encode(key.verifying_key().to_bytes());
        let digest = receipt_digest("c1", "ab", b"\"in\"", b"\"out\"", 42, Outcome::Ok);
        let sig = sign_digest(&key, &digest);
        assert!(verify_digest(&public, &digest, &sig));
        let other = receipt_digest("c1", "ab", b"\"in\"", b"\"out!\"", 42, Outcome::Ok);
        assert!(!verify_digest(&public, &other, &sig));
        let other = receipt_digest("c1", "ab", b"\"in\"", b"\"out\"", 43, Outcome::Ok);
        assert!(!verify_digest(&public, &other, &sig));
        assert!(!verify_digest(&public, &digest, "00"));
        assert!(!verify_digest("zz", &digest, &sig));
    }
}
