//! Binding v1 (key + challenge) through `verify_evidence`, with dev evidence: the sample quote's
//! report data cannot be chosen, and dev evidence takes the same path after the quote checks.

use outlayer_attest::testdata::sample_measurements;
use outlayer_attest::*;

const NOW: u64 = 1_800_000_000;
const KEY: [u8; 32] = [0x42; 32];

fn dev_policy() -> Policy {
    Policy { allow_dev: true, ..Policy::new(vec![sample_measurements()]) }
}

fn attest(key: &[u8; 32], challenge: &Challenge) -> VerifiedQuote {
    let evidence = Evidence::dev(report_data(key, challenge), sample_measurements());
    verify_evidence(&evidence, &dev_policy(), NOW).unwrap()
}

#[test]
fn report_data_layout_is_key_then_domain_separated_challenge_hash() {
    use sha2::{Digest, Sha256};
    let challenge = Challenge::new([1; 32], NOW, 300);
    let rd = report_data(&KEY, &challenge);
    assert_eq!(&rd[..32], &KEY);
    let mut bytes = b"outlayer-attest-binding-v1\n".to_vec();
    bytes.extend_from_slice(&[1; 32]);
    bytes.extend_from_slice(&NOW.to_be_bytes());
    bytes.extend_from_slice(&(NOW + 300).to_be_bytes());
    assert_eq!(rd[32..], Sha256::digest(&bytes)[..]);
}

#[test]
fn the_bound_key_and_challenge_pass() {
    let challenge = Challenge::new([1; 32], NOW, 300);
    let verified = attest(&KEY, &challenge);
    assert_eq!(verified.tee, Tee::Dev);
    check_binding(&verified, &KEY, &challenge).unwrap();
    challenge.check_fresh(NOW + 300).unwrap();
}

#[test]
fn another_key_is_a_binding_mismatch_on_the_key_half() {
    let challenge = Challenge::new([1; 32], NOW, 300);
    let err = check_binding(&attest(&KEY, &challenge), &[0x43; 32], &challenge).unwrap_err();
    assert_eq!(err.code(), "binding_mismatch");
    assert!(matches!(err, AttestError::BindingMismatch { part: "public_key", range: "0..32", .. }));
}

#[test]
fn a_replayed_quote_for_an_old_challenge_is_refused() {
    let old = Challenge::new([1; 32], NOW - 600, 300);
    let replayed = attest(&KEY, &old);
    let fresh = Challenge::new([2; 32], NOW, 300);
    let err = check_binding(&replayed, &KEY, &fresh).unwrap_err();
    assert!(matches!(err, AttestError::BindingMismatch { part: "challenge", range: "32..64", .. }), "{err}");
    // And the old challenge itself is no longer fresh.
    assert_eq!(old.check_fresh(NOW).unwrap_err().code(), "challenge_expired");
}

#[test]
fn stretching_a_challenge_expiry_breaks_the_binding() {
    let issued = Challenge::new([1; 32], NOW, 300);
    let verified = attest(&KEY, &issued);
    let stretched = Challenge { expires_at: NOW + 3600, ..issued };
    assert_eq!(check_binding(&verified, &KEY, &stretched).unwrap_err().code(), "binding_mismatch");
}

#[test]
fn challenge_freshness_is_a_closed_window() {
    let challenge = Challenge::new([1; 32], NOW, 300);
    challenge.check_fresh(NOW).unwrap();
    let err = challenge.check_fresh(NOW + 301).unwrap_err();
    assert_eq!(err, AttestError::ChallengeExpired { issued_at: NOW, expires_at: NOW + 300, now: NOW + 301 });
    assert_eq!(challenge.check_fresh(NOW - 1).unwrap_err().code(), "challenge_expired");
}

#[test]
fn dev_evidence_is_refused_by_default_and_still_checked_against_the_allowlist() {
    let evidence = Evidence::dev([0; 64], sample_measurements());
    let strict = Policy::new(vec![sample_measurements()]);
    assert_eq!(verify_evidence(&evidence, &strict, NOW).unwrap_err(), AttestError::DevNotAllowed);
    let other = Evidence::dev([0; 64], Measurements { rtmr3: Register([9; 48]), ..sample_measurements() });
    assert_eq!(verify_evidence(&other, &dev_policy(), NOW).unwrap_err().code(), "measurements_not_allowed");
}

#[test]
fn evidence_json_and_digest() {
    let evidence = Evidence::dev([3; 64], sample_measurements());
    let json = serde_json::to_value(&evidence).unwrap();
    assert_eq!(json["kind"], "dev");
    assert_eq!(json["note"], "not a TEE");
    assert_eq!(json["report_data"], "03".repeat(64));
    let back: Evidence = serde_json::from_value(json).unwrap();
    assert_eq!(evidence_digest(&back), evidence_digest(&evidence));
    assert_ne!(evidence_digest(&Evidence::dev([4; 64], sample_measurements())), evidence_digest(&evidence));
    let challenge: Challenge = serde_json::from_str(&format!(r#"{{"nonce":"{}","issued_at":1,"expires_at":2}}"#, "ab".repeat(32))).unwrap();
    assert_eq!(challenge.nonce, [0xab; 32]);
}
