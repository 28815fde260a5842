//! The signed receipt: what a worker signs when it reports a result, and how anyone checks it.
//!
//! Message (a 32-byte digest; the ed25519 signature is over these 32 bytes):
//!
//! ```text
//! sha256("outlayer-receipt-v1\n" + call_id + "\n" + wasm_sha256 + "\n"
//!        + hex(sha256(input)) + "\n" + hex(sha256(output)) + "\n"
//!        + decimal(instructions) + "\n" + outcome)
//! ```
//!
//! `input` is the exact input bytes of the job, `output` the exact stdout bytes reported,
//! `outcome` the kind (`ok`, `out-of-instructions`, ...), hashes lowercase hex.
//!
//! ```
//! use outlayer_protocol::receipt::{ReceiptFields, sha256};
//! let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
//! let fields = ReceiptFields { call_id: "c1", wasm_sha256: "ab", input_sha256: sha256(b"1"),
//!     output_sha256: sha256(b"2"), instructions: 42, outcome: "ok" };
//! let signature = fields.sign(&key);
//! let public = hex::encode(key.verifying_key().to_bytes());
//! assert!(fields.verify(&public, &signature));
//! ```

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

/// Domain separator, versioned.
pub const RECEIPT_DOMAIN: &str = "outlayer-receipt-v1";

/// sha256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha256(bytes))
}

/// The fields a receipt signs. Input and output enter as their digests, so each is hashed once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptFields<'a> {
    /// Call id.
    pub call_id: &'a str,
    /// Hex sha256 of the wasm that ran.
    pub wasm_sha256: &'a str,
    /// sha256 of the input bytes.
    pub input_sha256: [u8; 32],
    /// sha256 of the output bytes.
    pub output_sha256: [u8; 32],
    /// Instructions executed.
    pub instructions: u64,
    /// Outcome kind.
    pub outcome: &'a str,
}

impl ReceiptFields<'_> {
    /// The 32-byte digest the worker signs.
    pub fn digest(&self) -> [u8; 32] {
        let text = format!(
            "{RECEIPT_DOMAIN}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.call_id,
            self.wasm_sha256,
            hex::encode(self.input_sha256),
            hex::encode(self.output_sha256),
            self.instructions,
            self.outcome
        );
        sha256(text.as_bytes())
    }

    /// Signs the digest; returns the signature as hex.
    pub fn sign(&self, key: &SigningKey) -> String {
        hex::encode(key.sign(&self.digest()).to_bytes())
    }

    /// `true` if `signature_hex` is `public_key_hex`'s signature of the digest.
    pub fn verify(&self, public_key_hex: &str, signature_hex: &str) -> bool {
        let Some(key) = parse_public_key(public_key_hex) else { return false };
        let Some(sig) = hex::decode(signature_hex).ok().and_then(|b| <[u8; 64]>::try_from(b).ok()) else { return false };
        key.verify(&self.digest(), &Signature::from_bytes(&sig)).is_ok()
    }
}

/// Parses a hex ed25519 public key.
pub fn parse_public_key(hex_key: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(hex_key).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_verifies_and_any_changed_field_breaks_it() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let public = hex::encode(key.verifying_key().to_bytes());
        let fields = ReceiptFields {
            call_id: "c1",
            wasm_sha256: "ab",
            input_sha256: sha256(b"\"in\""),
            output_sha256: sha256(b"\"out\""),
            instructions: 42,
            outcome: "ok",
        };
        let sig = fields.sign(&key);
        assert!(fields.verify(&public, &sig));
        assert!(!ReceiptFields { output_sha256: sha256(b"\"out!\""), ..fields }.verify(&public, &sig));
        assert!(!ReceiptFields { instructions: 43, ..fields }.verify(&public, &sig));
        assert!(!ReceiptFields { outcome: "trap", ..fields }.verify(&public, &sig));
        assert!(!fields.verify(&public, "00"));
        assert!(!fields.verify("zz", &sig));
    }

    #[test]
    fn the_digest_is_the_documented_text() {
        let fields = ReceiptFields {
            call_id: "c1",
            wasm_sha256: "ab",
            input_sha256: sha256(b"i"),
            output_sha256: sha256(b"o"),
            instructions: 5,
            outcome: "ok",
        };
        let text = format!("outlayer-receipt-v1\nc1\nab\n{}\n{}\n5\nok", sha256_hex(b"i"), sha256_hex(b"o"));
        assert_eq!(fields.digest(), sha256(text.as_bytes()));
    }
}
