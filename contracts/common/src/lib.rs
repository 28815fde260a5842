//! Code shared by the OutLayer NEAR contracts that accept Intel TDX attestations
//! (`outlayer-register` for workers, `outlayer-keystore-dao` for keystores): a thin near-sdk
//! adapter over `outlayer-attest`, which holds all verification logic. This crate only converts
//! near-sdk key types, keeps the contracts' stored `Measurements` shape and their panic messages.
//!
//! A TEE key is accepted when its TDX quote
//! 1. verifies with `dcap-qvl` against the collateral the contract owner stored, at the current
//!    block time,
//! 2. has TCB status `UpToDate`,
//! 3. carries measurements (MRTD, RTMR0–3) equal to one of the approved [`Measurements`] sets, and
//! 4. binds the key: the first 32 bytes of the TD report's `report_data` are the raw ed25519
//!    public key bytes (the remaining 32 bytes are free for the TEE's own use).
//!
//! ```
//! use outlayer_contracts_common::{Measurements, AttestationError};
//! let bad = Measurements {
//!     mrtd: "00".into(), rtmr0: "".into(), rtmr1: "".into(), rtmr2: "".into(), rtmr3: "".into(),
//! };
//! assert!(matches!(bad.normalized(), Err(AttestationError::BadMeasurements(_))));
//! ```

mod attestation;
mod measurements;
#[cfg(not(target_arch = "wasm32"))]
pub mod testdata;
#[cfg(test)]
mod tests;

pub use attestation::{APPROVED_TCB_STATUS, AttestationError, parse_collateral, verify_tee_key};
pub use measurements::Measurements;
