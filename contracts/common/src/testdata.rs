//! Real TDX sample data for the contracts' unit tests, in near-sdk types. The data itself has one
//! copy, in `crates/attest/testdata` (`outlayer_attest::testdata`). Native targets only.

use near_sdk::{CurveType, PublicKey};

pub use outlayer_attest::testdata::{COLLATERAL_JSON, EXPIRED_AT_SECS, QUOTE, SGX_COLLATERAL_JSON, SGX_QUOTE, VERIFY_AT_SECS};

use crate::Measurements;

/// `VERIFY_AT_SECS` in nanoseconds, for `VMContextBuilder::block_timestamp`.
pub const VERIFY_AT_NANOS: u64 = VERIFY_AT_SECS * 1_000_000_000;

/// [`QUOTE`] as hex, the form the contracts take.
pub fn quote_hex() -> String {
    hex::encode(QUOTE)
}

/// [`QUOTE`] with one byte of the TD report flipped.
pub fn tampered_quote_hex() -> String {
    hex::encode(outlayer_attest::testdata::tampered_quote())
}

/// The five measurements the sample quote carries.
pub fn sample_measurements() -> Measurements {
    outlayer_attest::testdata::sample_measurements().into()
}

/// The ed25519 public key the sample quote binds (report_data[0..32]).
pub fn sample_bound_key() -> PublicKey {
    let key = outlayer_attest::testdata::sample_bound_key();
    PublicKey::from_parts(CurveType::ED25519, key.to_vec()).unwrap()
}

/// An ed25519 key the sample quote does not bind.
pub fn unbound_key() -> PublicKey {
    PublicKey::from_parts(CurveType::ED25519, vec![7u8; 32]).unwrap()
}
