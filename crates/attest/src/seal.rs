//! The sealing format, version 1: a secret encrypted to one X25519 public key and bound to a
//! scope (for example the project and secret name it belongs to), so that a sealed value copied
//! to another scope does not open there.
//!
//! Wire format (`sealed`):
//!
//! ```text
//! version (1 byte = 0x01) ‖ ephemeral_public (32) ‖ ciphertext (len(plaintext)) ‖ tag (16)
//! ```
//!
//! Construction (ECIES-style, ephemeral-static):
//!
//! 1. `shared = X25519(ephemeral_secret, recipient_public)`; an all-zero `shared` (a low-order
//!    recipient key) is refused ([`SealError::LowOrderKey`]).
//! 2. `okm = HKDF-SHA256(ikm = shared, salt = ephemeral_public ‖ recipient_public,
//!    info = "outlayer-seal-v1", L = 44)`; `key = okm[0..32]`, `nonce = okm[32..44]`.
//! 3. `ciphertext ‖ tag = ChaCha20-Poly1305(key, nonce, plaintext,
//!    aad = "outlayer-seal-v1" ‖ 0x00 ‖ scope (UTF-8))`.
//!
//! The key and nonce are used once: each [`seal`] draws a fresh ephemeral key. Salting HKDF with
//! both public keys binds the ciphertext to the exact recipient key; the version byte is
//! authenticated indirectly (another version derives other keys, and any other byte is refused
//! before decryption). Every failure of [`open`] after the header checks is the one
//! [`SealError::Decrypt`], so the error does not tell a wrong key from a wrong scope or a
//! tampered byte. See `docs/secrets.md` ("Sealing format v1") for the test vectors.
//!
//! ```
//! use outlayer_attest::seal;
//!
//! let secret = [9u8; 32];
//! let sealed = seal::seal(&seal::public_key(&secret), "project:p1/API_KEY", b"hunter2").unwrap();
//! assert_eq!(sealed.len(), 7 + seal::OVERHEAD);
//! assert_eq!(seal::open(&secret, "project:p1/API_KEY", &sealed).unwrap(), b"hunter2");
//! assert_eq!(seal::open(&secret, "project:p2/API_KEY", &sealed).unwrap_err().code(), "cannot_decrypt");
//! ```

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, Zeroizing};

/// The format version this module writes and the only one it opens.
pub const VERSION: u8 = 1;
/// Bytes a sealed value has beyond its plaintext: version, ephemeral public key, tag.
pub const OVERHEAD: usize = 1 + 32 + TAG_LEN;
/// Domain string: the HKDF `info` and the start of the AEAD associated data.
pub const DOMAIN: &str = "outlayer-seal-v1";

const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + 32;

/// Why a value could not be sealed or opened.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// Shorter than [`OVERHEAD`] (or empty): not a sealed value.
    #[error("sealed value too short: {len} bytes, at least {OVERHEAD} needed")]
    TooShort {
        /// The length received.
        len: usize,
    },
    /// The first byte names a format version this code does not know.
    #[error("unsupported sealing format version {0} (supported: {VERSION})")]
    UnsupportedVersion(u8),
    /// The recipient public key is of low order: the shared secret would be all zeros.
    #[error("recipient public key is of low order")]
    LowOrderKey,
    /// Authentication failed: the value was sealed to another key or scope, or was changed.
    #[error("cannot decrypt: wrong key, wrong scope or tampered")]
    Decrypt,
}

impl SealError {
    /// The stable snake_case code of the error (for API responses and logs).
    pub fn code(&self) -> &'static str {
        match self {
            SealError::TooShort { .. } => "sealed_too_short",
            SealError::UnsupportedVersion(_) => "unsupported_version",
            SealError::LowOrderKey => "low_order_key",
            SealError::Decrypt => "cannot_decrypt",
        }
    }
}

/// The X25519 public key of a 32-byte secret (clamped as RFC 7748 says).
pub fn public_key(secret: &[u8; 32]) -> [u8; 32] {
    PublicKey::from(&StaticSecret::from(*secret)).to_bytes()
}

/// Seal `plaintext` to `recipient_public` for `scope`, with a fresh ephemeral key from the OS.
#[cfg(not(target_arch = "wasm32"))]
pub fn seal(recipient_public: &[u8; 32], scope: &str, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
    use rand::RngCore;
    let mut ephemeral = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(ephemeral.as_mut());
    seal_with_ephemeral(recipient_public, scope, plaintext, *ephemeral)
}

/// [`seal`] with a given ephemeral secret: for test vectors only. Reusing an ephemeral secret
/// for two plaintexts to one recipient reuses the key and nonce and breaks confidentiality.
pub fn seal_with_ephemeral(
    recipient_public: &[u8; 32],
    scope: &str,
    plaintext: &[u8],
    ephemeral_secret: [u8; 32],
) -> Result<Vec<u8>, SealError> {
    let ephemeral = StaticSecret::from(ephemeral_secret);
    let ephemeral_public = PublicKey::from(&ephemeral).to_bytes();
    let shared = ephemeral.diffie_hellman(&PublicKey::from(*recipient_public));
    if !shared.was_contributory() {
        return Err(SealError::LowOrderKey);
    }
    let (aead, nonce) = cipher(shared.as_bytes(), &ephemeral_public, recipient_public);
    let ciphertext =
        aead.encrypt(&nonce, Payload { msg: plaintext, aad: &aad(scope) }).expect("ChaCha20-Poly1305 encrypts any length we can hold");
    let mut sealed = Vec::with_capacity(HEADER_LEN + ciphertext.len());
    sealed.push(VERSION);
    sealed.extend_from_slice(&ephemeral_public);
    sealed.extend_from_slice(&ciphertext);
    Ok(sealed)
}

/// Open a value sealed to the public key of `recipient_secret` for `scope`.
pub fn open(recipient_secret: &[u8; 32], scope: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    let Some(&version) = sealed.first() else {
        return Err(SealError::TooShort { len: 0 });
    };
    if version != VERSION {
        return Err(SealError::UnsupportedVersion(version));
    }
    if sealed.len() < OVERHEAD {
        return Err(SealError::TooShort { len: sealed.len() });
    }
    let ephemeral_public: [u8; 32] = sealed[1..HEADER_LEN].try_into().expect("32 bytes");
    let secret = StaticSecret::from(*recipient_secret);
    let recipient_public = PublicKey::from(&secret).to_bytes();
    let shared = secret.diffie_hellman(&PublicKey::from(ephemeral_public));
    // A low-order ephemeral key is a forged value, not the caller's mistake: same error as any
    // other tampering.
    if !shared.was_contributory() {
        return Err(SealError::Decrypt);
    }
    let (aead, nonce) = cipher(shared.as_bytes(), &ephemeral_public, &recipient_public);
    aead.decrypt(&nonce, Payload { msg: &sealed[HEADER_LEN..], aad: &aad(scope) }).map_err(|_| SealError::Decrypt)
}

/// The AEAD and nonce of one sealed value (step 2 of the construction).
fn cipher(shared: &[u8; 32], ephemeral_public: &[u8; 32], recipient_public: &[u8; 32]) -> (ChaCha20Poly1305, Nonce) {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral_public);
    salt[32..].copy_from_slice(recipient_public);
    let mut okm = [0u8; 44];
    Hkdf::<Sha256>::new(Some(&salt), shared).expand(DOMAIN.as_bytes(), &mut okm).expect("44 bytes is a valid HKDF-SHA256 length");
    let mut key: [u8; 32] = okm[..32].try_into().expect("32 bytes");
    let nonce: [u8; 12] = okm[32..].try_into().expect("12 bytes");
    let aead = ChaCha20Poly1305::new(&Key::from(key));
    key.zeroize();
    okm.zeroize();
    (aead, Nonce::from(nonce))
}

/// `"outlayer-seal-v1" ‖ 0x00 ‖ scope`.
fn aad(scope: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(DOMAIN.len() + 1 + scope.len());
    aad.extend_from_slice(DOMAIN.as_bytes());
    aad.push(0);
    aad.extend_from_slice(scope.as_bytes());
    aad
}
