//! The at-rest format of [`super::EncryptedStorage`]: ChaCha20-Poly1305 with a random nonce per
//! write and associated data naming the record's place.
//!
//! A stored value is `version (1 byte) || nonce (12 bytes) || ciphertext || tag (16 bytes)`.
//! The associated data is a domain label followed by the public flag and the length-prefixed
//! namespace, owner and key, so a value copied to another key, owner or namespace, or whose
//! public flag was flipped, fails to decrypt instead of being read as someone else's data.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use rand::RngCore;
use rand::rngs::OsRng;

use crate::{Scope, StorageError};

/// Length of the operator's encryption key.
pub const KEY_LEN: usize = 32;

/// First byte of every value written by this version; lets a later format coexist.
const FORMAT_V1: u8 = 1;

/// ChaCha20-Poly1305 nonce length (96 bits).
const NONCE_LEN: usize = 12;

/// Poly1305 tag length.
const TAG_LEN: usize = 16;

/// Bytes a stored value takes beyond its plaintext: version byte, nonce and tag.
pub const CIPHERTEXT_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

/// Separates this use of the key from any other use of the same key.
const AAD_LABEL: &[u8] = b"outlayer-storage/v1";

/// Encrypts and decrypts values for one operator key.
#[derive(Clone)]
pub(crate) struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl Sealer {
    pub(crate) fn new(key: [u8; KEY_LEN]) -> Self {
        Self { cipher: ChaCha20Poly1305::new(&key.into()) }
    }

    /// The stored form of `plaintext` at `key` of `scope`.
    pub(crate) fn seal(&self, scope: &Scope, key: &str, public: bool, plaintext: &[u8]) -> Result<Vec<u8>, StorageError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let aad = associated_data(scope, key, public);
        let ciphertext = self
            .cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad: &aad })
            .map_err(|_| StorageError::Backend("encrypting a value failed".into()))?;
        let mut sealed = Vec::with_capacity(CIPHERTEXT_OVERHEAD + plaintext.len());
        sealed.push(FORMAT_V1);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// The plaintext of a value stored at `key` of `scope`.
    pub(crate) fn open(&self, scope: &Scope, key: &str, public: bool, sealed: &[u8]) -> Result<Vec<u8>, StorageError> {
        let Some((&FORMAT_V1, rest)) = sealed.split_first() else {
            return Err(cannot_decrypt("it is not in a known encrypted format"));
        };
        let Some((nonce, ciphertext)) = rest.split_first_chunk::<NONCE_LEN>() else {
            return Err(cannot_decrypt("it is too short"));
        };
        if ciphertext.len() < TAG_LEN {
            return Err(cannot_decrypt("it is too short"));
        }
        let aad = associated_data(scope, key, public);
        self.cipher
            .decrypt(&Nonce::from(*nonce), Payload { msg: ciphertext, aad: &aad })
            .map_err(|_| cannot_decrypt("wrong key, or the value was modified or moved to another key"))
    }
}

fn cannot_decrypt(why: &str) -> StorageError {
    StorageError::Backend(format!("cannot decrypt the stored value: {why}"))
}

/// Label, public flag, then namespace, owner and key, each prefixed by its length so that no
/// two different places give the same bytes.
fn associated_data(scope: &Scope, key: &str, public: bool) -> Vec<u8> {
    let parts = [scope.namespace.as_bytes(), scope.owner.as_bytes(), key.as_bytes()];
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + 1 + parts.iter().map(|p| 8 + p.len()).sum::<usize>());
    aad.extend_from_slice(AAD_LABEL);
    aad.push(u8::from(public));
    for part in parts {
        aad.extend_from_slice(&(part.len() as u64).to_le_bytes());
        aad.extend_from_slice(part);
    }
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_another_place() {
        let sealer = Sealer::new([7; KEY_LEN]);
        let scope = Scope::caller("ns", "alice.near");
        let sealed = sealer.seal(&scope, "k", false, b"secret").unwrap();
        assert_eq!(sealed.len(), CIPHERTEXT_OVERHEAD + 6);
        assert_eq!(sealer.open(&scope, "k", false, &sealed).unwrap(), b"secret");
        assert!(sealer.open(&scope, "k2", false, &sealed).is_err());
        assert!(sealer.open(&scope, "k", true, &sealed).is_err());
        assert!(sealer.open(&Scope::caller("ns", "bob.near"), "k", false, &sealed).is_err());
        // Length prefixes: moving bytes between namespace and owner changes the data.
        assert!(sealer.open(&Scope::caller("n", "salice.near"), "k", false, &sealed).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let sealer = Sealer::new([7; KEY_LEN]);
        let scope = Scope::component("ns");
        for bad in [&[][..], &[FORMAT_V1][..], &[2; 40][..], &[FORMAT_V1; 28][..]] {
            let err = sealer.open(&scope, "k", false, bad).unwrap_err();
            assert!(err.to_string().contains("decrypt"), "{err}");
        }
    }
}
