//! `v01-storage`: an OutLayer v0.1 guest (plain `wit-bindgen` on the frozen
//! `near:storage/storage-host@0.1.0` world) that runs a script of storage operations and prints
//! what each one returned.
//!
//! Input (stdin): a JSON array of operations, each an object with `"op"` naming a function of
//! `near:storage/api@0.1.0` and its arguments. Values are UTF-8 strings:
//!
//! ```json
//! [{"op":"set","key":"a","value":"1"}, {"op":"get","key":"a"},
//!  {"op":"has","key":"a"}, {"op":"delete","key":"a"}, {"op":"list-keys","prefix":""},
//!  {"op":"set-if-absent","key":"a","value":"x"},
//!  {"op":"set-if-equals","key":"a","expected":"x","value":"y"},
//!  {"op":"increment","key":"n","delta":5}, {"op":"decrement","key":"n","delta":2},
//!  {"op":"set-worker","key":"w","value":"v","encrypted":false},
//!  {"op":"get-worker","key":"w","project_uuid":null},
//!  {"op":"get-by-version","key":"a","wasm_hash":"<sha256 hex>"},
//!  {"op":"clear-all"}, {"op":"clear-version","wasm_hash":"<sha256 hex>"}]
//! ```
//!
//! Output (stdout): a JSON array with one object per operation, in order: `"op"`, `"error"` (the
//! v0.1 error string, empty on success) where the function returns one, and `"result"` (bool or
//! integer), `"value"` (bytes as lossy UTF-8) plus `"value_hex"`, `"current"` plus
//! `"current_hex"` (set-if-equals) or `"keys"` (the list-keys JSON text, verbatim) as the
//! function returns them. `encrypted` may be omitted or `null` (= `none`), likewise
//! `project_uuid`.
//!
//! A host should observe: the same data a 0.2 guest sees for the same project and caller (a
//! counter is an 8-byte little-endian i64); v0.1 error strings for refused calls. Bad input:
//! stderr "invalid input: ...", exit status failure.

use std::io::{self, Read, Write};
use std::process::exit;

use serde_json::{Map, Value, json};

wit_bindgen::generate!({
    path: "../../wit",
    world: "near:storage/storage-host@0.1.0",
    generate_all,
});

use near::storage::api;

fn main() {
    let mut input = String::new();
    if let Err(e) = io::stdin().read_to_string(&mut input) {
        fail(&format!("cannot read stdin: {e}"));
    }
    let ops: Vec<Value> =
        serde_json::from_str(&input).unwrap_or_else(|e| fail(&format!("not a JSON array: {e}")));
    let results: Vec<Value> = ops.iter().map(run).collect();
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

/// A string field of `op` (empty when missing).
fn s<'a>(op: &'a Value, field: &str) -> &'a str {
    op[field].as_str().unwrap_or_default()
}

/// Bytes as `{name: lossy text, name_hex: hex}`.
fn bytes(out: &mut Map<String, Value>, name: &str, b: &[u8]) {
    out.insert(name.into(), String::from_utf8_lossy(b).into_owned().into());
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    out.insert(format!("{name}_hex"), hex.into());
}

fn run(op: &Value) -> Value {
    let name = s(op, "op");
    let key = s(op, "key");
    let value = s(op, "value").as_bytes();
    let mut out = Map::new();
    out.insert("op".into(), name.into());
    match name {
        "set" => {
            out.insert("error".into(), api::set(key, value).into());
        }
        "get" => {
            let (v, e) = api::get(key);
            bytes(&mut out, "value", &v);
            out.insert("error".into(), e.into());
        }
        "has" => {
            out.insert("result".into(), api::has(key).into());
        }
        "delete" => {
            out.insert("result".into(), api::delete(key).into());
        }
        "list-keys" => {
            let (keys, e) = api::list_keys(s(op, "prefix"));
            out.insert("keys".into(), keys.into());
            out.insert("error".into(), e.into());
        }
        "set-if-absent" => {
            let (inserted, e) = api::set_if_absent(key, value);
            out.insert("result".into(), inserted.into());
            out.insert("error".into(), e.into());
        }
        "set-if-equals" => {
            let (swapped, current, e) =
                api::set_if_equals(key, s(op, "expected").as_bytes(), value);
            out.insert("result".into(), swapped.into());
            bytes(&mut out, "current", &current);
            out.insert("error".into(), e.into());
        }
        "increment" | "decrement" => {
            let delta = op["delta"]
                .as_i64()
                .unwrap_or_else(|| fail("delta must be an integer"));
            let (n, e) = if name == "increment" {
                api::increment(key, delta)
            } else {
                api::decrement(key, delta)
            };
            out.insert("result".into(), n.into());
            out.insert("error".into(), e.into());
        }
        "set-worker" => {
            let encrypted = op["encrypted"].as_bool();
            out.insert(
                "error".into(),
                api::set_worker(key, value, encrypted).into(),
            );
        }
        "get-worker" => {
            let (v, e) = api::get_worker(key, op["project_uuid"].as_str());
            bytes(&mut out, "value", &v);
            out.insert("error".into(), e.into());
        }
        "get-by-version" => {
            let (v, e) = api::get_by_version(key, s(op, "wasm_hash"));
            bytes(&mut out, "value", &v);
            out.insert("error".into(), e.into());
        }
        "clear-all" => {
            out.insert("error".into(), api::clear_all().into());
        }
        "clear-version" => {
            out.insert(
                "error".into(),
                api::clear_version(s(op, "wasm_hash")).into(),
            );
        }
        other => fail(&format!("unknown op {other:?}: {}", json!(op))),
    }
    Value::Object(out)
}
