//! The binding format: what a worker puts in the 64 bytes of TDX `report_data`.
//!
//! Version 1 (`outlayer-attest-binding-v1`):
//!
//! | bytes    | content                                                                   |
//! |----------|---------------------------------------------------------------------------|
//! | `0..32`  | the worker's raw ed25519 public key (what the NEAR contracts check)        |
//! | `32..64` | `sha256("outlayer-attest-binding-v1\n" ‖ challenge bytes)`                |
//!
//! Challenge bytes are [`Challenge::to_bytes`]: the verifier's 32-byte nonce, then the issue and
//! expiry times as big-endian u64 unix seconds (48 bytes). Binding the times stops a worker from
//! stretching a challenge's life; binding the nonce stops replay of an older quote.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::AttestError;
use crate::verified::VerifiedQuote;

/// Domain separator of binding version 1 (hashed before the challenge bytes).
pub const BINDING_DOMAIN_V1: &[u8] = b"outlayer-attest-binding-v1\n";

/// A fresh challenge issued by a verifier; the worker must bind it into its quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Challenge {
    /// 32 random bytes chosen by the verifier (hex in JSON).
    #[serde(with = "crate::hex_serde::array")]
    pub nonce: [u8; 32],
    /// When the verifier issued it (unix seconds).
    pub issued_at: u64,
    /// After this time (unix seconds) the challenge is refused.
    pub expires_at: u64,
}

impl Challenge {
    /// A challenge issued at `issued_at` that lives `ttl_secs`.
    pub fn new(nonce: [u8; 32], issued_at: u64, ttl_secs: u64) -> Self {
        Self { nonce, issued_at, expires_at: issued_at.saturating_add(ttl_secs) }
    }

    /// The bytes that are hashed into `report_data[32..64]`: nonce ‖ issued_at ‖ expires_at.
    pub fn to_bytes(&self) -> [u8; 48] {
        let mut out = [0u8; 48];
        out[..32].copy_from_slice(&self.nonce);
        out[32..40].copy_from_slice(&self.issued_at.to_be_bytes());
        out[40..].copy_from_slice(&self.expires_at.to_be_bytes());
        out
    }

    /// `Err(ChallengeExpired)` unless `issued_at <= now_secs <= expires_at`.
    pub fn check_fresh(&self, now_secs: u64) -> Result<(), AttestError> {
        if now_secs < self.issued_at || now_secs > self.expires_at {
            return Err(AttestError::ChallengeExpired { issued_at: self.issued_at, expires_at: self.expires_at, now: now_secs });
        }
        Ok(())
    }

    /// `sha256(BINDING_DOMAIN_V1 ‖ self.to_bytes())`, the second half of `report_data`.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(BINDING_DOMAIN_V1);
        h.update(self.to_bytes());
        h.finalize().into()
    }
}

/// The 64 bytes of `report_data` a worker asks its TEE to sign (binding version 1).
pub fn report_data(public_key: &[u8; 32], challenge: &Challenge) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(public_key);
    out[32..].copy_from_slice(&challenge.digest());
    out
}

/// Checks only the key half, `report_data[0..32] == public_key` (what the contracts check: they
/// have no verifier challenge).
pub fn check_key_binding(report_data: &[u8; 64], public_key: &[u8; 32]) -> Result<(), AttestError> {
    compare("public_key", "0..32", public_key, &report_data[..32])
}

/// Checks that `verified` binds `public_key` and `challenge` (binding version 1). Freshness of
/// the challenge is a separate, time-dependent check: [`Challenge::check_fresh`].
pub fn check_binding(verified: &VerifiedQuote, public_key: &[u8; 32], challenge: &Challenge) -> Result<(), AttestError> {
    check_key_binding(&verified.report_data, public_key)?;
    compare("challenge", "32..64", &challenge.digest(), &verified.report_data[32..])
}

fn compare(part: &'static str, range: &'static str, expected: &[u8], found: &[u8]) -> Result<(), AttestError> {
    if expected == found {
        return Ok(());
    }
    Err(AttestError::BindingMismatch { part, range, expected: hex::encode(expected), found: hex::encode(found) })
}
