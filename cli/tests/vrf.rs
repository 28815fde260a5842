//! `outlayer verify --vrf` on randomness a real guest drew: `outlayer run` of the vrf-dice guest
//! prints the proof, the public key and alpha; the verifier accepts exactly that and refuses
//! every change (exit 0 proven, 1 failed, 3 usage).

use outlayer_guest_artifacts as g;
use serde_json::Value;
use std::process::{Command, Output};

fn outlayer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_outlayer")).args(args).output().expect("run outlayer")
}

/// `outlayer run vrf-dice` with the vrf grant: the guest's JSON
/// `{roll, output_hex, proof_hex, alpha, public_key_hex}`.
fn roll(data_dir: &std::path::Path, request_id: &str, seed: &str) -> Value {
    let dir = data_dir.to_str().unwrap();
    let out = outlayer(&["run", g::VRF_DICE, "--grant", "vrf", "--request-id", request_id, "--input", seed, "--data-dir", dir]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("vrf-dice prints JSON")
}

fn verify(args: &[&str]) -> (Option<i32>, String) {
    let out = outlayer(&[&["verify", "--vrf"], args].concat());
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

#[test]
fn a_guest_drawn_proof_verifies_and_nothing_else_does() {
    let dir = tempfile::tempdir().unwrap();
    let r = roll(dir.path(), "req-vrf-1", "round-1");
    let (pk, proof, output) = (s(&r["public_key_hex"]), s(&r["proof_hex"]), s(&r["output_hex"]));
    assert_eq!(r["alpha"], "outlayer-vrf:v2:req-vrf-1:round-1");
    assert_eq!((proof.len(), output.len()), (160, 128), "80-byte proof, 64-byte output");

    // The request id and seed, or alpha itself; with or without the expected output.
    let (code, text) = verify(&["--pubkey", pk, "--request-id", "req-vrf-1", "--seed", "round-1", "--proof", proof, "--output", output]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("VRF PASS") && text.contains(output), "{text}");
    assert_eq!(verify(&["--pubkey", pk, "--alpha", s(&r["alpha"]), "--proof", proof]).0, Some(0));
    // --vrf may come after the other flags too.
    let out = outlayer(&["verify", "--pubkey", pk, "--alpha", s(&r["alpha"]), "--proof", proof, "--vrf"]);
    assert_eq!(out.status.code(), Some(0));

    let (code, text) = verify(&["--pubkey", pk, "--alpha", s(&r["alpha"]), "--proof", proof, "--json"]);
    assert_eq!(code, Some(0));
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((json["vrf"].as_str(), json["output"].as_str()), (Some("pass"), Some(output)));

    // The same proof for another request, another seed, or under another key: refused.
    let other = roll(dir.path(), "req-vrf-2", "round-1");
    assert_ne!(other["output_hex"], r["output_hex"]);
    assert_eq!(other["public_key_hex"], r["public_key_hex"], "the same worker key");
    let (code, text) = verify(&["--pubkey", pk, "--request-id", "req-vrf-2", "--seed", "round-1", "--proof", proof]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("VRF FAIL"), "{text}");
    assert_eq!(verify(&["--pubkey", pk, "--request-id", "req-vrf-1", "--seed", "round-2", "--proof", proof]).0, Some(1));
    let other_key = outlayer_attest::vrf::VrfSecretKey::from_seed([5; 32]).public_key();
    assert_eq!(verify(&["--pubkey", &hex::encode(other_key), "--alpha", s(&r["alpha"]), "--proof", proof]).0, Some(1));
    // The other request's own proof verifies for it.
    assert_eq!(verify(&["--pubkey", pk, "--alpha", s(&other["alpha"]), "--proof", s(&other["proof_hex"])]).0, Some(0));

    // A flipped bit in Gamma, c or s; a wrong expected output; a truncated proof.
    let bytes = hex::decode(proof).unwrap();
    for i in [0, 40, 79] {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        assert_eq!(verify(&["--pubkey", pk, "--alpha", s(&r["alpha"]), "--proof", &hex::encode(&bad)]).0, Some(1), "byte {i}");
    }
    let (code, text) = verify(&["--pubkey", pk, "--alpha", s(&r["alpha"]), "--proof", proof, "--output", s(&other["output_hex"])]);
    assert_eq!(code, Some(1));
    assert!(text.contains("not the --output given"), "{text}");
    let (code, text) = verify(&["--pubkey", pk, "--alpha", s(&r["alpha"]), "--proof", &proof[..158]]);
    assert_eq!(code, Some(1));
    assert!(text.contains("80 bytes, got 79"), "{text}");
}

#[test]
fn a_small_order_public_key_fails() {
    let proof = "00".repeat(80);
    let identity = format!("01{}", "00".repeat(31));
    let (code, text) = verify(&["--pubkey", &identity, "--alpha", "x", "--proof", &proof]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("invalid VRF public key"), "{text}");
}

#[test]
fn usage_errors_exit_3() {
    let pk = hex::encode(outlayer_attest::vrf::VrfSecretKey::from_seed([5; 32]).public_key());
    let proof = "00".repeat(80);
    let cases: [&[&str]; 6] = [
        &["--pubkey", "zz", "--alpha", "a", "--proof", &proof],
        &["--pubkey", "abcd", "--alpha", "a", "--proof", &proof],
        &["--pubkey", &pk, "--alpha", "a", "--proof", "not hex"],
        &["--pubkey", &pk, "--proof", &proof],
        &["--pubkey", &pk, "--alpha", "a", "--request-id", "r", "--seed", "s", "--proof", &proof],
        &["--pubkey", &pk, "--request-id", "r", "--proof", &proof],
    ];
    for args in cases {
        let (code, text) = verify(args);
        assert_eq!(code, Some(3), "{args:?}: {text}");
    }
}
