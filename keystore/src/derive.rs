//! Key derivation: every key the keystore hands out is derived from one root under a versioned
//! label, so a restart (or a replica with the same master) derives the same keys and nothing
//! but the master needs to be kept.
//!
//! [`KeyDerivation`] is the boundary. [`HkdfDerivation`] is HKDF-SHA256 (RFC 5869) over the
//! local master secret: `PRK = HKDF-Extract(salt = "outlayer-keystore-v1", IKM = master)`, a key
//! for `purpose` and `context` = `HKDF-Expand(PRK, info = label || 0x00 || context, 32)`.
//!
//! **With NEAR MPC** (chain-signatures' confidential key derivation) the root would not exist in
//! any one machine: `derive` would ask the MPC network for the key of `(keystore account,
//! label || context)`, encrypted to an ephemeral key of this attested keystore, and cache it.
//! What changes: no master file and no replication (every keystore asks the network), derivation
//! becomes async and can fail (callers already handle errors from the keystore), and the
//! trust moves from "the attested keystore that holds the master" to "a threshold of MPC nodes".
//! The labels, the contexts and every caller stay as they are.

use hkdf::Hkdf;
use sha2::Sha256;

use crate::master::MasterSecret;

/// The derivation scheme's id, reported by `/healthz` and compared by replicas.
pub const HKDF_V1: &str = "hkdf-sha256/v1";

/// What a derived key is for (each has its own versioned label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// The X25519 secret that sealed secrets for an accessor are opened with.
    Seal,
    /// A project's (or component's) guest storage key.
    Storage,
    /// The VRF key's seed.
    Vrf,
}

impl Purpose {
    /// The label mixed into the derivation.
    pub fn label(self) -> &'static str {
        match self {
            Purpose::Seal => "outlayer-keystore/v1/seal",
            Purpose::Storage => "outlayer-keystore/v1/storage",
            Purpose::Vrf => "outlayer-keystore/v1/vrf",
        }
    }
}

/// Where keys come from. Deterministic: the same purpose and context give the same key.
pub trait KeyDerivation: Send + Sync + 'static {
    /// The scheme's id ([`HKDF_V1`]).
    fn id(&self) -> &'static str;
    /// The 32-byte key for `purpose` and `context`.
    fn derive(&self, purpose: Purpose, context: &str) -> zeroize::Zeroizing<[u8; 32]>;
    /// The root secret, where the scheme has one that may be handed to an attested replica.
    fn master(&self) -> Option<&MasterSecret>;
}

/// HKDF-SHA256 over a local [`MasterSecret`].
pub struct HkdfDerivation {
    master: MasterSecret,
    prk: Hkdf<Sha256>,
}

impl HkdfDerivation {
    /// Derivation from `master`.
    pub fn new(master: MasterSecret) -> Self {
        let prk = Hkdf::<Sha256>::new(Some(b"outlayer-keystore-v1"), master.expose());
        Self { master, prk }
    }
}

impl KeyDerivation for HkdfDerivation {
    fn id(&self) -> &'static str {
        HKDF_V1
    }

    fn derive(&self, purpose: Purpose, context: &str) -> zeroize::Zeroizing<[u8; 32]> {
        let mut info = Vec::with_capacity(purpose.label().len() + 1 + context.len());
        info.extend_from_slice(purpose.label().as_bytes());
        info.push(0);
        info.extend_from_slice(context.as_bytes());
        let mut out = zeroize::Zeroizing::new([0u8; 32]);
        self.prk.expand(&info, out.as_mut()).expect("32 bytes is a valid HKDF-SHA256 length");
        out
    }

    fn master(&self) -> Option<&MasterSecret> {
        Some(&self.master)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_deterministic_and_separated_by_purpose_and_context() {
        let a = HkdfDerivation::new(MasterSecret::from_bytes([1; 32]));
        let b = HkdfDerivation::new(MasterSecret::from_bytes([1; 32]));
        let c = HkdfDerivation::new(MasterSecret::from_bytes([2; 32]));
        let k = |d: &HkdfDerivation, p, ctx| *d.derive(p, ctx);
        assert_eq!(k(&a, Purpose::Storage, "project:a/b"), k(&b, Purpose::Storage, "project:a/b"));
        assert_ne!(k(&a, Purpose::Storage, "project:a/b"), k(&c, Purpose::Storage, "project:a/b"));
        assert_ne!(k(&a, Purpose::Storage, "project:a/b"), k(&a, Purpose::Seal, "project:a/b"));
        assert_ne!(k(&a, Purpose::Storage, "project:a/b"), k(&a, Purpose::Storage, "project:a/c"));
        // the label and the context are separated: no (label, context) pair collides by concatenation
        assert_ne!(k(&a, Purpose::Storage, ""), k(&a, Purpose::Seal, ""));
    }

    #[test]
    fn hkdf_matches_rfc5869_construction() {
        // Recompute one key by hand with the hkdf crate's primitives to pin the construction.
        let d = HkdfDerivation::new(MasterSecret::from_bytes([9; 32]));
        let (_, hk) = Hkdf::<Sha256>::extract(Some(b"outlayer-keystore-v1"), &[9; 32]);
        let mut expected = [0u8; 32];
        hk.expand(b"outlayer-keystore/v1/vrf\0default", &mut expected).unwrap();
        assert_eq!(*d.derive(Purpose::Vrf, "default"), expected);
    }
}
