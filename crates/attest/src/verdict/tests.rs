//! The verdict over real data: dcap-qvl's sample TDX quote for authenticity and identity, dev
//! evidence with receipts signed here for binding.

use ed25519_dalek::SigningKey;

use super::*;
use crate::receipt::{Receipt, sha256_hex};
use crate::testdata::*;
use crate::{DEFAULT_ACCEPTED_TCB_STATUSES, Measurements, evidence_digest, parse_collateral, report_data};

const INPUT: &[u8] = br#"{"hello":"world"}"#;
const OUTPUT: &[u8] = br#"{"echo":{"hello":"world"}}"#;

fn options(at: u64, policy: MeasurementPolicy) -> Options {
    Options { at, allow_dev: false, accepted_tcb_statuses: DEFAULT_ACCEPTED_TCB_STATUSES.to_vec(), policy }
}

fn allow(sets: Vec<Measurements>) -> MeasurementPolicy {
    MeasurementPolicy::Allowlist { source: "file test.json".into(), allowlist: sets.into() }
}

fn other_measurements() -> Measurements {
    let mut m = sample_measurements();
    m.rtmr3.0[0] ^= 0xff;
    m
}

fn tdx_worker(quote: Vec<u8>, collateral_json: &str) -> AttestedWorker {
    let evidence = Evidence::Tdx { quote, collateral: parse_collateral(collateral_json).unwrap(), event_log: None };
    AttestedWorker { worker_id: "w1".into(), public_key: hex::encode(sample_bound_key()), evidence, challenge: None }
}

fn receipt_for(worker: &AttestedWorker, key: &SigningKey) -> SignedReceipt {
    Receipt {
        call_id: "c1".into(),
        project: "alice/echo".into(),
        wasm_sha256: sha256_hex(b"wasm"),
        input_sha256: sha256_hex(INPUT),
        output_sha256: sha256_hex(OUTPUT),
        outcome: "ok".into(),
        instructions: 42,
        wall_ms: 3,
        peak_memory_bytes: 65536,
        refund: 0,
        max_instructions: 1_000_000_000,
        max_memory_mb: 128,
        max_execution_seconds: 60,
        worker_id: worker.worker_id.clone(),
        attestation_sha256: hex::encode(evidence_digest(&worker.evidence)),
    }
    .sign(key)
}

fn verdict_of(worker: &AttestedWorker, options: &Options) -> Verdict {
    let receipt = receipt_for(worker, &SigningKey::from_bytes(&[7; 32]));
    let subject = Subject { receipt: &receipt, worker, input: Some(INPUT), output: Some(OUTPUT), call_id: None, project: None };
    verify(&subject, options)
}

fn status(v: &Verdict, layer: &str) -> Status {
    v.layer(layer).unwrap().status
}

#[test]
fn the_sample_quote_is_authentic_and_allowed_at_the_sample_time() {
    let worker = tdx_worker(QUOTE.to_vec(), COLLATERAL_JSON);
    let v = verdict_of(&worker, &options(VERIFY_AT_SECS, allow(vec![other_measurements(), sample_measurements()])));
    assert_eq!(status(&v, "authenticity"), Status::Pass, "{v:#?}");
    assert_eq!(v.check("authenticity", "tcb status").unwrap().found, "UpToDate");
    assert_eq!(status(&v, "identity"), Status::Pass, "{v:#?}");
    assert_eq!(v.check("identity", "allowlist").unwrap().found, "allowed set #2");
    // The sample binds a key we do not hold: the report data binds it, our receipt is not by it.
    assert_eq!(v.check("binding", "report_data key").unwrap().status, Status::Pass);
    let key = v.check("binding", "receipt key").unwrap();
    assert_eq!((key.status, key.expected.as_str()), (Status::Fail, hex::encode(sample_bound_key()).as_str()));
}

#[test]
fn a_flipped_quote_byte_fails_authenticity() {
    let worker = tdx_worker(tampered_quote(), COLLATERAL_JSON);
    let v = verdict_of(&worker, &options(VERIFY_AT_SECS, allow(vec![sample_measurements()])));
    assert_eq!(v.exit_code(), 1);
    let chain = v.check("authenticity", "signature chain").unwrap();
    assert_eq!(chain.status, Status::Fail, "{v:#?}");
    assert!(chain.reason.starts_with("attestation invalid"), "{}", chain.reason);

    // A flipped measurement byte: still FAIL for authenticity, and identity names the register.
    let mut quote = QUOTE.to_vec();
    quote[48 + 472] ^= 0x01; // rtmr3
    let worker = tdx_worker(quote, COLLATERAL_JSON);
    let v = verdict_of(&worker, &options(VERIFY_AT_SECS, allow(vec![sample_measurements()])));
    assert_eq!(status(&v, "authenticity"), Status::Fail);
    assert_eq!(v.check("identity", "rtmr3").unwrap().status, Status::Fail);
}

#[test]
fn a_flipped_collateral_byte_fails_authenticity() {
    let mut collateral: serde_json::Value = serde_json::from_str(COLLATERAL_JSON).unwrap();
    let sig = collateral["tcb_info_signature"].as_str().unwrap().to_owned();
    let first = if sig.starts_with('0') { '1' } else { '0' };
    let flipped = format!("{first}{}", &sig[1..]);
    collateral["tcb_info_signature"] = flipped.into();
    let worker = tdx_worker(QUOTE.to_vec(), &collateral.to_string());
    let v = verdict_of(&worker, &options(VERIFY_AT_SECS, allow(vec![sample_measurements()])));
    assert_eq!(v.check("authenticity", "signature chain").unwrap().status, Status::Fail, "{v:#?}");
    assert_eq!(v.exit_code(), 1);
}

#[test]
fn other_measurements_fail_identity_naming_the_register() {
    let worker = tdx_worker(QUOTE.to_vec(), COLLATERAL_JSON);
    let v = verdict_of(&worker, &options(VERIFY_AT_SECS, allow(vec![other_measurements()])));
    assert_eq!(status(&v, "authenticity"), Status::Pass);
    assert_eq!(status(&v, "identity"), Status::Fail);
    let rtmr3 = v.check("identity", "rtmr3").unwrap();
    assert_eq!(rtmr3.expected, other_measurements().rtmr3.to_hex());
    assert_eq!(rtmr3.found, sample_measurements().rtmr3.to_hex());
    assert_eq!(v.check("identity", "mrtd").unwrap().status, Status::Pass);

    let none = verdict_of(&worker, &options(VERIFY_AT_SECS, MeasurementPolicy::None));
    let check = &none.layer("identity").unwrap().checks[0];
    assert_eq!((check.status, check.reason.as_str()), (Status::Unproven, "no measurement policy given"));
    let empty = verdict_of(&worker, &options(VERIFY_AT_SECS, allow(vec![])));
    assert_eq!(status(&empty, "identity"), Status::Fail);
}

#[test]
fn expired_collateral_is_unproven_for_a_genuine_quote_and_fail_for_a_forged_one() {
    let policy = allow(vec![sample_measurements()]);
    let genuine = verdict_of(&tdx_worker(QUOTE.to_vec(), COLLATERAL_JSON), &options(EXPIRED_AT_SECS, policy.clone()));
    let window = genuine.check("authenticity", "collateral validity").unwrap();
    assert_eq!(window.status, Status::Unproven, "{genuine:#?}");
    assert!(window.reason.starts_with("collateral expired"), "{}", window.reason);
    assert_eq!(status(&genuine, "authenticity"), Status::Unproven, "{genuine:#?}");
    // The chain itself still checks out at the collateral's last valid second.
    let chain = genuine.check("authenticity", "signature chain").unwrap();
    assert_eq!(chain.status, Status::Pass, "{genuine:#?}");
    assert!(chain.found.contains("the collateral's last valid second"), "{}", chain.found);

    // Inside the TCB info's window but past the PCK CRL's nextUpdate (2025-07-19T10:00:35Z).
    let crl_stale = verdict_of(&tdx_worker(QUOTE.to_vec(), COLLATERAL_JSON), &options(1_752_919_235 + 60, policy.clone()));
    assert_eq!(crl_stale.check("authenticity", "collateral validity").unwrap().status, Status::Pass);
    assert_eq!(crl_stale.check("authenticity", "crl validity").unwrap().status, Status::Unproven, "{crl_stale:#?}");
    assert_eq!(crl_stale.check("authenticity", "signature chain").unwrap().status, Status::Pass);
    assert_eq!(status(&crl_stale, "authenticity"), Status::Unproven);

    let forged = verdict_of(&tdx_worker(tampered_quote(), COLLATERAL_JSON), &options(EXPIRED_AT_SECS, policy));
    assert_eq!(status(&forged, "authenticity"), Status::Fail, "{forged:#?}");
}

fn dev_worker(key: &SigningKey, challenge: Challenge) -> AttestedWorker {
    let public_key = key.verifying_key().to_bytes();
    let evidence = Evidence::dev(report_data(&public_key, &challenge), sample_measurements());
    AttestedWorker { worker_id: "w1".into(), public_key: hex::encode(public_key), evidence, challenge: Some(challenge) }
}

const NOW: u64 = 1_800_000_000;

fn dev_options(allow_dev: bool) -> Options {
    Options { allow_dev, ..options(NOW, allow(vec![sample_measurements()])) }
}

#[test]
fn dev_evidence_is_unproven_unless_allowed_and_binding_passes() {
    let key = SigningKey::from_bytes(&[7; 32]);
    let worker = dev_worker(&key, Challenge::new([9; 32], NOW - 100, 60));
    let receipt = receipt_for(&worker, &key);
    let subject = Subject {
        receipt: &receipt,
        worker: &worker,
        input: Some(INPUT),
        output: Some(OUTPUT),
        call_id: Some("c1"),
        project: Some("alice/echo"),
    };

    let strict = verify(&subject, &dev_options(false));
    assert_eq!(strict.exit_code(), 2);
    let tee = strict.check("authenticity", "tee").unwrap();
    assert_eq!((tee.status, tee.reason.as_str()), (Status::Unproven, "dev attestation: not a TEE"));
    assert_eq!(status(&strict, "binding"), Status::Pass, "{strict:#?}");

    let dev = verify(&subject, &dev_options(true));
    assert_eq!(dev.exit_code(), 0, "{dev:#?}");
    assert!(dev.check("authenticity", "tee").unwrap().reason.contains("not a TEE"));

    let blind = Subject { input: None, output: None, ..subject };
    let v = verify(&blind, &dev_options(true));
    assert_eq!(v.exit_code(), 2);
    assert_eq!(v.check("binding", "input_sha256").unwrap().status, Status::Unproven);
}

#[test]
fn every_changed_receipt_field_or_payload_byte_fails_binding_naming_it() {
    let key = SigningKey::from_bytes(&[7; 32]);
    let worker = dev_worker(&key, Challenge::new([9; 32], NOW - 100, 60));
    let receipt = receipt_for(&worker, &key);
    let base = Subject { receipt: &receipt, worker: &worker, input: Some(INPUT), output: Some(OUTPUT), call_id: None, project: None };
    assert_eq!(verify(&base, &dev_options(true)).exit_code(), 0);

    let mut forged = receipt.clone();
    forged.receipt.wall_ms += 1;
    let v = verify(&Subject { receipt: &forged, ..base }, &dev_options(true));
    let sig = v.check("binding", "receipt signature").unwrap();
    assert_eq!((v.exit_code(), sig.status), (1, Status::Fail));
    assert!(sig.reason.contains("a field was changed after signing"), "{}", sig.reason);

    let mut output = OUTPUT.to_vec();
    output[3] ^= 1;
    let v = verify(&Subject { output: Some(&output), ..base }, &dev_options(true));
    let check = v.check("binding", "output_sha256").unwrap();
    assert_eq!((check.status, check.expected.clone(), check.found.clone()), (Status::Fail, sha256_hex(&output), sha256_hex(OUTPUT)));
    assert_eq!(v.exit_code(), 1);

    // Signed by another key than the attested one.
    let other = SigningKey::from_bytes(&[8; 32]);
    let by_other = receipt_for(&worker, &other);
    let v = verify(&Subject { receipt: &by_other, ..base }, &dev_options(true));
    assert_eq!(v.check("binding", "receipt key").unwrap().status, Status::Fail);
    assert_eq!(v.check("binding", "receipt signature").unwrap().status, Status::Pass);

    // Another challenge recorded than the one bound; another evidence than the receipt names.
    let mut rebound = worker.clone();
    rebound.challenge = Some(Challenge::new([1; 32], NOW - 100, 60));
    let v = verify(&Subject { worker: &rebound, ..base }, &dev_options(true));
    assert_eq!(v.check("binding", "report_data challenge").unwrap().status, Status::Fail);
    let mut other_evidence = worker.clone();
    other_evidence.evidence = Evidence::dev(report_data(&key.verifying_key().to_bytes(), &worker.challenge.unwrap()), other_measurements());
    let v = verify(&Subject { worker: &other_evidence, ..base }, &dev_options(true));
    assert_eq!(v.check("binding", "receipt attestation_sha256").unwrap().status, Status::Fail);
    assert_eq!(v.check("identity", "rtmr3").unwrap().status, Status::Fail);
    let v = verify(&Subject { call_id: Some("c2"), ..base }, &dev_options(true));
    assert_eq!(v.check("binding", "call_id").unwrap().found, "c1");
}

#[test]
fn times_print_both_forms() {
    assert_eq!(fmt_time(VERIFY_AT_SECS), "2025-07-01T00:00:00Z (1751328000)");
    assert_eq!(fmt_time(0), "1970-01-01T00:00:00Z (0)");
    assert_eq!(fmt_time(1_709_210_096), "2024-02-29T12:34:56Z (1709210096)");
}
