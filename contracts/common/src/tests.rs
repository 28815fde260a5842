use crate::testdata::*;
use crate::*;

fn collateral() -> outlayer_attest::QuoteCollateralV3 {
    parse_collateral(COLLATERAL_JSON).unwrap()
}

#[test]
fn sample_quote_verifies_for_its_bound_key() {
    let m = verify_tee_key(&quote_hex(), &collateral(), VERIFY_AT_SECS, &[sample_measurements()], &sample_bound_key()).unwrap();
    assert_eq!(m, sample_measurements());
}

#[test]
fn flipped_byte_fails_verification() {
    let err =
        verify_tee_key(&tampered_quote_hex(), &collateral(), VERIFY_AT_SECS, &[sample_measurements()], &sample_bound_key()).unwrap_err();
    assert!(matches!(err, AttestationError::Verification(_)), "{err}");
}

#[test]
fn other_measurements_are_refused() {
    let mut other = sample_measurements();
    other.rtmr3 = "11".repeat(48);
    let err = verify_tee_key(&quote_hex(), &collateral(), VERIFY_AT_SECS, &[other], &sample_bound_key()).unwrap_err();
    assert_eq!(err, AttestationError::MeasurementsNotApproved);
}

#[test]
fn key_not_in_report_data_is_refused() {
    let err = verify_tee_key(&quote_hex(), &collateral(), VERIFY_AT_SECS, &[sample_measurements()], &unbound_key()).unwrap_err();
    assert_eq!(err, AttestationError::ReportDataMismatch);
}

#[test]
fn expired_collateral_is_refused_today() {
    // 2026-11-25: the sample CRLs and TCB info have expired.
    let err = verify_tee_key(&quote_hex(), &collateral(), EXPIRED_AT_SECS, &[sample_measurements()], &sample_bound_key()).unwrap_err();
    assert!(matches!(err, AttestationError::CollateralExpired(_)), "{err}");
    assert!(err.to_string().starts_with("Quote verification failed: collateral expired"), "{err}");
}

#[test]
fn tcb_status_other_than_up_to_date_is_refused() {
    let err = verify_tee_key(
        &hex::encode(SGX_QUOTE),
        &parse_collateral(SGX_COLLATERAL_JSON).unwrap(),
        VERIFY_AT_SECS,
        &[sample_measurements()],
        &sample_bound_key(),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "TCB status is ConfigurationAndSWHardeningNeeded, expected UpToDate");
}

#[test]
fn non_hex_quote_and_bad_collateral_are_refused() {
    let err = verify_tee_key("zz", &collateral(), VERIFY_AT_SECS, &[], &sample_bound_key()).unwrap_err();
    assert_eq!(err.to_string(), "Quote is not valid hex");
    assert!(matches!(parse_collateral("{}"), Err(AttestationError::BadCollateral(_))));
}

#[test]
fn secp256k1_keys_are_refused() {
    let key = near_sdk::PublicKey::from_parts(near_sdk::CurveType::SECP256K1, vec![1; 64]).unwrap();
    let err = verify_tee_key(&quote_hex(), &collateral(), VERIFY_AT_SECS, &[], &key).unwrap_err();
    assert_eq!(err, AttestationError::UnsupportedKey);
}

#[test]
fn measurements_are_normalised_to_lowercase() {
    let mut upper = sample_measurements();
    upper.mrtd = upper.mrtd.to_uppercase();
    assert_eq!(upper.normalized().unwrap(), sample_measurements());
}
