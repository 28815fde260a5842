//! ed25519 keys and signatures in NEAR's text (`ed25519:<base58>`) and borsh (tag 0 + bytes)
//! forms.

use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};

/// NEAR's text prefix for ed25519 keys and signatures.
pub const ED25519_PREFIX: &str = "ed25519:";

/// NEAR's borsh tag for the ed25519 key type.
const ED25519_TAG: u8 = 0;

/// Why a key or signature string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key type prefix is not `ed25519:` (secp256k1 is not supported).
    #[error("unsupported key type {0:?} (only ed25519 is supported)")]
    UnsupportedKeyType(String),
    /// The text after the prefix is not base58.
    #[error("key is not base58: {0}")]
    Base58(String),
    /// The decoded bytes have the wrong length.
    #[error("{what} must be {expected} bytes, got {got}")]
    Length {
        /// Which kind of value was decoded.
        what: &'static str,
        /// The length(s) accepted.
        expected: &'static str,
        /// The length found.
        got: usize,
    },
    /// A 64-byte secret key whose second half is not the public key of its seed.
    #[error("secret key's public half does not match its seed")]
    Mismatch,
    /// The bytes are not a valid ed25519 public key.
    #[error("not a valid ed25519 public key")]
    InvalidPoint,
}

/// Split `ed25519:<base58>` (a bare base58 string is read as ed25519, like near-api-js does)
/// and decode the base58 part.
fn decode_text(text: &str) -> Result<Vec<u8>, KeyError> {
    let data = match text.split_once(':') {
        Some((kind, data)) if kind.eq_ignore_ascii_case("ed25519") => data,
        Some((kind, _)) => return Err(KeyError::UnsupportedKeyType(kind.to_owned())),
        None => text,
    };
    bs58::decode(data.trim()).into_vec().map_err(|e| KeyError::Base58(e.to_string()))
}

/// An ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// The 32 key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        VerifyingKey::from_bytes(&self.0)
            .map(|key| key.verify(message, &ed25519_dalek::Signature::from_bytes(&signature.0)))
            .is_ok_and(|r| r.is_ok())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ED25519_PREFIX}{}", bs58::encode(self.0).into_string())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    /// Parse `ed25519:<base58 of 32 bytes>`.
    fn from_str(text: &str) -> Result<Self, KeyError> {
        let bytes = decode_text(text)?;
        let bytes: [u8; 32] =
            bytes.try_into().map_err(|b: Vec<u8>| KeyError::Length { what: "public key", expected: "32", got: b.len() })?;
        VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::InvalidPoint)?;
        Ok(PublicKey(bytes))
    }
}

impl BorshSerialize for PublicKey {
    fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        writer.write_all(&[ED25519_TAG])?;
        writer.write_all(&self.0)
    }
}

impl BorshDeserialize for PublicKey {
    fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
        read_ed25519_tag(reader, "public key")?;
        let mut bytes = [0u8; 32];
        reader.read_exact(&mut bytes)?;
        Ok(PublicKey(bytes))
    }
}

/// An ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    /// The 64 signature bytes.
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ED25519_PREFIX}{}", bs58::encode(self.0).into_string())
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({self})")
    }
}

impl FromStr for Signature {
    type Err = KeyError;

    /// Parse `ed25519:<base58 of 64 bytes>`.
    fn from_str(text: &str) -> Result<Self, KeyError> {
        let bytes = decode_text(text)?;
        let bytes: [u8; 64] =
            bytes.try_into().map_err(|b: Vec<u8>| KeyError::Length { what: "signature", expected: "64", got: b.len() })?;
        Ok(Signature(bytes))
    }
}

impl BorshSerialize for Signature {
    fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        writer.write_all(&[ED25519_TAG])?;
        writer.write_all(&self.0)
    }
}

impl BorshDeserialize for Signature {
    fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
        read_ed25519_tag(reader, "signature")?;
        let mut bytes = [0u8; 64];
        reader.read_exact(&mut bytes)?;
        Ok(Signature(bytes))
    }
}

fn read_ed25519_tag<R: std::io::Read>(reader: &mut R, what: &str) -> std::io::Result<()> {
    let mut tag = [0u8; 1];
    reader.read_exact(&mut tag)?;
    if tag[0] != ED25519_TAG {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{what} key type {} is not ed25519", tag[0])));
    }
    Ok(())
}

/// An ed25519 secret key. Its `Debug` output never shows the key.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// The key whose 32-byte seed is `seed`.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        SecretKey(SigningKey::from_bytes(seed))
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Sign `message` (ed25519 signs the message itself; NEAR transactions sign their hash).
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message).to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public: {})", self.public_key())
    }
}

impl FromStr for SecretKey {
    type Err = KeyError;

    /// Parse `ed25519:<base58>` of the 64-byte NEAR form (seed ‖ public key, as in
    /// `~/.near-credentials`) or of a bare 32-byte seed.
    fn from_str(text: &str) -> Result<Self, KeyError> {
        let bytes = decode_text(text)?;
        if bytes.len() != 32 && bytes.len() != 64 {
            return Err(KeyError::Length { what: "secret key", expected: "32 or 64", got: bytes.len() });
        }
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&bytes[..32]);
        let key = SecretKey::from_seed(&seed);
        if bytes.len() == 64 && key.public_key().0 != bytes[32..] {
            return Err(KeyError::Mismatch);
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key pair of near-api-js `test/serialize.test.js` (see tests/data/PROVENANCE.md).
    const SECRET: &str = "ed25519:3hoMW1HvnRLSFCLZnvPzWeoGwtdHzke34B2cTHM8rhcbG3TbuLKtShTv3DvyejnXKXKBiV7YPkLeqUHN1ghnqpFv";
    const PUBLIC: &str = "ed25519:Anu7LYDfpLtkP7E16LT9imXF694BdQaa9ufVkQiwTQxC";

    #[test]
    fn secret_key_derives_the_recorded_public_key() {
        let key: SecretKey = SECRET.parse().unwrap();
        assert_eq!(key.public_key().to_string(), PUBLIC);
        assert!(!format!("{key:?}").contains("3hoMW1"));
    }

    #[test]
    fn seed_only_form_is_accepted() {
        let full = bs58::decode(&SECRET[8..]).into_vec().unwrap();
        let seed = format!("ed25519:{}", bs58::encode(&full[..32]).into_string());
        let key: SecretKey = seed.parse().unwrap();
        assert_eq!(key.public_key().to_string(), PUBLIC);
    }

    #[test]
    fn bad_keys_are_rejected() {
        let mut full = bs58::decode(&SECRET[8..]).into_vec().unwrap();
        full[40] ^= 1;
        let tampered = format!("ed25519:{}", bs58::encode(&full).into_string());
        assert_eq!(tampered.parse::<SecretKey>().unwrap_err(), KeyError::Mismatch);
        assert!(matches!(
            "secp256k1:abc".parse::<SecretKey>(),
            Err(KeyError::UnsupportedKeyType(k)) if k == "secp256k1"
        ));
        assert!(matches!("ed25519:0OIl".parse::<PublicKey>(), Err(KeyError::Base58(_))));
        assert!(matches!("ed25519:11111111".parse::<PublicKey>(), Err(KeyError::Length { got: 8, .. })));
    }

    #[test]
    fn public_key_text_round_trips() {
        let key: PublicKey = PUBLIC.parse().unwrap();
        assert_eq!(key.to_string(), PUBLIC);
        assert_eq!(PUBLIC[8..].parse::<PublicKey>().unwrap(), key);
    }

    #[test]
    fn signature_verifies_and_tampering_fails() {
        let key: SecretKey = SECRET.parse().unwrap();
        let sig = key.sign(b"message");
        assert!(key.public_key().verify(b"message", &sig));
        assert!(!key.public_key().verify(b"messagf", &sig));
        let mut bad = sig;
        bad.0[0] ^= 1;
        assert!(!key.public_key().verify(b"message", &bad));
        assert_eq!(sig.to_string().parse::<Signature>().unwrap(), sig);
    }
}
