//! The vrf capability: `outlayer:vrf/vrf@0.2.0` and `near:vrf/api@0.1.0`.
//!
//! alpha = `outlayer-vrf:v1:{request_id}:{seed}`, proof = ed25519(worker key, alpha)
//! (deterministic, RFC 8032), output = sha256(proof). The request id comes from the host, so a
//! guest cannot roll again for the same request and seed; anyone can verify with the public key.
//! No RFC 9381 ECVRF crate for ed25519 is well kept today, so we use the signature construction
//! that OutLayer v0.1 guests already verify.

use super::guard::{CallGuard, Refusal, v01_refusal};
use crate::bindings::near::vrf::api as v01;
use crate::bindings::outlayer::vrf::vrf::{self as v02, Error, Randomness};
use ed25519_dalek::{Signer, SigningKey};
use outlayer_protocol::capability::Capability;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};

/// Longest seed accepted. Defends against alpha strings used as a data channel.
pub const MAX_SEED_BYTES: usize = 256;

/// Permission to draw randomness, with the worker key that signs it.
#[derive(Clone)]
pub struct VrfGrant {
    pub key: Arc<SigningKey>,
}

/// Per-execution vrf state.
pub struct VrfCap {
    grant: Option<VrfGrant>,
    pub(crate) guard: CallGuard,
    request_id: String,
}

/// The alpha string for `seed` within `request_id`.
pub fn alpha(request_id: &str, seed: &str) -> String {
    format!("outlayer-vrf:v1:{request_id}:{seed}")
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
        let proof = key.sign(alpha.as_bytes()).to_bytes().to_vec();
        let output = Sha256::digest(&proof).to_vec();
        Ok(Randomness { output, proof, alpha, public_key: key.verifying_key().to_bytes().to_vec() })
    }

    fn public_key(&mut self) -> Result<Vec<u8>, Error> {
        self.guard.admit(self.grant.is_some()).map_err(refusal)?;
        Ok(self.grant.as_ref().expect("granted").key.verifying_key().to_bytes().to_vec())
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
