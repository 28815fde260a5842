//! The signed receipt (version 2): every field of a result that is charged or returned, signed by
//! the attested worker that produced it. Anyone holding the receipt, the worker's public key and
//! the input/output bytes can check it; nobody else's word is needed.
//!
//! # Digest
//!
//! The worker signs (ed25519) the 32-byte digest
//!
//! ```text
//! sha256("outlayer-receipt-v2\n" + for each field in the order below: name + "=" + value + "\n")
//! ```
//!
//! | field | value |
//! |---|---|
//! | `call_id` | the call (HTTPS) or request (on chain) id |
//! | `project` | `owner/name`, empty for a bare component |
//! | `wasm_sha256` | lowercase hex |
//! | `input_sha256` | lowercase hex sha256 of the exact input bytes the guest read |
//! | `output_sha256` | lowercase hex sha256 of the exact output bytes returned (`output_base64`) |
//! | `outcome` | the outcome kind (`ok`, `timeout`, ...) |
//! | `instructions` | decimal |
//! | `wall_ms` | decimal |
//! | `peak_memory_bytes` | decimal |
//! | `refund` | decimal, in the execution's currency |
//! | `max_instructions`, `max_memory_mb`, `max_execution_seconds` | decimal: the limits it ran under |
//! | `worker_id` | the id the verifier registered the worker under |
//! | `attestation_sha256` | lowercase hex sha256 of the worker's attestation evidence ([`crate::evidence_digest`]) |
//!
//! A value never contains `\n` (ids, names and hex are checked by [`Receipt::digest`]'s callers;
//! a field with a newline makes [`Receipt::check_fields`] fail), so the encoding is unambiguous.
//!
//! ```
//! use outlayer_attest::receipt::{Receipt, sha256_hex};
//! let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
//! let receipt = Receipt {
//!     call_id: "c1".into(), project: "alice/echo".into(), wasm_sha256: sha256_hex(b"wasm"),
//!     input_sha256: sha256_hex(b"\"hi\""), output_sha256: sha256_hex(b"\"hi\""), outcome: "ok".into(),
//!     instructions: 42, wall_ms: 1, peak_memory_bytes: 65536, refund: 0,
//!     max_instructions: 1_000_000_000, max_memory_mb: 128, max_execution_seconds: 60,
//!     worker_id: "w1".into(), attestation_sha256: sha256_hex(b"evidence"),
//! };
//! let signed = receipt.sign(&key);
//! assert!(signed.verify().is_ok());
//! let mut forged = signed.clone();
//! forged.receipt.wall_ms = 13;
//! assert_eq!(forged.verify().unwrap_err().to_string(), "the signature does not verify over these receipt fields");
//! ```

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Domain separator, versioned.
pub const RECEIPT_DOMAIN: &str = "outlayer-receipt-v2";

/// sha256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha256(bytes))
}

/// The fields a worker signs about one execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Call (HTTPS) or request (on chain) id.
    pub call_id: String,
    /// `owner/name`, empty for a bare component.
    pub project: String,
    /// Hex sha256 of the wasm that ran.
    pub wasm_sha256: String,
    /// Hex sha256 of the input bytes.
    pub input_sha256: String,
    /// Hex sha256 of the output bytes.
    pub output_sha256: String,
    /// Outcome kind.
    pub outcome: String,
    /// Instructions executed (what is billed).
    pub instructions: u64,
    /// Wall time in ms (what is billed).
    pub wall_ms: u64,
    /// Peak linear memory in bytes.
    pub peak_memory_bytes: u64,
    /// Deposit refunded by the guest, in the execution's currency (a decimal string in JSON).
    #[serde(with = "u128_text")]
    pub refund: u128,
    /// Instruction limit it ran under.
    pub max_instructions: u64,
    /// Memory limit (MiB) it ran under.
    pub max_memory_mb: u64,
    /// Wall-time limit (s) it ran under.
    pub max_execution_seconds: u64,
    /// The worker's id at the verifier that registered it.
    pub worker_id: String,
    /// Hex sha256 of the worker's attestation evidence.
    pub attestation_sha256: String,
}

/// A receipt with the worker's signature and public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedReceipt {
    /// The signed fields (inlined in JSON).
    #[serde(flatten)]
    pub receipt: Receipt,
    /// The digest, hex (informative: verification recomputes it).
    pub digest: String,
    /// ed25519 signature over the digest, hex.
    pub signature: String,
    /// The worker's ed25519 public key, hex.
    pub public_key: String,
}

/// Why a receipt does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// A field contains a newline (the encoding would be ambiguous).
    #[error("receipt field {0} contains a newline")]
    BadField(&'static str),
    /// The public key is not a 32-byte ed25519 key in hex.
    #[error("the public key is not a 32-byte ed25519 key in hex")]
    BadPublicKey,
    /// The signature is not 64 bytes of hex.
    #[error("the signature is not 64 bytes of hex")]
    BadSignature,
    /// The signature does not verify.
    #[error("the signature does not verify over these receipt fields")]
    SignatureMismatch,
}

impl Receipt {
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
            ("refund", self.refund.to_string()),
            ("max_instructions", self.max_instructions.to_string()),
            ("max_memory_mb", self.max_memory_mb.to_string()),
            ("max_execution_seconds", self.max_execution_seconds.to_string()),
            ("worker_id", self.worker_id.clone()),
            ("attestation_sha256", self.attestation_sha256.clone()),
        ]
    }

    /// Fails naming the first field that contains a newline.
    pub fn check_fields(&self) -> Result<(), ReceiptError> {
        match self.fields().into_iter().find(|(_, v)| v.contains('\n')) {
            Some((name, _)) => Err(ReceiptError::BadField(name)),
            None => Ok(()),
        }
    }

    /// The 32-byte digest the worker signs (see the module docs).
    pub fn digest(&self) -> [u8; 32] {
        let mut text = format!("{RECEIPT_DOMAIN}\n");
        for (name, value) in self.fields() {
            text.push_str(name);
            text.push('=');
            text.push_str(&value);
            text.push('\n');
        }
        sha256(text.as_bytes())
    }

    /// Signs the receipt with the worker's key.
    pub fn sign(self, key: &SigningKey) -> SignedReceipt {
        let digest = self.digest();
        SignedReceipt {
            digest: hex::encode(digest),
            signature: hex::encode(key.sign(&digest).to_bytes()),
            public_key: hex::encode(key.verifying_key().to_bytes()),
            receipt: self,
        }
    }

    /// Checks `signature_hex` by `public_key_hex` over this receipt.
    pub fn verify_signature(&self, public_key_hex: &str, signature_hex: &str) -> Result<(), ReceiptError> {
        self.check_fields()?;
        let key = parse_public_key(public_key_hex).ok_or(ReceiptError::BadPublicKey)?;
        let sig: [u8; 64] = hex::decode(signature_hex).ok().and_then(|b| b.try_into().ok()).ok_or(ReceiptError::BadSignature)?;
        key.verify(&self.digest(), &Signature::from_bytes(&sig)).map_err(|_| ReceiptError::SignatureMismatch)
    }
}

impl SignedReceipt {
    /// Checks the signature over the fields with the receipt's own public key (whether that key
    /// belongs to an attested worker is the attestation's question, not this one).
    pub fn verify(&self) -> Result<(), ReceiptError> {
        self.receipt.verify_signature(&self.public_key, &self.signature)
    }
}

/// Parses a hex ed25519 public key.
pub fn parse_public_key(hex_key: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(hex_key).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

mod u128_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(|_| serde::de::Error::custom(format!("{text:?} is not a decimal amount")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt() -> Receipt {
        Receipt {
            call_id: "c1".into(),
            project: "alice/echo".into(),
            wasm_sha256: sha256_hex(b"wasm"),
            input_sha256: sha256_hex(b"in"),
            output_sha256: sha256_hex(b"out"),
            outcome: "ok".into(),
            instructions: 42,
            wall_ms: 3,
            peak_memory_bytes: 65536,
            refund: 10u128.pow(24),
            max_instructions: 1_000_000_000,
            max_memory_mb: 128,
            max_execution_seconds: 60,
            worker_id: "w1".into(),
            attestation_sha256: sha256_hex(b"evidence"),
        }
    }

    #[test]
    fn every_field_is_covered_by_the_signature() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let signed = receipt().sign(&key);
        signed.verify().unwrap();
        let changes: Vec<fn(&mut Receipt)> = vec![
            |r| r.call_id.push('x'),
            |r| r.project.push('x'),
            |r| r.wasm_sha256 = sha256_hex(b"other"),
            |r| r.input_sha256 = sha256_hex(b"other"),
            |r| r.output_sha256 = sha256_hex(b"other"),
            |r| r.outcome = "trap".into(),
            |r| r.instructions += 1,
            |r| r.wall_ms += 1,
            |r| r.peak_memory_bytes += 1,
            |r| r.refund += 1,
            |r| r.max_instructions += 1,
            |r| r.max_memory_mb += 1,
            |r| r.max_execution_seconds += 1,
            |r| r.worker_id.push('x'),
            |r| r.attestation_sha256 = sha256_hex(b"other"),
        ];
        assert_eq!(changes.len(), receipt().fields().len());
        for change in changes {
            let mut forged = signed.clone();
            change(&mut forged.receipt);
            assert_eq!(forged.verify(), Err(ReceiptError::SignatureMismatch), "{forged:?}");
        }
        let other = SigningKey::from_bytes(&[8; 32]);
        let mut wrong_key = signed.clone();
        wrong_key.public_key = hex::encode(other.verifying_key().to_bytes());
        assert_eq!(wrong_key.verify(), Err(ReceiptError::SignatureMismatch));
        let mut bad = signed.clone();
        bad.signature = "00".into();
        assert_eq!(bad.verify(), Err(ReceiptError::BadSignature));
    }

    #[test]
    fn the_digest_is_the_documented_text_and_newlines_are_refused() {
        let r = receipt();
        let mut text = String::from("outlayer-receipt-v2\n");
        for (name, value) in r.fields() {
            text += &format!("{name}={value}\n");
        }
        assert_eq!(r.digest(), sha256(text.as_bytes()));
        let key = SigningKey::from_bytes(&[7; 32]);
        let mut signed = Receipt { project: "a\nb".into(), ..receipt() }.sign(&key);
        assert_eq!(signed.verify(), Err(ReceiptError::BadField("project")));
        signed.receipt.project = "ab".into();
        assert_eq!(signed.verify(), Err(ReceiptError::SignatureMismatch));
    }

    #[test]
    fn json_keeps_amounts_as_text_and_round_trips() {
        let signed = receipt().sign(&SigningKey::from_bytes(&[7; 32]));
        let json = serde_json::to_value(&signed).unwrap();
        assert_eq!(json["refund"], "1000000000000000000000000");
        assert_eq!(json["call_id"], "c1");
        assert_eq!(serde_json::from_value::<SignedReceipt>(json).unwrap(), signed);
    }
}
