//! TDX attestation for OutLayer: what a worker proves, and how every verifier (coordinator,
//! NEAR contracts, `outlayer-verify`) checks it — one implementation.
//!
//! # Layout
//!
//! Reading order:
//! - [`error`]: [`AttestError`], one variant per API error code ([`AttestError::code`]).
//! - [`measurements`]: [`Register`], [`Measurements`] (MRTD, RTMR0–3) and the operator's
//!   [`Allowlist`] JSON file.
//! - [`tcb`]: [`TcbStatus`] and the default accepted statuses (only `UpToDate`).
//! - [`collateral`]: dcap-qvl's [`QuoteCollateralV3`] JSON and its validity window.
//! - [`policy`]: [`Policy`] — allowlist, accepted TCB statuses, `allow_dev`.
//! - [`evidence`]: [`Evidence`] (`tdx` quote + collateral, or `dev` — not a TEE) and
//!   [`evidence_digest`] for receipts.
//! - [`verify`]: [`verify_quote`] and [`verify_evidence`] → [`VerifiedQuote`] ([`verified`]).
//! - [`binding`]: the versioned `report_data` format, [`report_data`], [`check_binding`],
//!   [`Challenge`].
//! - [`receipt`]: the signed receipt (v2) of one execution: every charged or returned field,
//!   digest, sign, verify.
//! - [`verdict`]: the checks of a sceptical caller (`outlayer verify`): authenticity, identity
//!   and binding of a signed receipt, each check PASS / FAIL / UNPROVEN with both values.
//! - `providers` (cargo feature `providers`, off by default so contracts stay small): the
//!   `QuoteProvider` trait with Linux configfs-tsm, the dstack guest agent and a dev provider,
//!   and the `CollateralSource` trait with a file implementation.
//! - `testdata` (native targets only): dcap-qvl's real sample quotes and collateral.
//! - [`vrf`]: ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381): [`vrf::VrfSecretKey::prove`],
//!   [`vrf::verify`], [`vrf::proof_to_hash`] — the randomness of the host's vrf capability.
//! - [`seal`]: the sealing format v1 of the keystore (X25519 + HKDF-SHA256 +
//!   ChaCha20-Poly1305, bound to a scope): [`seal::seal`], [`seal::open`]. Byte layout and test
//!   vectors in `docs/secrets.md`.
//!
//! # Binding format (version 1)
//!
//! `report_data[0..32]` is the worker's raw ed25519 public key; `report_data[32..64]` is
//! `sha256("outlayer-attest-binding-v1\n" ‖ nonce ‖ issued_at_be64 ‖ expires_at_be64)` of the
//! verifier's [`Challenge`]. The NEAR contracts check only the key half ([`check_key_binding`]);
//! a verifier with a challenge checks both ([`check_binding`]) and the challenge's freshness
//! ([`Challenge::check_fresh`]). See [`binding`].
//!
//! # Example
//!
//! Dev evidence goes through the same path as a TDX quote, but only a policy that allows dev
//! accepts it, and the result says `Tee::Dev`:
//!
//! ```
//! use outlayer_attest::*;
//!
//! let measurements = Measurements::from_registers(&[1; 48], [&[2; 48], &[3; 48], &[4; 48], &[5; 48]]);
//! let key = [7u8; 32];
//! let now = 1_800_000_000;
//! let challenge = Challenge::new([9; 32], now, 60);
//! let evidence = Evidence::dev(report_data(&key, &challenge), measurements);
//!
//! // The default policy refuses dev evidence.
//! let strict = Policy::new(vec![measurements]);
//! assert_eq!(verify_evidence(&evidence, &strict, now).unwrap_err().code(), "dev_not_allowed");
//!
//! let dev = Policy { allow_dev: true, ..strict };
//! let verified = verify_evidence(&evidence, &dev, now + 5).unwrap();
//! assert_eq!(verified.tee, Tee::Dev);
//! challenge.check_fresh(now + 5).unwrap();
//! check_binding(&verified, &key, &challenge).unwrap();
//! assert_eq!(check_binding(&verified, &[8; 32], &challenge).unwrap_err().code(), "binding_mismatch");
//! assert_eq!(challenge.check_fresh(now + 61).unwrap_err().code(), "challenge_expired");
//! ```
//!
//! With the real dcap-qvl sample quote (at the time its collateral was valid):
//!
//! ```
//! use outlayer_attest::{testdata::*, *};
//!
//! let collateral = parse_collateral(COLLATERAL_JSON).unwrap();
//! let policy = Policy::new(vec![sample_measurements()]);
//! let verified = verify_quote(QUOTE, &collateral, &policy, VERIFY_AT_SECS).unwrap();
//! assert_eq!((verified.tee, verified.tcb_status), (Tee::Tdx, TcbStatus::UpToDate));
//! check_key_binding(&verified.report_data, &sample_bound_key()).unwrap();
//! let err = verify_quote(QUOTE, &collateral, &policy, EXPIRED_AT_SECS).unwrap_err();
//! assert_eq!(err.code(), "collateral_expired");
//! ```

pub mod binding;
pub mod collateral;
pub mod error;
pub mod evidence;
mod hex_serde;
pub mod measurements;
pub mod policy;
#[cfg(feature = "providers")]
pub mod providers;
pub mod receipt;
pub mod seal;
pub mod tcb;
#[cfg(not(target_arch = "wasm32"))]
pub mod testdata;
pub mod verdict;
pub mod verified;
pub mod verify;
pub mod vrf;

pub use binding::{BINDING_DOMAIN_V1, Challenge, check_binding, check_key_binding, report_data};
pub use collateral::{CollateralWindow, QuoteCollateralV3, parse_collateral};
pub use error::AttestError;
pub use evidence::{DEV_NOTE, Evidence, evidence_digest};
pub use measurements::{Allowlist, BadRegister, MEASUREMENT_BYTES, Measurements, Register};
pub use policy::Policy;
pub use tcb::{DEFAULT_ACCEPTED_TCB_STATUSES, TcbStatus};
pub use verified::{Tee, VerifiedQuote};
pub use verify::{verify_evidence, verify_quote};
