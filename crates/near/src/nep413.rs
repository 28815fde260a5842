//! NEP-413 signed messages (`signMessage` of NEAR wallets): what a wallet signs to prove it holds
//! a key of an account, off chain and without being a valid transaction.
//!
//! The signed bytes are `sha256(u32_le(2^31 + 413) ‖ borsh(payload))` where the payload is
//! `{message: String, nonce: [u8; 32], recipient: String, callback_url: Option<String>}` (borsh:
//! strings as `u32_le(len) ‖ utf8`, the nonce as its 32 raw bytes, the option as `0` or
//! `1 ‖ string`). The tag keeps a signed message from ever parsing as a transaction (NEP-461).
//! This is the layout of the NEP (github.com/near/NEPs `neps/nep-0413.md`), near-api-js
//! `verifyMessage` and near-cli-rs `sign-nep413`; the tests check a signature published with
//! near-api-js.
//!
//! ```
//! use outlayer_near::nep413::{Nep413Payload, parse_public_key, parse_signature};
//!
//! let payload = Nep413Payload {
//!     message: "log me in".into(),
//!     nonce: core::array::from_fn(|i| i as u8),
//!     recipient: "http://localhost:3000".into(),
//!     callback_url: None,
//! };
//! let key = parse_public_key("ed25519:AtH7GEjv2qmBVoT8qoRhWXizXM5CC12DC6tiqY9iNoRm").unwrap();
//! let sig = parse_signature(
//!     "IfModLa3g3czlyPhkg/LSkTFSy7XCGreStZJTDIO1m3viEnYFLdXfpz1gYUVKYv3W2vwcV77TmGEzc9y0Nz+AA==",
//! )
//! .unwrap();
//! payload.verify(&key, &sig).unwrap();
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use borsh::BorshSerialize;
use ed25519_dalek::{Signature as DalekSignature, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::tx::{PublicKey, SecretKey};

/// The borsh `u32` prefix of every NEP-413 message: 2^31 + 413 (an off-chain NEP-461 tag).
pub const NEP413_TAG: u32 = (1 << 31) + 413;

/// Length of a NEP-413 nonce.
pub const NONCE_LEN: usize = 32;

/// Why a NEP-413 message, key or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Nep413Error {
    /// The public key is not `ed25519:<base58 of 32 bytes>` of a valid curve point.
    #[error("invalid public key: {0}")]
    InvalidPublicKey(String),
    /// The signature is neither base64 nor (`ed25519:`) base58 of 64 bytes.
    #[error("invalid signature encoding: {0}")]
    InvalidSignatureEncoding(String),
    /// The nonce is not base64 of exactly 32 bytes.
    #[error("invalid nonce: {0}")]
    InvalidNonce(String),
    /// The signature does not verify for this payload and key.
    #[error("the signature does not match the message, nonce, recipient and key")]
    BadSignature,
}

/// The NEP-413 payload a wallet signs.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize)]
pub struct Nep413Payload {
    /// The text shown to the user and signed.
    pub message: String,
    /// 32 bytes chosen by the party that asks for the signature (replay protection).
    pub nonce: [u8; NONCE_LEN],
    /// Who the signature is for (an account id or an app name); a verifier refuses any other.
    pub recipient: String,
    /// Where a web wallet redirects afterwards; part of what is signed when present.
    pub callback_url: Option<String>,
}

impl Nep413Payload {
    /// The signed bytes before hashing: `u32_le(NEP413_TAG) ‖ borsh(self)`.
    pub fn to_signed_bytes(&self) -> Vec<u8> {
        let mut bytes = NEP413_TAG.to_le_bytes().to_vec();
        // Writing to a Vec cannot fail.
        self.serialize(&mut bytes).expect("borsh into a Vec");
        bytes
    }

    /// sha256 of [`Self::to_signed_bytes`]: what the ed25519 signature covers.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.to_signed_bytes()).into()
    }

    /// Checks that `signature` is `public_key`'s ed25519 signature over [`Self::hash`] (strict
    /// verification: no malleable or small-order forms).
    pub fn verify(&self, public_key: &VerifyingKey, signature: &[u8; 64]) -> Result<(), Nep413Error> {
        let signature = DalekSignature::from_bytes(signature);
        public_key.verify_strict(&self.hash(), &signature).map_err(|_| Nep413Error::BadSignature)
    }

    /// Signs the payload the way a wallet does (for clients such as `outlayer login`).
    pub fn sign(&self, key: &SecretKey) -> [u8; 64] {
        key.sign(&self.hash()).0
    }
}

/// Parses a NEAR public key `ed25519:<base58>` (a bare base58 string is read as ed25519).
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, Nep413Error> {
    let key: PublicKey = text.trim().parse().map_err(|e| Nep413Error::InvalidPublicKey(format!("{e}")))?;
    VerifyingKey::from_bytes(key.as_bytes()).map_err(|_| Nep413Error::InvalidPublicKey("not a valid ed25519 point".into()))
}

/// Parses a signature as wallets send it: standard base64 with padding (wallet-selector,
/// near-api-js), or `ed25519:<base58>` / bare base58 (near-cli-rs). Padded base64 of 64 bytes
/// ends in `==`, which base58 never contains, so the two cannot be confused.
pub fn parse_signature(text: &str) -> Result<[u8; 64], Nep413Error> {
    let text = text.trim();
    let bytes = if text.starts_with("ed25519:") { None } else { BASE64.decode(text).ok() };
    let bytes = match bytes {
        Some(bytes) => bytes,
        None => {
            let sig: crate::tx::Signature =
                text.parse().map_err(|e| Nep413Error::InvalidSignatureEncoding(format!("not base64, and as base58: {e}")))?;
            sig.0.to_vec()
        }
    };
    let len = bytes.len();
    bytes.try_into().map_err(|_| Nep413Error::InvalidSignatureEncoding(format!("a signature is 64 bytes, got {len}")))
}

/// Parses a base64 nonce of exactly 32 bytes.
pub fn parse_nonce(text: &str) -> Result<[u8; NONCE_LEN], Nep413Error> {
    let bytes = BASE64.decode(text.trim()).map_err(|e| Nep413Error::InvalidNonce(format!("not base64: {e}")))?;
    let len = bytes.len();
    bytes.try_into().map_err(|_| Nep413Error::InvalidNonce(format!("a nonce is 32 bytes, got {len}")))
}

/// Base64 (standard, padded) of a signature, the form wallets send.
pub fn encode_signature(signature: &[u8; 64]) -> String {
    BASE64.encode(signature)
}

/// Base64 (standard, padded) of a nonce.
pub fn encode_nonce(nonce: &[u8; NONCE_LEN]) -> String {
    BASE64.encode(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of near-api-js's NEP-413 documentation (`verifyMessage`, "log me in"): a
    /// signature a wallet produced for `alice.near` over message "log me in", recipient
    /// "http://localhost:3000", nonce = bytes 0..=31, no callback URL.
    const PUBLISHED_KEY: &str = "ed25519:AtH7GEjv2qmBVoT8qoRhWXizXM5CC12DC6tiqY9iNoRm";
    const PUBLISHED_SIG: &str = "IfModLa3g3czlyPhkg/LSkTFSy7XCGreStZJTDIO1m3viEnYFLdXfpz1gYUVKYv3W2vwcV77TmGEzc9y0Nz+AA==";

    fn published() -> Nep413Payload {
        Nep413Payload {
            message: "log me in".into(),
            nonce: core::array::from_fn(|i| i as u8),
            recipient: "http://localhost:3000".into(),
            callback_url: None,
        }
    }

    #[test]
    fn published_wallet_signature_verifies() {
        let key = parse_public_key(PUBLISHED_KEY).unwrap();
        let sig = parse_signature(PUBLISHED_SIG).unwrap();
        published().verify(&key, &sig).unwrap();
    }

    #[test]
    fn published_signature_fails_for_any_changed_field() {
        let key = parse_public_key(PUBLISHED_KEY).unwrap();
        let sig = parse_signature(PUBLISHED_SIG).unwrap();
        let mut changed = Vec::new();
        let mut p = published();
        p.message.push('!');
        changed.push(p);
        let mut p = published();
        p.nonce[31] ^= 1;
        changed.push(p);
        let mut p = published();
        p.recipient = "http://localhost:3001".into();
        changed.push(p);
        let mut p = published();
        p.callback_url = Some(String::new());
        changed.push(p);
        for p in changed {
            assert_eq!(p.verify(&key, &sig), Err(Nep413Error::BadSignature), "{p:?}");
        }
        let mut bad = sig;
        bad[0] ^= 1;
        assert_eq!(published().verify(&key, &bad), Err(Nep413Error::BadSignature));
    }

    #[test]
    fn own_signature_round_trips_and_binds_every_field() {
        let key = SecretKey::from_seed(&[7; 32]);
        let public = VerifyingKey::from_bytes(key.public_key().as_bytes()).unwrap();
        let payload = Nep413Payload {
            message: "Sign in to OutLayer".into(),
            nonce: [9; 32],
            recipient: "outlayer".into(),
            callback_url: Some("https://example.com/cb".into()),
        };
        let sig = payload.sign(&key);
        payload.verify(&public, &sig).unwrap();
        // base64 and base58 forms both parse back to the same bytes.
        assert_eq!(parse_signature(&encode_signature(&sig)).unwrap(), sig);
        assert_eq!(parse_signature(&crate::tx::Signature(sig).to_string()).unwrap(), sig);
        let mut p = payload.clone();
        p.callback_url = None;
        assert_eq!(p.verify(&public, &sig), Err(Nep413Error::BadSignature));
        let other = VerifyingKey::from_bytes(SecretKey::from_seed(&[8; 32]).public_key().as_bytes()).unwrap();
        assert_eq!(payload.verify(&other, &sig), Err(Nep413Error::BadSignature));
    }

    /// The signed bytes laid out by hand, and their sha256 computed independently with Python:
    ///
    /// ```text
    /// python3 -c 'import hashlib,struct; s=lambda t: struct.pack("<I",len(t))+t; \
    ///   b=struct.pack("<I",2**31+413)+s(b"log me in")+bytes(range(32))+s(b"http://localhost:3000")+b"\x00"; \
    ///   print(b.hex()); print(hashlib.sha256(b).hexdigest())'
    /// ```
    #[test]
    fn fixed_payload_bytes_and_hash() {
        let p = published();
        let mut expected = vec![0x9d, 0x01, 0x00, 0x80]; // 2^31 + 413 = 0x8000019d, little-endian
        expected.extend_from_slice(&[9, 0, 0, 0]);
        expected.extend_from_slice(b"log me in");
        expected.extend(0u8..32);
        expected.extend_from_slice(&[21, 0, 0, 0]);
        expected.extend_from_slice(b"http://localhost:3000");
        expected.push(0); // callback_url: None
        assert_eq!(p.to_signed_bytes(), expected);
        assert_eq!(hex::encode(p.hash()), FIXED_HASH_HEX);
    }

    const FIXED_HASH_HEX: &str = "d275f9dc48a99d56ae12ee5a7b1dae5d8f3552f3130ac611ab9b61497e5b8b24";

    #[test]
    fn parsing_refuses_malformed_input() {
        assert!(matches!(parse_public_key("secp256k1:abc"), Err(Nep413Error::InvalidPublicKey(_))));
        assert!(matches!(parse_public_key("ed25519:0OIl"), Err(Nep413Error::InvalidPublicKey(_))));
        assert!(matches!(parse_signature("AAAA"), Err(Nep413Error::InvalidSignatureEncoding(_))));
        assert!(matches!(parse_signature("not a signature!"), Err(Nep413Error::InvalidSignatureEncoding(_))));
        assert!(matches!(parse_nonce("AAAA"), Err(Nep413Error::InvalidNonce(_))));
        assert_eq!(parse_nonce(&encode_nonce(&[5; 32])).unwrap(), [5; 32]);
    }
}
