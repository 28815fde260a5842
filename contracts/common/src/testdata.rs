//! Real TDX sample data from dcap-qvl 0.7.1 (`res/`), for the contracts' unit tests.
//! Compiled for native targets only; never part of a contract wasm.

use near_sdk::{CurveType, PublicKey};

use crate::Measurements;

/// Unix time (seconds) at which the sample collateral is valid: 2025-07-01.
pub const VERIFY_AT_SECS: u64 = 1_751_328_000;

/// `VERIFY_AT_SECS` in nanoseconds, for `VMContextBuilder::block_timestamp`.
pub const VERIFY_AT_NANOS: u64 = VERIFY_AT_SECS * 1_000_000_000;

/// The raw `UpToDate` sample quote.
pub const QUOTE: &[u8] = include_bytes!("../res/tdx_quote");

/// The collateral JSON matching [`QUOTE`].
pub const COLLATERAL_JSON: &str = include_str!("../res/tdx_quote_collateral.json");

/// An SGX sample quote: verifies at [`VERIFY_AT_SECS`] with TCB status
/// `ConfigurationAndSWHardeningNeeded`.
pub const SGX_QUOTE: &[u8] = include_bytes!("../res/sgx_quote");

/// The collateral JSON matching [`SGX_QUOTE`].
pub const SGX_COLLATERAL_JSON: &str = include_str!("../res/sgx_quote_collateral.json");

/// [`QUOTE`] as hex, the form the contracts take.
pub fn quote_hex() -> String {
    hex::encode(QUOTE)
}

/// [`QUOTE`] with one byte of the TD report flipped.
pub fn tampered_quote_hex() -> String {
    let mut quote = QUOTE.to_vec();
    // Offset 48 + 520 lies inside report_data of the TD report body (header is 48 bytes).
    quote[48 + 520] ^= 0x01;
    hex::encode(quote)
}

fn td_report(quote: &[u8]) -> &[u8] {
    &quote[48..48 + 584]
}

/// The five measurements the sample quote carries.
pub fn sample_measurements() -> Measurements {
    let body = td_report(QUOTE);
    // TDREPORT 1.0 body layout: tee_tcb_svn 16, mr_seam 48, mr_signer_seam 48, seam_attributes 8,
    // td_attributes 8, xfam 8, mr_td 48, mr_config_id 48, mr_owner 48, mr_owner_config 48,
    // rt_mr0..3 48 each, report_data 64.
    let at = |offset: usize| hex::encode(&body[offset..offset + 48]);
    Measurements {
        mrtd: at(136),
        rtmr0: at(328),
        rtmr1: at(376),
        rtmr2: at(424),
        rtmr3: at(472),
    }
}

/// The ed25519 public key the sample quote binds (report_data[0..32]).
pub fn sample_bound_key() -> PublicKey {
    let body = td_report(QUOTE);
    PublicKey::from_parts(CurveType::ED25519, body[520..552].to_vec()).unwrap()
}

/// An ed25519 key the sample quote does not bind.
pub fn unbound_key() -> PublicKey {
    PublicKey::from_parts(CurveType::ED25519, vec![7u8; 32]).unwrap()
}
