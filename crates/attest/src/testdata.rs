//! Real sample data from dcap-qvl 0.7.1 (`testdata/`), for tests here and in the contracts.
//! Compiled for native targets only; never part of a contract wasm.

use crate::measurements::Measurements;

/// Unix time (seconds) at which the `UpToDate` and SGX sample collateral is valid: 2025-07-01.
pub const VERIFY_AT_SECS: u64 = 1_751_328_000;

/// A time long after every sample collateral expired: 2026-11-25.
pub const EXPIRED_AT_SECS: u64 = 1_795_600_000;

/// The raw `UpToDate` TDX sample quote.
pub const QUOTE: &[u8] = include_bytes!("../testdata/tdx_quote");

/// The collateral JSON matching [`QUOTE`].
pub const COLLATERAL_JSON: &str = include_str!("../testdata/tdx_quote_collateral.json");

/// An SGX sample quote: verifies at [`VERIFY_AT_SECS`] with TCB status
/// `ConfigurationAndSWHardeningNeeded`.
pub const SGX_QUOTE: &[u8] = include_bytes!("../testdata/sgx_quote");

/// The collateral JSON matching [`SGX_QUOTE`].
pub const SGX_COLLATERAL_JSON: &str = include_str!("../testdata/sgx_quote_collateral.json");

/// Offset of the TD report body in a v4 quote (after the 48-byte header).
const BODY: usize = 48;

/// [`QUOTE`] with one byte of the TD report's report_data flipped.
pub fn tampered_quote() -> Vec<u8> {
    let mut quote = QUOTE.to_vec();
    quote[BODY + 520] ^= 0x01;
    quote
}

/// The five measurements a sample TDX quote carries, read straight from its bytes.
pub fn measurements_of(quote: &[u8]) -> Measurements {
    // TDREPORT 1.0 body: tee_tcb_svn 16, mr_seam 48, mr_signer_seam 48, seam_attributes 8,
    // td_attributes 8, xfam 8, mr_td 48, mr_config_id 48, mr_owner 48, mr_owner_config 48,
    // rt_mr0..3 48 each, report_data 64.
    let at = |offset: usize| -> [u8; 48] { quote[BODY + offset..BODY + offset + 48].try_into().expect("48 bytes") };
    Measurements::from_registers(&at(136), [&at(328), &at(376), &at(424), &at(472)])
}

/// The measurements of [`QUOTE`].
pub fn sample_measurements() -> Measurements {
    measurements_of(QUOTE)
}

/// The 32 bytes [`QUOTE`] binds as a public key (report_data[0..32]).
pub fn sample_bound_key() -> [u8; 32] {
    QUOTE[BODY + 520..BODY + 552].try_into().expect("32 bytes")
}
