//! The vrf capability: `outlayer:vrf/vrf@0.2.0` and `near:vrf/api@0.1.0`.
//!
//! ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381, [`outlayer_attest::vrf`]) over
//! alpha = `outlayer-vrf:v2:{request_id}:{seed}`: proof = the 80-byte ECVRF proof, output = its
//! 64-byte `beta`, public key = the VRF public key. A VRF has exactly one valid output per key
//! and alpha (a signature scheme lets the signer pick among many), and the request id comes from
//! the host, so a guest cannot roll again for the same request and seed; anyone with the public
//! key can verify (`outlayer verify --vrf`, or [`outlayer_attest::vrf::verify`]).
//!
//! Alpha `v1` was an ed25519 signature over the same string (a signature is not unique per
//! message in general, and is not a VRF); `v2` names the ECVRF construction.

use super::guard::{CallGuard, Refusal, v01_refusal};
use crate::bindings::near::vrf::api as v01;
use crate::bindings::outlayer::vrf::vrf::{self as v02, Error, Randomness};
use outlayer_attest::vrf::{VrfSecretKey, proof_to_hash};
use outlayer_protocol::capability::Capability;
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};

/// Longest seed accepted. Defends against alpha strings used as a data channel.
pub const MAX_SEED_BYTES: usize = 256;

/// Permission to draw randomness, with the VRF key that proves it.
#[derive(Clone)]
pub struct VrfGrant {
    pub key: Arc<VrfSecretKey>,
}

/// Per-execution vrf state.
pub struct VrfCap {
    grant: Option<VrfGrant>,
    pub(crate) guard: CallGuard,
    request_id: String,
}

/// The alpha string for `seed` within `request_id`.
pub fn alpha(request_id: &str, seed: &str) -> String {
    format!("outlayer-vrf:v2:{request_id}:{seed}")
}

impl VrfCap {
    /// State for one execution.
    pub fn new(grant: Option<VrfGrant>, guard: CallGuard, request_id: String) -> Self {
        Self { grant, guard, request_id }
    }

    fn generate(&mut self, seed: &str) -> Result<Randomness, Error> {
        self.guard.admit(self.grant.is_some()).map_err(refusal)?;
        if seed.len() > MAX_SEED_BYTES {
            return Err(Error::SeedTooLong(MAX_SEED_BYTES as u32));
        }
        let key = &self.grant.as_ref().expect("granted").key;
        let alpha = alpha(&self.request_id, seed);
        let proof = key.prove(alpha.as_bytes());
        let output = proof_to_hash(&proof).map_err(|e| Error::Other(format!("vrf: {e}")))?;
        Ok(Randomness { output: output.to_vec(), proof: proof.to_vec(), alpha, public_key: key.public_key().to_vec() })
    }

    fn public_key(&mut self) -> Result<Vec<u8>, Error> {
        self.guard.admit(self.grant.is_some()).map_err(refusal)?;
        Ok(self.grant.as_ref().expect("granted").key.public_key().to_vec())
    }
}

fn refusal(r: Refusal) -> Error {
    match r {
        Refusal::Denied => Error::Denied,
        Refusal::OverBudget => Error::LimitExceeded,
    }
}

impl v02::Host for VrfCap {
    async fn generate(&mut self, seed: String) -> wasmtime::Result<Result<Randomness, Error>> {
        Ok(VrfCap::generate(self, &seed))
    }

    async fn public_key(&mut self) -> wasmtime::Result<Result<Vec<u8>, Error>> {
        Ok(VrfCap::public_key(self))
    }
}

fn v01_error(e: Error) -> String {
    match e {
        Error::Denied => v01_refusal(Capability::Vrf, Refusal::Denied),
        Error::LimitExceeded => v01_refusal(Capability::Vrf, Refusal::OverBudget),
        Error::SeedTooLong(n) => format!("seed longer than {n} bytes"),
        Error::Other(s) => s,
    }
}

impl v01::Host for VrfCap {
    async fn generate(&mut self, user_seed: String) -> wasmtime::Result<(String, String, String, String)> {
        Ok(match VrfCap::generate(self, &user_seed) {
            Ok(r) => (hex::encode(r.output), hex::encode(r.proof), r.alpha, String::new()),
            Err(e) => (String::new(), String::new(), String::new(), v01_error(e)),
        })
    }

    async fn pubkey(&mut self) -> wasmtime::Result<(String, String)> {
        Ok(match VrfCap::public_key(self) {
            Ok(k) => (hex::encode(k), String::new()),
            Err(e) => (String::new(), v01_error(e)),
        })
    }
}

/// Link both vrf interface versions; `f` finds the state in the store's data.
pub fn add_to_linker<T: Send + 'static>(linker: &mut Linker<T>, f: fn(&mut T) -> &mut VrfCap) -> wasmtime::Result<()> {
    v02::add_to_linker::<T, HasSelf<VrfCap>>(linker, f)?;
    v01::add_to_linker::<T, HasSelf<VrfCap>>(linker, f)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use outlayer_attest::vrf::{OUTPUT_LEN, PROOF_LEN, VrfError, verify};
    use std::time::{Duration, Instant};

    fn cap(request_id: &str, key: &Arc<VrfSecretKey>) -> VrfCap {
        let guard = CallGuard::new(10, Instant::now() + Duration::from_secs(60));
        VrfCap::new(Some(VrfGrant { key: key.clone() }), guard, request_id.into())
    }

    #[test]
    fn randomness_is_an_ecvrf_proof_over_the_v2_alpha() {
        let key = Arc::new(VrfSecretKey::from_seed([7; 32]));
        let r = cap("req-1", &key).generate("coin").unwrap();
        assert_eq!(r.alpha, "outlayer-vrf:v2:req-1:coin");
        assert_eq!((r.proof.len(), r.output.len()), (PROOF_LEN, OUTPUT_LEN));
        assert_eq!(r.public_key, key.public_key());
        assert_eq!(cap("req-1", &key).public_key().unwrap(), key.public_key());
        let beta = verify(&key.public_key(), r.alpha.as_bytes(), &r.proof).unwrap();
        assert_eq!(r.output, beta);
        // Deterministic: the same request and seed give the same output, in another execution too.
        assert_eq!(cap("req-1", &key).generate("coin").unwrap().output, r.output);
    }

    #[test]
    fn a_proof_for_one_request_does_not_verify_for_another() {
        let key = Arc::new(VrfSecretKey::from_seed([7; 32]));
        let one = cap("req-1", &key).generate("coin").unwrap();
        let two = cap("req-2", &key).generate("coin").unwrap();
        assert_ne!(one.output, two.output);
        assert_eq!(verify(&key.public_key(), two.alpha.as_bytes(), &one.proof), Err(VrfError::VerificationFailed));
        assert_eq!(verify(&key.public_key(), alpha("req-2", "coin").as_bytes(), &one.proof), Err(VrfError::VerificationFailed));
        let other_key = VrfSecretKey::from_seed([8; 32]).public_key();
        assert_eq!(verify(&other_key, one.alpha.as_bytes(), &one.proof), Err(VrfError::VerificationFailed));
    }

    #[test]
    fn not_granted_and_long_seeds_are_typed_errors() {
        let guard = CallGuard::new(10, Instant::now() + Duration::from_secs(60));
        let mut denied = VrfCap::new(None, guard, "req-1".into());
        assert!(matches!(denied.generate("coin"), Err(Error::Denied)));
        let key = Arc::new(VrfSecretKey::from_seed([7; 32]));
        let long = "s".repeat(MAX_SEED_BYTES + 1);
        assert!(matches!(cap("req-1", &key).generate(&long), Err(Error::SeedTooLong(256))));
        assert!(cap("req-1", &key).generate(&long[1..]).is_ok());
    }
}
