//! The quote policy against dcap-qvl's real sample quotes (no stubs).

use outlayer_attest::testdata::*;
use outlayer_attest::*;

fn collateral() -> QuoteCollateralV3 {
    parse_collateral(COLLATERAL_JSON).unwrap()
}

fn policy() -> Policy {
    Policy::new(vec![sample_measurements()])
}

#[test]
fn sample_quote_passes_with_its_measurements() {
    let v = verify_quote(QUOTE, &collateral(), &policy(), VERIFY_AT_SECS).unwrap();
    assert_eq!(v.tee, Tee::Tdx);
    assert_eq!(v.tcb_status, TcbStatus::UpToDate);
    assert_eq!(v.measurements, sample_measurements());
    assert_eq!(v.verified_at, VERIFY_AT_SECS);
    assert_eq!(&v.report_data[..32], &sample_bound_key());
    check_key_binding(&v.report_data, &sample_bound_key()).unwrap();
}

#[test]
fn sample_quote_passes_as_evidence_and_its_json_round_trips() {
    let evidence = Evidence::Tdx { quote: QUOTE.to_vec(), collateral: collateral(), event_log: None };
    let json = serde_json::to_string(&evidence).unwrap();
    assert!(json.starts_with(r#"{"kind":"tdx","quote":""#), "{}", &json[..40]);
    let back: Evidence = serde_json::from_str(&json).unwrap();
    assert_eq!(back, evidence);
    assert_eq!(evidence_digest(&back), evidence_digest(&evidence));
    let v = verify_evidence(&back, &policy(), VERIFY_AT_SECS).unwrap();
    assert_eq!(v.tee, Tee::Tdx);
    // The verified result is serde too: tee and report data as a consumer sees them.
    let out = serde_json::to_value(&v).unwrap();
    assert_eq!(out["tee"], "tdx");
    assert_eq!(out["tcb_status"], "UpToDate");
    assert_eq!(out["report_data"].as_str().unwrap().len(), 128);
}

#[test]
fn flipped_byte_is_attestation_invalid_with_dcap_reason() {
    let err = verify_quote(&tampered_quote(), &collateral(), &policy(), VERIFY_AT_SECS).unwrap_err();
    assert_eq!(err.code(), "attestation_invalid", "{err}");
    let AttestError::AttestationInvalid { reason } = &err else { unreachable!() };
    assert!(reason.to_lowercase().contains("signature"), "{reason}");
}

#[test]
fn truncated_quote_and_bad_collateral_are_attestation_invalid() {
    let err = verify_quote(&QUOTE[..100], &collateral(), &policy(), VERIFY_AT_SECS).unwrap_err();
    assert_eq!(err.code(), "attestation_invalid", "{err}");
    assert_eq!(parse_collateral("{}").unwrap_err().code(), "attestation_invalid");
}

#[test]
fn other_measurements_are_not_allowed() {
    let mut other = sample_measurements();
    other.rtmr3 = Register([0x11; 48]);
    let err = verify_quote(QUOTE, &collateral(), &Policy::new(vec![other]), VERIFY_AT_SECS).unwrap_err();
    assert_eq!(err.code(), "measurements_not_allowed");
    // The error shows what the quote carried.
    assert!(err.to_string().contains(&sample_measurements().rtmr3.to_hex()), "{err}");
}

#[test]
fn a_status_other_than_up_to_date_is_refused_unless_the_policy_accepts_it() {
    // The SGX sample's real status is ConfigurationAndSWHardeningNeeded (dcap-qvl's
    // `tdx_quote_outdated` sample matches no TCB level of its collateral, so it cannot be used).
    let sgx = parse_collateral(SGX_COLLATERAL_JSON).unwrap();
    let err = verify_quote(SGX_QUOTE, &sgx, &policy(), VERIFY_AT_SECS).unwrap_err();
    assert_eq!(err.code(), "tcb_out_of_date", "{err}");
    assert_eq!(err.to_string(), "TCB status is ConfigurationAndSWHardeningNeeded, accepted: [UpToDate]");
}

#[test]
fn a_policy_can_refuse_even_up_to_date() {
    let policy = Policy { accepted_tcb_statuses: vec![], ..policy() };
    let err = verify_quote(QUOTE, &collateral(), &policy, VERIFY_AT_SECS).unwrap_err();
    assert_eq!(err.code(), "tcb_out_of_date");
}

#[test]
fn expired_collateral_has_its_own_error() {
    let err = verify_quote(QUOTE, &collateral(), &policy(), EXPIRED_AT_SECS).unwrap_err();
    assert_eq!(err.code(), "collateral_expired", "{err}");
    let AttestError::CollateralExpired { what, next_update, now } = err else { unreachable!() };
    assert_eq!((what, now), ("tcb_info", EXPIRED_AT_SECS));
    // 2025-07-19T10:16:03Z, the sample TCB info's nextUpdate.
    assert_eq!(next_update, 1_752_920_163);
    // One second after nextUpdate is already expired; at nextUpdate it is not.
    assert_eq!(verify_quote(QUOTE, &collateral(), &policy(), next_update + 1).unwrap_err().code(), "collateral_expired");
}

#[test]
fn sgx_quote_is_refused() {
    let sgx = parse_collateral(SGX_COLLATERAL_JSON).unwrap();
    let any_status = Policy { accepted_tcb_statuses: vec![TcbStatus::ConfigurationAndSWHardeningNeeded], ..policy() };
    let err = verify_quote(SGX_QUOTE, &sgx, &any_status, VERIFY_AT_SECS).unwrap_err();
    assert_eq!(err, AttestError::NotTdx);
    assert_eq!(err.code(), "not_tdx");
}

#[test]
fn every_code_is_distinct_and_listed() {
    let mut codes = AttestError::CODES.to_vec();
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), AttestError::CODES.len());
    for err in [AttestError::NotTdx, AttestError::DevNotAllowed] {
        assert!(AttestError::CODES.contains(&err.code()));
    }
}
