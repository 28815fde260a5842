//! `v01-rpc`: an OutLayer v0.1 guest (plain `wit-bindgen` on the frozen `near:rpc/rpc-host@0.1.0`
//! world) that calls functions of `near:rpc/api@0.1.0` by name and prints what they returned.
//!
//! Input (stdin): a JSON array of calls, each `{"fn": "<wit function name>", "args": [strings],
//! "times": n}` (`times` optional, default 1: the call is repeated n times, to run into the
//! call budget). The arguments are the function's parameters in WIT order, for example
//! `{"fn":"view","args":["contract.testnet","get_num","{}","final"]}` or
//! `{"fn":"status","args":[]}`.
//!
//! Output (stdout): a JSON array with one `[result, error]` pair of strings per call made, in
//! order, exactly as the host returned them (result = JSON text or a tx hash, error = "" on
//! success).
//!
//! A host should observe: NEAR's JSON-RPC requests for each function, the node's answer passed
//! back, v0.1 error strings for refused calls (denied, over budget, bad arguments). Bad input
//! (unknown function, wrong number of arguments): stderr "invalid input: ...", exit failure.

use std::io::{self, Read, Write};
use std::process::exit;

use serde_json::Value;

wit_bindgen::generate!({
    path: "../../wit",
    world: "near:rpc/rpc-host@0.1.0",
    generate_all,
});

use near::rpc::api;

fn main() {
    let mut input = String::new();
    if let Err(e) = io::stdin().read_to_string(&mut input) {
        fail(&format!("cannot read stdin: {e}"));
    }
    let calls: Vec<Value> =
        serde_json::from_str(&input).unwrap_or_else(|e| fail(&format!("not a JSON array: {e}")));
    let mut results = Vec::new();
    for call in &calls {
        let name = call["fn"]
            .as_str()
            .unwrap_or_else(|| fail("a call without \"fn\""));
        let args: Vec<String> = match &call["args"] {
            Value::Array(a) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .unwrap_or_else(|| fail("arguments are strings"))
                        .to_string()
                })
                .collect(),
            Value::Null => Vec::new(),
            _ => fail("\"args\" must be an array of strings"),
        };
        let times = call["times"].as_u64().unwrap_or(1);
        for _ in 0..times {
            let (result, error) = dispatch(name, &args);
            results.push(Value::Array(vec![result.into(), error.into()]));
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

/// Call function `name` with `a` (checked to be exactly its parameters).
fn dispatch(name: &str, a: &[String]) -> (String, String) {
    let arity = match name {
        "status" | "network-info" => 0,
        "block" | "chunk" | "changes" | "receipt" | "gas-price" | "validators" => 1,
        "view-account" | "view-access-key-list" | "view-code" | "send-tx" | "raw" => 2,
        "view-access-key" | "view-state" | "tx-status" => 3,
        "view" => 4,
        "transfer" => 5,
        "call" => 8,
        other => fail(&format!("unknown function {other:?}")),
    };
    if a.len() != arity {
        fail(&format!("{name} takes {arity} arguments, got {}", a.len()));
    }
    match name {
        "view" => api::view(&a[0], &a[1], &a[2], &a[3]),
        "view-account" => api::view_account(&a[0], &a[1]),
        "view-access-key" => api::view_access_key(&a[0], &a[1], &a[2]),
        "view-access-key-list" => api::view_access_key_list(&a[0], &a[1]),
        "view-code" => api::view_code(&a[0], &a[1]),
        "view-state" => api::view_state(&a[0], &a[1], &a[2]),
        "block" => api::block(&a[0]),
        "chunk" => api::chunk(&a[0]),
        "changes" => api::changes(&a[0]),
        "send-tx" => api::send_tx(&a[0], &a[1]),
        "tx-status" => api::tx_status(&a[0], &a[1], &a[2]),
        "receipt" => api::receipt(&a[0]),
        "call" => api::call(&a[0], &a[1], &a[2], &a[3], &a[4], &a[5], &a[6], &a[7]),
        "transfer" => api::transfer(&a[0], &a[1], &a[2], &a[3], &a[4]),
        "gas-price" => api::gas_price(&a[0]),
        "status" => api::status(),
        "network-info" => api::network_info(),
        "validators" => api::validators(&a[0]),
        "raw" => api::raw(&a[0], &a[1]),
        _ => unreachable!("arity checked above"),
    }
}
