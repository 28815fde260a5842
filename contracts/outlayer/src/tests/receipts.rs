//! The signed receipt argument of `resolve_execution`: receipts signed by `outlayer-attest`'s own
//! code are accepted and emitted in `execution_resolved`; forged or mismatched ones are refused.

use ed25519_dalek::SigningKey;
use near_sdk::serde_json::{self, json};
use outlayer_attest::receipt::{Receipt, sha256_hex};

use super::*;

const ONE_NEAR: u128 = 1_000_000_000_000_000_000_000_000;

fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[5; 32])
}

fn near_key(key: &SigningKey) -> PublicKey {
    PublicKey::from_parts(CurveType::ED25519, key.verifying_key().to_bytes().to_vec()).unwrap()
}

/// A contract with [`signing_key`] registered, and request 0 made in a context signed by it
/// (the mocked yield can only be resumed in the context that created it).
fn setup_request(signer: &SigningKey) -> Contract {
    let mut c = setup();
    c.add_worker_key(near_key(&signing_key()));
    set(ctx(CONTRACT, ONE_NEAR).signer_account_pk(near_key(signer)));
    c.request_execution(wasm_source(), None, Some("hi".into()), None, None, Some(acc("alice.near")), None);
    c
}

/// The receipt a worker signs for request 0 printing `output` (default limits, the default
/// wasm source).
fn receipt(output: &str) -> Receipt {
    Receipt {
        call_id: "0".into(),
        project: String::new(),
        wasm_sha256: "ab".repeat(32),
        input_sha256: sha256_hex(b"hi"),
        output_sha256: sha256_hex(output.as_bytes()),
        outcome: "ok".into(),
        instructions: 2_000_000,
        wall_ms: 1500,
        peak_memory_bytes: 1 << 20,
        refund: 0,
        max_instructions: 1_000_000_000,
        max_memory_mb: 128,
        max_execution_seconds: 60,
        worker_id: "near:outlayer.near:ed25519:abc".into(),
        attestation_sha256: sha256_hex(b"evidence"),
    }
}

/// `outlayer-attest`'s signed receipt as the contract reads it (through its JSON).
fn on_chain(signed: &outlayer_attest::receipt::SignedReceipt) -> SignedReceipt {
    serde_json::from_value(serde_json::to_value(signed).unwrap()).unwrap()
}

fn signed(receipt: Receipt) -> SignedReceipt {
    on_chain(&receipt.sign(&signing_key()))
}

#[test]
fn the_contract_digest_is_outlayer_attests() {
    set(&ctx(CONTRACT, 0));
    let cases = [
        receipt("42"),
        Receipt { project: "alice.near/échø".into(), refund: u128::MAX, outcome: "out-of-instructions".into(), ..receipt("") },
        Receipt { call_id: "18446744073709551615".into(), instructions: u64::MAX, wall_ms: 0, ..receipt("x") },
    ];
    for r in cases {
        let attest = r.clone().sign(&signing_key());
        let ours = on_chain(&attest);
        assert_eq!(ours.digest().unwrap(), r.digest(), "{r:?}");
        assert_eq!(receipt::encode_hex(&ours.digest().unwrap()), attest.digest);
    }
    let mut bad = signed(receipt("42"));
    bad.project = "a\nb".into();
    assert_eq!(bad.digest(), Err("project"));
}

#[test]
fn a_signed_receipt_is_checked_and_emitted_in_execution_resolved() {
    let mut c = setup_request(&signing_key());
    let attest = receipt("42").sign(&signing_key());
    c.resolve_execution(0, ok_response("42", 2_000_000, 1500), Some(on_chain(&attest)));
    assert!(c.get_request(0).unwrap().resolved);
    let mut expected_receipt = serde_json::to_value(&attest).unwrap();
    assert_eq!(expected_receipt["refund"], "0", "amounts stay decimal strings");
    assert_eq!(
        event("execution_resolved"),
        json!({
            "request_id": 0, "success": true, "error_message": null,
            "resources_used": {"instructions": 2_000_000, "time_ms": 1500},
            "worker_public_key": near_key(&signing_key()).to_string(),
            "receipt": expected_receipt.take(),
        })
    );
    // The event's receipt verifies with outlayer-attest as it was logged.
    let logged: outlayer_attest::receipt::SignedReceipt = serde_json::from_value(event("execution_resolved")["receipt"].clone()).unwrap();
    logged.verify().unwrap();
}

#[test]
fn a_resolution_without_a_receipt_logs_a_null_receipt() {
    let mut c = setup_request(&signing_key());
    c.resolve_execution(0, ok_response("42", 7, 3), None);
    let logged = event("execution_resolved");
    assert_eq!(logged["receipt"], serde_json::Value::Null);
    assert_eq!(logged["resources_used"], json!({"instructions": 7, "time_ms": 3}));
}

#[test]
fn a_failed_run_carries_its_outcome_and_may_say_ok_when_the_output_was_refused() {
    let mut c = setup_request(&signing_key());
    let failure = ExecutionResponse {
        success: false,
        error: Some("out-of-instructions".into()),
        resources_used: ResourcesUsed { instructions: 1_000_000_000, time_ms: 9, compile_time_ms: None },
        ..Default::default()
    };
    let r = Receipt { outcome: "out-of-instructions".into(), instructions: 1_000_000_000, wall_ms: 9, ..receipt("") };
    c.resolve_execution(0, failure, Some(signed(r)));
    let logged = event("execution_resolved");
    assert_eq!((logged["success"].clone(), logged["error_message"].clone()), (json!(false), json!("out-of-instructions")));
    assert_eq!(logged["receipt"]["outcome"], "out-of-instructions");

    // Exit ok, but the output was not UTF-8: the response fails, the receipt says ok with the
    // hash of the bytes the guest printed (not stored, so not compared).
    let mut c = setup_request(&signing_key());
    let refused = ExecutionResponse {
        error: Some("output is not valid UTF-8".into()),
        resources_used: ResourcesUsed { instructions: 2_000_000, time_ms: 1500, compile_time_ms: None },
        ..Default::default()
    };
    c.resolve_execution(0, refused, Some(signed(Receipt { output_sha256: sha256_hex(&[0xff]), ..receipt("") })));
    assert_eq!(event("execution_resolved")["receipt"]["outcome"], "ok");
}

#[test]
#[should_panic(expected = "Receipt refused: the signature does not verify over its fields")]
fn a_forged_wall_time_is_refused() {
    let mut c = setup_request(&signing_key());
    let mut forged = signed(receipt("42"));
    forged.wall_ms = 13;
    forged.digest = receipt::encode_hex(&forged.digest().unwrap());
    c.resolve_execution(0, ok_response("42", 2_000_000, 13), Some(forged));
}

#[test]
#[should_panic(expected = "Receipt refused: digest is not the sha256 of its fields")]
fn a_changed_field_without_its_digest_is_refused() {
    let mut c = setup_request(&signing_key());
    let mut forged = signed(receipt("42"));
    forged.wall_ms = 13;
    c.resolve_execution(0, ok_response("42", 2_000_000, 13), Some(forged));
}

#[test]
#[should_panic(expected = "Receipt refused: public_key is not the key the resolution is signed with")]
fn a_receipt_signed_by_another_key_is_refused() {
    let mut c = setup_request(&signing_key());
    let other = receipt("42").sign(&SigningKey::from_bytes(&[6; 32]));
    c.resolve_execution(0, ok_response("42", 2_000_000, 1500), Some(on_chain(&other)));
}

#[test]
#[should_panic(expected = "Receipt refused: call_id is 1, the resolution says 0")]
fn a_receipt_of_another_request_is_refused() {
    let mut c = setup_request(&signing_key());
    c.resolve_execution(0, ok_response("42", 2_000_000, 1500), Some(signed(Receipt { call_id: "1".into(), ..receipt("42") })));
}

#[test]
#[should_panic(expected = "Receipt refused: output_sha256 is")]
fn a_receipt_of_another_output_is_refused() {
    let mut c = setup_request(&signing_key());
    c.resolve_execution(0, ok_response("43", 2_000_000, 1500), Some(signed(receipt("42"))));
}

#[test]
#[should_panic(expected = "Receipt refused: wall_ms is 1500, the resolution says 1499")]
fn a_charged_time_other_than_the_receipts_is_refused() {
    let mut c = setup_request(&signing_key());
    c.resolve_execution(0, ok_response("42", 2_000_000, 1499), Some(signed(receipt("42"))));
}

#[test]
#[should_panic(expected = "Receipt refused: max_instructions is 5, the resolution says 1000000000")]
fn a_receipt_under_other_limits_is_refused() {
    let mut c = setup_request(&signing_key());
    c.resolve_execution(0, ok_response("42", 2_000_000, 1500), Some(signed(Receipt { max_instructions: 5, ..receipt("42") })));
}

#[test]
#[should_panic(expected = "Receipt refused: outcome is timeout, the resolution says ok")]
fn a_success_needs_an_ok_receipt() {
    let mut c = setup_request(&signing_key());
    c.resolve_execution(0, ok_response("42", 2_000_000, 1500), Some(signed(Receipt { outcome: "timeout".into(), ..receipt("42") })));
}

#[test]
#[should_panic(expected = "Receipt refused: JSON output must be sent as Text")]
fn json_output_with_a_receipt_must_be_sent_as_text() {
    let mut c = setup_request(&signing_key());
    let response = ExecutionResponse { output: Some(ExecutionOutput::Json(json!(42))), ..ok_response("", 2_000_000, 1500) };
    c.resolve_execution(0, response, Some(signed(receipt("42"))));
}

#[test]
#[should_panic(expected = "Receipt refused: refund is 0 yoctoNEAR (0 micro-USD), the resolution says 5")]
fn the_refund_asked_for_is_the_receipts() {
    let mut c = setup_request(&signing_key());
    let response = ExecutionResponse { refund_usd: Some(5), ..ok_response("42", 2_000_000, 1500) };
    c.resolve_execution(0, response, Some(signed(receipt("42"))));
}
