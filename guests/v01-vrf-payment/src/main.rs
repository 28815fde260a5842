//! `v01-vrf-payment`: an OutLayer v0.1 guest built on the full worker world
//! `near:rpc/outlayer-worker-host@0.1.0` (rpc, storage, vrf and payment, plain `wit-bindgen`),
//! calling `near:vrf/api@0.1.0` and `near:payment/api@0.1.0`.
//!
//! Input (stdin): a JSON array of operations: `{"op":"generate","seed":"s","times":n}`
//! (`times` optional, default 1), `{"op":"pubkey"}`, `{"op":"refund-usd","amount":n}`.
//!
//! Output (stdout): a JSON array, one object per call made: generate →
//! `{"op","output","proof","alpha","error"}`, pubkey → `{"op","public_key","error"}`,
//! refund-usd → `{"op","error"}` — the strings exactly as the host returned them.
//!
//! A host should observe: verifiable randomness (hex: output = the 64-byte ECVRF hash of
//! proof, proof = the 80-byte ECVRF proof of alpha, alpha bound to the request id), at most 10
//! vrf calls, one refund no larger than the attached USD, v0.1 error strings otherwise. Bad
//! input: exit failure.

use std::io::{self, Read, Write};
use std::process::exit;

use serde_json::{Value, json};

wit_bindgen::generate!({
    path: "../../wit",
    world: "near:rpc/outlayer-worker-host@0.1.0",
    generate_all,
});

use near::payment::api as payment;
use near::vrf::api as vrf;

fn main() {
    let mut input = String::new();
    if let Err(e) = io::stdin().read_to_string(&mut input) {
        fail(&format!("cannot read stdin: {e}"));
    }
    let ops: Vec<Value> =
        serde_json::from_str(&input).unwrap_or_else(|e| fail(&format!("not a JSON array: {e}")));
    let mut results = Vec::new();
    for op in &ops {
        match op["op"].as_str().unwrap_or_default() {
            "generate" => {
                let seed = op["seed"].as_str().unwrap_or_default();
                for _ in 0..op["times"].as_u64().unwrap_or(1) {
                    let (output, proof, alpha, error) = vrf::generate(seed);
                    results.push(json!({"op": "generate", "output": output, "proof": proof, "alpha": alpha, "error": error}));
                }
            }
            "pubkey" => {
                let (public_key, error) = vrf::pubkey();
                results.push(json!({"op": "pubkey", "public_key": public_key, "error": error}));
            }
            "refund-usd" => {
                let amount = op["amount"]
                    .as_u64()
                    .unwrap_or_else(|| fail("amount must be a u64"));
                results.push(json!({"op": "refund-usd", "error": payment::refund_usd(amount)}));
            }
            other => fail(&format!("unknown op {other:?}")),
        }
    }
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(Value::Array(results).to_string().as_bytes())
        .expect("write stdout");
    stdout.flush().expect("flush stdout");
}

fn fail(message: &str) -> ! {
    eprintln!("invalid input: {message}");
    exit(2);
}
