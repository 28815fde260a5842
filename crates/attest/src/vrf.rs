//! ECVRF-EDWARDS25519-SHA512-TAI: the verifiable random function of RFC 9381 (suite string
//! `0x03`), on curve25519-dalek and SHA-512.
//!
//! A VRF is a keyed hash whose output anyone holding the public key can check: for one key and
//! one input (`alpha`) there is exactly one output (`beta`), unlike a signature scheme where the
//! signer may produce many valid signatures and pick the one it likes.
//!
//! Parameters (RFC 9381 section 5.5): `ptLen = 32` (compressed Edwards points), `cLen = 16`,
//! `qLen = 32`, hash SHA-512 (`hLen = 64`), cofactor 8, `encode_to_curve` by
//! try-and-increment (section 5.4.1.1), nonce as in RFC 8032 section 5.1.6 (section 5.4.2.2).
//!
//! - proof `pi = point_to_string(Gamma) ‖ c (16 bytes, LE) ‖ s (32 bytes, LE)` ([`PROOF_LEN`]),
//! - output `beta = SHA-512(0x03 ‖ 0x03 ‖ point_to_string(8·Gamma) ‖ 0x00)` ([`OUTPUT_LEN`]).
//!
//! [`verify`] validates the public key (RFC 9381 `ECVRF_validate_key`: refuses small-order
//! points) and decodes every point strictly (RFC 8032 section 5.1.3: canonical `y`, no
//! "negative zero" `x`).
//!
//! ```
//! use outlayer_attest::vrf::{VrfSecretKey, verify, proof_to_hash, VrfError};
//!
//! let key = VrfSecretKey::from_seed([7; 32]);
//! let proof = key.prove(b"outlayer-vrf:v2:req-1:dice");
//! let beta = verify(&key.public_key(), b"outlayer-vrf:v2:req-1:dice", &proof).unwrap();
//! assert_eq!(beta, proof_to_hash(&proof).unwrap());
//! assert_eq!(verify(&key.public_key(), b"outlayer-vrf:v2:req-2:dice", &proof), Err(VrfError::VerificationFailed));
//! ```

use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use sha2::{Digest, Sha512};
use zeroize::Zeroize;

/// Length of a proof: `Gamma (32) ‖ c (16) ‖ s (32)`.
pub const PROOF_LEN: usize = 80;
/// Length of the VRF output `beta` (a SHA-512 digest).
pub const OUTPUT_LEN: usize = 64;

/// The suite string of ECVRF-EDWARDS25519-SHA512-TAI.
pub const SUITE: u8 = 0x03;

const C_LEN: usize = 16;
const PT_LEN: usize = 32;

// Domain separators of RFC 9381 section 5.
const ENCODE_TO_CURVE_FRONT: u8 = 0x01;
const CHALLENGE_FRONT: u8 = 0x02;
const PROOF_TO_HASH_FRONT: u8 = 0x03;
const BACK: u8 = 0x00;

/// Why a proof or a public key was refused.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum VrfError {
    /// The proof is not [`PROOF_LEN`] bytes long.
    #[error("VRF proof must be {PROOF_LEN} bytes, got {0}")]
    BadProofLength(usize),
    /// The public key is not a canonical encoding of a curve point, or is of small order.
    #[error("invalid VRF public key (not a canonical point, or of small order)")]
    InvalidPublicKey,
    /// The proof does not decode: `Gamma` is not a canonical point or `s` is not below the group
    /// order.
    #[error("invalid VRF proof encoding")]
    InvalidProof,
    /// The proof decodes but is not a proof of this input under this key.
    #[error("VRF proof does not verify for this public key and input")]
    VerificationFailed,
}

/// An ECVRF secret key: the 32-byte seed (RFC 8032's private key) and what is derived from it.
///
/// `Debug` shows only the public key; the secret parts are zeroed when the key is dropped.
pub struct VrfSecretKey {
    seed: [u8; 32],
    /// `x`: the clamped low half of SHA-512(seed), reduced mod the group order.
    scalar: Scalar,
    /// The high half of SHA-512(seed), the nonce key of RFC 8032 section 5.1.6.
    prefix: [u8; 32],
    /// `Y = x·B`, compressed.
    public: [u8; 32],
}

impl VrfSecretKey {
    /// The key of a 32-byte seed, derived as an ed25519 key is (RFC 8032 section 5.1.5).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let mut digest: [u8; 64] = Sha512::digest(seed).into();
        let mut low = [0u8; 32];
        low.copy_from_slice(&digest[..32]);
        low[0] &= 248;
        low[31] &= 127;
        low[31] |= 64;
        let scalar = Scalar::from_bytes_mod_order(low);
        let mut prefix = [0u8; 32];
        prefix.copy_from_slice(&digest[32..]);
        low.zeroize();
        digest.zeroize();
        let public = (ED25519_BASEPOINT_TABLE * &scalar).compress().to_bytes();
        Self { seed, scalar, prefix, public }
    }

    /// The public key `Y` (32 bytes, the same encoding as the ed25519 public key of the seed).
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// The proof `pi` for `alpha` (RFC 9381 section 5.1). Deterministic: one key and one alpha
    /// give one proof, hence one output ([`proof_to_hash`]).
    pub fn prove(&self, alpha: &[u8]) -> [u8; PROOF_LEN] {
        let h = encode_to_curve(&self.public, alpha).expect("try-and-increment fails with probability 2^-256");
        let h_string = h.compress().to_bytes();
        let gamma = h * self.scalar;
        let mut k = nonce(&self.prefix, &h_string);
        let u = ED25519_BASEPOINT_TABLE * &k;
        let v = h * k;
        let c_bytes =
            challenge([&self.public, &h_string, &gamma.compress().to_bytes(), &u.compress().to_bytes(), &v.compress().to_bytes()]);
        let s = k + challenge_scalar(&c_bytes) * self.scalar;
        k.zeroize();

        let mut pi = [0u8; PROOF_LEN];
        pi[..PT_LEN].copy_from_slice(gamma.compress().as_bytes());
        pi[PT_LEN..PT_LEN + C_LEN].copy_from_slice(&c_bytes);
        pi[PT_LEN + C_LEN..].copy_from_slice(s.as_bytes());
        pi
    }
}

impl std::fmt::Debug for VrfSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VrfSecretKey").field("public", &hex::encode(self.public)).finish_non_exhaustive()
    }
}

impl Drop for VrfSecretKey {
    fn drop(&mut self) {
        self.seed.zeroize();
        self.scalar.zeroize();
        self.prefix.zeroize();
    }
}

/// Verify `proof` for `alpha` under `public_key` (RFC 9381 section 5.3, with
/// `validate_key = TRUE`) and return its output `beta`.
pub fn verify(public_key: &[u8; 32], alpha: &[u8], proof: &[u8]) -> Result<[u8; OUTPUT_LEN], VrfError> {
    let proof: &[u8; PROOF_LEN] = proof.try_into().map_err(|_| VrfError::BadProofLength(proof.len()))?;
    let y = decode_point(public_key).ok_or(VrfError::InvalidPublicKey)?;
    // ECVRF_validate_key (section 5.4.5): a small-order key would let one proof fit many inputs.
    if y.is_small_order() {
        return Err(VrfError::InvalidPublicKey);
    }
    let (gamma, c_bytes, s) = decode_proof(proof)?;
    let h = encode_to_curve(public_key, alpha).ok_or(VrfError::VerificationFailed)?;
    let c = challenge_scalar(&c_bytes);
    // U = s·B − c·Y, V = s·H − c·Gamma
    let u = EdwardsPoint::vartime_double_scalar_mul_basepoint(&-c, &y, &s);
    let v = h * s - gamma * c;
    let expected =
        challenge([public_key, &h.compress().to_bytes(), &gamma.compress().to_bytes(), &u.compress().to_bytes(), &v.compress().to_bytes()]);
    if expected != c_bytes {
        return Err(VrfError::VerificationFailed);
    }
    Ok(gamma_to_hash(&gamma))
}

/// The output `beta` of a proof (RFC 9381 section 5.2). It does not verify the proof: use
/// [`verify`] on anything that comes from someone else.
pub fn proof_to_hash(proof: &[u8; PROOF_LEN]) -> Result<[u8; OUTPUT_LEN], VrfError> {
    let (gamma, _, _) = decode_proof(proof)?;
    Ok(gamma_to_hash(&gamma))
}

fn gamma_to_hash(gamma: &EdwardsPoint) -> [u8; OUTPUT_LEN] {
    Sha512::new()
        .chain_update([SUITE, PROOF_TO_HASH_FRONT])
        .chain_update(gamma.mul_by_cofactor().compress().as_bytes())
        .chain_update([BACK])
        .finalize()
        .into()
}

/// ECVRF_decode_proof (section 5.4.4): `Gamma` a strictly decoded point, `c` 16 bytes, `s`
/// canonical (below the group order).
fn decode_proof(proof: &[u8; PROOF_LEN]) -> Result<(EdwardsPoint, [u8; C_LEN], Scalar), VrfError> {
    let gamma = decode_point(proof[..PT_LEN].try_into().expect("32 bytes")).ok_or(VrfError::InvalidProof)?;
    let c: [u8; C_LEN] = proof[PT_LEN..PT_LEN + C_LEN].try_into().expect("16 bytes");
    let s_bytes: [u8; 32] = proof[PT_LEN + C_LEN..].try_into().expect("32 bytes");
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)).ok_or(VrfError::InvalidProof)?;
    Ok((gamma, c, s))
}

/// string_to_point for edwards25519 (RFC 8032 section 5.1.3), strictly: the encoding must be the
/// canonical one of the point it decodes to. curve25519-dalek alone accepts `y ≥ p` (reducing it)
/// and `x = 0` with the sign bit set; re-encoding and comparing refuses both.
fn decode_point(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    let point = CompressedEdwardsY(*bytes).decompress()?;
    (point.compress().as_bytes() == bytes).then_some(point)
}

/// ECVRF_encode_to_curve_try_and_increment (section 5.4.1.1) with `encode_to_curve_salt = PK`.
/// `None` only if all 256 counters fail (probability about 2^-256).
fn encode_to_curve(public_key: &[u8; 32], alpha: &[u8]) -> Option<EdwardsPoint> {
    (0..=u8::MAX).find_map(|ctr| {
        let hash = Sha512::new()
            .chain_update([SUITE, ENCODE_TO_CURVE_FRONT])
            .chain_update(public_key)
            .chain_update(alpha)
            .chain_update([ctr, BACK])
            .finalize();
        let candidate: [u8; 32] = hash[..32].try_into().expect("32 bytes");
        decode_point(&candidate).map(|p| p.mul_by_cofactor())
    })
}

/// ECVRF_nonce_generation_RFC8032 (section 5.4.2.2): `k = SHA-512(prefix ‖ h_string) mod q`.
fn nonce(prefix: &[u8; 32], h_string: &[u8; 32]) -> Scalar {
    let mut digest: [u8; 64] = Sha512::new().chain_update(prefix).chain_update(h_string).finalize().into();
    let k = Scalar::from_bytes_mod_order_wide(&digest);
    digest.zeroize();
    k
}

/// ECVRF_challenge_generation (section 5.4.3) over the five points `Y, H, Gamma, U, V`: the
/// first `cLen` bytes of `SHA-512(0x03 ‖ 0x02 ‖ P1 ‖ … ‖ P5 ‖ 0x00)`.
fn challenge(points: [&[u8; 32]; 5]) -> [u8; C_LEN] {
    let mut hash = Sha512::new().chain_update([SUITE, CHALLENGE_FRONT]);
    for p in points {
        hash.update(p);
    }
    let digest = hash.chain_update([BACK]).finalize();
    digest[..C_LEN].try_into().expect("16 bytes")
}

/// `c` as a scalar (little-endian, below 2^128 so below the group order).
fn challenge_scalar(c: &[u8; C_LEN]) -> Scalar {
    let mut wide = [0u8; 32];
    wide[..C_LEN].copy_from_slice(c);
    Scalar::from_bytes_mod_order(wide)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_point_refuses_non_canonical_y() {
        // y = p (≡ 0 mod p) encoded as 2^255 − 19: dalek would accept it as y = 0.
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(CompressedEdwardsY(p).decompress().is_some(), "dalek alone accepts it");
        assert!(decode_point(&p).is_none());
    }

    #[test]
    fn decode_point_refuses_negative_zero_x() {
        // y = 1 is the identity (x = 0); with the sign bit set it is "−0", which RFC 8032 refuses.
        let mut p = [0u8; 32];
        p[0] = 1;
        assert!(decode_point(&p).is_some());
        p[31] |= 0x80;
        assert!(decode_point(&p).is_none());
    }

    #[test]
    fn nonce_and_scalar_match_rfc_intermediates() {
        // RFC 9381 Appendix B.3, Example 16: x, H, k, U, V.
        let key = VrfSecretKey::from_seed(hex_array("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
        // The RFC prints x clamped, before reduction mod q.
        let x = hex_array("307c83864f2833cb427a2ef1c00a013cfdff2768d980c0a3a520f006904de94f");
        assert_eq!(key.scalar, Scalar::from_bytes_mod_order(x));
        let h = encode_to_curve(&key.public, b"").unwrap();
        assert_eq!(hex::encode(h.compress().as_bytes()), "91bbed02a99461df1ad4c6564a5f5d829d0b90cfc7903e7a5797bd658abf3318");
        let digest: [u8; 64] = Sha512::new().chain_update(key.prefix).chain_update(h.compress().as_bytes()).finalize().into();
        assert_eq!(
            hex::encode(digest),
            "7100f3d9eadb6dc4743b029736ff283f5be494128df128df2817106f345b8594b6d6da2d6fb0b4c0257eb337675d96eab49cf39e66cc2c9547c2bf8b2a6afae4"
        );
        let k = nonce(&key.prefix, h.compress().as_bytes());
        assert_eq!(
            hex::encode((ED25519_BASEPOINT_TABLE * &k).compress().as_bytes()),
            "aef27c725be964c6a9bf4c45ca8e35df258c1878b838f37d9975523f09034071"
        );
        assert_eq!(hex::encode((h * k).compress().as_bytes()), "5016572f71466c646c119443455d6cb9b952f07d060ec8286d678615d55f954f");
    }

    fn hex_array<const N: usize>(s: &str) -> [u8; N] {
        hex::decode(s).unwrap().try_into().unwrap()
    }
}
